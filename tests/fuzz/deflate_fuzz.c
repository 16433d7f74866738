/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * libFuzzer target for deflate.c: the first byte picks what the rest is.
 *   0: a Sec-WebSocket-Extensions header: pmd_negotiate must not fail on
 *      it, and an answer must be short and name a window it can keep;
 *   1: a client's compressed message: inflated 4 KiB at a time, as a
 *      session does, never making more than asked for, with a count that
 *      agrees and a bound that stops a bomb;
 *   2: a message: compressed and inflated back, it must be the same.
 */

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/deflate.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FZ_CHUNK	4096
#define FZ_LIMIT	(1024 * 1024)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t		 out[FZ_CHUNK], back[70000];
	struct pmd		 p;
	struct pmd_inflate	*st;
	const uint8_t		*z;
	char			*hdr, answer[PMD_RESPONSE_MAX];
	uint8_t			*in;
	size_t			 used, made, total = 0, off = 0, zlen;

	if (size < 1)
		return (0);
	switch (data[0] % 3) {
	case 0:
		hdr = malloc(size);
		memcpy(hdr, data + 1, size - 1);
		hdr[size - 1] = '\0';
		if (pmd_negotiate(hdr, &p, answer, sizeof answer)) {
			assert(p.on && p.server_bits >= 9 &&
			    p.server_bits <= 15);
			assert(strlen(answer) < sizeof answer - 1);
		}
		free(hdr);
		break;
	case 1:
		in = malloc(size + 3);
		memcpy(in, data + 1, size - 1);
		memcpy(in + size - 1, "\0\0\377\377", 4);
		if ((st = pmd_inflate_new()) == NULL)
			abort();
		while (off < size + 3 && total <= FZ_LIMIT) {
			if (pmd_inflate(st, in + off, size + 3 - off, &used,
			    out, sizeof out, &made) == -1)
				break;
			assert(made <= sizeof out && used <= size + 3 - off);
			off += used;
			total += made;
			assert(st->total == total);
			if (used == 0 && made < sizeof out)
				break;
		}
		pmd_inflate_free(st);
		free(in);
		break;
	default:
		if (size - 1 > 65536)
			break;
		(void)pmd_negotiate(size > 1 && (data[1] & 1) ?
		    "permessage-deflate; server_max_window_bits=9" :
		    "permessage-deflate", &p, answer, sizeof answer);
		if ((z = pmd_compress(&p, data + 1, size - 1, &zlen)) ==
		    NULL)
			break;
		assert(zlen < size - 1);
		in = malloc(zlen + 4);
		memcpy(in, z, zlen);
		memcpy(in + zlen, "\0\0\377\377", 4);
		if ((st = pmd_inflate_new()) == NULL)
			abort();
		for (off = 0; off < zlen + 4 && total < sizeof back;
		    off += used) {
			assert(pmd_inflate(st, in + off, zlen + 4 - off,
			    &used, back + total, sizeof back - total,
			    &made) == 0);
			total += made;
			if (used == 0 && made == 0)
				break;
		}
		assert(total == size - 1 && memcmp(back, data + 1,
		    size - 1) == 0);
		pmd_inflate_free(st);
		free(in);
		break;
	}
	return (0);
}

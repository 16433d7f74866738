/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Unit tests for deflate.c: permessage-deflate offers accepted or
 * declined (RFC 7692 7), the answer, and messages through compress and
 * inflate, with the window kept to and every size boundary.
 */

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "tap.h"
#include "../../src/deflate.h"

struct offer {
	const char	*header;
	int		 accepted;
	int		 bits;		/* our window when accepted */
	const char	*answer;	/* a part the answer must have */
};

static const struct offer offers[] = {
	{ "permessage-deflate", 1, 15, "client_no_context_takeover" },
	{ "permessage-deflate; client_max_window_bits", 1, 15, NULL },
	{ "permessage-deflate; client_max_window_bits=9", 1, 15, NULL },
	{ "permessage-deflate; server_max_window_bits=10", 1, 10,
	    "server_max_window_bits=10" },
	{ "permessage-deflate; server_max_window_bits=\"12\"", 1, 12,
	    "server_max_window_bits=12" },
	{ "PerMessage-Deflate ; Server_No_Context_Takeover", 1, 15, NULL },
	{ "permessage-deflate;server_no_context_takeover;"
	    "client_no_context_takeover", 1, 15, NULL },
	{ "x-webkit-deflate-frame, permessage-deflate", 1, 15, NULL },
	{ "permessage-deflate; server_max_window_bits=8, "
	    "permessage-deflate; server_max_window_bits=9", 1, 9, "=9" },
	{ "permessage-deflate; server_max_window_bits=8", 0, 0, NULL },
	{ "permessage-deflate; server_max_window_bits=16", 0, 0, NULL },
	{ "permessage-deflate; server_max_window_bits=07", 0, 0, NULL },
	{ "permessage-deflate; server_max_window_bits", 0, 0, NULL },
	{ "permessage-deflate; client_max_window_bits=7", 0, 0, NULL },
	{ "permessage-deflate; unknown", 0, 0, NULL },
	{ "permessage-deflate; server_no_context_takeover=1", 0, 0, NULL },
	{ "permessage-deflate; server_no_context_takeover; "
	    "server_no_context_takeover", 0, 0, NULL },
	{ "permessage-deflate; ;", 0, 0, NULL },
	{ "permessage-deflate; server_max_window_bits=\"12", 0, 0, NULL },
	{ ",,,", 0, 0, NULL },
	{ "", 0, 0, NULL },
	{ "x-other", 0, 0, NULL },
};

/* Inflates a message as a client would: the tail appended. */
static size_t
client_inflate(const uint8_t *in, size_t len, int bits, uint8_t *out,
    size_t outsz)
{
	z_stream	 z;
	uint8_t		*buf;
	size_t		 n;
	int		 r;

	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, -bits) != Z_OK)
		return ((size_t)-1);
	buf = malloc(len + 4);
	memcpy(buf, in, len);
	memcpy(buf + len, "\0\0\377\377", 4);
	z.next_in = buf;
	z.avail_in = len + 4;
	z.next_out = out;
	z.avail_out = outsz;
	r = inflate(&z, Z_SYNC_FLUSH);
	n = outsz - z.avail_out;
	inflateEnd(&z);
	free(buf);
	return (r == Z_OK || r == Z_STREAM_END ? n : (size_t)-1);
}

int
main(void)
{
	const size_t		 no = sizeof offers / sizeof offers[0];
	struct pmd		 p, p10;
	struct pmd_inflate	*st;
	const uint8_t		*z;
	uint8_t			*msg, *out, *zcopy;
	char			 answer[PMD_RESPONSE_MAX];
	size_t			 i, zlen, used, made, total;
	int			 r;

	plan(no + 10);
	for (i = 0; i < no; i++) {
		answer[0] = '\0';
		r = pmd_negotiate(offers[i].header, &p, answer, sizeof answer);
		ok(r == offers[i].accepted && p.on == offers[i].accepted &&
		    (!r || (p.server_bits == offers[i].bits &&
		    strstr(answer, "server_no_context_takeover") != NULL &&
		    (offers[i].answer == NULL ||
		    strstr(answer, offers[i].answer) != NULL))),
		    "offer \"%s\": %s", offers[i].header,
		    offers[i].accepted ? answer : "declined");
	}
	ok(pmd_negotiate(NULL, &p, answer, sizeof answer) == 0 && !p.on,
	    "no offer, no extension");

	/* A compressible message round-trips through a client's inflate. */
	msg = malloc(200000);
	out = malloc(400000);
	for (i = 0; i < 200000; i++)
		msg[i] = "{\"k\":[1,2,3]} "[i % 14];
	(void)pmd_negotiate("permessage-deflate", &p, answer, sizeof answer);
	z = pmd_compress(&p, msg, 200000, &zlen);
	ok(z != NULL && zlen < 200000 / 20 && client_inflate(z, zlen, 15,
	    out, 400000) == 200000 && memcmp(out, msg, 200000) == 0,
	    "200 KB of JSON compress to %zu bytes and inflate back", zlen);
	zcopy = malloc(zlen);
	memcpy(zcopy, z, zlen);
	z = pmd_compress(&p, msg, 200000, &i);
	ok(z != NULL && i == zlen && memcmp(z, zcopy, zlen) == 0,
	    "the same message again: the same bytes (kept for a fan-out)");
	msg[100] ^= 1;
	z = pmd_compress(&p, msg, 200000, &i);
	ok(z != NULL && client_inflate(z, i, 15, out, 400000) == 200000 &&
	    memcmp(out, msg, 200000) == 0,
	    "one byte changed: compressed afresh, not the kept one");
	msg[100] ^= 1;
	ok(pmd_compress(&p, (const uint8_t *)"ab", 2, &zlen) == NULL,
	    "a message compression cannot shrink is sent plain (NULL)");

	/* A 10-bit window is kept to: a 10-bit inflater reads it. */
	for (i = 0; i < 6000; i++)
		msg[i] = (uint8_t)(rand() & 0xff);
	memcpy(msg + 6000, msg, 6000);
	(void)pmd_negotiate("permessage-deflate; server_max_window_bits=10",
	    &p10, answer, sizeof answer);
	z = pmd_compress(&p10, msg, 12000, &zlen);
	ok(z == NULL || client_inflate(z, zlen, 10, out, 400000) == 12000,
	    "with server_max_window_bits=10, a 10-bit window inflates it");

	/* Inflate: a bounded chunk at a time, the total counted. */
	memset(msg, 0, 200000);
	z = pmd_compress(&p, msg, 200000, &zlen);
	zcopy = realloc(zcopy, zlen);
	memcpy(zcopy, z, zlen);
	ok((st = pmd_inflate_new()) != NULL, "an inflate stream is made");
	total = 0;
	r = 0;
	for (i = 0; r == 0 && i < zlen; i += used) {
		r = pmd_inflate(st, zcopy + i, zlen - i, &used, out, 16384,
		    &made);
		total += made;
		if (made > 16384)
			r = -2;
		if (used == 0 && made == 0)
			break;
	}
	ok(r == 0 && total == st->total && total <= 200000,
	    "200 KB of zeros inflate 16 KiB at a time (%zu bytes so far, "
	    "counted %llu)", total, (unsigned long long)st->total);
	pmd_inflate_free(st);
	ok((st = pmd_inflate_new()) != NULL && pmd_inflate(st,
	    (const uint8_t *)"\xff\xff\xff\xff", 4, &used, out, 16384,
	    &made) == -1, "bytes that are not deflate are an error");
	pmd_inflate_free(st);
	ok((st = pmd_inflate_new()) != NULL && pmd_inflate(st, NULL, 0, &used,
	    out, 16384, &made) == 0 && made == 0,
	    "no input: no output, no error");
	pmd_inflate_free(st);
	free(zcopy);
	free(msg);
	free(out);
	return (done_testing());
}

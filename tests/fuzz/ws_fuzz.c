/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * libFuzzer target for ws_parse.  The input is parsed twice, whole and
 * split at a point taken from its first byte; both runs must report the
 * same payload bytes and the same verdict, and every event must respect
 * the parser's contract.
 */

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ws.h"

struct run {
	uint8_t		out[65536];
	size_t		outlen;
	int		events;
	int		err;
};

static void
parse(const uint8_t *data, size_t size, size_t split, uint64_t max,
    struct run *r)
{
	struct ws_parser	 p;
	enum ws_status		 st;
	uint8_t			*buf;
	size_t			 off = 0, end, n;

	memset(r, 0, sizeof *r);
	ws_parser_init(&p, max, 1);
	if ((buf = malloc(size + 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	while (off < size && !r->err) {
		end = off < split && split < size ? split : size;
		while (off < end) {
			n = ws_parse(&p, buf + off, end - off, &st);
			assert(n <= end - off);
			off += n;
			if (st == WS_ERR) {
				assert(p.code == WS_CLOSE_PROTOCOL ||
				    p.code == WS_CLOSE_TOO_BIG);
				r->err = p.code;
				break;
			}
			if (st == WS_MORE) {
				assert(off == end);
				continue;
			}
			r->events++;
			if (st == WS_CONTROL)
				assert(p.len <= WS_CONTROL_MAX &&
				    (p.opcode & 0x8) != 0);
			else
				assert(p.opcode == WS_OP_TEXT ||
				    p.opcode == WS_OP_BINARY);
			if (st == WS_DATA && r->outlen + p.len <= sizeof r->out) {
				memcpy(r->out + r->outlen, p.data, p.len);
				r->outlen += p.len;
			}
		}
	}
	free(buf);
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run	a, b;
	size_t			split;
	uint64_t		max;

	if (size < 2)
		return (0);
	split = data[0] % (size - 1) + 1;
	max = data[1] & 1 ? 0 : 1000;
	parse(data + 2, size - 2, 0, max, &a);
	parse(data + 2, size - 2, split, max, &b);
	assert(a.err == b.err);
	if (!a.err) {
		assert(a.outlen == b.outlen);
		assert(memcmp(a.out, b.out, a.outlen) == 0);
	}
	return (0);
}

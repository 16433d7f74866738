/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Unit tests for line.c: program output cut into text messages.  Every
 * vector is fed whole, split at every offset and byte by byte; the
 * messages reassembled from the frames must be the same each time, and
 * the frames must form valid WebSocket fragment sequences.
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../src/line.h"
#include "../../src/ws.h"

#define MAXMSGS	16

struct sink {
	char	 msgs[MAXMSGS][256];
	size_t	 lens[MAXMSGS];
	int	 n;
	int	 open;		/* a fragmented message is open */
	int	 frames;
	int	 bad;		/* a frame sequence error */
};

static int
sink_emit(void *arg, int op, int fin, const uint8_t *data, size_t len)
{
	struct sink	*s = arg;

	s->frames++;
	if ((op == WS_OP_TEXT) == s->open || (op != WS_OP_TEXT &&
	    op != WS_OP_CONT) || s->n >= MAXMSGS ||
	    s->lens[s->n] + len > sizeof s->msgs[0]) {
		s->bad = 1;
		return (0);
	}
	memcpy(s->msgs[s->n] + s->lens[s->n], data, len);
	s->lens[s->n] += len;
	s->open = !fin;
	if (fin)
		s->n++;
	return (0);
}

struct vector {
	const char	*name;
	const char	*in;
	size_t		 max;
	int		 finish;
	int		 nmsgs;
	const char	*msgs[4];
};

static const struct vector vectors[] = {
	{ "two lines", "a\nb\n", 64, 0, 2, { "a", "b" } },
	{ "CRLF", "a\r\nb\r\n", 64, 0, 2, { "a", "b" } },
	{ "empty lines", "\n\n", 64, 0, 2, { "", "" } },
	{ "inner CR kept", "x\ry\n", 64, 0, 1, { "x\ry" } },
	{ "unfinished line held", "a\nrest", 64, 0, 1, { "a" } },
	{ "unfinished line at EOF", "a\nrest", 64, 1, 2, { "a", "rest" } },
	{ "CR at EOF kept", "a\r", 64, 1, 1, { "a\r" } },
	{ "nothing at EOF", "", 64, 1, 0, { NULL } },
	{ "invalid byte", "bad\xff\n", 64, 0, 1, { "bad\xef\xbf\xbd" } },
	{ "euro sign", "\xe2\x82\xac\n", 64, 0, 1, { "\xe2\x82\xac" } },
	{ "truncated sequence", "a\xe2\x82\nb\n", 64, 0, 2,
	    { "a\xef\xbf\xbd", "b" } },
	{ "surrogate", "\xed\xa0\x80\n", 64, 0, 1,
	    { "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" } },
	{ "truncated at EOF", "ab\xe2\x82", 64, 1, 1,
	    { "ab\xef\xbf\xbd" } },
	{ "long line fragmented", "0123456789abcdefghij\nz\n", 8, 0, 2,
	    { "0123456789abcdefghij", "z" } },
	{ "CRLF across a fragment", "abc\r\nd\n", 4, 0, 2, { "abc", "d" } },
	{ "character across a fragment", "ab\xe2\x82\xac\xe2\x82\xac\n", 4,
	    0, 1, { "ab\xe2\x82\xac\xe2\x82\xac" } },
	{ "fragments then EOF", "abcdefgh", 4, 1, 1, { "abcdefgh" } },
	{ "fragments, no EOF", "abcdefgh", 4, 0, 0, { NULL } },
};

/* Feeds v in pieces of the given sizes (0 = the rest). */
static void
run(const struct vector *v, struct sink *s, size_t split, int bytewise)
{
	struct line	 l;
	size_t		 len = strlen(v->in), off = 0, n;

	memset(s, 0, sizeof *s);
	line_init(&l, v->max);
	while (off < len) {
		n = bytewise ? 1 : (off == 0 && split > 0 ? split : len - off);
		if (n > len - off)
			n = len - off;
		(void)line_feed(&l, (const uint8_t *)v->in + off, n, sink_emit,
		    s);
		off += n;
	}
	if (v->finish)
		(void)line_finish(&l, sink_emit, s);
	line_free(&l);
}

static int
same(const struct vector *v, const struct sink *s)
{
	int	i;

	if (s->bad || s->n != v->nmsgs)
		return (0);
	for (i = 0; i < s->n; i++)
		if (s->lens[i] != strlen(v->msgs[i]) ||
		    memcmp(s->msgs[i], v->msgs[i], s->lens[i]) != 0)
			return (0);
	return (1);
}

int
main(void)
{
	const size_t	 nv = sizeof vectors / sizeof vectors[0];
	struct sink	 s;
	size_t		 i, k, len;
	int		 all;

	plan(3 * nv + 1);
	for (i = 0; i < nv; i++) {
		run(&vectors[i], &s, 0, 0);
		ok(same(&vectors[i], &s), "%s: whole", vectors[i].name);
		len = strlen(vectors[i].in);
		all = 1;
		for (k = 1; k < len; k++) {
			run(&vectors[i], &s, k, 0);
			all &= same(&vectors[i], &s);
		}
		ok(all, "%s: split at every offset", vectors[i].name);
		run(&vectors[i], &s, 0, 1);
		ok(same(&vectors[i], &s), "%s: byte by byte",
		    vectors[i].name);
	}
	run(&vectors[13], &s, 0, 1);
	ok(s.frames == 4, "a 20-byte line fed bytewise, 8-byte fragments: %d "
	    "frames", s.frames);
	return (done_testing());
}

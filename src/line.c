/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Cuts a program's output into text messages.  A complete line that is
 * valid UTF-8 is handed on straight from the input; anything else goes
 * through utf8_repair, which replaces what a browser would refuse with
 * U+FFFD.  An unfinished line is held up to the fragment size, then sent
 * as a fragment of a message that the newline will finish.
 */

#include <string.h>

#include "ws.h"
#include "line.h"

/* Room for repairing a whole held part plus one input chunk. */
#define LINE_SCRATCH	(3 * (128 * 1024) + 16)

static uint8_t	line_scratch[LINE_SCRATCH];

void
line_init(struct line *l, size_t max)
{
	memset(l, 0, sizeof *l);
	buf_init(&l->part, max);
	utf8_init(&l->utf8);
	l->max = max;
}

void
line_free(struct line *l)
{
	buf_free(&l->part);
}

static int
line_opcode(struct line *l)
{
	return (l->frag ? WS_OP_CONT : WS_OP_TEXT);
}

/* Sends the held part plus seg as the end of a message. */
static int
line_end(struct line *l, const uint8_t *seg, size_t len, line_emit_fn emit,
    void *arg)
{
	struct utf8	 fresh;
	size_t		 n = 0, off;
	int		 op = line_opcode(l);

	/* The common case: a whole valid line, sent from where it lies. */
	if (buf_len(&l->part) == 0 && !l->frag) {
		utf8_init(&fresh);
		if (utf8_feed(&fresh, seg, len, &off) == UTF8_OK)
			return (emit(arg, op, 1, seg, len));
	}
	if (buf_len(&l->part) > 0)
		n = utf8_repair(&l->utf8, buf_head(&l->part),
		    buf_len(&l->part), line_scratch, 0);
	n += utf8_repair(&l->utf8, seg, len, line_scratch + n, 1);
	buf_drain(&l->part, buf_len(&l->part));
	l->frag = 0;
	utf8_init(&l->utf8);
	return (emit(arg, op, 1, line_scratch, n));
}

/* Sends the held part as a fragment, keeping a trailing CR back. */
static int
line_fragment(struct line *l, line_emit_fn emit, void *arg)
{
	size_t	 len = buf_len(&l->part), n;
	int	 op = line_opcode(l), cr;

	cr = len > 0 && buf_head(&l->part)[len - 1] == '\r';
	n = utf8_repair(&l->utf8, buf_head(&l->part), len - cr,
	    line_scratch, 0);
	buf_drain(&l->part, len - cr);
	l->frag = 1;
	return (emit(arg, op, 0, line_scratch, n));
}

/* Feeds program output; emits each finished line.  Returns -1 if emit did. */
int
line_feed(struct line *l, const uint8_t *in, size_t len, line_emit_fn emit,
    void *arg)
{
	const uint8_t	*nl;
	size_t		 n, take;

	while (len > 0) {
		if ((nl = memchr(in, '\n', len)) != NULL) {
			n = nl - in;
			/* "\r\n" ends a line too; the CR may be held. */
			if (n > 0 && in[n - 1] == '\r') {
				if (line_end(l, in, n - 1, emit, arg) == -1)
					return (-1);
			} else if (n == 0 && buf_len(&l->part) > 0 &&
			    buf_head(&l->part)[buf_len(&l->part) - 1] ==
			    '\r') {
				l->part.len--;
				if (line_end(l, in, 0, emit, arg) == -1)
					return (-1);
			} else if (line_end(l, in, n, emit, arg) == -1)
				return (-1);
			in += n + 1;
			len -= n + 1;
			continue;
		}
		take = buf_room(&l->part);
		if (take > len)
			take = len;
		if (buf_append(&l->part, in, take) == -1)
			return (-1);
		in += take;
		len -= take;
		if (buf_room(&l->part) == 0 &&
		    line_fragment(l, emit, arg) == -1)
			return (-1);
	}
	return (0);
}

/* The output ended: whatever is held becomes the last message. */
int
line_finish(struct line *l, line_emit_fn emit, void *arg)
{
	if (buf_len(&l->part) == 0 && !l->frag && l->utf8.nheld == 0)
		return (0);
	return (line_end(l, NULL, 0, emit, arg));
}

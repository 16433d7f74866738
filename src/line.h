/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Text mode output: a program's stdout bytes cut into lines, one text
 * message each, repaired into valid UTF-8.  A line longer than the limit
 * goes out as a fragmented message, so no line is ever too long and no
 * line is held whole.  Pure: libc, buf.c and utf8.c.
 */
#ifndef LINE_H
#define LINE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "utf8.h"

/* Receives one frame: opcode (text or continuation), fin and payload. */
typedef int (*line_emit_fn)(void *, int, int, const uint8_t *, size_t);

struct line {
	struct buf	 part;		/* raw bytes of an unfinished line */
	struct utf8	 utf8;		/* repair state across fragments */
	int		 frag;		/* a fragmented message is open */
	size_t		 max;		/* fragment size */
};

/* Largest output line_feed produces for len input bytes. */
#define LINE_OUT_MAX(max, len)	(3 * ((max) + (len)) + 64)

void	 line_init(struct line *, size_t);
int	 line_feed(struct line *, const uint8_t *, size_t, line_emit_fn,
	    void *);
int	 line_finish(struct line *, line_emit_fn, void *);
void	 line_free(struct line *);

#endif

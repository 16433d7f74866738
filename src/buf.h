/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * A byte queue with a hard cap.  Storage is allocated on demand and freed
 * as soon as the queue is empty, so an idle connection holds no buffer
 * memory.  Pure: libc only.
 */
#ifndef BUF_H
#define BUF_H

#include <stddef.h>

struct buf {
	unsigned char	*data;
	size_t		 off;		/* first unread byte */
	size_t		 len;		/* unread bytes */
	size_t		 size;		/* bytes allocated */
	size_t		 cap;		/* len never exceeds this */
	int		 borrowed;	/* data is the caller's, not ours */
};

void		 buf_init(struct buf *, size_t);
size_t		 buf_len(const struct buf *);
size_t		 buf_room(const struct buf *);
const unsigned char *buf_head(const struct buf *);
unsigned char	*buf_bytes(struct buf *);
int		 buf_append(struct buf *, const void *, size_t);
unsigned char	*buf_reserve(struct buf *, size_t);
void		 buf_commit(struct buf *, size_t);
void		 buf_drain(struct buf *, size_t);
void		 buf_truncate(struct buf *, size_t);
void		 buf_free(struct buf *);
void		 buf_borrow(struct buf *, unsigned char *, size_t);
int		 buf_keep(struct buf *);

#endif

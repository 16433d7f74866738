/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * A byte queue with a hard cap.  Storage grows in powers of two on demand
 * and is released as soon as the queue drains, so that thousands of idle
 * connections cost no buffer memory at all.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_MIN		1024

void
buf_init(struct buf *b, size_t cap)
{
	memset(b, 0, sizeof *b);
	b->cap = cap;
}

size_t
buf_len(const struct buf *b)
{
	return (b->len);
}

size_t
buf_room(const struct buf *b)
{
	return (b->cap - b->len);
}

const unsigned char *
buf_head(const struct buf *b)
{
	return (b->data == NULL ? NULL : b->data + b->off);
}

/* The unread bytes, to be changed in place (a frame unmasked). */
unsigned char *
buf_bytes(struct buf *b)
{
	return (b->data == NULL ? NULL : b->data + b->off);
}

/* Copies borrowed bytes into storage of our own; -1 on failure. */
static int
buf_own(struct buf *b)
{
	unsigned char	*p;
	size_t		 size = BUF_MIN;

	while (size < b->len)
		size *= 2;
	if ((p = malloc(size)) == NULL)
		return (-1);
	memcpy(p, b->data + b->off, b->len);
	b->data = p;
	b->off = 0;
	b->size = size;
	b->borrowed = 0;
	return (0);
}

/* Makes room for n more bytes at the tail; returns -1 on failure. */
static int
buf_grow(struct buf *b, size_t n)
{
	unsigned char	*p;
	size_t		 want, size;

	if (n > buf_room(b)) {
		errno = ENOBUFS;
		return (-1);
	}
	if (__builtin_expect(b->borrowed, 0) && buf_own(b) == -1)
		return (-1);
	want = b->len + n;
	if (b->off + want <= b->size)
		return (0);
	if (want <= b->size) {
		/* Enough space once the unread bytes move to the front. */
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
		return (0);
	}
	size = b->size == 0 ? BUF_MIN : b->size;
	while (size < want)
		size *= 2;
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	if ((p = realloc(b->data, size)) == NULL)
		return (-1);
	b->data = p;
	b->size = size;
	return (0);
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return (0);
	if (buf_grow(b, n) == -1)
		return (-1);
	memcpy(b->data + b->off + b->len, p, n);
	b->len += n;
	return (0);
}

/* Returns space for n bytes at the tail; buf_commit makes them count. */
unsigned char *
buf_reserve(struct buf *b, size_t n)
{
	if (buf_grow(b, n) == -1)
		return (NULL);
	/* Even zero bytes get a real address. */
	if (b->data == NULL && (b->data = malloc(BUF_MIN)) != NULL)
		b->size = BUF_MIN;
	return (b->data == NULL ? NULL : b->data + b->off + b->len);
}

void
buf_commit(struct buf *b, size_t n)
{
	b->len += n;
}

void
buf_drain(struct buf *b, size_t n)
{
	if (n >= b->len) {
		if (!b->borrowed)
			free(b->data);
		b->data = NULL;
		b->off = b->len = b->size = 0;
		b->borrowed = 0;
		return;
	}
	b->off += n;
	b->len -= n;
}

/* Drops n bytes from the tail. */
void
buf_truncate(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_drain(b, b->len);
		return;
	}
	b->len -= n;
}

void
buf_free(struct buf *b)
{
	buf_drain(b, b->len);
}

/*
 * An empty queue takes len bytes at data without copying them: they are
 * read from where they lie until buf_keep(), which must come before the
 * caller reuses data.  At most the cap.
 */
void
buf_borrow(struct buf *b, unsigned char *data, size_t len)
{
	if (b->len != 0 || len > b->cap || len == 0)
		return;
	b->data = data;
	b->off = 0;
	b->len = b->size = len;
	b->borrowed = 1;
}

/*
 * Borrowed bytes still unread are copied into storage of our own, so
 * that the lender may reuse its memory.  Returns -1 (the bytes dropped)
 * if that storage cannot be had.
 */
int
buf_keep(struct buf *b)
{
	if (!b->borrowed)
		return (0);
	if (buf_own(b) == -1) {
		b->borrowed = 0;
		b->data = NULL;
		b->off = b->len = b->size = 0;
		return (-1);
	}
	return (0);
}

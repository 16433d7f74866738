/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Unit tests for buf.c, the capped byte queue: the cap is enforced without
 * side effects, bytes come out in the order they went in across many
 * append, reserve/commit and drain cycles (checked against a plain array
 * model), and storage is released whenever the queue becomes empty.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tap.h"

static uint64_t	 rng_state = 0x9e3779b97f4a7c15ULL;

/* splitmix64: deterministic, seeded above. */
static uint64_t
rng(void)
{
	uint64_t	 z;

	z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

static size_t
rng_below(size_t n)
{
	return (n == 0 ? 0 : (size_t)(rng() % n));
}

static void
test_basic(void)
{
	struct buf	 b;
	unsigned char	*p;
	int		 r;

	buf_init(&b, 10);
	is_int(buf_len(&b), 0, "init: empty");
	is_int(buf_room(&b), 10, "init: room is the cap");
	ok(b.data == NULL && b.size == 0, "init: no storage allocated");

	is_int(buf_append(&b, "hello", 5), 0, "append 5 of 10");
	is_int(buf_len(&b), 5, "len 5");
	is_int(buf_room(&b), 5, "room 5");
	ok(buf_head(&b) != NULL && memcmp(buf_head(&b), "hello", 5) == 0,
	    "head is the first byte appended");

	errno = 0;
	r = buf_append(&b, "world!", 6);
	ok(r == -1 && errno == ENOBUFS, "append past the cap: -1, ENOBUFS");
	ok(buf_len(&b) == 5 && memcmp(buf_head(&b), "hello", 5) == 0,
	    "refused append changes nothing");

	is_int(buf_append(&b, "", 0), 0, "append 0 bytes");
	is_int(buf_append(&b, "world", 5), 0, "append exactly up to the cap");
	is_int(buf_room(&b), 0, "room 0 when full");
	ok(memcmp(buf_head(&b), "helloworld", 10) == 0, "full queue in order");
	errno = 0;
	r = buf_append(&b, "x", 1);
	ok(r == -1 && errno == ENOBUFS, "append 1 to a full queue: ENOBUFS");
	ok(buf_reserve(&b, 1) == NULL, "reserve 1 on a full queue: NULL");
	ok(buf_reserve(&b, 0) != NULL, "reserve 0 on a full queue: not NULL");
	is_int(buf_len(&b), 10, "reserve 0 changes nothing");

	buf_drain(&b, 3);
	is_int(buf_len(&b), 7, "drain 3: len 7");
	is_int(buf_room(&b), 3, "drain 3: room 3");
	ok(memcmp(buf_head(&b), "loworld", 7) == 0, "drain 3: head moved");
	ok(buf_reserve(&b, 4) == NULL, "reserve more than room: NULL");
	p = buf_reserve(&b, 3);
	ok(p != NULL, "reserve exactly room after a drain");
	if (p != NULL) {
		memcpy(p, "abc", 3);
		is_int(buf_len(&b), 7, "reserve does not change len");
		buf_commit(&b, 2);
	}
	is_int(buf_len(&b), 9, "commit 2 of 3 reserved");
	ok(memcmp(buf_head(&b), "loworldab", 9) == 0,
	    "committed bytes follow the queue");

	buf_drain(&b, 9);
	is_int(buf_len(&b), 0, "drain all: empty");
	is_int(buf_room(&b), 10, "drain all: room is the cap");
	ok(b.data == NULL && b.size == 0, "drain all: storage freed");

	p = buf_reserve(&b, 10);
	ok(p != NULL, "reserve the whole cap on an empty queue");
	if (p != NULL) {
		memset(p, 'z', 10);
		buf_commit(&b, 10);
	}
	ok(buf_len(&b) == 10 && buf_head(&b)[9] == 'z', "commit the whole cap");
	buf_free(&b);

	/* Storage from a reserve that is never committed (ASan: no leak). */
	buf_init(&b, 100);
	ok(buf_reserve(&b, 50) != NULL, "reserve on an empty queue");
	buf_commit(&b, 0);
	is_int(buf_len(&b), 0, "commit 0: still empty");
	buf_free(&b);

	buf_init(&b, 100);
	is_int(buf_append(&b, "abc", 3), 0, "append before overflow checks");
	errno = 0;
	r = buf_append(&b, "abc", SIZE_MAX);
	ok(r == -1 && errno == ENOBUFS,
	    "append SIZE_MAX bytes: ENOBUFS (no len + n overflow)");
	ok(buf_reserve(&b, SIZE_MAX) == NULL,
	    "reserve SIZE_MAX bytes: NULL (no overflow)");
	ok(buf_len(&b) == 3 && memcmp(buf_head(&b), "abc", 3) == 0,
	    "queue intact after huge requests");
	buf_free(&b);

	buf_init(&b, 0);
	is_int(buf_append(&b, "", 0), 0, "cap 0: append 0 bytes");
	errno = 0;
	r = buf_append(&b, "a", 1);
	ok(r == -1 && errno == ENOBUFS, "cap 0: append 1 byte: ENOBUFS");
	ok(buf_reserve(&b, 1) == NULL, "cap 0: reserve 1: NULL");
	buf_free(&b);
}

/*
 * Random append, reserve/commit and drain operations, each checked against
 * a model array.  Returns the number of mismatches (first few reported).
 */
static void
test_model(size_t cap, int ops)
{
	struct buf	 b;
	unsigned char	*model, *tmp, *p;
	size_t		 mlen, n, k, i;
	int		 op, r, bad = 0, badcap = 0, badfree = 0, emptied = 0;
	int		 refused = 0;

	model = malloc(cap + 1);
	tmp = malloc(2 * cap + 2);
	if (model == NULL || tmp == NULL)
		abort();
	mlen = 0;
	buf_init(&b, cap);
	for (op = 0; op < ops; op++) {
		switch (rng_below(3)) {
		case 0:
			/* Sometimes ask for more than the room. */
			n = rng_below(rng_below(4) == 0 ? 2 * cap + 2 :
			    cap / 4 + 2);
			for (i = 0; i < n; i++)
				tmp[i] = rng() & 0xff;
			errno = 0;
			r = buf_append(&b, tmp, n);
			if (mlen + n > cap) {
				refused++;
				if (r != -1 || errno != ENOBUFS) {
					if (badcap++ < 3)
						diag("op %d: append %zu to %zu "
						    "of %zu: r %d", op, n,
						    mlen, cap, r);
				}
			} else if (r != 0) {
				if (badcap++ < 3)
					diag("op %d: append %zu to %zu of "
					    "%zu refused", op, n, mlen, cap);
			} else {
				memcpy(model + mlen, tmp, n);
				mlen += n;
			}
			break;
		case 1:
			n = 1 + rng_below(rng_below(4) == 0 ? 2 * cap + 1 :
			    cap / 4 + 1);
			p = buf_reserve(&b, n);
			if (n > cap - mlen) {
				refused++;
				if (p != NULL && badcap++ < 3)
					diag("op %d: reserve %zu with room "
					    "%zu succeeded", op, n, cap - mlen);
				break;
			}
			if (p == NULL) {
				if (badcap++ < 3)
					diag("op %d: reserve %zu with room "
					    "%zu failed", op, n, cap - mlen);
				break;
			}
			for (i = 0; i < n; i++)
				p[i] = rng() & 0xff;
			k = rng_below(n + 1);
			memcpy(model + mlen, p, k);
			buf_commit(&b, k);
			mlen += k;
			break;
		default:
			k = rng_below(4) == 0 ? mlen : rng_below(mlen + 1);
			buf_drain(&b, k);
			memmove(model, model + k, mlen - k);
			mlen -= k;
			if (k > 0 && mlen == 0) {
				emptied++;
				if ((b.data != NULL || b.size != 0) &&
				    badfree++ < 3)
					diag("op %d: empty queue keeps %zu "
					    "bytes of storage", op, b.size);
			}
			break;
		}
		if (buf_len(&b) != mlen || buf_room(&b) != cap - mlen ||
		    (mlen > 0 && memcmp(buf_head(&b), model, mlen) != 0)) {
			if (bad++ < 3)
				diag("op %d: len %zu room %zu, model len %zu",
				    op, buf_len(&b), buf_room(&b), mlen);
		}
	}
	buf_free(&b);
	free(model);
	free(tmp);

	ok(bad == 0, "cap %zu: %d random ops keep FIFO order, len and room",
	    cap, ops);
	ok(badcap == 0, "cap %zu: cap enforced exactly (%d refusals)", cap,
	    refused);
	ok(badfree == 0 && emptied > 0,
	    "cap %zu: storage freed each of the %d times the queue emptied",
	    cap, emptied);
}

/* Byte-at-a-time traffic through a small queue: a stream stays in order. */
static void
test_stream(void)
{
	struct buf	 b;
	unsigned char	 c;
	uint32_t	 in = 0, out = 0;
	size_t		 n, i;
	int		 bad = 0, round;

	buf_init(&b, 17);
	for (round = 0; round < 20000; round++) {
		n = rng_below(buf_room(&b) + 1);
		for (i = 0; i < n; i++) {
			c = (in++ * 7) & 0xff;
			if (buf_append(&b, &c, 1) != 0)
				bad++;
		}
		n = rng_below(buf_len(&b) + 1);
		for (i = 0; i < n; i++) {
			if (buf_head(&b)[0] != ((out++ * 7) & 0xff))
				bad++;
			buf_drain(&b, 1);
		}
	}
	ok(bad == 0 && in - out == buf_len(&b),
	    "byte stream through a 17-byte queue stays in order (%u bytes)",
	    (unsigned)out);
	buf_free(&b);
}

/* A borrowed buffer is read in place; only what is kept is copied. */
static void
test_borrow(void)
{
	struct buf	b;
	unsigned char	lender[64];

	memcpy(lender, "hello world", 11);
	buf_init(&b, 32);
	buf_borrow(&b, lender, 11);
	ok(buf_len(&b) == 11 && buf_head(&b) == lender,
	    "borrow: the bytes are read where they lie");
	buf_drain(&b, 6);
	ok(buf_keep(&b) == 0 && buf_head(&b) != lender + 6 &&
	    buf_len(&b) == 5 && memcmp(buf_head(&b), "world", 5) == 0,
	    "keep: what is left is copied out of the lender");
	memset(lender, 'x', sizeof lender);
	ok(memcmp(buf_head(&b), "world", 5) == 0,
	    "keep: the lender may be reused");
	buf_free(&b);
	buf_borrow(&b, lender, 11);
	buf_drain(&b, 11);
	ok(buf_len(&b) == 0 && buf_head(&b) == NULL && buf_keep(&b) == 0,
	    "a borrow read to the end leaves nothing to keep (and frees none)");
	buf_borrow(&b, lender, 10);
	ok(buf_append(&b, "!", 1) == 0 && buf_len(&b) == 11 &&
	    buf_head(&b) != lender && buf_head(&b)[10] == '!',
	    "appending to a borrow copies it first");
	buf_free(&b);
	buf_borrow(&b, lender, 33);
	ok(buf_len(&b) == 0, "no borrow over the cap");
	(void)buf_append(&b, "a", 1);
	buf_borrow(&b, lender, 4);
	ok(buf_len(&b) == 1 && buf_head(&b)[0] == 'a',
	    "no borrow into a queue that holds bytes");
	buf_free(&b);
}

int
main(void)
{
	test_basic();
	test_borrow();
	test_model(1, 2000);
	test_model(64, 50000);
	test_model(4096, 50000);
	test_model(65536, 5000);
	test_stream();
	return (done_testing());
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * libFuzzer target for utf8.c: the validator must give the same verdict
 * and failing offset whole and split; repair must be the identity on
 * valid input, must always produce valid UTF-8, and must not depend on
 * how its input is split.
 */

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/utf8.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct utf8		 u;
	enum utf8_status	 whole, part;
	uint8_t			*o1, *o2;
	size_t			 split, off1 = 0, off2 = 0, n1, n2;

	if (size == 0 || size > 4096)
		return (0);
	split = data[0] % size;
	utf8_init(&u);
	whole = utf8_feed(&u, data, size, &off1);
	utf8_init(&u);
	part = utf8_feed(&u, data, split, &off2);
	if (part != UTF8_INVALID)
		part = utf8_feed(&u, data + split, size - split, &off2),
		    off2 += split;
	assert(whole == part);
	if (whole == UTF8_INVALID)
		assert(off1 == off2);

	o1 = malloc(UTF8_REPAIR_MAX(size));
	o2 = malloc(UTF8_REPAIR_MAX(size) + 3);
	if (o1 == NULL || o2 == NULL)
		abort();
	utf8_init(&u);
	n1 = utf8_repair(&u, data, size, o1, 1);
	utf8_init(&u);
	n2 = utf8_repair(&u, data, split, o2, 0);
	n2 += utf8_repair(&u, data + split, size - split, o2 + n2, 1);
	assert(n1 == n2 && memcmp(o1, o2, n1) == 0);
	assert(n1 <= UTF8_REPAIR_MAX(size));
	if (whole == UTF8_OK)
		assert(n1 == size && memcmp(o1, data, size) == 0);
	utf8_init(&u);
	assert(utf8_feed(&u, o1, n1, NULL) == UTF8_OK);
	free(o1);
	free(o2);
	return (0);
}

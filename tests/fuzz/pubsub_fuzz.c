/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * libFuzzer target for pubsub.c: any line is parsed or refused with a
 * reason, and a parsed one's resource and data lie inside the line and
 * respect the grammar's limits.
 */

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "../../src/pubsub.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char		*s = (const char *)data, *errstr = NULL;
	struct pubsub_msg	 m;

	if (pubsub_parse(size > 0 ? s : NULL, size, &m, &errstr) == -1) {
		assert(errstr != NULL && *errstr != '\0');
		return (0);
	}
	if (m.resource != NULL) {
		assert(m.resource >= s && m.resource + m.resourcelen <= s + size);
		assert(pubsub_resource_valid(m.resource, m.resourcelen));
	}
	if (m.data != NULL) {
		assert(m.data >= s && m.data + m.datalen <= s + size);
		assert(m.datalen <= PUBSUB_DATA_MAX);
		assert(memchr(m.data, '\n', m.datalen) == NULL);
	}
	return (0);
}

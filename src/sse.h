/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Server-sent events (the WHATWG HTML standard, 9.2) from listen mode's
 * lines, for a client that follows one resource over plain HTTP.  Pure:
 * libc and pubsub.c only.
 */
#ifndef SSE_H
#define SSE_H

#include <stddef.h>

#include "pubsub.h"

/* Room for the event of any line, its resource's line too. */
#define SSE_EVENT_MAX	(7 * PUBSUB_LINE_MAX + PUBSUB_RESOURCE_MAX + 64)

size_t	sse_event(char *, const char *, size_t, int);

#endif

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * A listen resource over plain HTTP, one request, one answer: a GET of
 * its state (or, long-polling, of the next one) and a POST that
 * publishes.  The request becomes a listen client's one command; the
 * first line listen.c sends back that settles it becomes the HTTP
 * answer.  Links with http.c, buf.c and pubsub.c only.
 */
#ifndef REST_H
#define REST_H

#include <stddef.h>

#include "buf.h"
#include "pubsub.h"

#define REST_WAIT_MAX		300	/* Prefer: wait=N, at most, in s */
#define REST_ANSWER_TIMEOUT	30.0	/* the broker's answer, at most */

int	rest_answer(struct buf *, const char *, size_t, int, const char *,
	    int *);
int	rest_late(struct buf *, int, const char *);
int	rest_etag_match(const char *, const struct pubsub_id *);
int	rest_etag(const char *, struct pubsub_id *);
int	rest_wait(const char *);

#endif

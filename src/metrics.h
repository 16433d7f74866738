/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The gateway's numbers, for --metrics: counters and gauges that the
 * files where things happen move, and their Prometheus text.  Pure:
 * libc and buf.c only.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>

#include "buf.h"

enum metric {
	/* Gauges: connections by what they carry now. */
	METRIC_CONN_HTTP,		/* reading or answering requests */
	METRIC_CONN_PROGRAM,		/* a WebSocket to a program */
	METRIC_CONN_LISTEN,		/* a WebSocket in listen mode */
	METRIC_CONN_CGI,		/* a CGI script's */
	METRIC_PROGRAMS,		/* programs and scripts running */
	METRIC_SUBSCRIPTIONS,		/* listen clients' */
	METRIC_RESOURCES,		/* followed at the broker */
	METRIC_CACHED_BYTES,		/* states the gateway keeps */
	/* Counters. */
	METRIC_ACCEPTED,
	METRIC_MSGS_IN,
	METRIC_MSGS_OUT,
	METRIC_BYTES_IN,
	METRIC_BYTES_OUT,
	METRIC_PUBLISHES,		/* browsers' publishes taken */
	METRIC_DELIVERIES,		/* updates sent to listen clients */
	METRIC_BROKER_CONNECTS,		/* to the broker, after the first */
	METRIC_HTTP_2XX,
	METRIC_HTTP_3XX,
	METRIC_HTTP_4XX,
	METRIC_HTTP_5XX,
	METRIC_N
};

void	metrics_add(enum metric, long long);
void	metrics_close_code(int);
void	metrics_http_status(int);
int	metrics_render(struct buf *);

#endif

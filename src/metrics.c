/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * --metrics=PATH: the gateway's numbers in Prometheus's text format
 * (version 0.0.4).  Counters only grow; gauges are moved up and down by
 * the files that make and end what they count.  Close codes are counted
 * by code: those of RFC 6455 (1000-1015) and of the registered and
 * private ranges (3000-4999) each have a line once seen, at most
 * METRICS_CODES of them; any other is counted as "other", so that peers
 * cannot make the answer grow.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

#define METRICS_CODES	64	/* distinct close codes with a line */

static long long	metrics[METRIC_N];

static struct {
	int		code;
	long long	n;
} metrics_codes[METRICS_CODES];
static size_t		metrics_ncodes;
static long long	metrics_other_codes;

struct metric_line {
	const char	*name;
	const char	*labels;
	const char	*help;	/* NULL: the line before's family */
	int		 gauge;
};

/* Each metric's line, in enum metric's order. */
static const struct metric_line metrics_lines[METRIC_N] = {
	{ "wspipe_connections", "role=\"http\"",
	    "Connections by what they carry now.", 1 },
	{ "wspipe_connections", "role=\"program\"", NULL, 1 },
	{ "wspipe_connections", "role=\"listen\"", NULL, 1 },
	{ "wspipe_connections", "role=\"cgi\"", NULL, 1 },
	{ "wspipe_programs_running", NULL,
	    "Programs and CGI scripts running.", 1 },
	{ "wspipe_listen_subscriptions", NULL,
	    "Listen clients' subscriptions.", 1 },
	{ "wspipe_listen_resources", NULL,
	    "Resources the gateway follows at the broker.", 1 },
	{ "wspipe_listen_cached_bytes", NULL,
	    "Bytes of state the gateway keeps for its clients.", 1 },
	{ "wspipe_connections_accepted_total", NULL,
	    "Connections accepted.", 0 },
	{ "wspipe_messages_total", "direction=\"in\"",
	    "WebSocket messages, from clients (in) and to them (out).", 0 },
	{ "wspipe_messages_total", "direction=\"out\"", NULL, 0 },
	{ "wspipe_message_bytes_total", "direction=\"in\"",
	    "Bytes of WebSocket messages' payloads.", 0 },
	{ "wspipe_message_bytes_total", "direction=\"out\"", NULL, 0 },
	{ "wspipe_listen_publishes_total", NULL,
	    "Listen clients' publishes the broker took.", 0 },
	{ "wspipe_listen_deliveries_total", NULL,
	    "States sent to listen clients.", 0 },
	{ "wspipe_broker_reconnects_total", NULL,
	    "Connections to the broker made again after one was lost.", 0 },
	{ "wspipe_http_responses_total", "class=\"2xx\"",
	    "HTTP answers of the gateway's own, by class.", 0 },
	{ "wspipe_http_responses_total", "class=\"3xx\"", NULL, 0 },
	{ "wspipe_http_responses_total", "class=\"4xx\"", NULL, 0 },
	{ "wspipe_http_responses_total", "class=\"5xx\"", NULL, 0 },
};

void
metrics_add(enum metric m, long long n)
{
	metrics[m] += n;
}

/* A WebSocket closed with code (0: none was given). */
void
metrics_close_code(int code)
{
	size_t	i;

	for (i = 0; i < metrics_ncodes; i++)
		if (metrics_codes[i].code == code) {
			metrics_codes[i].n++;
			return;
		}
	if (metrics_ncodes == METRICS_CODES || code < 0 || (code > 1015 &&
	    (code < 3000 || code > 4999))) {
		metrics_other_codes++;
		return;
	}
	metrics_codes[metrics_ncodes].code = code;
	metrics_codes[metrics_ncodes++].n = 1;
}

void
metrics_http_status(int status)
{
	if (status >= 200 && status <= 599)
		metrics[METRIC_HTTP_2XX + status / 100 - 2]++;
}

static int
metrics_put(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
metrics_put(struct buf *b, const char *fmt, ...)
{
	char	line[256];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line)
		return (-1);
	return (buf_append(b, line, n));
}

/* The text of every metric into b; -1 if it did not fit. */
int
metrics_render(struct buf *b)
{
	const struct metric_line	*l;
	size_t				 i;
	int				 r = 0;

	for (i = 0; i < METRIC_N; i++) {
		l = &metrics_lines[i];
		if (l->help != NULL)
			r |= metrics_put(b, "# HELP %s %s\n# TYPE %s %s\n",
			    l->name, l->help, l->name, l->gauge ? "gauge" :
			    "counter");
		if (l->labels != NULL)
			r |= metrics_put(b, "%s{%s} %lld\n", l->name,
			    l->labels, metrics[i]);
		else
			r |= metrics_put(b, "%s %lld\n", l->name, metrics[i]);
	}
	r |= metrics_put(b, "# HELP wspipe_close_codes_total WebSocket "
	    "closes by the code sent or received (0: none; other: past 64 "
	    "codes, or outside 1000-1015 and 3000-4999).\n# TYPE wspipe_close_codes_total "
	    "counter\n");
	for (i = 0; i < metrics_ncodes; i++)
		r |= metrics_put(b, "wspipe_close_codes_total{code=\"%d\"} "
		    "%lld\n", metrics_codes[i].code, metrics_codes[i].n);
	r |= metrics_put(b, "wspipe_close_codes_total{code=\"other\"} %lld\n",
	    metrics_other_codes);
	return (r == 0 ? 0 : -1);
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Unit tests for sse.c: listen mode's lines as server-sent events.  An
 * update with an id is a message event with that id; a CR in a state
 * starts a new data line, so that no field can be forged; gap and error
 * lines are events of their own; other lines say nothing.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../src/sse.h"

static char	out[SSE_EVENT_MAX];

/* ok() that line's event, names or not, is want (NULL: none). */
static void
names_is(const char *line, int names, const char *want, const char *name)
{
	size_t	n = sse_event(out, line, strlen(line), names);

	if (want == NULL) {
		is_int(n, 0, "%s: no event", name);
		return;
	}
	ok(n == strlen(want) && memcmp(out, want, n) == 0, "%s", name);
	if (n != strlen(want) || memcmp(out, want, n) != 0)
		diag("got %.*s", (int)n, out);
}

static void
event_is(const char *line, const char *want, const char *name)
{
	names_is(line, 0, want, name);
}

int
main(void)
{
	char	*big;
	size_t	 n, i;

	event_is("update /x ab12-7 hello world",
	    "id: ab12-7\ndata: hello world\n\n", "an update: id and data");
	event_is("update /x ab12-7", "id: ab12-7\ndata: \n\n",
	    "an empty state: an empty data line");
	event_is("update /x ab12-7 a\rid: 9\rretry: 1",
	    "id: ab12-7\ndata: a\ndata: id: 9\ndata: retry: 1\n\n",
	    "a CR starts a new data line: no field forged");
	event_is("update /x ab12-7 \r", "id: ab12-7\ndata: \ndata: \n\n",
	    "a lone CR: two empty data lines");
	event_is("gap /x reset", "event: gap\ndata: reset\n\n",
	    "gap: event gap");
	event_is("error subscribe /x not allowed",
	    "event: refused\ndata: subscribe /x not allowed\n\n",
	    "error: event refused, with the whole reason");
	event_is("ok subscribe /x", NULL, "ok");
	event_is("pong", NULL, "pong");
	event_is("update", NULL, "a bare verb");
	event_is("update /x", NULL, "an update without data");
	event_is("state /x ab-1 z", NULL, "a state line");
	names_is("update /s/a ab12-7 21.5", 1,
	    "id: ab12-7\ndata: /s/a\ndata: 21.5\n\n",
	    "a pattern's stream: the resource's line first");
	names_is("update /s/a ab12-7 a\rb", 1,
	    "id: ab12-7\ndata: /s/a\ndata: a\ndata: b\n\n",
	    "a pattern's stream: CRs as ever");
	names_is("gap /s/* behind", 1, "event: gap\ndata: behind\n\n",
	    "a pattern's gap");

	/* The worst case, every byte of a full line a CR, fits. */
	big = malloc(PUBSUB_LINE_MAX);
	if (big == NULL)
		return (1);
	memcpy(big, "update /x 1-1 ", 14);
	for (i = 14; i < PUBSUB_LINE_MAX; i++)
		big[i] = '\r';
	n = sse_event(out, big, PUBSUB_LINE_MAX, 0);
	ok(n > 0 && n <= SSE_EVENT_MAX, "a line of CRs fits (%zu of %d)", n,
	    SSE_EVENT_MAX);
	memcpy(big, "update /", 8);
	memset(big + 8, 'r', PUBSUB_RESOURCE_MAX - 1);
	memcpy(big + 7 + PUBSUB_RESOURCE_MAX, " 1-1 ", 5);
	n = sse_event(out, big, PUBSUB_LINE_MAX, 1);
	ok(n > 0 && n <= SSE_EVENT_MAX, "with the longest name first, too "
	    "(%zu of %d)", n, SSE_EVENT_MAX);
	is_int(sse_event(out, big, PUBSUB_LINE_MAX + 1, 0), 0,
	    "a line over the maximum: no event");
	free(big);
	return (done_testing());
}

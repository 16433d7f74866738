/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Listen mode's lines as server-sent events.  An update is a plain
 * message event, its id the state's id, so that a browser's EventSource
 * sends it back as Last-Event-ID when it reconnects; "gap R WHY" is event
 * "gap" and "error VERB R WHY" event "refused", each with WHY as data;
 * the rest ("ok ...", "pong") says nothing a stream needs.  A CR in a
 * state would end its line for the client (and could forge an "id:"
 * field), so each CR starts a new data line: the client sees a LF there.
 * A pattern's stream names each state's resource in a data line of its
 * own, first: the event's data is "RESOURCE\nSTATE".
 */

#include <string.h>

#include "sse.h"

static size_t
sse_put(char *out, size_t n, const char *s, size_t len)
{
	memcpy(out + n, s, len);
	return (n + len);
}

/* "data: " lines for len bytes of data, a CR starting a new one. */
static size_t
sse_data(char *out, size_t n, const char *data, size_t len)
{
	const char	*cr;

	for (;;) {
		n = sse_put(out, n, "data: ", 6);
		if ((cr = memchr(data, '\r', len)) == NULL)
			break;
		n = sse_put(out, n, data, cr - data);
		n = sse_put(out, n, "\n", 1);
		len -= cr - data + 1;
		data = cr + 1;
	}
	n = sse_put(out, n, data, len);
	return (sse_put(out, n, "\n", 1));
}

/*
 * The event for one line (a message listen.c sends) into out, which has
 * room for SSE_EVENT_MAX bytes, names: with its resource (a pattern's
 * stream); its length, 0 if the line says nothing a stream needs.
 */
size_t
sse_event(char *out, const char *line, size_t len, int names)
{
	struct pubsub_id	 id;
	const char		*sp, *rest, *idp, *name;
	size_t			 n = 0, restlen, vlen, namelen;

	if (len > PUBSUB_LINE_MAX || (sp = memchr(line, ' ', len)) == NULL)
		return (0);
	vlen = sp - line;
	rest = sp + 1;
	restlen = len - vlen - 1;
	if (vlen == 5 && memcmp(line, "error", 5) == 0) {
		n = sse_put(out, n, "event: refused\n", 15);
		n = sse_data(out, n, rest, restlen);
		return (sse_put(out, n, "\n", 1));
	}
	/* The others name their resource next: the stream's, or a match. */
	if ((sp = memchr(rest, ' ', restlen)) == NULL)
		return (0);
	name = rest;
	namelen = sp - rest;
	restlen -= sp + 1 - rest;
	rest = sp + 1;
	if (vlen == 3 && memcmp(line, "gap", 3) == 0) {
		n = sse_put(out, n, "event: gap\n", 11);
		n = sse_data(out, n, rest, restlen);
		return (sse_put(out, n, "\n", 1));
	}
	if (vlen != 6 || memcmp(line, "update", 6) != 0)
		return (0);
	/* The id's text, as listen.c made it: checked, not printed again. */
	idp = rest;
	if (pubsub_id_split(&rest, &restlen, &id) == 0) {
		n = sse_put(out, n, "id: ", 4);
		n = sse_put(out, n, idp, memchr(idp, ' ', rest - idp) != NULL ?
		    (size_t)(rest - idp - 1) : (size_t)(rest - idp));
		n = sse_put(out, n, "\n", 1);
	}
	if (names) {
		n = sse_put(out, n, "data: ", 6);
		n = sse_put(out, n, name, namelen);
		n = sse_put(out, n, "\n", 1);
	}
	n = sse_data(out, n, rest, restlen);
	return (sse_put(out, n, "\n", 1));
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Listen mode's lines as the answer to one plain HTTP request.  A GET is
 * answered by the first "update R ID DATA" it is sent: 200, the state as
 * the body, its id as the ETag.  A POST is answered by its publish's
 * "ok" (204) or "error" line.  "error VERB R WHY" becomes a status by
 * its reason: 403 for a grant that is missing, 404 for a resource with
 * no state, 400 for what no retry can fix, 503 for the rest (the broker
 * busy or away, a budget full), which a retry may fix.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "rest.h"

/* The status an "error ..." line's reason stands for. */
static int
rest_status(const char *why, size_t len)
{
	static const struct {
		const char	*why;
		int		 status;
	} map[] = {
		{ "not allowed", 403 },
		{ "no state", 404 },
		{ "data is not valid UTF-8", 400 }
	};
	size_t	i;

	for (i = 0; i < sizeof map / sizeof map[0]; i++)
		if (len == strlen(map[i].why) &&
		    memcmp(why, map[i].why, len) == 0)
			return (map[i].status);
	return (503);
}

static int	rest_state(struct buf *, int, const struct pubsub_id *,
		    const char *, size_t, int);

/* Is an error line's first word a command's verb: "error VERB R WHY"? */
static int
rest_is_verb(const char *s, size_t len)
{
	static const char *const verbs[] = { "subscribe", "publish", "get" };
	size_t	i;

	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (len == strlen(verbs[i]) && memcmp(s, verbs[i], len) == 0)
			return (1);
	return (0);
}

/*
 * The answer when the wait is over: 304 for a long poll whose client has
 * the newest state (the ETag its If-None-Match inm names), 404 for one
 * that saw none, else the broker is late.
 */
int
rest_late(struct buf *out, int status, const char *inm)
{
	struct pubsub_id	id;

	if (status == 304 && rest_etag(inm, &id) == 0)
		return (rest_state(out, 304, &id, NULL, 0, 1));
	if (status == 404)
		return (http_put_error(out, 404, "no state", NULL));
	return (http_put_error(out, 504,
	    "the broker did not answer in time", NULL));
}

/*
 * 200 with the state, or, for HEAD, only what describes it; 304 (no
 * body, no length) for a client that has it.
 */
static int
rest_state(struct buf *out, int status, const struct pubsub_id *id,
    const char *data, size_t len, int head)
{
	char	etag[PUBSUB_ID_MAX + 2];
	int	close = 1;

	etag[0] = '"';
	(void)pubsub_id_format(id, etag + 1, PUBSUB_ID_MAX);
	strlcat(etag, "\"", sizeof etag);
	if (http_put_head(out, status, NULL, status == 304 ? NULL :
	    "text/plain; charset=utf-8", status == 304 ? -1 : (long long)len,
	    &close) == -1 ||
	    http_put_field(out, "ETag", etag) == -1 ||
	    http_put_field(out, "Cache-Control", "no-cache") == -1 ||
	    http_put(out, "\r\n") == -1 ||
	    (!head && buf_append(out, data, len) == -1))
		return (-1);
	return (0);
}

/*
 * Answers the request with the line listen.c sent its client, if that
 * line settles it (a state If-None-Match inm names: 304).  Returns 1
 * with the answer queued and its status in *status, 0 if the line says
 * nothing the request waits for ("ok subscribe", a gap, a pong), -1 if
 * the answer does not fit.
 */
int
rest_answer(struct buf *out, const char *line, size_t len, int head,
    const char *inm, int *status)
{
	struct pubsub_msg	 m;
	struct pubsub_id	 id;
	const char		*errstr, *why, *sp;
	char			 text[200];
	size_t			 whylen;

	if (pubsub_parse(line, len, &m, &errstr) == -1)
		return (0);
	switch (m.verb) {
	case PUBSUB_UPDATE:
		if (pubsub_id_split(&m.data, &m.datalen, &id) == -1)
			return (0);
		/* The client has it: 304. */
		*status = rest_etag_match(inm, &id) ? 304 : 200;
		return (rest_state(out, *status, &id, m.data, m.datalen,
		    head || *status == 304) == -1 ? -1 : 1);
	case PUBSUB_OK:
		/* "ok publish R": m.resource is the verb. */
		if (m.resourcelen != 7 || memcmp(m.resource, "publish", 7) != 0)
			return (0);
		*status = 204;
		if (http_put_status(out, 204, NULL) == -1 ||
		    http_put_field(out, "Connection", "close") == -1 ||
		    http_put_extra(out, HTTP_EXTRA_ALL) == -1 ||
		    http_put_extra(out, HTTP_EXTRA_HTTP) == -1 ||
		    http_put(out, "\r\n") == -1)
			return (-1);
		return (1);
	case PUBSUB_ERROR:
		/* "error VERB R WHY"; "error WHY" for a malformed command. */
		why = m.data;
		whylen = m.datalen;
		*status = 400;
		if ((sp = memchr(why, ' ', whylen)) != NULL &&
		    rest_is_verb(why, sp - why) && (sp = memchr(sp + 1, ' ',
		    m.data + m.datalen - sp - 1)) != NULL) {
			why = sp + 1;
			whylen = m.data + m.datalen - why;
			*status = rest_status(why, whylen);
		}
		(void)snprintf(text, sizeof text, "%.*s", (int)whylen, why);
		return (http_put_error(out, *status, text, NULL) == -1 ? -1 :
		    1);
	default:
		return (0);
	}
}

/*
 * The next entity tag of an If-None-Match value: *p moves past it; the
 * tag's text without W/ and quotes into tag.  0, or -1 at the end.
 */
static int
rest_next_tag(const char **p, char *tag, size_t size)
{
	const char	*s = *p, *e;
	size_t		 n;

	s += strspn(s, " \t,");
	if (*s == '\0')
		return (-1);
	if (strncmp(s, "W/", 2) == 0)
		s += 2;
	if (*s == '"') {
		s++;
		e = strchr(s, '"');
		if (e == NULL)
			e = s + strlen(s);
		*p = *e == '"' ? e + 1 : e;
	} else {
		e = s + strcspn(s, " \t,");
		*p = e;
	}
	n = e - s;
	if (n >= size)
		n = 0;		/* no id is that long: matches nothing */
	memcpy(tag, s, n);
	tag[n] = '\0';
	return (0);
}

/* 1 if If-None-Match value v names state id ("*": any state). */
int
rest_etag_match(const char *v, const struct pubsub_id *id)
{
	struct pubsub_id	 t;
	char			 tag[PUBSUB_ID_MAX + 1];

	if (v == NULL)
		return (0);
	while (rest_next_tag(&v, tag, sizeof tag) == 0)
		if (strcmp(tag, "*") == 0 || (pubsub_id_parse(tag,
		    strlen(tag), &t) == 0 && t.epoch == id->epoch &&
		    t.seq == id->seq))
			return (1);
	return (0);
}

/* The first id an If-None-Match value names: 0, or -1 if none. */
int
rest_etag(const char *v, struct pubsub_id *id)
{
	char	tag[PUBSUB_ID_MAX + 1];

	if (v == NULL)
		return (-1);
	while (rest_next_tag(&v, tag, sizeof tag) == 0)
		if (pubsub_id_parse(tag, strlen(tag), id) == 0)
			return (0);
	return (-1);
}

/*
 * The seconds a "Prefer: wait=N" (RFC 7240) asks a GET to wait for the
 * next state, at most REST_WAIT_MAX; -1 if it asks none.
 */
int
rest_wait(const char *v)
{
	const char	*p;
	long		 n;
	char		*end;

	for (p = v; p != NULL && *p != '\0'; p += strcspn(p, ",;")) {
		p += strspn(p, " \t,;");
		if (strncasecmp(p, "wait", 4) != 0)
			continue;
		p += 4 + strspn(p + 4, " \t");
		if (*p != '=')
			continue;
		p++;
		p += strspn(p, " \t\"");
		if (*p < '0' || *p > '9')
			continue;
		n = strtol(p, &end, 10);
		return (n > REST_WAIT_MAX ? REST_WAIT_MAX : (int)n);
	}
	return (-1);
}

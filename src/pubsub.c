/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Parses one line of the listen-mode protocol.  The grammar is small on
 * purpose, so that a person can type it into nc -U or a dev console:
 *
 *	subscribe RESOURCE	unsubscribe RESOURCE	ping
 *	publish RESOURCE DATA	update RESOURCE DATA	pong
 *	ok VERB RESOURCE	error TEXT
 *	get RESOURCE		state RESOURCE DATA	hello ROLE
 *	list [PATTERN]		stats [TEXT]
 *
 * RESOURCE has no spaces or control characters; DATA is the rest of the
 * line, possibly empty, never a newline.
 */

#include <string.h>

#include "pubsub.h"

static const struct {
	const char		*name;
	enum pubsub_verb	 verb;
	int			 resource;	/* takes a resource */
	int			 data;		/* takes data */
} pubsub_verbs[] = {
	{ "subscribe", PUBSUB_SUBSCRIBE, 1, 0 },
	{ "unsubscribe", PUBSUB_UNSUBSCRIBE, 1, 0 },
	{ "publish", PUBSUB_PUBLISH, 1, 1 },
	{ "update", PUBSUB_UPDATE, 1, 1 },
	{ "ping", PUBSUB_PING, 0, 0 },
	{ "pong", PUBSUB_PONG, 0, 0 },
	{ "ok", PUBSUB_OK, 1, 1 },
	{ "error", PUBSUB_ERROR, 0, 1 },
	{ "get", PUBSUB_GET, 1, 0 },
	{ "state", PUBSUB_STATE, 1, 1 },
	{ "hello", PUBSUB_HELLO, 0, 1 },
	{ "list", PUBSUB_LIST, 0, 1 },
	{ "stats", PUBSUB_STATS, 0, 1 }
};

#define PUBSUB_NVERBS	(sizeof pubsub_verbs / sizeof pubsub_verbs[0])

const char *
pubsub_verb_name(enum pubsub_verb verb)
{
	size_t	i;

	for (i = 0; i < PUBSUB_NVERBS; i++)
		if (pubsub_verbs[i].verb == verb)
			return (pubsub_verbs[i].name);
	return ("?");
}

/* Returns 1 if s is a usable resource name. */
int
pubsub_resource_valid(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || len > PUBSUB_RESOURCE_MAX)
		return (0);
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return (0);
	return (1);
}

/*
 * Returns 1 if resource r (rlen bytes) matches pattern p (NUL-terminated):
 * "*" matches every resource, a pattern ending in "*" every resource that
 * begins with what comes before it, any other pattern only itself.
 */
int
pubsub_match(const char *p, const char *r, size_t rlen)
{
	size_t	plen = strlen(p);

	if (plen > 0 && p[plen - 1] == '*')
		return (rlen >= plen - 1 && memcmp(p, r, plen - 1) == 0);
	return (rlen == plen && memcmp(p, r, plen) == 0);
}

/*
 * Parses a line (without its newline).  Returns 0, or -1 with a static
 * reason in *errstr.
 */
int
pubsub_parse(const char *s, size_t len, struct pubsub_msg *m,
    const char **errstr)
{
	const char	*sp, *end = s + len, *r;
	size_t		 i, n;

	memset(m, 0, sizeof *m);
	/* An empty message may come with no buffer at all. */
	if (len == 0) {
		*errstr = "an empty message (subscribe, unsubscribe, publish, "
		    "ping)";
		return (-1);
	}
	if (memchr(s, '\n', len) != NULL) {
		*errstr = "a newline inside a message";
		return (-1);
	}
	sp = memchr(s, ' ', len);
	n = sp != NULL ? (size_t)(sp - s) : len;
	for (i = 0; i < PUBSUB_NVERBS; i++)
		if (strlen(pubsub_verbs[i].name) == n &&
		    memcmp(pubsub_verbs[i].name, s, n) == 0)
			break;
	if (i == PUBSUB_NVERBS) {
		*errstr = "unknown command (subscribe, unsubscribe, publish, "
		    "ping)";
		return (-1);
	}
	m->verb = pubsub_verbs[i].verb;
	r = sp != NULL ? sp + 1 : end;
	if (!pubsub_verbs[i].resource) {
		if (pubsub_verbs[i].data) {
			m->data = r;
			m->datalen = end - r;
		} else if (r != end) {
			*errstr = "this command takes no argument";
			return (-1);
		}
		return (0);
	}
	sp = memchr(r, ' ', end - r);
	m->resource = r;
	m->resourcelen = (sp != NULL ? sp : end) - r;
	if (!pubsub_resource_valid(m->resource, m->resourcelen)) {
		*errstr = m->resourcelen == 0 ? "a resource name is missing" :
		    "bad resource name (1-256 bytes, no spaces)";
		return (-1);
	}
	if (sp != NULL && !pubsub_verbs[i].data) {
		*errstr = "this command takes only a resource";
		return (-1);
	}
	if (sp != NULL) {
		m->data = sp + 1;
		m->datalen = end - m->data;
	} else
		m->data = end;
	if (m->datalen > PUBSUB_DATA_MAX) {
		*errstr = "data too long (65536 bytes at most)";
		return (-1);
	}
	return (0);
}

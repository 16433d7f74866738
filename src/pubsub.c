/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Parses one line of the listen-mode protocol.  The grammar is small on
 * purpose, so that a person can type it into nc -U or a dev console:
 *
 *	subscribe RESOURCE [FROM]	unsubscribe RESOURCE	ping
 *	publish RESOURCE DATA		update RESOURCE [ID] DATA	pong
 *	ok VERB RESOURCE		error TEXT		gap RESOURCE WHY
 *	get RESOURCE [FROM]		state RESOURCE [ID] DATA
 *	hello ROLE			list [PATTERN]		stats [TEXT]
 *
 * RESOURCE has no spaces or control characters; DATA is the rest of the
 * line, possibly empty, never a newline.  FROM is an id (EPOCH-SEQ), "0"
 * or "current"; an update or state carries an ID when it was asked for.
 */

#include <stdio.h>
#include <string.h>

#include "pubsub.h"

static const struct {
	const char		*name;
	enum pubsub_verb	 verb;
	int			 resource;	/* takes a resource */
	int			 data;		/* takes data */
} pubsub_verbs[] = {
	{ "subscribe", PUBSUB_SUBSCRIBE, 1, 1 },
	{ "unsubscribe", PUBSUB_UNSUBSCRIBE, 1, 0 },
	{ "publish", PUBSUB_PUBLISH, 1, 1 },
	{ "update", PUBSUB_UPDATE, 1, 1 },
	{ "ping", PUBSUB_PING, 0, 0 },
	{ "pong", PUBSUB_PONG, 0, 0 },
	{ "ok", PUBSUB_OK, 1, 1 },
	{ "error", PUBSUB_ERROR, 0, 1 },
	{ "get", PUBSUB_GET, 1, 1 },
	{ "state", PUBSUB_STATE, 1, 1 },
	{ "hello", PUBSUB_HELLO, 0, 1 },
	{ "list", PUBSUB_LIST, 0, 1 },
	{ "stats", PUBSUB_STATS, 0, 1 },
	{ "gap", PUBSUB_GAP, 1, 1 }
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

/* Reads n digits of base 10 or 16; -1 if one is not, or it overflows. */
static int
pubsub_number(const char *s, size_t n, int base, unsigned long long *v)
{
	unsigned long long	 x = 0, d;
	size_t			 i;

	if (n == 0 || n > (base == 16 ? 16 : 20))
		return (-1);
	for (i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (base == 16 && s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else
			return (-1);
		if (x > (~0ULL - d) / base)
			return (-1);
		x = x * base + d;
	}
	*v = x;
	return (0);
}

/* Parses "EPOCH-SEQ" (lower-case hex, then decimal); 0, or -1. */
int
pubsub_id_parse(const char *s, size_t len, struct pubsub_id *id)
{
	const char	*dash;

	if ((dash = memchr(s, '-', len)) == NULL ||
	    pubsub_number(s, dash - s, 16, &id->epoch) == -1 ||
	    pubsub_number(dash + 1, s + len - dash - 1, 10, &id->seq) == -1 ||
	    id->epoch == 0)
		return (-1);
	return (0);
}

/* Writes an id as text into buf (PUBSUB_ID_MAX bytes); its length. */
size_t
pubsub_id_format(const struct pubsub_id *id, char *buf, size_t size)
{
	int	n;

	n = snprintf(buf, size, "%llx-%llu", id->epoch, id->seq);
	return (n < 0 ? 0 : (size_t)n);
}

/*
 * Takes the id off the front of an update's or state's data ("ID DATA");
 * 0, or -1 if there is none.
 */
int
pubsub_id_split(const char **data, size_t *len, struct pubsub_id *id)
{
	const char	*sp;
	size_t		 n;

	sp = memchr(*data, ' ', *len);
	n = sp != NULL ? (size_t)(sp - *data) : *len;
	if (pubsub_id_parse(*data, n, id) == -1)
		return (-1);
	*data += n + (sp != NULL);
	*len -= n + (sp != NULL);
	return (0);
}

/* Appends len bytes of s at *n, within PUBSUB_LINE_MAX. */
static void
pubsub_put(char *line, size_t *n, const char *s, size_t len)
{
	if (len > PUBSUB_LINE_MAX - *n)
		len = PUBSUB_LINE_MAX - *n;
	memcpy(line + *n, s, len);
	*n += len;
}

/*
 * Writes "VERB[ NAME][ ID][ DATA]" into line, which has room for
 * PUBSUB_LINE_MAX + 2 bytes (a caller may add a newline); a NULL part
 * is left out.  Returns its length.  The one place lines are made.
 */
size_t
pubsub_line(char *line, const char *verb, const char *name, size_t namelen,
    const struct pubsub_id *id, const char *data, size_t len)
{
	char	idtext[PUBSUB_ID_MAX];
	size_t	n = 0;

	pubsub_put(line, &n, verb, strlen(verb));
	if (name != NULL) {
		pubsub_put(line, &n, " ", 1);
		pubsub_put(line, &n, name, namelen);
	}
	if (id != NULL) {
		pubsub_put(line, &n, " ", 1);
		pubsub_put(line, &n, idtext, pubsub_id_format(id, idtext,
		    sizeof idtext));
	}
	if (data != NULL) {
		pubsub_put(line, &n, " ", 1);
		pubsub_put(line, &n, data, len);
	}
	return (n);
}

static int	pubsub_pattern_args(struct pubsub_msg *, const char **);

/* Reads a subscribe's or get's FROM; -1 if it is not one. */
static int
pubsub_from(struct pubsub_msg *m)
{
	if (m->datalen == 0)
		m->from = PUBSUB_FROM_NONE;
	else if (m->datalen == 1 && m->data[0] == '0')
		m->from = PUBSUB_FROM_START;
	else if (m->datalen == 7 && memcmp(m->data, "current", 7) == 0)
		m->from = PUBSUB_FROM_CURRENT;
	else if (pubsub_id_parse(m->data, m->datalen, &m->id) == 0)
		m->from = PUBSUB_FROM_ID;
	else
		return (-1);
	return (0);
}

/*
 * Returns 1 if resource name s is a pattern: it ends in "*", and matches
 * every resource that begins with what comes before (pubsub_match).
 */
int
pubsub_pattern(const char *s, size_t len)
{
	return (len > 0 && s[len - 1] == '*');
}

/*
 * What a command may do with a pattern: subscribe, with ids ("current")
 * or without, since a resume's id is of one resource; get, after a
 * resource name (the part of its answer that was not sent yet, a
 * gateway's); unsubscribe.  Nobody publishes to one.
 */
static int
pubsub_pattern_args(struct pubsub_msg *m, const char **errstr)
{
	switch (m->verb) {
	case PUBSUB_SUBSCRIBE:
		if (pubsub_from(m) == -1 || m->from == PUBSUB_FROM_START ||
		    m->from == PUBSUB_FROM_ID) {
			*errstr = "a pattern is followed from now (nothing, "
			    "or current)";
			return (-1);
		}
		return (0);
	case PUBSUB_GET:
		if (m->datalen > 0 && !pubsub_resource_valid(m->data,
		    m->datalen)) {
			*errstr = "bad resource name (1-256 bytes, no spaces)";
			return (-1);
		}
		m->from = PUBSUB_FROM_NONE;
		return (0);
	case PUBSUB_PUBLISH:
		*errstr = "a pattern is not a resource (it ends in *)";
		return (-1);
	default:
		return (0);
	}
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
	const char	*sp, *end, *r;
	size_t		 i, n;

	memset(m, 0, sizeof *m);
	/* An empty message may come with no buffer at all: no s + 0. */
	if (len == 0) {
		*errstr = "an empty message (subscribe, unsubscribe, publish, "
		    "ping)";
		return (-1);
	}
	end = s + len;
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
	/* An update or a state may carry an id before its data. */
	if (m->datalen > PUBSUB_DATA_MAX + ((m->verb == PUBSUB_UPDATE ||
	    m->verb == PUBSUB_STATE) ? PUBSUB_ID_MAX : 0)) {
		*errstr = "data too long (65536 bytes at most)";
		return (-1);
	}
	if (pubsub_pattern(m->resource, m->resourcelen))
		return (pubsub_pattern_args(m, errstr));
	if ((m->verb == PUBSUB_SUBSCRIBE || m->verb == PUBSUB_GET) &&
	    pubsub_from(m) == -1) {
		*errstr = "bad id (an id such as 5f3a9c1e-42, 0 or current)";
		return (-1);
	}
	return (0);
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Unit tests for pubsub.c, the listen-mode line grammar: every verb,
 * resource and data boundaries, and each malformation refused.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../src/pubsub.h"

struct vector {
	const char		*line;
	int			 ok;
	enum pubsub_verb	 verb;
	const char		*resource;
	const char		*data;
};

static const struct vector vectors[] = {
	{ "subscribe /api/appointments", 1, PUBSUB_SUBSCRIBE,
	    "/api/appointments", "" },
	{ "unsubscribe /x", 1, PUBSUB_UNSUBSCRIBE, "/x", "" },
	{ "publish /chat hello world", 1, PUBSUB_PUBLISH, "/chat",
	    "hello world" },
	{ "publish /chat  two spaces", 1, PUBSUB_PUBLISH, "/chat",
	    " two spaces" },
	{ "publish /chat", 1, PUBSUB_PUBLISH, "/chat", "" },
	{ "publish /chat ", 1, PUBSUB_PUBLISH, "/chat", "" },
	{ "update r {\"a\":1}", 1, PUBSUB_UPDATE, "r", "{\"a\":1}" },
	{ "ping", 1, PUBSUB_PING, NULL, NULL },
	{ "pong", 1, PUBSUB_PONG, NULL, NULL },
	{ "error no such thing", 1, PUBSUB_ERROR, NULL, "no such thing" },
	{ "ok subscribe /x", 1, PUBSUB_OK, "subscribe", "/x" },
	{ "get /x", 1, PUBSUB_GET, "/x", "" },
	{ "state /x a b", 1, PUBSUB_STATE, "/x", "a b" },
	{ "hello gateway", 1, PUBSUB_HELLO, NULL, "gateway" },
	{ "list", 1, PUBSUB_LIST, NULL, "" },
	{ "list /chat/*", 1, PUBSUB_LIST, NULL, "/chat/*" },
	{ "stats", 1, PUBSUB_STATS, NULL, "" },
	{ "subscribe /x current", 1, PUBSUB_SUBSCRIBE, "/x", "current" },
	{ "subscribe /x 0", 1, PUBSUB_SUBSCRIBE, "/x", "0" },
	{ "subscribe /x 5f3a9c1e-42", 1, PUBSUB_SUBSCRIBE, "/x",
	    "5f3a9c1e-42" },
	{ "get /x ffffffffffffffff-18446744073709551615", 1, PUBSUB_GET,
	    "/x", "ffffffffffffffff-18446744073709551615" },
	{ "gap /x history", 1, PUBSUB_GAP, "/x", "history" },
	{ "update /x 1-2 data", 1, PUBSUB_UPDATE, "/x", "1-2 data" },
	{ "subscribe /x 0-1", 0, 0, NULL, NULL },
	{ "subscribe /x 00", 0, 0, NULL, NULL },
	{ "subscribe /x Current", 0, 0, NULL, NULL },
	{ "subscribe /x 5F-1", 0, 0, NULL, NULL },
	{ "subscribe /x 5-", 0, 0, NULL, NULL },
	{ "subscribe /x -5", 0, 0, NULL, NULL },
	{ "subscribe /x 5--1", 0, 0, NULL, NULL },
	{ "subscribe /x 5-1 ", 0, 0, NULL, NULL },
	{ "subscribe /x 5-18446744073709551616", 0, 0, NULL, NULL },
	{ "subscribe /x 10000000000000000-1", 0, 0, NULL, NULL },
	{ "get /x 5-1x", 0, 0, NULL, NULL },
	{ "", 0, 0, NULL, NULL },
	{ "get /x y", 0, 0, NULL, NULL },
	{ "howdy /x", 0, 0, NULL, NULL },
	{ "Subscribe /x", 0, 0, NULL, NULL },
	{ "subscribe", 0, 0, NULL, NULL },
	{ "subscribe ", 0, 0, NULL, NULL },
	{ "subscribe a b", 0, 0, NULL, NULL },
	{ "subscribe a\tb", 0, 0, NULL, NULL },
	{ "ping now", 0, 0, NULL, NULL },
	{ "publish /x a\nb", 0, 0, NULL, NULL },
	{ "publish /x\x7f y", 0, 0, NULL, NULL },
};

int
main(void)
{
	const size_t		 nv = sizeof vectors / sizeof vectors[0];
	struct pubsub_msg	 m;
	const char		*errstr;
	char			*line;
	size_t			 i, n;
	int			 r, good;

	plan(nv + 18);
	for (i = 0; i < nv; i++) {
		const struct vector	*v = &vectors[i];

		errstr = NULL;
		r = pubsub_parse(v->line, strlen(v->line), &m, &errstr);
		if (!v->ok) {
			ok(r == -1 && errstr != NULL && *errstr != '\0',
			    "refused with a reason: \"%s\" (%s)", v->line,
			    errstr != NULL ? errstr : "none");
			continue;
		}
		good = r == 0 && m.verb == v->verb;
		if (good && v->resource != NULL)
			good = m.resourcelen == strlen(v->resource) &&
			    memcmp(m.resource, v->resource, m.resourcelen) == 0;
		if (good && v->data != NULL)
			good = m.datalen == strlen(v->data) &&
			    memcmp(m.data, v->data, m.datalen) == 0;
		ok(good, "parsed: \"%s\"", v->line);
	}

	/* Resource length boundaries: 256 bytes is the limit. */
	line = malloc(16 + 300);
	memcpy(line, "subscribe ", 10);
	memset(line + 10, 'r', 256);
	ok(pubsub_parse(line, 10 + 256, &m, &errstr) == 0 &&
	    m.resourcelen == 256, "a 256-byte resource is accepted");
	memset(line + 10, 'r', 257);
	ok(pubsub_parse(line, 10 + 257, &m, &errstr) == -1,
	    "a 257-byte resource is refused");
	free(line);

	/* Data boundaries: 65536 bytes is the limit. */
	line = malloc(PUBSUB_LINE_MAX + 2);
	memcpy(line, "publish /r ", 11);
	memset(line + 11, 'd', PUBSUB_DATA_MAX + 1);
	ok(pubsub_parse(line, 11 + PUBSUB_DATA_MAX, &m, &errstr) == 0 &&
	    m.datalen == PUBSUB_DATA_MAX, "65536 bytes of data are accepted");
	ok(pubsub_parse(line, 11 + PUBSUB_DATA_MAX + 1, &m, &errstr) == -1,
	    "65537 bytes of data are refused");
	free(line);

	/* Ids: what a subscribe's FROM reads as, and round trips. */
	{
		struct pubsub_id	 id, back;
		const char		*d;
		char			 text[PUBSUB_ID_MAX];

		ok(pubsub_parse("subscribe /x 0", 14, &m, &errstr) == 0 &&
		    m.from == PUBSUB_FROM_START, "FROM 0 is the start");
		ok(pubsub_parse("subscribe /x current", 20, &m, &errstr) ==
		    0 && m.from == PUBSUB_FROM_CURRENT, "FROM current");
		ok(pubsub_parse("subscribe /x", 12, &m, &errstr) == 0 &&
		    m.from == PUBSUB_FROM_NONE, "no FROM: no ids");
		ok(pubsub_parse("subscribe /x a0-7", 17, &m, &errstr) == 0 &&
		    m.from == PUBSUB_FROM_ID && m.id.epoch == 0xa0 &&
		    m.id.seq == 7, "FROM an id: epoch and seq read");
		id.epoch = ~0ULL;
		id.seq = ~0ULL;
		n = pubsub_id_format(&id, text, sizeof text);
		ok(n == 37 && pubsub_id_parse(text, n, &back) == 0 &&
		    back.epoch == id.epoch && back.seq == id.seq,
		    "the largest id round-trips (%s)", text);
		d = "3f-9 hello there";
		n = strlen(d);
		ok(pubsub_id_split(&d, &n, &id) == 0 && id.epoch == 0x3f &&
		    id.seq == 9 && n == 11 && memcmp(d, "hello there", 11) == 0,
		    "an id is split off an update's data");
		d = "3f-9";
		n = strlen(d);
		ok(pubsub_id_split(&d, &n, &id) == 0 && n == 0,
		    "an id with empty data");
		d = "hello there";
		n = strlen(d);
		ok(pubsub_id_split(&d, &n, &id) == -1 && n == 11,
		    "data without an id is left alone");
	}

	/* An update may carry an id before 65536 bytes of data. */
	line = malloc(PUBSUB_LINE_MAX + 2);
	n = (size_t)snprintf(line, 64, "update /r ffffffffffffffff-"
	    "18446744073709551615 ");
	memset(line + n, 'd', PUBSUB_DATA_MAX);
	ok(pubsub_parse(line, n + PUBSUB_DATA_MAX, &m, &errstr) == 0,
	    "an update with a 37-byte id and 65536 bytes is accepted");
	free(line);

	/* An empty WebSocket message may arrive with no buffer. */
	ok(pubsub_parse(NULL, 0, &m, &errstr) == -1,
	    "an empty message with no buffer is refused");
	ok(pubsub_resource_valid("/a/b?c=d", 8), "a URI-like name is valid");
	ok(!pubsub_resource_valid("", 0), "an empty name is not");
	ok(!pubsub_resource_valid("a b", 3), "a name with a space is not");
	is_str(pubsub_verb_name(PUBSUB_UNSUBSCRIBE), "unsubscribe",
	    "verb names round-trip");
	return (done_testing());
}

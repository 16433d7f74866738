/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Unit tests for rest.c: listen lines as the answer to one plain HTTP
 * request.  An update is 200 with its id as the ETag (304 when
 * If-None-Match names it, no body for HEAD); "ok publish" is 204; an
 * error line's reason picks the status; lines that settle nothing leave
 * the request waiting; If-None-Match and Prefer: wait are parsed as the
 * RFCs write them, and hostile values match nothing.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../src/rest.h"

static struct buf	out;
static int		status;

/* The answer to line, as text ("" if it settles nothing). */
static const char *
answer(const char *line, int head, const char *inm)
{
	static char	text[1024];
	int		ret;

	buf_init(&out, 1 << 20);
	status = 0;
	ret = rest_answer(&out, line, strlen(line), head, inm, &status);
	if (ret != 1) {
		buf_free(&out);
		return ("");
	}
	(void)snprintf(text, sizeof text, "%.*s", (int)buf_len(&out),
	    (const char *)buf_head(&out));
	buf_free(&out);
	return (text);
}

static int
has(const char *s, const char *part)
{
	return (strstr(s, part) != NULL);
}

int
main(void)
{
	struct pubsub_id	 id = { 0xab12, 7 }, got;
	const char		*a;
	char			 big[600];

	plan(34);

	a = answer("update /x ab12-7 hello world", 0, NULL);
	ok(status == 200 && has(a, "HTTP/1.1 200 OK\r\n") &&
	    has(a, "ETag: \"ab12-7\"\r\n") && has(a, "Content-Length: 11\r\n")
	    && has(a, "\r\n\r\nhello world") &&
	    has(a, "Content-Type: text/plain; charset=utf-8\r\n"),
	    "an update: 200, the state, its id as a strong ETag");
	a = answer("update /x ab12-7 hello world", 1, NULL);
	ok(status == 200 && has(a, "Content-Length: 11\r\n") &&
	    strcmp(a + strlen(a) - 4, "\r\n\r\n") == 0, "HEAD: no body");
	a = answer("update /x ab12-7 hello", 0, "\"ab12-7\"");
	ok(status == 304 && has(a, "304 Not Modified") &&
	    has(a, "ETag: \"ab12-7\"") && !has(a, "Content-Length") &&
	    !has(a, "hello"), "If-None-Match naming it: 304, no body");
	a = answer("update /x ab12-7 hello", 0, "W/\"x\", W/\"ab12-7\"");
	is_int(status, 304, "a weak tag in a list matches");
	a = answer("update /x ab12-7 hello", 0, "*");
	is_int(status, 304, "* matches any state");
	a = answer("update /x ab12-7 hello", 0, "\"ab12-6\"");
	is_int(status, 200, "another tag: 200");
	a = answer("update /x ab12-7 ", 0, NULL);
	ok(status == 200 && has(a, "Content-Length: 0\r\n"), "an empty state");
	a = answer("update /x hello", 0, NULL);
	is_str(a, "", "an update without an id settles nothing");

	a = answer("ok publish /x", 0, NULL);
	ok(status == 204 && has(a, "204 No Content") &&
	    !has(a, "Content-Length"), "ok publish: 204");
	is_str(answer("ok subscribe /x", 0, NULL), "", "ok subscribe: wait");
	is_str(answer("gap /x history", 0, NULL), "", "a gap: wait");
	is_str(answer("pong", 0, NULL), "", "pong: wait");
	is_str(answer("", 0, NULL), "", "an empty line: wait");

	a = answer("error publish /x not allowed", 0, NULL);
	ok(status == 403 && has(a, "\r\n\r\nnot allowed\n"), "not allowed: 403");
	answer("error get /x no state", 0, NULL);
	is_int(status, 404, "no state: 404");
	answer("error publish /x data is not valid UTF-8", 0, NULL);
	is_int(status, 400, "bad UTF-8: 400");
	answer("error publish /x broker busy, try again later", 0, NULL);
	is_int(status, 503, "broker busy: 503");
	answer("error subscribe /x too many subscriptions", 0, NULL);
	is_int(status, 503, "a budget: 503");
	a = answer("error a newline inside a message", 0, NULL);
	ok(status == 400 && has(a, "a newline inside a message\n"),
	    "a malformed command: 400 with its reason");
	a = answer("error publish /x why\rX-Forged: 1", 0, NULL);
	ok(strstr(a, "X-Forged") > strstr(a, "\r\n\r\n"),
	    "a reason with a CR stays in the body: it adds no field");

	ok(rest_etag_match("\"ab12-7\"", &id), "match: strong");
	ok(!rest_etag_match(NULL, &id), "match: no header");
	ok(rest_etag_match("\"ab12-7", &id), "match: an unterminated quote "
	    "is read to the end");
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ok(!rest_etag_match(big, &id), "match: an overlong tag matches nothing");
	ok(rest_etag("W/\"zz\", \"ab12-7\"", &got) == 0 && got.epoch == 0xab12 &&
	    got.seq == 7, "etag: the first tag that is an id");
	ok(rest_etag("\"zz\"", &got) == -1, "etag: none");
	ok(rest_etag(",,, ", &got) == -1, "etag: separators only");

	is_int(rest_wait("wait=10"), 10, "wait=10");
	is_int(rest_wait("respond-async, wait = 5"), 5, "wait in a list");
	is_int(rest_wait("return=minimal; wait=7"), 7, "wait after a ;");
	is_int(rest_wait("wait=99999999999999999999"), REST_WAIT_MAX,
	    "wait: capped");
	is_int(rest_wait("waiting=3"), -1, "not wait");
	is_int(rest_wait("wait=-1"), -1, "wait: negative is none");
	is_int(rest_wait(NULL), -1, "no Prefer");
	return (done_testing());
}

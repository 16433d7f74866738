/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Unit tests for http.c alone: the request line and header fields, the
 * limits, RFC 9112's whitespace-before-colon rule, bodies, upgrades,
 * pipelining, and the pieces of an answer.  Every request is also fed
 * split at every offset, which proves the parser keeps its state.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../src/http.h"

struct result {
	int	heads, dones, errors;
	int	status;
	size_t	used;		/* bytes used up to the last event */
	char	body[256];
	size_t	bodylen;
};

static int	body_refuse;

static int
body_cb(void *arg, const char *at, size_t len)
{
	struct result	*res = arg;

	if (body_refuse)
		return (-1);
	if (res->bodylen + len < sizeof res->body) {
		memcpy(res->body + res->bodylen, at, len);
		res->bodylen += len;
	}
	return (0);
}

/*
 * Feeds s in pieces of at most step bytes (0: whole) until the request
 * is done or failed; returns the request, with what happened in res.
 */
static struct http_request *
feed(const char *s, size_t len, size_t step, struct result *res)
{
	struct http_request	*r = http_request_new();
	enum http_event		 ev;
	size_t			 off = 0, n, want;

	memset(res, 0, sizeof *res);
	http_request_body(r, body_cb, res);
	while (off < len) {
		want = step == 0 || len - off < step ? len - off : step;
		n = http_request_feed(r, s + off, want, &ev);
		off += n;
		if (ev == HTTP_EV_HEAD)
			res->heads++;
		else if (ev == HTTP_EV_DONE) {
			res->dones++;
			break;
		} else if (ev == HTTP_EV_ERROR) {
			res->errors++;
			res->status = r->status;
			break;
		} else if (n < want) {
			/* Paused without an event would loop forever. */
			res->errors++;
			break;
		}
	}
	res->used = off;
	return (r);
}

/* The same request fed whole and at every split gives the same result. */
static void
splits(const char *name, const char *s, int want_status)
{
	struct http_request	*r;
	struct result		 res, whole;
	size_t			 len = strlen(s), step;
	int			 same = 1;

	r = feed(s, len, 0, &whole);
	http_request_free(r);
	for (step = 1; step < len; step++) {
		r = feed(s, len, step, &res);
		/* A failure may be seen at another offset; not its status. */
		if (res.errors != whole.errors || res.dones != whole.dones ||
		    res.status != whole.status ||
		    (!whole.errors && res.used != whole.used) ||
		    res.bodylen != whole.bodylen ||
		    memcmp(res.body, whole.body, res.bodylen) != 0)
			same = 0;
		http_request_free(r);
	}
	ok(same, "%s: the same at every split", name);
	is_int(whole.status, want_status, "%s: status %d", name, want_status);
}

int
main(void)
{
	struct http_request	*r;
	struct result		 res;
	struct buf		 b;
	enum http_event		 ev;
	char			 big[20000], *p;
	const char		*s;
	size_t			 n;
	int			 i, close;

	plan(80);

	s = "GET /a%20b/c?x=1&y HTTP/1.1\r\nHost: example.com\r\n"
	    "X-Thing: one\r\nx-thing: two\r\n\r\n";
	r = feed(s, strlen(s), 0, &res);
	is_int(res.heads, 1, "GET: one head event");
	is_int(res.dones, 1, "GET: then done");
	is_int(res.used, strlen(s), "GET: every byte used");
	ok(r->get && !r->head, "GET: method flags");
	ok(strcmp(r->method, "GET") == 0, "GET: method string");
	ok(strcmp(r->url, "/a%20b/c?x=1&y") == 0, "GET: url as sent");
	ok(strcmp(r->path, "/a%20b/c") == 0, "GET: raw path");
	ok(strcmp(r->decoded, "/a b/c") == 0, "GET: decoded path");
	ok(strcmp(r->query, "x=1&y") == 0, "GET: query");
	ok(strcmp(r->proto, "HTTP/1.1") == 0, "GET: protocol");
	ok(r->keepalive, "GET: HTTP/1.1 keeps alive");
	ok(!r->has_body && !r->upgrade, "GET: no body, no upgrade");
	ok(strcmp(http_field(r, "host"), "example.com") == 0,
	    "field names are case-insensitive");
	ok(strcmp(http_field(r, "X-THING"), "one, two") == 0,
	    "repeated fields are joined with a comma");
	is_int(r->nfields, 2, "joined fields count once");
	ok(http_field(r, "Missing") == NULL, "a missing field is NULL");
	http_request_free(r);
	splits("GET", s, 0);

	s = "GET / HTTP/1.0\r\n\r\n";
	r = feed(s, strlen(s), 0, &res);
	ok(!r->keepalive, "HTTP/1.0 without keep-alive closes");
	ok(strcmp(r->query, "") == 0, "no query is the empty string");
	http_request_free(r);

	/* RFC 9112 5.1. */
	splits("space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);
	splits("tab before colon", "GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", 400);
	splits("Transfer-Encoding with a space",
	    "POST /cgi HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n"
	    "\r\n0\r\n\r\n", 400);
	splits("garbage", "GARBAGE\r\n\r\n", 400);
	splits("absolute form target", "GET http://x/ HTTP/1.1\r\nHost: x\r\n"
	    "\r\n", 400);
	splits("asterisk target", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	splits("encoded NUL in the path", "GET /a%00b HTTP/1.1\r\nHost: x\r\n"
	    "\r\n", 400);

	/* Limits. */
	p = big;
	p += sprintf(p, "GET / HTTP/1.1\r\n");
	for (i = 0; i < HTTP_HEADERS_MAX + 1; i++)
		p += sprintf(p, "F%d: v\r\n", i);
	sprintf(p, "\r\n");
	r = feed(big, strlen(big), 0, &res);
	is_int(res.status, 431, "%d fields: 431", HTTP_HEADERS_MAX + 1);
	http_request_free(r);

	p = big;
	p += sprintf(p, "GET / HTTP/1.1\r\nX: ");
	memset(p, 'a', HTTP_HEADER_MAX);
	p += HTTP_HEADER_MAX;
	sprintf(p, "\r\n\r\n");
	r = feed(big, strlen(big), 0, &res);
	is_int(res.status, 431, "a header block over %d bytes: 431",
	    HTTP_HEADER_MAX);
	http_request_free(r);
	r = feed(big, strlen(big), 100, &res);
	is_int(res.status, 431, "the same, fed in pieces: 431");
	ok(res.used <= HTTP_HEADER_MAX + 200,
	    "it fails near the limit, not at the end (%zu bytes)", res.used);
	http_request_free(r);

	p = big;
	p += sprintf(p, "GET /");
	memset(p, 'a', HTTP_HEADER_MAX + 10);
	p += HTTP_HEADER_MAX + 10;
	sprintf(p, " HTTP/1.1\r\nHost: x\r\n\r\n");
	r = feed(big, strlen(big), 0, &res);
	is_int(res.status, 414, "a URL over %d bytes: 414", HTTP_HEADER_MAX);
	http_request_free(r);

	/* Bodies. */
	s = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
	    "hello world";
	r = feed(s, strlen(s), 0, &res);
	ok(r->has_body && r->content_length == 11,
	    "Content-Length: a body of 11");
	is_int(res.heads, 1, "body: the head comes first");
	is_int(res.dones, 1, "body: then done");
	ok(res.bodylen == 11 && memcmp(res.body, "hello world", 11) == 0,
	    "body: its bytes reach the callback");
	http_request_free(r);
	splits("body", s, 0);

	s = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
	r = feed(s, strlen(s), 0, &res);
	ok(r->has_body && r->content_length == 0,
	    "chunked: a body without a length");
	ok(res.bodylen == 11 && memcmp(res.body, "hello world", 11) == 0,
	    "chunked: the chunks reach the callback joined");
	http_request_free(r);
	splits("chunked", s, 0);

	body_refuse = 1;
	s = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
	r = feed(s, strlen(s), 0, &res);
	ok(res.errors == 1 && res.status == 400,
	    "a body the callback refuses fails the request");
	http_request_free(r);
	body_refuse = 0;

	/* Upgrades end at the header block. */
	s = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\n\x81\x85xxxxhello";
	r = feed(s, strlen(s), 0, &res);
	ok(r->upgrade, "upgrade: flagged");
	is_int(res.heads, 0, "upgrade: no separate head event");
	is_int(res.dones, 1, "upgrade: done at the header block");
	is_int(res.used, strlen(s) - 11,
	    "upgrade: the frame after it is not used");
	ok(strcmp(r->decoded, "/ws") == 0, "upgrade: path");
	http_request_free(r);
	s = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\n";
	splits("upgrade", s, 0);

	/* Pipelining: each request stops where the next begins. */
	s = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: y\r\n\r\n";
	r = http_request_new();
	n = http_request_feed(r, s, strlen(s), &ev);
	ok(ev == HTTP_EV_HEAD, "pipelined: the first head");
	n += http_request_feed(r, s + n, strlen(s) - n, &ev);
	ok(ev == HTTP_EV_DONE && n == strlen(s) / 2,
	    "pipelined: the first ends at the second (%zu)", n);
	ok(strcmp(r->path, "/1") == 0, "pipelined: first path");
	http_request_free(r);
	r = http_request_new();
	i = (int)http_request_feed(r, s + n, strlen(s) - n, &ev);
	ok(ev == HTTP_EV_HEAD && strcmp(r->path, "/2") == 0 &&
	    strcmp(http_field(r, "Host"), "y") == 0,
	    "pipelined: the second is read by a new request");
	http_request_feed(r, s + n + i, strlen(s) - n - i, &ev);
	ok(ev == HTTP_EV_DONE, "pipelined: second done");
	n = http_request_feed(r, "GET", 3, &ev);
	ok(n == 0 && ev == HTTP_EV_DONE,
	    "a done request takes nothing more");
	http_request_free(r);

	r = feed("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 29, 0, &res);
	n = http_request_feed(r, "more", 4, &ev);
	ok(n == 0 && ev == HTTP_EV_ERROR, "a failed request takes nothing");
	ok(r->errstr != NULL && *r->errstr != '\0',
	    "a failed request says why");
	http_request_free(r);

	/* Scripts. */
	s = "GET /cgi/run/more/path HTTP/1.1\r\nHost: x\r\n\r\n";
	r = feed(s, strlen(s), 0, &res);
	http_set_script(r, 8, "/srv/cgi/run");
	ok(strcmp(r->script_name, "/cgi/run") == 0, "script name");
	ok(strcmp(r->path_info, "/more/path") == 0, "path info");
	ok(strcmp(r->script_file, "/srv/cgi/run") == 0, "script file");
	http_request_free(r);

	/* Answers. */
	buf_init(&b, 4096);
	close = 0;
	ok(http_put_head(&b, 200, NULL, "text/plain", 5, &close) == 0,
	    "a head fits");
	ok(!close, "with a length, keep-alive stays");
	ok(memcmp(buf_head(&b), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 5\r\nConnection: keep-alive\r\n", buf_len(&b)) == 0,
	    "the head's bytes");
	buf_free(&b);
	close = 0;
	(void)http_put_head(&b, 200, "Fine", NULL, -1, &close);
	ok(close, "without a length, the connection closes");
	ok(strstr((const char *)buf_head(&b), "HTTP/1.1 200 Fine\r\n") != NULL,
	    "a reason of the caller's");
	buf_free(&b);
	close = 0;
	(void)http_put_head(&b, 304, NULL, NULL, -1, &close);
	ok(!close, "a 304 has no body and keeps alive");
	buf_free(&b);
	ok(http_put_error(&b, 404, "not found", "Allow: GET\r\n") == 0,
	    "an error answer fits");
	ok(memcmp(buf_head(&b), "HTTP/1.1 404 Not Found\r\nContent-Type: "
	    "text/plain; charset=utf-8\r\nContent-Length: 10\r\nConnection: "
	    "close\r\nAllow: GET\r\n\r\nnot found\n", buf_len(&b)) == 0,
	    "the error answer's bytes");
	buf_free(&b);
	buf_init(&b, 20);
	close = 0;
	ok(http_put_head(&b, 200, NULL, "text/plain", 5, &close) == -1,
	    "an answer over the cap fails, never overflows");
	ok(buf_len(&b) <= 20, "the cap holds");
	buf_free(&b);
	ok(strcmp(http_status_text(431), "Request Header Fields Too Large") ==
	    0, "status text");
	ok(strcmp(http_status_text(299), "Error") == 0,
	    "unknown status text");
	return (tap_failed != 0);
}

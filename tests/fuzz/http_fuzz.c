/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * libFuzzer target for http.c alone: the input is a stream of pipelined
 * requests, fed in pieces whose sizes come from its first byte, each
 * request read to its end or its error as the gateway does, and every
 * answer helper run on what was parsed.  No event loop, no socket.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/http.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
fuzz_body_cb(void *arg, const char *at, size_t len)
{
	size_t	*total = arg;

	*total += len;
	/* A body over 1 MiB is refused, as a full script would. */
	return (*total > (1 << 20) ? -1 : 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request	*r = NULL;
	enum http_event		 ev;
	struct buf		 out;
	const char		*p;
	size_t			 step, len, n, total = 0;
	int			 close, requests = 0;

	if (size < 1)
		return (0);
	step = data[0] == 0 ? size : data[0];
	p = (const char *)data + 1;
	len = size - 1;
	buf_init(&out, 4096);
	while (len > 0 && requests < 64) {
		if (r == NULL) {
			r = http_request_new();
			http_request_body(r, fuzz_body_cb, &total);
		}
		n = http_request_feed(r, p, len < step ? len : step, &ev);
		if (n > len)
			abort();
		p += n;
		len -= n;
		if (ev == HTTP_EV_HEAD) {
			/* Everything the router and env.c read is there. */
			if (r->method == NULL || r->path == NULL ||
			    r->decoded == NULL || r->query == NULL ||
			    r->url == NULL)
				abort();
			(void)http_field(r, "Host");
			if (strlen(r->decoded) > 0)
				http_set_script(r, strlen(r->decoded) / 2,
				    "/script");
			close = !r->keepalive;
			(void)http_put_head(&out, 200, NULL, "text/plain", 0,
			    &close);
			buf_free(&out);
		} else if (ev == HTTP_EV_ERROR) {
			if (r->status < 400 || r->status > 499 ||
			    r->errstr == NULL)
				abort();
			(void)http_put_error(&out, r->status, r->errstr, NULL);
			buf_free(&out);
			break;
		} else if (ev == HTTP_EV_DONE) {
			if (r->upgrade)
				break;
			http_request_free(r);
			r = NULL;
			total = 0;
			requests++;
		} else if (n == 0)
			break;
	}
	http_request_free(r);
	buf_free(&out);
	return (0);
}

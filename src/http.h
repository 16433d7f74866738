/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * One HTTP/1.1 request as it is read, under hard limits, and the pieces
 * of an answer.  Glue around http-parser that knows nothing of sockets
 * or connections: bytes go in, events come out, answers go into a
 * struct buf.  Links alone (with buf.c, path.c and the allocators).
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

#include "buf.h"

#define HTTP_HEADER_MAX		8192		/* request line + headers */
#define HTTP_HEADERS_MAX	100

enum http_event {
	HTTP_EV_MORE,		/* all input used, nothing to report */
	HTTP_EV_HEAD,		/* request line and headers are in */
	HTTP_EV_DONE,		/* the request is complete (an upgrade ends
				   here: what follows is not HTTP) */
	HTTP_EV_ERROR		/* answer status, with errstr */
};

struct http_field {
	char		*name;
	char		*value;
};

struct http_state;

typedef int	(*http_body_fn)(void *, const char *, size_t);

struct http_request {
	/* Set at HTTP_EV_HEAD. */
	const char	 *method;
	char		 *url;		/* as sent */
	char		 *path;		/* the URL's path, raw */
	char		 *decoded;	/* percent-decoded path */
	char		 *query;	/* "" when none */
	char		  proto[32];	/* "HTTP/1.1" */
	int		  major, minor;
	int		  get, head;	/* the method is GET, HEAD */
	struct http_field *fields;	/* repeated names joined */
	int		  nfields;
	int		  has_body;
	unsigned long long content_length;	/* when has_body */
	int		  keepalive;	/* the client allows another request */
	int		  upgrade;	/* Upgrade: websocket was asked */
	/* Set at HTTP_EV_ERROR. */
	int		  status;
	const char	 *errstr;
	/* Set by the router for CGI and --dir. */
	char		 *script_name;
	char		 *path_info;
	char		 *script_file;

	struct http_state *st;		/* private */
};

struct http_request *http_request_new(void);
void		 http_request_free(struct http_request *);
size_t		 http_request_feed(struct http_request *, const char *, size_t,
		    enum http_event *);
void		 http_request_body(struct http_request *, http_body_fn, void *);
int		 http_request_done(const struct http_request *);
const char	*http_field(const struct http_request *, const char *);
void		 http_set_script(struct http_request *, size_t, const char *);

#define HTTP_EXTRA_ALL		0
#define HTTP_EXTRA_HTTP		1
#define HTTP_EXTRA_WS		2

const char	*http_status_text(int);
void		 http_set_headers(int, char **, size_t);
int		 http_put_extra(struct buf *, int);
int		 http_put_head(struct buf *, int, const char *, const char *,
		    long long, int *);
int		 http_put_error(struct buf *, int, const char *, const char *);
int		 http_put(struct buf *, const char *);
int		 http_put_status(struct buf *, int, const char *);
int		 http_put_field(struct buf *, const char *, const char *);

#endif

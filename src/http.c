/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * http-parser glue: one request at a time is read under hard limits
 * (header bytes, header count, URL length), its request line and header
 * fields captured, its body handed to a callback, and each step reported
 * as an event.  Also the pieces of an answer, written into a struct buf.
 * Nothing here knows of sockets or connections, so it links alone and is
 * unit-tested alone.  The only file that includes <http_parser.h>.
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "http.h"
#include "path.h"
#include "xmalloc.h"

/* --header, --header-http and --header-ws lines, set at start-up. */
static struct {
	char	**v;
	size_t	  n;
} http_extra[3];

struct http_state {
	http_parser	 parser;
	struct buf	 url;
	int		 in_value;	/* the last callback was a value */
	size_t		 total;		/* header bytes so far */
	int		 head;		/* event: the header block is in */
	int		 header_end;
	int		 done;		/* the whole request is read */
	int		 status;	/* set by a callback that failed */
	http_body_fn	 body;
	void		*body_arg;
};

static int
http_fail(struct http_request *r, int status, const char *errstr)
{
	r->status = status;
	r->errstr = errstr;
	return (-1);
}

static int
http_url_cb(http_parser *p, const char *at, size_t len)
{
	struct http_request	*r = p->data;

	if (buf_append(&r->st->url, at, len) == -1)
		return (http_fail(r, 414, "request target too long"));
	return (0);
}

/* Appends to the current field's name or value. */
static void
http_append(char **dst, const char *at, size_t len)
{
	size_t	 old = *dst == NULL ? 0 : strlen(*dst);
	char	*p;

	p = xreallocarray(*dst, old + len + 1, 1);
	memcpy(p + old, at, len);
	p[old + len] = '\0';
	*dst = p;
}

static int
http_field_cb(http_parser *p, const char *at, size_t len)
{
	struct http_request	*r = p->data;

	/* RFC 9112 5.1: whitespace before the colon is answered 400. */
	if (memchr(at, ' ', len) != NULL || memchr(at, '\t', len) != NULL)
		return (http_fail(r, 400, "malformed HTTP request"));
	if (r->nfields == 0 || r->st->in_value) {
		if (r->nfields == HTTP_HEADERS_MAX)
			return (http_fail(r, 431, "too many header fields"));
		r->fields = xreallocarray(r->fields, r->nfields + 1,
		    sizeof *r->fields);
		r->fields[r->nfields].name = NULL;
		r->fields[r->nfields].value = xstrdup("");
		r->nfields++;
		r->st->in_value = 0;
	}
	http_append(&r->fields[r->nfields - 1].name, at, len);
	return (0);
}

static int
http_value_cb(http_parser *p, const char *at, size_t len)
{
	struct http_request	*r = p->data;

	r->st->in_value = 1;
	http_append(&r->fields[r->nfields - 1].value, at, len);
	return (0);
}

/* Joins repeated fields into one, as RFC 9110 5.3 allows. */
static void
http_merge_fields(struct http_request *r)
{
	char	*joined;
	int	 i, j;

	for (i = 0; i < r->nfields; i++)
		for (j = i + 1; j < r->nfields; j++) {
			if (strcasecmp(r->fields[i].name,
			    r->fields[j].name) != 0)
				continue;
			xasprintf(&joined, "%s, %s", r->fields[i].value,
			    r->fields[j].value);
			free(r->fields[i].value);
			r->fields[i].value = joined;
			free(r->fields[j].name);
			free(r->fields[j].value);
			memmove(&r->fields[j], &r->fields[j + 1],
			    (r->nfields - j - 1) * sizeof *r->fields);
			r->nfields--;
			j--;
		}
}

static int
http_headers_done_cb(http_parser *p)
{
	struct http_request	*r = p->data;

	r->has_body = (p->flags & F_CHUNKED) != 0 ||
	    (p->content_length > 0 && p->content_length != ULLONG_MAX);
	r->content_length = r->has_body && !(p->flags & F_CHUNKED) ?
	    p->content_length : 0;
	r->keepalive = http_should_keep_alive(p);
	r->st->header_end = 1;
	/* An upgrade is reported when the parser returns; others now. */
	if (!p->upgrade) {
		r->st->head = 1;
		http_parser_pause(p, 1);
	}
	return (0);
}

static int
http_body_cb(http_parser *p, const char *at, size_t len)
{
	struct http_request	*r = p->data;

	if (r->st->body != NULL)
		return (r->st->body(r->st->body_arg, at, len));
	return (0);
}

static int
http_message_done_cb(http_parser *p)
{
	struct http_request	*r = p->data;

	r->st->done = 1;
	http_parser_pause(p, 1);
	return (0);
}

static const http_parser_settings http_settings = {
	.on_url = http_url_cb,
	.on_header_field = http_field_cb,
	.on_header_value = http_value_cb,
	.on_headers_complete = http_headers_done_cb,
	.on_body = http_body_cb,
	.on_message_complete = http_message_done_cb
};

struct http_request *
http_request_new(void)
{
	struct http_request	*r;

	r = xcalloc(1, sizeof *r);
	r->st = xcalloc(1, sizeof *r->st);
	http_parser_init(&r->st->parser, HTTP_REQUEST);
	r->st->parser.data = r;
	buf_init(&r->st->url, HTTP_HEADER_MAX);
	return (r);
}

void
http_request_free(struct http_request *r)
{
	int	i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nfields; i++) {
		free(r->fields[i].name);
		free(r->fields[i].value);
	}
	free(r->fields);
	buf_free(&r->st->url);
	free(r->st);
	free(r->url);
	free(r->path);
	free(r->decoded);
	free(r->query);
	free(r->script_name);
	free(r->path_info);
	free(r->script_file);
	free(r);
}

/* Body bytes from now on go to fn, which returns -1 to fail the request. */
void
http_request_body(struct http_request *r, http_body_fn fn, void *arg)
{
	r->st->body = fn;
	r->st->body_arg = arg;
}

int
http_request_done(const struct http_request *r)
{
	return (r->st->done);
}

const char *
http_field(const struct http_request *r, const char *name)
{
	int	i;

	for (i = 0; i < r->nfields; i++)
		if (strcasecmp(r->fields[i].name, name) == 0)
			return (r->fields[i].value);
	return (NULL);
}

/* The first used bytes of the decoded path name the script file. */
void
http_set_script(struct http_request *r, size_t used, const char *file)
{
	free(r->script_name);
	free(r->path_info);
	free(r->script_file);
	r->script_name = xstrndup(r->decoded, used);
	r->path_info = xstrdup(r->decoded + used);
	r->script_file = xstrdup(file);
}

/* Splits the request target into path and query; -1 if it is bad. */
static int
http_split_url(struct http_request *r)
{
	struct http_parser_url	 u;
	size_t			 len = buf_len(&r->st->url);

	r->url = xstrndup(len > 0 ? (const char *)buf_head(&r->st->url) : "",
	    len);
	buf_free(&r->st->url);
	if (len == 0 || r->url[0] != '/')
		return (-1);
	http_parser_url_init(&u);
	if (http_parser_parse_url(r->url, len, 0, &u) != 0)
		return (-1);
	r->path = xstrndup(r->url + u.field_data[UF_PATH].off,
	    u.field_data[UF_PATH].len);
	if (u.field_set & (1 << UF_QUERY))
		r->query = xstrndup(r->url + u.field_data[UF_QUERY].off,
		    u.field_data[UF_QUERY].len);
	else
		r->query = xstrdup("");
	r->decoded = xmalloc(strlen(r->path) + 1);
	if (path_decode(r->path, strlen(r->path), r->decoded,
	    strlen(r->path) + 1) != 0)
		return (-1);
	return (0);
}

/* The header block is in: check it and fill in the request. */
static int
http_head_in(struct http_request *r)
{
	http_parser	*p = &r->st->parser;

	if (r->st->total > HTTP_HEADER_MAX)
		return (http_fail(r, 431, "request header too large"));
	r->method = http_method_str(p->method);
	r->get = p->method == HTTP_GET;
	r->head = p->method == HTTP_HEAD;
	r->major = p->http_major;
	r->minor = p->http_minor;
	snprintf(r->proto, sizeof r->proto, "HTTP/%u.%u", p->http_major,
	    p->http_minor);
	if (http_split_url(r) == -1)
		return (http_fail(r, 400, "bad request target"));
	http_merge_fields(r);
	return (0);
}

/*
 * Parses up to len bytes and returns how many were used; *ev says what
 * happened.  After HTTP_EV_HEAD, call again for the body and the end; after
 * HTTP_EV_DONE or HTTP_EV_ERROR, this request takes nothing more.
 */
size_t
http_request_feed(struct http_request *r, const char *data, size_t len,
    enum http_event *ev)
{
	struct http_state	*st = r->st;
	enum http_errno		 err;
	size_t			 used;
	int			 counting = !st->header_end;

	*ev = HTTP_EV_MORE;
	if (r->status != 0) {
		*ev = HTTP_EV_ERROR;
		return (0);
	}
	if (st->done) {
		*ev = HTTP_EV_DONE;
		return (0);
	}
	used = http_parser_execute(&st->parser, &http_settings, data, len);
	/* Upgrades end at the header block; others count to it. */
	if (counting)
		st->total += used;
	err = HTTP_PARSER_ERRNO(&st->parser);
	if (err == HPE_PAUSED)
		http_parser_pause(&st->parser, 0);
	else if (err != HPE_OK || r->status != 0) {
		if (r->status == 0)
			(void)http_fail(r, 400, err == HPE_CB_body ?
			    "request body refused" : "malformed HTTP request");
		*ev = HTTP_EV_ERROR;
		return (used);
	}
	if (!st->header_end && st->total > HTTP_HEADER_MAX) {
		(void)http_fail(r, 431, "request header too large");
		*ev = HTTP_EV_ERROR;
		return (used);
	}
	if (st->head || (st->parser.upgrade && st->done)) {
		st->head = 0;
		r->upgrade = st->parser.upgrade;
		if (http_head_in(r) == -1) {
			*ev = HTTP_EV_ERROR;
			return (used);
		}
		*ev = r->upgrade ? HTTP_EV_DONE : HTTP_EV_HEAD;
		return (used);
	}
	if (st->done)
		*ev = HTTP_EV_DONE;
	return (used);
}

const char *
http_status_text(int status)
{
	switch (status) {
	case 101: return ("Switching Protocols");
	case 200: return ("OK");
	case 204: return ("No Content");
	case 301: return ("Moved Permanently");
	case 302: return ("Found");
	case 304: return ("Not Modified");
	case 400: return ("Bad Request");
	case 403: return ("Forbidden");
	case 404: return ("Not Found");
	case 405: return ("Method Not Allowed");
	case 411: return ("Length Required");
	case 413: return ("Content Too Large");
	case 414: return ("URI Too Long");
	case 426: return ("Upgrade Required");
	case 429: return ("Too Many Requests");
	case 431: return ("Request Header Fields Too Large");
	case 500: return ("Internal Server Error");
	case 502: return ("Bad Gateway");
	case 503: return ("Service Unavailable");
	case 504: return ("Gateway Timeout");
	default: return ("Error");
	}
}

/* Queues s; -1 if it does not fit. */
int
http_put(struct buf *b, const char *s)
{
	return (buf_append(b, s, strlen(s)));
}

/* The status line, with reason (or the standard one when NULL or ""). */
int
http_put_status(struct buf *b, int status, const char *reason)
{
	char	line[192];

	snprintf(line, sizeof line, "HTTP/1.1 %d %.128s\r\n", status,
	    reason != NULL && *reason != '\0' ? reason :
	    http_status_text(status));
	return (http_put(b, line));
}

int
http_put_field(struct buf *b, const char *name, const char *value)
{
	if (http_put(b, name) == -1 || http_put(b, ": ") == -1 ||
	    http_put(b, value) == -1 || http_put(b, "\r\n") == -1)
		return (-1);
	return (0);
}

/* The lines every answer (0), error answers (1) and 101s (2) carry. */
void
http_set_headers(int which, char **v, size_t n)
{
	http_extra[which].v = v;
	http_extra[which].n = n;
}

/* Queues the --header lines of one kind. */
int
http_put_extra(struct buf *b, int which)
{
	size_t	i;

	for (i = 0; i < http_extra[which].n; i++)
		if (http_put(b, http_extra[which].v[i]) == -1 ||
		    http_put(b, "\r\n") == -1)
			return (-1);
	return (0);
}

/*
 * Starts a plain answer: status line, the content fields when given
 * (length -1: none), the connection's fate, and the --header and
 * --header-http lines; the caller ends the block with "\r\n".  *close
 * comes in as the connection's fate and goes out as the answer's:
 * without a length, the end of the body is the end of the stream.
 */
int
http_put_head(struct buf *b, int status, const char *reason,
    const char *type, long long length, int *close)
{
	char	num[32];

	if (length < 0 && status != 304)
		*close = 1;
	if (http_put_status(b, status, reason) == -1 ||
	    (type != NULL && http_put_field(b, "Content-Type", type) == -1))
		return (-1);
	if (length >= 0) {
		snprintf(num, sizeof num, "%lld", length);
		if (http_put_field(b, "Content-Length", num) == -1)
			return (-1);
	}
	if (http_put_field(b, "Connection", *close ? "close" :
	    "keep-alive") == -1 || http_put_extra(b, HTTP_EXTRA_ALL) == -1 ||
	    http_put_extra(b, HTTP_EXTRA_HTTP) == -1)
		return (-1);
	return (0);
}

/*
 * A whole error answer, after which the connection closes: a plain-text
 * body that is the fixed reason, never request data; extra is one more
 * field line ("Allow: GET\r\n") or NULL.
 */
int
http_put_error(struct buf *b, int status, const char *reason,
    const char *extra)
{
	int	close = 1;

	if (http_put_head(b, status, NULL, "text/plain; charset=utf-8",
	    (long long)strlen(reason) + 1, &close) == -1 ||
	    (extra != NULL && http_put(b, extra) == -1) ||
	    http_put(b, "\r\n") == -1 || http_put(b, reason) == -1 ||
	    http_put(b, "\n") == -1)
		return (-1);
	return (0);
}

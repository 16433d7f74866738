/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The HTTP side of a connection: http-parser glue that captures the
 * request line and headers under hard limits, the checks of the RFC 6455
 * 4.2.1 upgrade request, and the answers: 101 once the program is
 * running, or http_error(), the only way a request fails.  Its body is a
 * fixed reason and never echoes request data.  The only file that
 * includes <http_parser.h>.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <http_parser.h>

#include "wspipe.h"
#include "handshake.h"
#include "path.h"

static uint8_t	http_leftover[READ_MAX + HTTP_HEADER_MAX];

struct http_hdr {
	char		*name;
	char		*value;
};

struct http {
	http_parser	 parser;
	struct buf	 url;
	struct http_hdr	*hdrs;
	int		 nhdrs;
	struct conn	*conn;
	int		 in_value;	/* the last callback was a value */
	size_t		 total;		/* header bytes so far */
	int		 headers_done;	/* event: route the request */
	int		 header_end;	/* the header block is complete */
	int		 done;		/* the whole request is read */
	int		 answered;	/* the whole answer is queued */
	int		 has_body;
	int		 to_cgi;	/* the body goes to a CGI script */
	int		 keepalive;
	int		 status;	/* set by a callback that failed */
	int		 answer;	/* status answered, for the log */
	char		*path;
	char		*decoded;	/* percent-decoded path */
	char		*query;
	char		*script_name;	/* --dir and CGI: the script's URL */
	char		*path_info;	/* what follows it */
	char		*script_file;	/* its resolved file */
	char		 proto[32];
};

static int
http_fail_cb(struct http *h, int status)
{
	h->status = status;
	return (-1);
}

static int
http_url_cb(http_parser *p, const char *at, size_t len)
{
	struct http	*h = p->data;

	if (buf_append(&h->url, at, len) == -1)
		return (http_fail_cb(h, 414));
	return (0);
}

/* Appends to the current header's name or value, under the caps. */
static int
http_append(char **dst, const char *at, size_t len)
{
	size_t	 old = *dst == NULL ? 0 : strlen(*dst);
	char	*p;

	p = xreallocarray(*dst, old + len + 1, 1);
	memcpy(p + old, at, len);
	p[old + len] = '\0';
	*dst = p;
	return (0);
}

static int
http_field_cb(http_parser *p, const char *at, size_t len)
{
	struct http	*h = p->data;

	/* RFC 9112 5.1: whitespace before the colon is answered 400. */
	if (memchr(at, ' ', len) != NULL || memchr(at, '\t', len) != NULL)
		return (http_fail_cb(h, 400));

	if (h->nhdrs == 0 || h->in_value) {
		if (h->nhdrs == HTTP_HEADERS_MAX)
			return (http_fail_cb(h, 431));
		h->hdrs = xreallocarray(h->hdrs, h->nhdrs + 1,
		    sizeof *h->hdrs);
		h->hdrs[h->nhdrs].name = NULL;
		h->hdrs[h->nhdrs].value = xstrdup("");
		h->nhdrs++;
		h->in_value = 0;
	}
	return (http_append(&h->hdrs[h->nhdrs - 1].name, at, len));
}

static int
http_value_cb(http_parser *p, const char *at, size_t len)
{
	struct http	*h = p->data;

	h->in_value = 1;
	return (http_append(&h->hdrs[h->nhdrs - 1].value, at, len));
}

/* Joins repeated headers into one, as RFC 7230 3.2.2 allows. */
static void
http_merge_headers(struct http *h)
{
	char	*joined;
	int	 i, j;

	for (i = 0; i < h->nhdrs; i++)
		for (j = i + 1; j < h->nhdrs; j++) {
			if (strcasecmp(h->hdrs[i].name, h->hdrs[j].name) != 0)
				continue;
			xasprintf(&joined, "%s, %s", h->hdrs[i].value,
			    h->hdrs[j].value);
			free(h->hdrs[i].value);
			h->hdrs[i].value = joined;
			free(h->hdrs[j].name);
			free(h->hdrs[j].value);
			memmove(&h->hdrs[j], &h->hdrs[j + 1],
			    (h->nhdrs - j - 1) * sizeof *h->hdrs);
			h->nhdrs--;
			j--;
		}
}

static int
http_headers_done_cb(http_parser *p)
{
	struct http	*h = p->data;

	h->has_body = (p->flags & F_CHUNKED) != 0 ||
	    (p->content_length > 0 && p->content_length != ULLONG_MAX);
	h->keepalive = http_should_keep_alive(p);
	h->header_end = 1;
	/* An upgrade is routed when the parser returns; others now. */
	if (!p->upgrade) {
		h->headers_done = 1;
		http_parser_pause(p, 1);
	}
	return (0);
}

static int
http_body_cb(http_parser *p, const char *at, size_t len)
{
	struct http	*h = p->data;

	if (h->to_cgi)
		return (cgi_body(h->conn, at, len));
	return (0);
}

static int
http_message_done_cb(http_parser *p)
{
	struct http	*h = p->data;

	h->done = 1;
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

static struct http *
http_new(struct conn *c)
{
	struct http	*h;

	h = xcalloc(1, sizeof *h);
	h->conn = c;
	http_parser_init(&h->parser, HTTP_REQUEST);
	h->parser.data = h;
	buf_init(&h->url, HTTP_HEADER_MAX);
	return (h);
}

void
http_free(struct http *h)
{
	int	i;

	if (h == NULL)
		return;
	for (i = 0; i < h->nhdrs; i++) {
		free(h->hdrs[i].name);
		free(h->hdrs[i].value);
	}
	free(h->hdrs);
	buf_free(&h->url);
	free(h->path);
	free(h->decoded);
	free(h->query);
	free(h->script_name);
	free(h->path_info);
	free(h->script_file);
	free(h);
}

const char *
http_header(struct http *h, const char *name)
{
	int	i;

	for (i = 0; i < h->nhdrs; i++)
		if (strcasecmp(h->hdrs[i].name, name) == 0)
			return (h->hdrs[i].value);
	return (NULL);
}

int
http_header_count(struct http *h)
{
	return (h->nhdrs);
}

void
http_header_at(struct http *h, int i, const char **name, const char **value)
{
	*name = h->hdrs[i].name;
	*value = h->hdrs[i].value;
}

const char *
http_url(struct http *h)
{
	return ((const char *)buf_head(&h->url));
}

const char *
http_path(struct http *h)
{
	return (h->path);
}

const char *
http_decoded(struct http *h)
{
	return (h->decoded);
}

const char *
http_script_name(struct http *h)
{
	return (h->script_name);
}

const char *
http_path_info(struct http *h)
{
	return (h->path_info);
}

const char *
http_script_file(struct http *h)
{
	return (h->script_file);
}

/* The first used bytes of the decoded path name the script file. */
void
http_set_script(struct http *h, size_t used, const char *file)
{
	free(h->script_name);
	free(h->path_info);
	free(h->script_file);
	h->script_name = xstrndup(h->decoded, used);
	h->path_info = xstrdup(h->decoded + used);
	h->script_file = xstrdup(file);
}

/* From now on the request body goes to the script's stdin. */
void
http_cgi_started(struct http *h)
{
	h->to_cgi = 1;
}

int
http_has_body(struct http *h)
{
	return (h->has_body);
}

unsigned long long
http_content_length(struct http *h)
{
	return (h->has_body ? h->parser.content_length : 0);
}

const char *
http_query(struct http *h)
{
	return (h->query);
}

const char *
http_method(struct http *h)
{
	return (http_method_str(h->parser.method));
}

const char *
http_protocol(struct http *h)
{
	return (h->proto);
}

/* Splits the request target into path and query; -1 if it is bad. */
static int
http_split_url(struct http *h)
{
	struct http_parser_url	 u;
	const char		*url;
	size_t			 len;

	/* NUL-terminate the URL in place; the cap leaves no room issue. */
	if (buf_append(&h->url, "", 1) == -1)
		return (-1);
	url = http_url(h);
	len = buf_len(&h->url) - 1;
	if (len == 0 || url[0] != '/')
		return (-1);
	http_parser_url_init(&u);
	if (http_parser_parse_url(url, len, 0, &u) != 0)
		return (-1);
	h->path = xstrndup(url + u.field_data[UF_PATH].off,
	    u.field_data[UF_PATH].len);
	if (u.field_set & (1 << UF_QUERY))
		h->query = xstrndup(url + u.field_data[UF_QUERY].off,
		    u.field_data[UF_QUERY].len);
	else
		h->query = xstrdup("");
	snprintf(h->proto, sizeof h->proto, "HTTP/%u.%u", h->parser.http_major,
	    h->parser.http_minor);
	h->decoded = xmalloc(strlen(h->path) + 1);
	if (path_decode(h->path, strlen(h->path), h->decoded,
	    strlen(h->path) + 1) != 0)
		return (-1);
	return (0);
}

static const char *
http_status_text(int status)
{
	switch (status) {
	case 101: return ("Switching Protocols");
	case 200: return ("OK");
	case 301: return ("Moved Permanently");
	case 302: return ("Found");
	case 304: return ("Not Modified");
	case 411: return ("Length Required");
	case 413: return ("Content Too Large");
	case 502: return ("Bad Gateway");
	case 504: return ("Gateway Timeout");
	case 400: return ("Bad Request");
	case 403: return ("Forbidden");
	case 404: return ("Not Found");
	case 405: return ("Method Not Allowed");
	case 414: return ("URI Too Long");
	case 426: return ("Upgrade Required");
	case 429: return ("Too Many Requests");
	case 431: return ("Request Header Fields Too Large");
	case 500: return ("Internal Server Error");
	case 503: return ("Service Unavailable");
	default: return ("Error");
	}
}

/*
 * Queues answer bytes.  A new request is parsed only while the output is
 * under HIGH_WATER and one answer's head is far smaller than what the cap
 * leaves above it, so this cannot fail; if it ever did, the connection
 * ends rather than the gateway.
 */
static void
http_put(struct conn *c, const char *s)
{
	if (c->flags & CONN_SOCK_CLOSED)
		return;
	if (buf_append(&c->out, s, strlen(s)) == -1)
		conn_close(c, "answer over the output cap");
}

static void
http_put_headers(struct conn *c, const struct strlist *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++) {
		http_put(c, l->v[i]);
		http_put(c, "\r\n");
	}
}

void
http_put_header(struct conn *c, const char *name, const char *value)
{
	http_put(c, name);
	http_put(c, ": ");
	http_put(c, value);
	http_put(c, "\r\n");
}

/*
 * Starts a plain HTTP answer: status line, the content headers when
 * given (length -1: none), the connection's fate, and the --header and
 * --header-http lines.  http_end_head() ends the header block.
 */
void
http_head(struct conn *c, int status, const char *type, long long length)
{
	http_head_reason(c, status, NULL, type, length);
}

/* http_head with a reason phrase of the caller's (a CGI script's). */
void
http_head_reason(struct conn *c, int status, const char *reason,
    const char *type, long long length)
{
	struct http	*h = c->http;
	char		 line[192];

	snprintf(line, sizeof line, "HTTP/1.1 %d %.128s\r\n", status,
	    reason != NULL && *reason != '\0' ? reason :
	    http_status_text(status));
	http_put(c, line);
	if (type != NULL)
		http_put_header(c, "Content-Type", type);
	if (length >= 0) {
		snprintf(line, sizeof line, "%lld", length);
		http_put_header(c, "Content-Length", line);
	}
	if (h != NULL)
		h->answer = status;
	/* Without a length the end of the body is the end of the stream. */
	if (h == NULL || !h->keepalive || (length < 0 && status != 304))
		c->flags |= CONN_CLOSE_AFTER;
	http_put_header(c, "Connection", c->flags & CONN_CLOSE_AFTER ?
	    "close" : "keep-alive");
	http_put_headers(c, &conf.headers);
	http_put_headers(c, &conf.headers_http);
}

void
http_end_head(struct conn *c)
{
	http_put(c, "\r\n");
}

void
http_redirect(struct conn *c, int status, const char *location)
{
	http_head(c, status, "text/plain; charset=utf-8", 0);
	http_put_header(c, "Location", location);
	http_end_head(c);
	http_answered(c, 0);
}

/*
 * Fails the request with status and a plain-text reason, then closes the
 * connection once the answer is written.
 */
void
http_error(struct conn *c, int status, const char *reason)
{
	conn_log(c, LOG_LEVEL_ACCESS, "%s %s %d %zu %s",
	    c->http != NULL && c->http->header_end ? http_method(c->http) : "-",
	    c->http != NULL && c->http->path != NULL ? c->http->path : "-",
	    status, strlen(reason) + 1, reason);
	c->flags |= CONN_CLOSE_AFTER;
	http_head(c, status, "text/plain; charset=utf-8",
	    (long long)strlen(reason) + 1);
	if (status == 426)
		http_put(c, "Sec-WebSocket-Version: 13\r\n");
	/* A WebSocket needs GET; our files take HEAD too. */
	if (status == 405)
		http_put(c, c->http != NULL && handshake_has_token(
		    http_header(c->http, "Upgrade"), "websocket") ?
		    "Allow: GET\r\n" : "Allow: GET, HEAD\r\n");
	http_end_head(c);
	http_put(c, reason);
	http_put(c, "\n");
	c->close_code = status;
	c->why = reason;
	http_free(c->http);
	c->http = NULL;
	if (c->file != -1) {
		close(c->file);
		c->file = -1;
	}
	c->flags |= CONN_FINISH;
	c->state = CONN_CLOSING;
	conn_update(c);
}

/*
 * The whole answer to the current request is queued (a file's last
 * chunk, or the answer itself).  Once the request is read too, the next
 * one may start, unless this connection closes after its answer.
 */
void
http_answered(struct conn *c, unsigned long long bytes)
{
	struct http	*h = c->http;

	if (h == NULL)
		return;
	h->answered = 1;
	conn_log(c, LOG_LEVEL_ACCESS, "%s %s %d %llu", http_method(h), h->path,
	    h->answer, bytes);
}

/* Checks an upgrade request (RFC 6455 4.2.1); returns 0 or an HTTP status. */
static int
http_check_upgrade(struct http *h, const char **why)
{
	const char	*host = http_header(h, "Host");
	const char	*version = http_header(h, "Sec-WebSocket-Version");

	if (h->parser.method != HTTP_GET) {
		*why = "only GET can open a WebSocket";
		return (405);
	}
	if (h->parser.http_major < 1 || (h->parser.http_major == 1 &&
	    h->parser.http_minor < 1)) {
		*why = "HTTP/1.1 or later is required";
		return (400);
	}
	if (!handshake_has_token(http_header(h, "Upgrade"), "websocket")) {
		*why = "this is a WebSocket endpoint: Upgrade: websocket "
		    "is missing";
		return (400);
	}
	if (!handshake_has_token(http_header(h, "Connection"), "upgrade")) {
		*why = "Connection: Upgrade is missing";
		return (400);
	}
	if (host == NULL || *host == '\0' || strpbrk(host, " ,\t") != NULL) {
		*why = "one Host header is required";
		return (400);
	}
	if (h->has_body) {
		*why = "a handshake has no body";
		return (400);
	}
	if (version == NULL || strcmp(version, "13") != 0) {
		*why = "only WebSocket version 13 is supported";
		return (426);
	}
	if (!handshake_key_valid(http_header(h, "Sec-WebSocket-Key"))) {
		*why = "Sec-WebSocket-Key is missing or invalid";
		return (400);
	}
	if (!handshake_origin_allowed(http_header(h, "Origin"), host,
	    conf.origin, conf.sameorigin)) {
		*why = "origin not allowed";
		return (403);
	}
	return (0);
}

/* Writes the 101 answer. */
static void
http_switch(struct conn *c, const char *protocol)
{
	char	accept[HANDSHAKE_ACCEPT_LEN + 1];

	handshake_accept(http_header(c->http, "Sec-WebSocket-Key"), accept);
	http_put(c, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: ");
	http_put(c, accept);
	http_put(c, "\r\n");
	if (*protocol != '\0') {
		http_put(c, "Sec-WebSocket-Protocol: ");
		http_put(c, protocol);
		http_put(c, "\r\n");
	}
	http_put_headers(c, &conf.headers);
	http_put_headers(c, &conf.headers_ws);
	http_put(c, "\r\n");
}

/* Splits "/a/b" under --dir into the script and what follows it. */
static int
http_dir_script(struct http *h, char *script, size_t scriptsz)
{
	size_t	used;
	int	r;

	r = path_script(conf.dir, h->decoded, script, scriptsz, &used);
	if (r != 0)
		return (r);
	if (access(script, X_OK) == -1)
		return (404);
	http_set_script(h, used, script);
	return (0);
}

/*
 * A complete upgrade request: check it, spawn the program, answer 101.
 * The program runs before the answer so that a failed spawn is an HTTP
 * error, not an upgraded socket that dies at once.
 */
static void
http_upgrade(struct conn *c)
{
	struct http	*h = c->http;
	const char	*why = NULL;
	char		 protocol[128], script[PATH_MAX], **env;
	char		*argv[2];
	int		 status, r;

	c->path = xstrdup(h->path);
	if ((status = http_check_upgrade(h, &why)) != 0) {
		http_error(c, status, why);
		return;
	}
	protocol[0] = '\0';
	r = handshake_subprotocol(http_header(h, "Sec-WebSocket-Protocol"),
	    conf.subprotocol, protocol, sizeof protocol);
	if (r == -1) {
		http_error(c, 400, "no offered subprotocol is accepted");
		return;
	}
	if (listen_match(h->decoded)) {
		/* Listen mode: no program, the gateway itself answers. */
		http_switch(c, protocol);
		conn_log(c, LOG_LEVEL_INFO, "listen %s", c->path);
		http_free(c->http);
		c->http = NULL;
		listen_open(c);
		conn_open(c);
		return;
	}
	if (conf.dir != NULL && (r = http_dir_script(h, script,
	    sizeof script)) != 0) {
		/* Whatever the reason, there is no such program. */
		http_error(c, 404, "no such program");
		return;
	}
	if (conf.maxforks > 0 && nchildren >= conf.maxforks) {
		http_error(c, 429, "too many connections, try again later");
		return;
	}
	env = env_build(c, h, protocol);
	argv[0] = script;
	argv[1] = NULL;
	r = child_spawn(c, conf.dir != NULL ? script : conf.command,
	    conf.dir != NULL ? argv : conf.argv, env);
	env_free(env);
	if (r == -1) {
		if (errno == EAGAIN || errno == ENOMEM || errno == EMFILE ||
		    errno == ENFILE)
			http_error(c, 503, "out of resources, try again later");
		else
			http_error(c, 500, "the program could not be started");
		return;
	}
	http_switch(c, protocol);
	conn_log(c, LOG_LEVEL_INFO, "upgrade %s pid %ld%s%s", c->path,
	    (long)c->child.pid, *protocol != '\0' ? " protocol " : "",
	    protocol);
	http_free(c->http);
	c->http = NULL;
	conn_open(c);
}

/* Routes a plain HTTP request once its headers are in. */
static void
http_route(struct conn *c)
{
	struct http	*h = c->http;

	/* Upgrade: websocket without Connection: upgrade is a bad upgrade. */
	if (handshake_has_token(http_header(h, "Upgrade"), "websocket")) {
		http_upgrade(c);
		return;
	}
	if (conf.listen && strcmp(h->decoded, "/wspipe/listen.js") == 0) {
		static_listen_js(c, h);
		return;
	}
	if (conf.cgidir != NULL && cgi_match(c, h))
		return;
	if (conf.staticdir != NULL) {
		static_serve(c, h);
		return;
	}
	if (conf.devconsole) {
		static_console(c, h);
		return;
	}
	if (conf.cgidir != NULL) {
		http_error(c, 404, "not found");
		return;
	}
	http_error(c, 400, "this is a WebSocket endpoint: Upgrade: websocket "
	    "is missing");
}

/* Checks the request line and headers once they are all in. */
static int
http_prepare(struct conn *c)
{
	struct http	*h = c->http;

	if (h->total > HTTP_HEADER_MAX) {
		http_error(c, 431, "request header too large");
		return (-1);
	}
	if (http_split_url(h) == -1) {
		http_error(c, 400, "bad request target");
		return (-1);
	}
	http_merge_headers(h);
	return (0);
}

/* Parses len buffered bytes, drops what was used; returns the parser's errno. */
static enum http_errno
http_execute(struct conn *c, struct http *h, size_t len)
{
	enum http_errno	err;
	size_t		used;
	int		counting = !h->header_end;

	used = http_parser_execute(&h->parser, &http_settings,
	    (const char *)buf_head(&c->in), len);
	/* Upgrades end at the header block; others count to it. */
	if (counting)
		h->total += used;
	buf_drain(&c->in, used);
	if ((err = HTTP_PARSER_ERRNO(&h->parser)) == HPE_PAUSED)
		http_parser_pause(&h->parser, 0);
	return (err);
}

/*
 * Parses what is buffered: routes each request when its headers are in,
 * feeds a CGI body, and starts the next request on a kept-alive
 * connection once the answer is queued.  Returns -1 if c was closed.
 */
int
http_process(struct conn *c)
{
	struct http	*h;
	enum http_errno	 err;
	size_t		 len;

	while (c->state == CONN_HTTP) {
		if (c->flags & CONN_SOCK_CLOSED)
			return (-1);
		if ((h = c->http) != NULL && h->done) {
			/* Wait for the answer before the next request. */
			if (!h->answered || c->file != -1)
				return (0);
			if (c->flags & CONN_CLOSE_AFTER) {
				c->flags |= CONN_FINISH;
				c->state = CONN_CLOSING;
				return (0);
			}
			http_free(h);
			c->http = NULL;
			ev_timer_again(EV_DEFAULT, &c->timer);
			continue;
		}
		if ((len = buf_len(&c->in)) == 0)
			return (0);
		/*
		 * Backpressure: a pipelined request waits, unparsed, until
		 * the client has taken the answers before it.
		 */
		if (h == NULL && buf_len(&c->out) >= HIGH_WATER)
			return (0);
		if (h == NULL)
			h = c->http = http_new(c);
		if ((err = http_execute(c, h, len)) != HPE_PAUSED) {
			if (h->status != 0) {
				http_error(c, h->status, h->status == 400 ?
				    "malformed HTTP request" :
				    "request header too large");
				return (0);
			}
			if (err != HPE_OK) {
				http_error(c, 400, "malformed HTTP request");
				return (0);
			}
			if (!h->done && h->total > HTTP_HEADER_MAX) {
				http_error(c, 431, "request header too large");
				return (0);
			}
		}
		if (h->parser.upgrade && h->done) {
			if (http_prepare(c) == -1)
				return (0);
			http_upgrade(c);
			if (c->state != CONN_OPEN)
				return (0);
			/* What followed the request is WebSocket data. */
			len = buf_len(&c->in);
			if (len > 0) {
				memcpy(http_leftover, buf_head(&c->in), len);
				buf_drain(&c->in, len);
				return (relay_client_input(c, http_leftover, len));
			}
			return (0);
		}
		if (h->headers_done) {
			h->headers_done = 0;
			if (http_prepare(c) == -1)
				return (0);
			http_route(c);
			if (c->state != CONN_HTTP && c->state != CONN_CGI)
				return (0);
		}
		if (h->done && h->to_cgi)
			cgi_body_done(c);
	}
	/*
	 * A CGI request's body keeps arriving while the script runs, no
	 * faster than the script takes it.
	 */
	while (c->state == CONN_CGI && (h = c->http) != NULL && !h->done &&
	    (len = buf_len(&c->in)) > 0) {
		if (len > cgi_room(c))
			len = cgi_room(c);
		if (len == 0)
			return (0);
		err = http_execute(c, h, len);
		if (err != HPE_OK && err != HPE_PAUSED) {
			cgi_abort(c, "malformed request body");
			return (0);
		}
		if (h->done)
			cgi_body_done(c);
	}
	return (0);
}

/* Reads request bytes; returns -1 if c was closed, else 0. */
int
http_read(struct conn *c)
{
	unsigned char	*p;
	ssize_t		 n;

	if (buf_room(&c->in) == 0)
		return (0);
	if ((p = buf_reserve(&c->in, buf_room(&c->in) < READ_MAX ?
	    buf_room(&c->in) : READ_MAX)) == NULL)
		fatal("request buffer");
	n = conn_recv(c, p, buf_room(&c->in) < READ_MAX ? buf_room(&c->in) :
	    READ_MAX);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return (0);
		conn_close(c, "read error");
		return (-1);
	}
	if (n == 0) {
		conn_close(c, c->http == NULL ? "client closed" :
		    "client closed during a request");
		return (-1);
	}
	buf_commit(&c->in, n);
	return (http_process(c));
}

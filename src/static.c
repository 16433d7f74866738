/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Plain HTTP answers that come from us rather than from a program:
 * files under --staticdir (GET and HEAD, conditional requests, no
 * directory listings), the --devconsole page and listen.js.  Each is
 * written into the client's output buffer and knows no connection; a
 * file is sent in chunks as the client takes them, never read whole.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "wspipe.h"
#include "metrics.h"
#include "path.h"
#include "listen_js.h"

static const struct {
	const char	*ext;
	const char	*type;
} static_types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "map", "application/json" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "xml", "application/xml" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "ico", "image/x-icon" },
	{ "webp", "image/webp" },
	{ "wasm", "application/wasm" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "pdf", "application/pdf" },
	{ "mp3", "audio/mpeg" },
	{ "mp4", "video/mp4" },
	{ "webm", "video/webm" },
	{ "ogg", "audio/ogg" },
	{ "wav", "audio/wav" }
};

static const char *
static_type(const char *file)
{
	const char	*dot = strrchr(file, '.');
	size_t		 i;

	if (dot != NULL && strchr(dot, '/') == NULL)
		for (i = 0; i < sizeof static_types / sizeof static_types[0];
		    i++)
			if (strcasecmp(dot + 1, static_types[i].ext) == 0)
				return (static_types[i].type);
	return ("application/octet-stream");
}

/* RFC 7231 7.1.1.1: IMF-fixdate. */
static void
static_date(time_t t, char *out, size_t outsz)
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(out, outsz, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* RFC 7232 3.2 and 3.3: returns 1 if the client's copy is current. */
static int
static_not_modified(const struct http_request *r, const char *etag,
    time_t mtime)
{
	const char	*inm = http_field(r, "If-None-Match");
	const char	*ims = http_field(r, "If-Modified-Since");
	struct tm	 tm;

	if (inm != NULL)
		return (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL);
	if (ims == NULL)
		return (0);
	memset(&tm, 0, sizeof tm);
	if (strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm) == NULL)
		return (0);
	return (timegm(&tm) >= mtime);
}

/*
 * Queues what the client can take of the answer's file, up to
 * HIGH_WATER.  Returns -1 if the file shrank or failed (the length sent
 * is then a lie: the connection must end), else 0; a->fd is -1 once the
 * whole body is queued.
 */
int
static_pump(struct buf *out, struct http_answer *a)
{
	unsigned char	*p;
	ssize_t		 n;
	size_t		 want;

	while (a->fd != -1 && buf_len(out) < HIGH_WATER) {
		want = a->left < READ_MAX ? a->left : READ_MAX;
		if ((p = buf_reserve(out, want)) == NULL)
			break;
		n = read(a->fd, p, want);
		if (n <= 0) {
			close(a->fd);
			a->fd = -1;
			return (-1);
		}
		buf_commit(out, n);
		a->left -= n;
		if (a->left == 0) {
			close(a->fd);
			a->fd = -1;
		}
	}
	return (0);
}

/* Ends an answer's head; -1 if it did not fit. */
static int
static_end(struct buf *out)
{
	return (http_put(out, "\r\n"));
}

/*
 * Answers a GET or HEAD for a file under --staticdir into out.  Returns
 * 0 once the head is queued (the body is queued or left in a->fd), or
 * an error status for the caller to answer, with *why.
 */
int
static_serve(struct buf *out, const struct http_request *r,
    struct http_answer *a, const char **why)
{
	struct stat	 sb;
	const char	*path = r->path;
	char		 real[PATH_MAX], index[PATH_MAX], date[64], etag[64];
	char		*loc;
	int		 status, fd, bad;

	if (!r->head && !r->get) {
		*why = "only GET and HEAD are served here";
		return (405);
	}
	if ((status = path_resolve(conf.staticdir, r->decoded, real,
	    sizeof real)) != 0) {
		*why = status == 403 ? "forbidden" : "not found";
		return (status);
	}
	*why = "not found";
	if (stat(real, &sb) == -1)
		return (404);
	if (S_ISDIR(sb.st_mode)) {
		if (path[strlen(path) - 1] != '/') {
			/*
			 * "//img/" or "/\\img/" in a Location is another host
			 * to a browser: the redirect keeps one leading slash.
			 */
			path += strspn(path, "/\\");
			xasprintf(&loc, "/%s/%s%s", path, *r->query != '\0' ?
			    "?" : "", r->query);
			a->status = 301;
			bad = http_put_head(out, 301, NULL,
			    "text/plain; charset=utf-8", 0, &a->close) == -1 ||
			    http_put_field(out, "Location", loc) == -1 ||
			    static_end(out) == -1;
			free(loc);
			*why = "answer over the output cap";
			return (bad ? 500 : 0);
		}
		if (snprintf(index, sizeof index, "%s/index.html", real) >=
		    (int)sizeof index || stat(index, &sb) == -1 ||
		    !S_ISREG(sb.st_mode))
			return (404);
		strlcpy(real, index, sizeof real);
	}
	if (!S_ISREG(sb.st_mode))
		return (404);
	snprintf(etag, sizeof etag, "\"%llx-%llx\"",
	    (unsigned long long)sb.st_size,
	    (unsigned long long)sb.st_mtim.tv_sec * 1000000000ULL +
	    (unsigned long long)sb.st_mtim.tv_nsec);
	static_date(sb.st_mtime, date, sizeof date);
	if (static_not_modified(r, etag, sb.st_mtime)) {
		a->status = 304;
		*why = "answer over the output cap";
		if (http_put_head(out, 304, NULL, NULL, -1, &a->close) == -1 ||
		    http_put_field(out, "ETag", etag) == -1 ||
		    http_put_field(out, "Last-Modified", date) == -1 ||
		    static_end(out) == -1)
			return (500);
		return (0);
	}
	if ((fd = open(real, O_RDONLY | O_CLOEXEC)) == -1) {
		*why = errno == EACCES ? "forbidden" : "not found";
		return (errno == EACCES ? 403 : 404);
	}
	a->status = 200;
	if (http_put_head(out, 200, NULL, static_type(real), sb.st_size,
	    &a->close) == -1 || http_put_field(out, "ETag", etag) == -1 ||
	    http_put_field(out, "Last-Modified", date) == -1 ||
	    static_end(out) == -1) {
		close(fd);
		*why = "answer over the output cap";
		return (500);
	}
	if (r->head || sb.st_size == 0) {
		close(fd);
		return (0);
	}
	a->fd = fd;
	a->left = a->bytes = sb.st_size;
	return (0);
}

/*
 * The --devconsole page.  It shows messages with textContent only, so a
 * message can never become markup.
 */
static const char static_console_page[] =
"<!DOCTYPE html>\n"
"<html><head><meta charset=\"utf-8\"><title>wspipe console</title>\n"
"<style>\n"
"body{font:14px monospace;margin:1em;background:#fafafa}\n"
"#wspipe-log{border:1px solid #bbb;background:#fff;height:70vh;"
"overflow:auto;padding:.5em;white-space:pre-wrap}\n"
".in{color:#05a}.out{color:#333}.event{color:#888;font-style:italic}\n"
"#wspipe-input{width:70%}\n"
"</style></head><body>\n"
"<h3>wspipe console: <span id=\"wspipe-url\"></span></h3>\n"
"<div id=\"wspipe-log\"></div>\n"
"<p><input id=\"wspipe-input\" autofocus placeholder=\"message\">\n"
"<button id=\"wspipe-send\">send</button>\n"
"<button id=\"wspipe-reconnect\">reconnect</button></p>\n"
"<script>\n"
"(function () {\n"
"  var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') +\n"
"      location.host + location.pathname + location.search;\n"
"  var log = document.getElementById('wspipe-log');\n"
"  var input = document.getElementById('wspipe-input');\n"
"  var ws;\n"
"  document.getElementById('wspipe-url').textContent = url;\n"
"  function show(cls, text) {\n"
"    var div = document.createElement('div');\n"
"    div.className = cls;\n"
"    div.textContent = text;\n"
"    log.appendChild(div);\n"
"    log.scrollTop = log.scrollHeight;\n"
"  }\n"
"  function connect() {\n"
"    ws = new WebSocket(url);\n"
"    ws.onopen = function () { show('event', 'open'); };\n"
"    ws.onmessage = function (e) {\n"
"      show('in', typeof e.data === 'string' ? e.data :\n"
"          '[binary ' + (e.data.size || 0) + ' bytes]');\n"
"    };\n"
"    ws.onclose = function (e) {\n"
"      show('event', 'closed ' + e.code + (e.reason ? ' ' + e.reason :\n"
"          ''));\n"
"    };\n"
"  }\n"
"  function send() {\n"
"    if (ws.readyState !== WebSocket.OPEN) return;\n"
"    ws.send(input.value);\n"
"    show('out', input.value);\n"
"    input.value = '';\n"
"  }\n"
"  document.getElementById('wspipe-send').onclick = send;\n"
"  document.getElementById('wspipe-reconnect').onclick = function () {\n"
"    if (ws) ws.close();\n"
"    connect();\n"
"  };\n"
"  input.addEventListener('keydown', function (e) {\n"
"    if (e.key === 'Enter') send();\n"
"  });\n"
"  connect();\n"
"})();\n"
"</script></body></html>\n";

/* Answers a plain GET or HEAD with the console page. */
int
static_console(struct buf *out, const struct http_request *r,
    struct http_answer *a, const char **why)
{
	if (!r->head && !r->get) {
		*why = "only GET and HEAD are served here";
		return (405);
	}
	a->status = 200;
	a->bytes = r->head ? 0 : sizeof static_console_page - 1;
	*why = "answer over the output cap";
	if (http_put_head(out, 200, NULL, "text/html; charset=utf-8",
	    sizeof static_console_page - 1, &a->close) == -1 ||
	    http_put_field(out, "Cache-Control", "no-store") == -1 ||
	    static_end(out) == -1 || (!r->head && buf_append(out,
	    static_console_page, sizeof static_console_page - 1) == -1))
		return (500);
	return (0);
}

/* GET /wspipe/listen.js, with this gateway's listen path baked in. */
/*
 * --redirport: the same path and query on the main port, https:// with
 * --ssl.  The host is the Host header's without its port; one that is
 * not a plain name or address is refused, as it goes into the Location.
 */
int
static_redirect(struct buf *out, const struct http_request *r,
    struct http_answer *a, const char **why)
{
	const char	*host = http_field(r, "Host"), *path = r->path;
	char		 h[256], port[16], *loc;
	size_t		 n;
	int		 bad;

	*why = "a Host header naming a host is needed";
	if (host == NULL)
		return (400);
	n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
	if (n == 0 || n >= sizeof h || (host[0] == '[' && host[n - 1] != ']'))
		return (400);
	memcpy(h, host, n);
	h[n] = '\0';
	if (strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-[]:") != n)
		return (400);
	port[0] = '\0';
	if (conf.port != (conf.ssl ? 443 : 80))
		snprintf(port, sizeof port, ":%d", conf.port);
	/* One leading slash, as for a directory's redirect. */
	path += strspn(path, "/\\");
	xasprintf(&loc, "%s://%s%s/%s%s%s", conf.ssl ? "https" : "http", h,
	    port, path, *r->query != '\0' ? "?" : "", r->query);
	a->status = 301;
	a->close = 1;
	bad = http_put_head(out, 301, NULL, "text/plain; charset=utf-8", 0,
	    &a->close) == -1 || http_put_field(out, "Location", loc) == -1 ||
	    static_end(out) == -1;
	free(loc);
	*why = "answer over the output cap";
	return (bad ? 500 : 0);
}

int
static_listen_js(struct buf *out, const struct http_request *r,
    struct http_answer *a, const char **why)
{
	char	*pre;
	int	 n, bad;

	if (!r->head && !r->get) {
		*why = "only GET and HEAD are served here";
		return (405);
	}
	n = xasprintf(&pre, "var WSPIPE_LISTEN_PATH = \"%s\";\n",
	    conf.listen_path != NULL ? conf.listen_path : "/");
	a->status = 200;
	a->bytes = r->head ? 0 : n + sizeof static_listen_js_text - 1;
	bad = http_put_head(out, 200, NULL, "text/javascript; charset=utf-8",
	    n + (long long)sizeof static_listen_js_text - 1, &a->close) == -1 ||
	    http_put_field(out, "Cache-Control", "no-cache") == -1 ||
	    static_end(out) == -1 || (!r->head &&
	    (buf_append(out, pre, n) == -1 || buf_append(out,
	    static_listen_js_text, sizeof static_listen_js_text - 1) == -1));
	free(pre);
	*why = "answer over the output cap";
	return (bad ? 500 : 0);
}

/* --metrics: the gateway's numbers, for Prometheus. */
int
static_metrics(struct buf *out, const struct http_request *r,
    struct http_answer *a, const char **why)
{
	struct buf	 text;
	int		 bad;

	if (!r->head && !r->get) {
		*why = "only GET and HEAD are served here";
		return (405);
	}
	buf_init(&text, 256 * 1024);
	if (metrics_render(&text) == -1) {
		buf_free(&text);
		*why = "the metrics do not fit";
		return (500);
	}
	a->status = 200;
	a->bytes = r->head ? 0 : buf_len(&text);
	bad = http_put_head(out, 200, NULL, "text/plain; version=0.0.4; "
	    "charset=utf-8", buf_len(&text), &a->close) == -1 ||
	    http_put_field(out, "Cache-Control", "no-cache") == -1 ||
	    static_end(out) == -1 || (!r->head &&
	    buf_append(out, buf_head(&text), buf_len(&text)) == -1);
	buf_free(&text);
	*why = "answer over the output cap";
	return (bad ? 500 : 0);
}

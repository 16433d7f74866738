/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Plain HTTP answers that come from us rather than from a program:
 * files under --staticdir (GET and HEAD, conditional requests, no
 * directory listings) and the --devconsole page.  A file is sent in
 * chunks as the client takes them, never read whole.
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
static_not_modified(struct http *h, const char *etag, time_t mtime)
{
	const char	*inm = http_header(h, "If-None-Match");
	const char	*ims = http_header(h, "If-Modified-Since");
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

/* Sends what the client can take of the open file; ends the answer. */
void
static_pump(struct conn *c)
{
	unsigned char	*p;
	ssize_t		 n;
	size_t		 want;

	while (c->file != -1 && buf_len(&c->out) < HIGH_WATER) {
		want = c->file_left < READ_MAX ? c->file_left : READ_MAX;
		if ((p = buf_reserve(&c->out, want)) == NULL)
			break;
		n = read(c->file, p, want);
		if (n <= 0) {
			/* The file shrank or failed: the length is a lie. */
			conn_log(c, LOG_LEVEL_ERROR, "static file read failed");
			close(c->file);
			c->file = -1;
			c->flags |= CONN_FINISH;
			return;
		}
		buf_commit(&c->out, n);
		c->file_left -= n;
		if (c->file_left == 0) {
			close(c->file);
			c->file = -1;
			http_answered(c, c->file_size);
		}
	}
}

/* Answers a GET or HEAD for a file under --staticdir. */
void
static_serve(struct conn *c, struct http *h)
{
	struct stat	 sb;
	const char	*path = http_path(h), *query = http_query(h);
	char		 real[PATH_MAX], index[PATH_MAX], date[64], etag[64];
	char		*loc;
	int		 status, fd, head;

	head = strcmp(http_method(h), "HEAD") == 0;
	if (!head && strcmp(http_method(h), "GET") != 0) {
		http_error(c, 405, "only GET and HEAD are served here");
		return;
	}
	if ((status = path_resolve(conf.staticdir, http_decoded(h), real,
	    sizeof real)) != 0) {
		http_error(c, status, status == 403 ? "forbidden" :
		    "not found");
		return;
	}
	if (stat(real, &sb) == -1) {
		http_error(c, 404, "not found");
		return;
	}
	if (S_ISDIR(sb.st_mode)) {
		if (path[strlen(path) - 1] != '/') {
			/*
			 * "//img/" or "/\\img/" in a Location is another host
			 * to a browser: the redirect keeps one leading slash.
			 */
			while (path[1] == '/' || path[1] == '\\')
				path++;
			xasprintf(&loc, "%s/%s%s", path, *query != '\0' ?
			    "?" : "", query);
			http_redirect(c, 301, loc);
			free(loc);
			return;
		}
		if (snprintf(index, sizeof index, "%s/index.html", real) >=
		    (int)sizeof index || stat(index, &sb) == -1 ||
		    !S_ISREG(sb.st_mode)) {
			http_error(c, 404, "not found");
			return;
		}
		strlcpy(real, index, sizeof real);
	}
	if (!S_ISREG(sb.st_mode)) {
		http_error(c, 404, "not found");
		return;
	}
	snprintf(etag, sizeof etag, "\"%llx-%llx\"",
	    (unsigned long long)sb.st_size,
	    (unsigned long long)sb.st_mtim.tv_sec * 1000000000ULL +
	    (unsigned long long)sb.st_mtim.tv_nsec);
	static_date(sb.st_mtime, date, sizeof date);
	if (static_not_modified(h, etag, sb.st_mtime)) {
		http_head(c, 304, NULL, -1);
		http_put_header(c, "ETag", etag);
		http_put_header(c, "Last-Modified", date);
		http_end_head(c);
		http_answered(c, 0);
		return;
	}
	if ((fd = open(real, O_RDONLY | O_CLOEXEC)) == -1) {
		http_error(c, errno == EACCES ? 403 : 404, errno == EACCES ?
		    "forbidden" : "not found");
		return;
	}
	http_head(c, 200, static_type(real), sb.st_size);
	http_put_header(c, "ETag", etag);
	http_put_header(c, "Last-Modified", date);
	http_end_head(c);
	if (head || sb.st_size == 0) {
		close(fd);
		http_answered(c, 0);
		return;
	}
	c->file = fd;
	c->file_left = c->file_size = sb.st_size;
	static_pump(c);
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
void
static_console(struct conn *c, struct http *h)
{
	int	head = strcmp(http_method(h), "HEAD") == 0;

	if (!head && strcmp(http_method(h), "GET") != 0) {
		http_error(c, 405, "only GET and HEAD are served here");
		return;
	}
	http_head(c, 200, "text/html; charset=utf-8",
	    sizeof static_console_page - 1);
	http_put_header(c, "Cache-Control", "no-store");
	http_end_head(c);
	if (!head && buf_append(&c->out, static_console_page,
	    sizeof static_console_page - 1) == -1) {
		conn_close(c, "answer over the output cap");
		return;
	}
	http_answered(c, head ? 0 : sizeof static_console_page - 1);
}

/* GET /wspipe/listen.js, with this gateway's listen path baked in. */
void
static_listen_js(struct conn *c, struct http *h)
{
	char	*pre;
	int	 n, head = strcmp(http_method(h), "HEAD") == 0;

	if (!head && strcmp(http_method(h), "GET") != 0) {
		http_error(c, 405, "only GET and HEAD are served here");
		return;
	}
	n = xasprintf(&pre, "var WSPIPE_LISTEN_PATH = \"%s\";\n",
	    conf.listen_path != NULL ? conf.listen_path : "/");
	http_head(c, 200, "text/javascript; charset=utf-8",
	    n + (long long)sizeof static_listen_js_text - 1);
	http_put_header(c, "Cache-Control", "no-cache");
	http_end_head(c);
	if (!head && (buf_append(&c->out, pre, n) == -1 ||
	    buf_append(&c->out, static_listen_js_text,
	    sizeof static_listen_js_text - 1) == -1)) {
		free(pre);
		conn_close(c, "answer over the output cap");
		return;
	}
	free(pre);
	http_answered(c, head ? 0 : n + sizeof static_listen_js_text - 1);
}

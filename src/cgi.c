/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * --cgidir: plain HTTP requests run scripts as CGI/1.1 (RFC 3875).  The
 * script is the connection's child, spawned like a WebSocket program;
 * the request body streams to its stdin, and its output is parsed for
 * the header block (Status, Location, Content-Type and the rest), then
 * streamed to the client until the script's output ends.  The time and
 * the output size of a script are bounded.
 */

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "wspipe.h"
#include "path.h"

#define CGI_HEADER_MAX	8192
#define CGI_TIMEOUT	30.0
#define CGI_OUTPUT_MAX	(64ULL * 1024 * 1024)

/*
 * Starts the script that the request's path names, if any.  Returns 0
 * when the path names no executable under --cgidir (the request goes on
 * to the next handler), else 1: the script runs, or the request failed.
 */
int
cgi_match(struct conn *c, struct http *h)
{
	char	 script[PATH_MAX], **env, *argv[2];
	size_t	 used;

	if (path_script(conf.cgidir, http_decoded(h), script, sizeof script,
	    &used) != 0 || access(script, X_OK) == -1)
		return (0);
	if (http_header(h, "Transfer-Encoding") != NULL) {
		http_error(c, 411, "a CGI request body needs Content-Length");
		return (1);
	}
	if (conf.maxmsg > 0 && http_content_length(h) > conf.maxmsg) {
		http_error(c, 413, "request body too large");
		return (1);
	}
	if (conf.maxforks > 0 && nchildren >= conf.maxforks) {
		http_error(c, 429, "too many requests, try again later");
		return (1);
	}
	http_set_script(h, used, script);
	c->path = xstrdup(http_path(h));
	env = env_build(c, h, NULL);
	argv[0] = script;
	argv[1] = NULL;
	if (child_spawn(c, script, argv, env) == -1) {
		env_free(env);
		if (errno == EAGAIN || errno == ENOMEM || errno == EMFILE ||
		    errno == ENFILE)
			http_error(c, 503, "out of resources, try again later");
		else
			http_error(c, 502, "the script could not be started");
		return (1);
	}
	env_free(env);
	buf_init(&c->cgi_head, CGI_HEADER_MAX);
	c->cgi = 1;
	c->state = CONN_CGI;
	c->timer.repeat = CGI_TIMEOUT;
	ev_timer_again(EV_DEFAULT, &c->timer);
	conn_log(c, LOG_LEVEL_DEBUG, "cgi %s pid %ld", script,
	    (long)c->child.pid);
	http_cgi_started(h);
	if (!http_has_body(h))
		child_close_stdin(c);
	return (1);
}

/* Room for request body bytes on their way to the script. */
size_t
cgi_room(struct conn *c)
{
	size_t	used = buf_len(&c->child.tochild);

	return (used >= HIGH_WATER ? 0 : HIGH_WATER - used);
}

int
cgi_body(struct conn *c, const char *at, size_t len)
{
	if (c->child.flags & CHILD_STDIN_SHUT)
		return (0);
	if (buf_append(&c->child.tochild, at, len) == -1)
		return (-1);
	(void)child_flush(c);
	return (0);
}

void
cgi_body_done(struct conn *c)
{
	child_close_stdin(c);
}

/* Ends a CGI exchange that went wrong: 502 if nothing was sent yet. */
void
cgi_abort(struct conn *c, const char *why)
{
	conn_log(c, LOG_LEVEL_INFO, "cgi failed: %s", why);
	child_terminate(c);
	buf_free(&c->cgi_head);
	if (!c->cgi_sent) {
		c->state = CONN_HTTP;
		http_error(c, 502, why);
		return;
	}
	c->why = why;
	c->flags |= CONN_FINISH;
	c->state = CONN_CLOSING;
	conn_update(c);
}

static int
cgi_has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 ? *s != '\t' : *s == 0x7f)
			return (1);
	return (0);
}

/* Checks "NNN reason" from a Status header. */
static int
cgi_status(const char *v, int *status)
{
	if (strlen(v) < 3 || v[0] < '1' || v[0] > '5' || v[1] < '0' ||
	    v[1] > '9' || v[2] < '0' || v[2] > '9' ||
	    (v[3] != '\0' && v[3] != ' '))
		return (-1);
	*status = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
	return (0);
}

/*
 * The script's header block is complete (len bytes, without the blank
 * line): write the HTTP answer's head.  Returns -1 if it is malformed.
 */
static int
cgi_head(struct conn *c, char *block, size_t len)
{
	char	*line, *next, *colon, *value, *reason = NULL;
	int	 status = 200, have_type = 0, have_location = 0, have_status = 0;
	char	*lines[128];
	int	 n = 0, i;

	block[len] = '\0';
	for (line = block; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line != '\0' && line[strlen(line) - 1] == '\r')
			line[strlen(line) - 1] = '\0';
		/*
		 * RFC 9110 5.5: no CR (nor other control byte but tab) in a
		 * field, or the script could write headers of its own into
		 * our answer.
		 */
		if (cgi_has_control(line))
			return (-1);
		if ((colon = strchr(line, ':')) == NULL || colon == line ||
		    n == (int)(sizeof lines / sizeof lines[0]))
			return (-1);
		*colon = '\0';
		for (value = colon + 1; *value == ' ' || *value == '\t'; value++)
			;
		if (strcasecmp(line, "Status") == 0) {
			if (cgi_status(value, &status) == -1)
				return (-1);
			/* RFC 3875 6.3.3: the script's reason phrase is kept. */
			reason = value[3] == ' ' ? value + 4 : NULL;
			have_status = 1;
			continue;
		}
		if (strcasecmp(line, "Content-Type") == 0)
			have_type = 1;
		else if (strcasecmp(line, "Location") == 0)
			have_location = 1;
		else if (strcasecmp(line, "Connection") == 0 ||
		    strcasecmp(line, "Transfer-Encoding") == 0)
			continue;	/* ours to decide */
		*colon = ':';
		lines[n++] = line;
	}
	/* RFC 3875 6.3: a document needs a type; a redirect a location. */
	if (!have_type && !have_location)
		return (-1);
	if (have_location && !have_status)
		status = 302;
	c->flags |= CONN_CLOSE_AFTER;
	http_head_reason(c, status, reason, NULL, -1);
	for (i = 0; i < n; i++) {
		colon = strchr(lines[i], ':');
		*colon = '\0';
		for (value = colon + 1; *value == ' ' || *value == '\t'; value++)
			;
		http_put_header(c, lines[i], value);
	}
	http_end_head(c);
	return (0);
}

/*
 * Finds the blank line that ends the header block: returns where it
 * starts (the block's length) and puts its own length, 1 or 2, in *skip.
 */
static ssize_t
cgi_blank(const char *p, size_t len, size_t *skip)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		/* A blank line starts the output, or follows a newline. */
		if (i > 0 && p[i - 1] != '\n')
			continue;
		if (p[i] == '\n') {
			*skip = 1;
			return (i);
		}
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n') {
			*skip = 2;
			return (i);
		}
	}
	return (-1);
}

/* Script output: the header block first, then the body as it comes. */
void
cgi_output(struct conn *c, const uint8_t *data, size_t n)
{
	char	*block;
	ssize_t	 end;
	size_t	 skip = 0, len, take;

	if (!c->cgi_sent) {
		/* Only the header block is held; the body may follow it. */
		take = n < buf_room(&c->cgi_head) ? n : buf_room(&c->cgi_head);
		(void)buf_append(&c->cgi_head, data, take);
		len = buf_len(&c->cgi_head);
		end = cgi_blank((const char *)buf_head(&c->cgi_head), len,
		    &skip);
		if (end == -1) {
			if (buf_room(&c->cgi_head) == 0)
				cgi_abort(c, "CGI header block too large");
			return;
		}
		block = xmalloc(len + 1);
		memcpy(block, buf_head(&c->cgi_head), len);
		if (cgi_head(c, block, end) == -1) {
			free(block);
			cgi_abort(c, "malformed CGI header block");
			return;
		}
		c->cgi_sent = 1;
		(void)buf_append(&c->out, block + end + skip, len - end - skip);
		c->cgi_bytes += len - end - skip;
		free(block);
		buf_free(&c->cgi_head);
		data += take;
		n -= take;
		if (n == 0)
			return;
	}
	/* Reads are sized to fit (child_update); the caps are a backstop. */
	if (c->cgi_bytes + n > CGI_OUTPUT_MAX ||
	    buf_append(&c->out, data, n) == -1) {
		cgi_abort(c, "CGI output too large");
		return;
	}
	c->cgi_bytes += n;
}

/* The script's output ended. */
void
cgi_eof(struct conn *c)
{
	if (!c->cgi_sent) {
		cgi_abort(c, "the script ended without a CGI header block");
		return;
	}
	http_answered(c, c->cgi_bytes);
	child_terminate(c);
	c->why = "cgi done";
	c->flags |= CONN_FINISH;
	c->state = CONN_CLOSING;
	conn_update(c);
}

void
cgi_timeout(struct conn *c)
{
	if (!c->cgi_sent) {
		child_terminate(c);
		buf_free(&c->cgi_head);
		c->state = CONN_HTTP;
		http_error(c, 504, "the script took too long");
		return;
	}
	cgi_abort(c, "the script took too long");
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * --cgidir: plain HTTP requests run scripts as CGI/1.1 (RFC 3875).  A
 * running script is a role of the connection: the request body streams
 * to its stdin no faster than it takes it, and its output is parsed for
 * the header block (Status, Location, Content-Type and the rest), then
 * streamed to the client until the script's output ends, which ends the
 * connection too.  The time and the output size of a script are bounded.
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
#include "metrics.h"
#include "path.h"

#define CGI_HEADER_MAX	8192
#define CGI_OUTPUT_MAX	(64ULL * 1024 * 1024)

struct cgi {
	struct conn		*c;
	struct http_request	*r;
	struct child		 ch;
	struct buf		 head;		/* the script's header block */
	int			 sent;		/* our answer's head is out */
	int			 status;
	int			 over;		/* the answer is complete */
	unsigned long long	 bytes;
};

static const struct conn_ops	cgi_ops;
static uint8_t			cgi_scratch[READ_MAX];

static void	cgi_abort(struct cgi *, const char *);

/* The script's path in script, if the request names one under --cgidir. */
int
cgi_match(struct http_request *r, char *script, size_t scriptsz)
{
	size_t	used;

	if (path_script(conf.cgidir, r->decoded, script, scriptsz,
	    &used) != 0 || access(script, X_OK) == -1)
		return (0);
	http_set_script(r, used, script);
	return (1);
}

static void
cgi_log(struct cgi *cg, int status, unsigned long long bytes,
    const char *why)
{
	if (why != NULL)
		conn_log(cg->c, LOG_LEVEL_ACCESS, "%s %s %d %llu %s",
		    cg->r->method, cg->r->path, status, bytes, why);
	else
		conn_log(cg->c, LOG_LEVEL_ACCESS, "%s %s %d %llu",
		    cg->r->method, cg->r->path, status, bytes);
}

/* Request body bytes for the script; the caller feeds no more than fit. */
static int
cgi_body_cb(void *arg, const char *at, size_t len)
{
	struct cgi	*cg = arg;

	if (child_write(&cg->ch, at, len) == -1)
		return (-1);
	(void)child_flush(&cg->ch);
	return (0);
}

/* Feeds what the script can take of the request body. */
static void
cgi_input(struct conn *c)
{
	struct cgi	*cg = c->role;
	struct buf	*in = &c->in;
	enum http_event	 ev;
	size_t		 len, room, used;

	while (!http_request_done(cg->r) && !cg->over &&
	    (len = buf_len(in)) > 0) {
		room = child_queued(&cg->ch) >= HIGH_WATER ? 0 :
		    HIGH_WATER - child_queued(&cg->ch);
		if (len > room)
			len = room;
		if (len == 0)
			return;
		used = http_request_feed(cg->r, (const char *)buf_head(in), len,
		    &ev);
		buf_drain(in, used);
		if (ev == HTTP_EV_ERROR) {
			cgi_abort(cg, "malformed request body");
			return;
		}
		if (ev == HTTP_EV_DONE)
			child_close_stdin(&cg->ch);
	}
}

/*
 * Ends a CGI exchange: 502 (or status) if nothing was sent yet, else
 * the connection ends where the answer stops.
 */
static void
cgi_fail(struct cgi *cg, int status, const char *why)
{
	struct conn	*c = cg->c;

	child_terminate(&cg->ch);
	buf_free(&cg->head);
	cg->over = 1;
	if (!cg->sent) {
		cgi_log(cg, status, strlen(why) + 1, why);
		if (http_put_error(&c->out, status, why, NULL) == -1) {
			conn_close(c, "answer over the output cap");
			return;
		}
		c->why = why;
		conn_finish(c);
		return;
	}
	c->why = why;
	conn_finish(c);
}

static void
cgi_abort(struct cgi *cg, const char *why)
{
	conn_log(cg->c, LOG_LEVEL_INFO, "cgi failed: %s", why);
	cgi_fail(cg, 502, why);
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
cgi_head(struct cgi *cg, char *block, size_t len)
{
	struct conn	*c = cg->c;
	char	*line, *next, *colon, *value, *reason = NULL;
	int	 status = 200, have_type = 0, have_location = 0, have_status = 0;
	char	*lines[128];
	int	 n = 0, i, close = 1;

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
	cg->status = status;
	if (http_put_head(&c->out, status, reason, NULL, -1, &close) == -1)
		return (-1);
	for (i = 0; i < n; i++) {
		colon = strchr(lines[i], ':');
		*colon = '\0';
		for (value = colon + 1; *value == ' ' || *value == '\t'; value++)
			;
		if (http_put_field(&c->out, lines[i], value) == -1)
			return (-1);
	}
	return (http_put(&c->out, "\r\n"));
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
static void
cgi_output(struct cgi *cg, const uint8_t *data, size_t n)
{
	struct conn	*c = cg->c;
	char		*block;
	ssize_t		 end;
	size_t		 skip = 0, len, take, before;

	if (!cg->sent) {
		/* Only the header block is held; the body may follow it. */
		take = n < buf_room(&cg->head) ? n : buf_room(&cg->head);
		(void)buf_append(&cg->head, data, take);
		len = buf_len(&cg->head);
		end = cgi_blank((const char *)buf_head(&cg->head), len, &skip);
		if (end == -1) {
			if (buf_room(&cg->head) == 0)
				cgi_abort(cg, "CGI header block too large");
			return;
		}
		block = xmalloc(len + 1);
		memcpy(block, buf_head(&cg->head), len);
		before = buf_len(&c->out);
		if (cgi_head(cg, block, end) == -1) {
			free(block);
			/* Nothing of a refused head goes out. */
			buf_truncate(&c->out, buf_len(&c->out) - before);
			cgi_abort(cg, "malformed CGI header block");
			return;
		}
		cg->sent = 1;
		(void)buf_append(&c->out, block + end + skip, len - end - skip);
		cg->bytes += len - end - skip;
		free(block);
		buf_free(&cg->head);
		data += take;
		n -= take;
		if (n == 0)
			return;
	}
	/* Reads are sized to fit (cgi_update); the caps are a backstop. */
	if (cg->bytes + n > CGI_OUTPUT_MAX ||
	    buf_append(&c->out, data, n) == -1) {
		cgi_abort(cg, "CGI output too large");
		return;
	}
	cg->bytes += n;
}

/* The script's output ended. */
static void
cgi_eof(struct cgi *cg)
{
	if (!cg->sent) {
		cgi_abort(cg, "the script ended without a CGI header block");
		return;
	}
	cgi_log(cg, cg->status, cg->bytes, NULL);
	child_terminate(&cg->ch);
	cg->over = 1;
	cg->c->why = "cgi done";
	conn_finish(cg->c);
}

static void
cgi_readable_cb(void *arg)
{
	struct cgi	*cg = arg;
	ssize_t		 n;

	if (cg->over) {
		child_update(&cg->ch, 0);
		return;
	}
	n = child_read(&cg->ch, cgi_scratch, sizeof cgi_scratch);
	if (n == -1)
		return;
	if (n == 0)
		cgi_eof(cg);
	else
		cgi_output(cg, cgi_scratch, n);
	if (conn_flush(cg->c) == 0)
		conn_update(cg->c);
}

static void
cgi_writable_cb(void *arg)
{
	struct cgi	*cg = arg;

	/* Room for more request body, maybe. */
	cgi_input(cg->c);
	conn_update(cg->c);
}

static void
cgi_gone_cb(void *arg)
{
	struct cgi	*cg = arg;

	conn_maybe_free(cg->c);
}

static const struct child_cb cgi_child_cb = {
	.readable = cgi_readable_cb,
	.writable = cgi_writable_cb,
	.gone = cgi_gone_cb
};

/*
 * Starts the script the request names (cgi_match).  Returns 0 once it
 * runs and the connection is its role, or an HTTP status, with *why.
 */
int
cgi_start(struct conn *c, struct http_request *r, const char *script,
    const char **why)
{
	struct cgi	*cg;
	char		**env, *argv[2], file[PATH_MAX];
	int		  ret;

	if (http_field(r, "Transfer-Encoding") != NULL) {
		*why = "a CGI request body needs Content-Length";
		return (411);
	}
	if (conf.maxmsg > 0 && r->content_length > conf.maxmsg) {
		*why = "request body too large";
		return (413);
	}
	if (conf.maxforks > 0 && nchildren >= conf.maxforks) {
		*why = "too many requests, try again later";
		return (429);
	}
	cg = xcalloc(1, sizeof *cg);
	cg->c = c;
	cg->r = r;
	env = env_build(c, r, NULL);
	strlcpy(file, script, sizeof file);
	argv[0] = file;
	argv[1] = NULL;
	ret = child_spawn(&cg->ch, &cgi_child_cb, cg, c->tag, script, argv,
	    env, 0);
	env_free(env);
	if (ret == -1) {
		conn_log(c, LOG_LEVEL_ERROR, "cannot run %s: %s", script,
		    strerror(errno));
		free(cg);
		if (errno == EAGAIN || errno == ENOMEM || errno == EMFILE ||
		    errno == ENFILE) {
			*why = "out of resources, try again later";
			return (503);
		}
		*why = "the script could not be started";
		return (502);
	}
	buf_init(&cg->head, CGI_HEADER_MAX);
	conn_set_role(c, &cgi_ops, cg);
	metrics_add(METRIC_CONN_CGI, 1);
	conn_set_timer(c, CGI_TIMEOUT);
	conn_log(c, LOG_LEVEL_DEBUG, "cgi %s pid %ld", script,
	    (long)cg->ch.pid);
	http_request_body(r, cgi_body_cb, cg);
	if (!r->has_body || http_request_done(r))
		child_close_stdin(&cg->ch);
	else
		cgi_input(c);
	return (0);
}

static void
cgi_output_cb(struct conn *c)
{
}

static void
cgi_timeout(struct conn *c)
{
	struct cgi	*cg = c->role;

	if (cg->over) {
		conn_close(c, "the script's answer took too long");
		return;
	}
	if (!cg->sent) {
		cgi_fail(cg, 504, "the script took too long");
		return;
	}
	cgi_abort(cg, "the script took too long");
}

/*
 * The script is read while the client takes its output; the client is
 * read while the request body is not all in and the script takes it.
 */
static int
cgi_update(struct conn *c)
{
	struct cgi	*cg = c->role;

	child_update(&cg->ch, !cg->over && buf_len(&c->out) < HIGH_WATER);
	return (!cg->over && !http_request_done(cg->r) &&
	    child_queued(&cg->ch) < HIGH_WATER);
}

static void
cgi_shutdown(struct conn *c)
{
	conn_close(c, "server shutting down");
}

static void
cgi_closed(struct conn *c)
{
	struct cgi	*cg = c->role;

	cg->over = 1;
	child_terminate(&cg->ch);
	child_discard(&cg->ch);
}

static int
cgi_busy(struct conn *c)
{
	struct cgi	*cg = c->role;

	return (!child_done(&cg->ch));
}

static void
cgi_free(struct conn *c)
{
	struct cgi	*cg = c->role;

	buf_free(&cg->head);
	http_request_free(cg->r);
	metrics_add(METRIC_CONN_CGI, -1);
	free(cg);
}

static const struct conn_ops cgi_ops = {
	.name = "cgi",
	.input = cgi_input,
	.output = cgi_output_cb,
	.timeout = cgi_timeout,
	.update = cgi_update,
	.shutdown = cgi_shutdown,
	.closed = cgi_closed,
	.busy = cgi_busy,
	.free = cgi_free
};

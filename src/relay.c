/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The relay: client frames become bytes on the program's stdin, the
 * program's stdout becomes frames, its stderr becomes log lines.  Reads
 * are sized so that what they produce always fits the destination's cap,
 * and conn_update()/child_update() only read a source while its
 * destination is under the high-water mark: that is the backpressure,
 * and the reason nothing accepted is ever dropped.
 */

#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "wspipe.h"

static uint8_t	relay_scratch[READ_MAX];

/* Queues one frame for the client; returns -1 if it does not fit. */
int
relay_send(struct conn *c, int op, int fin, const void *data, size_t len)
{
	uint8_t	hdr[WS_HEADER_MAX];
	size_t	hlen;

	if (c->flags & CONN_SOCK_CLOSED)
		return (-1);
	hlen = ws_header(hdr, op, fin, len, NULL);
	if (buf_room(&c->out) < hlen + len)
		return (-1);
	(void)buf_append(&c->out, hdr, hlen);
	(void)buf_append(&c->out, data, len);
	if (op == WS_OP_TEXT || op == WS_OP_BINARY || op == WS_OP_CONT) {
		c->bytes_out += len;
		if (fin)
			c->msgs_out++;
	}
	return (0);
}

static int
relay_emit_cb(void *arg, int op, int fin, const uint8_t *data, size_t len)
{
	return (relay_send(arg, op, fin, data, len));
}

/* A piece of a data message from the client. */
static int
relay_data(struct conn *c)
{
	struct ws_parser	*p = &c->ws;
	struct child		*ch = &c->child;
	enum utf8_status	 u;

	/* After our close frame, data is read and dropped (RFC 6455 1.4). */
	if (c->flags & CONN_CLOSE_SENT)
		return (0);
	if (!conf.binary || c->lc != NULL) {
		if (p->opcode == WS_OP_BINARY) {
			conn_fail(c, WS_CLOSE_UNSUPPORTED,
			    "binary message in text mode");
			return (-1);
		}
		/* RFC 6455 8.1: fail at the first invalid byte. */
		u = utf8_feed(&c->utf8, p->data, p->len, NULL);
		if (u == UTF8_INVALID || (p->fin && u == UTF8_PARTIAL)) {
			conn_fail(c, WS_CLOSE_INVALID_DATA,
			    "invalid UTF-8 in a text message");
			return (-1);
		}
	}
	c->bytes_in += p->len;
	if (p->fin)
		c->msgs_in++;
	if (c->lc != NULL) {
		listen_input(c, p->data, p->len, p->fin);
		if (p->fin)
			utf8_init(&c->utf8);
		return (0);
	}
	if (ch->flags & CHILD_STDIN_SHUT)
		return (0);
	if (buf_append(&ch->tochild, p->data, p->len) == -1 ||
	    (p->fin && !conf.binary && buf_append(&ch->tochild, "\n", 1) ==
	    -1)) {
		conn_fail(c, WS_CLOSE_INTERNAL, "program input overflow");
		return (-1);
	}
	/*
	 * Hold a message back until it is complete, so that one which fails
	 * halfway never reaches the program; a long one is streamed instead
	 * of filling the queue.
	 */
	if (p->fin) {
		utf8_init(&c->utf8);
		ch->held = 0;
		ch->flags &= ~CHILD_STREAMING;
	} else if (!(ch->flags & CHILD_STREAMING)) {
		ch->held += p->len;
		if (ch->held > HIGH_WATER / 2) {
			ch->flags |= CHILD_STREAMING;
			ch->held = 0;
		}
	}
	return (0);
}

/* A close frame from the client (RFC 6455 5.5.1). */
static int
relay_close(struct conn *c)
{
	struct ws_parser	*p = &c->ws;
	struct utf8		 u;
	const uint8_t		*reason;
	size_t			 rlen;
	unsigned int		 code;

	if (ws_close_parse(p->data, p->len, &code, &reason, &rlen) == -1) {
		conn_fail(c, WS_CLOSE_PROTOCOL, "invalid close frame");
		return (-1);
	}
	utf8_init(&u);
	if (utf8_feed(&u, reason, rlen, NULL) != UTF8_OK) {
		conn_fail(c, WS_CLOSE_INVALID_DATA, "invalid UTF-8 close reason");
		return (-1);
	}
	c->flags |= CONN_CLOSE_RCVD;
	if (!(c->flags & CONN_CLOSE_SENT)) {
		c->close_code = code;
		c->close_reason = NULL;
		c->why = "client closed";
	}
	conn_drain(c);
	return (-1);
}

static int
relay_control(struct conn *c)
{
	struct ws_parser	*p = &c->ws;

	switch (p->opcode) {
	case WS_OP_PING:
		/* RFC 6455 5.5.2: answer with the same payload. */
		if (!(c->flags & CONN_CLOSE_SENT) &&
		    relay_send(c, WS_OP_PONG, 1, p->data, p->len) == -1) {
			conn_fail(c, WS_CLOSE_INTERNAL, "output overflow");
			return (-1);
		}
		return (0);
	case WS_OP_PONG:
		return (0);
	default:
		return (relay_close(c));
	}
}

/*
 * Feeds client bytes through the frame parser.  Returns -1 if the
 * connection was closed (c may be gone), else 0.
 */
int
relay_client_input(struct conn *c, uint8_t *data, size_t len)
{
	enum ws_status	st;
	size_t		n;
	int		stop = 0;

	while (len > 0 && !stop && !(c->flags & CONN_SOCK_CLOSED)) {
		n = ws_parse(&c->ws, data, len, &st);
		data += n;
		len -= n;
		/* Liveness is a whole frame, not a byte (conn_ping_cb). */
		if (st == WS_CONTROL || (st == WS_DATA && c->ws.remaining == 0))
			c->last_rx = ev_now(EV_DEFAULT);
		switch (st) {
		case WS_MORE:
			break;
		case WS_DATA:
			stop = relay_data(c) == -1;
			break;
		case WS_CONTROL:
			stop = relay_control(c) == -1;
			break;
		case WS_ERR:
			conn_fail(c, c->ws.code, c->ws.errstr);
			stop = 1;
			break;
		}
	}
	if (c->flags & CONN_SOCK_CLOSED)
		return (-1);
	if (c->child.fd != -1 && child_flush(c) == -1)
		conn_log(c, LOG_LEVEL_DEBUG, "program closed its stdin");
	if (conn_flush(c) == -1)
		return (-1);
	conn_update(c);
	return (0);
}

/* Reads from the client; returns -1 if the connection was closed. */
int
relay_client_read(struct conn *c)
{
	ssize_t	n;

	n = conn_recv(c, relay_scratch, sizeof relay_scratch);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return (0);
		conn_close(c, "client connection reset");
		return (-1);
	}
	if (n == 0) {
		conn_close(c, (c->flags & CONN_CLOSE_RCVD) ? c->why :
		    "client closed TCP without a close frame");
		return (-1);
	}
	if (c->state != CONN_OPEN && c->state != CONN_CLOSING)
		return (0);
	if (c->flags & CONN_FINISH)
		return (0);
	return (relay_client_input(c, relay_scratch, n));
}

/* The program's stdout ended and it was reaped: say goodbye. */
void
relay_child_eof(struct conn *c)
{
	struct child	*ch = &c->child;
	char		 reason[64];
	int		 code = WS_CLOSE_NORMAL;

	/* RFC 6455 5.5.1: nothing may follow our close frame. */
	if (c->state == CONN_OPEN && !conf.binary &&
	    line_finish(&ch->line, relay_emit_cb, c) == -1)
		conn_log(c, LOG_LEVEL_ERROR, "last line dropped: no room");
	reason[0] = '\0';
	if (WIFEXITED(ch->status) && WEXITSTATUS(ch->status) != 0) {
		code = WS_CLOSE_INTERNAL;
		snprintf(reason, sizeof reason, "exit status %d",
		    WEXITSTATUS(ch->status));
	} else if (WIFSIGNALED(ch->status)) {
		code = WS_CLOSE_INTERNAL;
		snprintf(reason, sizeof reason, "killed by signal %d",
		    WTERMSIG(ch->status));
	}
	child_close_fds(c);
	child_terminate(c);
	if (c->state == CONN_OPEN) {
		c->why = "program exited";
		conn_send_close(c, code, reason);
	}
	if (conn_flush(c) == -1)
		return;
	conn_update(c);
}

/*
 * The drain is over (stdout ended or its time ran out): our close frame
 * goes out, and TCP is shut once it is written.
 */
void
relay_drained(struct conn *c)
{
	struct child	*ch = &c->child;

	if ((ch->flags & CHILD_EOF) && !conf.binary &&
	    line_finish(&ch->line, relay_emit_cb, c) == -1)
		conn_log(c, LOG_LEVEL_ERROR, "last line dropped: no room");
	if ((ch->flags & CHILD_EOF) && (ch->flags & CHILD_REAPED))
		child_close_fds(c);
	conn_send_close(c, c->close_code, c->close_reason);
	c->flags |= CONN_FINISH;
	if (conn_flush(c) == -1)
		return;
	conn_update(c);
}

/* Reads the program's stdout and frames it for the client. */
void
relay_child_read(struct conn *c)
{
	struct child	*ch = &c->child;
	ssize_t		 n;
	int		 r;

	n = read(ch->fd, relay_scratch, sizeof relay_scratch);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ch->flags |= CHILD_EOF;
		if (c->flags & CONN_SOCK_CLOSED) {
			if (ch->flags & CHILD_REAPED) {
				child_close_fds(c);
				conn_maybe_free(c);
			} else
				child_update(c);
			return;
		}
		if (c->state == CONN_CGI) {
			cgi_eof(c);
			if (ch->flags & CHILD_REAPED)
				child_close_fds(c);
		} else if (c->state == CONN_DRAIN)
			relay_drained(c);
		else if (ch->flags & CHILD_REAPED)
			relay_child_eof(c);
		else
			child_update(c);
		return;
	}
	if ((c->flags & CONN_SOCK_CLOSED) ||
	    (c->state != CONN_OPEN && c->state != CONN_DRAIN &&
	    c->state != CONN_CGI))
		return;
	if (c->state == CONN_CGI) {
		cgi_output(c, relay_scratch, n);
		if (conn_flush(c) == -1)
			return;
		conn_update(c);
		return;
	}
	if (conf.binary)
		r = relay_send(c, WS_OP_BINARY, 1, relay_scratch, n);
	else
		r = line_feed(&ch->line, relay_scratch, n, relay_emit_cb, c);
	if (r == -1) {
		conn_fail(c, WS_CLOSE_INTERNAL, "output overflow");
		return;
	}
	if (conn_flush(c) == -1)
		return;
	conn_update(c);
}

/* Logs one stderr line of the program, escaped. */
static void
relay_stderr_line(struct conn *c, const uint8_t *s, size_t len)
{
	char	line[4 * STDERR_LINE_MAX + 1];

	log_vis(line, sizeof line, (const char *)s, len);
	conn_log(c, LOG_LEVEL_ERROR, "stderr: %s", line);
}

/*
 * Drains the program's stderr into the log, a line at a time; a line
 * longer than STDERR_LINE_MAX is logged in pieces, so it is always read.
 */
void
relay_stderr_read(struct conn *c)
{
	struct child	*ch = &c->child;
	const uint8_t	*p, *nl;
	ssize_t		 n;
	size_t		 len, take;

	n = read(ch->errfd, relay_scratch, sizeof relay_scratch);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (buf_len(&ch->errline) > 0)
			relay_stderr_line(c, buf_head(&ch->errline),
			    buf_len(&ch->errline));
		buf_free(&ch->errline);
		ch->flags |= CHILD_ERR_EOF;
		ev_io_stop(EV_DEFAULT, &ch->errio);
		return;
	}
	for (p = relay_scratch, len = n; len > 0; ) {
		nl = memchr(p, '\n', len);
		take = nl != NULL ? (size_t)(nl - p) : len;
		if (take > buf_room(&ch->errline))
			take = buf_room(&ch->errline);
		(void)buf_append(&ch->errline, p, take);
		p += take;
		len -= take;
		if (len > 0 && *p == '\n') {
			p++;
			len--;
		} else if (buf_room(&ch->errline) > 0)
			continue;
		relay_stderr_line(c, buf_head(&ch->errline),
		    buf_len(&ch->errline));
		buf_drain(&ch->errline, buf_len(&ch->errline));
	}
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The program behind a WebSocket session, as a session backend: client
 * messages become lines (or raw bytes) on its stdin, its stdout becomes
 * messages, its stderr log lines (child.c).  Reads of its stdout are
 * sized so that what they produce always fits the client's queue, and
 * stdout is read only while that queue is under HIGH_WATER: that is the
 * backpressure, and the reason nothing accepted is ever dropped.
 */

#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wspipe.h"
#include "metrics.h"

struct program {
	struct session	*s;
	struct conn	*c;
	struct child	 ch;
	struct line	 line;		/* text mode stdout splitter */
	int		 streaming;	/* a long message is written as it
					   comes, not held */
};

static uint8_t	program_scratch[READ_MAX];

/* --passstderr: a message's JSON, 6 bytes at most for each data byte. */
#define PROGRAM_JSON_MAX	(6 * (LINE_FRAGMENT + READ_MAX) + 64)
static uint8_t	program_json[PROGRAM_JSON_MAX];

/*
 * Writes data as the inside of a JSON string (RFC 8259 7): quotation
 * mark, reverse solidus and control characters escaped; data is UTF-8.
 */
static size_t
program_json_escape(uint8_t *out, const uint8_t *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t	*o = out;
	size_t	 i;

	for (i = 0; i < len; i++) {
		if (data[i] == '"' || data[i] == '\\') {
			*o++ = '\\';
			*o++ = data[i];
		} else if (data[i] < 0x20) {
			memcpy(o, "\\u00", 4);
			o[4] = hex[data[i] >> 4];
			o[5] = hex[data[i] & 15];
			o += 6;
		} else
			*o++ = data[i];
	}
	return (o - out);
}

/*
 * Sends a piece of a message; with --passstderr, wrapped as
 * {"stream":"stdout","data":"..."} across the pieces of a long line.
 */
static int
program_emit_cb(void *arg, int op, int fin, const uint8_t *data, size_t len)
{
	static const char head[] = "{\"stream\":\"stdout\",\"data\":\"";
	struct program	*p = arg;
	size_t		 n = 0;

	if (!conf.passstderr)
		return (session_send(p->s, op, fin, data, len));
	if (op == WS_OP_TEXT) {
		memcpy(program_json, head, sizeof head - 1);
		n = sizeof head - 1;
	}
	n += program_json_escape(program_json + n, data, len);
	if (fin) {
		memcpy(program_json + n, "\"}", 2);
		n += 2;
	}
	return (session_send(p->s, op, fin, program_json, n));
}

/*
 * --passstderr: a line of stderr as {"stream":"stderr","data":"..."},
 * repaired into UTF-8.  It cannot go inside a long stdout line being
 * sent in fragments (RFC 6455 5.4): then, or once the client is gone,
 * it is logged.
 */
static void
program_stderr_cb(void *arg, const uint8_t *s, size_t len)
{
	static const char head[] = "{\"stream\":\"stderr\",\"data\":\"";
	static uint8_t	 fixed[UTF8_REPAIR_MAX(STDERR_LINE_MAX)];
	struct program	*p = arg;
	struct utf8	 u;
	char		 line[4 * STDERR_LINE_MAX + 1];
	size_t		 n, m;

	if (p->line.frag || (!session_open(p->s) &&
	    !session_draining(p->s))) {
		log_vis(line, sizeof line, (const char *)s, len);
		log_msg(LOG_LEVEL_ERROR, p->ch.tag, "stderr: %s", line);
		return;
	}
	utf8_init(&u);
	m = utf8_repair(&u, s, len, fixed, 1);
	memcpy(program_json, head, sizeof head - 1);
	n = sizeof head - 1;
	n += program_json_escape(program_json + n, fixed, m);
	memcpy(program_json + n, "\"}", 2);
	n += 2;
	if (session_send(p->s, WS_OP_TEXT, 1, program_json, n) == -1)
		session_fail(p->s, WS_CLOSE_INTERNAL, "output overflow");
	/* Written from the connection's own callback, as stdout's is. */
	conn_kick(p->c);
}

/* The program's stdout ended and it was reaped: say goodbye. */
static void
program_goodbye(struct program *p)
{
	struct child	*ch = &p->ch;
	char		 reason[64];
	int		 code = WS_CLOSE_NORMAL;

	/* RFC 6455 5.5.1: nothing may follow our close frame. */
	if (session_open(p->s) && !conf.binary &&
	    line_finish(&p->line, program_emit_cb, p) == -1)
		conn_log(p->c, LOG_LEVEL_ERROR, "last line dropped: no room");
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
	child_terminate(ch);
	session_end(p->s, code, reason, "program exited");
	session_flush(p->s);
}

/* Reads the program's stdout and frames it for the client. */
static void
program_readable_cb(void *arg)
{
	struct program	*p = arg;
	struct child	*ch = &p->ch;
	ssize_t		 n;
	int		 r;

	n = child_read(ch, program_scratch, sizeof program_scratch);
	if (n == -1)
		return;
	if (n == 0) {
		if (session_draining(p->s)) {
			if (!conf.binary && line_finish(&p->line,
			    program_emit_cb, p) == -1)
				conn_log(p->c, LOG_LEVEL_ERROR,
				    "last line dropped: no room");
			session_drained(p->s);
		} else if (ch->flags & CHILD_REAPED)
			program_goodbye(p);
		session_flush(p->s);
		return;
	}
	if (!session_open(p->s) && !session_draining(p->s))
		return;
	if (conf.binary)
		r = session_send(p->s, WS_OP_BINARY, 1, program_scratch, n);
	else
		r = line_feed(&p->line, program_scratch, n, program_emit_cb,
		    p);
	if (r == -1) {
		session_fail(p->s, WS_CLOSE_INTERNAL, "output overflow");
		return;
	}
	session_flush(p->s);
}

/* Stdin took some bytes: frames that waited for room may go on. */
static void
program_writable_cb(void *arg)
{
	struct program	*p = arg;

	session_flush(p->s);
}

static void
program_exited_cb(void *arg)
{
	struct program	*p = arg;

	/* Output may still be in the socket: it is read first. */
	if (p->ch.flags & CHILD_EOF)
		program_goodbye(p);
}

static void
program_gone_cb(void *arg)
{
	struct program	*p = arg;

	conn_maybe_free(p->c);
}

static const struct child_cb program_child_cb = {
	.readable = program_readable_cb,
	.writable = program_writable_cb,
	.exited = program_exited_cb,
	.gone = program_gone_cb
};

static const struct child_cb program_pass_cb = {
	.readable = program_readable_cb,
	.writable = program_writable_cb,
	.exited = program_exited_cb,
	.gone = program_gone_cb,
	.stderr_line = program_stderr_cb
};

/*
 * Starts the program of connection c; returns NULL with errno set (and
 * a log line) if it cannot run.
 */
struct program *
program_new(struct conn *c, const char *path, char **argv, char **env)
{
	struct program	*p;
	int		 saved;

	p = xcalloc(1, sizeof *p);
	p->c = c;
	if (child_spawn(&p->ch, conf.passstderr ? &program_pass_cb :
	    &program_child_cb, p, c->tag, path, argv, env, 0) == -1) {
		saved = errno;
		conn_log(c, LOG_LEVEL_ERROR, "cannot run %s: %s", path,
		    strerror(saved));
		free(p);
		errno = saved;
		return (NULL);
	}
	line_init(&p->line, LINE_FRAGMENT);
	conn_log(c, LOG_LEVEL_DEBUG, "pid %ld", (long)p->ch.pid);
	metrics_add(METRIC_CONN_PROGRAM, 1);
	return (p);
}

pid_t
program_pid(struct program *p)
{
	return (p->ch.pid);
}

static void
program_attach(void *arg, struct session *s)
{
	struct program	*p = arg;

	p->s = s;
}

/* A piece of a client message: queued for the program's stdin. */
static int
program_message(void *arg, const uint8_t *data, size_t len, int fin)
{
	struct program	*p = arg;
	struct child	*ch = &p->ch;

	if (ch->flags & (CHILD_STDIN_SHUT | CHILD_TERMINATING))
		return (0);
	if (child_write(ch, data, len) == -1 ||
	    (fin && !conf.binary && child_write(ch, "\n", 1) == -1)) {
		session_fail(p->s, WS_CLOSE_INTERNAL, "program input overflow");
		return (-1);
	}
	/*
	 * Hold a message back until it is complete, so that one which fails
	 * halfway never reaches the program and one of up to HIGH_WATER
	 * bytes reaches it in one write, as websocketd does; a longer one is
	 * streamed instead of filling the queue (program_room stops the
	 * frames at HIGH_WATER, so the hold must end there).
	 */
	if (fin) {
		child_hold(ch, 0);
		p->streaming = 0;
	} else if (!p->streaming) {
		child_hold(ch, ch->held + len);
		if (ch->held >= HIGH_WATER) {
			p->streaming = 1;
			child_hold(ch, 0);
		}
	}
	return (0);
}

static int
program_room(void *arg)
{
	struct program	*p = arg;

	return (child_queued(&p->ch) < HIGH_WATER);
}

/* Stdin is written as it comes; stdout read while the client keeps up. */
static void
program_update(void *arg)
{
	struct program	*p = arg;
	struct child	*ch = &p->ch;

	if (child_queued(ch) > ch->held && child_flush(ch) == -1)
		conn_log(p->c, LOG_LEVEL_DEBUG, "program closed its stdin");
	child_update(ch, (session_open(p->s) || session_draining(p->s)) &&
	    session_queued(p->s) < HIGH_WATER);
}

static void
program_writable(void *arg)
{
}

/* The client is done: stdin closes, the program's last words still go. */
static int
program_drain(void *arg)
{
	struct program	*p = arg;

	child_terminate(&p->ch);
	if (!(p->ch.flags & CHILD_EOF))
		return (0);
	if (!conf.binary && line_finish(&p->line, program_emit_cb, p) == -1)
		conn_log(p->c, LOG_LEVEL_ERROR, "last line dropped: no room");
	return (1);
}

static void
program_stop(void *arg, int gone)
{
	struct program	*p = arg;

	child_terminate(&p->ch);
	if (gone)
		child_discard(&p->ch);
}

static int
program_busy(void *arg)
{
	struct program	*p = arg;

	return (!child_done(&p->ch));
}

static void
program_status(void *arg, char *out, size_t outsz)
{
	struct program	*p = arg;
	struct child	*ch = &p->ch;

	if (WIFSIGNALED(ch->status))
		snprintf(out, outsz, "pid %ld signal %d", (long)ch->pid,
		    WTERMSIG(ch->status));
	else
		snprintf(out, outsz, "pid %ld exit %d", (long)ch->pid,
		    WEXITSTATUS(ch->status));
}

static void
program_free(void *arg)
{
	struct program	*p = arg;

	child_close_fds(&p->ch);
	line_free(&p->line);
	metrics_add(METRIC_CONN_PROGRAM, -1);
	free(p);
}

const struct session_backend program_backend = {
	.attach = program_attach,
	.message = program_message,
	.room = program_room,
	.update = program_update,
	.writable = program_writable,
	.drain = program_drain,
	.stop = program_stop,
	.busy = program_busy,
	.status = program_status,
	.free = program_free
};

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * A WebSocket session, the role a connection plays after its upgrade:
 * client frames are parsed and checked (RFC 6455), data messages go to
 * the session's backend (a program, or the broker in listen mode) and
 * the backend's messages go out as frames; pings are answered and sent,
 * and the close handshake is walked from either side.  The backend is
 * reached through its struct session_backend and reaches the session
 * through the session_* functions below.
 *
 * Frames are parsed only while the client's output is under HIGH_WATER
 * and the backend has room: unparsed bytes wait in the connection's
 * input, and the socket is not read, until both drain.  Liveness is a
 * whole frame: a client that is silent, trickles a frame it never ends,
 * or stops reading (which stops our parsing, so its pong stays unread)
 * is closed within --ping-interval + --ping-timeout of its last frame.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wspipe.h"
#include "metrics.h"
#include "rest.h"
#include "sse.h"
#include "deflate.h"
#include "handshake.h"

#define SESSION_INFLATE_CHUNK	(16 * 1024)	/* inflated at a time */

enum session_state {
	SESSION_OPEN,		/* relaying */
	SESSION_DRAIN,		/* ending: the backend's last output, then
				   our close frame */
	SESSION_CLOSING		/* our close frame sent, awaiting theirs */
};

#define SESSION_CLOSE_SENT	0x01
#define SESSION_CLOSE_RCVD	0x02
#define SESSION_PAUSED		0x04	/* not reading the client */

struct session {
	struct conn		*c;
	const struct session_backend *be;
	void			*bs;		/* the backend's state */
	enum session_state	 state;
	int			 flags;
	int			 text;		/* text messages only */
	struct ws_parser	 ws;
	struct utf8		 utf8;		/* inbound text message state */
	ev_timer		 ping;		/* keepalive and liveness */
	ev_tstamp		 last_rx;	/* last whole frame */
	ev_tstamp		 ping_sent;	/* 0: no ping outstanding */
	char			*path;		/* for the closing line */
	uint64_t		 msgs_in, bytes_in, msgs_out, bytes_out;
	int			 close_code;	/* sent or received */
	const char		*close_reason;	/* static text for our close */
	struct pmd		 pmd;		/* permessage-deflate, if on */
	struct pmd_inflate	*inf;		/* a message being inflated */
	struct buf		 zin;		/* its bytes not inflated yet */
	int			 zfin;		/* zin holds the message's end */
	int			 inf_op;	/* its opcode */
	int			 sse;		/* plain HTTP, not frames */
	int			 names;		/* events name their resource */
	int			 once;		/* one answer (rest.c), then end */
	int			 head;		/* ... without its body */
	int			 late;		/* ... when time is up */
	int			 answered;
	const char		*method;
	char			*inm;		/* its If-None-Match, or NULL */
};

static const struct conn_ops	session_ops;

static void	session_ping_cb(struct ev_loop *, ev_timer *, int);
static void	session_drain(struct session *);
static void	session_input(struct conn *);
static void	session_resume(struct session *);

/*
 * Queues the 101 answer to an upgrade request with this key, choosing
 * protocol ("" for none); -1 if it did not fit.
 */
int
session_answer(struct buf *out, const char *key, const char *protocol,
    const char *extensions)
{
	char	accept[HANDSHAKE_ACCEPT_LEN + 1];

	handshake_accept(key, accept);
	if (http_put_status(out, 101, NULL) == -1 ||
	    http_put_field(out, "Upgrade", "websocket") == -1 ||
	    http_put_field(out, "Connection", "Upgrade") == -1 ||
	    http_put_field(out, "Sec-WebSocket-Accept", accept) == -1 ||
	    (*protocol != '\0' && http_put_field(out,
	    "Sec-WebSocket-Protocol", protocol) == -1) ||
	    (extensions != NULL && http_put_field(out,
	    "Sec-WebSocket-Extensions", extensions) == -1) ||
	    http_put_extra(out, HTTP_EXTRA_ALL) == -1 ||
	    http_put_extra(out, HTTP_EXTRA_WS) == -1 ||
	    http_put(out, "\r\n") == -1)
		return (-1);
	return (0);
}

/*
 * The upgrade is answered: c is a WebSocket session from now on, with
 * backend be (state bs); text: only text messages are taken.
 */
struct session *
session_start(struct conn *c, const struct session_backend *be, void *bs,
    const char *path, int text, const struct pmd *pmd)
{
	struct session	*s;

	s = xcalloc(1, sizeof *s);
	s->c = c;
	s->be = be;
	s->bs = bs;
	s->text = text;
	s->path = xstrdup(path);
	s->state = SESSION_OPEN;
	ws_parser_init(&s->ws, conf.maxmsg, 1);
	if (pmd != NULL && pmd->on) {
		s->pmd = *pmd;
		s->ws.rsv1 = 1;
	}
	/* Compressed bytes wait here while the backend has no room. */
	buf_init(&s->zin, CONN_IN_CAP + 8);
	utf8_init(&s->utf8);
	conn_set_role(c, &session_ops, s);
	conn_set_timer(c, 0);
	s->last_rx = ev_now(EV_DEFAULT);
	ev_init(&s->ping, session_ping_cb);
	s->ping.data = s;
	if (conf.ping_interval > 0) {
		s->ping.repeat = conf.ping_interval;
		ev_timer_again(EV_DEFAULT, &s->ping);
	}
	be->attach(bs, s);
	return (s);
}

/*
 * Makes s a stream of server-sent events (a listen client over plain
 * HTTP; names: a pattern's, each event naming its resource): each text
 * message goes out as an event (sse.c), a ping as a
 * comment that keeps proxies from closing the stream, and a close as the
 * end of the connection.  Nothing the client sends is read: it has said
 * everything in its request.
 */
void
session_sse(struct session *s, int names)
{
	s->sse = 1;
	s->names = names;
	s->ping.repeat = conf.ping_interval > 0 ? conf.ping_interval :
	    SSE_HEARTBEAT;
	ev_timer_again(EV_DEFAULT, &s->ping);
}

/*
 * Makes s one plain HTTP request's answer (a listen resource's GET or
 * POST): the first line of the backend's that settles it is turned into
 * the answer (rest.c; 304 for a state If-None-Match inm names), after
 * which the connection ends.  Until then, at
 * most wait seconds: then the answer is status late (304 or 404 for a
 * long poll that saw no new state, 504 for a broker that did not answer).
 */
void
session_once(struct session *s, const char *method, double wait, int late,
    const char *inm)
{
	s->sse = 1;
	s->inm = inm != NULL ? xstrdup(inm) : NULL;
	s->once = 1;
	s->method = method;
	s->head = strcmp(method, "HEAD") == 0;
	s->late = late;
	s->ping.repeat = wait;
	ev_timer_again(EV_DEFAULT, &s->ping);
}

/* The answer is queued: the connection ends once it is written. */
static void
session_answered(struct session *s, int status, size_t bytes)
{
	s->answered = 1;
	conn_log(s->c, LOG_LEVEL_ACCESS, "%s %s %d %zu", s->method, s->path,
	    status, bytes);
	metrics_http_status(status);
	ev_timer_stop(EV_DEFAULT, &s->ping);
	s->flags |= SESSION_CLOSE_SENT;
	s->state = SESSION_CLOSING;
	conn_finish(s->c);
}

/* The answer a line settles, or, at the deadline (a ping), the late one. */
static int
session_send_answer(struct session *s, int op, const void *data, size_t len)
{
	struct conn	*c = s->c;
	size_t		 before = buf_len(&c->out);
	int		 ret, status = s->late;

	if (s->answered)
		return (0);
	if (op == WS_OP_PING)
		ret = rest_late(&c->out, s->late, s->inm) == -1 ? -1 : 1;
	else if (op == WS_OP_TEXT)
		ret = rest_answer(&c->out, data, len, s->head, s->inm,
		    &status);
	else
		return (0);
	if (ret == -1) {
		conn_close(c, "answer over the output cap");
		return (-1);
	}
	if (ret == 1)
		session_answered(s, status, buf_len(&c->out) - before);
	return (0);
}

/* len bytes of data went out, ending a message if end: counted. */
static void
session_sent(struct session *s, size_t len, int end)
{
	s->bytes_out += len;
	metrics_add(METRIC_BYTES_OUT, len);
	if (end) {
		s->msgs_out++;
		metrics_add(METRIC_MSGS_OUT, 1);
	}
}

/* An event for the line a backend sent, or a heartbeat; -1: no room. */
static int
session_send_event(struct session *s, int op, const void *data, size_t len)
{
	static char	 event[SSE_EVENT_MAX];
	struct conn	*c = s->c;
	size_t		 n;

	if (op == WS_OP_PING)
		return (buf_room(&c->out) < 3 ? -1 :
		    buf_append(&c->out, ":\n\n", 3));
	if (op != WS_OP_TEXT || (n = sse_event(event, data, len,
	    s->names)) == 0)
		return (0);
	if (buf_room(&c->out) < n)
		return (-1);
	(void)buf_append(&c->out, event, n);
	session_sent(s, n, 1);
	return (0);
}

struct conn *
session_conn(struct session *s)
{
	return (s->c);
}

/* Bytes waiting for the client. */
size_t
session_queued(struct session *s)
{
	return (buf_len(&s->c->out));
}

/* 1 while messages may still go to the client. */
int
session_open(struct session *s)
{
	return (s->state == SESSION_OPEN &&
	    !(s->c->flags & CONN_SOCK_CLOSED));
}

/* 1 while the backend's last output is awaited (session_drained). */
int
session_draining(struct session *s)
{
	return (s->state == SESSION_DRAIN &&
	    !(s->c->flags & CONN_SOCK_CLOSED));
}

/* Queues one frame for the client; returns -1 if it does not fit. */
int
session_send(struct session *s, int op, int fin, const void *data,
    size_t len)
{
	struct conn	*c = s->c;
	uint8_t		 hdr[WS_HEADER_MAX];
	size_t		 hlen;

	const uint8_t	*z;
	size_t		 zlen;

	if (c->flags & (CONN_SOCK_CLOSED | CONN_FINISH))
		return (-1);
	/* Plain HTTP: events, or one answer. */
	if (s->sse)
		return (s->once ? session_send_answer(s, op, data, len) :
		    session_send_event(s, op, data, len));
	/*
	 * permessage-deflate: a whole data message from --deflate-min bytes
	 * up goes compressed, with RSV1, when that makes it smaller; a
	 * fragmented one goes as it is.
	 */
	if (s->pmd.on && fin && (op == WS_OP_TEXT || op == WS_OP_BINARY) &&
	    len >= conf.deflate_min && (z = pmd_compress(&s->pmd, data, len,
	    &zlen)) != NULL) {
		hlen = ws_header(hdr, op | WS_RSV1, fin, zlen, NULL);
		if (buf_room(&c->out) < hlen + zlen)
			return (-1);
		(void)buf_append(&c->out, hdr, hlen);
		(void)buf_append(&c->out, z, zlen);
		session_sent(s, len, 1);
		return (0);
	}
	hlen = ws_header(hdr, op, fin, len, NULL);
	if (buf_room(&c->out) < hlen + len)
		return (-1);
	(void)buf_append(&c->out, hdr, hlen);
	(void)buf_append(&c->out, data, len);
	if (op == WS_OP_TEXT || op == WS_OP_BINARY || op == WS_OP_CONT)
		session_sent(s, len, fin);
	return (0);
}

/*
 * Writes what is queued, parses input that waited for the room this
 * made, and recomputes interest.
 */
void
session_flush(struct session *s)
{
	if (conn_flush(s->c) == -1)
		return;
	session_resume(s);
	conn_update(s->c);
}

/* Sends a close frame once; then only the peer's close is awaited. */
static void
session_send_close(struct session *s, int code, const char *reason)
{
	uint8_t	payload[WS_CONTROL_MAX];
	size_t	len;

	if (s->flags & SESSION_CLOSE_SENT)
		return;
	/* A request not answered yet is answered now. */
	if (s->once && !s->answered) {
		if (http_put_error(&s->c->out, 503, shutting_down ?
		    "server shutting down" : "closed", NULL) == 0)
			session_answered(s, 503, 0);
		return;
	}
	/* A stream of events ends with its connection. */
	if (s->sse) {
		s->flags |= SESSION_CLOSE_SENT;
		s->state = SESSION_CLOSING;
		conn_finish(s->c);
		return;
	}
	/* An empty close is answered with 1000 (Autobahn 7.3.1). */
	if (code == WS_CLOSE_NO_STATUS)
		code = WS_CLOSE_NORMAL;
	len = ws_close_payload(payload, code, reason);
	(void)session_send(s, WS_OP_CLOSE, 1, payload, len);
	s->flags |= SESSION_CLOSE_SENT;
	if (s->close_code == 0)
		s->close_code = code;
	s->state = SESSION_CLOSING;
	if (!(s->c->flags & CONN_FINISH))
		conn_set_timer(s->c, CLOSE_TIMEOUT);
}

/* Fails the WebSocket connection (RFC 6455 7.1.7). */
void
session_fail(struct session *s, int code, const char *why)
{
	conn_log(s->c, LOG_LEVEL_INFO, "failing with %d: %s", code, why);
	s->c->why = why;
	s->close_code = code;
	s->close_reason = why;
	session_drain(s);
}

/*
 * The client closed or broke the protocol: no more frames are read.  The
 * backend stops taking input, and what it still says (at most
 * DRAIN_TIMEOUT + --closems) is delivered before our close frame, so
 * that the answers to messages already accepted are not lost.
 */
static void
session_drain(struct session *s)
{
	if (s->state != SESSION_OPEN) {
		if (s->state == SESSION_CLOSING &&
		    (s->flags & SESSION_CLOSE_RCVD))
			conn_finish(s->c);
		return;
	}
	s->state = SESSION_DRAIN;
	ev_timer_stop(EV_DEFAULT, &s->ping);
	if (s->be->drain(s->bs)) {
		session_drained(s);
		return;
	}
	conn_set_timer(s->c, DRAIN_TIMEOUT + conf.closems / 1000.0);
}

/*
 * The drain is over (the backend's output ended or its time ran out):
 * our close frame goes out, and TCP is shut once it is written.
 */
void
session_drained(struct session *s)
{
	if (s->c->flags & CONN_SOCK_CLOSED)
		return;
	session_send_close(s, s->close_code, s->close_reason);
	conn_finish(s->c);
}

/*
 * The backend ended by itself (the program exited): close with code and
 * reason, and why for the log.
 */
void
session_end(struct session *s, int code, const char *reason,
    const char *why)
{
	if (s->state != SESSION_OPEN || (s->c->flags & CONN_SOCK_CLOSED))
		return;
	s->c->why = why;
	session_send_close(s, code, reason);
}

/* A piece of a message, as the client meant it (inflated), to the backend. */
static int
session_deliver(struct session *s, int op, const uint8_t *data, size_t len,
    int fin)
{
	enum utf8_status	 u;

	if (s->text) {
		if (op == WS_OP_BINARY) {
			session_fail(s, WS_CLOSE_UNSUPPORTED,
			    "binary message in text mode");
			return (-1);
		}
		/* RFC 6455 8.1: fail at the first invalid byte. */
		u = utf8_feed(&s->utf8, data, len, NULL);
		if (u == UTF8_INVALID || (fin && u == UTF8_PARTIAL)) {
			session_fail(s, WS_CLOSE_INVALID_DATA,
			    "invalid UTF-8 in a text message");
			return (-1);
		}
	}
	s->bytes_in += len;
	metrics_add(METRIC_BYTES_IN, len);
	if (fin) {
		s->msgs_in++;
		metrics_add(METRIC_MSGS_IN, 1);
		utf8_init(&s->utf8);
	}
	return (s->be->message(s->bs, data, len, fin));
}

/* The message being inflated is over, or the session is. */
static void
session_inflate_end(struct session *s)
{
	pmd_inflate_free(s->inf);
	s->inf = NULL;
	buf_free(&s->zin);
	s->zfin = 0;
}

/*
 * Inflates what waits in zin while the backend has room, a chunk at a
 * time, so that a small compressed message cannot become a flood: what
 * cannot be taken yet stays compressed, and frames after it wait.  A
 * message that inflates past --maxmsg is refused with 1009.
 */
static int
session_inflate(struct session *s)
{
	static uint8_t	 out[SESSION_INFLATE_CHUNK];
	size_t		 used, made;
	int		 last;

	while ((buf_len(&s->zin) > 0 || s->zfin) &&
	    buf_len(&s->c->out) < HIGH_WATER && s->be->room(s->bs)) {
		if (s->inf == NULL && (s->inf = pmd_inflate_new()) == NULL) {
			session_fail(s, WS_CLOSE_INTERNAL, "cannot inflate");
			return (-1);
		}
		if (pmd_inflate(s->inf, buf_head(&s->zin), buf_len(&s->zin),
		    &used, out, sizeof out, &made) == -1) {
			session_fail(s, WS_CLOSE_PROTOCOL,
			    "invalid compressed data");
			return (-1);
		}
		buf_drain(&s->zin, used);
		if (conf.maxmsg > 0 && s->inf->total > conf.maxmsg) {
			session_fail(s, WS_CLOSE_TOO_BIG, "message too big");
			return (-1);
		}
		/* Over once all is in, taken, and no more comes out. */
		last = s->zfin && buf_len(&s->zin) == 0 && made < sizeof out;
		if ((made > 0 || last) && session_deliver(s, s->inf_op, out,
		    made, last) == -1)
			return (-1);
		if (last) {
			session_inflate_end(s);
			break;
		}
		if (made == 0 && used == 0)
			break;		/* it needs more of the message */
	}
	return (0);
}

/* A piece of a data message from the client. */
static int
session_data(struct session *s)
{
	struct ws_parser	*p = &s->ws;

	/* After our close frame, data is read and dropped (RFC 6455 1.4). */
	if (s->flags & SESSION_CLOSE_SENT)
		return (0);
	if (!p->compressed)
		return (session_deliver(s, p->opcode, p->data, p->len,
		    p->fin));
	/* RFC 7692 7.2.2: the message ends with 00 00 ff ff taken off. */
	s->inf_op = p->opcode;
	if (buf_append(&s->zin, p->data, p->len) == -1 || (p->fin &&
	    buf_append(&s->zin, "\0\0\377\377", 4) == -1)) {
		session_fail(s, WS_CLOSE_INTERNAL, "input overflow");
		return (-1);
	}
	if (p->fin)
		s->zfin = 1;
	return (session_inflate(s));
}

/* A close frame from the client (RFC 6455 5.5.1). */
static int
session_close_frame(struct session *s)
{
	struct ws_parser	*p = &s->ws;
	struct utf8		 u;
	const uint8_t		*reason;
	size_t			 rlen;
	unsigned int		 code;

	if (ws_close_parse(p->data, p->len, &code, &reason, &rlen) == -1) {
		session_fail(s, WS_CLOSE_PROTOCOL, "invalid close frame");
		return (-1);
	}
	utf8_init(&u);
	if (utf8_feed(&u, reason, rlen, NULL) != UTF8_OK) {
		session_fail(s, WS_CLOSE_INVALID_DATA,
		    "invalid UTF-8 close reason");
		return (-1);
	}
	s->flags |= SESSION_CLOSE_RCVD;
	if (!(s->flags & SESSION_CLOSE_SENT)) {
		s->close_code = code;
		s->close_reason = NULL;
		s->c->why = "client closed";
	}
	session_drain(s);
	return (-1);
}

static int
session_control(struct session *s)
{
	struct ws_parser	*p = &s->ws;

	switch (p->opcode) {
	case WS_OP_PING:
		/* RFC 6455 5.5.2: answer with the same payload. */
		if (!(s->flags & SESSION_CLOSE_SENT) &&
		    session_send(s, WS_OP_PONG, 1, p->data, p->len) == -1) {
			session_fail(s, WS_CLOSE_INTERNAL, "output overflow");
			return (-1);
		}
		return (0);
	case WS_OP_PONG:
		return (0);
	default:
		return (session_close_frame(s));
	}
}

/* 1 while another frame may be parsed: room on both sides. */
static int
session_room(struct session *s)
{
	return (buf_len(&s->c->out) < HIGH_WATER && s->be->room(s->bs) &&
	    buf_len(&s->zin) == 0 && !s->zfin);
}

/* Parses the client's frames while there is room for what they cause. */
static void
session_input(struct conn *c)
{
	struct session	*s = c->role;
	enum ws_status	 st;
	uint8_t		*data;
	size_t		 len, n, used = 0;
	int		 stop = 0, frames = 0;

	/*
	 * Draining, or all said, or a stream of events: what comes is
	 * dropped; EOF or reset ends.
	 */
	if (s->state == SESSION_DRAIN || (c->flags & CONN_FINISH) || s->sse) {
		buf_free(&c->in);
		return;
	}
	/* ws_parse unmasks in place: the bytes are ours to change. */
	data = buf_bytes(&c->in);
	len = buf_len(&c->in);
	while (len > 0 && !stop && session_room(s)) {
		n = ws_parse(&s->ws, data, len, &st);
		data += n;
		len -= n;
		used += n;
		/* Liveness is a whole frame, not a byte. */
		if (st == WS_CONTROL || (st == WS_DATA && s->ws.remaining == 0))
			frames++;
		switch (st) {
		case WS_MORE:
			break;
		case WS_DATA:
			stop = session_data(s) == -1;
			break;
		case WS_CONTROL:
			stop = session_control(s) == -1;
			break;
		case WS_ERR:
			session_fail(s, s->ws.code, s->ws.errstr);
			stop = 1;
			break;
		}
		if (c->flags & CONN_SOCK_CLOSED)
			return;
	}
	if (frames > 0)
		s->last_rx = ev_now(EV_DEFAULT);
	if (stop)
		buf_free(&c->in);
	else
		buf_drain(&c->in, used);
}

/* Input that waited for room is parsed once there is room again. */
static void
session_resume(struct session *s)
{
	struct conn	*c = s->c;

	if (c->flags & CONN_SOCK_CLOSED)
		return;
	/* A message still being inflated goes first. */
	if ((buf_len(&s->zin) > 0 || s->zfin) && s->state == SESSION_OPEN &&
	    !(s->flags & SESSION_CLOSE_SENT) && (session_inflate(s) == -1 ||
	    (c->flags & CONN_SOCK_CLOSED)))
		return;
	if (buf_len(&c->in) > 0 && session_room(s))
		session_input(c);
}

static void
session_output(struct conn *c)
{
	struct session	*s = c->role;

	s->be->writable(s->bs);
	session_resume(s);
}

/*
 * Keepalive, and the one time limit of a session (see the top of this
 * file).  The timer is not reset on every frame; when it fires it looks
 * at the last frame's time and sleeps again for what is left, as
 * libev's documentation suggests for activity timeouts.
 */
static void
session_ping_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct session	*s = w->data;
	struct conn	*c = s->c;
	ev_tstamp	 now = ev_now(loop), next;

	if (s->state != SESSION_OPEN || (c->flags & CONN_SOCK_CLOSED)) {
		ev_timer_stop(loop, w);
		return;
	}
	/* One answer: time is up. */
	if (s->once) {
		(void)session_send(s, WS_OP_PING, 1, "", 0);
		session_flush(s);
		return;
	}
	/* Events: a heartbeat, never an answer to wait for. */
	if (s->sse) {
		if (buf_len(&c->out) == 0) {
			(void)session_send(s, WS_OP_PING, 1, "", 0);
			session_flush(s);
		}
		if (!(c->flags & CONN_SOCK_CLOSED)) {
			w->repeat = conf.ping_interval > 0 ?
			    conf.ping_interval : SSE_HEARTBEAT;
			ev_timer_again(loop, w);
		}
		return;
	}
	if (s->flags & SESSION_PAUSED) {
		/* Unread input hides a reset from poll: ask TCP. */
		if (conn_dead(c)) {
			conn_close(c, "client connection reset");
			return;
		}
		/*
		 * Paused because the backend does not take its input: not
		 * the client's doing, and its pong waits unread behind it.
		 */
		if (buf_len(&c->out) < HIGH_WATER) {
			s->last_rx = now;
			s->ping_sent = 0;
		}
	}
	if (conf.ping_interval == 0) {
		if (s->flags & SESSION_PAUSED) {
			w->repeat = PAUSED_CHECK;
			ev_timer_again(loop, w);
		} else
			ev_timer_stop(loop, w);
		return;
	}
	/* Any frame since our ping proves the peer is alive. */
	if (s->ping_sent != 0 && s->last_rx >= s->ping_sent)
		s->ping_sent = 0;
	if (s->ping_sent != 0 && conf.ping_timeout > 0 &&
	    now - s->ping_sent >= conf.ping_timeout) {
		conn_log(c, LOG_LEVEL_INFO, "no frame in %gs after a ping",
		    conf.ping_timeout);
		conn_close(c, "ping timeout");
		return;
	}
	if (s->ping_sent == 0 && now - s->last_rx >= conf.ping_interval) {
		/* The wait starts even if a full queue leaves no room. */
		(void)session_send(s, WS_OP_PING, 1, "", 0);
		s->ping_sent = now;
		session_flush(s);
		if (c->flags & CONN_SOCK_CLOSED)
			return;
	}
	if (s->ping_sent != 0)
		next = conf.ping_timeout > 0 ?
		    s->ping_sent + conf.ping_timeout - now : conf.ping_interval;
	else
		next = s->last_rx + conf.ping_interval - now;
	if ((s->flags & SESSION_PAUSED) && next > PAUSED_CHECK)
		next = PAUSED_CHECK;
	w->repeat = next > 0.01 ? next : 0.01;
	ev_timer_again(loop, w);
}

static void
session_timeout(struct conn *c)
{
	struct session	*s = c->role;

	switch (s->state) {
	case SESSION_DRAIN:
		session_drained(s);
		break;
	case SESSION_CLOSING:
		conn_close(c, "no close frame from the client");
		break;
	default:
		conn_close(c, c->why != NULL ? c->why : "closed");
		break;
	}
}

/* Entering a pause, make sure the TCP state is looked at soon. */
static void
session_set_paused(struct session *s, int paused)
{
	/* A stream of events reads nothing: there is nothing to pause. */
	if (s->sse || paused == ((s->flags & SESSION_PAUSED) != 0))
		return;
	if (!paused) {
		s->flags &= ~SESSION_PAUSED;
		return;
	}
	s->flags |= SESSION_PAUSED;
	if (!ev_is_active(&s->ping) ||
	    ev_timer_remaining(EV_DEFAULT, &s->ping) > PAUSED_CHECK) {
		s->ping.repeat = PAUSED_CHECK;
		ev_timer_again(EV_DEFAULT, &s->ping);
	}
}

/* Reads while there is room for what the frames cause. */
static int
session_update(struct conn *c)
{
	struct session	*s = c->role;
	int		 read;

	s->be->update(s->bs);
	if (c->flags & CONN_SOCK_CLOSED)
		return (0);
	/*
	 * Plain HTTP (events, one answer): what comes is dropped, but read,
	 * so that a client that leaves is seen to, not when a write fails.
	 */
	if (s->state == SESSION_DRAIN || s->sse)
		read = 1;
	else
		read = buf_len(&c->in) == 0 && session_room(s);
	session_set_paused(s, s->state == SESSION_OPEN && !read);
	return (read);
}

/* SIGTERM: the client gets 1001, the backend its end. */
static void
session_shutdown(struct conn *c)
{
	struct session	*s = c->role;

	if (s->state == SESSION_OPEN) {
		c->why = "server shutting down";
		session_send_close(s, WS_CLOSE_GOING_AWAY,
		    "server shutting down");
		s->be->stop(s->bs, 0);
	}
}

static void
session_closed(struct conn *c)
{
	struct session	*s = c->role;

	ev_timer_stop(EV_DEFAULT, &s->ping);
	/* RFC 6455 7.1.5: no close frame means 1006. */
	if (s->close_code == 0)
		s->close_code = WS_CLOSE_ABNORMAL;
	s->be->stop(s->bs, 1);
}

static int
session_busy(struct conn *c)
{
	struct session	*s = c->role;

	return (s->be->busy(s->bs));
}

/* The closing line, once everything is over. */
static void
session_free(struct conn *c)
{
	struct session	*s = c->role;
	char		 status[48];

	s->be->status(s->bs, status, sizeof status);
	/* One answer was its access line; no WebSocket closed. */
	if (!s->once) {
		conn_log(c, LOG_LEVEL_ACCESS, "%s %s %d %.3fs in %llu/%lluB "
		    "out %llu/%lluB: %s", s->path, status, s->close_code,
		    c->end - c->start, (unsigned long long)s->msgs_in,
		    (unsigned long long)s->bytes_in,
		    (unsigned long long)s->msgs_out,
		    (unsigned long long)s->bytes_out,
		    c->why != NULL ? c->why : "closed");
		metrics_close_code(s->close_code);
	}
	s->be->free(s->bs);
	session_inflate_end(s);
	free(s->path);
	free(s->inm);
	free(s);
}

static const struct conn_ops session_ops = {
	.name = "websocket",
	.input = session_input,
	.output = session_output,
	.timeout = session_timeout,
	.update = session_update,
	.shutdown = session_shutdown,
	.closed = session_closed,
	.busy = session_busy,
	.free = session_free
};

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * A client connection from accept to free.  conn_update() derives what
 * the socket waits for from buffer state after every event; conn_close()
 * is the only place the socket is closed.  A conn is freed only once its
 * socket is closed and its program is reaped and its process group gone,
 * in whichever order those happen; the access line is written then,
 * when the exit status is known.
 */

#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wspipe.h"

struct connlist	conns = TAILQ_HEAD_INITIALIZER(conns);
int		shutting_down;

static unsigned long	conn_ids;

/*
 * Connections that are over wait here until the loop is about to block:
 * a callback may close c, and every caller up its stack may still read
 * it (redis's freeClientAsync).
 */
static struct connlist	conn_dead_list = TAILQ_HEAD_INITIALIZER(conn_dead_list);
static ev_prepare	conn_reaper;

static void	conn_io_cb(struct ev_loop *, ev_io *, int);
static void	conn_timer_cb(struct ev_loop *, ev_timer *, int);
static void	conn_ping_cb(struct ev_loop *, ev_timer *, int);

void
conn_log(struct conn *c, int level, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(level, c->tag, fmt, ap);
	va_end(ap);
}

static void
conn_peer(struct conn *c, struct sockaddr *sa)
{
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)sa;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)sa;
	struct in_addr		 v4;

	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		/* A dual-stack socket: show IPv4 peers as IPv4. */
		memcpy(&v4, &s6->sin6_addr.s6_addr[12], sizeof v4);
		inet_ntop(AF_INET, &v4, c->addr, sizeof c->addr);
		snprintf(c->port, sizeof c->port, "%u", ntohs(s6->sin6_port));
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &s6->sin6_addr, c->addr, sizeof c->addr);
		snprintf(c->port, sizeof c->port, "%u", ntohs(s6->sin6_port));
	} else {
		inet_ntop(AF_INET, &s4->sin_addr, c->addr, sizeof c->addr);
		snprintf(c->port, sizeof c->port, "%u", ntohs(s4->sin_port));
	}
	snprintf(c->tag, sizeof c->tag, "#%lu %s%s%s:%s", c->id,
	    strchr(c->addr, ':') != NULL ? "[" : "", c->addr,
	    strchr(c->addr, ':') != NULL ? "]" : "", c->port);
}

/* Takes over an accepted, non-blocking socket. */
void
conn_new(int fd, struct sockaddr *sa, socklen_t salen)
{
	struct conn	*c;

	c = xcalloc(1, sizeof *c);
	c->id = ++conn_ids;
	c->fd = fd;
	c->child.fd = c->child.errfd = -1;
	c->file = -1;
	c->start = ev_now(EV_DEFAULT);
	c->state = CONN_HTTP;
	buf_init(&c->in, HTTP_IN_CAP);
	buf_init(&c->out, OUT_CAP);
	conn_peer(c, sa);
	if (tls_enabled() && (c->tls = tls_new(fd)) == NULL) {
		conn_log(c, LOG_LEVEL_ERROR, "cannot start TLS");
		close(fd);
		free(c);
		return;
	}
	ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
	c->io.data = c;
	ev_io_start(EV_DEFAULT, &c->io);
	ev_init(&c->timer, conn_timer_cb);
	c->timer.data = c;
	c->timer.repeat = HANDSHAKE_TIMEOUT;
	ev_timer_again(EV_DEFAULT, &c->timer);
	ev_init(&c->ping, conn_ping_cb);
	c->ping.data = c;
	TAILQ_INSERT_TAIL(&conns, c, entry);
	conn_log(c, LOG_LEVEL_DEBUG, "accepted");
}

/* The upgrade is answered: relay from now on. */
void
conn_open(struct conn *c)
{
	c->state = CONN_OPEN;
	c->flags |= CONN_SESSION;
	ws_parser_init(&c->ws, conf.maxmsg, 1);
	utf8_init(&c->utf8);
	ev_timer_stop(EV_DEFAULT, &c->timer);
	c->last_rx = ev_now(EV_DEFAULT);
	if (conf.ping_interval > 0) {
		c->ping.repeat = conf.ping_interval;
		ev_timer_again(EV_DEFAULT, &c->ping);
	}
}

/* Returns 1 if the kernel knows the client's connection is gone. */
static int
conn_dead(struct conn *c)
{
	struct tcp_info	ti;
	socklen_t	len = sizeof ti;
	int		err = 0;

	len = sizeof err;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
	    err != 0)
		return (1);
	len = sizeof ti;
	if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    ti.tcpi_state == TCP_CLOSE)
		return (1);
	return (0);
}

/*
 * Keepalive, and the one time limit of a session: a client is alive while
 * whole frames keep coming from it (a pong is one), so a client that is
 * silent, trickles bytes of a frame it never finishes, or stops reading
 * (which pauses us, so its pong is never read) is closed within
 * --ping-interval + --ping-timeout of its last frame.  The timer is not
 * reset on every frame; when it fires it looks at the last frame's time
 * and sleeps again for what is left, as libev's documentation suggests.
 */
static void
conn_ping_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn	*c = w->data;
	ev_tstamp	 now = ev_now(loop), next;

	if (c->state != CONN_OPEN) {
		ev_timer_stop(loop, w);
		return;
	}
	if (c->flags & CONN_PAUSED) {
		/* Unread input hides a reset from poll: ask TCP. */
		if (conn_dead(c)) {
			conn_close(c, "client connection reset");
			return;
		}
		/*
		 * Paused because the program does not take its input: not
		 * the client's doing, and its pong waits unread behind it.
		 */
		if (buf_len(&c->out) < HIGH_WATER) {
			c->last_rx = now;
			c->ping_sent = 0;
		}
	}
	if (conf.ping_interval == 0) {
		if (c->flags & CONN_PAUSED) {
			w->repeat = PAUSED_CHECK;
			ev_timer_again(loop, w);
		} else
			ev_timer_stop(loop, w);
		return;
	}
	/* Any frame since our ping proves the peer is alive. */
	if (c->ping_sent != 0 && c->last_rx >= c->ping_sent)
		c->ping_sent = 0;
	if (c->ping_sent != 0 && conf.ping_timeout > 0 &&
	    now - c->ping_sent >= conf.ping_timeout) {
		conn_log(c, LOG_LEVEL_INFO, "no frame in %us after a ping",
		    conf.ping_timeout);
		conn_close(c, "ping timeout");
		return;
	}
	if (c->ping_sent == 0 && now - c->last_rx >= conf.ping_interval) {
		/* The wait starts even if a full queue leaves no room. */
		(void)relay_send(c, WS_OP_PING, 1, "", 0);
		c->ping_sent = now;
		if (conn_flush(c) == -1)
			return;
		conn_update(c);
	}
	if (c->ping_sent != 0)
		next = conf.ping_timeout > 0 ?
		    c->ping_sent + conf.ping_timeout - now : conf.ping_interval;
	else
		next = c->last_rx + conf.ping_interval - now;
	if ((c->flags & CONN_PAUSED) && next > PAUSED_CHECK)
		next = PAUSED_CHECK;
	w->repeat = next > 0.01 ? next : 0.01;
	ev_timer_again(loop, w);
}

static void
conn_set_timer(struct conn *c, ev_tstamp after)
{
	c->timer.repeat = after;
	ev_timer_again(EV_DEFAULT, &c->timer);
}

/* Entering a pause, make sure the TCP state is looked at soon. */
static void
conn_set_paused(struct conn *c, int paused)
{
	if (paused == ((c->flags & CONN_PAUSED) != 0))
		return;
	if (!paused) {
		c->flags &= ~CONN_PAUSED;
		return;
	}
	c->flags |= CONN_PAUSED;
	if (!ev_is_active(&c->ping) ||
	    ev_timer_remaining(EV_DEFAULT, &c->ping) > PAUSED_CHECK) {
		c->ping.repeat = PAUSED_CHECK;
		ev_timer_again(EV_DEFAULT, &c->ping);
	}
}

/* Recomputes what the socket waits for (STYLE 6: interest is derived). */
void
conn_update(struct conn *c)
{
	struct child	*ch = &c->child;
	int		 events = 0;

	if (c->flags & CONN_SOCK_CLOSED)
		return;
	if ((c->flags & CONN_FINISH) && buf_len(&c->out) == 0 &&
	    c->state != CONN_LINGER) {
		/*
		 * Everything is said: half-close and drain until the peer's
		 * EOF, so that a close frame is never lost to a reset.
		 */
		if (c->tls != NULL)
			tls_close_notify(c->tls);
		(void)shutdown(c->fd, SHUT_WR);
		c->state = CONN_LINGER;
		conn_set_timer(c, LINGER_TIMEOUT);
	}
	switch (c->state) {
	case CONN_HTTP:
	case CONN_CGI:
		/*
		 * Pipelined requests wait in c->in until their turn, and
		 * nothing more is read while the answers are not taken.
		 */
		if (buf_room(&c->in) > 0 && buf_len(&c->out) < HIGH_WATER)
			events |= EV_READ;
		break;
	case CONN_LINGER:
		events |= EV_READ;
		break;
	case CONN_DRAIN:
		/* Frames are dropped now; only EOF or a reset matters. */
		events |= EV_READ;
		break;
	case CONN_OPEN:
	case CONN_CLOSING:
		if ((c->flags & CONN_FINISH) ||
		    buf_len(&c->out) >= HIGH_WATER ||
		    buf_len(&ch->tochild) >= HIGH_WATER)
			break;
		events |= EV_READ;
		break;
	}
	if (buf_len(&c->out) > 0)
		events |= EV_WRITE;
	conn_set_paused(c, c->state == CONN_OPEN && !(events & EV_READ));
	if (c->tls != NULL) {
		/* TLS may need the other direction to make progress. */
		if ((events & EV_READ) && c->want_r != 0)
			events = (events & ~EV_READ) | c->want_r;
		if ((events & EV_WRITE) && c->want_w != 0)
			events = (events & ~EV_WRITE) | c->want_w;
		/* Decrypted bytes in OpenSSL wake no poll: feed an event. */
		if ((events & EV_READ) && c->want_r == 0 &&
		    tls_pending(c->tls))
			ev_feed_event(EV_DEFAULT, &c->io, EV_READ);
	}
	if (events != (c->io.events & (EV_READ | EV_WRITE))) {
		ev_io_stop(EV_DEFAULT, &c->io);
		ev_io_set(&c->io, c->fd, events);
		if (events != 0)
			ev_io_start(EV_DEFAULT, &c->io);
	}
	child_update(c);
}

/* Reads from the client, through TLS when it is on; read(2)'s contract. */
ssize_t
conn_recv(struct conn *c, void *buf, size_t len)
{
	if (c->tls == NULL)
		return (read(c->fd, buf, len));
	return (tls_read(c->tls, buf, len, &c->want_r));
}

static ssize_t
conn_send(struct conn *c, const void *buf, size_t len)
{
	if (c->tls == NULL)
		return (write(c->fd, buf, len));
	return (tls_write(c->tls, buf, len, &c->want_w));
}

/* Writes what is queued; returns -1 if the connection was closed. */
int
conn_flush(struct conn *c)
{
	ssize_t	n;

	if (c->flags & CONN_SOCK_CLOSED)
		return (0);
	while (buf_len(&c->out) > 0) {
		n = conn_send(c, buf_head(&c->out), buf_len(&c->out));
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return (0);
			conn_close(c, "client connection lost");
			return (-1);
		}
		buf_drain(&c->out, n);
	}
	return (0);
}

/* Sends a close frame once; then only the peer's close is awaited. */
void
conn_send_close(struct conn *c, int code, const char *reason)
{
	uint8_t	payload[WS_CONTROL_MAX];
	size_t	len = 0;

	if (c->flags & CONN_CLOSE_SENT)
		return;
	/* An empty close is answered with 1000 (Autobahn 7.3.1). */
	if (code == WS_CLOSE_NO_STATUS)
		code = WS_CLOSE_NORMAL;
	len = ws_close_payload(payload, code, reason);
	(void)relay_send(c, WS_OP_CLOSE, 1, payload, len);
	c->flags |= CONN_CLOSE_SENT;
	if (c->close_code == 0)
		c->close_code = code;
	c->state = CONN_CLOSING;
	if (!(c->flags & CONN_FINISH))
		conn_set_timer(c, CLOSE_TIMEOUT);
}

/* Fails the WebSocket connection (RFC 6455 7.1.7). */
void
conn_fail(struct conn *c, int code, const char *why)
{
	conn_log(c, LOG_LEVEL_INFO, "failing with %d: %s", code, why);
	c->why = why;
	c->close_code = code;
	c->close_reason = why;
	conn_drain(c);
}

/*
 * The client closed or broke the protocol: no more frames are read.  The
 * program's stdin is closed, and what it prints until its stdout ends
 * (at most DRAIN_TIMEOUT + --closems) is still delivered before our close
 * frame, so that the answers to messages already accepted are not lost.
 */
void
conn_drain(struct conn *c)
{
	if (c->state != CONN_OPEN) {
		if (c->state == CONN_CLOSING && (c->flags & CONN_CLOSE_RCVD))
			c->flags |= CONN_FINISH;
		conn_update(c);
		return;
	}
	c->state = CONN_DRAIN;
	ev_timer_stop(EV_DEFAULT, &c->ping);
	child_terminate(c);
	/* No program (listen mode), or its output is over: close now. */
	if (c->child.pid == 0 || (c->child.flags & CHILD_EOF)) {
		relay_drained(c);
		return;
	}
	conn_set_timer(c, DRAIN_TIMEOUT + conf.closems / 1000.0);
	conn_update(c);
}

/* Closes the client socket; the program is told by stdin EOF. */
void
conn_close(struct conn *c, const char *why)
{
	if (c->flags & CONN_SOCK_CLOSED)
		return;
	if (c->why == NULL)
		c->why = why;
	/* RFC 6455 7.1.5: no close frame means 1006. */
	if (c->close_code == 0 && c->state != CONN_HTTP)
		c->close_code = WS_CLOSE_ABNORMAL;
	ev_io_stop(EV_DEFAULT, &c->io);
	ev_timer_stop(EV_DEFAULT, &c->timer);
	ev_timer_stop(EV_DEFAULT, &c->ping);
	if (c->tls != NULL) {
		tls_free(c->tls);
		c->tls = NULL;
	}
	close(c->fd);
	c->fd = -1;
	c->flags |= CONN_SOCK_CLOSED;
	c->end = ev_now(EV_DEFAULT);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->cgi_head);
	if (c->file != -1) {
		close(c->file);
		c->file = -1;
	}
	listen_close(c);
	child_terminate(c);
	if (c->child.flags & CHILD_REAPED)
		child_close_fds(c);
	else
		child_update(c);
	conn_maybe_free(c);
}

static void
conn_access(struct conn *c)
{
	struct child	*ch = &c->child;
	char		 path[256], status[48];

	log_vis(path, sizeof path, c->path != NULL ? c->path : "-",
	    c->path != NULL ? strlen(c->path) : 1);
	if (ch->pid == 0)
		snprintf(status, sizeof status, "-");
	else if (WIFSIGNALED(ch->status))
		snprintf(status, sizeof status, "pid %ld signal %d",
		    (long)ch->pid, WTERMSIG(ch->status));
	else
		snprintf(status, sizeof status, "pid %ld exit %d",
		    (long)ch->pid, WEXITSTATUS(ch->status));
	conn_log(c, LOG_LEVEL_ACCESS, "%s %s %d %.3fs in %llu/%lluB "
	    "out %llu/%lluB: %s", path, status, c->close_code, c->end - c->start,
	    (unsigned long long)c->msgs_in, (unsigned long long)c->bytes_in,
	    (unsigned long long)c->msgs_out, (unsigned long long)c->bytes_out,
	    c->why != NULL ? c->why : "closed");
}

/* Frees every connection that was retired since the last iteration. */
void
conn_reap(void)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&conn_dead_list)) != NULL) {
		TAILQ_REMOVE(&conn_dead_list, c, entry);
		buf_free(&c->in);
		buf_free(&c->out);
		buf_free(&c->cgi_head);
		http_free(c->http);
		listen_free(c);
		free(c->path);
		free(c);
	}
}

static void
conn_reaper_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	ev_prepare_stop(loop, w);
	conn_reap();
}

/*
 * Retires c once its socket is closed and its program is all gone: it
 * leaves the list of connections now and is freed when the loop is about
 * to block, never under a caller that holds it.
 */
void
conn_maybe_free(struct conn *c)
{
	if (!(c->flags & CONN_SOCK_CLOSED) || !child_done(c) ||
	    (c->flags & CONN_RETIRED))
		return;
	c->flags |= CONN_RETIRED;
	/* HTTP requests were logged one by one; sessions are logged here. */
	if (c->flags & CONN_SESSION)
		conn_access(c);
	TAILQ_REMOVE(&conns, c, entry);
	TAILQ_INSERT_TAIL(&conn_dead_list, c, entry);
	if (!ev_is_active(&conn_reaper)) {
		ev_prepare_init(&conn_reaper, conn_reaper_cb);
		ev_prepare_start(EV_DEFAULT, &conn_reaper);
	}
	if (shutting_down && TAILQ_EMPTY(&conns))
		ev_break(EV_DEFAULT, EVBREAK_ALL);
}

static void
conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn		*c = w->data;
	unsigned long long	 left;

	/* A TLS read may wait for writability and a write for input. */
	if (c->tls != NULL) {
		if (c->want_r & revents)
			revents |= EV_READ;
		if (c->want_w & revents)
			revents |= EV_WRITE;
	}
	if (revents & EV_WRITE) {
		if (conn_flush(c) == -1)
			return;
		if (c->file != -1) {
			left = c->file_left;
			static_pump(c);
			/*
			 * Progress on a long answer is not idleness, but
			 * progress is a chunk taken, not a byte.
			 */
			if (c->file_left != left || c->file == -1)
				ev_timer_again(loop, &c->timer);
		}
		if (c->lc != NULL)
			listen_catch_up(c);
	}
	if (revents & EV_READ) {
		switch (c->state) {
		case CONN_HTTP:
		case CONN_CGI:
			if (http_read(c) == -1)
				return;
			break;
		case CONN_OPEN:
		case CONN_DRAIN:
		case CONN_CLOSING:
		case CONN_LINGER:
			if (relay_client_read(c) == -1)
				return;
			break;
		}
	} else if (c->state == CONN_HTTP && http_process(c) == -1)
		return;
	conn_update(c);
}

static void
conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn	*c = w->data;

	switch (c->state) {
	case CONN_HTTP:
		conn_close(c, c->http != NULL || c->file != -1 ?
		    "request timeout" : "idle timeout");
		break;
	case CONN_CGI:
		cgi_timeout(c);
		break;
	case CONN_DRAIN:
		relay_drained(c);
		break;
	case CONN_CLOSING:
		conn_close(c, "no close frame from the client");
		break;
	default:
		conn_close(c, c->why != NULL ? c->why : "closed");
		break;
	}
}

/* SIGTERM: every client gets 1001, every program its termination. */
void
conn_shutdown_all(void)
{
	struct conn	*c, *tmp;

	shutting_down = 1;
	TAILQ_FOREACH_SAFE(c, &conns, entry, tmp) {
		if (c->flags & CONN_SOCK_CLOSED)
			continue;
		if (c->state == CONN_HTTP || c->state == CONN_CGI) {
			conn_close(c, "server shutting down");
			continue;
		}
		if (c->state == CONN_OPEN) {
			c->why = "server shutting down";
			conn_send_close(c, WS_CLOSE_GOING_AWAY,
			    "server shutting down");
			child_terminate(c);
		}
		if (conn_flush(c) == 0)
			conn_update(c);
	}
	if (TAILQ_EMPTY(&conns))
		ev_break(EV_DEFAULT, EVBREAK_ALL);
}

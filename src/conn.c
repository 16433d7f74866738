/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The transport of a client connection, from accept to free: the socket
 * and TLS, the input and output buffers, what the socket waits for, one
 * timer, and the one close path.  It names no role: what a connection
 * does (answer HTTP requests, run a WebSocket session, a CGI script) is
 * reached through the role's struct conn_ops, and a role changes with
 * conn_set_role().  conn_update() derives what the socket waits for from
 * buffer state and the role's answer after every event; conn_close() is
 * the only place the socket is closed.  A conn is retired once its
 * socket is closed and its role holds nothing that outlives it (a
 * program), and freed when the loop is about to block: never under a
 * caller that still holds it.
 */

#include <sys/ioctl.h>
#include <sys/socket.h>

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
 * Connections that are over wait here until the loop is about to block
 * (redis's freeClientAsync): a hook may close c, and every caller up
 * its stack may still read it.
 */
static struct connlist	conn_retired = TAILQ_HEAD_INITIALIZER(conn_retired);
static ev_prepare	conn_reaper;
static uint8_t		conn_scratch[READ_MAX];

static void	conn_io_cb(struct ev_loop *, ev_io *, int);
static void	conn_timer_cb(struct ev_loop *, ev_timer *, int);

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
	} else if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, c->addr, sizeof c->addr);
		snprintf(c->port, sizeof c->port, "%u", ntohs(s4->sin_port));
	} else {
		/* --unixsocket: websocketd's REMOTE_ADDR for it. */
		strlcpy(c->addr, "unix-socket", sizeof c->addr);
		strlcpy(c->port, "0", sizeof c->port);
	}
	snprintf(c->tag, sizeof c->tag, "#%lu %s%s%s:%s", c->id,
	    strchr(c->addr, ':') != NULL ? "[" : "", c->addr,
	    strchr(c->addr, ':') != NULL ? "]" : "", c->port);
}

/*
 * Takes over an accepted, non-blocking socket and gives it its first
 * role, over TLS (with --ssl) unless plain; returns NULL (the socket
 * closed) if TLS cannot start.
 */
struct conn *
conn_new(int fd, struct sockaddr *sa, const struct conn_ops *ops,
    void *role, int plain)
{
	struct conn	*c;

	c = xcalloc(1, sizeof *c);
	c->id = ++conn_ids;
	c->fd = fd;
	c->start = ev_now(EV_DEFAULT);
	buf_init(&c->in, CONN_IN_CAP);
	buf_init(&c->out, OUT_CAP);
	conn_peer(c, sa);
	if (!plain && tls_enabled() && (c->tls = tls_new(fd)) == NULL) {
		conn_log(c, LOG_LEVEL_ERROR, "cannot start TLS");
		close(fd);
		free(c);
		return (NULL);
	}
	ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
	c->io.data = c;
	ev_io_start(EV_DEFAULT, &c->io);
	ev_init(&c->timer, conn_timer_cb);
	c->timer.data = c;
	TAILQ_INSERT_TAIL(&conns, c, entry);
	conn_log(c, LOG_LEVEL_DEBUG, "accepted");
	conn_set_role(c, ops, role);
	return (c);
}

/* From now on c plays another role (an upgrade, a CGI script). */
void
conn_set_role(struct conn *c, const struct conn_ops *ops, void *role)
{
	c->ops = ops;
	c->role = role;
}

/* Starts or restarts the role's timer; 0 stops it. */
void
conn_set_timer(struct conn *c, double after)
{
	if (c->flags & (CONN_SOCK_CLOSED | CONN_LINGER))
		return;
	if (after <= 0) {
		ev_timer_stop(EV_DEFAULT, &c->timer);
		return;
	}
	c->timer.repeat = after;
	ev_timer_again(EV_DEFAULT, &c->timer);
}

/* Everything is said: shut TCP once the output is written. */
void
conn_finish(struct conn *c)
{
	c->flags |= CONN_FINISH;
	conn_update(c);
}

/* Returns 1 if the kernel knows the client's connection is gone. */
int
conn_dead(struct conn *c)
{
	struct tcp_info	ti;
	socklen_t	len;
	int		err = 0;

	if (c->flags & CONN_SOCK_CLOSED)
		return (1);
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

/* Recomputes what the socket waits for (STYLE 6: interest is derived). */
void
conn_update(struct conn *c)
{
	int	events = 0, want;

	if (c->flags & CONN_SOCK_CLOSED)
		return;
	if ((c->flags & CONN_FINISH) && buf_len(&c->out) == 0 &&
	    !(c->flags & CONN_LINGER)) {
		/*
		 * Everything is said: half-close and drain until the peer's
		 * EOF, so that our last bytes are never lost to a reset.
		 */
		if (c->tls != NULL)
			tls_close_notify(c->tls);
		(void)shutdown(c->fd, SHUT_WR);
		c->flags |= CONN_LINGER;
		c->timer.repeat = LINGER_TIMEOUT;
		ev_timer_again(EV_DEFAULT, &c->timer);
	}
	/* The role derives its own interest whatever the socket's. */
	want = c->ops->update(c);
	if (c->flags & CONN_SOCK_CLOSED)
		return;
	if (c->flags & CONN_LINGER)
		events |= EV_READ;
	else if (!(c->flags & CONN_FINISH) && want && buf_room(&c->in) > 0)
		events |= EV_READ;
	if (buf_len(&c->out) > 0)
		events |= EV_WRITE;
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
	if (events != (c->io.events & (EV_READ | EV_WRITE)) ||
	    (events != 0) != ev_is_active(&c->io)) {
		ev_io_stop(EV_DEFAULT, &c->io);
		ev_io_set(&c->io, c->fd, events);
		if (events != 0)
			ev_io_start(EV_DEFAULT, &c->io);
	}
}

static ssize_t
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

/*
 * Reads what c->in has room for, at most READ_MAX; returns bytes read,
 * or 0 with c closed at EOF or on an error, or -1 if nothing came.
 * The read goes to a scratch buffer that an empty c->in borrows: the
 * role reads it in place, and conn_io_cb() keeps (copies) only what the
 * role left, so a read costs no allocation unless input must wait.
 */
static ssize_t
conn_read(struct conn *c)
{
	size_t		 want;
	ssize_t		 n;

	want = buf_room(&c->in) < READ_MAX ? buf_room(&c->in) : READ_MAX;
	if (want == 0)
		return (-1);
	n = conn_recv(c, conn_scratch, want);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return (-1);
		conn_close(c, "client connection reset");
		return (0);
	}
	if (n == 0) {
		conn_close(c, "client closed the connection");
		return (0);
	}
	/* It fits: want was bounded by the room. */
	if (buf_len(&c->in) == 0)
		buf_borrow(&c->in, conn_scratch, n);
	else
		(void)buf_append(&c->in, conn_scratch, n);
	return (n);
}

/* Writes what is queued; returns -1 if the connection was closed. */
int
conn_flush(struct conn *c)
{
	ssize_t	n;

	if (c->flags & CONN_SOCK_CLOSED)
		return (-1);
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

/*
 * Writes what c->out holds now, as far as the socket takes it, and leaves
 * an error to c's own callback: for a fan-out, under whose loop no role
 * hook may run.
 */
void
conn_write(struct conn *c)
{
	ssize_t	n;

	while (!(c->flags & CONN_SOCK_CLOSED) && buf_len(&c->out) > 0) {
		if ((n = conn_send(c, buf_head(&c->out), buf_len(&c->out))) <= 0)
			return;
		buf_drain(&c->out, n);
	}
}

/* 1 if the client has sent bytes that wait, unread, in the socket. */
int
conn_unread(struct conn *c)
{
	int	n = 0;

	if (c->flags & CONN_SOCK_CLOSED)
		return (0);
	if (c->tls != NULL && tls_pending(c->tls) > 0)
		return (1);
	return (ioctl(c->fd, FIONREAD, &n) == 0 && n > 0);
}

/* Writes c's output from its own callback, after the current event. */
void
conn_kick(struct conn *c)
{
	if (!(c->flags & CONN_SOCK_CLOSED))
		ev_feed_event(EV_DEFAULT, &c->io, EV_WRITE);
}

/*
 * Closes the client socket and tells the role, which lets go of what
 * depends on it (a program is told by stdin EOF).  c stays readable.
 */
void
conn_close(struct conn *c, const char *why)
{
	if (c->flags & CONN_SOCK_CLOSED)
		return;
	if (c->why == NULL)
		c->why = why;
	ev_io_stop(EV_DEFAULT, &c->io);
	ev_timer_stop(EV_DEFAULT, &c->timer);
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
	c->ops->closed(c);
	conn_maybe_free(c);
}

/* Frees every connection that was retired since the loop last blocked. */
void
conn_reap(void)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&conn_retired)) != NULL) {
		TAILQ_REMOVE(&conn_retired, c, entry);
		c->ops->free(c);
		buf_free(&c->in);
		buf_free(&c->out);
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
 * Retires c once its socket is closed and its role waits for nothing
 * (a program is all gone): it leaves the list of connections now and is
 * freed when the loop is about to block.
 */
void
conn_maybe_free(struct conn *c)
{
	if (!(c->flags & CONN_SOCK_CLOSED) || (c->flags & CONN_RETIRED) ||
	    c->ops->busy(c))
		return;
	c->flags |= CONN_RETIRED;
	TAILQ_REMOVE(&conns, c, entry);
	TAILQ_INSERT_TAIL(&conn_retired, c, entry);
	if (!ev_is_active(&conn_reaper)) {
		ev_prepare_init(&conn_reaper, conn_reaper_cb);
		ev_prepare_start(EV_DEFAULT, &conn_reaper);
	}
}

/*
 * Writes what is queued and, if the client took some, lets the role
 * produce more.  Returns -1 if c was closed.
 */
static int
conn_drain_out(struct conn *c)
{
	size_t	before = buf_len(&c->out);

	if (conn_flush(c) == -1)
		return (-1);
	if (buf_len(&c->out) < before && !(c->flags & CONN_LINGER))
		c->ops->output(c);
	return ((c->flags & CONN_SOCK_CLOSED) ? -1 : 0);
}

static void
conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn	*c = w->data;

	/* A TLS read may wait for writability and a write for input. */
	if (c->tls != NULL) {
		if (c->want_r & revents)
			revents |= EV_READ;
		if (c->want_w & revents)
			revents |= EV_WRITE;
	}
	if ((revents & EV_WRITE) && conn_drain_out(c) == -1)
		return;
	if (revents & EV_READ) {
		if (c->flags & CONN_LINGER) {
			/* Whatever comes now is dropped; EOF ends it. */
			while (conn_read(c) > 0)
				buf_free(&c->in);
			if (c->flags & CONN_SOCK_CLOSED)
				return;
		} else if (conn_read(c) > 0 || buf_len(&c->in) > 0) {
			c->ops->input(c);
			/* What waits must not stay in the scratch buffer. */
			if (buf_keep(&c->in) == -1)
				conn_close(c, "out of memory");
		}
		if (c->flags & CONN_SOCK_CLOSED)
			return;
		/* Answers go out now, not a loop iteration later. */
		if (buf_len(&c->out) > 0 && conn_drain_out(c) == -1)
			return;
	}
	conn_update(c);
}

static void
conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn	*c = w->data;

	if (c->flags & CONN_LINGER) {
		conn_close(c, NULL);
		return;
	}
	c->ops->timeout(c);
}

/* SIGTERM: each connection's role ends it its own way. */
void
conn_shutdown_all(void)
{
	struct conn	*c, *tmp;

	shutting_down = 1;
	TAILQ_FOREACH_SAFE(c, &conns, entry, tmp) {
		if (c->flags & CONN_SOCK_CLOSED)
			continue;
		c->ops->shutdown(c);
		if (conn_flush(c) == 0)
			conn_update(c);
	}
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Listen mode, gateway side.  A WebSocket on the listen path runs no
 * program: its text messages are pubsub.c commands.  The gateway keeps
 * one connection to the broker for all its clients, subscribing to a
 * resource there when its first client does and unsubscribing after the
 * last, and fans each update out to its clients.  It remembers the last
 * state of each resource it follows, which serves a client that joins
 * late and a client that is too slow: such a client's updates are
 * conflated, so it always ends up with the newest state of each of its
 * resources while its memory stays bounded.
 *
 * Everything about the broker is behind listen_broker_*: a backend that
 * spans machines would replace those few functions.
 */

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/tree.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wspipe.h"
#include "pubsub.h"

#define LISTEN_SUBS_MAX		1024		/* per client */
#define LISTEN_BROKER_QUEUE	(4 * 1024 * 1024)
#define LISTEN_RETRY_MIN	0.05
#define LISTEN_RETRY_MAX	1.0

struct lres;

struct lsub {
	TAILQ_ENTRY(lsub)	 rentry;	/* in the resource's list */
	TAILQ_ENTRY(lsub)	 centry;	/* in the client's list */
	TAILQ_ENTRY(lsub)	 dentry;	/* in the client's late list */
	struct lclient		*lc;
	struct lres		*r;
	int			 late;		/* newest state not sent yet */
};

struct lres {
	RB_ENTRY(lres)		 node;
	TAILQ_HEAD(, lsub)	 subs;
	size_t			 nsubs;
	char			*name;
	char			*data;		/* last state seen, or NULL */
	size_t			 datalen;
};

struct lclient {
	struct session		*s;
	TAILQ_HEAD(, lsub)	 subs;
	TAILQ_HEAD(, lsub)	 late;
	size_t			 nsubs;
	struct buf		 msg;		/* the message being received */
	int			 toolong;
};

static int	lres_cmp(struct lres *, struct lres *);
RB_HEAD(lres_tree, lres);
RB_PROTOTYPE(lres_tree, lres, node, lres_cmp)
RB_GENERATE(lres_tree, lres, node, lres_cmp)

static struct lres_tree	listen_res = RB_INITIALIZER(&listen_res);

/* The broker link. */
static struct {
	char		*path;
	char		*dir;		/* private directory we made, or NULL */
	int		 own;		/* we run the broker */
	struct child	 ch;		/* our broker, while running */
	int		 running;
	ev_timer	 restart;
	int		 fd;
	ev_io		 io;
	ev_timer	 retry;
	double		 backoff;
	struct buf	 in;
	struct buf	 out;
	int		 up;
} lb = { .fd = -1 };

static void	listen_broker_connect(void);
static void	listen_broker_line(const char *, size_t);

static int
lres_cmp(struct lres *a, struct lres *b)
{
	return (strcmp(a->name, b->name));
}

static struct lres *
listen_find(const char *name, size_t len, int create)
{
	struct lres	 key, *r;
	char		 buf[PUBSUB_RESOURCE_MAX + 1];

	memcpy(buf, name, len);
	buf[len] = '\0';
	key.name = buf;
	if ((r = RB_FIND(lres_tree, &listen_res, &key)) != NULL || !create)
		return (r);
	r = xcalloc(1, sizeof *r);
	r->name = xstrdup(buf);
	TAILQ_INIT(&r->subs);
	RB_INSERT(lres_tree, &listen_res, r);
	return (r);
}

/* The client's subscription to a resource, or NULL. */
static struct lsub *
listen_sub(struct lclient *lc, const char *name, size_t len)
{
	struct lres	*r;
	struct lsub	*s;

	if ((r = listen_find(name, len, 0)) == NULL)
		return (NULL);
	TAILQ_FOREACH(s, &lc->subs, centry)
		if (s->r == r)
			return (s);
	return (NULL);
}

/* Returns 1 if a WebSocket to this path is a listen endpoint. */
int
listen_match(const char *path)
{
	if (!conf.listen)
		return (0);
	return (conf.listen_path == NULL || strcmp(path, conf.listen_path) == 0);
}

const char *
listen_broker_path(void)
{
	return (lb.path);
}

/* Queues a line for the broker; -1 if it is away or far behind. */
static int
listen_broker_send(const char *verb, const char *r, size_t rlen,
    const char *data, size_t dlen)
{
	char	line[PUBSUB_LINE_MAX + 2];
	size_t	n;

	if (!lb.up || buf_len(&lb.out) > LISTEN_BROKER_QUEUE)
		return (-1);
	n = snprintf(line, sizeof line, "%s ", verb);
	memcpy(line + n, r, rlen);
	n += rlen;
	if (data != NULL) {
		line[n++] = ' ';
		memcpy(line + n, data, dlen);
		n += dlen;
	}
	line[n++] = '\n';
	if (buf_append(&lb.out, line, n) == -1)
		return (-1);
	ev_io_stop(EV_DEFAULT, &lb.io);
	ev_io_set(&lb.io, lb.fd, EV_READ | EV_WRITE);
	ev_io_start(EV_DEFAULT, &lb.io);
	return (0);
}

/* Sends one text message of the listen protocol to a client. */
static void
listen_reply(struct lclient *lc, const char *a, const char *b, size_t blen,
    const char *d, size_t dlen)
{
	char	msg[PUBSUB_LINE_MAX + 2];
	size_t	n;

	n = strlcpy(msg, a, sizeof msg);
	if (b != NULL) {
		msg[n++] = ' ';
		memcpy(msg + n, b, blen);
		n += blen;
	}
	if (d != NULL) {
		msg[n++] = ' ';
		memcpy(msg + n, d, dlen);
		n += dlen;
	}
	(void)session_send(lc->s, WS_OP_TEXT, 1, msg, n);
}

static void
listen_error(struct lclient *lc, const char *text)
{
	listen_reply(lc, "error", text, strlen(text), NULL, 0);
}

/*
 * Gives a subscriber the resource's state now, or marks it late when the
 * client is behind: it will get the newest state once it has caught up.
 */
static void
listen_deliver(struct lsub *s)
{
	struct lclient	*lc = s->lc;
	struct lres	*r = s->r;

	if (r->data == NULL)
		return;
	if (session_queued(lc->s) >= HIGH_WATER) {
		if (!s->late) {
			s->late = 1;
			TAILQ_INSERT_TAIL(&lc->late, s, dentry);
		}
		return;
	}
	listen_reply(lc, "update", r->name, strlen(r->name), r->data,
	    r->datalen);
}

/* The client's queue has room again: send what it missed, newest only. */
static void
listen_catch_up(void *arg)
{
	struct lclient	*lc = arg;
	struct lsub	*s;

	while (session_open(lc->s) && session_queued(lc->s) < HIGH_WATER &&
	    (s = TAILQ_FIRST(&lc->late)) != NULL) {
		TAILQ_REMOVE(&lc->late, s, dentry);
		s->late = 0;
		listen_deliver(s);
	}
}

/* A new state from the broker: remember it and fan it out. */
static void
listen_update(const char *name, size_t len, const char *data, size_t dlen)
{
	struct lres	*r;
	struct lsub	*s;

	if ((r = listen_find(name, len, 0)) == NULL)
		return;
	free(r->data);
	r->data = xmalloc(dlen + 1);
	memcpy(r->data, data, dlen);
	r->datalen = dlen;
	TAILQ_FOREACH(s, &r->subs, rentry)
		if (!s->late)
			listen_deliver(s);
	/* One write per client, after the loop: c stays valid in it. */
	TAILQ_FOREACH(s, &r->subs, rentry)
		if (session_queued(s->lc->s) > 0)
			conn_kick(session_conn(s->lc->s));
}

static void
listen_subscribe(struct lclient *lc, const struct pubsub_msg *m)
{
	struct lres	*r;
	struct lsub	*s;

	if ((s = listen_sub(lc, m->resource, m->resourcelen)) == NULL) {
		if (lc->nsubs >= LISTEN_SUBS_MAX) {
			listen_error(lc, "too many subscriptions (1024 at most)");
			return;
		}
		r = listen_find(m->resource, m->resourcelen, 1);
		s = xcalloc(1, sizeof *s);
		s->lc = lc;
		s->r = r;
		TAILQ_INSERT_TAIL(&r->subs, s, rentry);
		TAILQ_INSERT_TAIL(&lc->subs, s, centry);
		lc->nsubs++;
		/* The first subscriber here subscribes us at the broker. */
		if (r->nsubs++ == 0)
			(void)listen_broker_send("subscribe", r->name,
			    strlen(r->name), NULL, 0);
	}
	listen_reply(lc, "ok subscribe", m->resource, m->resourcelen, NULL, 0);
	listen_deliver(s);
}

static void
listen_unsub(struct lsub *s)
{
	struct lclient	*lc = s->lc;
	struct lres	*r = s->r;

	TAILQ_REMOVE(&r->subs, s, rentry);
	TAILQ_REMOVE(&lc->subs, s, centry);
	if (s->late)
		TAILQ_REMOVE(&lc->late, s, dentry);
	lc->nsubs--;
	free(s);
	if (--r->nsubs > 0)
		return;
	(void)listen_broker_send("unsubscribe", r->name, strlen(r->name),
	    NULL, 0);
	RB_REMOVE(lres_tree, &listen_res, r);
	free(r->name);
	free(r->data);
	free(r);
}

static void
listen_unsubscribe(struct lclient *lc, const struct pubsub_msg *m)
{
	struct lsub	*s;

	if ((s = listen_sub(lc, m->resource, m->resourcelen)) != NULL)
		listen_unsub(s);
	listen_reply(lc, "ok unsubscribe", m->resource, m->resourcelen, NULL,
	    0);
}

static void
listen_publish(struct lclient *lc, const struct pubsub_msg *m)
{
	size_t	n;

	if (conf.listen_publish == NULL || ((n = strlen(
	    conf.listen_publish)) > 0 && (m->resourcelen < n ||
	    memcmp(m->resource, conf.listen_publish, n) != 0))) {
		listen_reply(lc, "error publish", m->resource, m->resourcelen,
		    "not allowed", 11);
		return;
	}
	if (listen_broker_send("publish", m->resource, m->resourcelen,
	    m->data, m->datalen) == -1) {
		listen_reply(lc, "error publish", m->resource, m->resourcelen,
		    "broker unavailable", 18);
		return;
	}
	listen_reply(lc, "ok publish", m->resource, m->resourcelen, NULL, 0);
}

/* One complete message from a listen client. */
static void
listen_command(struct lclient *lc, const char *s, size_t len)
{
	struct pubsub_msg	 m;
	const char		*errstr;

	if (pubsub_parse(s, len, &m, &errstr) == -1) {
		listen_error(lc, errstr);
		return;
	}
	switch (m.verb) {
	case PUBSUB_SUBSCRIBE:
		listen_subscribe(lc, &m);
		break;
	case PUBSUB_UNSUBSCRIBE:
		listen_unsubscribe(lc, &m);
		break;
	case PUBSUB_PUBLISH:
		listen_publish(lc, &m);
		break;
	case PUBSUB_PING:
		listen_reply(lc, "pong", NULL, 0, NULL, 0);
		break;
	default:
		listen_error(lc, "unknown command (subscribe, unsubscribe, "
		    "publish, ping)");
		break;
	}
}

/* A piece of a text message from a listen client. */
static int
listen_message(void *arg, const uint8_t *data, size_t len, int fin)
{
	struct lclient	*lc = arg;

	if (!lc->toolong && buf_append(&lc->msg, data, len) == -1) {
		lc->toolong = 1;
		buf_free(&lc->msg);
	}
	if (!fin)
		return (0);
	if (lc->toolong)
		listen_error(lc, "message too long");
	else if (buf_len(&lc->msg) == 0)
		listen_command(lc, "", 0);
	else
		listen_command(lc, (const char *)buf_head(&lc->msg),
		    buf_len(&lc->msg));
	lc->toolong = 0;
	buf_free(&lc->msg);
	return (0);
}

struct lclient *
listen_new(void)
{
	struct lclient	*lc;

	lc = xcalloc(1, sizeof *lc);
	TAILQ_INIT(&lc->subs);
	TAILQ_INIT(&lc->late);
	buf_init(&lc->msg, PUBSUB_LINE_MAX);
	return (lc);
}

static void
listen_attach(void *arg, struct session *s)
{
	struct lclient	*lc = arg;

	lc->s = s;
}

/* Commands are handled as they come: there is always room. */
static int
listen_room(void *arg)
{
	return (1);
}

static void
listen_update_cb(void *arg)
{
}

/* A listen client has nothing more to say once its client is done. */
static int
listen_drain(void *arg)
{
	return (1);
}

/* The client is gone or we are: it leaves every resource. */
static void
listen_stop(void *arg, int gone)
{
	struct lclient	*lc = arg;
	struct lsub	*s;

	if (!gone)
		return;
	while ((s = TAILQ_FIRST(&lc->subs)) != NULL)
		listen_unsub(s);
	buf_free(&lc->msg);
}

static int
listen_busy(void *arg)
{
	return (0);
}

static void
listen_status(void *arg, char *out, size_t outsz)
{
	strlcpy(out, "-", outsz);
}

static void
listen_free(void *arg)
{
	struct lclient	*lc = arg;
	struct lsub	*s;

	while ((s = TAILQ_FIRST(&lc->subs)) != NULL)
		listen_unsub(s);
	buf_free(&lc->msg);
	free(lc);
}

const struct session_backend listen_backend = {
	.attach = listen_attach,
	.message = listen_message,
	.room = listen_room,
	.update = listen_update_cb,
	.writable = listen_catch_up,
	.drain = listen_drain,
	.stop = listen_stop,
	.busy = listen_busy,
	.status = listen_status,
	.free = listen_free
};

/* The broker link is up: (re)subscribe to everything our clients want. */
static void
listen_broker_up(void)
{
	struct lres	*r;

	lb.up = 1;
	lb.backoff = LISTEN_RETRY_MIN;
	RB_FOREACH(r, lres_tree, &listen_res)
		(void)listen_broker_send("subscribe", r->name,
		    strlen(r->name), NULL, 0);
	log_info("connected to the broker at %s", lb.path);
}

static void
listen_broker_down(const char *why)
{
	if (lb.fd == -1)
		return;
	if (lb.up && !shutting_down)
		log_info("lost the broker: %s", why);
	ev_io_stop(EV_DEFAULT, &lb.io);
	close(lb.fd);
	lb.fd = -1;
	lb.up = 0;
	buf_free(&lb.in);
	buf_free(&lb.out);
	if (!shutting_down) {
		lb.retry.repeat = lb.backoff;
		ev_timer_again(EV_DEFAULT, &lb.retry);
	}
}

static void
listen_broker_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	const unsigned char	*p, *nl;
	unsigned char		*q;
	ssize_t			 n;

	if (revents & EV_WRITE) {
		n = write(lb.fd, buf_head(&lb.out), buf_len(&lb.out));
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			listen_broker_down(strerror(errno));
			return;
		}
		if (n > 0)
			buf_drain(&lb.out, n);
		if (buf_len(&lb.out) == 0) {
			ev_io_stop(loop, w);
			ev_io_set(w, lb.fd, EV_READ);
			ev_io_start(loop, w);
		}
	}
	if (!(revents & EV_READ))
		return;
	q = buf_reserve(&lb.in, buf_room(&lb.in));
	n = read(lb.fd, q, buf_room(&lb.in));
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		listen_broker_down(n == 0 ? "end of file" : strerror(errno));
		return;
	}
	if (n < 0)
		return;
	buf_commit(&lb.in, n);
	while (buf_len(&lb.in) > 0) {
		p = buf_head(&lb.in);
		if ((nl = memchr(p, '\n', buf_len(&lb.in))) == NULL) {
			if (buf_room(&lb.in) == 0)
				listen_broker_down("line too long");
			return;
		}
		listen_broker_line((const char *)p, nl - p);
		buf_drain(&lb.in, nl - p + 1);
	}
}

static void
listen_broker_line(const char *s, size_t len)
{
	struct pubsub_msg	 m;
	const char		*errstr;

	if (pubsub_parse(s, len, &m, &errstr) == -1)
		return;
	if (m.verb == PUBSUB_UPDATE)
		listen_update(m.resource, m.resourcelen, m.data, m.datalen);
	else if (m.verb == PUBSUB_ERROR)
		log_info("broker: %.*s", (int)m.datalen, m.data);
}

static void
listen_broker_connect(void)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, lb.path, sizeof sun.sun_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 || connect(fd, (struct sockaddr *)&sun, sizeof sun) ==
	    -1) {
		if (fd != -1)
			close(fd);
		lb.backoff = lb.backoff * 2 > LISTEN_RETRY_MAX ?
		    LISTEN_RETRY_MAX : lb.backoff * 2;
		lb.retry.repeat = lb.backoff;
		ev_timer_again(EV_DEFAULT, &lb.retry);
		return;
	}
	lb.fd = fd;
	buf_init(&lb.in, PUBSUB_LINE_MAX + 2);
	buf_init(&lb.out, LISTEN_BROKER_QUEUE + PUBSUB_LINE_MAX + 2);
	ev_io_init(&lb.io, listen_broker_io_cb, fd, EV_READ);
	ev_io_start(EV_DEFAULT, &lb.io);
	ev_timer_stop(EV_DEFAULT, &lb.retry);
	listen_broker_up();
}

static void
listen_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_timer_stop(loop, w);
	if (lb.fd == -1 && !shutting_down)
		listen_broker_connect();
}

static void	listen_broker_start(void);

static void
listen_broker_exited_cb(void *arg)
{
	if (!shutting_down)
		log_warnx("the broker (pid %ld) ended with status %d; "
		    "restarting it", (long)lb.ch.pid, lb.ch.status);
}

/* Its process group is gone too: a new one may start. */
static void
listen_broker_gone_cb(void *arg)
{
	lb.running = 0;
	if (!shutting_down)
		ev_timer_again(EV_DEFAULT, &lb.restart);
}

static const struct child_cb listen_broker_cb = {
	.exited = listen_broker_exited_cb,
	.gone = listen_broker_gone_cb
};

static void
listen_restart_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_timer_stop(loop, w);
	if (!shutting_down && !lb.running)
		listen_broker_start();
}

/*
 * Runs our own binary as `wspipe broker`, through child.c like every
 * program, so that it is ended and reaped like one; it is also sent
 * SIGTERM if we die.
 */
static void
listen_broker_start(void)
{
	static char	 name[] = "wspipe", cmd[] = "broker";
	static char	 info[] = "--loglevel=info", error[] = "--loglevel=error";
	char		*argv[5], *env[2], *sock, *envvar;
	int		 r;

	xasprintf(&sock, "--socket=%s", lb.path);
	xasprintf(&envvar, "WSPIPE_BROKER=%s", lb.path);
	argv[0] = name;
	argv[1] = cmd;
	argv[2] = sock;
	argv[3] = conf.loglevel <= LOG_LEVEL_INFO ? info : error;
	argv[4] = NULL;
	env[0] = envvar;
	env[1] = NULL;
	r = child_spawn(&lb.ch, &listen_broker_cb, NULL, NULL, conf.self,
	    argv, env, CHILD_HELPER);
	free(sock);
	free(envvar);
	if (r == -1) {
		log_warn("cannot start the broker");
		ev_timer_again(EV_DEFAULT, &lb.restart);
		return;
	}
	lb.running = 1;
	/* Its socket appears in a moment; connecting retries until then. */
	lb.backoff = LISTEN_RETRY_MIN / 2;
	if (lb.fd == -1) {
		lb.retry.repeat = 0.01;
		ev_timer_again(EV_DEFAULT, &lb.retry);
	}
}

/* Sets up listen mode at start-up; returns -1 with a message printed. */
int
listen_init(void)
{
	const char	*tmp;
	char		*dir;

	ev_init(&lb.retry, listen_retry_cb);
	ev_init(&lb.restart, listen_restart_cb);
	lb.restart.repeat = 0.1;
	lb.backoff = LISTEN_RETRY_MIN;
	if (conf.broker != NULL) {
		lb.path = xstrdup(conf.broker);
		listen_broker_connect();
		return (0);
	}
	lb.own = 1;
	if (conf.broker_socket != NULL)
		lb.path = xstrdup(conf.broker_socket);
	else {
		if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
			tmp = "/tmp";
		xasprintf(&dir, "%s/wspipe.XXXXXX", tmp);
		if (mkdtemp(dir) == NULL) {
			fprintf(stderr, "wspipe: %s: %s\n", dir, strerror(errno));
			free(dir);
			return (-1);
		}
		lb.dir = dir;
		xasprintf(&lb.path, "%s/broker.sock", dir);
	}
	listen_broker_start();
	log_info("listen mode: broker socket %s", lb.path);
	return (0);
}

/*
 * Shutting down: the broker link closes and our own broker is ended
 * (child.c reaps it before the loop ends).
 */
void
listen_shutdown(void)
{
	if (lb.fd != -1)
		listen_broker_down("shutting down");
	ev_timer_stop(EV_DEFAULT, &lb.retry);
	ev_timer_stop(EV_DEFAULT, &lb.restart);
	if (lb.own && lb.running)
		child_terminate(&lb.ch);
}

/* At exit: our own broker's socket and directory go. */
void
listen_cleanup(void)
{
	if (lb.own && lb.path != NULL)
		(void)unlink(lb.path);
	if (lb.dir != NULL)
		(void)rmdir(lb.dir);
}

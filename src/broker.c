/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The broker: `wspipe broker --socket=PATH`.  It holds the resources of
 * listen mode, each with its subscribers and its last state, and speaks
 * pubsub.c's lines on a UNIX socket to gateways, publishers and
 * subscribers alike.  Retained state is bounded and forgotten least
 * recently published first; a connection that does not read its updates
 * is dropped once its queue passes BROKER_QUEUE_MAX, so no reader can
 * stall a publisher or grow the broker.
 */

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/tree.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wspipe.h"
#include "pubsub.h"

#define BROKER_QUEUE_MAX	(8 * 1024 * 1024)
#define BROKER_IN_CAP		(PUBSUB_LINE_MAX + 2)
#define BROKER_RESOURCES_MAX	100000

struct bconn;

struct bsub {
	TAILQ_ENTRY(bsub)	 rentry;	/* in the resource's list */
	TAILQ_ENTRY(bsub)	 centry;	/* in the connection's list */
	struct bconn		*bc;
	struct bres		*r;
};

struct bres {
	RB_ENTRY(bres)		 node;
	TAILQ_ENTRY(bres)	 lru;		/* retained, oldest first */
	TAILQ_HEAD(, bsub)	 subs;
	char			*name;
	char			*data;		/* retained state, or NULL */
	size_t			 datalen;
};

struct bconn {
	TAILQ_ENTRY(bconn)	 entry;
	TAILQ_HEAD(, bsub)	 subs;
	int			 fd;
	ev_io			 io;
	struct buf		 in;
	struct buf		 out;
	int			 discard;	/* skipping an overlong line */
	int			 dead;
};

static int	bres_cmp(struct bres *, struct bres *);
RB_HEAD(bres_tree, bres);
RB_PROTOTYPE(bres_tree, bres, node, bres_cmp)
RB_GENERATE(bres_tree, bres, node, bres_cmp)

static struct bres_tree			 broker_res = RB_INITIALIZER(&broker_res);
static TAILQ_HEAD(, bres)		 broker_lru =
    TAILQ_HEAD_INITIALIZER(broker_lru);
static TAILQ_HEAD(, bconn)		 broker_conns =
    TAILQ_HEAD_INITIALIZER(broker_conns);
static size_t				 broker_nres;
static size_t				 broker_retained;
static size_t				 broker_retained_max = 64 * 1024 * 1024;
static const char			*broker_path;
static int				 broker_lfd = -1;
static ev_io				 broker_accept;
static ev_timer				 broker_backoff;
static ev_signal			 broker_sigterm, broker_sigint;

static void	broker_io_cb(struct ev_loop *, ev_io *, int);
static void	broker_update(struct bconn *);

static int
bres_cmp(struct bres *a, struct bres *b)
{
	return (strcmp(a->name, b->name));
}

static struct bres *
broker_find(const char *name, size_t len, int create)
{
	struct bres	 key, *r;
	char		 buf[PUBSUB_RESOURCE_MAX + 1];

	memcpy(buf, name, len);
	buf[len] = '\0';
	key.name = buf;
	if ((r = RB_FIND(bres_tree, &broker_res, &key)) != NULL || !create)
		return (r);
	if (broker_nres >= BROKER_RESOURCES_MAX)
		return (NULL);
	r = xcalloc(1, sizeof *r);
	r->name = xstrdup(buf);
	TAILQ_INIT(&r->subs);
	RB_INSERT(bres_tree, &broker_res, r);
	broker_nres++;
	return (r);
}

static void
broker_forget(struct bres *r)
{
	if (r->data == NULL)
		return;
	TAILQ_REMOVE(&broker_lru, r, lru);
	broker_retained -= r->datalen;
	free(r->data);
	r->data = NULL;
	r->datalen = 0;
}

/* Frees a resource that has neither subscribers nor a state. */
static void
broker_gc(struct bres *r)
{
	if (r->data != NULL || !TAILQ_EMPTY(&r->subs))
		return;
	RB_REMOVE(bres_tree, &broker_res, r);
	broker_nres--;
	free(r->name);
	free(r);
}

/*
 * Queues bytes for a connection; one that falls too far behind dies.
 * The write waits for the connection's watcher, so that every update a
 * burst of publishes produces leaves in one write(2), not one each.
 */
static void
broker_send(struct bconn *bc, const char *s, size_t len)
{
	if (bc->dead)
		return;
	if (buf_append(&bc->out, s, len) == -1) {
		log_info("broker: dropping a subscriber %zu bytes behind",
		    buf_len(&bc->out));
		bc->dead = 1;
		return;
	}
	if (buf_len(&bc->out) > len)
		return;		/* it already waits to write */
	/* A fan-out queues on other connections: they must ask to write. */
	broker_update(bc);
}

static void
broker_sendf(struct bconn *bc, const char *verb, const char *a, size_t alen,
    const char *b, size_t blen)
{
	static char	line[PUBSUB_LINE_MAX + 2];
	size_t		n;

	n = snprintf(line, sizeof line, "%s ", verb);
	memcpy(line + n, a, alen);
	n += alen;
	if (b != NULL) {
		line[n++] = ' ';
		memcpy(line + n, b, blen);
		n += blen;
	}
	line[n++] = '\n';
	broker_send(bc, line, n);
}

static void
broker_error(struct bconn *bc, const char *text)
{
	broker_sendf(bc, "error", text, strlen(text), NULL, 0);
}

static void
broker_subscribe(struct bconn *bc, const struct pubsub_msg *m)
{
	struct bres	*r;
	struct bsub	*s;

	if ((r = broker_find(m->resource, m->resourcelen, 1)) == NULL) {
		broker_error(bc, "too many resources");
		return;
	}
	TAILQ_FOREACH(s, &bc->subs, centry)
		if (s->r == r)
			break;
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		s->bc = bc;
		s->r = r;
		TAILQ_INSERT_TAIL(&r->subs, s, rentry);
		TAILQ_INSERT_TAIL(&bc->subs, s, centry);
	}
	/* The current state first: then every new one, in order. */
	if (r->data != NULL)
		broker_sendf(bc, "update", r->name, strlen(r->name), r->data,
		    r->datalen);
}

static void
broker_unsub(struct bsub *s)
{
	struct bres	*r = s->r;

	TAILQ_REMOVE(&r->subs, s, rentry);
	TAILQ_REMOVE(&s->bc->subs, s, centry);
	free(s);
	broker_gc(r);
}

static void
broker_unsubscribe(struct bconn *bc, const struct pubsub_msg *m)
{
	struct bres	*r;
	struct bsub	*s;

	if ((r = broker_find(m->resource, m->resourcelen, 0)) == NULL)
		return;
	TAILQ_FOREACH(s, &bc->subs, centry)
		if (s->r == r) {
			broker_unsub(s);
			return;
		}
}

/* Keeps r's new state, forgetting the oldest states beyond the cap. */
static void
broker_retain(struct bres *r, const char *data, size_t len)
{
	struct bres	*old;

	broker_forget(r);
	while (broker_retained + len > broker_retained_max &&
	    (old = TAILQ_FIRST(&broker_lru)) != NULL) {
		broker_forget(old);
		broker_gc(old);
	}
	if (len > broker_retained_max)
		return;
	r->data = xmalloc(len + 1);
	memcpy(r->data, data, len);
	r->datalen = len;
	broker_retained += len;
	TAILQ_INSERT_TAIL(&broker_lru, r, lru);
}

static void
broker_publish(struct bconn *bc, const struct pubsub_msg *m)
{
	struct bres	*r;
	struct bsub	*s;

	if ((r = broker_find(m->resource, m->resourcelen, 1)) == NULL) {
		broker_error(bc, "too many resources");
		return;
	}
	broker_retain(r, m->data, m->datalen);
	TAILQ_FOREACH(s, &r->subs, rentry)
		broker_sendf(s->bc, "update", r->name, strlen(r->name),
		    m->data, m->datalen);
	broker_gc(r);
}

static void
broker_line(struct bconn *bc, const char *s, size_t len)
{
	struct pubsub_msg	 m;
	const char		*errstr;

	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	if (pubsub_parse(s, len, &m, &errstr) == -1) {
		broker_error(bc, errstr);
		return;
	}
	switch (m.verb) {
	case PUBSUB_SUBSCRIBE:
		broker_subscribe(bc, &m);
		break;
	case PUBSUB_UNSUBSCRIBE:
		broker_unsubscribe(bc, &m);
		break;
	case PUBSUB_PUBLISH:
		broker_publish(bc, &m);
		break;
	case PUBSUB_PING:
		broker_send(bc, "pong\n", 5);
		break;
	default:
		broker_error(bc, "unknown command (subscribe, unsubscribe, "
		    "publish, ping)");
		break;
	}
}

static void
broker_close(struct bconn *bc)
{
	struct bsub	*s;

	while ((s = TAILQ_FIRST(&bc->subs)) != NULL)
		broker_unsub(s);
	ev_io_stop(EV_DEFAULT, &bc->io);
	close(bc->fd);
	buf_free(&bc->in);
	buf_free(&bc->out);
	TAILQ_REMOVE(&broker_conns, bc, entry);
	free(bc);
}

/* Closes every connection marked dead by a fan-out. */
static void
broker_reap(void)
{
	struct bconn	*bc, *tmp;

	TAILQ_FOREACH_SAFE(bc, &broker_conns, entry, tmp)
		if (bc->dead)
			broker_close(bc);
}

static void
broker_update(struct bconn *bc)
{
	int	events = EV_READ;

	if (buf_len(&bc->out) > 0)
		events |= EV_WRITE;
	if (events != (bc->io.events & (EV_READ | EV_WRITE))) {
		ev_io_stop(EV_DEFAULT, &bc->io);
		ev_io_set(&bc->io, bc->fd, events);
		ev_io_start(EV_DEFAULT, &bc->io);
	}
}

/* Splits what arrived into lines; an overlong line is refused whole. */
static void
broker_input(struct bconn *bc)
{
	const unsigned char	*p, *nl;
	size_t			 len;

	while ((len = buf_len(&bc->in)) > 0) {
		p = buf_head(&bc->in);
		if ((nl = memchr(p, '\n', len)) == NULL) {
			if (buf_room(&bc->in) == 0) {
				if (!bc->discard)
					broker_error(bc, "line too long");
				bc->discard = 1;
				buf_drain(&bc->in, len);
			}
			return;
		}
		if (!bc->discard)
			broker_line(bc, (const char *)p, nl - p);
		bc->discard = 0;
		buf_drain(&bc->in, nl - p + 1);
	}
}

static void
broker_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bconn	*bc = w->data;
	unsigned char	*p;
	ssize_t		 n;

	if (revents & EV_WRITE) {
		n = write(bc->fd, buf_head(&bc->out), buf_len(&bc->out));
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			bc->dead = 1;
		else if (n > 0)
			buf_drain(&bc->out, n);
	}
	if ((revents & EV_READ) && !bc->dead) {
		p = buf_reserve(&bc->in, buf_room(&bc->in));
		n = read(bc->fd, p, buf_room(&bc->in));
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			bc->dead = 1;
		else if (n > 0) {
			buf_commit(&bc->in, n);
			broker_input(bc);
		}
	}
	if (!bc->dead)
		broker_update(bc);
	broker_reap();
}

static void
broker_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bconn	*bc;
	int		 fd;

	while ((fd = accept4(broker_lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) != -1) {
		bc = xcalloc(1, sizeof *bc);
		bc->fd = fd;
		TAILQ_INIT(&bc->subs);
		buf_init(&bc->in, BROKER_IN_CAP);
		buf_init(&bc->out, BROKER_QUEUE_MAX);
		ev_io_init(&bc->io, broker_io_cb, fd, EV_READ);
		bc->io.data = bc;
		ev_io_start(loop, &bc->io);
		TAILQ_INSERT_TAIL(&broker_conns, bc, entry);
	}
	/* Out of fds: pause accepting for a second rather than spin. */
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
	    errno == ENOMEM) {
		log_warn("broker: accept: pausing for a second");
		ev_io_stop(loop, &broker_accept);
		ev_timer_set(&broker_backoff, 1.0, 0.0);
		ev_timer_start(loop, &broker_backoff);
	}
}

static void
broker_backoff_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_io_start(loop, &broker_accept);
}

static void
broker_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	unlink(broker_path);
	ev_break(loop, EVBREAK_ALL);
}

/* Binds the socket, replacing a stale file but never a live broker. */
static int
broker_listen(const char *path, const char *group)
{
	struct sockaddr_un	 sun;
	struct group		*gr = NULL;
	mode_t			 old;
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof sun.sun_path) >=
	    sizeof sun.sun_path) {
		fprintf(stderr, "wspipe broker: %s: path too long\n", path);
		return (-1);
	}
	if (group != NULL && (gr = getgrnam(group)) == NULL) {
		fprintf(stderr, "wspipe broker: no group %s\n", group);
		return (-1);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
		fprintf(stderr, "wspipe broker: a broker is already running "
		    "on %s\n", path);
		close(fd);
		return (-1);
	}
	close(fd);
	(void)unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		fatal("socket");
	old = umask(gr != NULL ? 0117 : 0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		umask(old);
		fprintf(stderr, "wspipe broker: %s: %s\n", path,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	umask(old);
	if (gr != NULL && chown(path, (uid_t)-1, gr->gr_gid) == -1) {
		fprintf(stderr, "wspipe broker: chgrp %s: %s\n", path,
		    strerror(errno));
		close(fd);
		unlink(path);
		return (-1);
	}
	return (fd);
}

static void __attribute__((noreturn))
broker_usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: wspipe broker --socket=path [--group=group] "
	    "[--max-retained=bytes]\n"
	    "                     [--loglevel=level]\n");
	exit(status);
}

/* `wspipe broker ...`: runs until SIGTERM or SIGINT. */
int
broker_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "group", required_argument, NULL, 'g' },
		{ "max-retained", required_argument, NULL, 'm' },
		{ "loglevel", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*group = NULL, *errstr;
	int		 ch, level = LOG_LEVEL_ACCESS;

	broker_path = getenv("WSPIPE_BROKER");
	optind = 1;
	while ((ch = getopt_long_only(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			broker_path = optarg;
			break;
		case 'g':
			group = optarg;
			break;
		case 'm':
			broker_retained_max = strtonum(optarg, 0, LLONG_MAX,
			    &errstr);
			if (errstr != NULL) {
				fprintf(stderr, "wspipe broker: --max-retained"
				    "=%s: %s\n", optarg, errstr);
				exit(EXIT_CONFIG);
			}
			break;
		case 'l':
			level = config_loglevel(optarg);
			break;
		case 'h':
			broker_usage(0);
		default:
			broker_usage(EXIT_USAGE);
		}
	}
	if (broker_path == NULL || optind != argc)
		broker_usage(EXIT_USAGE);
	log_init(level);
	signal(SIGPIPE, SIG_IGN);
	if ((broker_lfd = broker_listen(broker_path, group)) == -1)
		exit(EXIT_LISTEN);
	ev_default_loop(EVFLAG_AUTO);
	ev_io_init(&broker_accept, broker_accept_cb, broker_lfd, EV_READ);
	ev_io_start(EV_DEFAULT, &broker_accept);
	ev_timer_init(&broker_backoff, broker_backoff_cb, 1.0, 0.0);
	ev_signal_init(&broker_sigterm, broker_signal_cb, SIGTERM);
	ev_signal_start(EV_DEFAULT, &broker_sigterm);
	ev_signal_init(&broker_sigint, broker_signal_cb, SIGINT);
	ev_signal_start(EV_DEFAULT, &broker_sigint);
	log_info("broker listening on %s", broker_path);
	ev_run(EV_DEFAULT, 0);
	return (0);
}

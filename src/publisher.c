/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * On-demand publishers, the broker's `--publishers=DIR`: the first
 * subscriber to resource /x/y starts the program DIR/x/y (or DIR/x, with
 * /y as its PATH_INFO, as --dir maps paths), each line it prints becomes
 * the resource's new state, and --publisher-grace seconds after the last
 * subscriber left it is ended as a connection's program is (child.c).
 * One that ends while subscribers remain is started again after a
 * backoff.  Its lines reach the broker as a script's "publish R DATA"
 * lines, on a connection of the broker's own (a socketpair handed to the
 * adopt hook publisher_init was given), so that budgets, checks and
 * --redis apply unchanged and a broker that cannot take them stops us
 * reading the program; the broker's refusals come back on it and are
 * logged.  The broker tells us each change of a resource's subscriber
 * count, and we tell the program, one "subscribers N" line on its stdin.
 */

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/tree.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wspipe.h"
#include "path.h"
#include "pubsub.h"

#define PUBLISHER_BACKOFF_MIN	1.0	/* seconds before a restart */
#define PUBLISHER_BACKOFF_MAX	30.0
#define PUBLISHER_RUN_RESET	30.0	/* a run this long resets it */
#define PUBLISHER_IN_CAP	(PUBSUB_DATA_MAX + 1)	/* a line and more */
#define PUBLISHER_LINE		(PUBSUB_LINE_MAX + 2)
#define PUBLISHER_OUT_CAP	(4 * PUBLISHER_LINE)
#define PUBLISHER_ANSWER_MAX	1024	/* a broker's answer line */
#define PUBLISHER_LOG_RATE	50	/* log lines a second, each */
#define PUBLISHER_STOP_MAX	2.5	/* at shutdown, then SIGKILL */
#define PUBLISHER_DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"

struct publisher {
	RB_ENTRY(publisher)	 node;
	char			*name;		/* its resource */
	char			 tag[PUBSUB_RESOURCE_MAX + 16];
	size_t			 nsubs;		/* the resource's subscribers */
	size_t			 told;		/* the count on its stdin */
	struct child		 ch;
	int			 running;	/* ch not gone yet */
	int			 ending;	/* exited, or being ended */
	int			 stopped;	/* ended by us: nobody listened */
	ev_tstamp		 started;
	double			 backoff;	/* the next restart's delay */
	ev_timer		 grace;		/* no subscriber: then it ends */
	ev_timer		 restart;	/* gone: start again, or free */
	struct buf		 in;		/* its stdout, a line at a time */
	int			 discard;	/* skipping an overlong line */
	/* The link: our end of a connection of the broker's. */
	int			 fd;
	ev_io			 io;
	struct buf		 out;		/* publish lines for the broker */
	struct buf		 answer;	/* an unfinished answer line */
	/* Its log lines (stderr, refusals), PUBLISHER_LOG_RATE a second. */
	ev_tstamp		 logstamp;
	unsigned int		 logged;
	unsigned long long	 unlogged;
};

static int	publisher_cmp(struct publisher *, struct publisher *);
RB_HEAD(publisher_tree, publisher);
RB_PROTOTYPE(publisher_tree, publisher, node, publisher_cmp)
RB_GENERATE(publisher_tree, publisher, node, publisher_cmp)

static struct publisher_tree	 publishers = RB_INITIALIZER(&publishers);
static size_t			 npublishers;
static size_t			 publisher_max;		/* --max-publishers */
/* The broker's hook: one end of a socketpair becomes its connection. */
static void			(*publisher_adopt)(int);
static ev_tstamp		 publisher_refused;	/* logged when */
static char			*publisher_dir;		/* NULL: off */
static double			 publisher_grace;
static const char		*publisher_socket;	/* WSPIPE_BROKER */
static char			*publisher_path;	/* PATH=... */
static int			 publisher_stopping;	/* shutting down */
static void			(*publisher_done)(void);
static ev_timer			 publisher_deadline;
static uint8_t			 publisher_scratch[READ_MAX];

static void	publisher_update(struct publisher *);
static void	publisher_start(struct publisher *);

/* Shutting down, and all are gone (or killed): the broker may exit. */
static void
publisher_finish(void)
{
	void	(*done)(void) = publisher_done;

	ev_timer_stop(EV_DEFAULT, &publisher_deadline);
	publisher_done = NULL;
	if (done != NULL)
		done();
}

static int
publisher_cmp(struct publisher *a, struct publisher *b)
{
	return (strcmp(a->name, b->name));
}

/*
 * Whether a log line of p's may go out now: PUBLISHER_LOG_RATE a second,
 * the ones over it counted and reported once the next second begins.
 */
static int
publisher_may_log(struct publisher *p)
{
	ev_tstamp	now = ev_now(EV_DEFAULT);

	if (now - p->logstamp >= 1.0) {
		if (p->unlogged > 0)
			log_msg(LOG_LEVEL_ERROR, p->tag, "%llu log lines "
			    "dropped (over %d a second)", p->unlogged,
			    PUBLISHER_LOG_RATE);
		p->logstamp = now;
		p->logged = 0;
		p->unlogged = 0;
	}
	if (p->logged >= PUBLISHER_LOG_RATE) {
		p->unlogged++;
		return (0);
	}
	p->logged++;
	return (1);
}

/*
 * The program DIR maps resource name to, as --dir maps a path: the
 * shortest leading run of segments naming a regular file, which must be
 * executable; what follows is its PATH_INFO.  No dot segments, nothing
 * outside DIR (path.c).  Returns 0 with its path in out and the length
 * of its name in *used, or -1.
 */
static int
publisher_lookup(const char *name, char *out, size_t outsz, size_t *used)
{
	if (path_script(publisher_dir, name, out, outsz, used) != 0 ||
	    access(out, X_OK) == -1)
		return (-1);
	return (0);
}

static void
publisher_free(struct publisher *p)
{
	if (p->unlogged > 0)
		log_msg(LOG_LEVEL_ERROR, p->tag, "%llu log lines dropped",
		    p->unlogged);
	ev_timer_stop(EV_DEFAULT, &p->grace);
	ev_timer_stop(EV_DEFAULT, &p->restart);
	if (p->fd != -1) {
		ev_io_stop(EV_DEFAULT, &p->io);
		close(p->fd);
	}
	buf_free(&p->in);
	buf_free(&p->out);
	buf_free(&p->answer);
	RB_REMOVE(publisher_tree, &publishers, p);
	npublishers--;
	free(p->name);
	free(p);
	if (publisher_stopping && npublishers == 0)
		publisher_finish();
}

/* Ends p's program (closed stdin, then signals), if it still runs. */
static void
publisher_end(struct publisher *p)
{
	ev_timer_stop(EV_DEFAULT, &p->grace);
	if (!p->running || p->ending)
		return;
	p->ending = 1;
	child_terminate(&p->ch);
}

/* Queues one publish of len bytes of data; the caller made room. */
static void
publisher_publish(struct publisher *p, const char *data, size_t len)
{
	static char	line[PUBLISHER_LINE];
	size_t		n;

	n = pubsub_line(line, "publish", p->name, strlen(p->name), NULL, data,
	    len);
	line[n++] = '\n';
	if (buf_append(&p->out, line, n) == -1)
		fatalx("publisher: no room for a line");
}

/*
 * Turns the complete lines of p->in into publishes while the link has
 * room for one more.  A line longer than a state may be is refused whole
 * and logged; the end of the program's output publishes what is left
 * (eof), as `wspipe publish` does with its last line.
 */
static void
publisher_lines(struct publisher *p, int eof)
{
	const unsigned char	*s, *nl;
	size_t			 len;

	while ((len = buf_len(&p->in)) > 0 &&
	    buf_room(&p->out) >= PUBLISHER_LINE) {
		s = buf_head(&p->in);
		if ((nl = memchr(s, '\n', len)) == NULL) {
			if (buf_room(&p->in) > 0 && !eof)
				return;
			if (!p->discard && buf_room(&p->in) == 0) {
				if (publisher_may_log(p))
					log_msg(LOG_LEVEL_ERROR, p->tag,
					    "a line over %d bytes refused",
					    PUBSUB_DATA_MAX);
				p->discard = 1;
			} else if (!p->discard)
				publisher_publish(p, (const char *)s, len);
			buf_drain(&p->in, len);
			if (eof)
				p->discard = 0;
			return;
		}
		if (!p->discard)
			publisher_publish(p, (const char *)s, nl - s);
		p->discard = 0;
		buf_drain(&p->in, nl - s + 1);
	}
}

/*
 * The link to the broker failed (why): the program cannot publish, so it
 * ends, and starts again.
 */
static void
publisher_unlink(struct publisher *p, const char *why)
{
	log_msg(LOG_LEVEL_ERROR, p->tag, "the broker link failed: %s", why);
	ev_io_stop(EV_DEFAULT, &p->io);
	close(p->fd);
	p->fd = -1;
	buf_free(&p->out);
	buf_free(&p->answer);
	publisher_end(p);
}

/* Writes what waits for the broker; a link that failed is dropped. */
static void
publisher_flush(struct publisher *p)
{
	ssize_t	n;

	while (p->fd != -1 && buf_len(&p->out) > 0) {
		n = write(p->fd, buf_head(&p->out), buf_len(&p->out));
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n == -1) {
			publisher_unlink(p, strerror(errno));
			return;
		}
		buf_drain(&p->out, n);
	}
}

/*
 * Reads the program's stdout once, if there is room, and publishes its
 * complete lines.  Returns 1 if it read something, 0 at the end of its
 * output, -1 if there was nothing to read or no room.
 */
static int
publisher_read(struct publisher *p)
{
	unsigned char	*dst;
	ssize_t		 n;

	publisher_lines(p, 0);
	if (buf_room(&p->out) < PUBLISHER_LINE || buf_room(&p->in) == 0)
		return (-1);
	if ((dst = buf_reserve(&p->in, buf_room(&p->in))) == NULL)
		fatal("publisher");
	if ((n = child_read(&p->ch, dst, buf_room(&p->in))) == -1)
		return (-1);
	if (n == 0) {
		publisher_lines(p, 1);
		return (0);
	}
	buf_commit(&p->in, n);
	publisher_lines(p, 0);
	return (1);
}

/* Reads once; a program that closed its stdout cannot publish: it ends. */
static void
publisher_pump(struct publisher *p)
{
	if (publisher_read(p) == 0 && !p->ending) {
		log_msg(LOG_LEVEL_INFO, p->tag, "closed its output: ending it");
		publisher_end(p);
	}
	publisher_flush(p);
}

static void
publisher_readable_cb(void *arg)
{
	struct publisher	*p = arg;

	publisher_pump(p);
	publisher_update(p);
}

/* Tells the program its resource's subscribers, once its stdin is free. */
static void
publisher_tell(struct publisher *p)
{
	char	line[64];
	int	n;

	if (!p->running || p->ending || p->told == p->nsubs ||
	    child_queued(&p->ch) > 0)
		return;
	n = snprintf(line, sizeof line, "subscribers %zu\n", p->nsubs);
	(void)child_write(&p->ch, line, n);
	(void)child_flush(&p->ch);
	p->told = p->nsubs;
}

static void
publisher_writable_cb(void *arg)
{
	struct publisher	*p = arg;

	publisher_tell(p);
	publisher_update(p);
}

/*
 * Reaped.  A process it left in its group is ended with the group, and
 * what that prints is dropped; what it printed itself is published.
 */
static void
publisher_exited_cb(void *arg)
{
	struct publisher	*p = arg;
	int			 status = p->ch.status, i;

	ev_timer_stop(EV_DEFAULT, &p->grace);
	/*
	 * The group first: child.c then reports it gone only once the group
	 * is, even if the end of its output is read below.
	 */
	p->ending = 1;
	child_terminate(&p->ch);
	for (i = 0; i < 64 && publisher_read(p) == 1; i++)
		;
	publisher_lines(p, 1);
	publisher_flush(p);
	log_msg(LOG_LEVEL_INFO, p->tag, "pid %ld %s %d after %.1f s%s",
	    (long)p->ch.pid, WIFSIGNALED(status) ? "killed by signal" :
	    "exited", WIFSIGNALED(status) ? WTERMSIG(status) :
	    WEXITSTATUS(status), ev_now(EV_DEFAULT) - p->started,
	    p->stopped ? " (stopped)" : "");
	child_discard(&p->ch);
}

/*
 * All of it is gone: it starts again after its backoff if its resource
 * still has subscribers (at once if we ended it), else it is forgotten.
 * Called from child.c, which still holds p->ch: the restart timer acts.
 */
static void
publisher_gone_cb(void *arg)
{
	struct publisher	*p = arg;
	double			 delay = 0;

	p->running = 0;
	buf_free(&p->in);
	p->discard = 0;
	if (!publisher_stopping && p->nsubs > 0 && !p->stopped) {
		if (ev_now(EV_DEFAULT) - p->started >= PUBLISHER_RUN_RESET)
			p->backoff = PUBLISHER_BACKOFF_MIN;
		delay = p->backoff;
		p->backoff *= 2;
		if (p->backoff > PUBLISHER_BACKOFF_MAX)
			p->backoff = PUBLISHER_BACKOFF_MAX;
		log_msg(LOG_LEVEL_INFO, p->tag, "starting again in %.0f s",
		    delay);
	}
	ev_timer_set(&p->restart, delay, 0.0);
	ev_timer_start(EV_DEFAULT, &p->restart);
}

/* Logs a line of the program's stderr, escaped, within the rate. */
static void
publisher_stderr_cb(void *arg, const uint8_t *s, size_t len)
{
	struct publisher	*p = arg;
	char			 line[4 * STDERR_LINE_MAX + 1];

	if (!publisher_may_log(p))
		return;
	log_vis(line, sizeof line, (const char *)s, len);
	log_msg(LOG_LEVEL_ERROR, p->tag, "stderr: %s", line);
}

static const struct child_cb publisher_child_cb = {
	.readable = publisher_readable_cb,
	.writable = publisher_writable_cb,
	.exited = publisher_exited_cb,
	.gone = publisher_gone_cb,
	.stderr_line = publisher_stderr_cb
};

/* The program's stdout is read while the link has room for a line. */
static void
publisher_update(struct publisher *p)
{
	int	events = EV_READ;

	if (p->running)
		child_update(&p->ch, p->fd != -1 &&
		    buf_room(&p->out) >= PUBLISHER_LINE);
	if (p->fd == -1)
		return;
	if (buf_len(&p->out) > 0)
		events |= EV_WRITE;
	if (events != (p->io.events & (EV_READ | EV_WRITE))) {
		ev_io_stop(EV_DEFAULT, &p->io);
		ev_io_set(&p->io, p->fd, events);
		ev_io_start(EV_DEFAULT, &p->io);
	}
}

/*
 * The broker's answers on the link: a script's publish is answered only
 * when refused ("error publish R WHY"), which is logged.
 */
static void
publisher_answers(struct publisher *p)
{
	const char	*s, *nl;
	ssize_t		 n;
	size_t		 len;
	char		 line[4 * PUBLISHER_ANSWER_MAX + 1];

	n = read(p->fd, publisher_scratch, sizeof publisher_scratch);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		publisher_unlink(p, "the broker closed it");
		return;
	}
	for (s = (const char *)publisher_scratch; n > 0; s = nl + 1) {
		nl = memchr(s, '\n', n);
		len = nl != NULL ? (size_t)(nl - s) : (size_t)n;
		if (len > buf_room(&p->answer))
			len = buf_room(&p->answer);	/* cut: it is logged */
		(void)buf_append(&p->answer, s, len);
		if (nl == NULL)
			break;
		n -= nl + 1 - s;
		if (publisher_may_log(p)) {
			log_vis(line, sizeof line,
			    (const char *)buf_head(&p->answer),
			    buf_len(&p->answer));
			log_msg(LOG_LEVEL_ERROR, p->tag, "broker: %s", line);
		}
		buf_free(&p->answer);
	}
}

static void
publisher_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct publisher	*p = w->data;

	if (revents & EV_READ)
		publisher_answers(p);
	if ((revents & EV_WRITE) && p->fd != -1) {
		publisher_flush(p);
		/* Lines that waited for room, then more from the program. */
		if (p->running && p->ch.fd != -1)
			publisher_pump(p);
	}
	publisher_update(p);
}

/* A connection of the broker's for p's publishes; -1 if there is none. */
static int
publisher_link(struct publisher *p)
{
	int	sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1)
		return (-1);
	publisher_adopt(sv[1]);
	p->fd = sv[0];
	ev_io_init(&p->io, publisher_io_cb, p->fd, EV_READ);
	p->io.data = p;
	ev_io_start(EV_DEFAULT, &p->io);
	return (0);
}

/* Tries again after the backoff (a start that failed). */
static void
publisher_retry(struct publisher *p)
{
	log_msg(LOG_LEVEL_INFO, p->tag, "starting again in %.0f s",
	    p->backoff);
	ev_timer_set(&p->restart, p->backoff, 0.0);
	ev_timer_start(EV_DEFAULT, &p->restart);
	p->backoff *= 2;
	if (p->backoff > PUBLISHER_BACKOFF_MAX)
		p->backoff = PUBLISHER_BACKOFF_MAX;
}

/*
 * Starts p's program, looked up again so that one replaced in DIR is the
 * one that runs; gone from DIR, p is forgotten.
 */
static void
publisher_start(struct publisher *p)
{
	char	 path[PATH_MAX], *argv[2], *env[8];
	size_t	 used, i;
	int	 envc = 0, r;

	if (publisher_lookup(p->name, path, sizeof path, &used) == -1) {
		log_msg(LOG_LEVEL_INFO, p->tag, "no program for it any more");
		publisher_free(p);
		return;
	}
	if (p->fd == -1 && publisher_link(p) == -1) {
		log_msg(LOG_LEVEL_ERROR, p->tag, "cannot link to the broker: "
		    "%s", strerror(errno));
		publisher_retry(p);
		return;
	}
	argv[0] = path;
	argv[1] = NULL;
	env[envc++] = xstrdup(publisher_path);
	xasprintf(&env[envc++], "WSPIPE_RESOURCE=%s", p->name);
	xasprintf(&env[envc++], "WSPIPE_BROKER=%s", publisher_socket);
	xasprintf(&env[envc++], "WSPIPE_SUBSCRIBERS=%zu", p->nsubs);
	xasprintf(&env[envc++], "SCRIPT_NAME=%.*s", (int)used, p->name);
	xasprintf(&env[envc++], "PATH_INFO=%s", p->name + used);
	env[envc] = NULL;
	r = child_spawn(&p->ch, &publisher_child_cb, p, p->tag, path, argv,
	    env, CHILD_TIED);
	for (i = 0; i < (size_t)envc; i++)
		free(env[i]);
	if (r == -1) {
		log_msg(LOG_LEVEL_ERROR, p->tag, "cannot run %s: %s", path,
		    strerror(errno));
		publisher_retry(p);
		return;
	}
	p->running = 1;
	p->ending = 0;
	p->stopped = 0;
	p->started = ev_now(EV_DEFAULT);
	log_msg(LOG_LEVEL_INFO, p->tag, "started pid %ld, %zu subscriber%s",
	    (long)p->ch.pid, p->nsubs, p->nsubs == 1 ? "" : "s");
	/* Its stdin's first line is the count too. */
	p->told = (size_t)-1;
	publisher_tell(p);
	publisher_update(p);
}

/* Nobody listened for the grace period: it ends. */
static void
publisher_grace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct publisher	*p = w->data;

	if (p->nsubs > 0 || !p->running || p->ending)
		return;
	log_msg(LOG_LEVEL_INFO, p->tag, "no subscriber for %g s: stopping "
	    "pid %ld", publisher_grace, (long)p->ch.pid);
	p->stopped = 1;
	publisher_end(p);
	publisher_update(p);
}

static void
publisher_restart_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct publisher	*p = w->data;

	ev_timer_stop(loop, w);
	if (publisher_stopping || p->nsubs == 0)
		publisher_free(p);
	else
		publisher_start(p);
}

/*
 * The broker's hook: resource name has n subscribers now.  The first one
 * starts its program, if DIR has one; none left starts the grace period.
 */
void
publisher_subscribers(const char *name, size_t n)
{
	struct publisher	 key, *p;
	char			 path[PATH_MAX];
	size_t			 used;

	if (publisher_dir == NULL || publisher_stopping)
		return;
	key.name = (char *)(uintptr_t)name;
	if ((p = RB_FIND(publisher_tree, &publishers, &key)) == NULL) {
		/* Counts change by one: a program is looked for once. */
		if (n != 1 || publisher_lookup(name, path, sizeof path,
		    &used) == -1)
			return;
		/* Subscribers cannot make us run more than this. */
		if (npublishers >= publisher_max) {
			if (ev_now(EV_DEFAULT) - publisher_refused >= 1.0)
				log_warnx("publisher %s: not started, %zu "
				    "already (--max-publishers)", name,
				    npublishers);
			publisher_refused = ev_now(EV_DEFAULT);
			return;
		}
		p = xcalloc(1, sizeof *p);
		p->name = xstrdup(name);
		(void)snprintf(p->tag, sizeof p->tag, "publisher %s", name);
		p->fd = -1;
		p->backoff = PUBLISHER_BACKOFF_MIN;
		buf_init(&p->in, PUBLISHER_IN_CAP);
		buf_init(&p->out, PUBLISHER_OUT_CAP);
		buf_init(&p->answer, PUBLISHER_ANSWER_MAX);
		ev_init(&p->grace, publisher_grace_cb);
		p->grace.data = p;
		ev_init(&p->restart, publisher_restart_cb);
		p->restart.data = p;
		RB_INSERT(publisher_tree, &publishers, p);
		npublishers++;
		p->nsubs = n;
		publisher_start(p);
		return;
	}
	p->nsubs = n;
	if (!p->running) {
		/* Waiting to start again: nobody wants it now. */
		if (n == 0)
			publisher_free(p);
		return;
	}
	if (n > 0)
		ev_timer_stop(EV_DEFAULT, &p->grace);
	else if (!p->ending && !ev_is_active(&p->grace)) {
		ev_timer_set(&p->grace, publisher_grace, 0.0);
		ev_timer_start(EV_DEFAULT, &p->grace);
	}
	publisher_tell(p);
	publisher_update(p);
}

/*
 * --publishers=DIR (resolved) with --publisher-grace=SECONDS, and at most
 * max publishers at once; socket is the broker's, for WSPIPE_BROKER;
 * adopt makes a socketpair's end a connection of the broker's.  Orphans of the publishers become our children, so that libev reaps
 * them.
 */
void
publisher_init(const char *dir, double grace, size_t max, const char *socket,
    void (*adopt)(int))
{
	const char	*path = getenv("PATH");

	publisher_adopt = adopt;
	publisher_dir = xstrdup(dir);
	publisher_grace = grace;
	publisher_max = max;
	publisher_socket = socket;
	xasprintf(&publisher_path, "PATH=%s", path != NULL && *path != '\0' ?
	    path : PUBLISHER_DEFAULT_PATH);
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
}

static void
publisher_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	log_warnx("publishers: shutdown deadline reached: killing what is "
	    "left");
	child_kill_all();
	publisher_finish();
}

/*
 * Shutting down: every program is ended, and done() is called once all
 * are gone, or after PUBLISHER_STOP_MAX (plus --closems) when what is
 * left is killed.
 */
void
publisher_shutdown(void (*done)(void))
{
	struct publisher	*p, *tmp;

	if (publisher_stopping)
		return;
	publisher_stopping = 1;
	ev_init(&publisher_deadline, publisher_deadline_cb);
	RB_FOREACH_SAFE(p, publisher_tree, &publishers, tmp) {
		if (!p->running) {
			publisher_free(p);
			continue;
		}
		p->stopped = 1;
		publisher_end(p);
	}
	if (npublishers == 0) {
		done();
		return;
	}
	publisher_done = done;
	ev_timer_set(&publisher_deadline, PUBLISHER_STOP_MAX +
	    conf.closems / 1000.0, 0.0);
	ev_timer_start(EV_DEFAULT, &publisher_deadline);
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * libFuzzer target for the broker's Redis client (src/redis.c) and the
 * --redis half of the broker (src/broker.c), compiled in whole.  The
 * input plays Redis on the other end of the real connections, which the
 * real redis_io_cb() reads (hiredis's parser, redis_answer(),
 * redis_push(), the broker's hooks and callbacks), and sends lines from
 * four broker connections, which make real calls.  The loop never runs:
 * after each record the target does what its next turn would (writes to
 * Redis, a deferred failure, closing the dead).
 *
 * Input: records, each a control byte c, then
 *   c < 0x80: a line up to '\n' from connection c & 3 (0x04: a gateway;
 *	0x08: it reads what is queued for it first), read unless stalled.
 *   0x80-0xbf: a length byte L, then L bytes Redis sends on the calls
 *	connection (on the subscribed one if c & 0x01), 1, 16, 256 or 4096
 *	times by (c >> 1) & 3.
 *   0xc0-0xff: by c & 7: Redis is lost; EOF on the calls or subscribed
 *	connection; connecting again if down, the handshake answered here
 *	or by the input; the tick; the tick, every call overdue; connection
 *	(c >> 3) & 3 closes.
 *
 * After each record: the books of states balance; histories are
 * consecutive, ending at their resource's seq; counts agree with lists;
 * resources are joined or read only while Redis is up, their call in
 * flight; a waiting subscriber's resource is not live and, Redis up, is
 * being joined or read, as is a blocking one's; a stalled connection has
 * something to wait for, and one not stalled no whole line unread.  Each
 * input starts connected and ends with nothing left.
 *
 * hiredis 0.14 callocs what "*N" announces, up to INT_MAX pointers, which
 * libFuzzer takes for running out of memory: arrays of more than
 * FZ_ARRAY_MAX are refused here as if calloc had failed.
 */

/* Small, so that a reader's conflation is reached within an input. */
#define BROKER_BEHIND	(16 * 1024)

#include "../../src/broker.c"
#include "../../src/redis.c"

#include <sys/ioctl.h>

#include <assert.h>

#define FZ_CONNS	4
#define FZ_ARRAY_MAX	(1 << 16)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct bconn	*fz_conn[FZ_CONNS];
static int		 fz_peer[2] = { -1, -1 };	/* Redis's: cmd, sub */
static char		 fz_sock[64];			/* where it listens */
static redisReplyObjectFunctions fz_fn;
static void		*(*fz_create_array)(const redisReadTask *, int);

static void *
fz_array(const redisReadTask *task, int n)
{
	if (n > FZ_ARRAY_MAX)
		return (NULL);
	return (fz_create_array(task, n));
}

static struct bconn *
fz_open(void)
{
	struct bconn	*bc;
	int		 sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	close(sv[1]);
	bc = xcalloc(1, sizeof *bc);
	bc->fd = sv[0];
	RB_INIT(&bc->subs);
	TAILQ_INIT(&bc->owed);
	TAILQ_INIT(&bc->pats);
	TAILQ_INIT(&bc->powed);
	TAILQ_INIT(&bc->ops);
	buf_init(&bc->in, BROKER_IN_CAP);
	/* Small, so that a reader falling behind is reached. */
	buf_init(&bc->out, 256 * 1024);
	ev_io_init(&bc->io, broker_io_cb, bc->fd, EV_READ);
	bc->io.data = bc;
	ev_io_start(EV_DEFAULT, &bc->io);
	TAILQ_INSERT_TAIL(&broker_conns, bc, entry);
	broker_stat.conns++;
	return (bc);
}

/*
 * The broker frees connections itself (broker_reap): those gone are found
 * before any is opened again, which may be where one of them was.
 */
static void
fz_reopen(void)
{
	struct bconn	*bc;
	int		 i;

	broker_reap();
	for (i = 0; i < FZ_CONNS; i++) {
		TAILQ_FOREACH(bc, &broker_conns, entry)
			if (bc == fz_conn[i])
				break;
		fz_conn[i] = bc;
	}
	for (i = 0; i < FZ_CONNS; i++)
		if (fz_conn[i] == NULL)
			fz_conn[i] = fz_open();
}

/* Redis reads what it was sent; down, it has closed its ends. */
static void
fz_drain(void)
{
	char	buf[16384];
	int	i;

	for (i = 0; i < 2; i++) {
		if (fz_peer[i] == -1)
			continue;
		if (rd.state == REDIS_DOWN) {
			close(fz_peer[i]);
			fz_peer[i] = -1;
		} else
			while (read(fz_peer[i], buf, sizeof buf) > 0)
				;
	}
}

/* What the loop's next turn does. */
static void
fz_loop(void)
{
	struct rconn	*rcs[2] = { &rd.cmd, &rd.sub };
	int		 i;

	for (i = 0; i < 2; i++)
		while (rcs[i]->c != NULL && (rcs[i]->io.events & EV_WRITE)) {
			redis_io_cb(EV_DEFAULT, &rcs[i]->io, EV_WRITE);
			fz_drain();
		}
	if (ev_is_active(&rd.later)) {
		ev_timer_stop(EV_DEFAULT, &rd.later);
		redis_later_cb(EV_DEFAULT, &rd.later, EV_TIMER);
	}
	fz_drain();
	fz_reopen();
}

/* Redis sends len bytes, times times, on rc; all of it is read. */
static void
fz_feed(struct rconn *rc, const void *p, size_t len, size_t times)
{
	size_t	off = 0, total = len * times;
	ssize_t	n;
	int	avail, peer = fz_peer[rc == &rd.sub];

	while (rc->c != NULL && total > 0) {
		if (off < total) {
			n = write(peer, (const char *)p + off % len,
			    len - off % len);
			if (n == -1 && errno != EAGAIN)
				abort();
			off += n > 0 ? (size_t)n : 0;
		}
		if (ioctl(rc->c->fd, FIONREAD, &avail) == -1)
			abort();
		if (avail == 0 && off == total)
			break;
		if (avail > 0)
			redis_io_cb(EV_DEFAULT, &rc->io, EV_READ);
	}
}

/*
 * The real connect, to a socket that is there only meanwhile (so that
 * none is left behind), and the handshake sent.
 */
static void
fz_connect(int answer)
{
	struct rconn		*rcs[2] = { &rd.cmd, &rd.sub };
	struct sockaddr_un	 sun;
	int			 i, lfd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	(void)strlcpy(sun.sun_path, fz_sock, sizeof sun.sun_path);
	(void)unlink(fz_sock);		/* a crash's */
	if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(lfd, 2) == -1)
		abort();
	ev_timer_stop(EV_DEFAULT, &rd.retry);
	redis_connect();
	assert(rd.state == REDIS_CONNECTING);
	for (i = 0; i < 2; i++) {
		fz_peer[i] = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC);
		if (fz_peer[i] == -1)
			abort();
		if (fz_create_array == NULL) {
			fz_fn = *rcs[i]->c->reader->fn;
			fz_create_array = fz_fn.createArray;
			fz_fn.createArray = fz_array;
		}
		rcs[i]->c->reader->fn = &fz_fn;
	}
	close(lfd);
	unlink(fz_sock);
	fz_loop();
	if (answer) {
		fz_feed(&rd.cmd, "+OK\r\n", 5, 1);
		fz_feed(&rd.sub, "+PONG\r\n", 7, 1);
		assert(rd.state == REDIS_UP);
		fz_loop();
	}
}

static void
fz_init(void)
{
	const char	*errstr;
	char		 url[128];

	ev_default_loop(EVFLAG_AUTO);
	log_init(LOG_LEVEL_NONE);
	signal(SIGPIPE, SIG_IGN);
	unsetenv("WSPIPE_REDIS_PASSWORD");
	/* Small, so that eviction and a full table are reached. */
	broker_max.resources = 8;
	broker_max.states = 5;
	broker_max.bytes = 3 * PUBSUB_DATA_MAX;
	broker_max.history = 3;
	broker_redis = 1;
	(void)snprintf(fz_sock, sizeof fz_sock, "/tmp/redis_fuzz.%ld",
	    (long)getpid());
	/*
	 * A timeout of 0: the tick PINGs, and no call is ever late.  Nobody
	 * listens yet: Redis is down, and each input connects again.
	 */
	(void)snprintf(url, sizeof url, "unix://%s?db=0", fz_sock);
	if (redis_open(url, 0.0, &broker_redis_hooks, &errstr) == -1)
		abort();
	assert(rd.state == REDIS_DOWN);
}

/* rc's calls; with r, those reading r. */
static size_t
fz_calls(struct rconn *rc, struct bres *r)
{
	struct rcall	*call;
	size_t		 n = 0;

	TAILQ_FOREACH(call, &rc->calls, entry)
		n += r == NULL || (call->cb == broker_redis_mirrored &&
		    call->arg == r);
	return (n);
}

static void
fz_check_conn(struct bconn *bc)
{
	struct bconn	*other;
	struct bsub	*s;
	struct bop	*op;
	size_t		 n = 0, blocked = 0;
	int		 stalled = 0;

	TAILQ_FOREACH(op, &bc->ops, entry) {
		assert(op->bc == bc);
		n++;
	}
	assert(n == bc->pending);
	n = 0;
	RB_FOREACH(s, bsub_tree, &bc->subs) {
		assert(s->bc == bc);
		assert(!s->blocking || s->waiting);
		assert(!s->waiting || s->r->rstate != BRES_LIVE);
		assert(!s->waiting || rd.state != REDIS_UP ||
		    s->r->rstate != BRES_NONE);
		assert(!s->blocking || (rd.state == REDIS_UP &&
		    (s->r->rstate == BRES_JOINING ||
		    s->r->rstate == BRES_READING)));
		blocked += s->blocking;
		n++;
	}
	assert(n == bc->nsubs && blocked == bc->blocked);
	TAILQ_FOREACH(other, &broker_stalled, sentry)
		stalled |= other == bc;
	assert(stalled == bc->stalled);
	if (bc->stalled)
		assert(bc->blocked > 0 || bc->pending > 0 || redis_busy());
	else if (!bc->dead && buf_len(&bc->in) > 0)
		assert(memchr(buf_head(&bc->in), '\n',
		    buf_len(&bc->in)) == NULL);
}

static void
fz_check(void)
{
	struct bres	*r;
	struct bstate	*st, *prev;
	struct bconn	*bc;
	struct bmsg	*bm;
	size_t		 n = 0, bytes = 0, names = 0, h;

	/* Redis's states are all charged to one budget here. */
	TAILQ_FOREACH(st, &broker_glru, glru) {
		assert(st->r != NULL && st->budget == &broker_scripts);
		n++;
		bytes += st->len;
	}
	assert(n == broker_stat.states && bytes == broker_stat.bytes &&
	    n == broker_scripts.nstates && bytes == broker_scripts.bytes);
	assert(n <= broker_max.states && bytes <= broker_max.bytes);
	assert(RB_EMPTY(&broker_guests));
	RB_FOREACH(r, bres_tree, &broker_res) {
		assert(!TAILQ_EMPTY(&r->hist) || r->nsubs > 0 ||
		    r->rstate == BRES_JOINING || r->rstate == BRES_READING);
		assert(rd.state == REDIS_UP || r->rstate == BRES_NONE);
		/* Whatever it waits for is on its way. */
		assert(r->rstate != BRES_JOINING || rd.sub.ncalls > 0);
		assert(r->rstate != BRES_READING || fz_calls(&rd.cmd, r) > 0);
		h = 0;
		prev = NULL;
		TAILQ_FOREACH(st, &r->hist, hentry) {
			assert(st->r == r);
			assert(prev == NULL || st->seq == prev->seq + 1);
			prev = st;
			h++;
		}
		assert(h == r->nhist && h <= broker_max.history);
		assert(prev == NULL || prev->seq == r->seq);
		n = bytes = 0;
		TAILQ_FOREACH(bm, &r->early, entry) {
			n++;
			bytes += bm->len;
		}
		assert(n == r->nearly && bytes == r->earlybytes);
		assert(n == 0 || r->rstate == BRES_READING);
		names++;
	}
	assert(names == broker_stat.resources &&
	    names <= broker_max.resources);
	TAILQ_FOREACH(bc, &broker_conns, entry)
		fz_check_conn(bc);
	assert(rd.cmd.ncalls == fz_calls(&rd.cmd, NULL) &&
	    rd.sub.ncalls == fz_calls(&rd.sub, NULL));
	assert(rd.state != REDIS_DOWN || (rd.cmd.c == NULL &&
	    rd.sub.c == NULL && rd.cmd.ncalls + rd.sub.ncalls == 0));
	assert(!rd.inloop && rd.failed == NULL);
}

/* One event of the input's. */
static void
fz_event(int c)
{
	struct rconn	*rc = c & 1 ? &rd.cmd : &rd.sub;
	int		 k = (c >> 3) & (FZ_CONNS - 1);

	switch (c & 7) {
	case 0:
		redis_fail("fuzz: lost");
		break;
	case 1:
	case 2:
		if (rc->c != NULL) {
			shutdown(fz_peer[rc == &rd.sub], SHUT_WR);
			redis_io_cb(EV_DEFAULT, &rc->io, EV_READ);
		}
		break;
	case 3:
	case 4:
		if (rd.state == REDIS_DOWN)
			fz_connect(c & 1);
		break;
	case 5:
	case 6:
		if (!ev_is_active(&rd.tick))
			break;
		rd.timeout = (c & 7) == 6 ? -1.0 : 0.0;
		redis_tick_cb(EV_DEFAULT, &rd.tick, EV_TIMER);
		rd.timeout = 0.0;
		break;
	case 7:
		broker_close(fz_conn[k]);
		fz_conn[k] = fz_open();
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 init;
	static size_t	 times[4] = { 1, 16, 256, 4096 };
	const uint8_t	*p = data, *end = data + size, *nl;
	struct bconn	*bc;
	size_t		 len;
	int		 c, i;

	if (!init) {
		fz_init();
		init = 1;
	}
	for (i = 0; i < FZ_CONNS; i++)
		fz_conn[i] = fz_open();
	fz_connect(1);
	while (p < end) {
		c = *p++;
		if (c >= 0xc0)
			fz_event(c);
		else if (c >= 0x80) {
			len = p < end ? *p++ : 0;
			if (len > (size_t)(end - p))
				len = end - p;
			fz_feed(c & 1 ? &rd.sub : &rd.cmd, p, len,
			    times[(c >> 1) & 3]);
			p += len;
		} else {
			bc = fz_conn[c & 3];
			if (c & 0x04)
				bc->gateway = 1;
			if (c & 0x08) {
				buf_drain(&bc->out, buf_len(&bc->out));
				broker_catch_up(bc);
			}
			if ((nl = memchr(p, '\n', end - p)) == NULL)
				nl = end;
			/* A stalled connection is not read. */
			if (!bc->stalled && !bc->dead &&
			    (size_t)(nl - p) < buf_room(&bc->in)) {
				(void)buf_append(&bc->in, p, nl - p);
				(void)buf_append(&bc->in, "\n", 1);
				broker_input(bc);
			}
			p = nl + (nl < end);
		}
		fz_loop();
		fz_check();
	}
	for (i = 0; i < FZ_CONNS; i++)
		broker_close(fz_conn[i]);
	redis_fail("fuzz: done");
	ev_timer_stop(EV_DEFAULT, &rd.retry);
	ev_timer_stop(EV_DEFAULT, &rd.later);
	fz_drain();
	assert(fz_peer[0] == -1 && fz_peer[1] == -1);
	assert(TAILQ_EMPTY(&broker_conns) && TAILQ_EMPTY(&broker_stalled) &&
	    broker_stat.conns == 0 && broker_stat.subs == 0);
	/* What fz_check() checks, now empty, and Redis given up. */
	assert(RB_EMPTY(&broker_res) && TAILQ_EMPTY(&broker_glru));
	fz_check();
	assert(rd.state == REDIS_DOWN && !ev_is_active(&rd.tick));
	/* The same start for the next input. */
	rd.backoff = REDIS_BACKOFF_MIN;
	rd.reconnects = 0;
	rd.why[0] = '\0';
	broker_stat.publishes = broker_stat.deliveries = 0;
	return (0);
}

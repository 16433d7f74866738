/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * libFuzzer target for the broker (src/broker.c, compiled in whole so
 * that its static functions are reached): lines from four connections,
 * scripts' and gateways', some of which stop reading, drive the real
 * command handlers under small limits and a history of 3.  After each
 * line the budgets' books must balance, no limit may be exceeded, every
 * history must be its resource's newest states without a hole, and once
 * every connection has gone and every state is forgotten nothing is left.
 *
 * Input: records of one control byte then a line up to '\n'.  The
 * control byte's low bits pick the connection, 0x40 makes it a gateway,
 * 0x80 lets it read what is queued for it.
 */

/* Small, so that a reader's conflation is reached within an input. */
#define BROKER_BEHIND	(16 * 1024)

#include "../../src/broker.c"

#include <assert.h>

#define FZ_CONNS	4

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct bconn	*fz_conn[FZ_CONNS];

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
	buf_init(&bc->in, BROKER_IN_CAP);
	/* Small, so that a reader falling behind is reached. */
	buf_init(&bc->out, 256 * 1024);
	ev_io_init(&bc->io, broker_io_cb, bc->fd, EV_READ);
	bc->io.data = bc;
	TAILQ_INSERT_TAIL(&broker_conns, bc, entry);
	broker_stat.conns++;
	return (bc);
}

/*
 * The patterns' books: each pattern is followed, counted at its length;
 * a connection's list holds its patterns; one owed a snapshot has one
 * under way, its cursor a name the pattern matches.
 */
static void
fz_check_patterns(void)
{
	struct pnode	*pn;
	struct bpat	*p;
	struct bpsub	*s;
	size_t		 lens[PTABLE_KEY_MAX + 1], n = 0, pats = 0, k;
	int		 i;

	memset(lens, 0, sizeof lens);
	for (k = 0; broker_ptab.b != NULL && k <= broker_ptab.mask; k++)
		for (pn = broker_ptab.b[k]; pn != NULL; pn = pn->next) {
			p = (struct bpat *)pn;
			assert(!TAILQ_EMPTY(&p->subs) && pn->len == p->len);
			assert(ptable_find(&broker_ptab, p->prefix, p->len) ==
			    pn);
			lens[p->len]++;
			pats++;
			TAILQ_FOREACH(s, &p->subs, pentry) {
				assert(s->p == p);
				n++;
			}
		}
	for (k = 0; k <= PTABLE_KEY_MAX; k++)
		assert(lens[k] == broker_ptab.lens[k]);
	assert(pats == broker_ptab.n && n == broker_npsubs);
	n = 0;
	for (i = 0; i < FZ_CONNS; i++) {
		TAILQ_FOREACH(s, &fz_conn[i]->pats, centry) {
			assert(s->bc == fz_conn[i]);
			assert(!s->owed || s->snap);
			assert(s->cursor == NULL || (s->snap &&
			    strncmp(s->cursor, s->p->prefix, s->p->len) == 0));
			n++;
		}
	}
	assert(n == broker_npsubs);
}

/* The books of every budget agree with the states they hold. */
static void
fz_check(void)
{
	struct bbudget	*b;
	struct bres	*r;
	struct bstate	*st, *prev;
	size_t		 n = 0, bytes = 0, bn, bb, names = 0, h;

	TAILQ_FOREACH(st, &broker_glru, glru) {
		assert(st->r != NULL && st->budget != NULL);
		n++;
		bytes += st->len;
	}
	assert(n == broker_stat.states && bytes == broker_stat.bytes);
	assert(n <= broker_max.states && bytes <= broker_max.bytes);
	bn = bb = 0;
	TAILQ_FOREACH(st, &broker_scripts.lru, lru) {
		assert(st->budget == &broker_scripts);
		bn++;
		bb += st->len;
	}
	assert(bn == broker_scripts.nstates && bb == broker_scripts.bytes);
	RB_FOREACH(b, bbudget_tree, &broker_guests) {
		bn = bb = 0;
		TAILQ_FOREACH(st, &b->lru, lru) {
			assert(st->budget == b);
			bn++;
			bb += st->len;
		}
		assert(bn > 0 && bn == b->nstates && bb == b->bytes);
		assert(bn <= broker_max.guest_states &&
		    bb <= broker_max.guest_bytes);
	}
	RB_FOREACH(r, bres_tree, &broker_res) {
		assert(!TAILQ_EMPTY(&r->hist) || r->nsubs > 0);
		assert(r->seq <= broker_stat.publishes);
		/* The newest states, consecutive, the last one r->seq. */
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
		names++;
	}
	assert(names == broker_stat.resources &&
	    names <= broker_max.resources);
	fz_check_patterns();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 init;
	const uint8_t	*p = data, *end = data + size, *nl;
	struct bconn	*bc;
	struct bres	*r;
	struct bstate	*st;
	int		 i, k, dead[FZ_CONNS];

	if (!init) {
		ev_default_loop(EVFLAG_AUTO);
		log_init(LOG_LEVEL_NONE);
		signal(SIGPIPE, SIG_IGN);
		broker_max.resources = 40;
		broker_max.states = 20;
		broker_max.bytes = 3 * PUBSUB_DATA_MAX;
		broker_max.guest_states = 4;
		broker_max.guest_bytes = PUBSUB_DATA_MAX;
		broker_max.history = 3;
		broker_epoch = 0x5eed;
		init = 1;
	}
	for (i = 0; i < FZ_CONNS; i++)
		fz_conn[i] = fz_open();
	while (p < end) {
		k = *p & (FZ_CONNS - 1);
		bc = fz_conn[k];
		if (*p & 0x40)
			bc->gateway = 1;
		if (*p & 0x80) {
			buf_drain(&bc->out, buf_len(&bc->out));
			broker_catch_up(bc);
		}
		p++;
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if ((size_t)(nl - p) <= PUBSUB_LINE_MAX)
			broker_line(bc, (const char *)p, nl - p);
		p = nl + (nl < end);
		/* Those that fell behind are closed, as in the loop. */
		for (i = 0; i < FZ_CONNS; i++)
			dead[i] = fz_conn[i]->dead;
		broker_reap();
		for (i = 0; i < FZ_CONNS; i++)
			if (dead[i])
				fz_conn[i] = fz_open();
		fz_check();
	}
	for (i = 0; i < FZ_CONNS; i++)
		broker_close(fz_conn[i]);
	assert(broker_stat.subs == 0 && broker_stat.conns == 0);
	assert(broker_npsubs == 0 && broker_ptab.n == 0);
	while ((st = TAILQ_FIRST(&broker_glru)) != NULL) {
		r = st->r;
		broker_forget(r);
		broker_gc(r);
	}
	assert(broker_stat.resources == 0 && RB_EMPTY(&broker_guests) &&
	    broker_stat.bytes == 0);
	return (0);
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The broker: `wspipe broker --socket=PATH`.  It holds the resources of
 * listen mode, each with its subscribers and its last state, and speaks
 * pubsub.c's lines on a UNIX socket to gateways, publishers and
 * subscribers alike.  Retained state is bounded and forgotten least
 * recently published first.  A connection that falls more than
 * BROKER_BEHIND behind gets only the newest state of each of its
 * resources once it catches up (conflation, as a gateway does for a slow
 * browser), and one whose queue still passes BROKER_QUEUE_MAX is dropped,
 * so no reader can stall a publisher or grow the broker.
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

#include <systemd/sd-daemon.h>

#include "wspipe.h"
#include "ptable.h"
#include "pubsub.h"

#define BROKER_QUEUE_MAX	(8 * 1024 * 1024)
#ifndef BROKER_BEHIND	/* the fuzz target's is small */
#define BROKER_BEHIND		(4 * 1024 * 1024)	/* updates conflated */
#endif
#define BROKER_IN_CAP		(PUBSUB_LINE_MAX + 2)
#define BROKER_LIST_MAX		10000	/* lines a list answers at most */
#define BROKER_EVICT_SCAN	64	/* states looked at to free a name */
#define BROKER_REPLAY_MAX	(1024 * 1024)	/* a subscribe's replay */
#define BROKER_GET_MAX		(32 * 1024)	/* a get's states, at once */
#define BROKER_HISTORY_MAX	1000000
#define BROKER_PENDING_MAX	64	/* a connection's Redis calls */
#define BROKER_EARLY_MAX	1024	/* messages held while reading */
#define BROKER_EARLY_BYTES	(4 * 1024 * 1024)	/* per resource */
#define BROKER_EARLY_ALL	(32 * 1024 * 1024)	/* all resources */
#define BROKER_READ_STATES	4096	/* states a read gets at most */

struct bconn;
struct bres;

struct bsub {
	RB_ENTRY(bsub)		 centry;	/* in the connection's tree */
	TAILQ_ENTRY(bsub)	 rentry;	/* in the resource's list */
	TAILQ_ENTRY(bsub)	 oentry;	/* owed its newest state */
	struct bconn		*bc;
	struct bres		*r;
	int			 owed;
	int			 ids;		/* its updates carry ids */
	/* --redis: waiting until its resource is followed in Redis. */
	int			 waiting;
	int			 blocking;	/* its connection waits too */
	int			 told;		/* "ok" was sent already */
	enum pubsub_from	 from;		/* what it asked for */
	struct pubsub_id	 fromid;
};

/*
 * Whose retained states compete with whose: scripts' states share one
 * budget, a browser's (published through a gateway) the budget of their
 * resource's first path segment, so that nobody evicts another's states.
 */
struct bbudget {
	RB_ENTRY(bbudget)	 node;		/* guests', by prefix */
	TAILQ_HEAD(, bstate)	 lru;		/* its states, oldest first */
	char			*prefix;	/* NULL: the scripts' */
	size_t			 nstates;
	size_t			 bytes;
	int			 held;		/* a state is being charged */
};

/*
 * One state of a resource's history, charged to the budget of whoever
 * published it.  A resource's history is always its newest states without
 * a hole: forgetting one forgets the older ones too.
 */
struct bstate {
	TAILQ_ENTRY(bstate)	 hentry;	/* in its history, oldest first */
	TAILQ_ENTRY(bstate)	 lru;		/* in its budget, oldest first */
	TAILQ_ENTRY(bstate)	 glru;		/* every state, oldest first */
	struct bres		*r;
	struct bbudget		*budget;
	unsigned long long	 seq;
	size_t			 len;
	char			 data[];
};

TAILQ_HEAD(bstate_list, bstate);

/* --redis: a message that came while the resource was being read. */
struct bmsg {
	TAILQ_ENTRY(bmsg)	 entry;
	struct pubsub_id	 id;
	size_t			 len;
	char			 data[];
};

/*
 * --redis: how far a resource is followed in Redis.  JOINING: subscribed
 * to its channel, not yet confirmed; READING: confirmed, its states being
 * read; LIVE: its history here is Redis's, kept up by its channel.
 */
enum { BRES_NONE, BRES_JOINING, BRES_READING, BRES_LIVE };

struct bres {
	RB_ENTRY(bres)		 node;
	TAILQ_HEAD(, bsub)	 subs;
	size_t			 nsubs;
	char			*name;
	struct bstate_list	 hist;		/* its newest states */
	size_t			 nhist;
	unsigned long long	 seq;		/* its newest state's id */
	unsigned long long	 npub;		/* states published */
	ev_tstamp		 stamp;		/* when the last one was */
	unsigned long long	 epoch;		/* the id space of its ids */
	int			 rstate;	/* BRES_NONE... */
	int			 reread;	/* read again once read */
	TAILQ_HEAD(, bmsg)	 early;		/* messages while READING */
	size_t			 nearly;
	size_t			 earlybytes;
};

RB_HEAD(bsub_tree, bsub);

struct bconn;

/* --redis: a publish or get in flight, for its connection. */
struct bop {
	TAILQ_ENTRY(bop)	 entry;
	struct bconn		*bc;		/* NULL: it is gone */
	struct pubsub_msg	 m;		/* resource: name */
	char			 name[PUBSUB_RESOURCE_MAX + 1];
};

/*
 * A pattern some connections follow: every resource whose name begins
 * with prefix.  Patterns are found by the prefixes of a published name,
 * one lookup per length some pattern has, never by a scan of them all.
 */
struct bpat {
	struct pnode		 pn;		/* first: in broker_ptab */
	TAILQ_HEAD(, bpsub)	 subs;
	size_t			 len;
	char			*prefix;	/* without its "*" */
};

/*
 * A connection's pattern.  Its snapshot (the current state of each
 * matching resource, in name order) goes out as the connection's queue
 * allows, cursor the last name sent; an update of a name past the cursor
 * is left to the snapshot, which brings it.
 */
struct bpsub {
	TAILQ_ENTRY(bpsub)	 pentry;	/* in its pattern's list */
	TAILQ_ENTRY(bpsub)	 centry;	/* in its connection's list */
	TAILQ_ENTRY(bpsub)	 oentry;	/* owed the rest of a snapshot */
	struct bconn		*bc;
	struct bpat		*p;
	int			 ids;
	int			 owed;
	int			 snap;		/* a snapshot is under way */
	int			 behind;	/* ... after "gap P behind" */
	char			*cursor;	/* while one is, the last name */
};

struct bconn {
	TAILQ_ENTRY(bconn)	 entry;
	TAILQ_ENTRY(bconn)	 sentry;	/* stalled */
	struct bsub_tree	 subs;
	TAILQ_HEAD(, bsub)	 owed;		/* conflated while behind */
	size_t			 nsubs;
	int			 fd;
	ev_io			 io;
	struct buf		 in;
	struct buf		 out;
	int			 discard;	/* skipping an overlong line */
	int			 dead;
	int			 gateway;	/* said "hello gateway" */
	/* --redis: its lines wait for calls in flight. */
	TAILQ_HEAD(, bop)	 ops;
	size_t			 pending;	/* its calls in flight */
	size_t			 blocked;	/* its subscribes waiting */
	int			 stalled;	/* a line waits to be read */
	TAILQ_HEAD(, bpsub)	 pats;		/* its patterns */
	TAILQ_HEAD(, bpsub)	 powed;		/* snapshots to go on with */
	size_t			 npats;
	unsigned long long	 mark;		/* the publish it last got */
};

static int	bres_cmp(struct bres *, struct bres *);
static int	bsub_cmp(struct bsub *, struct bsub *);
static int	bbudget_cmp(struct bbudget *, struct bbudget *);
RB_HEAD(bres_tree, bres);
RB_HEAD(bbudget_tree, bbudget);
RB_PROTOTYPE(bres_tree, bres, node, bres_cmp)
RB_GENERATE(bres_tree, bres, node, bres_cmp)
RB_PROTOTYPE(bsub_tree, bsub, centry, bsub_cmp)
RB_GENERATE(bsub_tree, bsub, centry, bsub_cmp)
RB_PROTOTYPE(bbudget_tree, bbudget, node, bbudget_cmp)
RB_GENERATE(bbudget_tree, bbudget, node, bbudget_cmp)
static struct ptable			 broker_ptab;	/* the patterns */
static size_t				 broker_npsubs;

static struct bres_tree			 broker_res = RB_INITIALIZER(&broker_res);
static struct bbudget_tree		 broker_guests =
    RB_INITIALIZER(&broker_guests);
static struct bbudget			 broker_scripts = {
	.lru = TAILQ_HEAD_INITIALIZER(broker_scripts.lru)
};
static struct bstate_list		 broker_glru =
    TAILQ_HEAD_INITIALIZER(broker_glru);
static TAILQ_HEAD(, bconn)		 broker_conns =
    TAILQ_HEAD_INITIALIZER(broker_conns);
static TAILQ_HEAD(, bconn)		 broker_stalled =
    TAILQ_HEAD_INITIALIZER(broker_stalled);

/* --redis=URL: resources are Redis's, this broker follows some. */
static int				 broker_redis;
static size_t				 broker_early_bytes;	/* held */

/* Limits, each an option. */
static struct {
	size_t		 resources;	/* names, with a state or subscribers */
	size_t		 states;	/* retained states, all budgets */
	size_t		 bytes;		/* their bytes */
	size_t		 guest_states;	/* per guest budget */
	size_t		 guest_bytes;
	size_t		 history;	/* states kept per resource */
} broker_max = { 1000000, 100000, 64 * 1024 * 1024, 1000, 1024 * 1024, 1 };

/* This broker's id space: ids it gave before a restart are not its own. */
static unsigned long long		 broker_epoch;

/* What introspection reports. */
static struct {
	size_t			 resources;
	size_t			 states;
	size_t			 bytes;
	size_t			 conns;
	size_t			 subs;
	unsigned long long	 publishes;
	unsigned long long	 deliveries;
	unsigned long long	 last_publishes;	/* a second ago */
	unsigned long long	 last_deliveries;
	double			 publish_rate;
	double			 delivery_rate;
} broker_stat;

static const char			*broker_path;
static int				 broker_lfd = -1;
static ev_io				 broker_accept;
static ev_timer				 broker_backoff;
static ev_timer				 broker_tick;
static ev_signal			 broker_sigterm, broker_sigint;

static void	broker_io_cb(struct ev_loop *, ev_io *, int);
static void	broker_update(struct bconn *);
static void	broker_join(struct bres *);
static void	broker_redis_publish(struct bconn *, const struct pubsub_msg *);
static void	broker_redis_get(struct bconn *, const struct pubsub_msg *);
static void	broker_reap(void);
static void	broker_input(struct bconn *);
static void	broker_pfanout(struct bres *, struct bstate *);
static void	broker_pcatch_up(struct bconn *);
static void	broker_psubscribe(struct bconn *, const struct pubsub_msg *);
static void	broker_punsubscribe(struct bconn *, const struct pubsub_msg *);
static void	broker_pget(struct bconn *, const struct pubsub_msg *);
static void	broker_pfree(struct bpsub *);

static int
bres_cmp(struct bres *a, struct bres *b)
{
	return (strcmp(a->name, b->name));
}

static int
bsub_cmp(struct bsub *a, struct bsub *b)
{
	return (a->r < b->r ? -1 : a->r > b->r);
}

static int
bbudget_cmp(struct bbudget *a, struct bbudget *b)
{
	return (strcmp(a->prefix, b->prefix));
}

/* A browser's budget: its resource's first segment, slashes and all. */
static void
broker_prefix(const char *name, char *prefix)
{
	const char	*slash;
	size_t		 len = strlen(name);

	if (name[0] == '/' && (slash = strchr(name + 1, '/')) != NULL)
		len = slash + 1 - name;
	memcpy(prefix, name, len);
	prefix[len] = '\0';
}

/* The budget a browser's state of resource name is charged to. */
static struct bbudget *
broker_guest_budget(const char *name)
{
	struct bbudget	 key, *b;
	char		 prefix[PUBSUB_RESOURCE_MAX + 1];

	broker_prefix(name, prefix);
	key.prefix = prefix;
	if ((b = RB_FIND(bbudget_tree, &broker_guests, &key)) != NULL)
		return (b);
	b = xcalloc(1, sizeof *b);
	b->prefix = xstrdup(prefix);
	TAILQ_INIT(&b->lru);
	RB_INSERT(bbudget_tree, &broker_guests, b);
	return (b);
}

/* Frees a guest budget that holds no state any more. */
static void
broker_budget_gc(struct bbudget *b)
{
	if (b == &broker_scripts || b->nstates > 0 || b->held)
		return;
	RB_REMOVE(bbudget_tree, &broker_guests, b);
	free(b->prefix);
	free(b);
}

/* Forgets r's oldest state. */
static void
broker_drop_oldest(struct bres *r)
{
	struct bstate	*st = TAILQ_FIRST(&r->hist);
	struct bbudget	*b = st->budget;

	TAILQ_REMOVE(&r->hist, st, hentry);
	TAILQ_REMOVE(&b->lru, st, lru);
	TAILQ_REMOVE(&broker_glru, st, glru);
	r->nhist--;
	b->nstates--;
	b->bytes -= st->len;
	broker_stat.states--;
	broker_stat.bytes -= st->len;
	free(st);
	broker_budget_gc(b);
}

/* Forgets r's history, its state with it. */
static void
broker_forget(struct bres *r)
{
	while (!TAILQ_EMPTY(&r->hist))
		broker_drop_oldest(r);
}

/* Forgets the messages held for r while it was being read. */
static void
broker_early_free(struct bres *r)
{
	struct bmsg	*bm;

	while ((bm = TAILQ_FIRST(&r->early)) != NULL) {
		TAILQ_REMOVE(&r->early, bm, entry);
		free(bm);
	}
	broker_early_bytes -= r->earlybytes;
	r->nearly = 0;
	r->earlybytes = 0;
}

/*
 * Frees a resource that has neither subscribers nor a state.  With
 * --redis its states are Redis's: one nobody here follows is left, unless
 * it is being read (the read's answer holds it).
 */
static void
broker_gc(struct bres *r)
{
	if (broker_redis) {
		if (r->nsubs > 0 || r->rstate == BRES_JOINING ||
		    r->rstate == BRES_READING)
			return;
		if (r->rstate == BRES_LIVE)
			redis_leave(r->name);
		broker_early_free(r);
		broker_forget(r);
	}
	if (!TAILQ_EMPTY(&r->hist) || r->nsubs > 0)
		return;
	RB_REMOVE(bres_tree, &broker_res, r);
	broker_stat.resources--;
	free(r->name);
	free(r);
}

/*
 * Evicts the oldest state of b (NULL: of anybody's), and the older ones
 * of its resource; -1 if there was none.  Resource keep is not freed.
 */
static int
broker_evict(struct bbudget *b, struct bres *keep)
{
	struct bstate	*old;
	struct bres	*r;

	old = b != NULL ? TAILQ_FIRST(&b->lru) : TAILQ_FIRST(&broker_glru);
	if (old == NULL)
		return (-1);
	r = old->r;
	while (TAILQ_FIRST(&r->hist) != old)
		broker_drop_oldest(r);
	broker_drop_oldest(r);
	if (r != keep)
		broker_gc(r);
	return (0);
}

/*
 * Makes room for one more name: the table is full, so an old state whose
 * resource nobody follows is forgotten, and its name with it.  Only a
 * script's command may evict; a few of the oldest states are looked at.
 */
static int
broker_make_room(struct bconn *bc)
{
	struct bstate	*old;
	struct bres	*r;
	int		 n = 0;

	if (bc->gateway)
		return (-1);
	TAILQ_FOREACH(old, &broker_glru, glru) {
		if ((r = old->r)->nsubs == 0) {
			broker_forget(r);
			broker_gc(r);
			return (0);
		}
		if (++n == BROKER_EVICT_SCAN)
			break;
	}
	return (-1);
}

static struct bres *
broker_find(struct bconn *bc, const char *name, size_t len, int create)
{
	struct bres	 key, *r;
	char		 buf[PUBSUB_RESOURCE_MAX + 1];

	memcpy(buf, name, len);
	buf[len] = '\0';
	key.name = buf;
	if ((r = RB_FIND(bres_tree, &broker_res, &key)) != NULL || !create)
		return (r);
	if (broker_stat.resources >= broker_max.resources &&
	    broker_make_room(bc) == -1)
		return (NULL);
	r = xcalloc(1, sizeof *r);
	r->name = xstrdup(buf);
	TAILQ_INIT(&r->subs);
	TAILQ_INIT(&r->hist);
	TAILQ_INIT(&r->early);
	/*
	 * Its ids start past every id this broker has given, so that a
	 * resource forgotten and made again never repeats one.  With --redis
	 * they are Redis's, unknown until it is read (0).
	 */
	if (!broker_redis) {
		r->seq = broker_stat.publishes;
		r->epoch = broker_epoch;
	}
	RB_INSERT(bres_tree, &broker_res, r);
	broker_stat.resources++;
	return (r);
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

/* Sends "VERB A[ B]", B being len bytes. */
static void
broker_sendf(struct bconn *bc, const char *verb, const char *a,
    const char *b, size_t blen)
{
	static char	line[PUBSUB_LINE_MAX + 2];
	size_t		n;

	n = pubsub_line(line, verb, a, a != NULL ? strlen(a) : 0, NULL, b,
	    blen);
	line[n++] = '\n';
	broker_send(bc, line, n);
}

/* m's resource as a string, into name (PUBSUB_RESOURCE_MAX + 1 bytes). */
static void
broker_name(const struct pubsub_msg *m, char *name)
{
	memcpy(name, m->resource, m->resourcelen);
	name[m->resourcelen] = '\0';
}

/* "error VERB RESOURCE REASON": a command that was not carried out. */
static void
broker_refuse(struct bconn *bc, const struct pubsub_msg *m, const char *why)
{
	char	line[PUBSUB_RESOURCE_MAX + 256];

	(void)snprintf(line, sizeof line, "%s %.*s %.160s",
	    pubsub_verb_name(m->verb), (int)m->resourcelen, m->resource, why);
	broker_sendf(bc, "error", line, NULL, 0);
}

static void
broker_ok(struct bconn *bc, const struct pubsub_msg *m, const char *name)
{
	broker_sendf(bc, "ok", pubsub_verb_name(m->verb), name, strlen(name));
}

/* The id of state number seq of id space epoch, as text. */
static size_t
broker_id(unsigned long long epoch, unsigned long long seq, char *buf)
{
	struct pubsub_id	id = { epoch, seq };

	return (pubsub_id_format(&id, buf, PUBSUB_ID_MAX));
}

/* "VERB R [ID ]DATA\n" for a state into line; its length. */
static size_t
broker_state_line(char *line, const char *verb, const struct bres *r,
    const struct bstate *st, int ids)
{
	struct pubsub_id	id = { r->epoch, st->seq };
	size_t			n;

	n = pubsub_line(line, verb, r->name, strlen(r->name), ids ? &id :
	    NULL, st->data, st->len);
	line[n++] = '\n';
	return (n);
}

static void
broker_send_state(struct bconn *bc, const char *verb, const struct bres *r,
    const struct bstate *st, int ids)
{
	static char	line[PUBSUB_LINE_MAX + 2];

	broker_send(bc, line, broker_state_line(line, verb, r, st, ids));
	broker_stat.deliveries++;
}

/*
 * Sends the states of r after where a subscribe or get starts (m->from),
 * each as "VERB R ID DATA", at most cap bytes of data: the oldest first
 * (a get, which is asked again for the rest), or else the newest that
 * fit.  States it cannot send after an id are announced by "gap R WHY":
 * "reset" (the id is not of this id space) or "history" (no longer kept).
 */
static void
broker_replay(struct bconn *bc, struct bres *r, const struct pubsub_msg *m,
    const char *verb, size_t cap, int oldest_first)
{
	struct bstate	*st, *start = TAILQ_FIRST(&r->hist);
	const char	*why = NULL;
	size_t		 bytes = 0;

	if (m->from == PUBSUB_FROM_CURRENT)
		start = TAILQ_LAST(&r->hist, bstate_list);
	else if (m->from == PUBSUB_FROM_ID) {
		if (m->id.epoch != r->epoch || m->id.seq > r->seq)
			why = "reset";
		else if (m->id.seq == r->seq)
			start = NULL;		/* it is up to date */
		else {
			while (start != NULL && start->seq <= m->id.seq)
				start = TAILQ_NEXT(start, hentry);
			if (start == NULL || start->seq > m->id.seq + 1)
				why = "history";
		}
	}
	if (start != NULL && !oldest_first) {
		/* The newest states that fit; the ones before are missed. */
		st = TAILQ_LAST(&r->hist, bstate_list);
		for (bytes = st->len; st != start; bytes += st->len) {
			if (bytes + TAILQ_PREV(st, bstate_list, hentry)->len >
			    cap)
				break;
			st = TAILQ_PREV(st, bstate_list, hentry);
		}
		if (st != start && m->from == PUBSUB_FROM_ID)
			why = "history";
		start = st;
	}
	if (why != NULL)
		broker_sendf(bc, "gap", r->name, why, strlen(why));
	for (st = start, bytes = 0; st != NULL && (bytes == 0 ||
	    bytes + st->len <= cap); st = TAILQ_NEXT(st, hentry)) {
		broker_send_state(bc, verb, r, st, 1);
		bytes += st->len + 1;
	}
}

/*
 * Subscribed from now on: "ok", then what s asked for (the current state,
 * or the states after an id), then each new one.
 */
static void
broker_serve(struct bsub *s)
{
	struct pubsub_msg	 m;
	struct bres		*r = s->r;
	struct bstate		*st;

	memset(&m, 0, sizeof m);
	m.verb = PUBSUB_SUBSCRIBE;
	m.from = s->from;
	m.id = s->fromid;
	if (!s->told)
		broker_ok(s->bc, &m, r->name);
	s->told = 0;
	s->waiting = 0;
	if (m.from == PUBSUB_FROM_START || m.from == PUBSUB_FROM_ID)
		broker_replay(s->bc, r, &m, "update", BROKER_REPLAY_MAX, 0);
	else if ((st = TAILQ_LAST(&r->hist, bstate_list)) != NULL)
		broker_send_state(s->bc, "update", r, st, s->ids);
}

static void
broker_subscribe(struct bconn *bc, const struct pubsub_msg *m)
{
	struct bsub	 key, *s;
	struct bres	*r;

	if (pubsub_pattern(m->resource, m->resourcelen)) {
		broker_psubscribe(bc, m);
		return;
	}
	if ((r = broker_find(bc, m->resource, m->resourcelen, 1)) == NULL) {
		broker_refuse(bc, m, "too many resources");
		return;
	}
	key.r = r;
	if ((s = RB_FIND(bsub_tree, &bc->subs, &key)) == NULL) {
		s = xcalloc(1, sizeof *s);
		s->bc = bc;
		s->r = r;
		TAILQ_INSERT_TAIL(&r->subs, s, rentry);
		RB_INSERT(bsub_tree, &bc->subs, s);
		r->nsubs++;
		bc->nsubs++;
		broker_stat.subs++;
		publisher_subscribers(r->name, r->nsubs);
	}
	s->ids = bc->gateway || m->from != PUBSUB_FROM_NONE;
	s->from = m->from;
	s->fromid = m->id;
	if (broker_redis && r->rstate != BRES_LIVE) {
		/*
		 * Served once Redis's states are here.  Meanwhile its
		 * connection's next lines wait, so that "ok" still comes
		 * in order; with Redis down, "ok" now, the states when it
		 * is back.
		 */
		s->waiting = 1;
		if (redis_up()) {
			if (!s->blocking) {
				s->blocking = 1;
				bc->blocked++;
			}
			if (r->rstate == BRES_NONE)
				broker_join(r);
		} else {
			broker_ok(bc, m, r->name);
			s->told = 1;
		}
		return;
	}
	broker_serve(s);
}

static void
broker_unsub(struct bsub *s)
{
	struct bres	*r = s->r;
	struct bconn	*bc = s->bc;

	TAILQ_REMOVE(&r->subs, s, rentry);
	RB_REMOVE(bsub_tree, &bc->subs, s);
	if (s->owed)
		TAILQ_REMOVE(&bc->owed, s, oentry);
	r->nsubs--;
	bc->nsubs--;
	if (s->blocking)
		bc->blocked--;
	broker_stat.subs--;
	free(s);
	publisher_subscribers(r->name, r->nsubs);
	broker_gc(r);
}

static void
broker_unsubscribe(struct bconn *bc, const struct pubsub_msg *m)
{
	struct bsub	 key, *s;
	struct bres	*r;
	char		 name[PUBSUB_RESOURCE_MAX + 1];

	if (pubsub_pattern(m->resource, m->resourcelen)) {
		broker_punsubscribe(bc, m);
		return;
	}
	broker_name(m, name);
	if ((r = broker_find(bc, m->resource, m->resourcelen, 0)) != NULL) {
		key.r = r;
		if ((s = RB_FIND(bsub_tree, &bc->subs, &key)) != NULL)
			broker_unsub(s);
	}
	broker_ok(bc, m, name);
}

/*
 * Adds state number seq to r's history, charged to budget b.  Beyond
 * --history r forgets its oldest; beyond the budgets the oldest states
 * are forgotten, b's own first, then, for a script, anybody's.  A
 * browser's state that finds no room of its own is refused (-1).
 */
static int
broker_retain(struct bres *r, struct bbudget *b, const char *data,
    size_t len, unsigned long long seq)
{
	struct bstate	*st;
	int		 guest = b != &broker_scripts, ret = 0;

	/* Forgetting r's old states, or evicting, must not free b or r. */
	b->held = 1;
	while (r->nhist >= broker_max.history)
		broker_drop_oldest(r);
	while (guest && (b->nstates + 1 > broker_max.guest_states ||
	    b->bytes + len > broker_max.guest_bytes) && ret == 0)
		ret = broker_evict(b, r);
	while ((broker_stat.states + 1 > broker_max.states ||
	    broker_stat.bytes + len > broker_max.bytes) && ret == 0)
		ret = broker_evict(guest ? b : NULL, r);
	b->held = 0;
	if (ret == -1)
		return (-1);
	st = xmalloc(sizeof *st + len + 1);
	memcpy(st->data, data, len);
	st->len = len;
	st->seq = seq;
	st->r = r;
	st->budget = b;
	TAILQ_INSERT_TAIL(&r->hist, st, hentry);
	TAILQ_INSERT_TAIL(&b->lru, st, lru);
	TAILQ_INSERT_TAIL(&broker_glru, st, glru);
	r->nhist++;
	b->nstates++;
	b->bytes += len;
	broker_stat.states++;
	broker_stat.bytes += len;
	return (0);
}

/* Sends r's new state st to each of its subscribers. */
static void
broker_fanout(struct bres *r, struct bstate *st)
{
	static char	 plain[PUBSUB_LINE_MAX + 2];
	static char	 withid[PUBSUB_LINE_MAX + 2];
	struct bsub	*s;
	size_t		 plen = 0, ilen = 0;

	TAILQ_FOREACH(s, &r->subs, rentry) {
		/* A pattern of its connection's will not send it again. */
		s->bc->mark = broker_stat.publishes;
		/* Not served yet: it gets what it asked for when it is. */
		if (s->waiting)
			continue;
		/* Behind: it will get the newest state when it catches up. */
		if (s->owed || buf_len(&s->bc->out) >= BROKER_BEHIND) {
			if (!s->owed) {
				s->owed = 1;
				TAILQ_INSERT_TAIL(&s->bc->owed, s, oentry);
			}
			continue;
		}
		/* Each form of the line is made once, for every subscriber. */
		if (s->ids && ilen == 0)
			ilen = broker_state_line(withid, "update", r, st, 1);
		else if (!s->ids && plen == 0)
			plen = broker_state_line(plain, "update", r, st, 0);
		broker_send(s->bc, s->ids ? withid : plain,
		    s->ids ? ilen : plen);
		broker_stat.deliveries++;
	}
}

/* Valid UTF-8: subscribers get text frames (RFC 6455 8.1). */
static int
broker_utf8(const char *data, size_t len)
{
	struct utf8	 u;
	size_t		 off;

	utf8_init(&u);
	return (utf8_feed(&u, (const uint8_t *)data, len, &off) == UTF8_OK);
}

static void
broker_publish(struct bconn *bc, const struct pubsub_msg *m)
{
	struct bbudget	*b = &broker_scripts;
	struct bres	*r;
	struct bstate	*st;

	if (!broker_utf8(m->data, m->datalen)) {
		broker_refuse(bc, m, "data is not valid UTF-8");
		return;
	}
	if (broker_redis) {
		broker_redis_publish(bc, m);
		return;
	}
	if ((r = broker_find(bc, m->resource, m->resourcelen, 1)) == NULL) {
		broker_refuse(bc, m, "too many resources");
		return;
	}
	if (bc->gateway)
		b = broker_guest_budget(r->name);
	if (broker_retain(r, b, m->data, m->datalen, r->seq + 1) == -1) {
		broker_budget_gc(b);
		broker_gc(r);
		broker_refuse(bc, m, "too many states");
		return;
	}
	r->seq++;
	r->npub++;
	r->stamp = ev_now(EV_DEFAULT);
	broker_stat.publishes++;
	/* Taken: a gateway's publisher hears so before its own update. */
	if (bc->gateway)
		broker_ok(bc, m, r->name);
	st = TAILQ_LAST(&r->hist, bstate_list);
	broker_fanout(r, st);
	broker_pfanout(r, st);
}

/*
 * bc has caught up: the newest state of each resource it missed, after
 * "gap R behind" for a script that asked for ids (a gateway tells from
 * the ids themselves).
 */
static void
broker_catch_up(struct bconn *bc)
{
	struct bsub	*s;
	struct bstate	*st;

	while (!bc->dead && buf_len(&bc->out) < BROKER_BEHIND / 2 &&
	    (s = TAILQ_FIRST(&bc->owed)) != NULL) {
		TAILQ_REMOVE(&bc->owed, s, oentry);
		s->owed = 0;
		/* A state evicted meanwhile is gone for everyone. */
		if ((st = TAILQ_LAST(&s->r->hist, bstate_list)) == NULL)
			continue;
		if (s->ids && !bc->gateway)
			broker_sendf(bc, "gap", s->r->name, "behind", 6);
		broker_send_state(bc, "update", s->r, st, s->ids);
	}
	broker_pcatch_up(bc);
}

/*
 * "get R": "state R DATA" if R has one, then "ok get R".  "get R FROM":
 * the states after FROM, at most BROKER_GET_MAX bytes, oldest first, then
 * "ok get R ID", ID being R's newest id: a reader that got less asks again
 * from the last id it got.
 */
static void
broker_get_answer(struct bconn *bc, const struct pubsub_msg *m,
    const char *name, struct bres *r, unsigned long long epoch,
    unsigned long long next)
{
	struct bstate	*st;
	char		 id[PUBSUB_ID_MAX];
	char		 line[PUBSUB_RESOURCE_MAX + PUBSUB_ID_MAX + 2];

	if (m->from == PUBSUB_FROM_NONE) {
		if (r != NULL &&
		    (st = TAILQ_LAST(&r->hist, bstate_list)) != NULL)
			broker_send_state(bc, "state", r, st, bc->gateway);
		broker_ok(bc, m, name);
		return;
	}
	if (r != NULL)
		broker_replay(bc, r, m, "state", BROKER_GET_MAX, 1);
	else if (m->from == PUBSUB_FROM_ID && m->id.epoch != epoch)
		broker_sendf(bc, "gap", name, "reset", 5);
	else if (m->from == PUBSUB_FROM_ID && m->id.seq < next)
		broker_sendf(bc, "gap", name, "history", 7);
	/* A resource it does not have would start at the next id. */
	(void)broker_id(r != NULL ? r->epoch : epoch, r != NULL ? r->seq :
	    next, id);
	(void)snprintf(line, sizeof line, "%s %s", name, id);
	broker_sendf(bc, "ok get", line, NULL, 0);
}

static void
broker_get(struct bconn *bc, const struct pubsub_msg *m)
{
	struct bres	*r;
	char		 name[PUBSUB_RESOURCE_MAX + 1];

	if (pubsub_pattern(m->resource, m->resourcelen)) {
		broker_pget(bc, m);
		return;
	}
	broker_name(m, name);
	r = broker_find(bc, m->resource, m->resourcelen, 0);
	/* With --redis, what is not followed here is read from Redis. */
	if (broker_redis && (r == NULL || r->rstate != BRES_LIVE)) {
		broker_redis_get(bc, m);
		return;
	}
	broker_get_answer(bc, m, name, r, broker_epoch, broker_stat.publishes);
}

/*
 * --redis.  A resource followed here (one with subscribers) is joined:
 * subscribed to on Redis's channel, then read, its history here then
 * kept up by the channel.  A message that does not follow the last one
 * (a hole, another id space) makes it read again; messages that come
 * while it is read are held, so nothing published after the read is
 * lost.
 */

/* Holds Redis's call for a line of bc: its next lines wait for it. */
static struct bop *
broker_op(struct bconn *bc, const struct pubsub_msg *m)
{
	struct bop	*op;

	op = xcalloc(1, sizeof *op);
	op->bc = bc;
	op->m = *m;
	memcpy(op->name, m->resource, m->resourcelen);
	op->name[m->resourcelen] = '\0';
	op->m.resource = op->name;
	op->m.data = NULL;
	op->m.datalen = 0;
	TAILQ_INSERT_TAIL(&bc->ops, op, entry);
	bc->pending++;
	return (op);
}

/* Lets stalled connections read on; each stalls again if it must. */
static void
broker_wake(void)
{
	TAILQ_HEAD(, bconn)	 list = TAILQ_HEAD_INITIALIZER(list);
	struct bconn		*bc;

	TAILQ_CONCAT(&list, &broker_stalled, sentry);
	while ((bc = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, bc, sentry);
		bc->stalled = 0;
		if (bc->dead)
			continue;
		broker_input(bc);
		if (!bc->dead)
			broker_update(bc);
	}
}

static void
broker_op_done(struct bop *op)
{
	struct bconn	*bc = op->bc;

	if (bc != NULL) {
		TAILQ_REMOVE(&bc->ops, op, entry);
		bc->pending--;
	}
	free(op);
	broker_wake();
	broker_reap();
}

static void
broker_redis_published(void *arg, const struct redis_result *res)
{
	struct bop	*op = arg;

	if (op->bc != NULL && res->error != NULL)
		broker_refuse(op->bc, &op->m, res->error);
	else if (op->bc != NULL) {
		broker_stat.publishes++;
		/* Taken; its update comes through the channel. */
		if (op->bc->gateway)
			broker_ok(op->bc, &op->m, op->name);
	}
	broker_op_done(op);
}

static void
broker_redis_publish(struct bconn *bc, const struct pubsub_msg *m)
{
	struct redis_limits	 lim;
	struct bop		*op;
	char			 budget[PUBSUB_RESOURCE_MAX + 1] = "";

	if (!redis_up()) {
		broker_refuse(bc, m, "redis unavailable");
		return;
	}
	lim.history = broker_max.history;
	lim.resources = broker_max.resources;
	lim.states = broker_max.states;
	lim.bytes = broker_max.bytes;
	lim.guest_states = broker_max.guest_states;
	lim.guest_bytes = broker_max.guest_bytes;
	op = broker_op(bc, m);
	if (bc->gateway)
		broker_prefix(op->name, budget);
	if (redis_publish(op->name, m->data, m->datalen, budget, &lim,
	    broker_redis_published, op) == -1) {
		broker_refuse(bc, m, "redis unavailable");
		TAILQ_REMOVE(&bc->ops, op, entry);
		bc->pending--;
		free(op);
	}
}

/* A get read from Redis: answered as from a resource made of it. */
static void
broker_redis_got(void *arg, const struct redis_result *res)
{
	struct bop	*op = arg;
	struct bres	 r;
	struct bstate	*st;
	size_t		 i;

	if (op->bc == NULL) {
		broker_op_done(op);
		return;
	}
	if (res->error != NULL) {
		broker_refuse(op->bc, &op->m, res->error);
		broker_op_done(op);
		return;
	}
	memset(&r, 0, sizeof r);
	TAILQ_INIT(&r.hist);
	r.name = op->name;
	r.epoch = res->epoch;
	r.seq = res->seq;
	for (i = 0; i < res->nstates; i++) {
		st = xmalloc(sizeof *st + res->states[i].len + 1);
		memcpy(st->data, res->states[i].data, res->states[i].len);
		st->len = res->states[i].len;
		st->seq = res->states[i].seq;
		TAILQ_INSERT_TAIL(&r.hist, st, hentry);
	}
	broker_get_answer(op->bc, &op->m, op->name, res->seq != 0 ? &r :
	    NULL, res->epoch, res->next);
	while ((st = TAILQ_FIRST(&r.hist)) != NULL) {
		TAILQ_REMOVE(&r.hist, st, hentry);
		free(st);
	}
	broker_op_done(op);
}

static void
broker_redis_get(struct bconn *bc, const struct pubsub_msg *m)
{
	struct bop	*op;
	int		 ret;

	if (!redis_up()) {
		broker_refuse(bc, m, "redis unavailable");
		return;
	}
	op = broker_op(bc, m);
	if (m->from == PUBSUB_FROM_NONE)
		ret = redis_read(op->name, 0, 0, 0, 1, 1, broker_redis_got, op);
	else
		ret = redis_read(op->name, 1, m->from == PUBSUB_FROM_ID ?
		    m->id.epoch : 0, m->from == PUBSUB_FROM_ID ? m->id.seq : 0,
		    BROKER_GET_MAX, BROKER_READ_STATES, broker_redis_got, op);
	if (ret == -1) {
		broker_refuse(bc, m, "redis unavailable");
		TAILQ_REMOVE(&bc->ops, op, entry);
		bc->pending--;
		free(op);
	}
}

/* "gap R WHY" to r's served subscribers that asked for ids, but gateways'. */
static void
broker_gap(struct bres *r, const char *why)
{
	struct bsub	*s;

	TAILQ_FOREACH(s, &r->subs, rentry)
		if (!s->waiting && s->ids && !s->bc->gateway)
			broker_sendf(s->bc, "gap", r->name, why, strlen(why));
}

/* Takes state seq of r, and sends it on. */
static void
broker_mirror(struct bres *r, unsigned long long seq, const char *data,
    size_t len)
{
	/*
	 * A hole: states were forgotten in Redis before they got here.  The
	 * history here starts again, so that a replay never skips one.
	 */
	if (r->seq != 0 && seq > r->seq + 1) {
		broker_gap(r, "history");
		broker_forget(r);
	}
	if (broker_retain(r, &broker_scripts, data, len, seq) == -1)
		return;
	r->seq = seq;
	r->npub++;
	r->stamp = ev_now(EV_DEFAULT);
	broker_fanout(r, TAILQ_LAST(&r->hist, bstate_list));
}

/* Redis's id space is not r's: what r had is of no use. */
static void
broker_reset(struct bres *r, unsigned long long epoch)
{
	if (r->epoch != 0)
		broker_gap(r, "reset");
	broker_forget(r);
	r->epoch = epoch;
	r->seq = 0;
}

static void	broker_redis_read(struct bres *);

/*
 * r cannot be followed in Redis (a refused SUBSCRIBE, a failed read):
 * each of its subscribers hears "error subscribe R WHY" and loses it.
 */
static void
broker_redis_drop(struct bres *r, const char *why)
{
	struct pubsub_msg	 m;
	struct bsub		*s;

	memset(&m, 0, sizeof m);
	m.verb = PUBSUB_SUBSCRIBE;
	m.resource = r->name;
	m.resourcelen = strlen(r->name);
	log_warnx("redis: %s: %s", r->name, why);
	/* Held while its subscribers go, so that it is not freed under us. */
	r->rstate = BRES_READING;
	while ((s = TAILQ_FIRST(&r->subs)) != NULL) {
		broker_refuse(s->bc, &m, why);
		broker_unsub(s);
	}
	r->rstate = BRES_NONE;
	broker_early_free(r);
	broker_gc(r);
	broker_wake();
	broker_reap();
}

/*
 * r cannot be read now: its waiting subscribers hear "ok", and are served
 * when Redis is back; their connections read on.
 */
static void
broker_untie(struct bres *r)
{
	struct bsub	*s;

	TAILQ_FOREACH(s, &r->subs, rentry) {
		if (!s->blocking)
			continue;
		broker_sendf(s->bc, "ok", "subscribe", r->name,
		    strlen(r->name));
		s->told = 1;
		s->blocking = 0;
		s->bc->blocked--;
	}
}

/*
 * r has been read: its states after the last it had, then the messages
 * held meanwhile; its waiting subscribers are served.
 */
static void
broker_redis_mirrored(void *arg, const struct redis_result *res)
{
	struct bres	*r = arg;
	struct bmsg	*bm;
	struct bsub	*s;
	size_t		 i;

	if (r->rstate != BRES_READING)
		return;			/* Redis was lost: the down hook */
	if (res->error != NULL && redis_up()) {
		/* Redis is up but will not read it: no use waiting. */
		redis_leave(r->name);
		broker_redis_drop(r, res->error);
		return;
	}
	if (res->error != NULL) {
		r->rstate = BRES_NONE;
		broker_early_free(r);
		broker_untie(r);
		broker_gc(r);
		broker_wake();
		broker_reap();
		return;
	}
	if (r->epoch != res->epoch)
		broker_reset(r, res->epoch);
	for (i = 0; i < res->nstates; i++)
		if (res->states[i].seq > r->seq)
			broker_mirror(r, res->states[i].seq,
			    res->states[i].data, res->states[i].len);
	while ((bm = TAILQ_FIRST(&r->early)) != NULL && !r->reread) {
		if (bm->id.epoch != r->epoch ||
		    (r->seq != 0 && bm->id.seq > r->seq + 1))
			r->reread = 1;
		else if (bm->id.seq > r->seq)
			broker_mirror(r, bm->id.seq, bm->data, bm->len);
		TAILQ_REMOVE(&r->early, bm, entry);
		r->nearly--;
		r->earlybytes -= bm->len;
		broker_early_bytes -= bm->len;
		free(bm);
	}
	broker_early_free(r);
	if (r->reread) {
		broker_redis_read(r);
		return;
	}
	r->rstate = BRES_LIVE;
	TAILQ_FOREACH(s, &r->subs, rentry) {
		if (!s->waiting)
			continue;
		broker_serve(s);
		if (s->blocking) {
			s->blocking = 0;
			s->bc->blocked--;
		}
	}
	broker_gc(r);
	broker_wake();
	broker_reap();
}

/* Reads r's states after the last it has. */
static void
broker_redis_read(struct bres *r)
{
	r->rstate = BRES_READING;
	r->reread = 0;
	if (redis_read(r->name, 0, r->epoch, r->seq, BROKER_REPLAY_MAX,
	    broker_max.history < BROKER_READ_STATES ? broker_max.history :
	    BROKER_READ_STATES, broker_redis_mirrored, r) == -1) {
		r->rstate = BRES_NONE;
		broker_untie(r);
	}
}

static void
broker_join(struct bres *r)
{
	r->rstate = BRES_JOINING;
	redis_join(r->name);
}

/* Redis confirmed a channel: what is published from now on comes. */
static void
broker_redis_joined(const char *name, size_t len)
{
	struct bres	*r;

	if (len > PUBSUB_RESOURCE_MAX ||
	    (r = broker_find(NULL, name, len, 0)) == NULL ||
	    r->rstate != BRES_JOINING)
		return;
	broker_redis_read(r);
}

/* Redis refused to subscribe us to resource name's channel. */
static void
broker_redis_refused(const char *name, size_t len, const char *why)
{
	struct bres	*r;

	if (len > PUBSUB_RESOURCE_MAX ||
	    (r = broker_find(NULL, name, len, 0)) == NULL ||
	    r->rstate != BRES_JOINING)
		return;
	broker_redis_drop(r, why);
}

/* A state published in Redis, by any machine. */
static void
broker_redis_message(const char *name, size_t len, const struct pubsub_id *id,
    const char *data, size_t dlen)
{
	struct bres	*r;
	struct bmsg	*bm;

	if (len > PUBSUB_RESOURCE_MAX ||
	    (r = broker_find(NULL, name, len, 0)) == NULL)
		return;
	if (r->rstate == BRES_LIVE) {
		if (id->epoch == r->epoch && id->seq <= r->seq)
			return;		/* had it */
		if (id->epoch == r->epoch && (r->seq == 0 ||
		    id->seq == r->seq + 1)) {
			broker_mirror(r, id->seq, data, dlen);
			broker_reap();
			return;
		}
		broker_redis_read(r);
	}
	if (r->rstate != BRES_READING)
		return;
	/* Held until the read is answered; too many, and it reads again. */
	if (r->nearly >= BROKER_EARLY_MAX ||
	    r->earlybytes + dlen > BROKER_EARLY_BYTES ||
	    broker_early_bytes + dlen > BROKER_EARLY_ALL) {
		broker_early_free(r);
		r->reread = 1;
		return;
	}
	bm = xmalloc(sizeof *bm + dlen + 1);
	bm->id = *id;
	bm->len = dlen;
	memcpy(bm->data, data, dlen);
	TAILQ_INSERT_TAIL(&r->early, bm, entry);
	r->nearly++;
	r->earlybytes += dlen;
	broker_early_bytes += dlen;
}

/* Connected to Redis again: every resource followed here is joined. */
static void
broker_redis_up(void)
{
	struct bres	*r;

	RB_FOREACH(r, bres_tree, &broker_res)
		if (r->nsubs > 0 && r->rstate == BRES_NONE)
			broker_join(r);
}

/*
 * Redis is lost.  Subscribers stay; those waiting hear "ok" and are
 * served when it is back, with the states they missed, or a gap.
 */
static void
broker_redis_down(void)
{
	struct bres	*r, *tmp;

	RB_FOREACH_SAFE(r, bres_tree, &broker_res, tmp) {
		r->rstate = BRES_NONE;
		r->reread = 0;
		broker_early_free(r);
		broker_untie(r);
		broker_gc(r);
	}
	broker_wake();
	broker_reap();
}

static const struct redis_hooks broker_redis_hooks = {
	broker_redis_up,
	broker_redis_down,
	broker_redis_joined,
	broker_redis_message,
	broker_redis_refused
};

/* The bytes of r's history. */
static size_t
broker_res_bytes(const struct bres *r)
{
	const struct bstate	*st;
	size_t			 n = 0;

	TAILQ_FOREACH(st, &r->hist, hentry)
		n += st->len;
	return (n);
}

/* One "resource" line per resource matching the pattern, then "ok list". */
static void
broker_list(struct bconn *bc, const struct pubsub_msg *m)
{
	struct bres	*r;
	char		 pattern[PUBSUB_RESOURCE_MAX + 1], line[512];
	size_t		 n = 0;
	ev_tstamp	 now = ev_now(EV_DEFAULT);

	if (m->datalen == 0)
		strlcpy(pattern, "*", sizeof pattern);
	else if (!pubsub_resource_valid(m->data, m->datalen)) {
		broker_sendf(bc, "error", "list: bad pattern", NULL, 0);
		return;
	} else {
		memcpy(pattern, m->data, m->datalen);
		pattern[m->datalen] = '\0';
	}
	RB_FOREACH(r, bres_tree, &broker_res) {
		if (!pubsub_match(pattern, r->name, strlen(r->name)))
			continue;
		if (n == BROKER_LIST_MAX) {
			broker_sendf(bc, "error", "list: more than 10000 "
			    "resources match, narrow the pattern", NULL, 0);
			return;
		}
		(void)snprintf(line, sizeof line, "%s subscribers %zu "
		    "states %llu bytes %zu age %.0f history %zu", r->name,
		    r->nsubs, r->npub, broker_res_bytes(r),
		    r->npub > 0 ? now - r->stamp : -1.0, r->nhist);
		broker_sendf(bc, "resource", line, NULL, 0);
		n++;
	}
	(void)snprintf(line, sizeof line, "%zu", n);
	broker_sendf(bc, "ok list", line, NULL, 0);
}

static void
broker_stats(struct bconn *bc)
{
	char			 line[512], redis[64] = "";
	unsigned long long	 reconnects;
	const char		*status;

	if (broker_redis) {
		status = redis_status(&reconnects);
		(void)snprintf(redis, sizeof redis, " redis %s reconnects %llu",
		    status, reconnects);
	}
	(void)snprintf(line, sizeof line, "resources %zu states %zu "
	    "bytes %zu connections %zu subscriptions %zu patterns %zu "
	    "publishes %llu deliveries %llu publishes/s %.0f deliveries/s "
	    "%.0f%s", broker_stat.resources, broker_stat.states,
	    broker_stat.bytes, broker_stat.conns, broker_stat.subs,
	    broker_npsubs, broker_stat.publishes,
	    broker_stat.deliveries, broker_stat.publish_rate,
	    broker_stat.delivery_rate, redis);
	broker_sendf(bc, "stats", line, NULL, 0);
}

/*
 * Patterns (a subscription to a name ending in "*"): the current state
 * of every matching resource first, in name order (a snapshot), then
 * each update of any of them, each naming its resource.  A connection
 * gets a publish once, whatever subscriptions and patterns of its match
 * it.  One that falls behind hears "gap P behind" once it has room, then
 * a new snapshot: conflation, as for a resource.  A gateway asks for its
 * clients' snapshots with "get P [AFTER]", whose answer comes in parts,
 * and gets none with its subscribe.  Patterns keep the in-memory broker:
 * with --redis they are refused.
 */

#define BROKER_PATTERNS_MAX	10000	/* a connection's */

/* The pattern whose prefix is name's first len bytes, made if need be. */
static struct bpat *
broker_pat(const char *name, size_t len, int create)
{
	struct bpat	*p;

	if ((p = (struct bpat *)ptable_find(&broker_ptab, name, len)) !=
	    NULL || !create)
		return (p);
	p = xcalloc(1, sizeof *p);
	p->prefix = xstrndup(name, len);
	p->len = len;
	TAILQ_INIT(&p->subs);
	ptable_add(&broker_ptab, &p->pn, p->prefix, len);
	return (p);
}

static void
broker_pfree(struct bpsub *s)
{
	struct bpat	*p = s->p;
	struct bconn	*bc = s->bc;

	TAILQ_REMOVE(&p->subs, s, pentry);
	TAILQ_REMOVE(&bc->pats, s, centry);
	if (s->owed)
		TAILQ_REMOVE(&bc->powed, s, oentry);
	bc->npats--;
	broker_npsubs--;
	free(s->cursor);
	free(s);
	if (TAILQ_EMPTY(&p->subs)) {
		ptable_del(&broker_ptab, &p->pn);
		free(p->prefix);
		free(p);
	}
}

/* The first resource of p's after s's cursor (from the start if none). */
static struct bres *
broker_pnext(const struct bpat *p, const char *after)
{
	struct bres	 key, *r;
	char		 prefix[PUBSUB_RESOURCE_MAX + 1];

	if (after == NULL) {
		memcpy(prefix, p->prefix, p->len);
		prefix[p->len] = '\0';
		key.name = prefix;
	} else
		key.name = (char *)after;
	r = RB_NFIND(bres_tree, &broker_res, &key);
	if (r != NULL && after != NULL && strcmp(r->name, after) == 0)
		r = RB_NEXT(bres_tree, &broker_res, r);
	if (r == NULL || strncmp(r->name, p->prefix, p->len) != 0)
		return (NULL);
	return (r);
}

/* Owes s the rest of its snapshot, sent as its connection drains. */
static void
broker_powe(struct bpsub *s)
{
	if (!s->owed) {
		s->owed = 1;
		TAILQ_INSERT_TAIL(&s->bc->powed, s, oentry);
	}
}

/* Sends what fits of s's snapshot; the rest is owed. */
static void
broker_psnapshot(struct bpsub *s)
{
	struct bconn	*bc = s->bc;
	struct bres	*r;
	struct bstate	*st;

	while ((r = broker_pnext(s->p, s->cursor)) != NULL) {
		if (bc->dead || buf_len(&bc->out) >= BROKER_BEHIND) {
			broker_powe(s);
			return;
		}
		if ((st = TAILQ_LAST(&r->hist, bstate_list)) != NULL)
			broker_send_state(bc, "update", r, st, s->ids);
		if (s->cursor == NULL)
			s->cursor = xmalloc(PUBSUB_RESOURCE_MAX + 1);
		strlcpy(s->cursor, r->name, PUBSUB_RESOURCE_MAX + 1);
	}
	s->snap = 0;
	free(s->cursor);
	s->cursor = NULL;
}

/* bc has room again: the snapshots it is owed go on. */
static void
broker_pcatch_up(struct bconn *bc)
{
	struct bpsub	*s;
	char		 name[PUBSUB_RESOURCE_MAX + 2];

	while (!bc->dead && buf_len(&bc->out) < BROKER_BEHIND / 2 &&
	    (s = TAILQ_FIRST(&bc->powed)) != NULL) {
		TAILQ_REMOVE(&bc->powed, s, oentry);
		s->owed = 0;
		if (s->behind) {
			s->behind = 0;
			(void)snprintf(name, sizeof name, "%.*s*",
			    (int)s->p->len, s->p->prefix);
			broker_sendf(bc, "gap", name, "behind", 6);
		}
		broker_psnapshot(s);
	}
}

/* A publish on its way to the patterns that match it. */
struct bpfan {
	struct bres	*r;
	struct bstate	*st;
	size_t		 plen, ilen;	/* each line made once, if at all */
};

/* s's snapshot starts again, from the first name. */
static void
broker_prestart(struct bpsub *s)
{
	s->snap = 1;
	free(s->cursor);
	s->cursor = NULL;
}

/* A pattern that matches the publish: to each of its connections. */
static void
broker_pdeliver(struct pnode *pn, void *arg)
{
	static char	 plain[PUBSUB_LINE_MAX + 2];
	static char	 withid[PUBSUB_LINE_MAX + 2];
	struct bpfan	*f = arg;
	struct bpat	*p = (struct bpat *)pn;
	struct bpsub	*s;

	TAILQ_FOREACH(s, &p->subs, pentry) {
		if (s->bc->mark == broker_stat.publishes)
			continue;
		s->bc->mark = broker_stat.publishes;
		/* Past its snapshot's cursor: the snapshot brings it. */
		if (s->snap && (s->cursor == NULL ||
		    strcmp(f->r->name, s->cursor) > 0))
			continue;
		if (buf_len(&s->bc->out) >= BROKER_BEHIND) {
			broker_prestart(s);
			s->behind = 1;
			broker_powe(s);
			continue;
		}
		if (s->ids && f->ilen == 0)
			f->ilen = broker_state_line(withid, "update", f->r,
			    f->st, 1);
		else if (!s->ids && f->plen == 0)
			f->plen = broker_state_line(plain, "update", f->r,
			    f->st, 0);
		broker_send(s->bc, s->ids ? withid : plain,
		    s->ids ? f->ilen : f->plen);
		broker_stat.deliveries++;
	}
}

/* r's new state st to every connection a pattern of whose matches it. */
static void
broker_pfanout(struct bres *r, struct bstate *st)
{
	struct bpfan	f = { r, st, 0, 0 };

	ptable_prefixes(&broker_ptab, r->name, strlen(r->name),
	    broker_pdeliver, &f);
}

static void
broker_psubscribe(struct bconn *bc, const struct pubsub_msg *m)
{
	struct bpsub	*s;
	struct bpat	*p;
	char		 name[PUBSUB_RESOURCE_MAX + 1];

	broker_name(m, name);
	if (broker_redis) {
		broker_refuse(bc, m, "patterns need the in-memory broker");
		return;
	}
	p = broker_pat(m->resource, m->resourcelen - 1, 0);
	TAILQ_FOREACH(s, &bc->pats, centry)
		if (s->p == p)
			break;
	if (s == NULL) {
		if (bc->npats >= BROKER_PATTERNS_MAX) {
			broker_refuse(bc, m, "too many patterns");
			return;
		}
		p = broker_pat(m->resource, m->resourcelen - 1, 1);
		s = xcalloc(1, sizeof *s);
		s->bc = bc;
		s->p = p;
		TAILQ_INSERT_TAIL(&p->subs, s, pentry);
		TAILQ_INSERT_TAIL(&bc->pats, s, centry);
		bc->npats++;
		broker_npsubs++;
	}
	s->ids = bc->gateway || m->from != PUBSUB_FROM_NONE;
	broker_ok(bc, m, name);
	/* A gateway asks for each of its clients' snapshots. */
	if (bc->gateway)
		return;
	broker_prestart(s);
	s->behind = 0;
	if (s->owed) {
		TAILQ_REMOVE(&bc->powed, s, oentry);
		s->owed = 0;
	}
	broker_psnapshot(s);
}

static void
broker_punsubscribe(struct bconn *bc, const struct pubsub_msg *m)
{
	struct bpsub	*s;
	struct bpat	*p;
	char		 name[PUBSUB_RESOURCE_MAX + 1];

	broker_name(m, name);
	if ((p = broker_pat(m->resource, m->resourcelen - 1, 0)) != NULL)
		TAILQ_FOREACH(s, &bc->pats, centry)
			if (s->p == p) {
				broker_pfree(s);
				break;
			}
	broker_ok(bc, m, name);
}

/*
 * "get P [AFTER]": "state R ID DATA" for each resource P matches whose
 * name comes after AFTER, in name order, at most BROKER_GET_MAX bytes of
 * data (one state at least) and BROKER_LIST_MAX names looked at, then
 * "ok get P LAST" if more are left after LAST, else "ok get P".
 */
static void
broker_pget(struct bconn *bc, const struct pubsub_msg *m)
{
	struct bpat	 p;
	struct bres	*r;
	struct bstate	*st;
	char		 name[PUBSUB_RESOURCE_MAX + 1];
	char		 after[PUBSUB_RESOURCE_MAX + 1], *from = NULL;
	char		 line[2 * PUBSUB_RESOURCE_MAX + 2];
	size_t		 bytes = 0, names = 0;

	broker_name(m, name);
	if (broker_redis) {
		broker_refuse(bc, m, "patterns need the in-memory broker");
		return;
	}
	if (m->datalen > 0) {
		memcpy(after, m->data, m->datalen);
		after[m->datalen] = '\0';
		from = after;
	}
	p.prefix = name;
	p.len = m->resourcelen - 1;
	while ((r = broker_pnext(&p, from)) != NULL &&
	    names++ < BROKER_LIST_MAX) {
		if ((st = TAILQ_LAST(&r->hist, bstate_list)) != NULL) {
			if (bytes > 0 && bytes + st->len > BROKER_GET_MAX)
				break;
			broker_send_state(bc, "state", r, st, 1);
			bytes += st->len + 1;
		}
		strlcpy(after, r->name, sizeof after);
		from = after;
	}
	if (r != NULL)
		(void)snprintf(line, sizeof line, "%s %s", name, after);
	else
		strlcpy(line, name, sizeof line);
	broker_sendf(bc, "ok get", line, NULL, 0);
}

/* Rates over the last second, for stats. */
static void
broker_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	broker_stat.publish_rate = broker_stat.publishes -
	    broker_stat.last_publishes;
	broker_stat.delivery_rate = broker_stat.deliveries -
	    broker_stat.last_deliveries;
	broker_stat.last_publishes = broker_stat.publishes;
	broker_stat.last_deliveries = broker_stat.deliveries;
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
		broker_sendf(bc, "error", errstr, NULL, 0);
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
	case PUBSUB_GET:
		broker_get(bc, &m);
		break;
	case PUBSUB_PING:
		broker_send(bc, "pong\n", 5);
		break;
	case PUBSUB_HELLO:
		/* A gateway: its publishes are browsers', acknowledged. */
		if (m.datalen == 7 && memcmp(m.data, "gateway", 7) == 0)
			bc->gateway = 1;
		broker_sendf(bc, "ok", "hello", m.datalen > 0 ? m.data :
		    NULL, m.datalen);
		break;
	case PUBSUB_LIST:
		broker_list(bc, &m);
		break;
	case PUBSUB_STATS:
		broker_stats(bc);
		break;
	default:
		broker_sendf(bc, "error", "unknown command (subscribe, "
		    "unsubscribe, publish, get, ping, list, stats)", NULL, 0);
		break;
	}
}

static void
broker_close(struct bconn *bc)
{
	struct bsub	*s;
	struct bop	*op;

	while ((s = RB_ROOT(&bc->subs)) != NULL)
		broker_unsub(s);
	while (!TAILQ_EMPTY(&bc->pats))
		broker_pfree(TAILQ_FIRST(&bc->pats));
	/* Its calls in flight are answered to nobody. */
	while ((op = TAILQ_FIRST(&bc->ops)) != NULL) {
		TAILQ_REMOVE(&bc->ops, op, entry);
		op->bc = NULL;
	}
	if (bc->stalled)
		TAILQ_REMOVE(&broker_stalled, bc, sentry);
	broker_stat.conns--;
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
	int	events = bc->stalled ? 0 : EV_READ;

	if (buf_len(&bc->out) > 0)
		events |= EV_WRITE;
	if (events != (bc->io.events & (EV_READ | EV_WRITE))) {
		ev_io_stop(EV_DEFAULT, &bc->io);
		ev_io_set(&bc->io, bc->fd, events);
		ev_io_start(EV_DEFAULT, &bc->io);
	}
}

/*
 * With --redis, a line waits while its connection's subscribe waits, a
 * publish while too many calls are in flight, and anything else until
 * its calls are answered: answers come in the order of the lines.
 */
static int
broker_must_wait(struct bconn *bc, const unsigned char *p, size_t len)
{
	if (bc->blocked > 0)
		return (1);
	if (!broker_redis || bc->discard)
		return (0);
	if (len >= 8 && memcmp(p, "publish ", 8) == 0)
		return (bc->pending >= BROKER_PENDING_MAX || redis_busy());
	return (bc->pending > 0);
}

/* Splits what arrived into lines; an overlong line is refused whole. */
static void
broker_input(struct bconn *bc)
{
	const unsigned char	*p, *nl;
	size_t			 len;

	while ((len = buf_len(&bc->in)) > 0 && !bc->dead) {
		p = buf_head(&bc->in);
		if ((nl = memchr(p, '\n', len)) != NULL &&
		    broker_must_wait(bc, p, nl - p)) {
			/* It stops reading until its calls are answered. */
			if (!bc->stalled) {
				bc->stalled = 1;
				TAILQ_INSERT_TAIL(&broker_stalled, bc, sentry);
			}
			return;
		}
		if (nl == NULL) {
			if (buf_room(&bc->in) == 0) {
				if (!bc->discard)
					broker_sendf(bc, "error", "line too long",
					    NULL, 0);
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
		else if (n > 0) {
			buf_drain(&bc->out, n);
			broker_catch_up(bc);
		}
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

/* A connection on fd (non-blocking), accepted or a publisher's link. */
static void
broker_adopt(int fd)
{
	struct bconn	*bc;

	bc = xcalloc(1, sizeof *bc);
	bc->fd = fd;
	RB_INIT(&bc->subs);
	TAILQ_INIT(&bc->owed);
	TAILQ_INIT(&bc->ops);
	TAILQ_INIT(&bc->pats);
	TAILQ_INIT(&bc->powed);
	broker_stat.conns++;
	buf_init(&bc->in, BROKER_IN_CAP);
	buf_init(&bc->out, BROKER_QUEUE_MAX);
	ev_io_init(&bc->io, broker_io_cb, fd, EV_READ);
	bc->io.data = bc;
	ev_io_start(EV_DEFAULT, &bc->io);
	TAILQ_INSERT_TAIL(&broker_conns, bc, entry);
}

static void
broker_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	int	fd;

	while ((fd = accept4(broker_lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) != -1)
		broker_adopt(fd);
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
broker_stopped(void)
{
	ev_break(EV_DEFAULT, EVBREAK_ALL);
}

/* The socket goes at once; the loop once the publishers are gone. */
static void
broker_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)sd_notify(0, "STOPPING=1");
	unlink(broker_path);
	ev_io_stop(loop, &broker_accept);
	publisher_shutdown(broker_stopped);
}

/*
 * Returns 0 if a broker's socket at path cannot be squatted: its directory
 * is writable by nobody but its owner (us or root), and no directory above
 * lets others rename it.  With existing, the socket must be there, owned
 * by us, root or the directory's owner.  -1 with a reason otherwise.
 */
int
broker_socket_safe(const char *path, int existing, const char **errstr)
{
	struct stat	 st, dst;
	char		 dir[PATH_MAX], *real, *slash;
	uid_t		 me = geteuid();

	if (strlcpy(dir, path, sizeof dir) >= sizeof dir) {
		*errstr = "path too long";
		return (-1);
	}
	if ((slash = strrchr(dir, '/')) == NULL)
		strlcpy(dir, ".", sizeof dir);
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((real = realpath(dir, NULL)) == NULL || stat(real, &dst) == -1) {
		free(real);
		*errstr = "its directory does not exist";
		return (-1);
	}
	if (dst.st_uid != me && dst.st_uid != 0) {
		free(real);
		*errstr = "its directory belongs to another user";
		return (-1);
	}
	if (dst.st_mode & (S_IWGRP | S_IWOTH)) {
		free(real);
		*errstr = "its directory is writable by others";
		return (-1);
	}
	/* Above it, others may write only where the sticky bit protects. */
	while ((slash = strrchr(real, '/')) != NULL && real[1] != '\0') {
		if (slash == real)
			real[1] = '\0';
		else
			*slash = '\0';
		if (stat(real, &st) == -1 || (st.st_uid != me &&
		    st.st_uid != 0) || ((st.st_mode & (S_IWGRP | S_IWOTH)) &&
		    !(st.st_mode & S_ISVTX))) {
			free(real);
			*errstr = "a directory above it is writable by others";
			return (-1);
		}
	}
	free(real);
	if (!existing)
		return (0);
	if (lstat(path, &st) == -1 || !S_ISSOCK(st.st_mode)) {
		*errstr = "no socket there";
		return (-1);
	}
	if (st.st_uid != me && st.st_uid != 0 && st.st_uid != dst.st_uid) {
		*errstr = "the socket belongs to another user";
		return (-1);
	}
	return (0);
}

/* Binds the socket, replacing a stale file but never a live broker. */
static int
broker_listen(const char *path, const char *group)
{
	struct sockaddr_un	 sun;
	struct group		*gr = NULL;
	const char		*errstr;
	mode_t			 old;
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof sun.sun_path) >=
	    sizeof sun.sun_path) {
		fprintf(stderr, "wspipe broker: %s: path too long\n", path);
		return (-1);
	}
	if (broker_socket_safe(path, 0, &errstr) == -1) {
		fprintf(stderr, "wspipe broker: %s: %s\n", path, errstr);
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
	    "                     [--max-states=n] [--max-resources=n] "
	    "[--guest-retained=bytes]\n"
	    "                     [--guest-states=n] [--history=n] "
	    "[--loglevel=level]\n"
	    "                     [--logformat=text|json] [--redis=url] "
	    "[--redis-timeout=seconds]\n"
	    "                     [--publishers=dir] "
	    "[--publisher-grace=seconds] [--max-publishers=n]\n"
	    "                     [--closems=ms]\n");
	exit(status);
}

/* Seconds from min to max, or exit 1 with a message. */
static double
broker_seconds(const char *arg, const char *name, double min, double max)
{
	char	*end;
	double	 d;

	d = strtod(arg, &end);
	if (*arg == '\0' || *end != '\0' || !(d >= min && d <= max)) {
		fprintf(stderr, "wspipe broker: --%s=%s: give seconds, %g to "
		    "%g\n", name, arg, min, max);
		exit(EXIT_CONFIG);
	}
	return (d);
}

static int
broker_is_dir(const char *path)
{
	struct stat	st;

	return (stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

/* A limit's value: at least min, or exit 1 with a message. */
static size_t
broker_number(const char *arg, const char *name, long long min)
{
	const char	*errstr;
	long long	 n;

	n = strtonum(arg, min, LLONG_MAX, &errstr);
	if (errstr != NULL) {
		fprintf(stderr, "wspipe broker: --%s=%s: %s (at least %lld)\n",
		    name, arg, errstr, min);
		exit(EXIT_CONFIG);
	}
	return ((size_t)n);
}

/* `wspipe broker ...`: runs until SIGTERM or SIGINT. */
int
broker_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "group", required_argument, NULL, 'g' },
		{ "max-retained", required_argument, NULL, 'm' },
		{ "max-states", required_argument, NULL, 'S' },
		{ "max-resources", required_argument, NULL, 'R' },
		{ "guest-retained", required_argument, NULL, 'M' },
		{ "guest-states", required_argument, NULL, 'G' },
		{ "history", required_argument, NULL, 'H' },
		{ "loglevel", required_argument, NULL, 'l' },
		{ "logformat", required_argument, NULL, 'F' },
		{ "redis", required_argument, NULL, 'r' },
		{ "redis-timeout", required_argument, NULL, 't' },
		{ "publishers", required_argument, NULL, 'P' },
		{ "publisher-grace", required_argument, NULL, 'W' },
		{ "max-publishers", required_argument, NULL, 'N' },
		{ "closems", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*group = NULL, *redis = NULL, *errstr;
	double		 timeout = 2.0, grace = PUBLISHER_GRACE;
	size_t		 maxpub = PUBLISHER_MAX;
	char		*publishers = NULL;
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
			broker_max.bytes = broker_number(optarg,
			    "max-retained", PUBSUB_DATA_MAX);
			break;
		case 'S':
			broker_max.states = broker_number(optarg, "max-states",
			    1);
			break;
		case 'R':
			broker_max.resources = broker_number(optarg,
			    "max-resources", 1);
			break;
		case 'M':
			broker_max.guest_bytes = broker_number(optarg,
			    "guest-retained", PUBSUB_DATA_MAX);
			break;
		case 'G':
			broker_max.guest_states = broker_number(optarg,
			    "guest-states", 1);
			break;
		case 'H':
			broker_max.history = broker_number(optarg, "history",
			    1);
			if (broker_max.history > BROKER_HISTORY_MAX)
				broker_max.history = BROKER_HISTORY_MAX;
			break;
		case 'l':
			level = config_loglevel(optarg);
			break;
		case 'F':
			log_format(config_logformat(optarg));
			break;
		case 'r':
			redis = optarg;
			break;
		case 't':
			timeout = broker_seconds(optarg, "redis-timeout", 0.1,
			    3600);
			break;
		case 'P':
			free(publishers);
			if ((publishers = realpath(optarg, NULL)) == NULL ||
			    !broker_is_dir(publishers)) {
				fprintf(stderr, "wspipe broker: --publishers="
				    "%s: not a directory\n", optarg);
				exit(EXIT_CONFIG);
			}
			break;
		case 'W':
			grace = broker_seconds(optarg, "publisher-grace", 0,
			    86400);
			break;
		case 'N':
			maxpub = broker_number(optarg, "max-publishers", 1);
			break;
		case 'C':
			conf.closems = broker_number(optarg, "closems", 0);
			if (conf.closems > 3600 * 1000) {
				fprintf(stderr, "wspipe broker: --closems=%s: "
				    "at most 3600000\n", optarg);
				exit(EXIT_CONFIG);
			}
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
	/* A new id space each start: 32 random bits, never 0. */
	while ((broker_epoch = arc4random()) == 0)
		;
	if ((broker_lfd = broker_listen(broker_path, group)) == -1)
		exit(EXIT_LISTEN);
	ev_default_loop(EVFLAG_AUTO);
	if (redis != NULL) {
		broker_redis = 1;
		if (redis_open(redis, timeout, &broker_redis_hooks,
		    &errstr) == -1) {
			fprintf(stderr, "wspipe broker: --redis=%s: %s\n",
			    redis, errstr);
			unlink(broker_path);
			exit(EXIT_CONFIG);
		}
	}
	if (publishers != NULL) {
		publisher_init(publishers, grace, maxpub, broker_path,
		    broker_adopt);
		free(publishers);
	}
	ev_io_init(&broker_accept, broker_accept_cb, broker_lfd, EV_READ);
	ev_io_start(EV_DEFAULT, &broker_accept);
	ev_timer_init(&broker_backoff, broker_backoff_cb, 1.0, 0.0);
	ev_timer_init(&broker_tick, broker_tick_cb, 1.0, 1.0);
	ev_timer_start(EV_DEFAULT, &broker_tick);
	ev_signal_init(&broker_sigterm, broker_signal_cb, SIGTERM);
	ev_signal_start(EV_DEFAULT, &broker_sigterm);
	ev_signal_init(&broker_sigint, broker_signal_cb, SIGINT);
	ev_signal_start(EV_DEFAULT, &broker_sigint);
	log_info("broker listening on %s", broker_path);
	(void)sd_notify(0, "READY=1");
	ev_run(EV_DEFAULT, 0);
	return (0);
}

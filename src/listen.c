/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Listen mode, gateway side.  A WebSocket on the listen path runs no
 * program: its text messages are pubsub.c commands.  The gateway keeps
 * one connection to the broker for all its clients (lbroker.c),
 * subscribing to a resource there when its first client does and
 * unsubscribing after the last, and fans each update out to its clients.
 *
 * Every answer means what it says.  A client hears "ok subscribe R" only
 * once the broker has confirmed the subscription, so every later publish
 * reaches it; a publish is "ok" once the broker has taken it; whatever
 * cannot be carried out is an "error" line.  Replies a client cannot take
 * yet are owed, on a list, and sent as its queue drains: nothing is
 * dropped and nothing grows past its budget.
 *
 * The gateway caches the last state of the resources it follows, within
 * --listen-cache bytes, least recently updated first out.  A client that
 * is too slow is owed the newest state of each of its resources instead
 * of every update (conflation); a state the cache let go is fetched again
 * from the broker with "get".
 */

#include <sys/queue.h>
#include <sys/tree.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wspipe.h"
#include "metrics.h"
#include "pubsub.h"

#define LISTEN_OKS_MAX		16	/* repeated subscribes owed an ok */
#define LISTEN_WRITE_AT		(4 * 1024)	/* write a client's queue now */

/* What a subscription owes its client, and how far it has got. */
#define LSUB_PENDING	0x01	/* the broker has not confirmed it yet */
#define LSUB_OWE_OK	0x02	/* "ok subscribe R", oks times */
#define LSUB_OWE_STATE	0x04	/* the newest state */
#define LSUB_OWE_ERROR	0x08	/* "error subscribe R why", then it goes */
#define LSUB_OWED	0x10	/* on the client's owed list */
#define LSUB_WAITING	0x20	/* off it, waiting for "state" */
#define LSUB_OWE_REPLAY	0x40	/* the states after its client's id */
#define LSUB_REPLAYING	0x80	/* off the list, a resume's get in flight */
#define LSUB_REPLAY_END	0x100	/* its client fell behind: rest ignored */
#define LSUB_PATTERN	0x200	/* a pattern's: each update names its own */
#define LSUB_SNAP	0x400	/* its snapshot is under way (cursor) */
#define LSUB_OWE_SNAP	0x800	/* the snapshot's next part */
#define LSUB_SNAPPING	0x1000	/* off the list, a part's get in flight */
#define LSUB_BEHIND	0x2000	/* missed states: "gap P behind", anew */

#define LISTEN_REPLAY_AT	(16 * 1024)	/* a resume asks under this */

struct lsub {
	RB_ENTRY(lsub)		 cnode;		/* in the client's tree */
	TAILQ_ENTRY(lsub)	 rentry;	/* in the resource's list */
	TAILQ_ENTRY(lsub)	 oentry;	/* in the client's owed list */
	struct lclient		*lc;
	struct lres		*r;		/* NULL once refused */
	char			*why;		/* LSUB_OWE_ERROR */
	char			*name;		/* LSUB_OWE_ERROR */
	int			 flags;
	unsigned int		 oks;		/* subscribes not answered */
	int			 ids;		/* asked for ids */
	int			 start;		/* from "0": every state kept */
	struct pubsub_id	 last;		/* the last id it got, or 0 */
	struct lget		*get;		/* its resume's, in flight */
	int			 got;		/* states that get brought */
	int			 then;		/* owed after "ok": state, replay */
	char			*cursor;	/* a pattern's: the last name its
						   snapshot sent, or "" */
};

RB_HEAD(lsub_tree, lsub);

struct lclient {
	struct session		*s;		/* NULL once it is freed */
	struct lsub_tree	 subs;
	TAILQ_HEAD(, lsub)	 owed;
	size_t			 nsubs;
	struct listen_addr	*addr;
	struct buf		 msg;		/* the message being received */
	int			 toolong;
	size_t			 publishing;	/* unanswered publishes */
	size_t			 pending;	/* unconfirmed subscriptions */
	struct grants		 grants;
	long long		 exp;		/* its token expires, or 0 */
	ev_timer		 expiry;
	struct lget		*query;		/* a plain GET's, in flight */
	int			 replaying;	/* a resume's get in flight */
	int			 queued;	/* waits for a resume's turn */
	char			 res[PUBSUB_RESOURCE_MAX + 1];	/* GET's */
	TAILQ_ENTRY(lclient)	 wentry;
};

/* Listen clients per address, for --listen-max-per-address. */
struct listen_addr {
	RB_ENTRY(listen_addr)	 node;
	size_t			 n;
	char			 addr[64];
};

static int	lsub_cmp(struct lsub *, struct lsub *);
static int	listen_addr_cmp(struct listen_addr *, struct listen_addr *);
RB_PROTOTYPE(lsub_tree, lsub, cnode, lsub_cmp)
RB_GENERATE(lsub_tree, lsub, cnode, lsub_cmp)
RB_HEAD(listen_addr_tree, listen_addr);
RB_PROTOTYPE(listen_addr_tree, listen_addr, node, listen_addr_cmp)
RB_GENERATE(listen_addr_tree, listen_addr, node, listen_addr_cmp)

static struct listen_addr_tree	listen_addrs = RB_INITIALIZER(&listen_addrs);
static size_t			listen_nclients;
/* Clients whose resume waits for the gateway's gets in flight to drop. */
static TAILQ_HEAD(, lclient)	listen_resumers =
    TAILQ_HEAD_INITIALIZER(listen_resumers);

static void	listen_catch_up(void *);
static void	listen_command(struct lclient *, const char *, size_t);
static int	listen_reply(struct lclient *, const char *, const char *,
		    size_t, const char *, size_t);
static void	listen_error(struct lclient *, const char *);
static void	listen_pattern_behind(struct lsub *);
static int	listen_snap(struct lsub *);
static int	listen_resume(struct lsub *);

static int
lsub_cmp(struct lsub *a, struct lsub *b)
{
	return (a->r < b->r ? -1 : a->r > b->r);
}

static int
listen_addr_cmp(struct listen_addr *a, struct listen_addr *b)
{
	return (strcmp(a->addr, b->addr));
}

/* Returns 1 if a WebSocket to this path is a listen endpoint. */
int
listen_match(const char *path)
{
	if (!conf.listen)
		return (0);
	return (conf.listen_path == NULL || strcmp(path, conf.listen_path) == 0);
}

/*
 * The resource a plain HTTP request's path names, into res: under the
 * listen path ("--listen=/live": /live/x is resource /x), or under
 * /wspipe/live/ with a bare --listen, whose every path is a WebSocket
 * endpoint and whose plain requests are --staticdir's.  0, 1 if it is a
 * pattern, or -1 if the path names none.
 */
int
listen_http_resource(const char *path, char *res, size_t size)
{
	const char	*mount = conf.listen_path != NULL ? conf.listen_path :
			    "/wspipe/live";
	size_t		 n = strlen(mount);

	if (!conf.listen)
		return (-1);
	/* "--listen=/": every path is its own resource. */
	if (strcmp(mount, "/") == 0)
		n = 0;
	if (strncmp(path, mount, n) != 0 || path[n] != '/' ||
	    strlcpy(res, path + n, size) >= size ||
	    !pubsub_resource_valid(res, strlen(res)))
		return (-1);
	return (pubsub_pattern(res, strlen(res)));
}

/* May lc follow resource res?  A stream checks before it starts. */
int
listen_may_subscribe(struct lclient *lc, const char *res)
{
	return (grants_allow(&lc->grants, GRANT_SUBSCRIBE, res, strlen(res)));
}

/*
 * A stream of events follows res from its request on: after the state
 * whose id is last (Last-Event-ID), or from the current one.
 */
void
listen_http_subscribe(struct lclient *lc, const char *res, const char *last)
{
	char	 line[PUBSUB_RESOURCE_MAX + PUBSUB_ID_MAX + 32];
	int	 n;

	/* A pattern's ids are its resources': it is followed from now. */
	if (pubsub_pattern(res, strlen(res)))
		last = NULL;
	n = snprintf(line, sizeof line, "subscribe %s %s", res,
	    last != NULL ? last : "current");
	if (n > 0 && (size_t)n < sizeof line)
		listen_command(lc, line, n);
}

/*
 * The answer to a plain GET's query: the state, as a subscriber with ids
 * would get it, or "error get R no state", or the link was lost.
 */
static void
listen_got(void *arg, const struct pubsub_id *id, const char *data,
    size_t len, int lost)
{
	static char	 msg[PUBSUB_LINE_MAX + 2];
	struct lclient	*lc = arg;
	const char	*why = lost ? "broker unavailable" : "no state";

	lc->query = NULL;
	if (lc->s == NULL)
		return;
	if (id != NULL)
		(void)session_send(lc->s, WS_OP_TEXT, 1, msg, pubsub_line(msg,
		    "update", lc->res, strlen(lc->res), id, data, len));
	else
		(void)listen_reply(lc, "error get", lc->res, strlen(lc->res),
		    why, strlen(why));
	conn_kick(session_conn(lc->s));
}

/*
 * A plain GET of res: its current state, from the cache when the gateway
 * follows it, else from the broker.
 */
void
listen_http_get(struct lclient *lc, const char *res)
{
	struct lres	*r;

	strlcpy(lc->res, res, sizeof lc->res);
	r = lbroker_find(res, strlen(res));
	if (!listen_may_subscribe(lc, res))
		(void)listen_reply(lc, "error get", res, strlen(res),
		    "not allowed", 11);
	else if (r != NULL && r->ready && r->data != NULL)
		listen_got(lc, &r->id, r->data, r->datalen, 0);
	else if ((lc->query = lbroker_query(res, strlen(res), listen_got,
	    lc)) == NULL)
		listen_got(lc, NULL, NULL, 0, 1);
}

/* A POST to res: data is its new state, under the client's grants. */
void
listen_http_publish(struct lclient *lc, const char *res, const char *data,
    size_t len)
{
	static char	line[PUBSUB_LINE_MAX + 2];

	if (len > PUBSUB_DATA_MAX) {
		listen_error(lc, "message too long");
		return;
	}
	listen_command(lc, line, pubsub_line(line, "publish", res,
	    strlen(res), NULL, data, len));
}

/*
 * Room for one more listen client from addr?  0, or an HTTP status with
 * a reason: the totals are budgets, not a queue.
 */
int
listen_admit(const char *addr, const char **why)
{
	struct listen_addr	 key, *a;

	if (listen_nclients >= conf.listen_max_clients) {
		*why = "too many listen clients, try again later";
		return (503);
	}
	strlcpy(key.addr, addr, sizeof key.addr);
	a = RB_FIND(listen_addr_tree, &listen_addrs, &key);
	if (a != NULL && a->n >= conf.listen_max_per_address) {
		*why = "too many listen clients from this address";
		return (429);
	}
	return (0);
}

/* The client's subscription to a resource, or NULL. */
static struct lsub *
listen_sub(struct lclient *lc, struct lres *r)
{
	struct lsub	key;

	key.r = r;
	return (RB_FIND(lsub_tree, &lc->subs, &key));
}

/* Sends one text message of the listen protocol; -1 if it did not fit. */
static int
listen_reply(struct lclient *lc, const char *a, const char *b, size_t blen,
    const char *d, size_t dlen)
{
	static char	msg[PUBSUB_LINE_MAX + 2];

	return (session_send(lc->s, WS_OP_TEXT, 1, msg, pubsub_line(msg, a, b,
	    blen, NULL, d, dlen)));
}

static void
listen_error(struct lclient *lc, const char *text)
{
	(void)listen_reply(lc, "error", text, strlen(text), NULL, 0);
}

/*
 * Sends a state to a subscriber that asked for ids: "update R ID DATA",
 * after "gap R WHY" if the states before it since the last it got are
 * missed ("reset" if its id is of another id space).  A state it has had
 * is not sent again.  -1 if it did not fit.
 */
static int
listen_send_state(struct lsub *s, const struct pubsub_id *id,
    const char *data, size_t len, const char *why)
{
	static char	 msg[PUBSUB_LINE_MAX + 2];
	const char	*name = s->r->name;
	size_t		 n;

	if (s->last.epoch == id->epoch && id->seq <= s->last.seq)
		return (0);
	if (s->last.epoch != 0 && (s->last.epoch != id->epoch ||
	    id->seq > s->last.seq + 1)) {
		if (s->last.epoch != id->epoch)
			why = "reset";
		if (listen_reply(s->lc, "gap", name, strlen(name), why,
		    strlen(why)) == -1)
			return (-1);
		/* Said once: what is missed ends just before this state. */
		s->last.epoch = id->epoch;
		s->last.seq = id->seq - 1;
	}
	n = pubsub_line(msg, "update", name, strlen(name), id, data, len);
	if (session_send(s->lc->s, WS_OP_TEXT, 1, msg, n) == -1)
		return (-1);
	metrics_add(METRIC_DELIVERIES, 1);
	s->last = *id;
	return (0);
}

/* Sends r's cached state to s, in the form s asked for; -1 if no room. */
static int
listen_send_cached(struct lsub *s, const char *why)
{
	struct lres	*r = s->r;

	if (s->ids)
		return (listen_send_state(s, &r->id, r->data, r->datalen,
		    why));
	return (listen_reply(s->lc, "update", r->name, strlen(r->name),
	    r->data, r->datalen));
}

/* The client cannot take more now: some of its replies wait. */
static int
listen_full(struct lclient *lc)
{
	return (lc->s == NULL || !session_open(lc->s) ||
	    session_queued(lc->s) >= HIGH_WATER);
}

/* Puts s on its client's owed list with what it now owes. */
static void
listen_owe(struct lsub *s, int what)
{
	s->flags |= what;
	if (s->flags & LSUB_OWED)
		return;
	s->flags = (s->flags | LSUB_OWED) & ~LSUB_WAITING;
	TAILQ_INSERT_TAIL(&s->lc->owed, s, oentry);
}

/*
 * A delivery was queued for lc, whose queue held before bytes.  The queue
 * is written to the socket as it passes LISTEN_WRITE_AT, not only after
 * the whole fan-out: one read from the broker may hold hundreds of
 * updates, and a client that keeps up must not see its queue reach
 * HIGH_WATER (and its states conflated) within one read.
 */
static void
listen_sent(struct lclient *lc, size_t before)
{
	metrics_add(METRIC_DELIVERIES, 1);
	if (session_queued(lc->s) >= LISTEN_WRITE_AT)
		conn_write(session_conn(lc->s));
	/* Its own callback writes the rest, once per client. */
	if (before == 0 && session_queued(lc->s) > 0)
		conn_kick(session_conn(lc->s));
}

/* Sends the resource's state to one subscriber, or owes it. */
static void
listen_deliver(struct lsub *s, const char *msg, size_t len)
{
	struct lres	*r = s->r;
	size_t		 before;

	if ((s->flags & LSUB_OWED) || listen_full(s->lc) || r->data == NULL) {
		listen_owe(s, LSUB_OWE_STATE);
		return;
	}
	before = session_queued(s->lc->s);
	/* The message made once for the fan-out, else one of its own. */
	if (msg != NULL ? session_send(s->lc->s, WS_OP_TEXT, 1, msg,
	    len) : listen_send_cached(s, "behind")) {
		listen_owe(s, LSUB_OWE_STATE);
		return;
	}
	if (msg != NULL && s->ids)
		s->last = r->id;
	listen_sent(s->lc, before);
}

/* Takes s out of its resource and its client's tree. */
static void
listen_detach(struct lsub *s)
{
	struct lclient	*lc = s->lc;
	struct lres	*r = s->r;

	RB_REMOVE(lsub_tree, &lc->subs, s);
	lc->nsubs--;
	s->r = NULL;
	TAILQ_REMOVE(&r->subs, s, rentry);
	if (--r->nsubs == 0)
		lbroker_leave(r);
}

/* One of lc's commands that waited for the broker is answered. */
static void
listen_settled(struct lclient *lc)
{
	/* The commands after it may be read now. */
	if (--lc->pending == 0 && lc->s != NULL)
		conn_kick(session_conn(lc->s));
}

/* s leaves: its resume's answer, if one is coming, goes nowhere. */
static void
listen_cancel_resume(struct lsub *s)
{
	if (s->get == NULL)
		return;
	lbroker_resume_cancel(s->get);
	s->get = NULL;
	s->flags &= ~(LSUB_REPLAYING | LSUB_SNAPPING);
	s->lc->replaying = 0;
}

static void
listen_sub_free(struct lsub *s)
{
	listen_cancel_resume(s);
	if (s->flags & LSUB_PENDING) {
		s->flags &= ~LSUB_PENDING;
		s->lc->pending--;
	}
	free(s->cursor);
	if (s->r != NULL)
		listen_detach(s);
	if (s->flags & LSUB_OWED)
		TAILQ_REMOVE(&s->lc->owed, s, oentry);
	free(s->why);
	free(s->name);
	metrics_add(METRIC_SUBSCRIPTIONS, -1);
	free(s);
}

/* lc's get waits for the gateway's gets in flight to drop below their cap. */
static void
listen_wait_turn(struct lclient *lc)
{
	if (!lc->queued) {
		lc->queued = 1;
		TAILQ_INSERT_TAIL(&listen_resumers, lc, wentry);
	}
}

/*
 * Starts or goes on with s's resume: the states after the last id its
 * client has, fetched from the broker's history a get at a time, each
 * while the client's queue is short, so that a resume never makes a
 * reader look slow.  Returns as listen_pay does.
 */
static int
listen_resume(struct lsub *s)
{
	struct lclient	*lc = s->lc;
	struct lres	*r = s->r;
	char		 from[PUBSUB_ID_MAX];

	/* The cache answers a client at most one state behind. */
	if (!s->start && r->data != NULL && s->last.epoch == r->id.epoch &&
	    s->last.seq <= r->id.seq && s->last.seq + 1 >= r->id.seq) {
		if (listen_full(lc) || listen_send_cached(s, "history") == -1)
			return (-1);
		s->flags &= ~LSUB_OWE_REPLAY;
		return (0);
	}
	if (lc->replaying || session_queued(lc->s) > LISTEN_REPLAY_AT)
		return (-1);
	if (s->start)
		strlcpy(from, "0", sizeof from);
	else
		(void)pubsub_id_format(&s->last, from, sizeof from);
	if ((s->get = lbroker_resume(r, from, s)) == NULL) {
		if (!lbroker_online()) {
			/* The broker's return brings the current state. */
			s->flags &= ~LSUB_OWE_REPLAY;
			return (0);
		}
		listen_wait_turn(lc);
		return (-1);
	}
	s->flags = (s->flags & ~(LSUB_OWE_REPLAY | LSUB_REPLAY_END)) |
	    LSUB_REPLAYING;
	lc->replaying = 1;
	return (1);
}

/*
 * Sends one owed item of s; 0 when s owes nothing more, 1 if it waits
 * for the broker's "state" or a resume's states, -1 if the client is full.
 */
static int
listen_pay(struct lsub *s)
{
	struct lclient	*lc = s->lc;
	struct lres	*r = s->r;

	if (s->flags & LSUB_OWE_ERROR) {
		if (listen_reply(lc, "error subscribe", s->name,
		    strlen(s->name), s->why, strlen(s->why)) == -1)
			return (-1);
		s->flags &= ~LSUB_OWE_ERROR;
		return (0);
	}
	while (s->oks > 0) {
		if (listen_full(lc) || listen_reply(lc, "ok subscribe",
		    r->name, strlen(r->name), NULL, 0) == -1)
			return (-1);
		s->oks--;
	}
	s->flags &= ~LSUB_OWE_OK;
	if (s->flags & LSUB_OWE_STATE) {
		if (r->data == NULL) {
			if (lbroker_fetch(r) == 0)
				return (1);
			/* The next subscription brings the state. */
			s->flags &= ~LSUB_OWE_STATE;
			return (0);
		}
		if (listen_full(lc) || listen_send_cached(s, "behind") == -1)
			return (-1);
		s->flags &= ~LSUB_OWE_STATE;
	}
	if (s->flags & LSUB_OWE_REPLAY)
		return (listen_resume(s));
	if (s->flags & LSUB_PATTERN)
		return (listen_snap(s));
	return (0);
}

/* The client's queue has room again: pay what is owed, in order. */
static void
listen_catch_up(void *arg)
{
	struct lclient	*lc = arg;
	struct lsub	*s;
	int		 ret;

	while (!listen_full(lc) && (s = TAILQ_FIRST(&lc->owed)) != NULL) {
		if ((ret = listen_pay(s)) == -1)
			break;
		TAILQ_REMOVE(&lc->owed, s, oentry);
		s->flags &= ~LSUB_OWED;
		if (ret == 1 && !(s->flags & LSUB_REPLAYING))
			s->flags |= LSUB_WAITING;
		else if (s->r == NULL)
			listen_sub_free(s);
	}
	if (lc->s != NULL && session_queued(lc->s) > 0)
		conn_kick(session_conn(lc->s));
}

/* A new state of r (already cached): to each subscriber that can take it. */
static void
listen_fan_out(struct lres *r)
{
	static char	 plain[PUBSUB_LINE_MAX + 2], withid[PUBSUB_LINE_MAX + 2];
	struct lsub	*s;
	size_t		 plen = 0, ilen = 0;

	TAILQ_FOREACH(s, &r->subs, rentry) {
		/* A resume's get brings this state too, in its order. */
		if (s->flags & (LSUB_PENDING | LSUB_OWE_STATE |
		    LSUB_OWE_REPLAY | LSUB_REPLAYING))
			continue;
		/*
		 * Each form of the message is made once for all; one that
		 * needs a gap line first, or is not the next, is sent alone.
		 */
		if (!s->ids) {
			if (plen == 0)
				plen = pubsub_line(plain, "update", r->name,
				    strlen(r->name), NULL, r->data,
				    r->datalen);
			listen_deliver(s, plain, plen);
		} else if (s->last.epoch == r->id.epoch &&
		    s->last.seq + 1 == r->id.seq) {
			if (ilen == 0)
				ilen = pubsub_line(withid, "update", r->name,
				    strlen(r->name), &r->id, r->data,
				    r->datalen);
			listen_deliver(s, withid, ilen);
		} else
			listen_deliver(s, NULL, 0);
	}
}

/*
 * One state of the history s asked for.  A client that fell behind
 * meanwhile is not sent the rest: it gets the newest state instead.
 */
static void
listen_replay(void *arg, struct lres *r, const struct pubsub_id *id,
    const char *data, size_t len)
{
	struct lsub	*s = arg;

	if (s->flags & LSUB_REPLAY_END)
		return;
	/* The broker sends what follows the id: one ahead of it is not its. */
	if (s->last.epoch == id->epoch && id->seq <= s->last.seq) {
		if (listen_reply(s->lc, "gap", r->name, strlen(r->name),
		    "reset", 5) == -1) {
			s->flags |= LSUB_REPLAY_END;
			return;
		}
		s->last.epoch = 0;
	}
	if (listen_full(s->lc) ||
	    listen_send_state(s, id, data, len, "history") == -1) {
		s->flags |= LSUB_REPLAY_END;
		return;
	}
	s->got++;
	if (session_queued(s->lc->s) >= LISTEN_WRITE_AT)
		conn_write(session_conn(s->lc->s));
}

/* Wakes the clients whose resume waited for a get of the gateway's. */
static void
listen_wake_resumers(void)
{
	struct lclient	*lc;

	while ((lc = TAILQ_FIRST(&listen_resumers)) != NULL) {
		TAILQ_REMOVE(&listen_resumers, lc, wentry);
		lc->queued = 0;
		listen_catch_up(lc);
		/* It took the free place: the others wait for the next. */
		if (lc->queued)
			break;
	}
}

/*
 * The answer to s's resume is over; head is the resource's newest id
 * (NULL: the broker was lost).  Less than that: another get; a client
 * that fell behind, or lost the broker, gets the newest state instead.
 * From now on s takes part in the fan-out.
 */
static void
listen_replayed(void *arg, struct lres *r, const struct pubsub_id *head)
{
	struct lsub	*s = arg;
	struct lclient	*lc;
	int		 got, reset;

	if (s == NULL) {		/* its subscriber left */
		listen_wake_resumers();
		return;
	}
	lc = s->lc;
	got = s->got;
	s->get = NULL;
	s->got = 0;
	s->flags &= ~LSUB_REPLAYING;
	lc->replaying = 0;
	if (head == NULL || (s->flags & LSUB_REPLAY_END)) {
		/* Behind: the newest state, or the broker's return, brings it. */
		s->flags &= ~LSUB_REPLAY_END;
		if (head != NULL)
			listen_owe(s, LSUB_OWE_STATE);
	} else if (got > 0 && s->last.epoch == head->epoch &&
	    s->last.seq < head->seq) {
		s->start = 0;
		listen_owe(s, LSUB_OWE_REPLAY);	/* the next part */
	} else if (got == 0 && s->last.epoch != 0 &&
	    (s->last.epoch != head->epoch || s->last.seq != head->seq)) {
		/* Nothing is kept after its id: it is told, and goes on. */
		reset = s->last.epoch != head->epoch ||
		    s->last.seq > head->seq;
		if (listen_reply(lc, "gap", r->name, strlen(r->name),
		    reset ? "reset" : "history", reset ? 5 : 7) == 0)
			s->last = *head;
	}
	s->start = 0;
	listen_catch_up(lc);
	listen_wake_resumers();
}

/*
 * Pattern subscriptions.  A subscriber gets a snapshot first, the
 * current state of each resource the pattern matches, a part at a time
 * (as a resume does, while its queue is short), then each update of any
 * of them.  While the snapshot is under way, an update of a resource
 * past the last one sent is left to the snapshot, which brings it; the
 * broker answers in order, so nothing falls between.  A subscriber that
 * cannot take an update hears "gap P behind" when it has room, then a
 * new snapshot: what it missed, conflated.
 */

/* s missed states: once it has room, "gap P behind" and a new snapshot. */
static void
listen_pattern_behind(struct lsub *s)
{
	s->flags |= LSUB_BEHIND | LSUB_SNAP;
	s->cursor[0] = '\0';
	listen_owe(s, LSUB_OWE_SNAP);
}

/* Asks for the next part of s's snapshot; returns as listen_pay does. */
static int
listen_snap(struct lsub *s)
{
	struct lclient	*lc = s->lc;
	struct lres	*r = s->r;

	if (s->flags & LSUB_SNAPPING)
		return (1);		/* its part's end owes it again */
	if (!(s->flags & LSUB_OWE_SNAP))
		return (0);
	if (s->flags & LSUB_BEHIND) {
		if (listen_full(lc) || listen_reply(lc, "gap", r->name,
		    strlen(r->name), "behind", 6) == -1)
			return (-1);
		s->flags &= ~LSUB_BEHIND;
	}
	if (lc->replaying || session_queued(lc->s) > LISTEN_REPLAY_AT)
		return (-1);
	if ((s->get = lbroker_resume(r, s->cursor[0] != '\0' ? s->cursor :
	    NULL, s)) == NULL) {
		if (!lbroker_online()) {
			/* The broker's return brings a new snapshot. */
			s->flags &= ~LSUB_OWE_SNAP;
			return (0);
		}
		listen_wait_turn(lc);
		return (-1);
	}
	s->flags = (s->flags & ~LSUB_OWE_SNAP) | LSUB_SNAPPING;
	lc->replaying = 1;
	return (1);
}

/* One update of a pattern: "update NAME [ID] DATA" to s; -1 if no room. */
static int
listen_send_matched(struct lsub *s, const char *msg, size_t len)
{
	struct lclient	*lc = s->lc;
	size_t		 before;

	if (listen_full(lc))
		return (-1);
	before = session_queued(lc->s);
	if (session_send(lc->s, WS_OP_TEXT, 1, msg, len) == -1)
		return (-1);
	listen_sent(lc, before);
	return (0);
}

/* A new state of resource name, which pattern r matches: to its subscribers. */
static void
listen_matched(struct lres *r, const char *name, size_t nlen,
    const struct pubsub_id *id, const char *data, size_t dlen)
{
	static char	 plain[PUBSUB_LINE_MAX + 2], withid[PUBSUB_LINE_MAX + 2];
	struct lsub	*s;
	char		 n[PUBSUB_RESOURCE_MAX + 1];
	size_t		 plen = 0, ilen = 0;

	memcpy(n, name, nlen);
	n[nlen] = '\0';
	TAILQ_FOREACH(s, &r->subs, rentry) {
		if ((s->flags & (LSUB_PENDING | LSUB_BEHIND)) ||
		    ((s->flags & LSUB_SNAP) && (s->cursor[0] == '\0' ||
		    strcmp(n, s->cursor) > 0)))
			continue;
		if (!s->ids && plen == 0)
			plen = pubsub_line(plain, "update", name, nlen, NULL,
			    data, dlen);
		else if (s->ids && ilen == 0)
			ilen = pubsub_line(withid, "update", name, nlen, id,
			    data, dlen);
		if (listen_send_matched(s, s->ids ? withid : plain,
		    s->ids ? ilen : plen) == -1)
			listen_pattern_behind(s);
	}
}

/* "gap P behind" from the broker: every subscriber of r missed states. */
static void
listen_missed(struct lres *r)
{
	struct lsub	*s;

	TAILQ_FOREACH(s, &r->subs, rentry)
		if (!(s->flags & LSUB_PENDING)) {
			listen_pattern_behind(s);
			listen_catch_up(s->lc);
		}
}

/* One state of s's snapshot. */
static void
listen_snapshot(void *arg, struct lres *r, const char *name, size_t nlen,
    const struct pubsub_id *id, const char *data, size_t dlen)
{
	static char	 msg[PUBSUB_LINE_MAX + 2];
	struct lsub	*s = arg;

	if (s->flags & LSUB_BEHIND)
		return;
	if (listen_send_matched(s, msg, pubsub_line(msg, "update", name,
	    nlen, s->ids ? id : NULL, data, dlen)) == -1) {
		listen_pattern_behind(s);
		return;
	}
	memcpy(s->cursor, name, nlen);
	s->cursor[nlen] = '\0';
}

/*
 * A part of s's snapshot is over: more after name after, or none (NULL),
 * or the broker was lost (-1: its return brings a new one).
 */
static void
listen_snapshotted(void *arg, struct lres *r, const char *after, int lost)
{
	struct lsub	*s = arg;
	struct lclient	*lc = s->lc;

	s->get = NULL;
	s->flags &= ~LSUB_SNAPPING;
	lc->replaying = 0;
	if (lost)
		;
	else if (s->flags & LSUB_BEHIND)
		listen_owe(s, LSUB_OWE_SNAP);
	else if (after != NULL && pubsub_resource_valid(after,
	    strlen(after))) {
		strlcpy(s->cursor, after, PUBSUB_RESOURCE_MAX + 1);
		listen_owe(s, LSUB_OWE_SNAP);
	} else {
		s->flags &= ~LSUB_SNAP;
		s->cursor[0] = '\0';
	}
	listen_catch_up(lc);
	listen_wake_resumers();
}

/* The broker's "state" for r arrived (or its "ok get": maybe none). */
static void
listen_state(struct lres *r)
{
	struct lsub	*s;

	TAILQ_FOREACH(s, &r->subs, rentry) {
		if (!(s->flags & LSUB_WAITING))
			continue;
		s->flags &= ~LSUB_WAITING;
		if (r->data == NULL)
			s->flags &= ~LSUB_OWE_STATE;	/* there is none */
		else
			listen_owe(s, 0);
		listen_catch_up(s->lc);
	}
}

/*
 * The broker confirmed r: its waiting subscribers hear "ok".  Those of a
 * pattern that were there before (the broker is back) missed states.
 */
static void
listen_confirmed(struct lres *r)
{
	struct lsub	*s;

	TAILQ_FOREACH(s, &r->subs, rentry) {
		if (r->pattern && !(s->flags & LSUB_PENDING)) {
			listen_pattern_behind(s);
			listen_catch_up(s->lc);
			continue;
		}
		if (!(s->flags & LSUB_PENDING))
			continue;
		s->flags &= ~LSUB_PENDING;
		listen_settled(s->lc);
		/*
		 * The broker's update with the current state follows; a
		 * resume skips it, its get brings it in order.
		 */
		listen_owe(s, LSUB_OWE_OK | (s->then & (LSUB_OWE_REPLAY |
		    LSUB_OWE_SNAP)));
		listen_catch_up(s->lc);
	}
}

/* The broker refused r, or lost it: every subscriber hears why. */
static void
listen_refused(struct lres *r, const char *why)
{
	struct lsub	*s;

	while ((s = TAILQ_FIRST(&r->subs)) != NULL) {
		if (s->flags & LSUB_PENDING)
			listen_settled(s->lc);
		s->name = xstrdup(r->name);
		s->why = xstrdup(why);
		listen_cancel_resume(s);
		s->flags &= ~(LSUB_PENDING | LSUB_OWE_OK | LSUB_OWE_STATE |
		    LSUB_WAITING | LSUB_OWE_REPLAY | LSUB_REPLAY_END |
		    LSUB_SNAP | LSUB_OWE_SNAP | LSUB_BEHIND);
		listen_detach(s);
		listen_owe(s, LSUB_OWE_ERROR);
		listen_catch_up(s->lc);
	}
}

static void
listen_subscribe(struct lclient *lc, const struct pubsub_msg *m)
{
	struct lres	*r;
	struct lsub	*s = NULL;
	const char	*why;
	int		 pattern = pubsub_pattern(m->resource, m->resourcelen);

	if (!grants_allow(&lc->grants, GRANT_SUBSCRIBE, m->resource,
	    m->resourcelen)) {
		(void)listen_reply(lc, "error subscribe", m->resource,
		    m->resourcelen, "not allowed", 11);
		return;
	}
	r = lbroker_find(m->resource, m->resourcelen);
	if (r != NULL && (s = listen_sub(lc, r)) != NULL && pattern) {
		(void)listen_reply(lc, "error subscribe", m->resource,
		    m->resourcelen, "already subscribed", 18);
		return;
	}
	if (r != NULL && s != NULL) {
		/* With ids, a resume is made once: its state is its own. */
		if (s->ids || m->from != PUBSUB_FROM_NONE) {
			(void)listen_reply(lc, "error subscribe", m->resource,
			    m->resourcelen, "already subscribed", 18);
			return;
		}
		/* Again: the answer, and the state once more. */
		if (s->oks >= LISTEN_OKS_MAX) {
			(void)listen_reply(lc, "error subscribe", m->resource,
			    m->resourcelen, "already subscribing", 19);
			return;
		}
		s->oks++;
		if (!(s->flags & LSUB_PENDING)) {
			listen_owe(s, LSUB_OWE_OK | LSUB_OWE_STATE);
			listen_catch_up(lc);
		}
		return;
	}
	if (lc->nsubs >= conf.listen_max_subs) {
		(void)listen_reply(lc, "error subscribe", m->resource,
		    m->resourcelen, "too many subscriptions", 22);
		return;
	}
	if ((r = lbroker_join(m->resource, m->resourcelen, &why)) == NULL) {
		(void)listen_reply(lc, "error subscribe", m->resource,
		    m->resourcelen, why, strlen(why));
		return;
	}
	s = xcalloc(1, sizeof *s);
	metrics_add(METRIC_SUBSCRIPTIONS, 1);
	s->lc = lc;
	s->r = r;
	RB_INSERT(lsub_tree, &lc->subs, s);
	lc->nsubs++;
	TAILQ_INSERT_TAIL(&r->subs, s, rentry);
	r->nsubs++;
	s->oks = 1;
	s->ids = m->from != PUBSUB_FROM_NONE;
	s->start = m->from == PUBSUB_FROM_START;
	if (m->from == PUBSUB_FROM_ID)
		s->last = m->id;
	s->then = s->start || m->from == PUBSUB_FROM_ID ? LSUB_OWE_REPLAY :
	    LSUB_OWE_STATE;
	if (pattern) {
		/* Its snapshot first; until it is sent, no update. */
		s->then = LSUB_OWE_SNAP;
		s->flags |= LSUB_PATTERN | LSUB_SNAP;
		s->cursor = xcalloc(1, PUBSUB_RESOURCE_MAX + 1);
	}
	if (r->ready) {
		listen_owe(s, LSUB_OWE_OK | s->then);
		listen_catch_up(lc);
	} else {
		s->flags |= LSUB_PENDING;
		lc->pending++;
	}
}

static void
listen_unsubscribe(struct lclient *lc, const struct pubsub_msg *m)
{
	struct lres	*r;
	struct lsub	*s;

	if ((r = lbroker_find(m->resource, m->resourcelen)) != NULL &&
	    (s = listen_sub(lc, r)) != NULL) {
		/* Each subscribe before it is answered first. */
		for (; s->oks > 0; s->oks--)
			(void)listen_reply(lc, "ok subscribe", r->name,
			    strlen(r->name), NULL, 0);
		listen_sub_free(s);
	}
	/* No update for it leaves after this line: it is true at once. */
	(void)listen_reply(lc, "ok unsubscribe", m->resource, m->resourcelen,
	    NULL, 0);
}

static void
listen_publish(struct lclient *lc, const struct pubsub_msg *m)
{
	const char	*why;

	if (!grants_allow(&lc->grants, GRANT_PUBLISH, m->resource,
	    m->resourcelen)) {
		(void)listen_reply(lc, "error publish", m->resource,
		    m->resourcelen, "not allowed", 11);
		return;
	}
	if (lbroker_publish(lc, m->resource, m->resourcelen, m->data,
	    m->datalen, &why) == -1) {
		(void)listen_reply(lc, "error publish", m->resource,
		    m->resourcelen, why, strlen(why));
		return;
	}
	lc->publishing++;
}

/*
 * The broker's answer to a client's publish: passed on, unless the client
 * is gone, in which case it may be freed at last.
 */
static void
listen_published(struct lclient *lc, const char *name, size_t len,
    const char *why)
{
	lc->publishing--;
	if (why == NULL)
		metrics_add(METRIC_PUBLISHES, 1);
	if (lc->s == NULL) {
		if (lc->publishing == 0)
			free(lc);
		return;
	}
	if (why == NULL)
		(void)listen_reply(lc, "ok publish", name, len, NULL, 0);
	else
		(void)listen_reply(lc, "error publish", name, len, why,
		    strlen(why));
	/* The reply is queued, and the commands after it may be read. */
	conn_kick(session_conn(lc->s));
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
		(void)listen_reply(lc, "pong", NULL, 0, NULL, 0);
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

/* What every client may do without an authorization option. */
void
listen_grants_default(struct grants *g)
{
	char	*p;

	if (conf.authorizer == NULL && conf.jwt_keys.n == 0)
		(void)grants_add(g, GRANT_SUBSCRIBE, "*", 1);
	if (conf.listen_publish != NULL) {
		xasprintf(&p, "%s*", conf.listen_publish);
		(void)grants_add(g, GRANT_PUBLISH, p, strlen(p));
		free(p);
	}
}

/*
 * A listen client from addr with these grants (taken over); the caller
 * has checked listen_admit.
 */
struct lclient *
listen_new(const char *addr, struct grants *g, long long exp)
{
	struct listen_addr	 key, *a;
	struct lclient		*lc;

	lc = xcalloc(1, sizeof *lc);
	RB_INIT(&lc->subs);
	TAILQ_INIT(&lc->owed);
	buf_init(&lc->msg, PUBSUB_LINE_MAX);
	lc->grants = *g;
	memset(g, 0, sizeof *g);
	lc->exp = exp;
	strlcpy(key.addr, addr, sizeof key.addr);
	if ((a = RB_FIND(listen_addr_tree, &listen_addrs, &key)) == NULL) {
		a = xcalloc(1, sizeof *a);
		strlcpy(a->addr, addr, sizeof a->addr);
		RB_INSERT(listen_addr_tree, &listen_addrs, a);
	}
	a->n++;
	lc->addr = a;
	listen_nclients++;
	metrics_add(METRIC_CONN_LISTEN, 1);
	return (lc);
}

/* The client's token has expired: so has its connection. */
static void
listen_expiry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lclient	*lc = w->data;

	if (lc->s == NULL)
		return;
	session_end(lc->s, WS_CLOSE_POLICY, "token expired", "token expired");
	conn_kick(session_conn(lc->s));
}

static void
listen_attach(void *arg, struct session *s)
{
	struct lclient	*lc = arg;
	double		 left;

	lc->s = s;
	ev_init(&lc->expiry, listen_expiry_cb);
	lc->expiry.data = lc;
	if (lc->exp > 0) {
		left = (double)(lc->exp - (long long)time(NULL));
		ev_timer_set(&lc->expiry, left > 0 ? left : 0.0, 0.0);
		ev_timer_start(EV_DEFAULT, &lc->expiry);
	}
}

/*
 * A client's commands are answered in the order it sent them: the next
 * one is read once the broker has answered those that wait for it (a
 * publish, a subscribe it must confirm).  Replies to the others fit, as
 * frames are parsed only under HIGH_WATER.
 */
static int
listen_room(void *arg)
{
	struct lclient	*lc = arg;

	return (lc->publishing == 0 && lc->pending == 0);
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

/* The client leaves every resource. */
static void
listen_leave(struct lclient *lc)
{
	struct lsub	*s;

	while ((s = RB_ROOT(&lc->subs)) != NULL)
		listen_sub_free(s);
	while ((s = TAILQ_FIRST(&lc->owed)) != NULL)
		listen_sub_free(s);
	if (lc->queued) {
		TAILQ_REMOVE(&listen_resumers, lc, wentry);
		lc->queued = 0;
	}
	if (lc->query != NULL) {
		lbroker_resume_cancel(lc->query);
		lc->query = NULL;
	}
	buf_free(&lc->msg);
}

/* The client is gone or we are. */
static void
listen_stop(void *arg, int gone)
{
	struct lclient	*lc = arg;

	ev_timer_stop(EV_DEFAULT, &lc->expiry);
	if (gone)
		listen_leave(lc);
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

/* Freed, but kept while the broker owes it answers (listen_published). */
static void
listen_free(void *arg)
{
	struct lclient	*lc = arg;

	ev_timer_stop(EV_DEFAULT, &lc->expiry);
	listen_leave(lc);
	grants_free(&lc->grants);
	if (--lc->addr->n == 0) {
		RB_REMOVE(listen_addr_tree, &listen_addrs, lc->addr);
		free(lc->addr);
	}
	listen_nclients--;
	metrics_add(METRIC_CONN_LISTEN, -1);
	lc->s = NULL;
	if (lc->publishing == 0)
		free(lc);
}

/* A client that never got its session (its stream was refused). */
void
listen_discard(struct lclient *lc)
{
	listen_free(lc);
}

/* What the broker link tells us. */
static const struct lbroker_ops listen_lbroker_ops = {
	.fan_out = listen_fan_out,
	.state = listen_state,
	.confirmed = listen_confirmed,
	.refused = listen_refused,
	.published = listen_published,
	.replay = listen_replay,
	.replayed = listen_replayed,
	.matched = listen_matched,
	.missed = listen_missed,
	.snapshot = listen_snapshot,
	.snapshotted = listen_snapshotted
};

/* Sets up listen mode at start-up; returns -1 with a message printed. */
int
listen_init(void)
{
	return (lbroker_init(&listen_lbroker_ops));
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

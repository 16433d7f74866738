/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Listen mode's link to the broker: one UNIX socket connection for all of
 * a gateway's clients, the resources they follow (struct lres, with the
 * cached state), and the broker the gateway runs itself.  It subscribes
 * at the broker when a resource's first client joins and unsubscribes
 * after the last leaves, and tells listen.c, through a table of hooks,
 * what the broker answered: a subscription confirmed or refused, a state,
 * a client's publish taken or refused.
 *
 * The broker answers every command of ours in order, so the answers are
 * matched by counting: a resource knows how many of its subscribe and
 * unsubscribe lines are unanswered, and the client publishes in flight
 * wait in one queue.  Lines that cannot be queued now (the link is over
 * LISTEN_BROKER_QUEUE) are refused to the client, or, for unsubscribe and
 * get, owed and sent as the queue drains.  A backend that spans machines
 * would replace this file.
 */

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/tree.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wspipe.h"
#include "metrics.h"
#include "ptable.h"
#include "pubsub.h"

#define LISTEN_BROKER_QUEUE	(4 * 1024 * 1024)
#define LISTEN_RETRY_MIN	0.05
#define LISTEN_RETRY_MAX	1.0
#define LISTEN_RESTART_MIN	0.1
#define LISTEN_RESTART_MAX	10.0

#define LRES_OWE_UNSUB	0x1
#define LRES_OWE_GET	0x2
#define LRES_OWE_SUB	0x4

#define LBROKER_REPLAYS_MAX	64	/* resumes' gets in flight, at most */

/*
 * A get the broker has not answered yet: a fetch of the newest state for
 * the cache, or a resume's, whose states go to one subscriber.
 */
struct lget {
	TAILQ_ENTRY(lget)	 entry;
	struct lres		*r;		/* NULL: a query's */
	void			*arg;		/* a resume's; NULL: cancelled */
	int			 resume;
	lbroker_got_fn		 got;		/* a query's */
	char			 name[PUBSUB_RESOURCE_MAX + 1];
};

/* A client's publish the broker has not answered yet. */
struct lpub {
	TAILQ_ENTRY(lpub)	 entry;
	struct lclient		*lc;
	size_t			 len;
	char			 name[PUBSUB_RESOURCE_MAX + 1];
};

static int	lres_cmp(struct lres *, struct lres *);
RB_HEAD(lres_tree, lres);
RB_PROTOTYPE(lres_tree, lres, node, lres_cmp)
RB_GENERATE(lres_tree, lres, node, lres_cmp)

static struct lres_tree		 lbroker_res = RB_INITIALIZER(&lbroker_res);
static TAILQ_HEAD(, lres)	 lbroker_cache =
    TAILQ_HEAD_INITIALIZER(lbroker_cache);
static size_t			 lbroker_cached;	/* bytes */
static TAILQ_HEAD(, lres)	 lbroker_owed =
    TAILQ_HEAD_INITIALIZER(lbroker_owed);
static TAILQ_HEAD(, lpub)	 lbroker_pubs =
    TAILQ_HEAD_INITIALIZER(lbroker_pubs);
static TAILQ_HEAD(, lget)	 lbroker_gets =
    TAILQ_HEAD_INITIALIZER(lbroker_gets);
static size_t			 lbroker_replays;	/* resumes in flight */
static struct ptable		 lbroker_ptab;	/* followed patterns */

/* The broker link. */
static struct {
	const struct lbroker_ops *ops;
	char		*path;
	char		*dir;		/* private directory we made, or NULL */
	int		 own;		/* we run the broker */
	struct child	 ch;		/* our broker, while running */
	int		 running;
	ev_timer	 restart;
	double		 restart_backoff;
	int		 fd;
	ev_io		 io;
	ev_timer	 retry;
	double		 backoff;
	struct buf	 in;
	struct buf	 out;
	int		 up;
	unsigned long	 connects;	/* times the link was made */
	int		 dispatching;	/* a broker line is being handled */
	struct lres	*joined;	/* "ok subscribe R" was the last line */
} lb = { .fd = -1 };

static void	lbroker_connect(void);
static void	lbroker_line(const char *, size_t);
static void	lbroker_start(void);

static int
lres_cmp(struct lres *a, struct lres *b)
{
	return (strcmp(a->name, b->name));
}

struct lres *
lbroker_find(const char *name, size_t len)
{
	struct lres	 key;
	char		 buf[PUBSUB_RESOURCE_MAX + 1];

	/* A name from a broker's answer has not been checked yet. */
	if (!pubsub_resource_valid(name, len))
		return (NULL);
	memcpy(buf, name, len);
	buf[len] = '\0';
	key.name = buf;
	return (RB_FIND(lres_tree, &lbroker_res, &key));
}

const char *
listen_broker_path(void)
{
	return (lb.path);
}

/* Room on the link for a command that a client waits for. */
static int
lbroker_room(void)
{
	return (lb.up && buf_len(&lb.out) <= LISTEN_BROKER_QUEUE);
}

/* Queues "VERB R[ DATA]" for the broker; -1 if it does not fit. */
static int
lbroker_send(const char *verb, const char *r, size_t rlen, const char *data,
    size_t dlen)
{
	static char	line[PUBSUB_LINE_MAX + 2];
	size_t		n;

	if (!lb.up)
		return (-1);
	n = pubsub_line(line, verb, r, rlen, NULL, data, dlen);
	line[n++] = '\n';
	if (buf_append(&lb.out, line, n) == -1)
		return (-1);
	if (!(lb.io.events & EV_WRITE)) {
		ev_io_stop(EV_DEFAULT, &lb.io);
		ev_io_set(&lb.io, lb.fd, EV_READ | EV_WRITE);
		ev_io_start(EV_DEFAULT, &lb.io);
	}
	return (0);
}

static void
lbroker_uncache(struct lres *r)
{
	if (r->data == NULL)
		return;
	TAILQ_REMOVE(&lbroker_cache, r, cache);
	lbroker_cached -= r->datalen;
	metrics_add(METRIC_CACHED_BYTES, -(long long)r->datalen);
	free(r->data);
	r->data = NULL;
	r->datalen = 0;
}

/* Caches r's new state, letting the least recently updated others go. */
static void
lbroker_cache_put(struct lres *r, const char *data, size_t len,
    const struct pubsub_id *id)
{
	struct lres	*old;

	lbroker_uncache(r);
	while (lbroker_cached + len > conf.listen_cache &&
	    (old = TAILQ_FIRST(&lbroker_cache)) != NULL)
		lbroker_uncache(old);
	r->data = xmalloc(len + 1);
	memcpy(r->data, data, len);
	r->datalen = len;
	r->id = *id;
	lbroker_cached += len;
	metrics_add(METRIC_CACHED_BYTES, len);
	TAILQ_INSERT_TAIL(&lbroker_cache, r, cache);
}

/* Frees r once nothing refers to it: no client, no unanswered line. */
static void
lbroker_gc(struct lres *r)
{
	if (r->nsubs > 0 || r->inflight > 0 || r->want || lb.dispatching ||
	    r->gets > 0 || (r->owe & LRES_OWE_UNSUB))
		return;
	if (r->owe != 0)
		TAILQ_REMOVE(&lbroker_owed, r, owed);
	if (lb.joined == r)
		lb.joined = NULL;
	lbroker_uncache(r);
	RB_REMOVE(lres_tree, &lbroker_res, r);
	if (r->pattern)
		ptable_del(&lbroker_ptab, &r->pn);
	metrics_add(METRIC_RESOURCES, -1);
	free(r->name);
	free(r);
}

/*
 * A get of name (r's, or a query's with r NULL) was queued: its answer
 * comes after those of the gets before it.
 */
static struct lget *
lbroker_get_sent(struct lres *r, const char *name, size_t len, void *arg,
    int resume)
{
	struct lget	*g;

	g = xcalloc(1, sizeof *g);
	g->r = r;
	g->arg = arg;
	g->resume = resume;
	memcpy(g->name, name, len);
	if (r != NULL)
		r->gets++;
	if (resume)
		lbroker_replays++;
	TAILQ_INSERT_TAIL(&lbroker_gets, g, entry);
	return (g);
}

/* The oldest get is answered, or lost: forgets it. */
static void
lbroker_get_done(struct lget *g)
{
	TAILQ_REMOVE(&lbroker_gets, g, entry);
	if (g->resume)
		lbroker_replays--;
	if (g->r != NULL)
		g->r->gets--;
	free(g);
}

/* Queues what r owes the broker, if it fits now. */
static void
lbroker_pay(struct lres *r)
{
	if ((r->owe & LRES_OWE_SUB) && lbroker_send("subscribe", r->name,
	    strlen(r->name), NULL, 0) == 0) {
		r->owe &= ~LRES_OWE_SUB;
		r->inflight++;
	}
	if ((r->owe & LRES_OWE_UNSUB) && lbroker_send("unsubscribe", r->name,
	    strlen(r->name), NULL, 0) == 0) {
		r->owe &= ~LRES_OWE_UNSUB;
		r->inflight++;
	}
	if ((r->owe & LRES_OWE_GET) && lbroker_send("get", r->name,
	    strlen(r->name), NULL, 0) == 0) {
		r->owe &= ~LRES_OWE_GET;
		r->getting = 1;
		lbroker_get_sent(r, r->name, strlen(r->name), NULL, 0);
	}
	if (r->owe == 0)
		TAILQ_REMOVE(&lbroker_owed, r, owed);
}

static void
lbroker_owe(struct lres *r, int what)
{
	if (r->owe == 0)
		TAILQ_INSERT_TAIL(&lbroker_owed, r, owed);
	r->owe |= what;
	lbroker_pay(r);
}

/*
 * The resource a client joins, subscribed at the broker or on its way;
 * NULL with a reason if the broker cannot be asked now.
 */
struct lres *
lbroker_join(const char *name, size_t len, const char **why)
{
	struct lres	*r;

	if ((r = lbroker_find(name, len)) != NULL && r->want)
		return (r);
	/* While the link is down, it waits to be subscribed when it is up. */
	if (lb.up && !lbroker_room()) {
		*why = "broker busy, try again later";
		return (NULL);
	}
	if (r == NULL) {
		r = xcalloc(1, sizeof *r);
		r->name = xstrndup(name, len);
		TAILQ_INIT(&r->subs);
		RB_INSERT(lres_tree, &lbroker_res, r);
		if ((r->pattern = pubsub_pattern(name, len)))
			ptable_add(&lbroker_ptab, &r->pn, r->name, len - 1);
		metrics_add(METRIC_RESOURCES, 1);
	}
	/* An unsubscribe it still owes is simply not sent. */
	if (r->owe & LRES_OWE_UNSUB) {
		r->owe &= ~LRES_OWE_UNSUB;
		if (r->owe == 0)
			TAILQ_REMOVE(&lbroker_owed, r, owed);
		/* The broker has it, or will when its last line is done. */
		r->want = 1;
		return (r);
	}
	r->want = 1;
	r->ready = 0;
	if (lb.up)
		lbroker_owe(r, LRES_OWE_SUB);
	return (r);
}

/* r's last client left: unsubscribe at the broker, now or when it fits. */
void
lbroker_leave(struct lres *r)
{
	if (r->owe & LRES_OWE_SUB) {
		/* Never sent: nothing to take back at the broker. */
		r->owe &= ~LRES_OWE_SUB;
		if (r->owe == 0)
			TAILQ_REMOVE(&lbroker_owed, r, owed);
		if (r->inflight == 0) {
			r->want = 0;
			lbroker_gc(r);
			return;
		}
	}
	if (r->want && lb.up) {
		r->want = 0;
		lbroker_owe(r, LRES_OWE_UNSUB);
	} else
		r->want = 0;
	lbroker_gc(r);
}

/* Asks the broker for r's state (listen.c's state hook answers); -1 if not. */
int
lbroker_fetch(struct lres *r)
{
	if (!lb.up || !r->ready)
		return (-1);
	if (!r->getting && !(r->owe & LRES_OWE_GET))
		lbroker_owe(r, LRES_OWE_GET);
	return (0);
}

/*
 * "get NAME [FROM]" for arg, r being what we follow that NAME names (NULL
 * for a query's); NULL if the link is down or too busy now.  Such gets in
 * flight are few, so that their answers never fill the broker's queue.
 */
static struct lget *
lbroker_ask(struct lres *r, const char *name, size_t len, const char *from,
    void *arg)
{
	if (!lbroker_room() || lbroker_replays >= LBROKER_REPLAYS_MAX ||
	    lbroker_send("get", name, len, from, from != NULL ? strlen(from) :
	    0) == -1)
		return (NULL);
	return (lbroker_get_sent(r, name, len, arg, 1));
}

/*
 * Asks the broker, for subscriber arg, for r's states after from (an id,
 * or "0"): they come through the replay hook, then the replayed hook.  r
 * a pattern: a part of its snapshot, the states of the resources it
 * matches after name from (NULL: from the first), through the snapshot
 * hook, then the snapshotted one.  NULL if it cannot be asked now.
 */
struct lget *
lbroker_resume(struct lres *r, const char *from, void *arg)
{
	return (lbroker_ask(r, r->name, strlen(r->name), from, arg));
}

/*
 * Asks the broker for the current state of resource name, whether the
 * gateway follows it or not, for arg: got says what came (a state, none,
 * or the link lost).  NULL if the link is down or too busy now.
 */
struct lget *
lbroker_query(const char *name, size_t len, lbroker_got_fn got, void *arg)
{
	struct lget	*g;

	if ((g = lbroker_ask(NULL, name, len, "current", arg)) != NULL)
		g->got = got;
	return (g);
}

/* The subscriber went away: the answer goes nowhere. */
void
lbroker_resume_cancel(struct lget *g)
{
	g->arg = NULL;
}

/* 1 while the broker link is up. */
int
lbroker_online(void)
{
	return (lb.up);
}

/* Sends a client's publish; its answer comes through the published hook. */
int
lbroker_publish(struct lclient *lc, const char *name, size_t len,
    const char *data, size_t dlen, const char **why)
{
	struct lpub	*p;

	if (!lbroker_room() || lbroker_send("publish", name, len, data,
	    dlen) == -1) {
		*why = lb.up ? "broker busy, try again later" :
		    "broker unavailable";
		return (-1);
	}
	p = xcalloc(1, sizeof *p);
	p->lc = lc;
	p->len = len;
	memcpy(p->name, name, len);
	TAILQ_INSERT_TAIL(&lbroker_pubs, p, entry);
	return (0);
}

/* The oldest publish in flight is answered (why NULL: taken). */
static void
lbroker_published(const char *why)
{
	struct lpub	*p;

	if ((p = TAILQ_FIRST(&lbroker_pubs)) == NULL)
		return;
	TAILQ_REMOVE(&lbroker_pubs, p, entry);
	lb.ops->published(p->lc, p->name, p->len, why);
	free(p);
}

/* The oldest get in flight, if it names resource name. */
static struct lget *
lbroker_get_head(const char *name, size_t len)
{
	struct lget	*g = TAILQ_FIRST(&lbroker_gets);

	if (g == NULL || strlen(g->name) != len ||
	    memcmp(g->name, name, len) != 0)
		return (NULL);
	return (g);
}

/* "ok get R [ID]": the oldest get is answered; ID is R's newest. */
static void
lbroker_got(const char *name, size_t len, const char *rest)
{
	struct pubsub_id	 id, *idp = NULL;
	struct lget		*g;
	struct lres		*r;
	void			*arg;

	/* An answer to no get of ours is not trusted with anything. */
	if ((g = lbroker_get_head(name, len)) == NULL)
		return;
	if ((r = g->r) == NULL) {
		/* A query's: no state came before its end. */
		if (g->arg != NULL)
			g->got(g->arg, NULL, NULL, 0, 0);
		lbroker_get_done(g);
		return;
	}
	if (!g->resume) {
		lbroker_get_done(g);
		r->getting = 0;
		lb.ops->state(r);
	} else if (r->pattern) {
		arg = g->arg;
		r->gets++;
		lbroker_get_done(g);
		if (arg != NULL)
			lb.ops->snapshotted(arg, r, rest, 0);
		r->gets--;
	} else {
		if (rest != NULL && pubsub_id_parse(rest, strlen(rest),
		    &id) == 0)
			idp = &id;
		arg = g->arg;
		/* Its place is free before anyone waiting for one is woken. */
		r->gets++;
		lbroker_get_done(g);
		lb.ops->replayed(arg, r, idp);
		r->gets--;
	}
	lbroker_gc(r);
}

/* "ok VERB R" or "error VERB R WHY": an answer to one of our lines. */
static void
lbroker_answer(int ok, const char *s, size_t len)
{
	struct lres	*r;
	const char	*sp, *name, *why = NULL;
	char		 reason[256];
	size_t		 vlen, nlen;

	if ((sp = memchr(s, ' ', len)) == NULL)
		return;
	vlen = sp - s;
	name = sp + 1;
	nlen = s + len - name;
	if ((sp = memchr(name, ' ', nlen)) != NULL) {
		(void)snprintf(reason, sizeof reason, "%.*s",
		    (int)(s + len - sp - 1), sp + 1);
		why = reason;
		nlen = sp - name;
	}
	if (!ok && why == NULL)
		why = "refused by the broker";
	if (vlen == 5 && memcmp(s, "hello", 5) == 0)
		return;
	if (vlen == 7 && memcmp(s, "publish", 7) == 0) {
		lbroker_published(ok ? NULL : why);
		return;
	}
	if (vlen == 3 && memcmp(s, "get", 3) == 0) {
		lbroker_got(name, nlen, why);
		return;
	}
	if ((r = lbroker_find(name, nlen)) == NULL)
		return;
	if (r->inflight > 0)
		r->inflight--;
	if (vlen == 9 && memcmp(s, "subscribe", 9) == 0 && r->inflight == 0 &&
	    r->want) {
		if (ok) {
			r->ready = 1;
			lb.joined = r;
			lb.ops->confirmed(r);
		} else {
			r->want = 0;
			lb.dispatching = 1;
			lb.ops->refused(r, why);
			lb.dispatching = 0;
		}
	}
	lbroker_gc(r);
}

/* Is an error line's text "VERB R ..." about one of our commands? */
static int
lbroker_is_answer(const char *s, size_t len)
{
	static const char *const verbs[] = { "subscribe ", "unsubscribe ",
	    "publish ", "get " };
	size_t	i, n;

	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		n = strlen(verbs[i]);
		if (len > n && memcmp(s, verbs[i], n) == 0)
			return (1);
	}
	return (0);
}

/* An update on its way to the patterns we follow that match it. */
struct lmatch {
	const char		*name, *data;
	size_t			 len, dlen;
	const struct pubsub_id	*id;
};

static void
lbroker_match_cb(struct pnode *pn, void *arg)
{
	struct lmatch	*m = arg;
	struct lres	*r = (struct lres *)((char *)pn -
			    offsetof(struct lres, pn));

	if (r->ready && r->nsubs > 0)
		lb.ops->matched(r, m->name, m->len, m->id, m->data, m->dlen);
}

/*
 * An update of resource name to the patterns we follow that match it,
 * found in one walk along the name (ptable.c).
 */
static void
lbroker_matched(const char *name, size_t len, const struct pubsub_id *id,
    const char *data, size_t dlen)
{
	struct lmatch	m = { name, data, len, dlen, id };

	ptable_prefixes(&lbroker_ptab, name, len, lbroker_match_cb, &m);
}

static void
lbroker_line(const char *s, size_t len)
{
	struct pubsub_msg	 m;
	struct pubsub_id	 id;
	struct lres		*r, *joined;
	struct lget		*g;
	const char		*errstr;

	/*
	 * The line after "ok subscribe R", if an update of R, is R's state
	 * then: not new to the patterns that match R.
	 */
	joined = lb.joined;
	lb.joined = NULL;
	if (pubsub_parse(s, len, &m, &errstr) == -1)
		return;
	switch (m.verb) {
	case PUBSUB_UPDATE:
	case PUBSUB_STATE:
		/* A broker speaks to a gateway with ids. */
		if (pubsub_id_split(&m.data, &m.datalen, &id) == -1 ||
		    m.datalen > PUBSUB_DATA_MAX)
			break;
		if (m.verb == PUBSUB_STATE && (g = TAILQ_FIRST(
		    &lbroker_gets)) != NULL && g->r != NULL &&
		    g->r->pattern) {
			/* A snapshot's part: what the pattern matches. */
			if (g->arg != NULL && pubsub_match(g->r->name,
			    m.resource, m.resourcelen))
				lb.ops->snapshot(g->arg, g->r, m.resource,
				    m.resourcelen, &id, m.data, m.datalen);
			break;
		}
		if (m.verb == PUBSUB_STATE &&
		    (g = lbroker_get_head(m.resource, m.resourcelen)) !=
		    NULL && g->resume) {
			if (g->arg != NULL && g->r == NULL) {
				/* A query's: answered by its state. */
				g->got(g->arg, &id, m.data, m.datalen, 0);
				g->arg = NULL;
			} else if (g->arg != NULL)
				lb.ops->replay(g->arg, g->r, &id, m.data,
				    m.datalen);
			break;
		}
		r = lbroker_find(m.resource, m.resourcelen);
		if (m.verb == PUBSUB_UPDATE && (r == NULL || r != joined))
			lbroker_matched(m.resource, m.resourcelen, &id, m.data,
			    m.datalen);
		if (r == NULL || r->nsubs == 0 || r->pattern)
			break;
		lbroker_cache_put(r, m.data, m.datalen, &id);
		if (m.verb == PUBSUB_UPDATE)
			lb.ops->fan_out(r);
		else
			lb.ops->state(r);
		break;
	case PUBSUB_GAP:
		/* "gap P behind": a pattern's updates were conflated. */
		r = lbroker_find(m.resource, m.resourcelen);
		if (r != NULL && r->pattern && r->ready && r->nsubs > 0)
			lb.ops->missed(r);
		break;
	case PUBSUB_OK:
		/* "ok VERB R": m.resource is the verb. */
		lbroker_answer(1, m.resource, s + len - m.resource);
		break;
	case PUBSUB_ERROR:
		if (lbroker_is_answer(m.data, m.datalen))
			lbroker_answer(0, m.data, m.datalen);
		else
			log_info("broker: %.*s", (int)m.datalen, m.data);
		break;
	default:
		break;
	}
}

/* The broker link is up: (re)subscribe to everything our clients want. */
static void
lbroker_up(void)
{
	struct lres	*r, *tmp;

	lb.up = 1;
	lb.backoff = LISTEN_RETRY_MIN;
	(void)lbroker_send("hello", NULL, 0, "gateway", 7);
	RB_FOREACH_SAFE(r, lres_tree, &lbroker_res, tmp) {
		if (r->nsubs == 0) {
			r->want = 0;
			lbroker_gc(r);
			continue;
		}
		r->want = 1;
		lbroker_owe(r, LRES_OWE_SUB);
	}
	log_info("connected to the broker at %s", lb.path);
	if (lb.connects++ > 0)
		metrics_add(METRIC_BROKER_CONNECTS, 1);
}

/*
 * The link is lost: every answer it owed is lost with it.  Subscriptions
 * are made again when it is back; publishes in flight are refused, as
 * nobody can tell whether the broker took them.
 */
static void
lbroker_down(const char *why)
{
	struct lres	*r, *tmp;
	struct lget	*g;

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
	while (!TAILQ_EMPTY(&lbroker_pubs))
		lbroker_published("the broker was lost, it may not have it");
	while ((g = TAILQ_FIRST(&lbroker_gets)) != NULL) {
		if (g->arg != NULL && g->r == NULL)
			g->got(g->arg, NULL, NULL, 0, 1);
		else if (g->arg != NULL && g->r->pattern)
			lb.ops->snapshotted(g->arg, g->r, NULL, -1);
		else if (g->arg != NULL)
			lb.ops->replayed(g->arg, g->r, NULL);
		lbroker_get_done(g);
	}
	RB_FOREACH_SAFE(r, lres_tree, &lbroker_res, tmp) {
		r->inflight = 0;
		r->ready = 0;
		r->getting = 0;
		if (r->owe != 0)
			TAILQ_REMOVE(&lbroker_owed, r, owed);
		r->owe = 0;
		if (r->nsubs == 0)
			r->want = 0;
		/* Those waiting for a state get it with the new subscription. */
		lb.ops->state(r);
		lbroker_gc(r);
	}
	if (!shutting_down) {
		lb.retry.repeat = lb.backoff;
		ev_timer_again(EV_DEFAULT, &lb.retry);
	}
}

static void
lbroker_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	const unsigned char	*p, *nl;
	unsigned char		*q;
	struct lres		*r;
	ssize_t			 n;

	if (revents & EV_WRITE) {
		n = write(lb.fd, buf_head(&lb.out), buf_len(&lb.out));
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			lbroker_down(strerror(errno));
			return;
		}
		if (n > 0)
			buf_drain(&lb.out, n);
		while (lbroker_room() && (r = TAILQ_FIRST(&lbroker_owed)) !=
		    NULL && (lbroker_pay(r), r->owe == 0))
			;
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
		lbroker_down(n == 0 ? "end of file" : strerror(errno));
		return;
	}
	if (n < 0)
		return;
	buf_commit(&lb.in, n);
	while (buf_len(&lb.in) > 0 && lb.fd != -1) {
		p = buf_head(&lb.in);
		if ((nl = memchr(p, '\n', buf_len(&lb.in))) == NULL) {
			if (buf_room(&lb.in) == 0)
				lbroker_down("line too long");
			return;
		}
		lbroker_line((const char *)p, nl - p);
		buf_drain(&lb.in, nl - p + 1);
	}
}

static void
lbroker_connect(void)
{
	struct sockaddr_un	 sun;
	const char		*errstr;
	int			 fd;

	if (!lb.own && broker_socket_safe(lb.path, 1, &errstr) == -1) {
		log_warnx("not trusting the broker at %s: %s", lb.path,
		    errstr);
		fd = -1;
		goto retry;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, lb.path, sizeof sun.sun_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 || connect(fd, (struct sockaddr *)&sun, sizeof sun) ==
	    -1)
		goto retry;
	lb.fd = fd;
	buf_init(&lb.in, PUBSUB_LINE_MAX + 2);
	buf_init(&lb.out, LISTEN_BROKER_QUEUE + PUBSUB_LINE_MAX + 2);
	ev_io_init(&lb.io, lbroker_io_cb, fd, EV_READ);
	ev_io_start(EV_DEFAULT, &lb.io);
	ev_timer_stop(EV_DEFAULT, &lb.retry);
	lbroker_up();
	return;
retry:
	if (fd != -1)
		close(fd);
	lb.backoff = lb.backoff * 2 > LISTEN_RETRY_MAX ? LISTEN_RETRY_MAX :
	    lb.backoff * 2;
	lb.retry.repeat = lb.backoff;
	ev_timer_again(EV_DEFAULT, &lb.retry);
}

static void
lbroker_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_timer_stop(loop, w);
	if (lb.fd == -1 && !shutting_down)
		lbroker_connect();
}

static void
lbroker_exited_cb(void *arg)
{
	if (shutting_down)
		return;
	/* One that cannot listen will not do better at once: back off. */
	if (WIFEXITED(lb.ch.status) && WEXITSTATUS(lb.ch.status) ==
	    EXIT_LISTEN)
		lb.restart_backoff = lb.restart_backoff * 2 >
		    LISTEN_RESTART_MAX ? LISTEN_RESTART_MAX :
		    lb.restart_backoff * 2;
	else
		lb.restart_backoff = LISTEN_RESTART_MIN;
	log_warnx("the broker (pid %ld) ended with status %d; restarting it "
	    "in %.1f s", (long)lb.ch.pid, lb.ch.status, lb.restart_backoff);
}

/* Its process group is gone too: a new one may start. */
static void
lbroker_gone_cb(void *arg)
{
	lb.running = 0;
	if (!shutting_down) {
		lb.restart.repeat = lb.restart_backoff;
		ev_timer_again(EV_DEFAULT, &lb.restart);
	}
}

static const struct child_cb lbroker_child_cb = {
	.exited = lbroker_exited_cb,
	.gone = lbroker_gone_cb
};

static void
lbroker_restart_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_timer_stop(loop, w);
	if (!shutting_down && !lb.running)
		lbroker_start();
}

/*
 * Runs our own binary as `wspipe broker`, through child.c like every
 * program, so that it is ended and reaped like one; it is also sent
 * SIGTERM if we die.
 */
static void
lbroker_start(void)
{
	static char	 name[] = "wspipe", cmd[] = "broker";
	static char	 info[] = "--loglevel=info", error[] = "--loglevel=error";
	static char	 json[] = "--logformat=json";
	static const char *pass[] = { "WSPIPE_REDIS_PASSWORD",
	    "WSPIPE_REDIS_USER" };
	char		*argv[16], *env[6], *value;
	int		 r, argc = 0, envc = 0;
	size_t		 i;

	argv[argc++] = name;
	argv[argc++] = cmd;
	xasprintf(&argv[argc++], "--socket=%s", lb.path);
	argv[argc++] = conf.loglevel <= LOG_LEVEL_INFO ? info : error;
	xasprintf(&argv[argc++], "--history=%zu", conf.listen_history);
	if (conf.logjson)
		argv[argc++] = json;
	if (conf.redis != NULL)
		xasprintf(&argv[argc++], "--redis=%s", conf.redis);
	if (conf.redis_timeout != NULL)
		xasprintf(&argv[argc++], "--redis-timeout=%s",
		    conf.redis_timeout);
	if (conf.publishers != NULL) {
		xasprintf(&argv[argc++], "--publishers=%s", conf.publishers);
		if (conf.publisher_grace != NULL)
			xasprintf(&argv[argc++], "--publisher-grace=%s",
			    conf.publisher_grace);
		/* Its programs end as ours do. */
		xasprintf(&argv[argc++], "--closems=%u", conf.closems);
	}
	argv[argc] = NULL;
	xasprintf(&env[envc++], "WSPIPE_BROKER=%s", lb.path);
	/* Publishers get the PATH our programs get. */
	for (i = 0; conf.publishers != NULL && i < conf.passenv_vars.n; i++)
		if (strncmp(conf.passenv_vars.v[i], "PATH=", 5) == 0) {
			env[envc++] = xstrdup(conf.passenv_vars.v[i]);
			break;
		}
	/* Redis's credentials reach our broker, and no program. */
	for (i = 0; i < sizeof pass / sizeof pass[0]; i++)
		if ((value = getenv(pass[i])) != NULL)
			xasprintf(&env[envc++], "%s=%s", pass[i], value);
	env[envc] = NULL;
	r = child_spawn(&lb.ch, &lbroker_child_cb, NULL, NULL, conf.self,
	    argv, env, CHILD_HELPER);
	for (i = 0; i < (size_t)argc; i++)
		if (strncmp(argv[i], "--socket=", 9) == 0 ||
		    strncmp(argv[i], "--history=", 10) == 0 ||
		    strncmp(argv[i], "--redis", 7) == 0 ||
		    strncmp(argv[i], "--publisher", 11) == 0 ||
		    strncmp(argv[i], "--closems=", 10) == 0)
			free(argv[i]);
	for (i = 0; i < (size_t)envc; i++)
		free(env[i]);
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

/* Sets up the link at start-up; returns -1 with a message printed. */
int
lbroker_init(const struct lbroker_ops *ops)
{
	const char	*tmp, *errstr;
	char		*dir;

	lb.ops = ops;
	ev_init(&lb.retry, lbroker_retry_cb);
	ev_init(&lb.restart, lbroker_restart_cb);
	lb.restart_backoff = LISTEN_RESTART_MIN;
	lb.restart.repeat = LISTEN_RESTART_MIN;
	lb.backoff = LISTEN_RETRY_MIN;
	if (conf.broker != NULL) {
		if (broker_socket_safe(conf.broker, 0, &errstr) == -1) {
			fprintf(stderr, "wspipe: --broker=%s: %s\n",
			    conf.broker, errstr);
			return (-1);
		}
		lb.path = xstrdup(conf.broker);
		lbroker_connect();
		return (0);
	}
	lb.own = 1;
	if (conf.broker_socket != NULL) {
		if (broker_socket_safe(conf.broker_socket, 0, &errstr) == -1) {
			fprintf(stderr, "wspipe: --broker-socket=%s: %s\n",
			    conf.broker_socket, errstr);
			return (-1);
		}
		lb.path = xstrdup(conf.broker_socket);
	} else {
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
	lbroker_start();
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
		lbroker_down("shutting down");
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

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Listen mode's shared store, for `wspipe broker --redis=URL`: the only
 * Redis client of a machine.  A publish is one call of a Redis function
 * (REDIS_LIBRARY below) that gives the state its id, keeps it in the
 * resource's history and publishes it on the resource's channel, all in
 * one atomic step; the broker subscribes to the channels of the resources
 * followed on its machine.
 *
 * Two connections: one for calls, answered in order, and one in
 * subscribed mode.  hiredis makes the connections and speaks the
 * protocol; the rest is here, because its asynchronous layer has no
 * timeouts and drops the answer to a PING sent in subscribed mode, which
 * is how a stalled Redis is found.  Every call has a deadline: a Redis
 * that does not answer within --redis-timeout is given up, every call in
 * flight fails, and both connections are made again with backoff.  The
 * broker hears of all of it through a table of hooks.
 */

#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "wspipe.h"
#include "pubsub.h"
#include "utf8.h"

#define REDIS_CALLS_MAX		4096	/* calls in flight, all callers */
#define REDIS_OUT_MAX		(32 * 1024 * 1024)	/* unsent bytes */
#define REDIS_IN_MAX		(8 * 1024 * 1024)	/* one answer */
#define REDIS_BACKOFF_MIN	0.1
#define REDIS_BACKOFF_MAX	5.0
#define REDIS_PREFIX		"wspipe:"

/*
 * The functions, loaded again on every connect.  Keys, under the prefix
 * each call gives: "epoch" (the id space), "n" (publishes ever, so that a
 * resource made again starts past every id given), "r:R" (a resource:
 * seq, budget, bytes, states), "h:R" (its history, a stream whose ids are
 * 0-SEQ), "lru" and "lru:BUDGET" (resources by their last publish),
 * "stat" and "b:BUDGET" (bytes, states and resources kept).
 */
static const char redis_library[] =
"#!lua name=wspipe1\n"
"local function num(v) return tonumber(v) or 0 end\n"
"local function epoch(P, cand)\n"
"  local e = redis.call('GET', P..'epoch')\n"
"  if not e then e = cand; redis.call('SET', P..'epoch', e) end\n"
"  return e\n"
"end\n"
"local function count(P, b, bytes, states, res)\n"
"  for _, k in ipairs({P..'stat', P..'b:'..b}) do\n"
"    redis.call('HINCRBY', k, 'bytes', bytes)\n"
"    redis.call('HINCRBY', k, 'states', states)\n"
"    redis.call('HINCRBY', k, 'resources', res)\n"
"  end\n"
"end\n"
/* Forgets resource r whole. */
"local function forget(P, r)\n"
"  local rec = redis.call('HMGET', P..'r:'..r, 'budget', 'bytes', 'states')\n"
"  if not rec[1] then return end\n"
"  redis.call('DEL', P..'r:'..r, P..'h:'..r)\n"
"  redis.call('ZREM', P..'lru', r)\n"
"  redis.call('ZREM', P..'lru:'..rec[1], r)\n"
"  count(P, rec[1], -num(rec[2]), -num(rec[3]), -1)\n"
"end\n"
/* Forgets r's oldest state; false if it has none. */
"local function drop(P, r, b)\n"
"  local old = redis.call('XRANGE', P..'h:'..r, '-', '+', 'COUNT', 1)[1]\n"
"  if not old then return false end\n"
"  redis.call('XDEL', P..'h:'..r, old[1])\n"
"  redis.call('HINCRBY', P..'r:'..r, 'bytes', -#old[2][2])\n"
"  redis.call('HINCRBY', P..'r:'..r, 'states', -1)\n"
"  count(P, b, -#old[2][2], -1, 0)\n"
"  return true\n"
"end\n"
/* Makes room in lru's oldest resource other than r, else in r's past. */
"local function evict(P, lru, r, b)\n"
"  for _, v in ipairs(redis.call('ZRANGE', lru, 0, 1)) do\n"
"    if v ~= r then\n"
"      forget(P, v)\n"
"      redis.call('ZREM', lru, v)\n"
"      return true\n"
"    end\n"
"  end\n"
"  if num(redis.call('HGET', P..'r:'..r, 'states')) > 1 then\n"
"    return drop(P, r, b)\n"
"  end\n"
"  return false\n"
"end\n"
"local function full(key, len, ms, mb, mr, new)\n"
"  local v = redis.call('HMGET', key, 'states', 'bytes', 'resources')\n"
"  return num(v[1]) + 1 > ms or num(v[2]) + len > mb or\n"
"      (new and num(v[3]) + 1 > mr)\n"
"end\n"
/*
 * publish P CHANNEL R DATA EPOCH HISTORY BUDGET MAXRES MAXSTATES MAXBYTES
 * GUESTSTATES GUESTBYTES: the state's id, or an error.
 */
"local function publish(keys, a)\n"
"  local P, chan, r, data, b = a[1], a[2], a[3], a[4], a[7]\n"
"  local hist, len = tonumber(a[6]), #data\n"
"  local e = epoch(P, a[5])\n"
"  local rk, hk = P..'r:'..r, P..'h:'..r\n"
"  local rec = redis.call('HMGET', rk, 'seq', 'budget', 'bytes', 'states')\n"
"  local n = redis.call('INCR', P..'n')\n"
"  if rec[1] and rec[2] ~= b then\n"
"    count(P, rec[2], -num(rec[3]), -num(rec[4]), -1)\n"
"    count(P, b, num(rec[3]), num(rec[4]), 1)\n"
"    redis.call('ZREM', P..'lru:'..rec[2], r)\n"
"    redis.call('HSET', rk, 'budget', b)\n"
"  end\n"
"  if rec[1] then\n"
"    while num(redis.call('XLEN', hk)) >= hist do drop(P, r, b) end\n"
"  end\n"
"  if b ~= '' then\n"
"    while full(P..'b:'..b, len, tonumber(a[11]), tonumber(a[12]),\n"
"        math.huge, false) do\n"
"      if not evict(P, P..'lru:'..b, r, b) then\n"
"        return redis.error_reply('too many states')\n"
"      end\n"
"    end\n"
"  end\n"
"  while full(P..'stat', len, tonumber(a[9]), tonumber(a[10]),\n"
"      tonumber(a[8]), not rec[1]) do\n"
"    if not evict(P, b == '' and P..'lru' or P..'lru:'..b, r, b) then\n"
"      return redis.error_reply(b == '' and 'too many resources' or\n"
"          'too many states')\n"
"    end\n"
"  end\n"
"  local seq = n\n"
"  if rec[1] then seq = tonumber(rec[1]) + 1 else count(P, b, 0, 0, 1) end\n"
"  local s = string.format('%d', seq)\n"
"  redis.call('XADD', hk, '0-'..s, 'd', data)\n"
"  redis.call('HSET', rk, 'seq', s, 'budget', b)\n"
"  redis.call('HINCRBY', rk, 'bytes', len)\n"
"  redis.call('HINCRBY', rk, 'states', 1)\n"
"  count(P, b, len, 1, 0)\n"
"  redis.call('ZADD', P..'lru', n, r)\n"
"  redis.call('ZADD', P..'lru:'..b, n, r)\n"
"  redis.call('PUBLISH', chan, e..'-'..s..' '..data)\n"
"  return e..'-'..s\n"
"end\n"
/*
 * read P R MODE CANDIDATE KNOWN FROM CAP COUNT: {epoch, newest seq or
 * nil, n, {seq, data, ...}}, the states after FROM (all of them if KNOWN
 * is not Redis's id space), at most CAP bytes (one at least; each
 * counts 64 more, so that many small states are a small answer too) and
 * COUNT states: the oldest first ("get") or the newest that fit
 * ("replay").
 */
"local function read(keys, a)\n"
"  local P, r, mode, cap, cnt = a[1], a[2], a[3], tonumber(a[7]),\n"
"      tonumber(a[8])\n"
"  local e = epoch(P, a[4])\n"
"  local from = a[6]\n"
"  if e ~= a[5] then from = '0' end\n"
"  local hk, out, bytes, last = P..'h:'..r, {}, 0, '(0-'..from\n"
"  local rev, lo, hi = mode ~= 'get', last, '+'\n"
"  if from == '0' then lo = '-' end\n"
"  while #out < 2 * cnt do\n"
"    local got\n"
"    if rev then got = redis.call('XREVRANGE', hk, hi, lo, 'COUNT', 16)\n"
"    else got = redis.call('XRANGE', hk, lo, '+', 'COUNT', 16) end\n"
"    if #got == 0 then break end\n"
"    for _, en in ipairs(got) do\n"
"      local d = en[2][2]\n"
"      if #out > 0 and (bytes + #d > cap or #out >= 2 * cnt) then\n"
"        got = nil; break\n"
"      end\n"
"      out[#out + 1] = string.sub(en[1], 3)\n"
"      out[#out + 1] = d\n"
"      bytes = bytes + #d + 64\n"
"      if rev then hi = '('..en[1] else lo = '('..en[1] end\n"
"    end\n"
"    if not got then break end\n"
"  end\n"
"  if rev then\n"
"    local o = {}\n"
"    for i = #out - 1, 1, -2 do o[#o + 1] = out[i]; o[#o + 1] = out[i + 1] end\n"
"    out = o\n"
"  end\n"
"  return {e, redis.call('HGET', P..'r:'..r, 'seq'),\n"
"      redis.call('GET', P..'n') or '0', out}\n"
"end\n"
"redis.register_function('wspipe1_publish', publish)\n"
"redis.register_function('wspipe1_read', read)\n";

struct rcall {
	TAILQ_ENTRY(rcall)	 entry;
	redis_cb		*cb;	/* NULL: nobody waits (a PING) */
	void			*arg;
	int			 kind;	/* what its answer is */
	ev_tstamp		 sent;
};

enum { RCALL_PLAIN, RCALL_PUBLISH, RCALL_READ, RCALL_SUBSCRIBE };

TAILQ_HEAD(rcall_list, rcall);

/* One connection to Redis. */
struct rconn {
	redisContext		*c;
	ev_io			 io;
	struct rcall_list	 calls;		/* answers awaited, in order */
	size_t			 ncalls;
	ev_tstamp		 last;		/* something was sent */
	int			 connected;	/* connect(2) is done */
	int			 sub;		/* in subscribed mode */
};

static struct {
	const struct redis_hooks *hooks;
	char			*host;		/* NULL: a UNIX socket */
	char			*path;
	int			 port;
	int			 db;
	double			 timeout;
	char			 chan[64];	/* channels' prefix */
	struct rconn		 cmd, sub;
	int			 state;		/* REDIS_DOWN... */
	int			 handshake;	/* its steps unanswered */
	ev_timer		 tick;
	ev_timer		 retry;
	ev_timer		 later;		/* a failure, given up next */
	double			 backoff;
	ev_tstamp		 began;		/* this attempt */
	int			 inloop;	/* reading: defer the teardown */
	const char		*failed;	/* why, once the loop is done */
	unsigned long long	 reconnects;
	char			 why[160];	/* the last failure */
} rd;

enum { REDIS_DOWN, REDIS_CONNECTING, REDIS_UP };

static void	redis_connect(void);
static void	redis_io_cb(struct ev_loop *, ev_io *, int);
static void	redis_later_cb(struct ev_loop *, ev_timer *, int);

/*
 * Parses redis://HOST[:PORT][/DB] or unix:///PATH[?db=N].  0, or -1 with
 * a reason.
 */
static int
redis_url(const char *url, const char **errstr)
{
	const char	*p, *end, *e;
	char		*host;
	long long	 n;

	rd.port = 6379;
	if (strncmp(url, "unix://", 7) == 0) {
		p = url + 7;
		if (*p != '/') {
			*errstr = "unix:// needs an absolute path";
			return (-1);
		}
		rd.path = xstrdup(p);
		if ((host = strchr(rd.path, '?')) != NULL) {
			*host++ = '\0';
			if (strncmp(host, "db=", 3) != 0) {
				*errstr = "the only parameter is db=N";
				return (-1);
			}
			n = strtonum(host + 3, 0, 1000000, &e);
			if (e != NULL) {
				*errstr = "bad db number";
				return (-1);
			}
			rd.db = (int)n;
		}
		return (0);
	}
	if (strncmp(url, "redis://", 8) != 0) {
		*errstr = "give redis://HOST[:PORT][/DB] or unix:///PATH";
		return (-1);
	}
	p = url + 8;
	if (strchr(p, '@') != NULL) {
		*errstr = "no password in the URL: set WSPIPE_REDIS_PASSWORD";
		return (-1);
	}
	if (*p == '[') {
		if ((end = strchr(p, ']')) == NULL) {
			*errstr = "unclosed [";
			return (-1);
		}
		rd.host = xstrndup(p + 1, end - p - 1);
		p = end + 1;
	} else {
		end = p + strcspn(p, ":/");
		rd.host = xstrndup(p, end - p);
		p = end;
	}
	if (*rd.host == '\0') {
		*errstr = "no host";
		return (-1);
	}
	if (*p == ':') {
		end = p + 1 + strcspn(p + 1, "/");
		host = xstrndup(p + 1, end - p - 1);
		n = strtonum(host, 1, 65535, &e);
		free(host);
		if (e != NULL) {
			*errstr = "bad port";
			return (-1);
		}
		rd.port = (int)n;
		p = end;
	}
	if (*p == '/' && p[1] != '\0') {
		n = strtonum(p + 1, 0, 1000000, &e);
		if (e != NULL) {
			*errstr = "bad db number";
			return (-1);
		}
		rd.db = (int)n;
	} else if (*p != '\0' && strcmp(p, "/") != 0) {
		*errstr = "trailing characters";
		return (-1);
	}
	return (0);
}

/*
 * A new id space for Redis to take if it has none: a fresh one each
 * call, so that a Redis emptied (restarted, flushed) never takes one it
 * had before and ids are never given twice.
 */
static void
redis_candidate(char *buf, size_t size)
{
	struct pubsub_id	id = { 0, 1 };

	while ((id.epoch = arc4random()) == 0)
		;
	(void)pubsub_id_format(&id, buf, size);
	*strchr(buf, '-') = '\0';
}

/* Queues a command on rc, its answer for cb; -1 if it cannot be sent. */
static int
rconn_send(struct rconn *rc, int kind, redis_cb *cb, void *arg, int argc,
    const char **argv, const size_t *lens)
{
	struct rcall	*call;

	if (rc->c == NULL || sdslen(rc->c->obuf) > REDIS_OUT_MAX ||
	    redisAppendCommandArgv(rc->c, argc, argv, lens) != REDIS_OK)
		return (-1);
	call = xcalloc(1, sizeof *call);
	call->cb = cb;
	call->arg = arg;
	call->kind = kind;
	call->sent = ev_now(EV_DEFAULT);
	TAILQ_INSERT_TAIL(&rc->calls, call, entry);
	rc->ncalls++;
	rc->last = call->sent;
	if (rc->connected && !(rc->io.events & EV_WRITE)) {
		ev_io_stop(EV_DEFAULT, &rc->io);
		ev_io_set(&rc->io, rc->c->fd, EV_READ | EV_WRITE);
		ev_io_start(EV_DEFAULT, &rc->io);
	}
	return (0);
}

/* The same, for a command of plain strings. */
static int
rconn_sendv(struct rconn *rc, redis_cb *cb, void *arg, int argc, ...)
{
	const char	*argv[8];
	size_t		 lens[8];
	va_list		 ap;
	int		 i;

	va_start(ap, argc);
	for (i = 0; i < argc && i < 8; i++) {
		argv[i] = va_arg(ap, const char *);
		lens[i] = strlen(argv[i]);
	}
	va_end(ap);
	return (rconn_send(rc, RCALL_PLAIN, cb, arg, argc, argv, lens));
}

/* Closes rc; its calls fail, in order, with why. */
static void
rconn_close(struct rconn *rc, const char *why)
{
	struct redis_result	 res;
	struct rcall		*call;

	if (rc->c != NULL) {
		ev_io_stop(EV_DEFAULT, &rc->io);
		redisFree(rc->c);
		rc->c = NULL;
	}
	rc->connected = 0;
	rc->sub = 0;
	memset(&res, 0, sizeof res);
	res.error = why;
	while ((call = TAILQ_FIRST(&rc->calls)) != NULL) {
		TAILQ_REMOVE(&rc->calls, call, entry);
		rc->ncalls--;
		if (call->cb != NULL)
			call->cb(call->arg, &res);
		free(call);
	}
}

/*
 * Gives Redis up: every call in flight fails, the broker hears so, and
 * connecting again waits a backoff that doubles to REDIS_BACKOFF_MAX.
 */
static void
redis_fail(const char *why)
{
	int	was = rd.state;

	if (rd.inloop) {
		if (rd.failed == NULL)
			rd.failed = why;
		return;
	}
	if (rd.state == REDIS_DOWN)
		return;
	if (rd.state == REDIS_UP || strcmp(why, rd.why) != 0)
		log_warnx("redis: %s (connecting again in %.1f s)", why,
		    rd.backoff);
	(void)strlcpy(rd.why, why, sizeof rd.why);
	rd.state = REDIS_DOWN;
	rconn_close(&rd.cmd, "redis unavailable");
	rconn_close(&rd.sub, "redis unavailable");
	ev_timer_stop(EV_DEFAULT, &rd.tick);
	/* Up to a quarter either way, so that brokers do not march. */
	ev_timer_set(&rd.retry, rd.backoff * (0.75 + (arc4random() % 501) /
	    1000.0), 0.0);
	ev_timer_start(EV_DEFAULT, &rd.retry);
	rd.backoff *= 2;
	if (rd.backoff > REDIS_BACKOFF_MAX)
		rd.backoff = REDIS_BACKOFF_MAX;
	if (was == REDIS_UP)
		rd.hooks->down();
}

/* A step of the handshake answered: an error gives the attempt up. */
static void
redis_handshake_cb(void *arg, const struct redis_result *res)
{
	static char	why[200];

	if (res->error != NULL) {
		if (rd.state == REDIS_CONNECTING) {
			(void)snprintf(why, sizeof why, "%s: %s",
			    (const char *)arg, res->error);
			redis_fail(why);
		}
		return;
	}
	if (--rd.handshake > 0)
		return;
	rd.state = REDIS_UP;
	rd.backoff = REDIS_BACKOFF_MIN;
	log_info("redis: connected to %s%s", rd.host != NULL ? rd.host :
	    rd.path, rd.reconnects++ > 0 ? " again" : "");
	rd.hooks->up();
}

/* Starts a connection, its handshake queued to go once it is made. */
static int
rconn_open(struct rconn *rc, int sub)
{
	char		 db[16];
	const char	*pass = getenv("WSPIPE_REDIS_PASSWORD");
	const char	*user = getenv("WSPIPE_REDIS_USER");

	rc->c = rd.host != NULL ? redisConnectNonBlock(rd.host, rd.port) :
	    redisConnectUnixNonBlock(rd.path);
	if (rc->c == NULL || rc->c->err) {
		(void)snprintf(rd.why, sizeof rd.why, "%s", rc->c != NULL ?
		    rc->c->errstr : "out of memory");
		if (rc->c != NULL)
			redisFree(rc->c);
		rc->c = NULL;
		return (-1);
	}
	rc->sub = 0;
	rc->connected = 0;
	ev_io_init(&rc->io, redis_io_cb, rc->c->fd, EV_WRITE);
	rc->io.data = rc;
	ev_io_start(EV_DEFAULT, &rc->io);
	if (pass != NULL && *pass != '\0') {
		if (user != NULL && *user != '\0')
			(void)rconn_sendv(rc, redis_handshake_cb, "AUTH", 3,
			    "AUTH", user, pass);
		else
			(void)rconn_sendv(rc, redis_handshake_cb, "AUTH", 2,
			    "AUTH", pass);
		rd.handshake++;
	}
	if (rd.db != 0 && !sub) {
		(void)snprintf(db, sizeof db, "%d", rd.db);
		(void)rconn_sendv(rc, redis_handshake_cb, "SELECT", 2,
		    "SELECT", db);
		rd.handshake++;
	}
	if (!sub) {
		(void)rconn_sendv(rc, redis_handshake_cb, "FUNCTION LOAD", 4,
		    "FUNCTION", "LOAD", "REPLACE", redis_library);
		rd.handshake++;
	} else {
		/* Proves the connection works before it is trusted. */
		(void)rconn_sendv(rc, redis_handshake_cb, "PING", 1, "PING");
		rd.handshake++;
	}
	return (0);
}

/* Connects both connections, or waits to try again. */
static void
redis_connect(void)
{
	rd.state = REDIS_CONNECTING;
	rd.handshake = 0;
	rd.began = ev_now(EV_DEFAULT);
	if (rconn_open(&rd.cmd, 0) == -1 || rconn_open(&rd.sub, 1) == -1) {
		char	why[200];

		(void)snprintf(why, sizeof why, "cannot connect: %s", rd.why);
		redis_fail(why);
		return;
	}
	ev_timer_start(EV_DEFAULT, &rd.tick);
}

static void
redis_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	redis_connect();
}

/*
 * A state from Redis is one a publisher could have given: anyone who can
 * write to Redis could put anything there, a newline that would forge
 * lines to subscribers among it.
 */
static int
redis_valid(const char *data, size_t len)
{
	struct utf8	u;
	size_t		off;

	if (len > PUBSUB_DATA_MAX || memchr(data, '\n', len) != NULL)
		return (0);
	utf8_init(&u);
	return (utf8_feed(&u, (const uint8_t *)data, len, &off) == UTF8_OK);
}

/* Converts a read's answer for its caller; -1 if it is not one. */
static int
redis_states(const redisReply *r, struct redis_result *res)
{
	const redisReply	*list;
	struct pubsub_id	 id;
	char			 buf[PUBSUB_ID_MAX + 24];
	const char		*errstr;
	size_t			 i;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[2]->type != REDIS_REPLY_STRING ||
	    (list = r->element[3])->type != REDIS_REPLY_ARRAY ||
	    list->elements % 2 != 0)
		return (-1);
	(void)snprintf(buf, sizeof buf, "%.*s-1", (int)r->element[0]->len,
	    r->element[0]->str);
	if (pubsub_id_parse(buf, strlen(buf), &id) == -1)
		return (-1);
	res->epoch = id.epoch;
	if (r->element[1]->type == REDIS_REPLY_STRING) {
		res->seq = strtonum(r->element[1]->str, 1, LLONG_MAX, &errstr);
		if (errstr != NULL)
			return (-1);
	}
	res->next = strtonum(r->element[2]->str, 0, LLONG_MAX, &errstr);
	if (errstr != NULL)
		return (-1);
	res->nstates = list->elements / 2;
	res->states = xcalloc(res->nstates + 1, sizeof *res->states);
	for (i = 0; i < res->nstates; i++) {
		if (list->element[2 * i]->type != REDIS_REPLY_STRING ||
		    list->element[2 * i + 1]->type != REDIS_REPLY_STRING)
			return (-1);
		res->states[i].seq = strtonum(list->element[2 * i]->str, 1,
		    LLONG_MAX, &errstr);
		if (errstr != NULL || (i > 0 &&
		    res->states[i].seq <= res->states[i - 1].seq))
			return (-1);
		res->states[i].data = list->element[2 * i + 1]->str;
		res->states[i].len = list->element[2 * i + 1]->len;
		if (!redis_valid(res->states[i].data, res->states[i].len))
			return (-1);
	}
	return (0);
}

/* An answer on the calls connection, for the oldest call. */
static void
redis_answer(struct rconn *rc, redisReply *r)
{
	struct redis_result	 res;
	struct rcall		*call;
	struct pubsub_id	 id = { 0, 0 };
	static char		 why[160];

	if ((call = TAILQ_FIRST(&rc->calls)) == NULL) {
		redis_fail("an answer nobody asked for");
		return;
	}
	TAILQ_REMOVE(&rc->calls, call, entry);
	rc->ncalls--;
	memset(&res, 0, sizeof res);
	if (r->type == REDIS_REPLY_ERROR) {
		(void)snprintf(why, sizeof why, "%.*s", (int)r->len, r->str);
		res.error = why;
	} else if (call->kind == RCALL_PUBLISH) {
		/* A publish: its id. */
		if (r->type != REDIS_REPLY_STRING ||
		    pubsub_id_parse(r->str, r->len, &id) == -1)
			res.error = "redis: a bad id";
		res.epoch = id.epoch;
		res.seq = id.seq;
	} else if (call->kind == RCALL_READ && redis_states(r, &res) == -1)
		res.error = "redis: a bad answer";
	if (call->cb != NULL)
		call->cb(call->arg, &res);
	free(res.states);
	free(call);
}

/* What arrives in subscribed mode: confirmations, messages, pongs. */
static void
redis_push(struct rconn *rc, redisReply *r)
{
	struct rcall		*call;
	struct pubsub_id	 id;
	const char		*data;
	size_t			 len, plen = strlen(rd.chan);
	int			 array, confirm;

	if (r->type == REDIS_REPLY_ERROR) {
		redis_answer(rc, r);
		return;
	}
	array = r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    r->element[1]->type == REDIS_REPLY_STRING;
	if (array && strcmp(r->element[0]->str, "message") == 0 &&
	    r->elements == 3 && r->element[2]->type == REDIS_REPLY_STRING) {
		if (r->element[1]->len <= plen ||
		    memcmp(r->element[1]->str, rd.chan, plen) != 0)
			return;
		data = r->element[2]->str;
		len = r->element[2]->len;
		if (pubsub_id_split(&data, &len, &id) == -1 ||
		    !redis_valid(data, len)) {
			log_warnx("redis: a bad message on %s",
			    r->element[1]->str);
			return;
		}
		rd.hooks->message(r->element[1]->str + plen,
		    r->element[1]->len - plen, &id, data, len);
		return;
	}
	/*
	 * Every other push answers a command, in order, and a SUBSCRIBE
	 * only the confirmation of its own channel: anything else is not
	 * Redis speaking, and would leave the channel's subscribers waiting.
	 */
	if ((call = TAILQ_FIRST(&rc->calls)) == NULL) {
		redis_fail("an answer nobody asked for");
		return;
	}
	confirm = array && strcmp(r->element[0]->str, "subscribe") == 0;
	if ((call->kind == RCALL_SUBSCRIBE) != confirm || (confirm &&
	    (r->element[1]->len != plen + strlen(call->arg) ||
	    memcmp(r->element[1]->str, rd.chan, plen) != 0 ||
	    strcmp(r->element[1]->str + plen, call->arg) != 0))) {
		redis_fail("an answer that is not its command's");
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY) {
		/* "+PONG" or "+OK" before the first subscribe. */
		redis_answer(rc, r);
		return;
	}
	TAILQ_REMOVE(&rc->calls, call, entry);
	rc->ncalls--;
	if (confirm && rd.state == REDIS_UP)
		rd.hooks->joined(r->element[1]->str + plen,
		    r->element[1]->len - plen);
	if (call->kind == RCALL_SUBSCRIBE)
		free(call->arg);
	free(call);
}

/* Reads and writes one connection; failures wait for the loop's end. */
static void
redis_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct rconn	*rc = w->data;
	void		*reply;
	int		 done, err;
	socklen_t	 len = sizeof err;

	rd.inloop = 1;
	if ((revents & EV_WRITE) && !rc->connected) {
		if (getsockopt(rc->c->fd, SOL_SOCKET, SO_ERROR, &err,
		    &len) == -1 || err != 0) {
			(void)snprintf(rd.why, sizeof rd.why, "cannot "
			    "connect: %s", strerror(err != 0 ? err : errno));
			redis_fail(rd.why);
			goto out;
		}
		rc->connected = 1;
		rc->c->flags |= REDIS_CONNECTED;
		ev_io_stop(loop, &rc->io);
		ev_io_set(&rc->io, rc->c->fd, EV_READ | EV_WRITE);
		ev_io_start(loop, &rc->io);
	}
	if (revents & EV_WRITE) {
		if (redisBufferWrite(rc->c, &done) != REDIS_OK) {
			redis_fail("lost the connection");
			goto out;
		}
		if (done) {
			ev_io_stop(loop, &rc->io);
			ev_io_set(&rc->io, rc->c->fd, EV_READ);
			ev_io_start(loop, &rc->io);
		}
	}
	if (revents & EV_READ) {
		if (redisBufferRead(rc->c) != REDIS_OK) {
			redis_fail(rc->c->err == REDIS_ERR_EOF ?
			    "the connection was closed" : "lost the connection");
			goto out;
		}
		/* An answer larger than any we ask for is not Redis's. */
		if (rc->c->reader->len - rc->c->reader->pos > REDIS_IN_MAX) {
			redis_fail("an answer too large");
			goto out;
		}
		while (rd.failed == NULL && rc->c != NULL) {
			if (redisGetReplyFromReader(rc->c, &reply) !=
			    REDIS_OK) {
				redis_fail("a protocol error");
				break;
			}
			if (reply == NULL)
				break;
			if (rc == &rd.sub)
				redis_push(rc, reply);
			else
				redis_answer(rc, reply);
			freeReplyObject(reply);
		}
	}
out:
	rd.inloop = 0;
	if (rd.failed != NULL) {
		const char *why = rd.failed;

		rd.failed = NULL;
		redis_fail(why);
	}
}

/*
 * Every tick: a call or a connect older than the timeout gives Redis up;
 * a connection quiet for a while is sent a PING, which must be answered
 * within the timeout like any call.
 */
static void
redis_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rconn	*rcs[2] = { &rd.cmd, &rd.sub };
	struct rcall	*call;
	ev_tstamp	 now = ev_now(loop);
	int		 i;

	for (i = 0; i < 2; i++) {
		if (!rcs[i]->connected && now - rd.began > rd.timeout) {
			redis_fail("no connection within the timeout");
			return;
		}
		if (!rcs[i]->connected)
			continue;
		call = TAILQ_FIRST(&rcs[i]->calls);
		if (call == NULL || now - call->sent <= rd.timeout)
			continue;
		/*
		 * Its answer may be waiting in the socket while we were busy:
		 * only Redis's own silence counts.
		 */
		redis_io_cb(loop, &rcs[i]->io, EV_READ);
		if (rd.state == REDIS_DOWN)
			return;
		call = TAILQ_FIRST(&rcs[i]->calls);
		if (call != NULL && now - call->sent > rd.timeout) {
			redis_fail("no answer within the timeout");
			return;
		}
	}
	if (rd.state != REDIS_UP)
		return;
	for (i = 0; i < 2; i++)
		if (now - rcs[i]->last >= rd.timeout / 4 &&
		    rconn_sendv(rcs[i], NULL, NULL, 1, "PING") == -1) {
			redis_fail("cannot send");
			return;
		}
}

/* Starts connecting to url; -1 with a reason if it is not one. */
int
redis_open(const char *url, double timeout, const struct redis_hooks *hooks,
    const char **errstr)
{
	if (redis_url(url, errstr) == -1)
		return (-1);
	rd.hooks = hooks;
	rd.timeout = timeout;
	(void)snprintf(rd.chan, sizeof rd.chan, REDIS_PREFIX "%d:", rd.db);
	TAILQ_INIT(&rd.cmd.calls);
	TAILQ_INIT(&rd.sub.calls);
	rd.backoff = REDIS_BACKOFF_MIN;
	ev_timer_init(&rd.tick, redis_tick_cb, timeout / 8, timeout / 8);
	ev_timer_init(&rd.retry, redis_retry_cb, 0.0, 0.0);
	ev_timer_init(&rd.later, redis_later_cb, 0.0, 0.0);
	redis_connect();
	return (0);
}

int
redis_up(void)
{
	return (rd.state == REDIS_UP);
}

/* Calls in flight: past REDIS_CALLS_MAX, callers hold back. */
int
redis_busy(void)
{
	return (rd.cmd.ncalls + rd.sub.ncalls >= REDIS_CALLS_MAX);
}

/* "up", "connecting" or "down", and reconnects, for stats. */
const char *
redis_status(unsigned long long *reconnects)
{
	*reconnects = rd.reconnects > 0 ? rd.reconnects - 1 : 0;
	return (rd.state == REDIS_UP ? "up" : rd.state == REDIS_CONNECTING ?
	    "connecting" : "down");
}

/*
 * A failure found by a caller's call: given up at the next loop
 * iteration, not under the caller, who may hold what the broker's down
 * hook changes.
 */
static void
redis_fail_later(const char *why)
{
	if (rd.failed == NULL)
		rd.failed = why;
	ev_timer_start(EV_DEFAULT, &rd.later);
}

static void
redis_later_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	const char	*why = rd.failed;

	rd.failed = NULL;
	if (why != NULL)
		redis_fail(why);
}

/* A SUBSCRIBE Redis refused (an ACL, say): the broker hears so. */
static void
redis_join_cb(void *arg, const struct redis_result *res)
{
	char	*name = arg;

	if (res->error != NULL && rd.state == REDIS_UP)
		rd.hooks->refused(name, strlen(name), res->error);
	free(name);
}

/*
 * Subscribes to resource name's channel: the joined hook confirms, the
 * refused hook tells why not.
 */
void
redis_join(const char *name)
{
	const char	*argv[2];
	size_t		 lens[2];
	char		*chan, *copy;

	if (rd.state != REDIS_UP)
		return;
	xasprintf(&chan, "%s%s", rd.chan, name);
	copy = xstrdup(name);
	argv[0] = "SUBSCRIBE";
	argv[1] = chan;
	lens[0] = 9;
	lens[1] = strlen(chan);
	if (rconn_send(&rd.sub, RCALL_SUBSCRIBE, redis_join_cb, copy, 2, argv,
	    lens) == -1) {
		free(copy);
		redis_fail_later("cannot send");
	}
	free(chan);
}

void
redis_leave(const char *name)
{
	char	*chan;

	if (rd.state != REDIS_UP)
		return;
	xasprintf(&chan, "%s%s", rd.chan, name);
	if (rconn_sendv(&rd.sub, NULL, NULL, 2, "UNSUBSCRIBE", chan) == -1)
		redis_fail_later("cannot send");
	free(chan);
}

/*
 * Reads resource name's states after from (0: from the first kept),
 * as known in id space epoch (0: none; another than Redis's reads them
 * all): at most cap bytes and count states, the oldest first (get) or
 * the newest that fit.  cb hears them.  -1 if Redis is not up.
 */
int
redis_read(const char *name, int get, unsigned long long epoch,
    unsigned long long from, size_t cap, size_t count, redis_cb *cb,
    void *arg)
{
	struct pubsub_id	 id = { epoch, 1 };
	const char		*argv[11];
	size_t			 lens[11];
	char			 known[PUBSUB_ID_MAX], num[3][24];
	char			 cand[PUBSUB_ID_MAX];
	int			 i;

	if (rd.state != REDIS_UP)
		return (-1);
	redis_candidate(cand, sizeof cand);
	known[0] = '\0';
	if (epoch != 0) {
		(void)pubsub_id_format(&id, known, sizeof known);
		*strchr(known, '-') = '\0';
	}
	(void)snprintf(num[0], sizeof num[0], "%llu", from);
	(void)snprintf(num[1], sizeof num[1], "%zu", cap);
	(void)snprintf(num[2], sizeof num[2], "%zu", count);
	argv[0] = "FCALL";
	argv[1] = "wspipe1_read";
	argv[2] = "0";
	argv[3] = REDIS_PREFIX;
	argv[4] = name;
	argv[5] = get ? "get" : "replay";
	argv[6] = cand;
	argv[7] = known;
	argv[8] = num[0];
	argv[9] = num[1];
	argv[10] = num[2];
	for (i = 0; i < 11; i++)
		lens[i] = strlen(argv[i]);
	if (rconn_send(&rd.cmd, RCALL_READ, cb, arg, 11, argv, lens) == -1) {
		redis_fail_later("too much unsent");
		return (-1);
	}
	return (0);
}

/*
 * Publishes len bytes of data as resource name's next state, charged to
 * budget ("" for scripts); cb hears the id or an error.  -1 if Redis is
 * not up.
 */
int
redis_publish(const char *name, const char *data, size_t len,
    const char *budget, const struct redis_limits *lim, redis_cb *cb,
    void *arg)
{
	const char	*argv[16];
	size_t		 lens[16];
	char		 num[6][24], *chan, cand[PUBSUB_ID_MAX];
	int		 i, r;

	if (rd.state != REDIS_UP)
		return (-1);
	redis_candidate(cand, sizeof cand);
	xasprintf(&chan, "%s%s", rd.chan, name);
	(void)snprintf(num[0], sizeof num[0], "%zu", lim->history);
	(void)snprintf(num[1], sizeof num[1], "%zu", lim->resources);
	(void)snprintf(num[2], sizeof num[2], "%zu", lim->states);
	(void)snprintf(num[3], sizeof num[3], "%zu", lim->bytes);
	(void)snprintf(num[4], sizeof num[4], "%zu", lim->guest_states);
	(void)snprintf(num[5], sizeof num[5], "%zu", lim->guest_bytes);
	argv[0] = "FCALL";
	argv[1] = "wspipe1_publish";
	argv[2] = "0";
	argv[3] = REDIS_PREFIX;
	argv[4] = chan;
	argv[5] = name;
	argv[6] = data;
	argv[7] = cand;
	argv[8] = num[0];
	argv[9] = budget;
	argv[10] = num[1];
	argv[11] = num[2];
	argv[12] = num[3];
	argv[13] = num[4];
	argv[14] = num[5];
	/* The data is len bytes of the caller's buffer, without a NUL. */
	for (i = 0; i < 15; i++)
		lens[i] = i == 6 ? len : strlen(argv[i]);
	/* The publish's id comes back as a string: its arg marks it. */
	if ((r = rconn_send(&rd.cmd, RCALL_PUBLISH, cb, arg, 15, argv,
	    lens)) == -1)
		redis_fail_later("too much unsent");
	free(chan);
	return (r);
}

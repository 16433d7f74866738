/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Every shared structure and prototype of wspipe, grouped by the file
 * that owns it.  Reading this file top to bottom is the quickest tour of
 * the program: a listener (server.c) accepts a connection, the transport
 * (conn.c) carries it and reaches its role through a table of hooks; the
 * first role, httpd.c, reads requests (with http.c) and routes them: to
 * files (static.c), to a CGI script (cgi.c, a role of its own), or, on an
 * upgrade, to a WebSocket session (session.c) whose backend is a program
 * (program.c) or the broker (listen.c).  child.c runs programs and knows
 * no connection.
 */
#ifndef WSPIPE_H
#define WSPIPE_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/tree.h>

#include <stdarg.h>
#include <stdint.h>

#include <ev.h>

#include "buf.h"
#include "grants.h"
#include "http.h"
#include "ptable.h"
#include "pubsub.h"
#include "log.h"
#include "line.h"
#include "utf8.h"
#include "ws.h"
#include "xmalloc.h"

#define WSPIPE_NAME		"wspipe"

/* Bounds on everything a peer or a program can make us hold. */
#define READ_MAX		(64 * 1024)	/* one read(2) */
#define HIGH_WATER		(64 * 1024)	/* stop reading the source */
#define LINE_FRAGMENT		(64 * 1024)	/* long lines are fragmented */
#define TOCHILD_CAP		(HIGH_WATER + CONN_IN_CAP + 4096)
#define OUT_CAP			(HIGH_WATER + \
				    LINE_OUT_MAX(LINE_FRAGMENT, READ_MAX))
#define CONN_IN_CAP		(HTTP_HEADER_MAX + READ_MAX)
#define STDERR_LINE_MAX		1024		/* longer lines are split */
#define HANDSHAKE_TIMEOUT	10.0
#define CLOSE_TIMEOUT		2.0		/* peer's answer to our close */
#define DRAIN_TIMEOUT		0.1		/* + closems: last output */
#define PAUSED_CHECK		1.0		/* TCP state poll while paused */
#define SSE_HEARTBEAT		30.0		/* events: without --ping-interval */
#define CGI_TIMEOUT		30.0
#define LINGER_TIMEOUT		1.0		/* EOF after our shutdown */
#define SHUTDOWN_GRACE		3.0

/* config.c */


struct config {
	int		  port;		/* 0 until server_listen */
	int		  redirport;	/* 0: none */
	struct strlist	  addresses;
	char		 *unixsocket;
	mode_t		  unixsocket_mode;
	int		  binary;
	int		  maxforks;
	uint64_t	  maxmsg;
	unsigned int	  closems;
	char		 *passenv;
	struct strlist	  headers;
	struct strlist	  headers_ws;
	struct strlist	  headers_http;
	char		 *origin;
	int		  sameorigin;
	char		 *subprotocol;
	int		  loglevel;
	int		  logjson;	/* --logformat=json */
	int		  deflate;	/* permessage-deflate when offered */
	size_t		  deflate_min;	/* smaller messages go plain */
	double		  ping_interval;	/* seconds, 0: off */
	double		  ping_timeout;
	int		  ssl;
	char		 *sslcert;
	char		 *sslkey;
	char		 *sslca;		/* --sslca: client certificates */
	int		  passstderr;		/* stdout, stderr as JSON */
	int		  reverselookup;	/* REMOTE_HOST from DNS */
	char		 *staticdir;	/* resolved at start-up */
	char		 *cgidir;
	char		 *dir;
	int		  devconsole;
	char		 *trust_proxy;
	int		  listen;
	char		 *listen_path;	/* NULL: every path */
	char		 *listen_publish; /* NULL: browsers may not */
	char		 *broker;	/* a running broker's socket */
	char		 *broker_socket;	/* where ours listens */
	size_t		  listen_max_clients;
	size_t		  listen_max_per_address;
	size_t		  listen_max_subs;	/* per client */
	size_t		  listen_cache;		/* bytes of cached states */
	size_t		  listen_history;	/* our broker's --history */
	char		 *redis;		/* our broker's --redis */
	char		 *metrics;		/* --metrics: its path */
	char		 *redis_timeout;	/* and --redis-timeout */
	char		 *publishers;		/* our broker's, resolved */
	char		 *publisher_grace;	/* and its grace */
	struct strlist	  jwt_keys;		/* files */
	char		 *authorizer;		/* resolved path */
	char		 *self;		/* our own binary, for the broker */
	char		 *command;	/* resolved path of COMMAND */
	char		**argv;		/* COMMAND ARGS..., NULL-terminated */
	struct strlist	  passenv_vars;	/* NAME=value captured at start */
};

extern struct config	conf;

#define EXIT_CONFIG	1
#define EXIT_USAGE	2
#define EXIT_LISTEN	3

void		 config_parse(int, char **);
int		 config_loglevel(const char *);
int		 config_logformat(const char *);
void		 usage(int) __attribute__((noreturn));

/* server.c */
int		 server_listen(void);
void		 server_stop(void);
void		 server_cleanup(void);

/* conn.c */
struct conn;

/*
 * What a role plugs into the transport (relayd's struct protocol).  A
 * hook may close c (conn_close) but c is never freed under it.
 */
struct conn_ops {
	const char	*name;
	/* Bytes wait in c->in: take what can be taken now. */
	void		(*input)(struct conn *);
	/* The client took some of c->out: produce more, if any. */
	void		(*output)(struct conn *);
	/* The role's timer (conn_set_timer) fired. */
	void		(*timeout)(struct conn *);
	/* After every event: update the role's own interest; 1 to read. */
	int		(*update)(struct conn *);
	/* SIGTERM: end the conversation politely. */
	void		(*shutdown)(struct conn *);
	/* The socket is closed: let go of what depends on it. */
	void		(*closed)(struct conn *);
	/* 1 while something (a program) must end before c is freed. */
	int		(*busy)(struct conn *);
	/* c is being freed: the closing log line, the role's memory. */
	void		(*free)(struct conn *);
};

#define CONN_SOCK_CLOSED	0x01
#define CONN_FINISH		0x02	/* shut TCP once out is written */
#define CONN_LINGER		0x04	/* write side shut, draining until EOF */
#define CONN_RETIRED		0x08	/* off the list, freed before blocking */

struct tls;

struct conn {
	TAILQ_ENTRY(conn) entry;
	unsigned long	  id;
	char		  tag[80];	/* "#42 198.51.100.7:51123" */
	char		  addr[64];
	char		  port[8];
	char		  host[256];	/* --reverselookup: its name, or "" */
	int		  fd;
	struct tls	 *tls;		/* NULL without --ssl */
	int		  want_r;	/* TLS: what a read waits for */
	int		  want_w;	/* TLS: what a write waits for */
	ev_io		  io;
	ev_timer	  timer;	/* the role's, then linger */
	int		  flags;
	struct buf	  in;		/* bytes from the client */
	struct buf	  out;		/* bytes for the client */
	ev_tstamp	  start;
	ev_tstamp	  end;		/* when the socket closed */
	const char	 *why;		/* why it ended, for the closing line */
	const struct conn_ops *ops;
	void		 *role;		/* the role's own state */
};

TAILQ_HEAD(connlist, conn);
extern struct connlist	conns;
extern int		shutting_down;

struct conn	*conn_new(int, struct sockaddr *, const struct conn_ops *,
		    void *, int);
void		 conn_set_role(struct conn *, const struct conn_ops *, void *);
void		 conn_set_timer(struct conn *, double);
void		 conn_update(struct conn *);
int		 conn_flush(struct conn *);
void		 conn_finish(struct conn *);
int		 conn_dead(struct conn *);
void		 conn_close(struct conn *, const char *);
void		 conn_maybe_free(struct conn *);
void		 conn_reap(void);
void		 conn_shutdown_all(void);
void		 conn_kick(struct conn *);
int		 conn_unread(struct conn *);
void		 conn_write(struct conn *);
void		 conn_log(struct conn *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* tls.c */
struct tls_info {
	char		  protocol[32];		/* "TLSv1.3" */
	char		  cipher[64];
	char		  subject[512];		/* RFC 2253, or "" */
	char		  issuer[512];
	char		  serial[80];		/* hex */
	int		  verified;
};

int		 tls_init(const char *, const char *, const char *,
		    const char **);
void		 tls_info(struct tls *, struct tls_info *);
int		 tls_enabled(void);
struct tls	*tls_new(int);
void		 tls_free(struct tls *);
ssize_t		 tls_read(struct tls *, void *, size_t, int *);
ssize_t		 tls_write(struct tls *, const void *, size_t, int *);
int		 tls_pending(struct tls *);
void		 tls_close_notify(struct tls *);

/* child.c */
struct child_cb {
	void		(*readable)(void *);	/* stdout: child_read() */
	void		(*writable)(void *);	/* stdin took some bytes */
	void		(*exited)(void *);	/* reaped: see status */
	void		(*gone)(void *);	/* nothing left to wait for */
	/* A line of stderr (--passstderr), instead of the log; or NULL. */
	void		(*stderr_line)(void *, const uint8_t *, size_t);
};

struct child {
	TAILQ_ENTRY(child) entry;
	const struct child_cb *cb;
	void		 *arg;
	const char	 *tag;		/* starts its log lines */
	pid_t		  pid;		/* 0 before spawn */
	int		  fd;		/* stdin+stdout socketpair, or -1 */
	int		  errfd;	/* stderr pipe, or -1 */
	ev_io		  io;
	ev_io		  errio;
	ev_child	  cw;
	ev_timer	  term;
	int		  term_step;
	int		  term_polls;
	int		  flags;
	int		  status;	/* from waitpid */
	struct buf	  tochild;	/* bytes for the program's stdin */
	size_t		  held;		/* tail of tochild: an unfinished
					   message, not written yet */
	struct buf	  errline;	/* unfinished stderr line */
};

#define CHILD_REAPED		0x001
#define CHILD_EOF		0x002	/* stdout closed */
#define CHILD_STDIN_SHUT	0x004
#define CHILD_TERMINATING	0x008
#define CHILD_GROUP_GONE	0x010
#define CHILD_ERR_EOF		0x020
#define CHILD_STDIN_EOF		0x040	/* shut stdin once tochild is written */
#define CHILD_DISCARD		0x080	/* the owner is gone: drop stdout */
#define CHILD_HELPER		0x100	/* one of ours: /dev/null, no limit */
#define CHILD_GONE		0x200	/* the owner was told */
#define CHILD_TIED		0x400	/* SIGKILL if we die */

extern int	 nchildren;
int		 child_spawn(struct child *, const struct child_cb *, void *,
		    const char *, const char *, char **, char **, int);
int		 child_count(void);
void		 child_update(struct child *, int);
ssize_t		 child_read(struct child *, void *, size_t);
int		 child_write(struct child *, const void *, size_t);
size_t		 child_queued(const struct child *);
void		 child_hold(struct child *, size_t);
void		 child_drop_held(struct child *);
void		 child_close_stdin(struct child *);
int		 child_flush(struct child *);
void		 child_discard(struct child *);
void		 child_close_fds(struct child *);
int		 child_done(const struct child *);
void		 child_terminate(struct child *);
void		 child_kill_all(void);

/* env.c */
char		**env_build(struct conn *, struct http_request *, const char *);
void		 env_free(char **);
void		 env_capture_passenv(void);
void		 env_client_addr(struct conn *, struct http_request *, char *,
		    size_t);

/* auth.c */
struct auth {
	struct child	  ch;
	struct buf	  out;		/* its output: grant lines */
	ev_timer	  finish;	/* the verdict, off child.c's stack */
	struct grants	  grants;
	void		(*done)(void *, int, const char *);
	void		 *arg;
	int		  running;
	int		  toolong;
	int		  cancelled;
};

#define AUTH_TIMEOUT		10.0

int		 auth_init(void);
int		 auth_token(const struct http_request *, struct grants *,
		    long long *, const char **);
int		 auth_start(struct auth *, struct conn *, struct http_request *,
		    const char *, void (*)(void *, int, const char *), void *);
void		 auth_cancel(struct auth *);
int		 auth_busy(const struct auth *);
void		 auth_free(struct auth *);

/* resolve.c */
struct resolve;
#define RESOLVE_TIMEOUT		2.0	/* then REMOTE_HOST is the address */
struct resolve	*resolve_start(const char *, void (*)(void *, const char *),
		    void *);
void		 resolve_cancel(struct resolve *);

/* httpd.c */
void		 httpd_discard(void *);
extern const struct conn_ops httpd_ops;
void		*httpd_new(int);

/* static.c */
/* One plain answer, as a handler leaves it for httpd.c. */
struct http_answer {
	int		  status;	/* for the access line */
	unsigned long long bytes;	/* body bytes, for the access line */
	int		  close;	/* in: the client's wish; out: ours */
	int		  fd;		/* a file body still to send, or -1 */
	unsigned long long left;	/* its bytes not queued yet */
};

int		 static_serve(struct buf *, const struct http_request *,
		    struct http_answer *, const char **);
int		 static_pump(struct buf *, struct http_answer *);
int		 static_console(struct buf *, const struct http_request *,
		    struct http_answer *, const char **);
int		 static_metrics(struct buf *, const struct http_request *,
		    struct http_answer *, const char **);
int		 static_listen_js(struct buf *, const struct http_request *,
		    struct http_answer *, const char **);
int		 static_redirect(struct buf *, const struct http_request *,
		    struct http_answer *, const char **);

/* cgi.c */
int		 cgi_match(struct http_request *, char *, size_t);
int		 cgi_start(struct conn *, struct http_request *, const char *,
		    const char **);

/* session.c */
struct session;

/* What a session's backend provides (the program, the broker). */
struct session_backend {
	/* The session that carries it is s from now on. */
	void		(*attach)(void *, struct session *);
	/* A piece of a data message; -1 once it failed the session. */
	int		(*message)(void *, const uint8_t *, size_t, int);
	/* 1 while the backend can take another frame's worth of input. */
	int		(*room)(void *);
	/* After every event: the backend's own interest. */
	void		(*update)(void *);
	/* The client took some output: send what waits, if anything. */
	void		(*writable)(void *);
	/* The client is done: 1 if nothing more will come from us. */
	int		(*drain)(void *);
	/* SIGTERM (0), or the socket closed (1): end what runs behind. */
	void		(*stop)(void *, int);
	/* 1 while something must end before the session is freed. */
	int		(*busy)(void *);
	/* For the closing line: "pid 42 exit 0", or "-". */
	void		(*status)(void *, char *, size_t);
	void		(*free)(void *);
};

struct pmd;
int		 session_answer(struct buf *, const char *, const char *,
		    const char *);
struct session	*session_start(struct conn *, const struct session_backend *,
		    void *, const char *, int, const struct pmd *);
void		 session_sse(struct session *, int);
void		 session_once(struct session *, const char *, double, int,
		    const char *);
int		 session_send(struct session *, int, int, const void *, size_t);
size_t		 session_queued(struct session *);
void		 session_fail(struct session *, int, const char *);
void		 session_end(struct session *, int, const char *,
		    const char *);
void		 session_drained(struct session *);
int		 session_draining(struct session *);
int		 session_open(struct session *);
void		 session_flush(struct session *);
struct conn	*session_conn(struct session *);

/* program.c */
struct program;
extern const struct session_backend program_backend;
struct program	*program_new(struct conn *, const char *, char **, char **);
pid_t		 program_pid(struct program *);

/* listen.c */
struct lclient;
extern const struct session_backend listen_backend;
int		 listen_init(void);
int		 listen_match(const char *);
int		 listen_admit(const char *, const char **);
struct lclient	*listen_new(const char *, struct grants *, long long);
void		 listen_grants_default(struct grants *);

int		 listen_http_resource(const char *, char *, size_t);
int		 listen_may_subscribe(struct lclient *, const char *);
void		 listen_discard(struct lclient *);
void		 listen_http_get(struct lclient *, const char *);
void		 listen_http_publish(struct lclient *, const char *,
		    const char *, size_t);
void		 listen_http_subscribe(struct lclient *, const char *,
		    const char *);

/* lbroker.c */
struct lsub;
TAILQ_HEAD(lsub_list, lsub);

/* A resource the gateway's clients follow. */
struct lres {
	RB_ENTRY(lres)	  node;
	TAILQ_ENTRY(lres) cache;	/* cached, least recently updated first */
	TAILQ_ENTRY(lres) owed;		/* owes the broker a line */
	struct lsub_list  subs;		/* listen.c's */
	size_t		  nsubs;
	char		 *name;
	char		 *data;		/* cached state, or NULL */
	size_t		  datalen;
	struct pubsub_id  id;		/* the cached state's */
	int		  want;		/* we want it subscribed at the broker */
	int		  ready;	/* and the broker confirmed it */
	int		  inflight;	/* (un)subscribe lines not answered */
	int		  getting;	/* a fetch is not answered */
	int		  gets;		/* gets of ours it is named in */
	int		  owe;		/* LRES_OWE_* */
	int		  pattern;	/* its name ends in "*" */
	struct pnode	  pn;		/* a pattern's, in the link's table */
};

/* What the link tells listen.c. */
struct lbroker_ops {
	void		(*fan_out)(struct lres *);	/* a new state */
	void		(*state)(struct lres *);	/* get's answer */
	void		(*confirmed)(struct lres *);	/* subscribed */
	/* Refused or lost: its clients must leave it. */
	void		(*refused)(struct lres *, const char *);
	/* A client's publish was taken (why NULL) or refused. */
	void		(*published)(struct lclient *, const char *, size_t,
			    const char *);
	/* One state of a resume's answer, for the subscriber given. */
	void		(*replay)(void *, struct lres *,
			    const struct pubsub_id *, const char *, size_t);
	/* The answer ends, with r's newest id; NULL: it was lost. */
	void		(*replayed)(void *, struct lres *,
			    const struct pubsub_id *);
	/* A new state of resource name, which pattern r matches. */
	void		(*matched)(struct lres *, const char *, size_t,
			    const struct pubsub_id *, const char *, size_t);
	/* Pattern r's subscribers missed states ("gap P behind"). */
	void		(*missed)(struct lres *);
	/* One state of a snapshot's part, for the subscriber given. */
	void		(*snapshot)(void *, struct lres *, const char *,
			    size_t, const struct pubsub_id *, const char *,
			    size_t);
	/* The part ends: more after name, none (NULL), or lost (-1). */
	void		(*snapshotted)(void *, struct lres *, const char *,
			    int);
};

struct lget;

/* A query's answer: a state (id), none (id NULL), or lost the link. */
typedef void	(*lbroker_got_fn)(void *, const struct pubsub_id *,
		    const char *, size_t, int);

int		 lbroker_init(const struct lbroker_ops *);
struct lres	*lbroker_find(const char *, size_t);
struct lres	*lbroker_join(const char *, size_t, const char **);
void		 lbroker_leave(struct lres *);
int		 lbroker_fetch(struct lres *);
struct lget	*lbroker_resume(struct lres *, const char *, void *);
void		 lbroker_resume_cancel(struct lget *);
struct lget	*lbroker_query(const char *, size_t, lbroker_got_fn, void *);
int		 lbroker_online(void);
int		 lbroker_publish(struct lclient *, const char *, size_t,
		    const char *, size_t, const char **);
const char	*listen_broker_path(void);
void		 listen_shutdown(void);
void		 listen_cleanup(void);

/* redis.c: the broker's shared store, for --redis. */
struct pubsub_id;

struct redis_state {
	unsigned long long	 seq;
	const char		*data;
	size_t			 len;
};

/* A call's answer: an error, a publish's id, or a read's states. */
struct redis_result {
	const char		*error;		/* the call failed: why */
	unsigned long long	 epoch;		/* Redis's id space */
	unsigned long long	 seq;		/* the id; a read: newest, or 0 */
	unsigned long long	 next;		/* a read: publishes ever */
	struct redis_state	*states;	/* a read's, oldest first */
	size_t			 nstates;
};

/* The publishing broker's limits, enforced in Redis. */
struct redis_limits {
	size_t	history;
	size_t	resources;
	size_t	states;
	size_t	bytes;
	size_t	guest_states;
	size_t	guest_bytes;
};

/* How the store reports to the broker. */
struct redis_hooks {
	void	(*up)(void);		/* connected: join again */
	void	(*down)(void);		/* lost: calls in flight failed */
	void	(*joined)(const char *, size_t);	/* a channel */
	void	(*message)(const char *, size_t, const struct pubsub_id *,
		    const char *, size_t);
	void	(*refused)(const char *, size_t, const char *);	/* a join */
};

typedef void	 redis_cb(void *, const struct redis_result *);

int		 redis_open(const char *, double, const struct redis_hooks *,
		    const char **);
int		 redis_up(void);
int		 redis_busy(void);
const char	*redis_status(unsigned long long *);
void		 redis_join(const char *);
void		 redis_leave(const char *);
int		 redis_publish(const char *, const char *, size_t,
		    const char *, const struct redis_limits *, redis_cb *,
		    void *);
int		 redis_read(const char *, int, unsigned long long,
		    unsigned long long, size_t, size_t, redis_cb *, void *);

/* broker.c */
int		 broker_main(int, char **);
int		 broker_socket_safe(const char *, int, const char **);

/* publisher.c: the broker's on-demand publishers (--publishers). */
#define PUBLISHER_GRACE		5.0	/* --publisher-grace's default */
#define PUBLISHER_MAX		256	/* --max-publishers's */
void		 publisher_init(const char *, double, size_t, const char *,
		    void (*)(int));
void		 publisher_subscribers(const char *, size_t);
void		 publisher_shutdown(void (*)(void));

/* client.c */
int		 client_main(int, char **);

#endif

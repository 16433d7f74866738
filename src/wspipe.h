/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Every shared structure and prototype of wspipe, grouped by the file
 * that owns it.  Reading this file top to bottom is the quickest tour of
 * the program: a listener accepts a connection, http.c reads its upgrade
 * request, child.c spawns the program, relay.c moves messages both ways,
 * conn.c closes everything down.
 */
#ifndef WSPIPE_H
#define WSPIPE_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <stdarg.h>
#include <stdint.h>

#include <ev.h>

#include "buf.h"
#include "line.h"
#include "utf8.h"
#include "ws.h"

#define WSPIPE_NAME		"wspipe"

/* Bounds on everything a peer or a program can make us hold. */
#define READ_MAX		(64 * 1024)	/* one read(2) */
#define HIGH_WATER		(64 * 1024)	/* stop reading the source */
#define LINE_FRAGMENT		(64 * 1024)	/* long lines are fragmented */
#define TOCHILD_CAP		(HIGH_WATER + READ_MAX + 4096)
#define OUT_CAP			(HIGH_WATER + \
				    LINE_OUT_MAX(LINE_FRAGMENT, READ_MAX))
#define HTTP_HEADER_MAX		8192		/* request line + headers */
#define HTTP_HEADERS_MAX	100
#define HTTP_IN_CAP		(HTTP_HEADER_MAX + READ_MAX)
#define STDERR_LINE_MAX		1024		/* longer lines are split */
#define HANDSHAKE_TIMEOUT	10.0
#define CLOSE_TIMEOUT		2.0		/* peer's answer to our close */
#define DRAIN_TIMEOUT		0.1		/* + closems: last output */
#define PAUSED_CHECK		1.0		/* TCP state poll while paused */
#define LINGER_TIMEOUT		1.0		/* EOF after our shutdown */
#define SHUTDOWN_GRACE		3.0

/* config.c */
enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_TRACE,
	LOG_LEVEL_ACCESS,
	LOG_LEVEL_INFO,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_FATAL,
	LOG_LEVEL_NONE
};

struct strlist {
	char		**v;
	size_t		  n;
};

struct config {
	int		  port;
	struct strlist	  addresses;
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
	unsigned int	  ping_interval;	/* seconds, 0: off */
	unsigned int	  ping_timeout;
	int		  ssl;
	char		 *sslcert;
	char		 *sslkey;
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
void		 usage(int) __attribute__((noreturn));

/* log.c */
void		 log_init(int);
int		 log_enabled(int);
void		 log_msg(int, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
void		 log_vmsg(int, const char *, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));
void		 log_warn(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_info(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_debug(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 fatal(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
void		 fatalx(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
size_t		 log_vis(char *, size_t, const char *, size_t);

/* xmalloc.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xreallocarray(void *, size_t, size_t);
char		*xstrdup(const char *);
char		*xstrndup(const char *, size_t);
int		 xasprintf(char **, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 strlist_add(struct strlist *, char *);
void		 strlist_free(struct strlist *);

/* server.c */
int		 server_listen(void);
void		 server_stop(void);

/* conn.c */
enum conn_state {
	CONN_HTTP,		/* reading the upgrade request */
	CONN_OPEN,		/* relaying */
	CONN_DRAIN,		/* ending: program's last output, then close */
	CONN_CGI,		/* a CGI script answers the request */
	CONN_CLOSING,		/* our close frame sent, awaiting theirs */
	CONN_LINGER		/* write side shut, draining until EOF */
};

#define CONN_SOCK_CLOSED	0x01
#define CONN_CLOSE_SENT		0x02
#define CONN_CLOSE_RCVD		0x04
#define CONN_FINISH		0x08	/* shut TCP once out is written */
#define CONN_PAUSED		0x10	/* not reading: destination full */
#define CONN_CLOSE_AFTER	0x20	/* no keep-alive after this answer */
#define CONN_RETIRED		0x40	/* off the list, freed before blocking */
#define CONN_SESSION		0x80	/* upgraded: a WebSocket session */

/* A program run for one connection; embedded in its conn. */
struct child {
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
	struct line	  line;		/* text mode stdout splitter */
};

#define CHILD_REAPED		0x01
#define CHILD_EOF		0x02	/* stdout closed */
#define CHILD_STDIN_SHUT	0x04
#define CHILD_TERMINATING	0x08
#define CHILD_GROUP_GONE	0x10
#define CHILD_ERR_EOF		0x20
#define CHILD_STREAMING		0x40	/* a long message is written as it comes */
#define CHILD_STDIN_EOF		0x80	/* shut stdin once tochild is written */

struct http;
struct tls;
struct lclient;

struct conn {
	TAILQ_ENTRY(conn) entry;
	unsigned long	  id;
	char		  tag[80];	/* "#42 198.51.100.7:51123" */
	char		  addr[64];
	char		  port[8];
	char		  local_port[8];
	int		  fd;
	struct tls	 *tls;		/* NULL without --ssl */
	int		  want_r;	/* TLS: what a read waits for */
	int		  want_w;	/* TLS: what a write waits for */
	ev_io		  io;
	ev_timer	  timer;	/* handshake, close, linger */
	ev_timer	  ping;		/* keepalive, while open */
	ev_tstamp	  last_rx;	/* last frame from the client */
	ev_tstamp	  ping_sent;	/* 0: no ping outstanding */
	enum conn_state	  state;
	int		  flags;
	struct http	 *http;		/* only while reading the request */
	char		 *path;		/* request path, for the access line */
	struct buf	  in;		/* request bytes */
	struct buf	  out;		/* bytes for the client */
	struct ws_parser  ws;
	struct utf8	  utf8;		/* inbound text message state */
	struct child	  child;
	ev_tstamp	  start;
	ev_tstamp	  end;		/* when the socket closed */
	uint64_t	  msgs_in, bytes_in, msgs_out, bytes_out;
	int		  close_code;	/* sent or received */
	const char	 *close_reason;	/* static text for our close frame */
	const char	 *why;		/* reason the conversation ended */
	int		  file;		/* static file being sent, or -1 */
	unsigned long long file_left;
	unsigned long long file_size;
	int		  cgi;		/* this connection ran a CGI script */
	int		  cgi_sent;	/* the CGI answer's head is out */
	unsigned long long cgi_bytes;
	struct buf	  cgi_head;	/* the script's header block */
	struct lclient	 *lc;		/* listen mode client, or NULL */
};

TAILQ_HEAD(connlist, conn);
extern struct connlist	conns;
extern int		shutting_down;

void		 conn_new(int, struct sockaddr *, socklen_t);
void		 conn_update(struct conn *);
ssize_t		 conn_recv(struct conn *, void *, size_t);
int		 conn_flush(struct conn *);
void		 conn_close(struct conn *, const char *);
void		 conn_fail(struct conn *, int, const char *);
void		 conn_drain(struct conn *);
void		 conn_send_close(struct conn *, int, const char *);
void		 conn_maybe_free(struct conn *);
void		 conn_reap(void);
void		 conn_shutdown_all(void);
void		 conn_open(struct conn *);
void		 conn_log(struct conn *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* tls.c */
int		 tls_init(const char *, const char *, const char **);
int		 tls_enabled(void);
struct tls	*tls_new(int);
void		 tls_free(struct tls *);
ssize_t		 tls_read(struct tls *, void *, size_t, int *);
ssize_t		 tls_write(struct tls *, const void *, size_t, int *);
int		 tls_pending(struct tls *);
void		 tls_close_notify(struct tls *);

/* http.c */
const char	*http_header(struct http *, const char *);
int		 http_read(struct conn *);
int		 http_process(struct conn *);
void		 http_error(struct conn *, int, const char *);
void		 http_head(struct conn *, int, const char *, long long);
void		 http_head_reason(struct conn *, int, const char *, const char *,
		    long long);
void		 http_put_header(struct conn *, const char *, const char *);
void		 http_end_head(struct conn *);
void		 http_redirect(struct conn *, int, const char *);
void		 http_answered(struct conn *, unsigned long long);
const char	*http_decoded(struct http *);
const char	*http_script_name(struct http *);
const char	*http_path_info(struct http *);
const char	*http_script_file(struct http *);
void		 http_set_script(struct http *, size_t, const char *);
void		 http_cgi_started(struct http *);
int		 http_has_body(struct http *);
unsigned long long http_content_length(struct http *);
void		 http_free(struct http *);
const char	*http_url(struct http *);
const char	*http_path(struct http *);
const char	*http_query(struct http *);
const char	*http_method(struct http *);
const char	*http_protocol(struct http *);
int		 http_header_count(struct http *);
void		 http_header_at(struct http *, int, const char **,
		    const char **);

/* static.c */
void		 static_serve(struct conn *, struct http *);
void		 static_pump(struct conn *);
void		 static_console(struct conn *, struct http *);
void		 static_listen_js(struct conn *, struct http *);

/* cgi.c */
int		 cgi_match(struct conn *, struct http *);
size_t		 cgi_room(struct conn *);
int		 cgi_body(struct conn *, const char *, size_t);
void		 cgi_body_done(struct conn *);
void		 cgi_abort(struct conn *, const char *);
void		 cgi_output(struct conn *, const uint8_t *, size_t);
void		 cgi_eof(struct conn *);
void		 cgi_timeout(struct conn *);

/* env.c */
char		**env_build(struct conn *, struct http *, const char *);
void		 env_free(char **);
void		 env_capture_passenv(void);

/* child.c */
extern int	 nchildren;
int		 child_spawn(struct conn *, const char *, char **, char **);
pid_t		 child_run(const char *, char **, char **);
void		 child_stop(pid_t);
void		 child_close_stdin(struct conn *);
void		 child_update(struct conn *);
void		 child_terminate(struct conn *);
int		 child_flush(struct conn *);
void		 child_drop_held(struct conn *);
void		 child_close_fds(struct conn *);
int		 child_done(struct conn *);
void		 child_kill_all(void);

/* listen.c */
int		 listen_init(void);
void		 listen_shutdown(void);
int		 listen_match(const char *);
const char	*listen_broker_path(void);
void		 listen_open(struct conn *);
void		 listen_close(struct conn *);
void		 listen_free(struct conn *);
void		 listen_input(struct conn *, const uint8_t *, size_t, int);
void		 listen_catch_up(struct conn *);

/* broker.c */
int		 broker_main(int, char **);

/* client.c */
int		 client_main(int, char **);

/* relay.c */
int		 relay_client_read(struct conn *);
int		 relay_client_input(struct conn *, uint8_t *, size_t);
void		 relay_child_read(struct conn *);
void		 relay_stderr_read(struct conn *);
void		 relay_child_eof(struct conn *);
void		 relay_drained(struct conn *);
int		 relay_send(struct conn *, int, int, const void *, size_t);

#endif

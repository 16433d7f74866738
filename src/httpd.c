/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The first role of every connection: HTTP/1.1 requests, one after the
 * other on a kept-alive connection, each read with http.c and routed
 * when its header block is in.  An answer of ours (a file, the console
 * page, listen.js, an error) is queued here; a CGI script or a WebSocket
 * upgrade hands the connection to another role.  A pipelined request is
 * not parsed, and the socket not read, while the answers before it wait
 * unread above HIGH_WATER: that is the backpressure that keeps a flood
 * of requests from growing our output without bound.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wspipe.h"
#include "deflate.h"
#include "handshake.h"
#include "metrics.h"
#include "path.h"
#include "pubsub.h"
#include "rest.h"

struct httpd {
	struct conn		*c;
	struct http_request	*req;		/* NULL between requests */
	struct http_answer	 a;
	int			 answered;	/* the whole answer is queued */
	struct auth		*auth;		/* the authorizer, while it runs */
	int			 authorized;	/* the upgrade may go on */
	struct grants		 grants;	/* a listen client's, so far */
	long long		 exp;		/* when its token expires */
	int			 redirect;	/* --redirport: 301 to TLS */
	struct resolve		*rq;		/* --reverselookup, asked */
	int			 resolved;	/* and answered, or given up */
	int			 late;		/* timeouts that were ours */
	int			 sse;		/* a stream of events is asked */
	int			 rest;		/* a GET or POST of a resource */
	int			 posting;	/* a POST waits for its body */
	struct buf		 body;		/* a POST's */
	char			 res[PUBSUB_RESOURCE_MAX + 1];	/* theirs */
};

#define HTTPD_LATE_MAX	3	/* a busy gateway's grace, in timeouts */

static void	httpd_process(struct conn *);

/* A new connection's HTTP role; redirect: it came on --redirport. */
void *
httpd_new(int redirect)
{
	struct httpd	*hd;

	hd = xcalloc(1, sizeof *hd);
	hd->a.fd = -1;
	/* A state and the line end it may come with. */
	buf_init(&hd->body, PUBSUB_DATA_MAX + 2);
	hd->redirect = redirect;
	metrics_add(METRIC_CONN_HTTP, 1);
	return (hd);
}

/* A role httpd_new made that no connection took. */
void
httpd_discard(void *role)
{
	metrics_add(METRIC_CONN_HTTP, -1);
	free(role);
}

/* The access line of a plain request. */
static void
httpd_log(struct conn *c, const struct http_request *r, int status,
    unsigned long long bytes, const char *why)
{
	if (why != NULL)
		conn_log(c, LOG_LEVEL_ACCESS, "%s %s %d %llu %s",
		    r != NULL && r->method != NULL ? r->method : "-",
		    r != NULL && r->path != NULL ? r->path : "-", status,
		    bytes, why);
	else
		conn_log(c, LOG_LEVEL_ACCESS, "%s %s %d %llu", r->method,
		    r->path, status, bytes);
	metrics_http_status(status);
}

/*
 * Fails the request with status and a fixed plain-text reason; the
 * connection closes once the answer is written.
 */
static void
httpd_error(struct conn *c, int status, const char *why)
{
	struct httpd		*hd = c->role;
	struct http_request	*r = hd->req;
	const char		*extra = NULL;

	httpd_log(c, r != NULL && r->method != NULL ? r : NULL, status,
	    strlen(why) + 1, why);
	if (status == 426)
		extra = "Sec-WebSocket-Version: 13\r\n";
	/* A WebSocket needs GET; our files take HEAD too. */
	else if (status == 405)
		extra = r != NULL && handshake_has_token(http_field(r,
		    "Upgrade"), "websocket") ? "Allow: GET\r\n" :
		    "Allow: GET, HEAD\r\n";
	if (http_put_error(&c->out, status, why, extra) == -1) {
		conn_close(c, "answer over the output cap");
		return;
	}
	c->why = why;
	hd->answered = 1;
	hd->a.close = 1;
	if (hd->a.fd != -1) {
		close(hd->a.fd);
		hd->a.fd = -1;
	}
	conn_finish(c);
}

/* The whole answer is queued: log it. */
static void
httpd_answered(struct conn *c)
{
	struct httpd	*hd = c->role;

	hd->answered = 1;
	httpd_log(c, hd->req, hd->a.status, hd->a.bytes, NULL);
}

/*
 * Queues what the client can take of the answer's file, and logs the
 * answer once it is all queued.  Returns -1 if the file shrank or failed:
 * the length sent is then a lie, and the connection ends.
 */
static int
httpd_pump(struct conn *c)
{
	struct httpd	*hd = c->role;

	if (hd->a.fd != -1 && static_pump(&c->out, &hd->a) == -1) {
		conn_log(c, LOG_LEVEL_ERROR, "static file read failed");
		hd->a.close = 1;
		conn_finish(c);
		return (-1);
	}
	if (hd->a.fd == -1)
		httpd_answered(c);
	return (0);
}

/* Checks an upgrade request (RFC 6455 4.2.1); returns 0 or an HTTP status. */
static int
httpd_check_upgrade(struct http_request *r, const char **why)
{
	const char	*host = http_field(r, "Host");
	const char	*version = http_field(r, "Sec-WebSocket-Version");

	if (!r->get) {
		*why = "only GET can open a WebSocket";
		return (405);
	}
	if (r->major < 1 || (r->major == 1 && r->minor < 1)) {
		*why = "HTTP/1.1 or later is required";
		return (400);
	}
	if (!handshake_has_token(http_field(r, "Upgrade"), "websocket")) {
		*why = "this is a WebSocket endpoint: Upgrade: websocket "
		    "is missing";
		return (400);
	}
	if (!handshake_has_token(http_field(r, "Connection"), "upgrade")) {
		*why = "Connection: Upgrade is missing";
		return (400);
	}
	if (host == NULL || *host == '\0' || strpbrk(host, " ,\t") != NULL) {
		*why = "one Host header is required";
		return (400);
	}
	if (r->has_body) {
		*why = "a handshake has no body";
		return (400);
	}
	if (version == NULL || strcmp(version, "13") != 0) {
		*why = "only WebSocket version 13 is supported";
		return (426);
	}
	if (!handshake_key_valid(http_field(r, "Sec-WebSocket-Key"))) {
		*why = "Sec-WebSocket-Key is missing or invalid";
		return (400);
	}
	if (!handshake_origin_allowed(http_field(r, "Origin"), host,
	    conf.origin, conf.sameorigin)) {
		*why = "origin not allowed";
		return (403);
	}
	return (0);
}

/* Splits "/a/b" under --dir into the script and what follows it. */
static int
httpd_dir_script(struct http_request *r, char *script, size_t scriptsz)
{
	size_t	used;
	int	ret;

	ret = path_script(conf.dir, r->decoded, script, scriptsz, &used);
	if (ret != 0)
		return (ret);
	if (access(script, X_OK) == -1)
		return (404);
	http_set_script(r, used, script);
	return (0);
}

/* Frees what the upgrade gathered, as the session takes over. */
static void
httpd_upgraded(struct conn *c, struct httpd *hd)
{
	http_request_free(hd->req);
	if (hd->auth != NULL) {
		auth_free(hd->auth);
		free(hd->auth);
	}
	grants_free(&hd->grants);
	buf_free(&hd->body);
	metrics_add(METRIC_CONN_HTTP, -1);
	free(hd);
}

/* A listen client: no program, the gateway itself answers. */
/* permessage-deflate, if the client offers it and --deflate allows. */
static void
httpd_deflate(const struct http_request *r, struct pmd *pmd, char *ext,
    size_t extsz)
{
	if (!conf.deflate || pmd_negotiate(http_field(r,
	    "Sec-WebSocket-Extensions"), pmd, ext, extsz) == 0)
		memset(pmd, 0, sizeof *pmd);
}

/*
 * The listen client an authorized request makes, with the grants of the
 * defaults, its token and its authorizer; NULL once refused (the budgets
 * are checked again: others may have come while an authorizer ran).
 */
static struct lclient *
httpd_listen_client(struct conn *c)
{
	struct httpd	*hd = c->role;
	struct grants	 g;
	const char	*why;
	char		 addr[64];
	int		 status;

	env_client_addr(c, hd->req, addr, sizeof addr);
	if ((status = listen_admit(addr, &why)) != 0) {
		httpd_error(c, status, why);
		return (NULL);
	}
	memset(&g, 0, sizeof g);
	listen_grants_default(&g);
	(void)grants_merge(&g, &hd->grants);
	if (hd->auth != NULL)
		(void)grants_merge(&g, &hd->auth->grants);
	return (listen_new(addr, &g, hd->exp));
}

static void
httpd_listen(struct conn *c, const char *path, const char *protocol)
{
	struct httpd	*hd = c->role;
	struct lclient	*lc;
	struct pmd	 pmd;
	char		 ext[PMD_RESPONSE_MAX];

	if ((lc = httpd_listen_client(c)) == NULL)
		return;
	httpd_deflate(hd->req, &pmd, ext, sizeof ext);
	if (session_answer(&c->out, http_field(hd->req, "Sec-WebSocket-Key"),
	    protocol, pmd.on ? ext : NULL) == -1) {
		listen_discard(lc);
		conn_close(c, "answer over the output cap");
		return;
	}
	conn_log(c, LOG_LEVEL_INFO, "listen %s", path);
	(void)session_start(c, &listen_backend, lc, path, 1, &pmd);
	httpd_upgraded(c, hd);
}

/*
 * A GET of a resource without a stream: its state, now, or with "Prefer:
 * wait=N" the state after the one If-None-Match names (or the first, if
 * it names none) within N seconds; a POST: its body is the new state.
 * The request is a listen client with one command, its session answers
 * once (session_once), and the connection ends.
 */
static void
httpd_rest(struct conn *c, struct lclient *lc)
{
	struct httpd		*hd = c->role;
	struct http_request	*r = hd->req;
	struct pubsub_id	 id;
	struct session		*s;
	const char		*inm = http_field(r, "If-None-Match");
	char			 from[PUBSUB_ID_MAX];
	size_t			 len;
	int			 wait, known;

	s = session_start(c, &listen_backend, lc, r->path, 1, NULL);
	if (!r->get && !r->head) {
		len = buf_len(&hd->body);
		/* One line end, as echo and files leave one, is not data. */
		if (len > 0 && buf_head(&hd->body)[len - 1] == '\n')
			len--;
		if (len > 0 && buf_head(&hd->body)[len - 1] == '\r')
			len--;
		conn_log(c, LOG_LEVEL_INFO, "post %s", hd->res);
		session_once(s, "POST", REST_ANSWER_TIMEOUT, 504, NULL);
		listen_http_publish(lc, hd->res, (const char *)
		    buf_head(&hd->body), len);
	} else if ((wait = rest_wait(http_field(r, "Prefer"))) <= 0) {
		session_once(s, r->method, REST_ANSWER_TIMEOUT, 504, inm);
		listen_http_get(lc, hd->res);
	} else {
		/* A long poll: subscribed, answered by the first state. */
		known = rest_etag(inm, &id) == 0;
		if (known)
			(void)pubsub_id_format(&id, from, sizeof from);
		conn_log(c, LOG_LEVEL_INFO, "poll %s %ds", hd->res, wait);
		session_once(s, r->method, wait, known ? 304 : 404, inm);
		listen_http_subscribe(lc, hd->res, known ? from : NULL);
	}
	/* The request and hd go only now: the answer above used them. */
	httpd_upgraded(c, hd);
}


/*
 * A listen client over plain HTTP.  A stream of server-sent events
 * follows one resource, from the state after Last-Event-ID or from the
 * current one; its answer has no length: the stream ends with the
 * connection.  Other requests are httpd_rest's.
 */
static void
httpd_plain(struct conn *c)
{
	struct httpd	*hd = c->role;
	struct lclient	*lc;
	struct pubsub_id id;
	const char	*last;

	if ((lc = httpd_listen_client(c)) == NULL)
		return;
	if (hd->rest) {
		httpd_rest(c, lc);
		return;
	}
	if (!listen_may_subscribe(lc, hd->res)) {
		listen_discard(lc);
		httpd_error(c, 403, "not allowed to subscribe");
		return;
	}
	/* An id it cannot have been given is no id: from the current. */
	if ((last = http_field(hd->req, "Last-Event-ID")) != NULL &&
	    pubsub_id_parse(last, strlen(last), &id) == -1)
		last = NULL;
	if (http_put(&c->out, "HTTP/1.1 200 OK\r\n") == -1 ||
	    http_put_field(&c->out, "Content-Type", "text/event-stream; "
	    "charset=utf-8") == -1 ||
	    http_put_field(&c->out, "Cache-Control", "no-cache") == -1 ||
	    http_put_field(&c->out, "Connection", "close") == -1 ||
	    http_put_field(&c->out, "X-Accel-Buffering", "no") == -1 ||
	    http_put_extra(&c->out, HTTP_EXTRA_HTTP) == -1 ||
	    http_put(&c->out, "\r\n") == -1) {
		listen_discard(lc);
		conn_close(c, "answer over the output cap");
		return;
	}
	conn_log(c, LOG_LEVEL_INFO, "events %s", hd->res);
	session_sse(session_start(c, &listen_backend, lc, hd->req->path, 1,
	    NULL), pubsub_pattern(hd->res, strlen(hd->res)));
	listen_http_subscribe(lc, hd->res, last);
	metrics_http_status(200);
	httpd_upgraded(c, hd);
}

static void	httpd_upgrade(struct conn *);

/* The upgrade goes on once its wait (authorizer, name) is over. */
static void
httpd_resume(struct conn *c)
{
	conn_set_timer(c, HANDSHAKE_TIMEOUT);
	httpd_upgrade(c);
	/* What followed the request is the session's. */
	if (c->ops != &httpd_ops && !(c->flags & CONN_SOCK_CLOSED) &&
	    buf_len(&c->in) > 0)
		c->ops->input(c);
	conn_update(c);
}

/* --reverselookup answered (name NULL: the address has none). */
static void
httpd_resolved(void *arg, const char *name)
{
	struct conn	*c = arg;
	struct httpd	*hd = c->role;

	hd->rq = NULL;
	hd->resolved = 1;
	if (name != NULL)
		strlcpy(c->host, name, sizeof c->host);
	httpd_resume(c);
}

/* The authorizer's verdict on an upgrade: go on, or answer the refusal. */
static void
httpd_authorized(void *arg, int status, const char *why)
{
	struct conn	*c = arg;
	struct httpd	*hd = c->role;

	if (c->flags & CONN_SOCK_CLOSED)
		return;
	if (status != 0) {
		httpd_error(c, status, why);
		conn_update(c);
		return;
	}
	hd->authorized = 1;
	httpd_resume(c);
}

/*
 * Authorizes an upgrade before anything starts: its token, then the
 * authorizer program, if any (the upgrade goes on when it has answered).
 * Returns 0 to go on now, 1 to wait, -1 once refused.
 */
static int
httpd_authorize(struct conn *c, int listen, const char *protocol)
{
	struct httpd	*hd = c->role;
	const char	*why;
	char		 addr[64];
	int		 status;

	if (hd->authorized)
		return (0);
	env_client_addr(c, hd->req, addr, sizeof addr);
	if (listen && ((status = listen_admit(addr, &why)) != 0 ||
	    (status = auth_token(hd->req, &hd->grants, &hd->exp,
	    &why)) != 0)) {
		httpd_error(c, status, why);
		return (-1);
	}
	if (conf.authorizer == NULL)
		return (0);
	if (conf.maxforks > 0 && nchildren >= conf.maxforks) {
		httpd_error(c, 429, "too many connections, try again later");
		return (-1);
	}
	hd->auth = xcalloc(1, sizeof *hd->auth);
	if (auth_start(hd->auth, c, hd->req, protocol, httpd_authorized,
	    c) == -1) {
		httpd_error(c, 503, "out of resources, try again later");
		return (-1);
	}
	conn_set_timer(c, AUTH_TIMEOUT);
	return (1);
}

/*
 * A complete upgrade request: check it, authorize it, start what answers
 * it, answer 101 and hand the connection to a WebSocket session.  The
 * program runs before the answer, so that a failed spawn is an HTTP
 * error, not an upgraded socket that dies at once.
 */
static void
httpd_upgrade(struct conn *c)
{
	struct httpd		*hd = c->role;
	struct http_request	*r = hd->req;
	struct program		*p;
	struct pmd		 pmd;
	const char		*why = NULL;
	char			 protocol[128], script[PATH_MAX], **env;
	char			 path[PATH_MAX], *argv[2], ext[PMD_RESPONSE_MAX];
	int			 status, ret, listen;

	/*
	 * A resource over plain HTTP: authorized as a listen client, under
	 * the WebSocket's origin policy (a page elsewhere cannot POST).
	 */
	if (hd->sse || hd->rest) {
		if (!handshake_origin_allowed(http_field(r, "Origin"),
		    http_field(r, "Host"), conf.origin, conf.sameorigin))
			httpd_error(c, 403, "origin not allowed");
		else if (httpd_authorize(c, 1, "") == 0)
			httpd_plain(c);
		return;
	}
	if ((status = httpd_check_upgrade(r, &why)) != 0) {
		httpd_error(c, status, why);
		return;
	}
	protocol[0] = '\0';
	ret = handshake_subprotocol(http_field(r, "Sec-WebSocket-Protocol"),
	    conf.subprotocol, protocol, sizeof protocol);
	if (ret == -1) {
		httpd_error(c, 400, "no offered subprotocol is accepted");
		return;
	}
	strlcpy(path, r->path, sizeof path);
	listen = listen_match(r->decoded);
	if (!listen && conf.dir != NULL && httpd_dir_script(r, script,
	    sizeof script) != 0) {
		/* Whatever the reason, there is no such program. */
		httpd_error(c, 404, "no such program");
		return;
	}
	if (httpd_authorize(c, listen, protocol) != 0)
		return;
	if (listen) {
		httpd_listen(c, path, protocol);
		return;
	}
	if (conf.maxforks > 0 && nchildren >= conf.maxforks) {
		httpd_error(c, 429, "too many connections, try again later");
		return;
	}
	/* REMOTE_HOST: the program waits for its name, a bounded time. */
	if (conf.reverselookup && !hd->resolved) {
		env_client_addr(c, r, script, sizeof script);
		hd->resolved = 1;
		if ((hd->rq = resolve_start(script, httpd_resolved, c)) !=
		    NULL) {
			hd->resolved = 0;
			conn_set_timer(c, RESOLVE_TIMEOUT);
			return;
		}
	}
	env = env_build(c, r, protocol);
	argv[0] = script;
	argv[1] = NULL;
	p = program_new(c, conf.dir != NULL ? script : conf.command,
	    conf.dir != NULL ? argv : conf.argv, env);
	env_free(env);
	if (p == NULL) {
		if (errno == EAGAIN || errno == ENOMEM || errno == EMFILE ||
		    errno == ENFILE)
			httpd_error(c, 503, "out of resources, try again later");
		else
			httpd_error(c, 500, "the program could not be started");
		return;
	}
	httpd_deflate(r, &pmd, ext, sizeof ext);
	if (session_answer(&c->out, http_field(r, "Sec-WebSocket-Key"),
	    protocol, pmd.on ? ext : NULL) == -1) {
		/* The program goes with the session's close path. */
		(void)session_start(c, &program_backend, p, path,
		    !conf.binary, &pmd);
		httpd_upgraded(c, hd);
		conn_close(c, "answer over the output cap");
		return;
	}
	conn_log(c, LOG_LEVEL_INFO, "upgrade %s pid %ld%s%s", path,
	    (long)program_pid(p), *protocol != '\0' ? " protocol " : "",
	    protocol);
	(void)session_start(c, &program_backend, p, path, !conf.binary,
	    &pmd);
	httpd_upgraded(c, hd);
}

/* A POST's body: a state, held whole; past its cap, refused. */
static int
httpd_body(void *arg, const char *at, size_t len)
{
	struct httpd	*hd = arg;

	return (buf_append(&hd->body, at, len));
}

/*
 * Routes a plain request once its header block is in.  A new role is
 * one more line here.
 */
static void
httpd_route(struct conn *c)
{
	struct httpd		*hd = c->role;
	struct http_request	*r = hd->req;
	const char		*why = "not found";
	char			 script[PATH_MAX];
	int			 status, pattern;

	/* --redirport answers everything, upgrades included, with a 301. */
	if (hd->redirect)
		status = static_redirect(&c->out, r, &hd->a, &why);
	/* Upgrade: websocket without Connection: upgrade is a bad upgrade. */
	else if (handshake_has_token(http_field(r, "Upgrade"), "websocket"))
		status = httpd_check_upgrade(r, &why);
	else if (conf.metrics != NULL && strcmp(r->decoded, conf.metrics) == 0)
		status = static_metrics(&c->out, r, &hd->a, &why);
	/*
	 * A resource's URI: a stream of events, its state, a publish; a
	 * pattern's: a stream only.
	 */
	else if ((r->get || r->head || strcmp(r->method, "POST") == 0) &&
	    (pattern = listen_http_resource(r->decoded, hd->res,
	    sizeof hd->res)) != -1) {
		hd->sse = r->get && handshake_has_token(http_field(r,
		    "Accept"), "text/event-stream");
		hd->rest = !hd->sse;
		if (pattern && hd->rest) {
			httpd_error(c, 400, "a pattern has no one state: follow "
			    "it as a stream of events or over a WebSocket");
			return;
		}
		if (r->get || r->head) {
			httpd_upgrade(c);
			return;
		}
		/* A POST begins once its body is in (HTTP_EV_DONE). */
		if (r->content_length > PUBSUB_DATA_MAX + 2) {
			httpd_error(c, 413, "a state is at most 65536 bytes");
			return;
		}
		http_request_body(r, httpd_body, hd);
		hd->posting = 1;
		/* curl asks before a body past 1 KiB; it may come. */
		if (handshake_has_token(http_field(r, "Expect"),
		    "100-continue") && http_put(&c->out,
		    "HTTP/1.1 100 Continue\r\n\r\n") == -1)
			conn_close(c, "answer over the output cap");
		return;
	}
	else if (conf.listen && strcmp(r->decoded, "/wspipe/listen.js") == 0)
		status = static_listen_js(&c->out, r, &hd->a, &why);
	else if (conf.cgidir != NULL && cgi_match(r, script, sizeof script)) {
		if ((status = cgi_start(c, r, script, &why)) == 0) {
			/* The script's role owns the request now. */
			metrics_add(METRIC_CONN_HTTP, -1);
			free(hd);
			return;
		}
	} else if (conf.staticdir != NULL)
		status = static_serve(&c->out, r, &hd->a, &why);
	else if (conf.devconsole)
		status = static_console(&c->out, r, &hd->a, &why);
	else if (conf.cgidir != NULL)
		status = 404;
	else {
		status = 400;
		why = "this is a WebSocket endpoint: Upgrade: websocket "
		    "is missing";
	}
	if (status != 0) {
		httpd_error(c, status, why);
		return;
	}
	(void)httpd_pump(c);
}

/* The client took some output: send more of a file, then go on. */
static void
httpd_output(struct conn *c)
{
	struct httpd	*hd = c->role;

	if (hd->a.fd != -1) {
		if (httpd_pump(c) == -1)
			return;
		/*
		 * Progress on a long answer is not idleness; progress is a
		 * chunk taken (a pump), not a byte.
		 */
		conn_set_timer(c, HANDSHAKE_TIMEOUT);
	}
	httpd_process(c);
}

/*
 * Parses what is buffered: routes each request when its header block
 * is in, and starts the next request on a kept-alive connection once
 * the answer is queued and the output has room.
 */
static void
httpd_process(struct conn *c)
{
	struct httpd		*hd = c->role;
	struct http_request	*r;
	enum http_event		 ev;
	size_t			 used, len;

	while (!(c->flags & (CONN_SOCK_CLOSED | CONN_FINISH)) &&
	    c->ops == &httpd_ops) {
		if ((r = hd->req) != NULL && http_request_done(r)) {
			/* Wait for the answer before the next request. */
			if (!hd->answered || hd->a.fd != -1)
				return;
			if (hd->a.close) {
				conn_finish(c);
				return;
			}
			http_request_free(r);
			hd->req = NULL;
			memset(&hd->a, 0, sizeof hd->a);
			hd->a.fd = -1;
			hd->answered = 0;
			conn_set_timer(c, HANDSHAKE_TIMEOUT);
			continue;
		}
		if ((len = buf_len(&c->in)) == 0)
			return;
		/*
		 * Backpressure: a pipelined request waits, unparsed, until
		 * the client has taken the answers before it.
		 */
		if (r == NULL) {
			if (buf_len(&c->out) >= HIGH_WATER)
				return;
			r = hd->req = http_request_new();
		}
		used = http_request_feed(r, (const char *)buf_head(&c->in),
		    len, &ev);
		buf_drain(&c->in, used);
		switch (ev) {
		case HTTP_EV_ERROR:
			httpd_error(c, r->status, r->errstr);
			return;
		case HTTP_EV_HEAD:
			hd->a.close = !r->keepalive;
			httpd_route(c);
			break;
		case HTTP_EV_DONE:
			/* An upgrade is reported whole: on --redirport, 301. */
			if (r->upgrade && hd->redirect) {
				hd->a.close = 1;
				httpd_route(c);
				break;
			}
			/* A POST's body is in: it begins (once). */
			if (r->upgrade || hd->posting) {
				hd->posting = 0;
				httpd_upgrade(c);
				/* What followed the request is the session's. */
				if (c->ops != &httpd_ops &&
				    !(c->flags & CONN_SOCK_CLOSED) &&
				    buf_len(&c->in) > 0)
					c->ops->input(c);
				return;
			}
			break;
		case HTTP_EV_MORE:
			return;
		}
	}
}

static void
httpd_input(struct conn *c)
{
	httpd_process(c);
}

static void
httpd_timeout(struct conn *c)
{
	struct httpd	*hd = c->role;

	if (hd->auth != NULL && auth_busy(hd->auth)) {
		auth_cancel(hd->auth);
		httpd_error(c, 503, "the authorizer did not answer in time");
		return;
	}
	if (hd->rq != NULL) {
		/* No name in time: REMOTE_HOST is the address. */
		resolve_cancel(hd->rq);
		hd->rq = NULL;
		hd->resolved = 1;
		httpd_resume(c);
		return;
	}
	/*
	 * Bytes the client sent that we have not read yet: the delay is
	 * ours (a loop busy with others), not a slow client's.  A few more
	 * periods are granted; a client that trickles has had its bytes
	 * read by now, so it still goes.
	 */
	if (hd->late < HTTPD_LATE_MAX && conn_unread(c)) {
		hd->late++;
		conn_set_timer(c, HANDSHAKE_TIMEOUT);
		return;
	}
	conn_close(c, hd->req != NULL || hd->a.fd != -1 ?
	    "request timeout" : "idle timeout");
}

/*
 * Reads while the answers so far are taken and c->in has room; also
 * while an authorizer decides, so that a client that leaves is noticed
 * (what it sends waits in c->in, which is capped).
 */
static int
httpd_update(struct conn *c)
{
	return (buf_len(&c->out) < HIGH_WATER);
}

static void
httpd_shutdown(struct conn *c)
{
	conn_close(c, "server shutting down");
}

static void
httpd_closed(struct conn *c)
{
	struct httpd	*hd = c->role;

	if (hd->a.fd != -1) {
		close(hd->a.fd);
		hd->a.fd = -1;
	}
	if (hd->auth != NULL)
		auth_cancel(hd->auth);
	if (hd->rq != NULL) {
		resolve_cancel(hd->rq);
		hd->rq = NULL;
	}
}

/* An authorizer that runs must be reaped before c is freed. */
static int
httpd_busy(struct conn *c)
{
	struct httpd	*hd = c->role;

	return (hd->auth != NULL && auth_busy(hd->auth));
}

static void
httpd_free(struct conn *c)
{
	struct httpd	*hd = c->role;

	http_request_free(hd->req);
	if (hd->a.fd != -1)
		close(hd->a.fd);
	if (hd->auth != NULL) {
		auth_free(hd->auth);
		free(hd->auth);
	}
	grants_free(&hd->grants);
	buf_free(&hd->body);
	metrics_add(METRIC_CONN_HTTP, -1);
	free(hd);
}

const struct conn_ops httpd_ops = {
	.name = "http",
	.input = httpd_input,
	.output = httpd_output,
	.timeout = httpd_timeout,
	.update = httpd_update,
	.shutdown = httpd_shutdown,
	.closed = httpd_closed,
	.busy = httpd_busy,
	.free = httpd_free
};

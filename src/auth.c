/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Who may connect, and what a listen client may do.  Two sources, both
 * decided at the upgrade: a signed token (--jwt-key, jwt.c) whose claims
 * carry grants, taken from an "Authorization: Bearer" header, the
 * wspipeAuthorization cookie or the access_token query parameter; and an
 * authorizer program (--authorizer), run CGI-style with the request's
 * environment, whose exit status admits (0) or refuses (1: 403, 2: 401)
 * the connection and whose output lines are grants.  The program runs
 * through child.c and reports through a callback, so the loop never
 * waits for it.
 */

#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wspipe.h"
#include "jwt.h"

#define AUTH_OUTPUT_MAX		65536	/* bytes of an authorizer's output */
#define AUTH_COOKIE		"wspipeAuthorization"
#define AUTH_QUERY		"access_token"

static struct jwt_key	**auth_keys;
static size_t		  auth_nkeys;

/* Loads --jwt-key files; -1 with a message printed. */
int
auth_init(void)
{
	const char	*errstr;
	size_t		 i;

	auth_keys = xcalloc(conf.jwt_keys.n + 1, sizeof *auth_keys);
	for (i = 0; i < conf.jwt_keys.n; i++) {
		if ((auth_keys[i] = jwt_key_load(conf.jwt_keys.v[i],
		    &errstr)) == NULL) {
			fprintf(stderr, "wspipe: --jwt-key=%s: %s\n",
			    conf.jwt_keys.v[i], errstr);
			return (-1);
		}
		auth_nkeys++;
	}
	return (0);
}

/*
 * Finds name=value in a list of pairs split by any of seps (a query
 * string, a Cookie header); returns the value's length, or -1.
 */
static ssize_t
auth_pair(const char *list, const char *seps, const char *name,
    const char **value)
{
	size_t		 nlen = strlen(name), len;
	const char	*p = list;

	while (p != NULL && *p != '\0') {
		p += strspn(p, seps);
		len = strcspn(p, seps);
		if (len > nlen && strncmp(p, name, nlen) == 0 &&
		    p[nlen] == '=') {
			*value = p + nlen + 1;
			return (len - nlen - 1);
		}
		p += len;
	}
	return (-1);
}

/* The request's token, or NULL. */
static const char *
auth_find_token(const struct http_request *r, size_t *len)
{
	const char	*v, *tok;
	ssize_t		 n;

	if ((v = http_field(r, "Authorization")) != NULL &&
	    strncasecmp(v, "Bearer ", 7) == 0) {
		tok = v + 7 + strspn(v + 7, " ");
		*len = strcspn(tok, " ,");
		return (tok);
	}
	/* Repeated Cookie headers are joined with ", ". */
	if ((v = http_field(r, "Cookie")) != NULL &&
	    (n = auth_pair(v, "; ,", AUTH_COOKIE, &tok)) >= 0) {
		*len = n;
		return (tok);
	}
	if ((n = auth_pair(r->query, "&", AUTH_QUERY, &tok)) >= 0) {
		*len = n;
		return (tok);
	}
	return (NULL);
}

/*
 * Checks the request's token, adding its grants to g and its expiry to
 * *exp (0: none).  0 if it may go on, else an HTTP status with a reason:
 * with --jwt-key and no --authorizer, a token is needed.
 */
int
auth_token(const struct http_request *r, struct grants *g, long long *exp,
    const char **why)
{
	struct jwt_claims	 cl;
	const char		*tok;
	size_t			 len, i;

	*exp = 0;
	if (auth_nkeys == 0)
		return (0);
	if ((tok = auth_find_token(r, &len)) == NULL) {
		if (conf.authorizer != NULL)
			return (0);
		*why = "a token is needed";
		return (401);
	}
	if (jwt_verify(auth_keys, auth_nkeys, tok, len, (long long)time(NULL),
	    &cl, why) == -1)
		return (401);
	for (i = 0; i < cl.nsubscribe; i++)
		(void)grants_add(g, GRANT_SUBSCRIBE, cl.subscribe[i],
		    strlen(cl.subscribe[i]));
	for (i = 0; i < cl.npublish; i++)
		(void)grants_add(g, GRANT_PUBLISH, cl.publish[i],
		    strlen(cl.publish[i]));
	*exp = cl.exp;
	jwt_claims_free(&cl);
	return (0);
}

/* A chunk of the authorizer's output: kept up to AUTH_OUTPUT_MAX. */
static void
auth_readable_cb(void *arg)
{
	struct auth	*a = arg;
	char		 tmp[4096];
	ssize_t		 n;

	while ((n = child_read(&a->ch, tmp, sizeof tmp)) > 0)
		if (buf_append(&a->out, tmp, n) == -1)
			a->toolong = 1;
}

/* Nothing is left of it: decide once child.c is off the stack. */
static void
auth_gone_cb(void *arg)
{
	struct auth	*a = arg;

	a->running = 0;
	ev_timer_set(&a->finish, 0.0, 0.0);
	ev_timer_start(EV_DEFAULT, &a->finish);
}

static const struct child_cb auth_child_cb = {
	.readable = auth_readable_cb,
	.gone = auth_gone_cb
};

/* The authorizer's verdict: its status, its grants into a->grants. */
static void
auth_finish_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct auth	*a = w->data;
	const char	*p, *nl, *end, *errstr, *why = NULL;
	int		 st = a->ch.status, status = 0;

	if (a->cancelled)
		return;
	if (!WIFEXITED(st) || WEXITSTATUS(st) > 2) {
		status = 500;
		why = "the authorizer failed";
	} else if (WEXITSTATUS(st) == 1) {
		status = 403;
		why = "forbidden";
	} else if (WEXITSTATUS(st) == 2) {
		status = 401;
		why = "not authorized";
	} else if (a->toolong) {
		status = 500;
		why = "the authorizer said too much";
	}
	p = (const char *)buf_head(&a->out);
	end = p + buf_len(&a->out);
	while (status == 0 && p < end) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if (nl > p && grants_line(&a->grants, p, nl - p -
		    (nl[-1] == '\r'), &errstr) == -1) {
			log_warnx("authorizer: %s", errstr);
			status = 500;
			why = "the authorizer's output is not grants";
		}
		p = nl + 1;
	}
	a->done(a->arg, status, why);
}

/*
 * Runs the authorizer for request r on connection c; done(arg, status,
 * why) follows (status 0: admitted, grants in a->grants).  -1 with errno
 * if it cannot start.
 */
int
auth_start(struct auth *a, struct conn *c, struct http_request *r,
    const char *protocol, void (*done)(void *, int, const char *),
    void *arg)
{
	char	**env, *argv[2];
	int	  ret;

	buf_init(&a->out, AUTH_OUTPUT_MAX);
	a->done = done;
	a->arg = arg;
	ev_init(&a->finish, auth_finish_cb);
	a->finish.data = a;
	env = env_build(c, r, protocol);
	argv[0] = conf.authorizer;
	argv[1] = NULL;
	ret = child_spawn(&a->ch, &auth_child_cb, a, c->tag, conf.authorizer,
	    argv, env, 0);
	env_free(env);
	if (ret == -1)
		return (-1);
	a->running = 1;
	/* It is asked nothing: its stdin ends at once; it is heard out. */
	child_close_stdin(&a->ch);
	child_update(&a->ch, 1);
	return (0);
}

/* The connection is gone: the authorizer is ended, its verdict unheard. */
void
auth_cancel(struct auth *a)
{
	a->cancelled = 1;
	ev_timer_stop(EV_DEFAULT, &a->finish);
	if (a->running) {
		child_terminate(&a->ch);
		child_discard(&a->ch);
	}
}

/* 1 while the authorizer must still be reaped. */
int
auth_busy(const struct auth *a)
{
	return (a->running);
}

void
auth_free(struct auth *a)
{
	ev_timer_stop(EV_DEFAULT, &a->finish);
	buf_free(&a->out);
	grants_free(&a->grants);
}

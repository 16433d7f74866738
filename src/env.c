/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The environment a program starts with: CGI/1.1 variables (RFC 3875 4.1)
 * as websocketd sets them, one HTTP_* variable per request header, and the
 * --passenv variables captured at start-up.  It is built from nothing, so
 * nothing else of the gateway's environment leaks.  Two request headers
 * never become variables: Proxy (httpoxy would make it HTTP_PROXY) and any
 * header whose name has an underscore, which could otherwise pose as a
 * header a proxy set ("X_Forwarded_For" for "X-Forwarded-For").
 */

#include <netinet/in.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wspipe.h"

#define ENV_DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"

/* Reads the --passenv variables once; empty ones are skipped. */
void
env_capture_passenv(void)
{
	char		*list, *name, *p, *var, *value;
	int		 have_path = 0;

	list = xstrdup(conf.passenv);
	for (p = list; (name = strsep(&p, ",")) != NULL; ) {
		name += strspn(name, " \t");
		name[strcspn(name, " \t")] = '\0';
		if (*name == '\0' || strchr(name, '=') != NULL ||
		    strcmp(name, "HTTPS") == 0)
			continue;
		if ((value = getenv(name)) == NULL || *value == '\0')
			continue;
		if (strcmp(name, "PATH") == 0)
			have_path = 1;
		xasprintf(&var, "%s=%s", name, value);
		/* websocketd compatibility: CR and LF become spaces. */
		for (value = var; *value != '\0'; value++)
			if (*value == '\r' || *value == '\n')
				*value = ' ';
		strlist_add(&conf.passenv_vars, var);
	}
	free(list);
	if (!have_path)
		strlist_add(&conf.passenv_vars,
		    xstrdup("PATH=" ENV_DEFAULT_PATH));
}

static void
env_add(struct strlist *l, const char *name, const char *value)
{
	char	*var;

	xasprintf(&var, "%s=%s", name, value != NULL ? value : "");
	strlist_add(l, var);
}

/* Splits the Host header into SERVER_NAME and SERVER_PORT. */
static void
env_add_host(struct strlist *l, const char *host)
{
	const char	*colon = NULL, *p;
	char		*name;

	if (host == NULL || *host == '\0') {
		env_add(l, "SERVER_NAME", "");
		env_add(l, "SERVER_PORT", "80");
		return;
	}
	if (*host == '[') {
		if ((p = strchr(host, ']')) != NULL && p[1] == ':')
			colon = p + 1;
	} else
		colon = strrchr(host, ':');
	name = xstrndup(host, colon != NULL ? (size_t)(colon - host) :
	    strlen(host));
	env_add(l, "SERVER_NAME", name);
	env_add(l, "SERVER_PORT", colon != NULL && colon[1] != '\0' ?
	    colon + 1 : "80");
	free(name);
}

/* Turns a header name into HTTP_NAME; returns NULL to drop it. */
static char *
env_header_name(const char *name)
{
	char	*var, *p;

	if (strchr(name, '_') != NULL || strcasecmp(name, "Proxy") == 0)
		return (NULL);
	xasprintf(&var, "HTTP_%s", name);
	for (p = var + 5; *p != '\0'; p++)
		*p = *p == '-' ? '_' : toupper((unsigned char)*p);
	return (var);
}

/*
 * Adds HTTP_* variables.  http.c has already joined repeated headers with
 * ", ", and names with '_' are dropped, so no two headers meet here.
 */
static void
env_add_headers(struct strlist *l, struct http_request *h)
{
	const char	*name, *value;
	char		*var, *joined, *p;
	int		 k;

	for (k = 0; k < h->nfields; k++) {
		name = h->fields[k].name;
		value = h->fields[k].value;
		if ((var = env_header_name(name)) == NULL)
			continue;
		xasprintf(&joined, "%s=%s", var, value);
		free(var);
		for (p = joined; *p != '\0'; p++)
			if (*p == '\r' || *p == '\n')
				*p = ' ';
		strlist_add(l, joined);
	}
}

/* Returns 1 if addr is one of the --trust-proxy addresses. */
static int
env_trusted(const char *addr)
{
	const char	*p = conf.trust_proxy, *e;
	size_t		 n = strlen(addr);

	while (p != NULL && *p != '\0') {
		p += strspn(p, " ,");
		e = p + strcspn(p, " ,");
		if ((size_t)(e - p) == n && strncmp(p, addr, n) == 0)
			return (1);
		p = e;
	}
	return (0);
}

static int
env_is_address(const char *s)
{
	struct in6_addr	a6;
	struct in_addr	a4;

	return (inet_pton(AF_INET, s, &a4) == 1 ||
	    inet_pton(AF_INET6, s, &a6) == 1);
}

/*
 * The client's address: the peer's, or behind a trusted proxy the right-
 * most X-Forwarded-For entry that is not a trusted proxy itself.
 */
static void
env_remote(struct conn *c, struct http_request *h, char *out, size_t outsz,
    int *https)
{
	const char	*xff = http_field(h, "X-Forwarded-For");
	const char	*proto = http_field(h, "X-Forwarded-Proto");
	char		*list, *item, *p;

	strlcpy(out, c->addr, outsz);
	*https = c->tls != NULL;
	if (conf.trust_proxy == NULL || !env_trusted(c->addr))
		return;
	if (proto != NULL && strcasecmp(proto, "https") == 0)
		*https = 1;
	if (xff == NULL)
		return;
	list = xstrdup(xff);
	while ((p = strrchr(list, ',')) != NULL || *list != '\0') {
		item = p != NULL ? p + 1 : list;
		item += strspn(item, " \t");
		item[strcspn(item, " \t")] = '\0';
		/* Only an address is believed, never free text. */
		if (!env_is_address(item))
			break;
		strlcpy(out, item, outsz);
		if (!env_trusted(item))
			break;
		if (p == NULL)
			break;
		*p = '\0';
	}
	free(list);
}

/* mod_ssl's variables for the TLS session and the client certificate. */
static void
env_add_tls(struct strlist *l, struct tls *t)
{
	struct tls_info	ti;

	tls_info(t, &ti);
	env_add(l, "SSL_PROTOCOL", ti.protocol);
	env_add(l, "SSL_CIPHER", ti.cipher);
	if (ti.subject[0] == '\0')
		return;
	env_add(l, "SSL_CLIENT_S_DN", ti.subject);
	env_add(l, "SSL_CLIENT_I_DN", ti.issuer);
	env_add(l, "SSL_CLIENT_M_SERIAL", ti.serial);
	env_add(l, "SSL_CLIENT_VERIFY", ti.verified ? "SUCCESS" : "FAILED");
}

/* The client's address as REMOTE_ADDR gives it (--trust-proxy). */
void
env_client_addr(struct conn *c, struct http_request *h, char *out,
    size_t outsz)
{
	int	https;

	env_remote(c, h, out, outsz, &https);
}

/*
 * Returns a NULL-terminated environment for the program of c: a
 * WebSocket program (protocol is the chosen subprotocol) or, with a NULL
 * protocol, a CGI script.
 */
char **
env_build(struct conn *c, struct http_request *h, const char *protocol)
{
	struct strlist	 l = { NULL, 0 };
	const char	*script = h->script_name;
	const char	*info = h->path_info;
	const char	*file = h->script_file;
	const char	*type = http_field(h, "Content-Type");
	char		 id[64], remote[64], *translated = NULL, len[32];
	size_t		 i;
	int		 https;

	env_remote(c, h, remote, sizeof remote, &https);
	env_add(&l, "SERVER_SOFTWARE", WSPIPE_NAME "/" PACKAGE_VERSION);
	for (i = 0; i < conf.passenv_vars.n; i++)
		strlist_add(&l, xstrdup(conf.passenv_vars.v[i]));
	env_add(&l, "REMOTE_ADDR", remote);
	env_add(&l, "REMOTE_HOST", c->host[0] != '\0' ? c->host : remote);
	env_add(&l, "REMOTE_PORT", c->port);
	env_add_host(&l, http_field(h, "Host"));
	env_add(&l, "SERVER_PROTOCOL", h->proto);
	env_add(&l, "GATEWAY_INTERFACE", "CGI/1.1");
	env_add(&l, "REQUEST_METHOD", h->method);
	if (script != NULL) {
		/* RFC 3875 4.1.6: PATH_TRANSLATED maps PATH_INFO. */
		env_add(&l, "SCRIPT_NAME", script);
		env_add(&l, "PATH_INFO", info);
		if (*info != '\0')
			xasprintf(&translated, "%s%s", protocol == NULL ?
			    conf.cgidir : conf.dir, info);
		env_add(&l, "PATH_TRANSLATED", translated != NULL ?
		    translated : "");
		free(translated);
		env_add(&l, "SCRIPT_FILENAME", file);
		env_add(&l, "DOCUMENT_ROOT", protocol == NULL ? conf.cgidir :
		    conf.dir);
	} else {
		/* websocketd: the whole path is PATH_INFO, translated too. */
		env_add(&l, "SCRIPT_NAME", "");
		env_add(&l, "PATH_INFO", h->decoded);
		env_add(&l, "PATH_TRANSLATED", h->decoded);
	}
	env_add(&l, "QUERY_STRING", h->query);
	env_add(&l, "REQUEST_URI", h->url);
	env_add(&l, "AUTH_TYPE", "");
	snprintf(len, sizeof len, "%llu", h->content_length);
	env_add(&l, "CONTENT_LENGTH", h->has_body ? len : "");
	env_add(&l, "CONTENT_TYPE", type != NULL && protocol == NULL ?
	    type : "");
	env_add(&l, "REMOTE_IDENT", "");
	env_add(&l, "REMOTE_USER", "");
	snprintf(id, sizeof id, "%llx%04lx",
	    (unsigned long long)(c->start * 1e6), c->id & 0xffff);
	env_add(&l, "UNIQUE_ID", id);
	if (protocol != NULL)
		env_add(&l, "WEBSOCKET_PROTOCOL", protocol);
	if (conf.listen && listen_broker_path() != NULL)
		env_add(&l, "WSPIPE_BROKER", listen_broker_path());
	if (https)
		env_add(&l, "HTTPS", "on");
	if (c->tls != NULL)
		env_add_tls(&l, c->tls);
	env_add_headers(&l, h);
	if (l.v == NULL)
		strlist_add(&l, NULL);
	return (l.v);
}

void
env_free(char **env)
{
	char	**p;

	if (env == NULL)
		return;
	for (p = env; *p != NULL; p++)
		free(*p);
	free(env);
}

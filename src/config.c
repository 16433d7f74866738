/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The command line: websocketd's options with websocketd's spelling
 * (one or two dashes, "--x=v" or "--x v", booleans as "--x" or
 * "--x=false"), defaults, validation, and the COMMAND resolved once at
 * start-up so that a typo fails now rather than at the first connection.
 */

#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "wspipe.h"

struct config	conf;

enum {
	OPT_PORT = 256, OPT_ADDRESS, OPT_BINARY, OPT_MAXFORKS, OPT_MAXMSG,
	OPT_CLOSEMS, OPT_PASSENV, OPT_HEADER, OPT_HEADER_WS, OPT_HEADER_HTTP,
	OPT_ORIGIN, OPT_SAMEORIGIN, OPT_SUBPROTOCOL, OPT_LOGLEVEL, OPT_LOGFORMAT, OPT_DEFLATE,
	OPT_DEFLATE_MIN, OPT_HELP,
	OPT_VERSION, OPT_PING_INTERVAL, OPT_PING_TIMEOUT, OPT_SSL,
	OPT_SSLCERT, OPT_SSLKEY, OPT_LISTEN, OPT_LISTEN_PUBLISH, OPT_BROKER,
	OPT_BROKER_SOCKET, OPT_LISTEN_MAX_CLIENTS, OPT_LISTEN_MAX_PER_ADDRESS,
	OPT_LISTEN_MAX_SUBS, OPT_LISTEN_CACHE, OPT_LISTEN_HISTORY, OPT_REDIS, OPT_REDIS_TIMEOUT, OPT_METRICS, OPT_JWT_KEY, OPT_AUTHORIZER,
	OPT_PUBLISHERS, OPT_PUBLISHER_GRACE,
	OPT_STATICDIR, OPT_CGIDIR, OPT_DIR, OPT_DEVCONSOLE, OPT_TRUST_PROXY,
	OPT_PINGMS, OPT_LICENSE, OPT_UNIXSOCKET, OPT_UNIXSOCKET_MODE,
	OPT_REDIRPORT, OPT_SSLCA, OPT_PASSSTDERR, OPT_REVERSELOOKUP
};

static const struct option config_options[] = {
	{ "port",		required_argument, NULL, OPT_PORT },
	{ "address",		required_argument, NULL, OPT_ADDRESS },
	{ "binary",		optional_argument, NULL, OPT_BINARY },
	{ "maxforks",		required_argument, NULL, OPT_MAXFORKS },
	{ "maxmsg",		required_argument, NULL, OPT_MAXMSG },
	{ "closems",		required_argument, NULL, OPT_CLOSEMS },
	{ "passenv",		required_argument, NULL, OPT_PASSENV },
	{ "header",		required_argument, NULL, OPT_HEADER },
	{ "header-ws",		required_argument, NULL, OPT_HEADER_WS },
	{ "header-http",	required_argument, NULL, OPT_HEADER_HTTP },
	{ "origin",		required_argument, NULL, OPT_ORIGIN },
	{ "sameorigin",		optional_argument, NULL, OPT_SAMEORIGIN },
	{ "subprotocol",	required_argument, NULL, OPT_SUBPROTOCOL },
	{ "loglevel",		required_argument, NULL, OPT_LOGLEVEL },
	{ "logformat",		required_argument, NULL, OPT_LOGFORMAT },
	{ "deflate",		optional_argument, NULL, OPT_DEFLATE },
	{ "deflate-min",	required_argument, NULL, OPT_DEFLATE_MIN },
	{ "ping-interval",	required_argument, NULL, OPT_PING_INTERVAL },
	{ "ping-timeout",	required_argument, NULL, OPT_PING_TIMEOUT },
	{ "ssl",		optional_argument, NULL, OPT_SSL },
	{ "staticdir",		required_argument, NULL, OPT_STATICDIR },
	{ "cgidir",		required_argument, NULL, OPT_CGIDIR },
	{ "dir",		required_argument, NULL, OPT_DIR },
	{ "devconsole",		optional_argument, NULL, OPT_DEVCONSOLE },
	{ "trust-proxy",	required_argument, NULL, OPT_TRUST_PROXY },
	{ "listen",		optional_argument, NULL, OPT_LISTEN },
	{ "listen-publish",	optional_argument, NULL, OPT_LISTEN_PUBLISH },
	{ "broker",		required_argument, NULL, OPT_BROKER },
	{ "broker-socket",	required_argument, NULL, OPT_BROKER_SOCKET },
	{ "listen-max-clients",	required_argument, NULL,
	    OPT_LISTEN_MAX_CLIENTS },
	{ "listen-max-per-address", required_argument, NULL,
	    OPT_LISTEN_MAX_PER_ADDRESS },
	{ "listen-max-subs",	required_argument, NULL, OPT_LISTEN_MAX_SUBS },
	{ "listen-cache",	required_argument, NULL, OPT_LISTEN_CACHE },
	{ "listen-history",	required_argument, NULL, OPT_LISTEN_HISTORY },
	{ "redis",		required_argument, NULL, OPT_REDIS },
	{ "redis-timeout",	required_argument, NULL, OPT_REDIS_TIMEOUT },
	{ "publishers",		required_argument, NULL, OPT_PUBLISHERS },
	{ "publisher-grace",	required_argument, NULL, OPT_PUBLISHER_GRACE },
	{ "metrics",		required_argument, NULL, OPT_METRICS },
	{ "jwt-key",		required_argument, NULL, OPT_JWT_KEY },
	{ "authorizer",		required_argument, NULL, OPT_AUTHORIZER },
	{ "sslcert",		required_argument, NULL, OPT_SSLCERT },
	{ "sslkey",		required_argument, NULL, OPT_SSLKEY },
	{ "sslca",		required_argument, NULL, OPT_SSLCA },
	{ "passstderr",		optional_argument, NULL, OPT_PASSSTDERR },
	{ "pingms",		required_argument, NULL, OPT_PINGMS },
	{ "maxframesize",	required_argument, NULL, OPT_MAXMSG },
	{ "license",		no_argument,	   NULL, OPT_LICENSE },
	{ "help",		no_argument,	   NULL, OPT_HELP },
	{ "version",		no_argument,	   NULL, OPT_VERSION },
	/* websocketd options that wspipe does not have yet. */
	{ "redirport",		required_argument, NULL, OPT_REDIRPORT },
	{ "reverselookup",	optional_argument, NULL, OPT_REVERSELOOKUP },
	{ "unixsocket",		required_argument, NULL, OPT_UNIXSOCKET },
	{ "unixsocket-mode",	required_argument, NULL, OPT_UNIXSOCKET_MODE },
	{ NULL,			0,		   NULL, 0 }
};

/* --license prints COPYING, compiled in as config_license_text. */
#include "copying.h"

static const char *const config_levels[] = {
	"debug", "trace", "access", "info", "error", "fatal", "none"
};

void
usage(int status)
{
	FILE	*f = status == 0 ? stdout : stderr;

	fprintf(f,
"usage: wspipe [--address=addr] [--binary] [--closems=ms] [--header=header]\n"
"              [--header-http=header] [--header-ws=header] [--loglevel=level]\n"
"              [--logformat=text|json] [--deflate[=bool]] [--deflate-min=bytes]\n"
"              [--maxforks=n] [--maxmsg=bytes] [--origin=list] [--passenv=list]\n"
"              [--ping-interval=seconds] [--ping-timeout=seconds]\n"
"              [--pingms=ms] [--maxframesize=bytes]\n"
"              [--port=port] [--sameorigin] [--ssl --sslcert=file --sslkey=file]\n"
"              [--sslca=file] [--passstderr] [--reverselookup]\n"
"              [--subprotocol=list] [--staticdir=dir] [--cgidir=dir]\n"
"              [--devconsole] [--trust-proxy=list] [--redirport=port]\n"
"              [--unixsocket=path]\n"
"              [--unixsocket-mode=mode] [--listen=path]\n"
"              [--listen-publish[=prefix]] [--broker=socket]\n"
"              [--broker-socket=socket] [--listen-max-clients=n]\n"
"              [--listen-max-per-address=n] [--listen-max-subs=n]\n"
"              [--listen-cache=bytes] [--listen-history=n]\n"
"              [--redis=url] [--redis-timeout=seconds]\n"
"              [--publishers=dir] [--publisher-grace=seconds]\n"
"              [--metrics=path] [--jwt-key=file] [--authorizer=program]\n"
"              command [arg ...]\n"
"       wspipe [options] --dir=dir\n"
"       wspipe [options] --listen\n"
"       wspipe broker --socket=path [--group=group] [--max-retained=bytes]\n"
"                     [--max-states=n] [--max-resources=n]\n"
"                     [--guest-retained=bytes] [--guest-states=n]\n"
"                     [--history=n] [--loglevel=level] [--logformat=format]\n"
"                     [--redis=url] [--redis-timeout=seconds]\n"
"                     [--publishers=dir] [--publisher-grace=seconds]\n"
"                     [--max-publishers=n] [--closems=ms]\n"
"       wspipe publish [--socket=path] resource [data]\n"
"       wspipe subscribe [--socket=path] resource\n"
"       wspipe --help | --version | --license\n"
"\n"
"Runs COMMAND for every WebSocket connection: each message becomes a line\n"
"on its stdin, each line it prints becomes a message.\n"
"\n"
"  --port=PORT         TCP port to listen on (default 80, 443 with --ssl)\n"
"  --address=ADDR      address to listen on, repeatable (default: all)\n"
"  --redirport=PORT    plain HTTP port whose requests get a 301 to --port\n"
"                      (https:// with --ssl)\n"
"  --unixsocket=PATH   also (alone: only) listen on this UNIX socket\n"
"  --unixsocket-mode=MODE  its octal mode (default 0660)\n"
"  --binary            relay raw bytes as binary messages\n"
"  --maxforks=N        most programs running at once; 0: no limit\n"
"                      but the fd limit (default 1024)\n"
"  --maxmsg=BYTES      largest message accepted from a client; 0: no\n"
"                      limit (default 16777216)\n"
"  --maxframesize=BYTES  websocketd's name for --maxmsg\n"
"  --closems=MS        added to each wait before signalling a program\n"
"                      whose client has gone (default 0)\n"
"  --passenv=LIST      variables passed to programs (default\n"
"                      PATH,LD_LIBRARY_PATH)\n"
"  --header=HEADER     \"Name: value\" added to every HTTP answer\n"
"  --header-ws=HEADER  \"Name: value\" added to WebSocket answers\n"
"  --header-http=HEADER \"Name: value\" added to plain HTTP answers\n"
"  --origin=LIST       accepted Origin hosts: host[:port] or\n"
"                      scheme://host[:port], comma-separated\n"
"  --sameorigin        the Origin must match the Host header\n"
"  --ssl               serve https:// and wss:// (TLS 1.2 or later)\n"
"  --sslcert=FILE      TLS certificate chain, PEM\n"
"  --sslkey=FILE       TLS private key, PEM\n"
"  --sslca=FILE        require client certificates from these CAs (PEM)\n"
"  --reverselookup    REMOTE_HOST from the client address's DNS name\n"
"  --passstderr        stdout and stderr lines as JSON messages:\n"
"                      {\"stream\":\"stdout\"|\"stderr\",\"data\":\"...\"}\n"
"  --subprotocol=LIST  subprotocols accepted (default: any offered)\n"
"  --ping-interval=SECONDS  ping a client silent for this long; 0: never\n"
"                      (default 30)\n"
"  --ping-timeout=SECONDS   close a client that has not answered a ping\n"
"                      within this time; 0: never (default 20)\n"
"  --pingms=MS         websocketd's: --ping-interval in milliseconds, with\n"
"                      twice that as --ping-timeout\n"
"  --staticdir=DIR     serve the files under DIR over plain HTTP\n"
"  --cgidir=DIR        run executables under DIR as CGI scripts\n"
"  --dir=DIR           WebSocket /a/b runs DIR/a/b (instead of COMMAND)\n"
"  --devconsole        plain HTTP GETs get a console page for the endpoint\n"
"  --trust-proxy=LIST  addresses whose X-Forwarded-For/-Proto are believed\n"
"  --listen[=PATH]     listen mode (pub/sub through a broker) at PATH,\n"
"                      or at every path\n"
"  --listen-publish[=PREFIX]  browsers may publish (to PREFIX...)\n"
"  --broker=SOCKET     use the running broker at SOCKET\n"
"  --broker-socket=SOCKET  where our own broker listens\n"
"  --listen-max-clients=N  listen clients at once (default 10000)\n"
"  --listen-max-per-address=N  listen clients from one address\n"
"                      (default 256)\n"
"  --listen-max-subs=N subscriptions per listen client (default 1024)\n"
"  --listen-cache=BYTES  states the gateway caches (default 67108864)\n"
"  --listen-history=N  states our own broker keeps per resource, for\n"
"                      clients that resume (default 1)\n"
"  --redis=URL         our own broker shares resources through Redis:\n"
"                      redis://HOST[:PORT][/DB] or unix:///PATH[?db=N];\n"
"                      password from WSPIPE_REDIS_PASSWORD\n"
"  --redis-timeout=SECONDS  Redis not answering this long is given up\n"
"                      and connected again (default 2)\n"
"  --publishers=DIR    our own broker runs DIR/x/y while resource /x/y\n"
"                      has subscribers; each line it prints is a state\n"
"  --publisher-grace=SECONDS  a publisher nobody follows ends after\n"
"                      this long (default 5)\n"
"  --jwt-key=FILE      listen clients need a token signed with this key\n"
"                      (HMAC secret or PEM public key), repeatable\n"
"  --authorizer=PROGRAM  run at each upgrade: exit 0 admits (its output\n"
"                      lines are grants), 1 answers 403, 2 answers 401\n"
"  --logformat=FORMAT  text (default) or json: one object per line\n"
"  --metrics=PATH      serve counters and gauges for Prometheus at PATH\n"
"  --deflate[=false]   permessage-deflate when a client offers it (default\n"
"                      on; --deflate=false: never)\n"
"  --deflate-min=BYTES messages shorter than this go uncompressed\n"
"                      (default 64)\n"
"  --loglevel=LEVEL    debug, trace, access, info, error, fatal or none\n"
"                      (default access)\n"
"  --help              print this help and exit\n"
"  --version           print the version and exit\n"
"  --license           print the licence and exit\n"
"\n"
"Exit status: 0 after a normal or signalled shutdown, 1 for a bad\n"
"configuration or COMMAND, 2 for a usage error, 3 if it cannot listen.\n"
"See wspipe(1).\n");
	exit(status);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
config_die(int status, const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "wspipe: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (status == EXIT_USAGE)
		fprintf(stderr, "Try 'wspipe --help'.\n");
	exit(status);
}

static long long
config_number(const char *name, const char *s, long long min, long long max)
{
	const char	*errstr;
	long long	 n;

	n = strtonum(s, min, max, &errstr);
	if (errstr != NULL)
		config_die(EXIT_CONFIG, "--%s=%s: %s (%lld to %lld)", name, s,
		    errstr, min, max);
	return (n);
}

/* An octal file mode, such as 0660. */
static mode_t
config_mode(const char *s)
{
	char		*end;
	unsigned long	 m;

	errno = 0;
	m = strtoul(s, &end, 8);
	if (*s == '\0' || *end != '\0' || errno != 0 || m > 0777)
		config_die(EXIT_CONFIG, "--unixsocket-mode=%s: an octal mode "
		    "up to 0777", s);
	return ((mode_t)m);
}

static int
config_bool(const char *name, const char *s)
{
	if (s == NULL || strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0)
		return (1);
	if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0)
		return (0);
	config_die(EXIT_USAGE, "--%s=%s: expected true or false", name, s);
}

/* An extra answer header must be "Name: value" with a token name. */
static void
config_header(const char *name, const char *s)
{
	const char	*colon, *p;

	colon = strchr(s, ':');
	if (colon == NULL || colon == s || strpbrk(s, "\r\n") != NULL)
		config_die(EXIT_CONFIG, "--%s: expected \"Name: value\"",
		    name);
	for (p = s; p < colon; p++)
		if (*p <= ' ' || *p >= 127 || strchr("()<>@,;:\\\"/[]?={}",
		    *p) != NULL)
			config_die(EXIT_CONFIG, "--%s: bad header name", name);
}

static void
config_add_header(struct strlist *l, const char *name, const char *s)
{
	char	*h;
	size_t	 n;

	config_header(name, s);
	n = strcspn(s, ":");
	xasprintf(&h, "%.*s: %s", (int)n, s, s + n + 1 +
	    strspn(s + n + 1, " \t"));
	strlist_add(l, h);
}

/* --logformat's value: 1 for json, 0 for text; dies otherwise. */
int
config_logformat(const char *s)
{
	if (strcmp(s, "text") == 0)
		return (0);
	if (strcmp(s, "json") == 0)
		return (1);
	config_die(EXIT_CONFIG, "--logformat=%s: expected text or json", s);
}

int
config_loglevel(const char *s)
{
	size_t	i;

	for (i = 0; i < sizeof config_levels / sizeof config_levels[0]; i++)
		if (strcasecmp(s, config_levels[i]) == 0)
			return (i);
	config_die(EXIT_CONFIG, "--loglevel=%s: expected debug, trace, access, "
	    "info, error, fatal or none", s);
}

/* Checks seconds from min to max (the broker reads them again). */
static void
config_seconds(const char *name, const char *s, double min, double max)
{
	char	*end;
	double	 d;

	d = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || !(d >= min && d <= max))
		config_die(EXIT_CONFIG, "--%s=%s: give seconds, %g to %g",
		    name, s, min, max);
}

/* A directory option: resolved now, so that later checks compare paths. */
static char *
config_dir(const char *name, const char *dir)
{
	struct stat	 sb;
	char		*real;

	if ((real = realpath(dir, NULL)) == NULL || stat(real, &sb) == -1 ||
	    !S_ISDIR(sb.st_mode))
		config_die(EXIT_CONFIG, "--%s=%s: not a directory", name, dir);
	return (real);
}

/* Finds COMMAND as execvp would; returns a malloc'd path or NULL. */
static char *
config_resolve(const char *cmd)
{
	struct stat	 sb;
	const char	*path, *p, *e;
	char		*full;

	if (strchr(cmd, '/') != NULL) {
		if (stat(cmd, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    access(cmd, X_OK) == 0)
			return (xstrdup(cmd));
		return (NULL);
	}
	if ((path = getenv("PATH")) == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; ; p = e + 1) {
		e = strchr(p, ':');
		if (e == NULL)
			e = p + strlen(p);
		xasprintf(&full, "%.*s%s%s", (int)(e - p), p,
		    e == p ? "./" : "/", cmd);
		if (stat(full, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    access(full, X_OK) == 0)
			return (full);
		free(full);
		if (*e == '\0')
			return (NULL);
	}
}

void
config_parse(int argc, char **argv)
{
	int	ch, i;

	conf.port = 0;
	conf.maxforks = 1024;
	conf.maxmsg = 16 * 1024 * 1024;
	conf.loglevel = LOG_LEVEL_ACCESS;
	conf.ping_interval = 30;
	conf.ping_timeout = 20;
	conf.passenv = xstrdup("PATH,LD_LIBRARY_PATH");
	conf.unixsocket_mode = 0660;
	conf.listen_max_clients = 10000;
	conf.listen_max_per_address = 256;
	conf.listen_max_subs = 1024;
	conf.listen_cache = 64 * 1024 * 1024;
	conf.listen_history = 1;
	conf.deflate = 1;
	conf.deflate_min = 64;

	opterr = 0;
	while ((ch = getopt_long_only(argc, argv, "+", config_options,
	    NULL)) != -1) {
		switch (ch) {
		case OPT_PORT:
			conf.port = config_number("port", optarg, 1, 65535);
			break;
		case OPT_ADDRESS:
			strlist_add(&conf.addresses, xstrdup(optarg));
			break;
		case OPT_BINARY:
			conf.binary = config_bool("binary", optarg);
			break;
		case OPT_MAXFORKS:
			conf.maxforks = config_number("maxforks", optarg, 0,
			    INT_MAX);
			break;
		case OPT_MAXMSG:
			conf.maxmsg = config_number("maxmsg", optarg, 0,
			    LLONG_MAX);
			break;
		case OPT_CLOSEMS:
			conf.closems = config_number("closems", optarg, 0,
			    3600 * 1000);
			break;
		case OPT_PASSENV:
			free(conf.passenv);
			conf.passenv = xstrdup(optarg);
			break;
		case OPT_HEADER:
			config_add_header(&conf.headers, "header", optarg);
			break;
		case OPT_HEADER_WS:
			config_add_header(&conf.headers_ws, "header-ws",
			    optarg);
			break;
		case OPT_HEADER_HTTP:
			config_add_header(&conf.headers_http, "header-http",
			    optarg);
			break;
		case OPT_ORIGIN:
			free(conf.origin);
			conf.origin = xstrdup(optarg);
			break;
		case OPT_SAMEORIGIN:
			conf.sameorigin = config_bool("sameorigin", optarg);
			break;
		case OPT_SUBPROTOCOL:
			free(conf.subprotocol);
			conf.subprotocol = xstrdup(optarg);
			break;
		case OPT_LOGLEVEL:
			conf.loglevel = config_loglevel(optarg);
			break;
		case OPT_LOGFORMAT:
			conf.logjson = config_logformat(optarg);
			break;
		case OPT_DEFLATE:
			conf.deflate = config_bool("deflate", optarg);
			break;
		case OPT_DEFLATE_MIN:
			conf.deflate_min = config_number("deflate-min", optarg,
			    0, 1024 * 1024 * 1024);
			break;
		case OPT_PING_INTERVAL:
			conf.ping_interval = config_number("ping-interval",
			    optarg, 0, 86400);
			break;
		case OPT_STATICDIR:
			conf.staticdir = config_dir("staticdir", optarg);
			break;
		case OPT_CGIDIR:
			conf.cgidir = config_dir("cgidir", optarg);
			break;
		case OPT_DIR:
			conf.dir = config_dir("dir", optarg);
			break;
		case OPT_DEVCONSOLE:
			conf.devconsole = config_bool("devconsole", optarg);
			break;
		case OPT_TRUST_PROXY:
			free(conf.trust_proxy);
			conf.trust_proxy = xstrdup(optarg);
			break;
		case OPT_LISTEN:
			conf.listen = 1;
			free(conf.listen_path);
			conf.listen_path = optarg != NULL ? xstrdup(optarg) :
			    NULL;
			/* It is baked into listen.js as a string. */
			if (optarg != NULL && (optarg[0] != '/' ||
			    strpbrk(optarg, "\"\\<> \t") != NULL))
				config_die(EXIT_CONFIG, "--listen=%s: a path "
				    "starts with / and has no quotes, spaces, "
				    "< or >", optarg);
			break;
		case OPT_LISTEN_PUBLISH:
			free(conf.listen_publish);
			conf.listen_publish = xstrdup(optarg != NULL ?
			    optarg : "");
			break;
		case OPT_BROKER:
			free(conf.broker);
			conf.broker = xstrdup(optarg);
			break;
		case OPT_LISTEN_MAX_CLIENTS:
			conf.listen_max_clients = config_number(
			    "listen-max-clients", optarg, 1, 1000000);
			break;
		case OPT_LISTEN_MAX_PER_ADDRESS:
			conf.listen_max_per_address = config_number(
			    "listen-max-per-address", optarg, 1, 1000000);
			break;
		case OPT_LISTEN_MAX_SUBS:
			conf.listen_max_subs = config_number("listen-max-subs",
			    optarg, 1, 1000000);
			break;
		case OPT_LISTEN_CACHE:
			/* At least one state of the largest size. */
			conf.listen_cache = config_number("listen-cache",
			    optarg, 65536, LLONG_MAX);
			break;
		case OPT_LISTEN_HISTORY:
			conf.listen_history = config_number("listen-history",
			    optarg, 1, 1000000);
			break;
		case OPT_AUTHORIZER:
			free(conf.authorizer);
			if ((conf.authorizer = config_resolve(optarg)) == NULL)
				config_die(EXIT_CONFIG, "--authorizer=%s: not "
				    "found or not executable", optarg);
			break;
		case OPT_JWT_KEY:
			strlist_add(&conf.jwt_keys, optarg);
			break;
		case OPT_METRICS:
			if (optarg[0] != '/')
				config_die(EXIT_CONFIG, "--metrics=%s: a path "
				    "starts with /", optarg);
			free(conf.metrics);
			conf.metrics = xstrdup(optarg);
			break;
		case OPT_REDIS:
			free(conf.redis);
			conf.redis = xstrdup(optarg);
			break;
		case OPT_REDIS_TIMEOUT:
			free(conf.redis_timeout);
			conf.redis_timeout = xstrdup(optarg);
			break;
		case OPT_PUBLISHERS:
			free(conf.publishers);
			conf.publishers = config_dir("publishers", optarg);
			break;
		case OPT_PUBLISHER_GRACE:
			config_seconds("publisher-grace", optarg, 0, 86400);
			free(conf.publisher_grace);
			conf.publisher_grace = xstrdup(optarg);
			break;
		case OPT_BROKER_SOCKET:
			free(conf.broker_socket);
			conf.broker_socket = xstrdup(optarg);
			break;
		case OPT_SSL:
			conf.ssl = config_bool("ssl", optarg);
			break;
		case OPT_SSLCERT:
			free(conf.sslcert);
			conf.sslcert = xstrdup(optarg);
			break;
		case OPT_SSLKEY:
			free(conf.sslkey);
			conf.sslkey = xstrdup(optarg);
			break;
		case OPT_REVERSELOOKUP:
			conf.reverselookup = config_bool("reverselookup",
			    optarg);
			break;
		case OPT_PASSSTDERR:
			conf.passstderr = config_bool("passstderr", optarg);
			break;
		case OPT_SSLCA:
			free(conf.sslca);
			conf.sslca = xstrdup(optarg);
			break;
		case OPT_PING_TIMEOUT:
			conf.ping_timeout = config_number("ping-timeout",
			    optarg, 0, 86400);
			break;
		case OPT_HELP:
			usage(0);
			/* NOTREACHED */
		case OPT_REDIRPORT:
			conf.redirport = config_number("redirport", optarg, 1,
			    65535);
			break;
		case OPT_UNIXSOCKET:
			free(conf.unixsocket);
			conf.unixsocket = xstrdup(optarg);
			break;
		case OPT_UNIXSOCKET_MODE:
			conf.unixsocket_mode = config_mode(optarg);
			break;
		case OPT_PINGMS:
			/* websocketd's: the pong is awaited twice as long. */
			conf.ping_interval = config_number("pingms", optarg, 0,
			    86400000) / 1000.0;
			conf.ping_timeout = 2 * conf.ping_interval;
			break;
		case OPT_LICENSE:
			fputs(config_license_text, stdout);
			exit(0);
		case OPT_VERSION:
			printf("%s %s\n", WSPIPE_NAME, PACKAGE_VERSION);
			exit(0);
		case ':':
			config_die(EXIT_USAGE, "%s needs a value",
			    argv[optind - 1]);
		default:
			config_die(EXIT_USAGE, "unknown option %s",
			    argv[optind - 1]);
		}
	}
	/* websocketd: TLS needs all three options, and moves the port. */
	if ((conf.ssl || conf.sslcert != NULL || conf.sslkey != NULL) &&
	    (!conf.ssl || conf.sslcert == NULL || conf.sslkey == NULL))
		config_die(EXIT_CONFIG, "--ssl, --sslcert and --sslkey go "
		    "together");
	if (conf.passstderr && conf.binary)
		config_die(EXIT_CONFIG, "--passstderr sends JSON text: not "
		    "with --binary");
	if (conf.sslca != NULL && !conf.ssl)
		config_die(EXIT_CONFIG, "--sslca goes with --ssl");
	/* websocketd: the console would shadow the files it serves. */
	if (conf.devconsole && (conf.staticdir != NULL || conf.cgidir != NULL))
		config_die(EXIT_CONFIG, "--devconsole cannot be used with "
		    "--staticdir or --cgidir");
	if ((conf.broker != NULL || conf.broker_socket != NULL ||
	    conf.listen_publish != NULL || conf.jwt_keys.n > 0 ||
	    conf.listen_history > 1 || conf.redis != NULL ||
	    conf.redis_timeout != NULL || conf.publishers != NULL ||
	    conf.publisher_grace != NULL) && !conf.listen)
		config_die(EXIT_CONFIG, "--broker, --broker-socket, "
		    "--listen-publish, --listen-history, --redis, --publishers "
		    "and --jwt-key go with --listen");
	if (conf.broker != NULL && conf.publishers != NULL)
		config_die(EXIT_CONFIG, "--publishers is for our own broker; "
		    "give a running one --publishers");
	if (conf.publisher_grace != NULL && conf.publishers == NULL)
		config_die(EXIT_CONFIG, "--publisher-grace goes with "
		    "--publishers");
	if (conf.broker != NULL && (conf.redis != NULL ||
	    conf.redis_timeout != NULL))
		config_die(EXIT_CONFIG, "--redis is for our own broker; give a "
		    "running one --redis");
	if (conf.redis_timeout != NULL && conf.redis == NULL)
		config_die(EXIT_CONFIG, "--redis-timeout goes with --redis");
	if (conf.broker != NULL && conf.listen_history > 1)
		config_die(EXIT_CONFIG, "--listen-history is for our own "
		    "broker; give a running one --history");
	if (conf.broker != NULL && conf.broker_socket != NULL)
		config_die(EXIT_CONFIG, "--broker uses a running broker, "
		    "--broker-socket places ours: not both");
	if (conf.listen && (conf.self = realpath("/proc/self/exe", NULL)) ==
	    NULL)
		config_die(EXIT_CONFIG, "cannot find our own binary");
	if (conf.dir != NULL) {
		if (optind < argc)
			config_die(EXIT_USAGE, "give --dir or a COMMAND, not "
			    "both");
		return;
	}
	/* --listen alone serves every path; no program is needed. */
	if (optind >= argc && conf.listen && conf.listen_path == NULL)
		return;
	if (optind >= argc && conf.listen)
		config_die(EXIT_USAGE, "--listen=%s serves only that path: give "
		    "a COMMAND (or --dir) for the others, or --listen alone",
		    conf.listen_path);
	if (optind >= argc)
		config_die(EXIT_USAGE, "no COMMAND given (or --dir, or "
		    "--listen)");
	if (conf.listen && conf.listen_path == NULL)
		config_die(EXIT_USAGE, "--listen without a path serves every "
		    "path: no COMMAND then (or give --listen=/path)");
	conf.argv = xcalloc(argc - optind + 1, sizeof *conf.argv);
	for (i = optind; i < argc; i++)
		conf.argv[i - optind] = argv[i];
	if ((conf.command = config_resolve(argv[optind])) == NULL)
		config_die(EXIT_CONFIG, "%s: command not found or not "
		    "executable", argv[optind]);
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * `wspipe publish` and `wspipe subscribe`: the broker's command-line
 * clients, so that a shell script can take part in listen mode with no
 * socket tool at hand.  Plain blocking I/O: each does one thing.
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wspipe.h"
#include "pubsub.h"

static void __attribute__((noreturn))
client_usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: wspipe publish [--socket=path] resource [data]\n"
	    "       wspipe subscribe [--socket=path] resource\n");
	exit(status);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
client_die(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "wspipe: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static int
client_connect(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof sun.sun_path) >=
	    sizeof sun.sun_path)
		client_die("%s: path too long", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		client_die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		client_die("no broker at %s: %s", path, strerror(errno));
	return (fd);
}

static void
client_write(int fd, const char *s, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, s, len)) == -1) {
			if (errno == EINTR)
				continue;
			client_die("broker: %s", strerror(errno));
		}
		s += n;
		len -= n;
	}
}

/* Publishes one state; data must be a single line. */
static void
client_publish(int fd, const char *resource, const char *data, size_t len)
{
	char	*line;
	int	 n;

	if (memchr(data, '\n', len) != NULL)
		client_die("data must be one line");
	if (len > PUBSUB_DATA_MAX)
		client_die("data too long (65536 bytes at most)");
	n = xasprintf(&line, "publish %s %.*s\n", resource, (int)len, data);
	client_write(fd, line, n);
	free(line);
}

/* Reports an error line the broker may have sent, without waiting. */
static void
client_check(int fd)
{
	struct pollfd	pfd = { fd, POLLIN, 0 };
	char		buf[512];
	ssize_t		n;

	if (poll(&pfd, 1, 0) <= 0)
		return;
	if ((n = read(fd, buf, sizeof buf - 1)) > 0) {
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		if (strncmp(buf, "error ", 6) == 0)
			client_die("broker: %s", buf + 6);
	}
}

/*
 * Sends a ping and waits for its pong: the broker answers in order, so
 * the pong proves every publish before it was taken, and an error line
 * before it is reported.
 */
static void
client_sync(int fd)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	char		 buf[1024];
	size_t		 len = 0;
	ssize_t		 n;
	char		*nl;

	client_write(fd, "ping\n", 5);
	for (;;) {
		if (poll(&pfd, 1, 5000) != 1)
			client_die("no answer from the broker");
		if ((n = read(fd, buf + len, sizeof buf - 1 - len)) <= 0)
			client_die("the broker went away");
		len += n;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			if (strncmp(buf, "error ", 6) == 0)
				client_die("broker: %s", buf + 6);
			if (strcmp(buf, "pong") == 0)
				return;
			len -= nl + 1 - buf;
			memmove(buf, nl + 1, len + 1);
		}
		if (len == sizeof buf - 1)
			len = 0;
	}
}

static int
client_publish_main(int fd, char **args, int nargs)
{
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;

	if (nargs == 2)
		client_publish(fd, args[0], args[1], strlen(args[1]));
	else {
		/* Each line of stdin is a state, published as it comes. */
		while ((n = getline(&line, &cap, stdin)) != -1) {
			if (n > 0 && line[n - 1] == '\n')
				n--;
			client_publish(fd, args[0], line, n);
			client_check(fd);
		}
		free(line);
	}
	client_sync(fd);
	return (0);
}

/* Prints each state of the resource, one line each. */
static int
client_subscribe_main(int fd, const char *resource)
{
	struct pubsub_msg	 m;
	const char		*errstr;
	char			*line = NULL;
	size_t			 cap = 0;
	ssize_t			 n;
	FILE			*in;
	int			 r;

	r = dprintf(fd, "subscribe %s\n", resource);
	if (r < 0)
		client_die("broker: %s", strerror(errno));
	if ((in = fdopen(fd, "r")) == NULL)
		client_die("fdopen: %s", strerror(errno));
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((n = getline(&line, &cap, in)) != -1) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (pubsub_parse(line, n, &m, &errstr) == -1)
			continue;
		if (m.verb == PUBSUB_ERROR)
			client_die("broker: %.*s", (int)m.datalen, m.data);
		if (m.verb == PUBSUB_UPDATE)
			printf("%.*s\n", (int)m.datalen, m.data);
	}
	free(line);
	fprintf(stderr, "wspipe: the broker went away\n");
	return (1);
}

/* `wspipe publish ...` and `wspipe subscribe ...`. */
int
client_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = getenv("WSPIPE_BROKER");
	int		 ch, fd, publish = strcmp(argv[0], "publish") == 0;

	optind = 1;
	while ((ch = getopt_long_only(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			path = optarg;
			break;
		case 'h':
			client_usage(0);
		default:
			client_usage(EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > (publish ? 2 : 1))
		client_usage(EXIT_USAGE);
	if (path == NULL || *path == '\0')
		client_die("no broker: give --socket=PATH or set WSPIPE_BROKER");
	if (!pubsub_resource_valid(argv[0], strlen(argv[0])))
		client_die("%s: bad resource name (1-256 bytes, no spaces)",
		    argv[0]);
	signal(SIGPIPE, SIG_IGN);
	fd = client_connect(path);
	if (publish)
		return (client_publish_main(fd, argv, argc));
	return (client_subscribe_main(fd, argv[0]));
}

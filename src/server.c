/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Listening sockets and accept.  Without --address, one dual-stack
 * socket on [::] serves IPv6 and IPv4 (0.0.0.0 where IPv6 is missing);
 * --unixsocket adds (or, alone, replaces) a UNIX socket, for a reverse
 * proxy on the same machine.
 * Started by systemd with sockets (LISTEN_FDS), it listens on those
 * instead, one named "redirect" (FileDescriptorName=) serving as
 * --redirport's.
 * When the fd limit is reached, accepting stops and a one-second timer
 * re-arms it, so the loop never spins on EMFILE and never exits.
 */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "wspipe.h"
#include "metrics.h"

struct listener {
	TAILQ_ENTRY(listener) entry;
	int		 fd;
	int		 redirect;	/* --redirport: plain HTTP, 301s */
	ev_io		 io;
};

static TAILQ_HEAD(, listener) listeners = TAILQ_HEAD_INITIALIZER(listeners);
static int		server_unix_made;	/* we created conf.unixsocket */
static ev_timer		server_backoff;
static int		server_paused;

#define ACCEPT_BATCH	64

static void
server_pause(int on)
{
	struct listener	*l;

	server_paused = on;
	TAILQ_FOREACH(l, &listeners, entry) {
		if (on)
			ev_io_stop(EV_DEFAULT, &l->io);
		else
			ev_io_start(EV_DEFAULT, &l->io);
	}
	if (on) {
		ev_timer_set(&server_backoff, 1.0, 0.0);
		ev_timer_start(EV_DEFAULT, &server_backoff);
	}
}

static void
server_backoff_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	if (!shutting_down)
		server_pause(0);
}

static void
server_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener		*l = w->data;
	struct sockaddr_storage	 ss;
	struct conn		*c;
	socklen_t		 len;
	void			*role;
	int			 fd, i, one = 1;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		len = sizeof ss;
		fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("accept: pausing for a second");
				server_pause(1);
			} else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		/*
		 * Messages leave as soon as they are written: the gateway
		 * already puts what is queued into one write, and Nagle would
		 * hold the next small one for the client's delayed ACK.
		 */
		if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof one);
		role = httpd_new(l->redirect);
		if ((c = conn_new(fd, (struct sockaddr *)&ss, &httpd_ops,
		    role, l->redirect)) == NULL) {
			httpd_discard(role);
			continue;
		}
		metrics_add(METRIC_ACCEPTED, 1);
		/* The request must come in time (slowloris). */
		conn_set_timer(c, HANDSHAKE_TIMEOUT);
	}
}

static void
server_add(int fd, int redirect)
{
	struct listener	*l;

	l = xcalloc(1, sizeof *l);
	l->fd = fd;
	l->redirect = redirect;
	ev_io_init(&l->io, server_accept_cb, fd, EV_READ);
	l->io.data = l;
	ev_io_start(EV_DEFAULT, &l->io);
	TAILQ_INSERT_TAIL(&listeners, l, entry);
}

/*
 * Listens on --unixsocket: a stale socket file is replaced, a socket that
 * a live server answers on is not, and the file gets --unixsocket-mode.
 */
static int
server_listen_unix(const char *path)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof sun.sun_path) >=
	    sizeof sun.sun_path) {
		log_warnx("--unixsocket=%s: path too long", path);
		return (-1);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
		log_warnx("--unixsocket=%s: a server is already listening "
		    "there", path);
		close(fd);
		return (-1);
	}
	close(fd);
	/* Only a socket is replaced, never another kind of file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("--unixsocket=%s: not a socket", path);
			return (-1);
		}
		(void)unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		fatal("socket");
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		log_warn("cannot listen on %s", path);
		close(fd);
		return (-1);
	}
	server_unix_made = 1;
	if (chmod(path, conf.unixsocket_mode) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		log_warn("cannot listen on %s", path);
		close(fd);
		return (-1);
	}
	server_add(fd, 0);
	log_info("listening on %s", path);
	return (0);
}

static int
server_bind(struct addrinfo *ai, const char *name, int dualstack, int port,
    int redirect)
{
	int		 fd, on = 1, off = 0;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		log_warn("socket for %s", name);
		return (-1);
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
		    dualstack ? &off : &on, sizeof on);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		log_warn("cannot listen on %s port %d", name, port);
		close(fd);
		return (-1);
	}
	server_add(fd, redirect);
	log_info("listening on %s port %d%s", name, port, redirect ?
	    " (redirecting)" : "");
	return (0);
}

/* Binds every address of one --address value; -1 if any fails. */
static int
server_listen_port(const char *addr, int dualstack, int portnum,
    int redirect)
{
	struct addrinfo	 hints, *res, *ai;
	char		 host[256], port[8];
	size_t		 len = strlen(addr);
	int		 r;

	/* Accept "[::1]" as well as "::1". */
	if (len >= 2 && addr[0] == '[' && addr[len - 1] == ']')
		snprintf(host, sizeof host, "%.*s", (int)len - 2, addr + 1);
	else
		snprintf(host, sizeof host, "%s", addr);
	snprintf(port, sizeof port, "%d", portnum);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		log_warnx("cannot listen on %s: %s", addr, gai_strerror(r));
		return (-1);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (server_bind(ai, addr, dualstack, portnum, redirect) == -1) {
			freeaddrinfo(res);
			return (-1);
		}
	freeaddrinfo(res);
	return (0);
}

/* The main port and, with --redirport, the redirecting one. */
static int
server_listen_one(const char *addr, int dualstack)
{
	if (server_listen_port(addr, dualstack, conf.port, 0) == -1)
		return (-1);
	if (conf.redirport != 0 && server_listen_port(addr, dualstack,
	    conf.redirport, 1) == -1)
		return (-1);
	return (0);
}

/*
 * Socket activation: the listening sockets systemd passed, if any (the
 * variables are unset, so that programs do not see them).  Returns their
 * number, or -1 with a message if one is not a listening stream socket.
 */
static int
server_activated(void)
{
	struct sockaddr_storage	  ss;
	socklen_t		  len;
	char			**names = NULL;
	int			  n, i, fd, redirect;

	if ((n = sd_listen_fds_with_names(1, &names)) <= 0) {
		if (n < 0)
			log_warnx("LISTEN_FDS: %s", strerror(-n));
		return (n < 0 ? -1 : 0);
	}
	for (i = 0; i < n; i++) {
		fd = SD_LISTEN_FDS_START + i;
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			log_warnx("LISTEN_FDS: fd %d is not a listening "
			    "stream socket", fd);
			n = -1;
			break;
		}
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) ==
		    -1 || fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
			fatal("fcntl");
		redirect = names != NULL && names[i] != NULL &&
		    strcmp(names[i], "redirect") == 0;
		/* A redirect names the port of the first other socket. */
		len = sizeof ss;
		if (!redirect && conf.port == 0 && getsockname(fd,
		    (struct sockaddr *)&ss, &len) == 0)
			conf.port = ss.ss_family == AF_INET ?
			    ntohs(((struct sockaddr_in *)&ss)->sin_port) :
			    ss.ss_family == AF_INET6 ?
			    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) : 0;
		server_add(fd, redirect);
		log_info("listening on socket %d from systemd%s", fd,
		    redirect ? " (redirecting to https)" : "");
	}
	if (names != NULL) {
		for (i = 0; names[i] != NULL; i++)
			free(names[i]);
		free(names);
	}
	return (n);
}

int
server_listen(void)
{
	size_t	i;
	int	n;

	ev_init(&server_backoff, server_backoff_cb);
	/* Started with sockets: those replace --port, --address and the rest. */
	if ((n = server_activated()) != 0)
		return (n < 0 ? -1 : 0);
	if (conf.unixsocket != NULL &&
	    server_listen_unix(conf.unixsocket) == -1)
		return (-1);
	/* websocketd: --unixsocket alone listens on no port. */
	if (conf.unixsocket != NULL && conf.port == 0 &&
	    conf.addresses.n == 0)
		return (0);
	if (conf.port == 0)
		conf.port = conf.ssl ? 443 : 80;
	if (conf.addresses.n == 0) {
		if (server_listen_one("::", 1) == 0)
			return (0);
		return (server_listen_one("0.0.0.0", 0));
	}
	for (i = 0; i < conf.addresses.n; i++)
		if (server_listen_one(conf.addresses.v[i], 0) == -1)
			return (-1);
	return (0);
}

/* At exit: the UNIX socket we made goes. */
void
server_cleanup(void)
{
	if (server_unix_made)
		(void)unlink(conf.unixsocket);
}

void
server_stop(void)
{
	struct listener	*l;

	ev_timer_stop(EV_DEFAULT, &server_backoff);
	while ((l = TAILQ_FIRST(&listeners)) != NULL) {
		TAILQ_REMOVE(&listeners, l, entry);
		ev_io_stop(EV_DEFAULT, &l->io);
		close(l->fd);
		free(l);
	}
}

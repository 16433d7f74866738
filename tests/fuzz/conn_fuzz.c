/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * libFuzzer target that drives whole connections through the real core:
 * the transport, every role behind its hooks (plain HTTP with files, the
 * console page and listen.js; CGI; a WebSocket session with a program
 * or in listen mode) and the child code, over a socketpair.  The input
 * picks the gateway's configuration, then is a script of client actions:
 * write bytes, run the loop while reading the answers, run it without
 * reading (backpressure), half-close, or vanish.  In listen mode the
 * target is also the broker, on a real UNIX socket (and with 0x40 in the
 * first byte the connection came on --redirport): it answers the
 * gateway's commands as a broker would (unless the input says not to),
 * and the input may inject any line of its own, as a hostile or broken
 * broker could.  Under ASan+UBSan no sequence may reach freed memory, and
 * every connection and program must be gone at the end of each input.
 */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/wspipe.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	fuzz_dir[] = "/tmp/wspipe-fuzz.XXXXXX";
static char	fuzz_sock[80];
static int	fuzz_lfd = -1, fuzz_bfd = -1;	/* the broker's end */
static int	fuzz_answer;			/* answer as a broker does */

static void	fuzz_broker_init(void);
static char	fuzz_static[64], fuzz_cgi[64];
static char	*fuzz_cat[] = { "/bin/cat", NULL };

static void
fuzz_file(const char *path, const char *text, int mode)
{
	int	fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)) == -1 ||
	    write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
}

static void
fuzz_init(void)
{
	char	p[128];

	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	snprintf(fuzz_static, sizeof fuzz_static, "%s/www", fuzz_dir);
	snprintf(fuzz_cgi, sizeof fuzz_cgi, "%s/cgi", fuzz_dir);
	if (mkdir(fuzz_static, 0755) == -1 || mkdir(fuzz_cgi, 0755) == -1)
		abort();
	snprintf(p, sizeof p, "%s/index.html", fuzz_static);
	fuzz_file(p, "<p>hello</p>\n", 0644);
	snprintf(p, sizeof p, "%s/img", fuzz_static);
	if (mkdir(p, 0755) == -1)
		abort();
	snprintf(p, sizeof p, "%s/run", fuzz_cgi);
	fuzz_file(p, "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\n"
	    "exec cat\n", 0755);
	/* As main() does: a vanished peer is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	conf.maxmsg = 1 << 20;
	conf.passenv = "PATH";
	conf.ping_interval = 0;
	conf.ping_timeout = 0;
	conf.listen_max_clients = 64;
	conf.listen_max_per_address = 64;
	conf.listen_max_subs = 8;
	conf.listen_cache = 65536;
	log_init(LOG_LEVEL_NONE);
	(void)ev_default_loop(EVFLAG_AUTO);
	fuzz_broker_init();
}

/* Listens where the gateway's broker link will connect, and links it. */
static void
fuzz_broker_init(void)
{
	struct sockaddr_un	sun;

	snprintf(fuzz_sock, sizeof fuzz_sock, "%s/broker.sock", fuzz_dir);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, fuzz_sock, sizeof sun.sun_path);
	if ((fuzz_lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(fuzz_lfd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(fuzz_lfd, 4) == -1)
		abort();
	conf.broker = fuzz_sock;
	if (listen_init() == -1 || (fuzz_bfd = accept(fuzz_lfd, NULL,
	    NULL)) == -1 || fcntl(fuzz_bfd, F_SETFL, O_NONBLOCK) == -1)
		abort();
}

/* Reads the gateway's lines and, if asked, answers them as a broker. */
static void
fuzz_broker_pump(void)
{
	static char	 in[8192];
	static size_t	 len;
	static unsigned	 seq;
	char		 out[800], *nl, *sp;
	ssize_t		 n;
	size_t		 o;

	while ((n = read(fuzz_bfd, in + len, sizeof in - 1 - len)) > 0) {
		len += n;
		while ((nl = memchr(in, '\n', len)) != NULL) {
			*nl = '\0';
			o = 0;
			if (!fuzz_answer)
				;
			else if (strncmp(in, "publish ", 8) == 0 &&
			    (sp = strchr(in + 8, ' ')) != NULL) {
				*sp = '\0';
				seq++;
				o = snprintf(out, sizeof out, "ok publish %s\n"
				    "update %s 5eed-%u %.200s\n", in + 8, in + 8,
				    seq, sp + 1);
			} else if (strncmp(in, "get ", 4) == 0 &&
			    (sp = strchr(in + 4, ' ')) != NULL) {
				/* A resume: a state, maybe a gap, the newest. */
				*sp = '\0';
				o = snprintf(out, sizeof out, "%sstate %s "
				    "5eed-%u replayed\nok get %s 5eed-%u\n",
				    seq % 3 == 0 ? "gap x history\n" : "",
				    in + 4, seq + 1, in + 4, seq + 1 + seq % 2);
			} else if (strncmp(in, "subscribe ", 10) == 0 ||
			    strncmp(in, "unsubscribe ", 12) == 0 ||
			    strncmp(in, "get ", 4) == 0 ||
			    strncmp(in, "hello ", 6) == 0)
				o = snprintf(out, sizeof out, "ok %.600s\n", in);
			if (o > 0 && o < sizeof out)
				(void)write(fuzz_bfd, out, o);
			len -= nl + 1 - in;
			memmove(in, nl + 1, len);
		}
		if (len == sizeof in - 1)
			len = 0;	/* an overlong line: drop it */
	}
}

/* The gateway's configuration for this input. */
static void
fuzz_mode(int mode)
{
	conf.staticdir = conf.cgidir = NULL;
	conf.devconsole = conf.listen = conf.binary = 0;
	conf.listen_publish = NULL;
	conf.command = fuzz_cat[0];
	conf.argv = fuzz_cat;
	conf.maxforks = 4;
	/* permessage-deflate when an upgrade offers it, small messages too. */
	conf.deflate = 1;
	conf.deflate_min = 16;
	switch (mode % 6) {
	case 0:
		break;
	case 1:
		conf.binary = 1;
		break;
	case 2:
		conf.staticdir = fuzz_static;
		conf.listen = 1;
		conf.listen_path = "/live";
		break;
	case 3:
		conf.devconsole = 1;
		break;
	case 4:
		conf.listen = 1;
		conf.listen_path = NULL;
		conf.listen_publish = "/pub/";
		break;
	case 5:
		conf.cgidir = fuzz_cgi;
		break;
	}
}

/* Reads and drops what the gateway sent, if reading; a few iterations. */
static void
fuzz_run(int fd, int reading, int rounds)
{
	char	buf[16384];
	int	i;

	for (i = 0; i < rounds; i++) {
		ev_run(EV_DEFAULT, EVRUN_NOWAIT);
		fuzz_broker_pump();
		while (reading && fd != -1 && read(fd, buf, sizeof buf) > 0)
			;
	}
}

/* Everything of this input must end: connections and programs. */
static void
fuzz_finish(void)
{
	struct conn	*c, *tmp;
	int		 i;

	for (i = 0; i < 2000 && (!TAILQ_EMPTY(&conns) || child_count() > 0);
	    i++) {
		if (i == 200) {
			TAILQ_FOREACH_SAFE(c, &conns, entry, tmp)
				conn_close(c, "fuzz input over");
			child_kill_all();
		}
		ev_run(EV_DEFAULT, i < 200 ? EVRUN_NOWAIT : EVRUN_ONCE);
		fuzz_answer = 1;
		fuzz_broker_pump();
	}
	if (!TAILQ_EMPTY(&conns) || child_count() > 0)
		abort();
	conn_reap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 init;
	struct sockaddr_in	 sin;
	struct linger		 lin = { 1, 0 };
	struct conn		*c;
	size_t			 i, len;
	int			 sv[2], op;

	if (!init) {
		fuzz_init();
		init = 1;
	}
	if (size < 1 || size > 65536)
		return (0);
	fuzz_mode(data[0]);
	fuzz_answer = !(data[0] & 0x80);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		abort();
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(40000);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((c = conn_new(sv[0], (struct sockaddr *)&sin, &httpd_ops,
	    httpd_new(data[0] & 0x40), data[0] & 0x40)) == NULL)
		abort();
	conn_set_timer(c, HANDSHAKE_TIMEOUT);
	for (i = 1; i < size && sv[1] != -1; ) {
		op = data[i++];
		switch (op & 7) {
		case 0:
		case 1:
		case 2:
		case 3:
			/* Write the next len bytes: as the client, or (0x80)
			   as the broker. */
			len = ((op >> 3) & 0xf) * 16 + (op & 3) + 1;
			if (len > size - i)
				len = size - i;
			(void)write(op & 0x80 ? fuzz_bfd : sv[1], data + i,
			    len);
			i += len;
			fuzz_run(sv[1], 1, 2);
			break;
		case 4:
			fuzz_run(sv[1], 1, 4);
			break;
		case 5:
			/* The client stops reading: backpressure. */
			fuzz_run(sv[1], 0, 4);
			break;
		case 6:
			(void)shutdown(sv[1], SHUT_WR);
			fuzz_run(sv[1], 1, 2);
			break;
		case 7:
			/* Vanish with unread data: a reset. */
			(void)setsockopt(sv[1], SOL_SOCKET, SO_LINGER, &lin,
			    sizeof lin);
			close(sv[1]);
			sv[1] = -1;
			fuzz_run(-1, 0, 2);
			break;
		}
	}
	if (sv[1] != -1)
		close(sv[1]);
	fuzz_finish();
	return (0);
}

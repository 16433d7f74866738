/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * libFuzzer target for the HTTP side of a connection: the input is
 * written to a socketpair whose other end is a real struct conn, and the
 * event loop runs until the connection is gone.  Spawning is disabled by
 * a saturated --maxforks, so a valid handshake ends in a 429.
 */

#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/wspipe.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_init(void)
{
	static char	*argv[] = { "/bin/true", NULL };

	conf.maxforks = 1;
	nchildren = 1;
	conf.maxmsg = 1 << 20;
	conf.command = argv[0];
	conf.argv = argv;
	conf.passenv = "PATH";
	log_init(LOG_LEVEL_NONE);
	(void)ev_default_loop(EVFLAG_AUTO);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 init;
	struct sockaddr_in	 sin;
	struct conn		*c, *tmp;
	int			 sv[2], i;

	if (!init) {
		fuzz_init();
		init = 1;
	}
	if (size > 60000)
		return (0);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		abort();
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(40000);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	conn_new(sv[0], (struct sockaddr *)&sin, sizeof sin);
	if (write(sv[1], data, size) != (ssize_t)size)
		abort();
	(void)shutdown(sv[1], SHUT_WR);
	for (i = 0; i < 50 && !TAILQ_EMPTY(&conns); i++) {
		ev_run(EV_DEFAULT, EVRUN_NOWAIT);
		/* Drain answers so the connection can finish. */
		while (read(sv[1], (char[4096]){ 0 }, 4096) > 0)
			;
	}
	TAILQ_FOREACH_SAFE(c, &conns, entry, tmp)
		conn_close(c, "fuzz iteration over");
	close(sv[1]);
	return (0);
}

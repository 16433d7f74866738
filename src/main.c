/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * wspipe: every WebSocket connection runs its own program, CGI-style.
 * main() parses the command line, listens, installs the signal watchers
 * and runs the one event loop until a shutdown is complete.
 */

#include <sys/prctl.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "wspipe.h"

static ev_signal	main_sigterm, main_sigint, main_sighup;
static ev_timer		main_deadline;
static ev_prepare	main_done;

/* Keeps fds 0-2 taken, so that no socket or pipe of ours lands there. */
static void
main_std_fds(void)
{
	int	fd;

	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

static void
main_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	log_warnx("shutdown deadline reached: killing what is left");
	child_kill_all();
	ev_break(loop, EVBREAK_ALL);
}

/* The loop ends once every connection is gone and every child reaped. */
static void
main_done_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	if (TAILQ_EMPTY(&conns) && child_count() == 0)
		ev_break(loop, EVBREAK_ALL);
}

static void
main_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	if (shutting_down)
		return;
	log_info("signal %d: shutting down", w->signum);
	(void)sd_notify(0, "STOPPING=1");
	server_stop();
	main_deadline.repeat = SHUTDOWN_GRACE + 3 * conf.closems / 1000.0;
	ev_timer_again(loop, &main_deadline);
	conn_shutdown_all();
	if (conf.listen)
		listen_shutdown();
	ev_prepare_start(loop, &main_done);
}

/*
 * SIGHUP: the TLS certificate, key and CA are read again; new connections
 * get them, open ones keep theirs.  If they do not load, the old stay.
 */
static void
main_reload_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	const char	*errstr;

	if (shutting_down)
		return;
	(void)sd_notify(0, "RELOADING=1");
	if (!conf.ssl)
		log_info("SIGHUP: nothing to reload");
	else if (tls_init(conf.sslcert, conf.sslkey, conf.sslca,
	    &errstr) == -1)
		log_warnx("SIGHUP: keeping the certificate in use: %s",
		    errstr);
	else
		log_info("SIGHUP: reloaded the certificate %s", conf.sslcert);
	(void)sd_notify(0, "READY=1");
}

int
main(int argc, char **argv)
{
	struct ev_loop	*loop;
	const char	*errstr;

	main_std_fds();
	/* Subcommands: the broker and its command-line clients. */
	if (argc > 1 && strcmp(argv[1], "broker") == 0)
		return (broker_main(argc - 1, argv + 1));
	if (argc > 1 && (strcmp(argv[1], "publish") == 0 ||
	    strcmp(argv[1], "subscribe") == 0))
		return (client_main(argc - 1, argv + 1));
	config_parse(argc, argv);
	log_init(conf.loglevel);
	log_format(conf.logjson);
	env_capture_passenv();
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Orphaned grandchildren are re-parented to us rather than to init,
	 * and libev's SIGCHLD handler reaps them: no zombies, ever.
	 */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	if ((loop = ev_default_loop(EVFLAG_AUTO)) == NULL)
		fatalx("cannot initialise libev");
	/* Signals first: once we listen, a client may expect a clean stop. */
	ev_signal_init(&main_sigterm, main_signal_cb, SIGTERM);
	ev_signal_start(loop, &main_sigterm);
	ev_signal_init(&main_sigint, main_signal_cb, SIGINT);
	ev_signal_start(loop, &main_sigint);
	ev_signal_init(&main_sighup, main_reload_cb, SIGHUP);
	ev_signal_start(loop, &main_sighup);
	ev_init(&main_deadline, main_deadline_cb);
	ev_prepare_init(&main_done, main_done_cb);
	http_set_headers(HTTP_EXTRA_ALL, conf.headers.v, conf.headers.n);
	http_set_headers(HTTP_EXTRA_HTTP, conf.headers_http.v,
	    conf.headers_http.n);
	http_set_headers(HTTP_EXTRA_WS, conf.headers_ws.v, conf.headers_ws.n);
	if (conf.ssl && tls_init(conf.sslcert, conf.sslkey, conf.sslca,
	    &errstr) == -1) {
		fprintf(stderr, "wspipe: %s\n", errstr);
		exit(EXIT_CONFIG);
	}
	if (auth_init() == -1 || (conf.listen && listen_init() == -1))
		exit(EXIT_CONFIG);
	if (server_listen() == -1) {
		server_cleanup();
		if (conf.listen) {
			listen_shutdown();
			listen_cleanup();
		}
		exit(EXIT_LISTEN);
	}
	log_info("%s %s %s %s", WSPIPE_NAME, PACKAGE_VERSION,
	    conf.dir != NULL ? "running programs under" : conf.command != NULL ?
	    "running" : "in listen mode", conf.dir != NULL ? conf.dir :
	    conf.command != NULL ? conf.command : "");
	/* Under systemd (Type=notify): up. */
	(void)sd_notify(0, "READY=1");
	ev_run(loop, 0);
	server_cleanup();
	if (conf.listen)
		listen_cleanup();
	conn_reap();
	return (0);
}

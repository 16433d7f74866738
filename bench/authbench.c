/*
 * authbench - what authorization costs a listen connection, and what a
 * subscribe costs the broker.  Load generator of bench/auth-run.
 *
 * Plain C11 + POSIX/Linux (epoll); no libraries besides libc.  The
 * WebSocket client is bench/wsclient.c, which frames with src/ws.c.
 * Build:  make bench   (in the configured tree)
 *
 *   authbench --scenario=listenrate --port=P [--inflight=4] [--secs=3]
 *             [--warmup=0.5] [--resource=/x] [--path=/]
 *             [--header='Authorization: Bearer TOKEN'] [--gwpid=PID]
 *             [--brokerpid=PID] [--timeout=10] [--n=N]
 *   authbench --scenario=brokersubs --broker=SOCK [--conns=100]
 *             [--subs=1000] [--same] [--batch=0] [--order=random]
 *             [--pid=BROKER_PID] [--timeout=300]
 *
 * listenrate: INFLIGHT connections at a time, each: connect, upgrade
 *   (with --header added to the request), send "subscribe RESOURCE", wait
 *   for "ok subscribe RESOURCE", send a close frame (1000), wait for the
 *   gateway's close frame and its TCP close.  Then the next one.  A
 *   refused upgrade, an "error" answer, an unexpected close or a cycle
 *   longer than --timeout counts as failed.  Measured from --warmup on
 *   for --secs; connections still in flight then are finished and
 *   counted (--n=N: N connections from the start, no warm-up, whatever
 *   the time).  CPU from /proc/PID/stat: the gateway's utime+stime
 *   (gw_cpu_ms), its reaped children's cutime+cstime (gw_children_cpu_ms:
 *   the authorizer's processes), the broker's utime+stime
 *   (broker_cpu_ms), and this process's own (lg_cpu_pct, % of one core:
 *   near 100 means the load generator is the bottleneck).
 *
 * brokersubs: CONNS connections to the broker's UNIX socket.  Phase 1:
 *   on every connection SUBS "subscribe /r/<conn>/<i>" lines (--same:
 *   "subscribe /r/<i>", every connection the same names) and a "ping";
 *   the phase ends when every connection has read its "pong".  Phase 2:
 *   the same with "unsubscribe", in the order --order: "same" as
 *   subscribed (a list's best case), "reverse" (its worst) or "random"
 *   (shuffled, fixed seed; the default).  --batch=B sends the lines in
 *   rounds of B per connection, each round ending when every connection
 *   has its pong, so that the broker takes them interleaved across
 *   connections (as a gateway's come) instead of one connection's all at
 *   once.  The broker's utime+stime (and
 *   se.sum_exec_runtime, ns precision, as a cross-check) over each phase.
 *   Answer lines are counted: "ok ..." (a broker that confirms) and
 *   "error ..." (none expected).
 *
 * One key=value result line on stdout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "wsclient.h"

static const char *opt_scenario = "listenrate";
static const char *opt_path = "/";
static const char *opt_resource = "/x";
static const char *opt_header = NULL;
static const char *opt_broker = NULL;
static int opt_port;
static long opt_inflight = 4;
static double opt_secs = 3.0;
static double opt_warmup = 0.5;
static double opt_timeout = 0;
static long opt_n;              /* listenrate: this many connections, then stop */
static long opt_gwpid, opt_brokerpid, opt_pid;
static long opt_conns = 100, opt_subs = 1000;
static int opt_same;
static long opt_batch;          /* brokersubs: lines per connection per synchronised round; 0 = all */
static const char *opt_order = "random"; /* brokersubs: unsubscribe order */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "authbench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static void *xcalloc(size_t n, size_t s)
{
	void *p = calloc(n ? n : 1, s ? s : 1);
	if (!p)
		die("out of memory");
	return p;
}

/* ------------------------------------------------------------------ */
/* /proc                                                               */

/* utime+stime (self) and cutime+cstime (children) in ms; -1 if gone */
static int proc_cpu(long pid, double *self, double *children)
{
	char path[64], buf[4096];
	*self = *children = -1;
	if (pid <= 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	p += 2; /* field 3 */
	for (int field = 3; field < 14; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	long long ut, st, cut, cst;
	if (sscanf(p, "%lld %lld %lld %lld", &ut, &st, &cut, &cst) != 4)
		return -1;
	double tck = (double)sysconf(_SC_CLK_TCK);
	*self = (double)(ut + st) * 1000.0 / tck;
	*children = (double)(cut + cst) * 1000.0 / tck;
	return 0;
}

/* se.sum_exec_runtime of every thread, ms (ns precision); -1 if none */
static double proc_sched_ms(long pid)
{
	char path[320], buf[8192];
	if (pid <= 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%ld/task", pid);
	DIR *d = opendir(path);
	double sum = 0;
	int found = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof path, "/proc/%ld/task/%s/sched", pid, e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		char *p = strstr(buf, "se.sum_exec_runtime");
		if (p && (p = strchr(p, ':'))) {
			sum += atof(p + 1);
			found = 1;
		}
	}
	if (d)
		closedir(d);
	return found ? sum : -1;
}

/* busy CPU of the whole machine, ms (/proc/stat: all but idle and iowait) */
static double machine_busy_ms(void)
{
	char buf[512];
	int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	unsigned long long v[8] = {0};
	if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
		   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 8)
		return -1;
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * 1000.0 /
	       (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t i = (size_t)(p * (double)n);
	return v[i < n ? i : n - 1];
}

/* ------------------------------------------------------------------ */
/* listenrate                                                          */

enum { L_FREE, L_CONNECTING, L_HANDSHAKE, L_SUBSCRIBING, L_CLOSING, L_DRAIN };

#define HS_MAX 8192
#define MSG_MAX (65536 + 512)

struct lconn {
	int fd;
	int state;
	int want_out;
	unsigned char out[HS_MAX + 512];
	size_t olen, ooff;
	char hs[HS_MAX];
	size_t hslen;
	struct wsc_rx rx;
	double t_start;
};

static int epfd = -1;
static struct lconn *lc;
static struct sockaddr_in srv;
static char request[HS_MAX];
static size_t request_len;
static const uint8_t MASK[4] = {0x37, 0xfa, 0x21, 0x3d};

static uint64_t l_done, l_failed, l_refused, l_errors, l_unexpected;
static char first_error[200];
static double *cyc;
static size_t cyc_n, cyc_cap;
static int counting;

static void note_error(const char *fmt, ...)
{
	if (first_error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(first_error, sizeof first_error, fmt, ap);
	va_end(ap);
	for (char *p = first_error; *p; p++)
		if (*p == '"' || *p == '\r' || *p == '\n')
			*p = ' ';
}

static void l_set_out(struct lconn *c, int out)
{
	if (c->want_out == out)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl MOD: %s", strerror(errno));
	c->want_out = out;
}

static void l_close(struct lconn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	wsc_rx_free(&c->rx);
	c->fd = -1;
	c->state = L_FREE;
}

static void l_finish(struct lconn *c, int ok)
{
	if (counting) {
		if (ok) {
			l_done++;
			if (cyc_n < cyc_cap)
				cyc[cyc_n++] = (now_s() - c->t_start) * 1e6;
		} else {
			l_failed++;
		}
	}
	l_close(c);
}

static int l_start(struct lconn *c)
{
	int fd = wsc_connect((struct sockaddr *)&srv, sizeof srv);
	if (fd < 0) {
		note_error("connect: %s", strerror(errno));
		return -1;
	}
	c->fd = fd;
	c->state = L_CONNECTING;
	c->t_start = now_s();
	memcpy(c->out, request, request_len);
	c->olen = request_len;
	c->ooff = 0;
	c->hslen = 0;
	wsc_rx_init(&c->rx, MSG_MAX, 1);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl ADD: %s", strerror(errno));
	c->want_out = 1;
	return 0;
}

static void l_queue(struct lconn *c, int opcode, const void *p, size_t n)
{
	if (c->ooff == c->olen)
		c->ooff = c->olen = 0;
	if (c->olen + n + WS_HEADER_MAX > sizeof c->out)
		die("output overflow");
	c->olen += wsc_frame(c->out + c->olen, opcode, p, n, MASK);
}

static int l_flush(struct lconn *c)
{
	while (c->ooff < c->olen) {
		ssize_t n = write(c->fd, c->out + c->ooff, c->olen - c->ooff);
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			return -1;
		}
		c->ooff += (size_t)n;
	}
	l_set_out(c, c->ooff < c->olen || c->state == L_CONNECTING);
	return 0;
}

/* frames in b[0..n); returns -1 when the connection is over (finished) */
static int l_frames(struct lconn *c, uint8_t *b, size_t n)
{
	size_t off = 0;
	struct wsc_ev ev;
	size_t rl = strlen(opt_resource);
	for (;;) {
		switch (wsc_next(&c->rx, b, n, &off, &ev)) {
		case WSC_NEED:
			return 0;
		case WSC_ERROR:
			note_error("protocol error: %s", ev.errstr ? ev.errstr : "?");
			l_finish(c, 0);
			return -1;
		case WSC_MESSAGE:
			if (c->state != L_SUBSCRIBING)
				break; /* late update: ignore */
			if (ev.len == 13 + rl && !memcmp(ev.data, "ok subscribe ", 13) &&
			    !memcmp(ev.data + 13, opt_resource, rl)) {
				uint8_t code[2] = {1000 >> 8, 1000 & 0xff};
				l_queue(c, WS_OP_CLOSE, code, 2);
				c->state = L_CLOSING;
			} else if (ev.len >= 5 && !memcmp(ev.data, "error", 5)) {
				if (counting)
					l_errors++;
				note_error("%.*s", (int)(ev.len > 150 ? 150 : ev.len), ev.data);
				l_finish(c, 0);
				return -1;
			}
			break;
		case WSC_CONTROL:
			if (ev.opcode == WS_OP_PING) {
				l_queue(c, WS_OP_PONG, ev.data, ev.len);
			} else if (ev.opcode == WS_OP_CLOSE) {
				if (c->state == L_CLOSING) {
					c->state = L_DRAIN;
				} else {
					if (counting)
						l_unexpected++;
					note_error("close frame before ok subscribe");
					l_finish(c, 0);
					return -1;
				}
			}
			break;
		}
	}
}

static uint8_t rbuf[1 << 17];

static void l_read(struct lconn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, rbuf, sizeof rbuf);
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			if (c->state != L_DRAIN)
				note_error("read: %s", strerror(errno));
			l_finish(c, c->state == L_DRAIN);
			return;
		}
		if (n == 0) {
			if (c->state != L_DRAIN)
				note_error("EOF in state %d", c->state);
			l_finish(c, c->state == L_DRAIN);
			return;
		}
		uint8_t *b = rbuf;
		size_t len = (size_t)n;
		if (c->state == L_CONNECTING || c->state == L_HANDSHAKE) {
			if (len > sizeof c->hs - c->hslen) {
				note_error("handshake response too long");
				l_finish(c, 0);
				return;
			}
			memcpy(c->hs + c->hslen, b, len);
			c->hslen += len;
			const char *err = NULL;
			long hl = wsc_response(c->hs, c->hslen, &err);
			if (hl == 0)
				continue;
			if (hl < 0) {
				if (counting)
					l_refused++;
				char *eol = memchr(c->hs, '\r', c->hslen);
				note_error("upgrade refused: %.*s", (int)(eol ? eol - c->hs : 40), c->hs);
				l_finish(c, 0);
				return;
			}
			/* the bytes after the 101 are frames */
			b = (uint8_t *)c->hs + hl;
			len = c->hslen - (size_t)hl;
			char cmd[300];
			int m = snprintf(cmd, sizeof cmd, "subscribe %s", opt_resource);
			l_queue(c, WS_OP_TEXT, cmd, (size_t)m);
			c->state = L_SUBSCRIBING;
		}
		if (len && l_frames(c, b, len) < 0)
			return;
	}
	if (c->olen > c->ooff && l_flush(c) < 0) {
		note_error("write: %s", strerror(errno));
		l_finish(c, 0);
	}
}

static void l_event(struct lconn *c, uint32_t ev)
{
	if (c->state == L_FREE)
		return;
	if (c->state == L_CONNECTING && (ev & EPOLLOUT)) {
		int err = 0;
		socklen_t l = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			note_error("connect: %s", strerror(err));
			l_finish(c, 0);
			return;
		}
		c->state = L_HANDSHAKE;
	}
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		l_read(c);
	if (c->state != L_FREE && (ev & EPOLLOUT) && l_flush(c) < 0) {
		note_error("write: %s", strerror(errno));
		l_finish(c, 0);
	}
}

static int run_listenrate(void)
{
	if (!opt_port)
		die("need --port");
	if (opt_timeout <= 0)
		opt_timeout = 10;
	srv.sin_family = AF_INET;
	srv.sin_port = htons((uint16_t)opt_port);
	srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int n = wsc_request(request, sizeof request, "127.0.0.1", opt_port, opt_path);
	if (n < 4)
		die("--path too long");
	request_len = (size_t)n;
	if (opt_header) {
		/* before the blank line that ends the request */
		size_t hl = strlen(opt_header);
		if (request_len + hl + 2 >= sizeof request)
			die("--header too long");
		request_len -= 2;
		memcpy(request + request_len, opt_header, hl);
		request_len += hl;
		memcpy(request + request_len, "\r\n\r\n", 4);
		request_len += 4;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	long k = opt_inflight > 0 ? opt_inflight : 4;
	lc = xcalloc((size_t)k, sizeof *lc);
	for (long i = 0; i < k; i++)
		lc[i].fd = -1;
	cyc_cap = 4000000;
	cyc = xcalloc(cyc_cap, sizeof *cyc);

	if (opt_n > 0) {
		opt_warmup = 0;
		opt_secs = 1e9;
	}
	uint64_t started = 0;
	double t0 = now_s(), tw = t0 + opt_warmup, te = tw + opt_secs, t1 = t0;
	double gw0 = -1, gwc0 = -1, br0 = -1, brc0, self0 = 0, mach0 = 0;
	struct epoll_event evs[256];
	int stopping = 0;
	for (;;) {
		double t = now_s();
		if (!counting && !stopping && t >= tw) {
			proc_cpu(opt_gwpid, &gw0, &gwc0);
			proc_cpu(opt_brokerpid, &br0, &brc0);
			self0 = self_cpu_ms();
			mach0 = machine_busy_ms();
			t1 = now_s();
			counting = 1;
		}
		if (counting && (t >= te || (opt_n > 0 && started >= (uint64_t)opt_n)))
			stopping = 1;
		long active = 0;
		for (long i = 0; i < k; i++) {
			struct lconn *c = &lc[i];
			if (c->state != L_FREE && t - c->t_start > opt_timeout) {
				note_error("cycle timed out in state %d", c->state);
				l_finish(c, 0);
			}
			if (c->state == L_FREE && !stopping && !(opt_n > 0 && started >= (uint64_t)opt_n)) {
				started++;
				if (l_start(c) < 0) {
					if (counting)
						l_failed++;
					continue;
				}
			}
			if (c->state != L_FREE)
				active++;
		}
		if (stopping && active == 0)
			break;
		int m = epoll_wait(epfd, evs, 256, 20);
		if (m < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < m; i++)
			l_event(evs[i].data.ptr, evs[i].events);
	}
	double t2 = now_s();
	double gw1, gwc1, br1, brc1;
	proc_cpu(opt_gwpid, &gw1, &gwc1);
	proc_cpu(opt_brokerpid, &br1, &brc1);
	double self1 = self_cpu_ms();
	double mach1 = machine_busy_ms();
	double secs = t2 - t1;
	/* CPU of processes outside the benchmark, % of one core: noise */
	double other = mach1 - mach0 - (self1 - self0);
	if (gw0 >= 0 && gw1 >= 0)
		other -= (gw1 - gw0) + (gwc1 - gwc0);
	if (br0 >= 0 && br1 >= 0)
		other -= br1 - br0;
	qsort(cyc, cyc_n, sizeof *cyc, cmp_double);
	printf("scenario=listenrate inflight=%ld secs=%.3f conns=%" PRIu64
	       " conns_per_sec=%.1f failed=%" PRIu64 " refused=%" PRIu64 " errors=%" PRIu64
	       " unexpected_close=%" PRIu64 " cycle_p50_us=%.0f cycle_p99_us=%.0f"
	       " lg_cpu_pct=%.0f other_cpu_pct=%.0f",
	       k, secs, l_done, (double)l_done / secs, l_failed, l_refused, l_errors,
	       l_unexpected, pct(cyc, cyc_n, .5), pct(cyc, cyc_n, .99),
	       (self1 - self0) / secs / 10.0, other > 0 ? other / secs / 10.0 : 0.0);
	if (opt_gwpid > 0) {
		if (gw0 >= 0 && gw1 >= 0) {
			printf(" gw_cpu_ms=%.0f gw_children_cpu_ms=%.0f", gw1 - gw0, gwc1 - gwc0);
			if (l_done)
				printf(" gw_cpu_us_per_conn=%.1f gw_children_cpu_us_per_conn=%.1f",
				       (gw1 - gw0) * 1000.0 / (double)l_done,
				       (gwc1 - gwc0) * 1000.0 / (double)l_done);
		} else {
			printf(" gw_cpu_ms=NA");
		}
	}
	if (opt_brokerpid > 0 && br0 >= 0 && br1 >= 0) {
		printf(" broker_cpu_ms=%.0f", br1 - br0);
		if (l_done)
			printf(" broker_cpu_us_per_conn=%.1f", (br1 - br0) * 1000.0 / (double)l_done);
	}
	if (first_error[0])
		printf(" first_error=\"%s\"", first_error);
	printf("\n");
	fflush(stdout);
	return l_failed || !l_done ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* brokersubs                                                          */

struct bconn {
	int fd;
	int want_out;
	char *out;
	size_t olen, ooff;
	char part[1024];
	size_t partlen;
	int got_pong;
	uint64_t oks, errors, lines;
};

static struct bconn *bc;
static long b_pongs;

static void b_set_out(struct bconn *c, int out)
{
	if (c->want_out == out)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl MOD: %s", strerror(errno));
	c->want_out = out;
}

static void b_flush(struct bconn *c)
{
	while (c->ooff < c->olen) {
		ssize_t n = write(c->fd, c->out + c->ooff, c->olen - c->ooff);
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			die("broker connection: write: %s", strerror(errno));
		}
		c->ooff += (size_t)n;
	}
	b_set_out(c, c->ooff < c->olen);
}

static void b_line(struct bconn *c, const char *s, size_t n)
{
	c->lines++;
	if (n == 4 && !memcmp(s, "pong", 4)) {
		if (!c->got_pong) {
			c->got_pong = 1;
			b_pongs++;
		}
	} else if (n >= 3 && !memcmp(s, "ok ", 3)) {
		c->oks++;
	} else if (n >= 5 && !memcmp(s, "error", 5)) {
		c->errors++;
		note_error("%.*s", (int)(n > 150 ? 150 : n), s);
	}
}

static void b_read(struct bconn *c)
{
	static char buf[1 << 16];
	for (;;) {
		size_t have = c->partlen;
		memcpy(buf, c->part, have);
		ssize_t n = read(c->fd, buf + have, sizeof buf - have);
		if (n < 0) {
			if (errno == EAGAIN)
				return;
			die("broker connection: read: %s", strerror(errno));
		}
		if (n == 0)
			die("broker closed a connection (%s)", first_error[0] ? first_error : "no error line");
		size_t tot = have + (size_t)n, off = 0;
		for (size_t i = 0; i < tot; i++)
			if (buf[i] == '\n') {
				b_line(c, buf + off, i - off);
				off = i + 1;
			}
		c->partlen = tot - off;
		if (c->partlen > sizeof c->part)
			die("broker line too long");
		memcpy(c->part, buf + off, c->partlen);
	}
}

struct bsnap {
	double cpu, sched, t, mach, self;
};

static void b_snap(struct bsnap *s)
{
	double ch;
	proc_cpu(opt_pid, &s->cpu, &ch);
	s->sched = proc_sched_ms(opt_pid);
	s->mach = machine_busy_ms();
	s->self = self_cpu_ms();
	s->t = now_s();
}

static long *order; /* the index of the name each line j names */

/* one round: lines [from, to) of `verb` on every connection, then a ping;
 * returns once every connection has read its pong */
static void b_round(const char *verb, long from, long to)
{
	size_t cap = (size_t)(to - from) * 64 + 16;
	for (long i = 0; i < opt_conns; i++) {
		struct bconn *c = &bc[i];
		free(c->out);
		c->out = xcalloc(1, cap);
		c->olen = c->ooff = 0;
		for (long j = from; j < to; j++) {
			long k = order[j];
			int m = opt_same ? snprintf(c->out + c->olen, cap - c->olen, "%s /r/%ld\n", verb, k)
					 : snprintf(c->out + c->olen, cap - c->olen, "%s /r/%ld/%ld\n", verb, i, k);
			c->olen += (size_t)m;
		}
		memcpy(c->out + c->olen, "ping\n", 5);
		c->olen += 5;
		c->got_pong = 0;
	}
	b_pongs = 0;
	for (long i = 0; i < opt_conns; i++)
		b_flush(&bc[i]);
	struct epoll_event evs[256];
	double dl = now_s() + opt_timeout;
	while (b_pongs < opt_conns) {
		if (now_s() > dl)
			die("%s: %ld of %ld pongs after %.0f s", verb, b_pongs, opt_conns, opt_timeout);
		int m = epoll_wait(epfd, evs, 256, 100);
		if (m < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int k = 0; k < m; k++) {
			struct bconn *c = evs[k].data.ptr;
			if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				b_read(c);
			if (evs[k].events & EPOLLOUT)
				b_flush(c);
		}
	}
}

/* every connection's opt_subs lines of `verb`, in rounds of opt_batch */
static void b_phase(const char *verb, struct bsnap *a, struct bsnap *b)
{
	long batch = opt_batch > 0 ? opt_batch : opt_subs;
	b_snap(a);
	for (long from = 0; from < opt_subs; from += batch)
		b_round(verb, from, from + batch < opt_subs ? from + batch : opt_subs);
	b_snap(b);
}

static int run_brokersubs(void)
{
	if (!opt_broker)
		die("need --broker=SOCKET");
	if (opt_timeout <= 0)
		opt_timeout = 300;
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < opt_conns + 20)
		die("open-file limit too low for %ld connections", opt_conns);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(opt_broker) >= sizeof sa.sun_path)
		die("broker path too long");
	strcpy(sa.sun_path, opt_broker);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	bc = xcalloc((size_t)opt_conns, sizeof *bc);
	for (long i = 0; i < opt_conns; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
			die("connect %s: %s", opt_broker, strerror(errno));
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		bc[i].fd = fd;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &bc[i]};
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl ADD: %s", strerror(errno));
	}
	struct bsnap s0, s1, u0, u1;
	order = xcalloc((size_t)opt_subs, sizeof *order);
	for (long j = 0; j < opt_subs; j++)
		order[j] = j;
	b_phase("subscribe", &s0, &s1);
	/* unsubscribe: in the order subscribed (a list's best case), reversed
	 * (its worst) or shuffled (its average; fixed seed) */
	if (!strcmp(opt_order, "reverse")) {
		for (long j = 0; j < opt_subs; j++)
			order[j] = opt_subs - 1 - j;
	} else if (!strcmp(opt_order, "random")) {
		uint64_t x = 88172645463325252ull;
		for (long j = opt_subs - 1; j > 0; j--) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			long r = (long)(x % (uint64_t)(j + 1)), t = order[j];
			order[j] = order[r];
			order[r] = t;
		}
	} else if (strcmp(opt_order, "same")) {
		die("--order=same|reverse|random");
	}
	uint64_t oks_sub = 0;
	for (long i = 0; i < opt_conns; i++)
		oks_sub += bc[i].oks;
	b_phase("unsubscribe", &u0, &u1);
	uint64_t oks = 0, errors = 0;
	for (long i = 0; i < opt_conns; i++) {
		oks += bc[i].oks;
		errors += bc[i].errors;
	}
	double ops = (double)opt_conns * (double)opt_subs;
	double sc = s1.cpu - s0.cpu, uc = u1.cpu - u0.cpu;
	double ss = s1.sched - s0.sched, us = u1.sched - u0.sched;
	double other = (s1.mach - s0.mach) + (u1.mach - u0.mach) - (ss + us) -
		       (s1.self - s0.self) - (u1.self - u0.self);
	double wall = (s1.t - s0.t) + (u1.t - u0.t);
	printf("scenario=brokersubs conns=%ld subs=%ld same=%d batch=%ld order=%s"
	       " sub_secs=%.3f sub_cpu_ms=%.0f sub_sched_ms=%.1f sub_cpu_us_per_op=%.3f"
	       " unsub_secs=%.3f unsub_cpu_ms=%.0f unsub_sched_ms=%.1f unsub_cpu_us_per_op=%.3f"
	       " cpu_ms=%.0f sched_ms=%.1f cpu_us_per_op=%.3f sched_us_per_op=%.3f"
	       " oks_subscribe=%" PRIu64 " oks_unsubscribe=%" PRIu64 " errors=%" PRIu64
	       " other_cpu_pct=%.0f",
	       opt_conns, opt_subs, opt_same, opt_batch, opt_order,
	       s1.t - s0.t, sc, ss, sc * 1000.0 / ops,
	       u1.t - u0.t, uc, us, uc * 1000.0 / ops,
	       sc + uc, ss + us, (sc + uc) * 1000.0 / (2 * ops), (ss + us) * 1000.0 / (2 * ops),
	       oks_sub, oks - oks_sub, errors, other > 0 && wall > 0 ? other / wall / 10.0 : 0.0);
	if (first_error[0])
		printf(" first_error=\"%s\"", first_error);
	printf("\n");
	fflush(stdout);
	for (long i = 0; i < opt_conns; i++)
		close(bc[i].fd);
	return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *a = argv[i], *v = strchr(a, '=');
		if (!strcmp(a, "--same")) {
			opt_same = 1;
			continue;
		}
		if (strncmp(a, "--", 2) || !v)
			die("bad argument %s", a);
		*v++ = 0;
		a += 2;
		if (!strcmp(a, "scenario")) opt_scenario = v;
		else if (!strcmp(a, "port")) opt_port = atoi(v);
		else if (!strcmp(a, "path")) opt_path = v;
		else if (!strcmp(a, "resource")) opt_resource = v;
		else if (!strcmp(a, "header")) opt_header = v;
		else if (!strcmp(a, "inflight")) opt_inflight = atol(v);
		else if (!strcmp(a, "secs")) opt_secs = atof(v);
		else if (!strcmp(a, "n")) opt_n = atol(v);
		else if (!strcmp(a, "warmup")) opt_warmup = atof(v);
		else if (!strcmp(a, "timeout")) opt_timeout = atof(v);
		else if (!strcmp(a, "gwpid")) opt_gwpid = atol(v);
		else if (!strcmp(a, "brokerpid")) opt_brokerpid = atol(v);
		else if (!strcmp(a, "pid")) opt_pid = atol(v);
		else if (!strcmp(a, "broker")) opt_broker = v;
		else if (!strcmp(a, "conns")) opt_conns = atol(v);
		else if (!strcmp(a, "subs")) opt_subs = atol(v);
		else if (!strcmp(a, "batch")) opt_batch = atol(v);
		else if (!strcmp(a, "order")) opt_order = v;
		else die("unknown option --%s", a);
	}
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(opt_scenario, "listenrate"))
		return run_listenrate();
	if (!strcmp(opt_scenario, "brokersubs"))
		return run_brokersubs();
	if (!strcmp(opt_scenario, "freeport")) {
		int p = wsc_free_port();
		if (p < 0)
			die("freeport: %s", strerror(errno));
		printf("%d\n", p);
		return 0;
	}
	die("--scenario=listenrate|brokersubs|freeport");
}

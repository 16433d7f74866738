/*
 * wsbench - a small WebSocket load generator for wspipe / websocketd.
 *
 * Plain C11 + POSIX/Linux (epoll, signalfd); no libraries besides libc.
 * The WebSocket client (upgrade, masked frames, a streaming frame parser
 * for fragmented messages, ping and close) is bench/wsclient.c, which
 * frames with src/ws.c.
 *
 * Build:  make bench   (in the configured tree)
 *
 * Every scenario prints one machine-readable result line of key=value pairs
 * on stdout (the idle scenario also prints a "ready=1 ..." line first).
 *
 *   wsbench --scenario=rtt        --port=P [--n=5000] [--size=32]
 *   wsbench --scenario=throughput --port=P [--conns=1] [--window=16]
 *           [--size=32] [--secs=3 | --n=N] [--stall=5]
 *   wsbench --scenario=connrate   --port=P [--inflight=4] [--secs=3]
 *   wsbench --scenario=idle       --port=P [--conns=1000] [--inflight=100]
 *           [--hold-max=300]   (prints ready=1, waits for SIGUSR1, closes)
 *   wsbench --scenario=probe      --port=P [--timeout=10]
 *           (retries connect + handshake + one echo until it works)
 *   wsbench --scenario=freeport   (prints a currently free TCP port)
 *
 * Common: --host=127.0.0.1 --path=/ --pid=GATEWAY_PID (adds gw_cpu_ms, the
 * gateway's utime+stime from /proc/PID/stat over the measured window, and
 * gw_cpu_us_per_msg / gw_cpu_us_per_conn).
 *
 * Message accounting: one "message" is one text message sent by the client
 * and echoed back by the program (cat) through the gateway.
 *
 * Note: all data frames of one size share the same (precomputed) masking key.
 * The protocol only requires that client frames be masked; reusing the
 * key keeps the load generator's own CPU use low (the machine may have
 * only two cores shared with the gateway and the programs).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wsclient.h"

/* ------------------------------------------------------------------ */
/* options                                                             */

static const char *opt_scenario = "rtt";
static const char *opt_host = "127.0.0.1";
static const char *opt_path = "/";
static int opt_port = 0;
static long opt_conns = 1;
static long opt_window = 16;
static long opt_size = 32;
static double opt_secs = 3.0;
static long opt_n = 0;
static double opt_stall = 5.0;
static long opt_inflight = 0;
static double opt_hold_max = 300.0;
static double opt_timeout = 10.0;
static long opt_gwpid = 0;

/* ------------------------------------------------------------------ */
/* helpers                                                             */

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
	fprintf(stderr, "wsbench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

/* utime+stime of a process in clock ticks, -1 if unavailable */
static long long proc_cpu_ticks(long pid)
{
	char path[64], buf[4096];
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
	p += 2; /* now at field 3 (state) */
	long long ut = 0, st = 0;
	/* fields 3..13 are skipped, 14 = utime, 15 = stime */
	for (int field = 3; field < 14; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	if (sscanf(p, "%lld %lld", &ut, &st) != 2)
		return -1;
	return ut + st;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	if (i >= n)
		i = n - 1;
	return v[i];
}

/* ------------------------------------------------------------------ */
/* frames                                                              */

static const unsigned char MASK[4] = {0x37, 0xfa, 0x21, 0x3d};

/* the repeated data-frame stream: R copies of the same frame */
static unsigned char *rep;
static size_t rep_len, frame_len;
static size_t msg_size;

static void build_rep(size_t size, long copies_hint)
{
	unsigned char *payload = xmalloc(size);
	static const char pat[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	for (size_t i = 0; i < size; i++)
		payload[i] = (unsigned char)pat[i % (sizeof pat - 1)];
	unsigned char *f = xmalloc(size + WS_HEADER_MAX);
	frame_len = wsc_frame(f, WS_OP_TEXT, payload, size, MASK);
	size_t copies = copies_hint > 0 ? (size_t)copies_hint : 1;
	while (copies > 1 && copies * frame_len > (1u << 20))
		copies--;
	if (copies < 1)
		copies = 1;
	rep_len = copies * frame_len;
	rep = xmalloc(rep_len);
	for (size_t i = 0; i < copies; i++)
		memcpy(rep + i * frame_len, f, frame_len);
	free(f);
	free(payload);
	msg_size = size;
}

/* ------------------------------------------------------------------ */
/* connections                                                         */

enum { ST_FREE, ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSING };

struct conn {
	int fd;
	int state;
	int want_out; /* EPOLLOUT registered */
	/* handshake response */
	char hs[4096];
	size_t hslen;
	/* small/control output (handshake request, close, pong) */
	unsigned char ctl[512];
	size_t ctl_len, ctl_off;
	/* data output: frames still to send, offset in the current frame */
	uint64_t tx_frames;
	size_t tx_phase;
	struct wsc_rx rx;
	/* accounting */
	uint64_t outstanding;
	uint64_t recvd;
	int got_close;
	int close_code;
	int sent_close;
	double t_start;
	double t_open, t_echo, t_closeframe; /* connrate phases */
	/* send timestamps for latency (ring, capacity = window) */
	double *ts;
	size_t ts_head, ts_count, ts_cap;
};

static int epfd = -1;
static struct conn *conns;
static long nconns;
static struct sockaddr_in6 srv_addr6;
static struct sockaddr_in srv_addr4;
static int srv_is_v6;

/* global counters */
static uint64_t g_msgs, g_rx_bytes, g_errors, g_mismatch, g_hs_fail,
	g_proto_err, g_eof, g_unexpected_close;
static uint64_t g_frames_sent;
static double g_last_progress;
static int g_running; /* throughput: keep refilling the window */
static uint64_t g_target_msgs; /* 0 = unlimited */
static uint64_t g_sent_msgs;

static double *lat;
static size_t lat_n, lat_cap;

static const char *last_err = "";

static void set_events(struct conn *c, int out)
{
	if (c->want_out == out)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0),
				 .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl MOD: %s", strerror(errno));
	c->want_out = out;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->state = ST_FREE;
}

static void conn_reset_state(struct conn *c)
{
	double *ts = c->ts;
	size_t cap = c->ts_cap;
	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->ts = ts;
	c->ts_cap = cap;
}

static int conn_start(struct conn *c)
{
	conn_reset_state(c);
	int fd = srv_is_v6 ? wsc_connect((struct sockaddr *)&srv_addr6, sizeof srv_addr6)
			   : wsc_connect((struct sockaddr *)&srv_addr4, sizeof srv_addr4);
	if (fd < 0) {
		last_err = errno == EMFILE || errno == ENFILE ? "socket" : "connect";
		return -1;
	}
	c->fd = fd;
	c->state = ST_CONNECTING;
	c->t_start = now_s();
	int n = wsc_request((char *)c->ctl, sizeof c->ctl, opt_host, opt_port, opt_path);
	if (n < 0)
		die("--host or --path too long");
	c->ctl_len = (size_t)n;
	c->ctl_off = 0;
	wsc_rx_init(&c->rx, 0, 0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl ADD: %s", strerror(errno));
	c->want_out = 1;
	return 0;
}

/* returns -1 if the connection failed (caller closes) */
static int conn_flush(struct conn *c)
{
	for (;;) {
		ssize_t n;
		if (c->tx_phase == 0 && c->ctl_off < c->ctl_len) {
			n = write(c->fd, c->ctl + c->ctl_off, c->ctl_len - c->ctl_off);
			if (n < 0) {
				if (errno == EAGAIN)
					break;
				last_err = "write";
				return -1;
			}
			c->ctl_off += (size_t)n;
			continue;
		}
		if (c->tx_frames == 0)
			break;
		/* contiguous periodic stream starting at phase */
		size_t avail = rep_len - c->tx_phase;
		uint64_t want = c->tx_frames * frame_len - c->tx_phase;
		if (want < avail)
			avail = (size_t)want;
		n = write(c->fd, rep + c->tx_phase, avail);
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			last_err = "write";
			return -1;
		}
		size_t done = c->tx_phase + (size_t)n;
		uint64_t frames_done = done / frame_len;
		c->tx_frames -= frames_done;
		c->tx_phase = done % frame_len;
	}
	int pending = (c->ctl_off < c->ctl_len) || c->tx_frames > 0;
	set_events(c, pending);
	return 0;
}

static void queue_frames(struct conn *c, uint64_t k)
{
	double t = lat ? now_s() : 0;
	for (uint64_t i = 0; i < k; i++) {
		if (c->ts && c->ts_count < c->ts_cap) {
			c->ts[(c->ts_head + c->ts_count) % c->ts_cap] = t;
			c->ts_count++;
		}
	}
	c->tx_frames += k;
	c->outstanding += k;
	g_sent_msgs += k;
	g_frames_sent += k;
}

static void queue_ctl_frame(struct conn *c, int opcode, const unsigned char *p,
			    size_t len)
{
	if (c->ctl_off == c->ctl_len)
		c->ctl_off = c->ctl_len = 0;
	if (c->ctl_len + len + WS_HEADER_MAX > sizeof c->ctl)
		return; /* drop: cannot happen with our traffic */
	c->ctl_len += wsc_frame(c->ctl + c->ctl_len, opcode, p, len, MASK);
}

static void queue_close(struct conn *c, int code)
{
	unsigned char p[2] = {(unsigned char)(code >> 8), (unsigned char)code};
	queue_ctl_frame(c, WS_OP_CLOSE, p, 2);
	c->sent_close = 1;
}

/* scenario callbacks */
struct scen {
	void (*on_open)(struct conn *c);
	void (*on_message)(struct conn *c, uint64_t len);
	void (*on_close_frame)(struct conn *c);
	void (*on_eof)(struct conn *c); /* connection ended (EOF/error) */
};
static struct scen *S;

static int feed(struct conn *c, unsigned char *p, size_t n);

static int handle_handshake(struct conn *c)
{
	ssize_t n = read(c->fd, c->hs + c->hslen, sizeof c->hs - 1 - c->hslen);
	if (n < 0) {
		if (errno == EAGAIN)
			return 0;
		last_err = "handshake read";
		return -1;
	}
	if (n == 0) {
		last_err = "handshake eof";
		return -1;
	}
	c->hslen += (size_t)n;
	long hlen = wsc_response(c->hs, c->hslen, &last_err);
	if (hlen < 0)
		return -1;
	if (hlen == 0) {
		if (c->hslen >= sizeof c->hs - 1) {
			last_err = "handshake too long";
			return -1;
		}
		return 0;
	}
	c->state = ST_OPEN;
	size_t extra = c->hslen - (size_t)hlen;
	if (S->on_open)
		S->on_open(c);
	if (extra) {
		/* frames already arrived behind the 101: feed them */
		unsigned char tmp[4096];
		memcpy(tmp, c->hs + hlen, extra);
		if (feed(c, tmp, extra) < 0)
			return -1;
	}
	return 0;
}

static void on_control(struct conn *c, const struct wsc_ev *ev)
{
	if (ev->opcode == WS_OP_CLOSE) {
		c->got_close = 1;
		c->close_code = ev->len >= 2 ? (ev->data[0] << 8 | ev->data[1]) : 1005;
		if (S->on_close_frame)
			S->on_close_frame(c);
	} else if (ev->opcode == WS_OP_PING) {
		if (c->tx_phase == 0)
			queue_ctl_frame(c, WS_OP_PONG, ev->data, ev->len);
	}
}

static void on_message(struct conn *c, uint64_t len)
{
	g_msgs++;
	c->recvd++;
	if (c->outstanding)
		c->outstanding--;
	if (len != msg_size)
		g_mismatch++;
	if (c->ts && c->ts_count) {
		double t = now_s() - c->ts[c->ts_head];
		c->ts_head = (c->ts_head + 1) % c->ts_cap;
		c->ts_count--;
		if (lat && lat_n < lat_cap)
			lat[lat_n++] = t * 1e6;
	}
	if (S->on_message)
		S->on_message(c, len);
}

static int feed(struct conn *c, unsigned char *p, size_t n)
{
	size_t off = 0;
	struct wsc_ev ev;
	for (;;) {
		switch (wsc_next(&c->rx, p, n, &off, &ev)) {
		case WSC_NEED:
			return 0;
		case WSC_ERROR:
			last_err = ev.errstr;
			g_proto_err++;
			return -1;
		case WSC_CONTROL:
			on_control(c, &ev);
			break;
		case WSC_MESSAGE:
			on_message(c, ev.msglen);
			break;
		}
		if (c->state == ST_FREE)
			return 0;
	}
}

static unsigned char rxbuf[256 * 1024];

static void conn_fail(struct conn *c)
{
	int was_open = c->state == ST_OPEN || c->state == ST_CLOSING;
	if (!was_open)
		g_hs_fail++;
	if (S->on_eof)
		S->on_eof(c);
	if (c->state != ST_FREE)
		conn_close(c);
}

static void handle_event(struct conn *c, uint32_t ev)
{
	if (c->state == ST_CONNECTING) {
		if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
			int err = 0;
			socklen_t el = sizeof err;
			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
			if (err) {
				last_err = "connect failed";
				conn_fail(c);
				return;
			}
			c->state = ST_HANDSHAKE;
		} else {
			return;
		}
	}
	if (ev & EPOLLOUT || c->state == ST_HANDSHAKE) {
		if (conn_flush(c) < 0) {
			conn_fail(c);
			return;
		}
	}
	if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	if (c->state == ST_HANDSHAKE) {
		if (handle_handshake(c) < 0) {
			conn_fail(c);
			return;
		}
		if (c->state == ST_OPEN && conn_flush(c) < 0)
			conn_fail(c);
		return;
	}
	ssize_t n = read(c->fd, rxbuf, sizeof rxbuf);
	if (n < 0) {
		if (errno == EAGAIN)
			return;
		last_err = "read error";
		g_eof++;
		conn_fail(c);
		return;
	}
	if (n == 0) {
		g_eof++;
		conn_fail(c);
		return;
	}
	g_rx_bytes += (uint64_t)n;
	g_last_progress = now_s();
	if (feed(c, rxbuf, (size_t)n) < 0) {
		conn_fail(c);
		return;
	}
	if (c->state != ST_FREE && conn_flush(c) < 0)
		conn_fail(c);
}

static void resolve(void)
{
	memset(&srv_addr4, 0, sizeof srv_addr4);
	memset(&srv_addr6, 0, sizeof srv_addr6);
	if (inet_pton(AF_INET, opt_host, &srv_addr4.sin_addr) == 1) {
		srv_addr4.sin_family = AF_INET;
		srv_addr4.sin_port = htons((uint16_t)opt_port);
		srv_is_v6 = 0;
	} else if (inet_pton(AF_INET6, opt_host, &srv_addr6.sin6_addr) == 1) {
		srv_addr6.sin6_family = AF_INET6;
		srv_addr6.sin6_port = htons((uint16_t)opt_port);
		srv_is_v6 = 1;
	} else {
		die("--host must be a numeric address");
	}
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void setup(long n, long ts_cap)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1: %s", strerror(errno));
	nconns = n;
	conns = calloc((size_t)n, sizeof *conns);
	if (!conns)
		die("out of memory");
	for (long i = 0; i < n; i++) {
		conns[i].fd = -1;
		if (ts_cap > 0) {
			conns[i].ts = xmalloc(sizeof(double) * (size_t)ts_cap);
			conns[i].ts_cap = (size_t)ts_cap;
		}
	}
}

/* one round of event processing; timeout in ms */
static void poll_once(int timeout_ms)
{
	struct epoll_event evs[256];
	int k = epoll_wait(epfd, evs, 256, timeout_ms);
	if (k < 0) {
		if (errno == EINTR)
			return;
		die("epoll_wait: %s", strerror(errno));
	}
	for (int i = 0; i < k; i++) {
		struct conn *c = evs[i].data.ptr;
		if (c == NULL)
			continue; /* signalfd, handled by the caller */
		if (c->state == ST_FREE)
			continue;
		handle_event(c, evs[i].events);
	}
}

static long count_state(int st)
{
	long k = 0;
	for (long i = 0; i < nconns; i++)
		if (conns[i].state == st)
			k++;
	return k;
}

/* open all connections (at most `inflight` handshakes at once). Returns the
 * number of open connections; failures are counted in g_hs_fail. */
static long open_all(long inflight, double deadline)
{
	long next = 0, open = 0;
	for (;;) {
		long pending = 0;
		open = 0;
		for (long i = 0; i < next; i++) {
			if (conns[i].state == ST_CONNECTING || conns[i].state == ST_HANDSHAKE)
				pending++;
			else if (conns[i].state == ST_OPEN)
				open++;
		}
		while (next < nconns && pending < inflight) {
			if (conn_start(&conns[next]) < 0) {
				g_hs_fail++;
				conns[next].state = ST_FREE;
			} else {
				pending++;
			}
			next++;
		}
		if (next >= nconns && pending == 0)
			break;
		if (now_s() > deadline) {
			last_err = "timeout opening connections";
			break;
		}
		poll_once(100);
	}
	return open;
}

static void print_cpu(long long t0, long long t1, double per_msgs, double per_conns)
{
	if (opt_gwpid <= 0)
		return;
	if (t0 < 0 || t1 < 0) {
		printf(" gw_cpu_ms=NA");
		return;
	}
	double ms = (double)(t1 - t0) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
	printf(" gw_cpu_ms=%.0f", ms);
	if (per_msgs > 0)
		printf(" gw_cpu_us_per_msg=%.3f", ms * 1000.0 / per_msgs);
	if (per_conns > 0)
		printf(" gw_cpu_us_per_conn=%.1f", ms * 1000.0 / per_conns);
}

/* ------------------------------------------------------------------ */
/* throughput and rtt                                                  */

static void tp_on_open(struct conn *c) { (void)c; }

static void tp_on_message(struct conn *c, uint64_t len)
{
	(void)len;
	if (!g_running)
		return;
	if (g_target_msgs && g_sent_msgs >= g_target_msgs)
		return;
	queue_frames(c, 1);
}

static void tp_on_close_frame(struct conn *c)
{
	if (!c->sent_close)
		g_unexpected_close++;
}

static struct scen scen_tp = {tp_on_open, tp_on_message, tp_on_close_frame, NULL};

static int run_throughput(int rtt_mode)
{
	long conns_n = rtt_mode ? 1 : opt_conns;
	long window = rtt_mode ? 1 : opt_window;
	if (rtt_mode && opt_n <= 0)
		opt_n = 5000;
	S = &scen_tp;
	build_rep((size_t)opt_size, window);
	lat_cap = rtt_mode ? (size_t)opt_n + 16 : 1000000;
	lat = xmalloc(sizeof(double) * lat_cap);
	setup(conns_n, window);
	long inflight = opt_inflight > 0 ? opt_inflight : 64;
	long open = open_all(inflight, now_s() + 60);
	if (open != conns_n) {
		printf("scenario=%s conns=%ld error=open_failed opened=%ld hs_fail=%" PRIu64
		       " last_err=\"%s\"\n", rtt_mode ? "rtt" : "throughput", conns_n,
		       open, g_hs_fail, last_err);
		return 1;
	}
	if (rtt_mode) {
		/* warm-up: 200 round trips, not measured */
		g_running = 1;
		g_target_msgs = 200;
		queue_frames(&conns[0], 1);
		conn_flush(&conns[0]);
		while (g_msgs < 200 && conns[0].state == ST_OPEN)
			poll_once(1000);
		g_msgs = 0;
		lat_n = 0;
		g_sent_msgs = 0;
	}
	g_target_msgs = opt_n > 0 ? (uint64_t)opt_n : 0;
	g_running = 1;
	long long cpu0 = proc_cpu_ticks(opt_gwpid);
	double t0 = now_s();
	double deadline = opt_n > 0 ? t0 + 3600 : t0 + opt_secs;
	g_last_progress = t0;
	for (long i = 0; i < conns_n; i++) {
		uint64_t k = (uint64_t)window;
		if (g_target_msgs && g_sent_msgs + k > g_target_msgs)
			k = g_target_msgs - g_sent_msgs;
		queue_frames(&conns[i], k);
		if (conn_flush(&conns[i]) < 0)
			conn_fail(&conns[i]);
	}
	/* measured phase until the deadline (or N messages); then drain the
	 * outstanding echoes. No received byte for --stall seconds at any
	 * time = stall. */
	int stall = 0, ended = 0;
	double t1 = t0;
	long long cpu1 = -1;
	uint64_t msgs_at_end = 0;
	for (;;) {
		poll_once(50);
		double t = now_s();
		int lost = count_state(ST_OPEN) < conns_n;
		if (t - g_last_progress > opt_stall)
			stall = 1;
		if (!ended && ((g_target_msgs && g_msgs >= g_target_msgs) ||
			       t >= deadline || lost || stall)) {
			ended = 1;
			t1 = t;
			cpu1 = proc_cpu_ticks(opt_gwpid);
			msgs_at_end = g_msgs;
			g_running = 0;
		}
		if (lost || stall)
			break;
		if (ended) {
			uint64_t out = 0;
			for (long i = 0; i < conns_n; i++)
				out += conns[i].outstanding;
			if (out == 0)
				break;
		}
	}
	uint64_t drained = g_msgs - msgs_at_end;
	g_msgs = msgs_at_end;
	double secs = t1 - t0;
	long closed = conns_n - count_state(ST_OPEN);
	if (rtt_mode) {
		qsort(lat, lat_n, sizeof *lat, cmp_double);
		double sum = 0;
		for (size_t i = 0; i < lat_n; i++)
			sum += lat[i];
		printf("scenario=rtt n=%zu size=%ld p50_us=%.1f p90_us=%.1f p99_us=%.1f"
		       " min_us=%.1f max_us=%.1f mean_us=%.1f",
		       lat_n, opt_size, pct(lat, lat_n, .5), pct(lat, lat_n, .9),
		       pct(lat, lat_n, .99), lat_n ? lat[0] : 0,
		       lat_n ? lat[lat_n - 1] : 0, lat_n ? sum / (double)lat_n : 0);
	} else {
		qsort(lat, lat_n, sizeof *lat, cmp_double);
		printf("scenario=throughput conns=%ld window=%ld size=%ld secs=%.3f msgs=%" PRIu64
		       " msgs_per_sec=%.0f mib_per_sec=%.2f lat_p50_us=%.0f lat_p99_us=%.0f",
		       conns_n, window, opt_size, secs, g_msgs, (double)g_msgs / secs,
		       (double)g_msgs * (double)opt_size / secs / 1048576.0,
		       pct(lat, lat_n, .5), pct(lat, lat_n, .99));
	}
	printf(" drained=%" PRIu64, drained);
	printf(" rx_bytes=%" PRIu64 " stall=%d closed=%ld errors=%" PRIu64 " mismatches=%" PRIu64
	       " proto_errors=%" PRIu64 " unexpected_close=%" PRIu64,
	       g_rx_bytes, stall, closed, g_errors, g_mismatch, g_proto_err, g_unexpected_close);
	if (stall || closed)
		printf(" last_err=\"%s\" outstanding_conn0=%" PRIu64, last_err,
		       conns[0].outstanding);
	print_cpu(cpu0, cpu1, (double)g_msgs, 0);
	printf("\n");
	fflush(stdout);
	/* polite shutdown: close frames, brief wait for the answers */
	for (long i = 0; i < conns_n; i++) {
		struct conn *c = &conns[i];
		if (c->state != ST_OPEN)
			continue;
		if (!stall && c->tx_phase == 0) {
			c->tx_frames = 0;
			queue_close(c, 1000);
			c->state = ST_CLOSING;
			if (conn_flush(c) < 0)
				conn_close(c);
		} else {
			conn_close(c);
		}
	}
	double dl = now_s() + 2;
	while (count_state(ST_CLOSING) > 0 && now_s() < dl)
		poll_once(50);
	for (long i = 0; i < conns_n; i++)
		if (conns[i].state != ST_FREE)
			conn_close(&conns[i]);
	return stall || closed ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* connrate                                                            */

static uint64_t cr_done, cr_fail, cr_slow_close, cr_bad_code;
static double cr_deadline;
static double *cr_lat;
static size_t cr_lat_n, cr_lat_cap;

static double *ph_hs, *ph_echo, *ph_cf, *ph_eof;
static size_t ph_n;

static void cr_on_open(struct conn *c)
{
	c->t_open = now_s();
	queue_frames(c, 1);
}

static void cr_on_message(struct conn *c, uint64_t len)
{
	(void)len;
	c->t_echo = now_s();
	queue_close(c, 1000);
	c->state = ST_CLOSING;
}

static void cr_on_close_frame(struct conn *c)
{
	c->t_closeframe = now_s();
	if (c->close_code != 1000)
		cr_bad_code++;
}

static void cr_finish(struct conn *c, int ok)
{
	if (ok) {
		double t = now_s();
		cr_done++;
		if (cr_lat_n < cr_lat_cap)
			cr_lat[cr_lat_n++] = (t - c->t_start) * 1e6;
		if (ph_n < cr_lat_cap && c->t_open > 0 && c->t_echo > 0 && c->t_closeframe > 0) {
			ph_hs[ph_n] = (c->t_open - c->t_start) * 1e6;
			ph_echo[ph_n] = (c->t_echo - c->t_open) * 1e6;
			ph_cf[ph_n] = (c->t_closeframe - c->t_echo) * 1e6;
			ph_eof[ph_n] = (t - c->t_closeframe) * 1e6;
			ph_n++;
		}
	} else {
		cr_fail++;
	}
}

static void cr_on_eof(struct conn *c)
{
	/* EOF after our close and the server's close frame = success */
	cr_finish(c, c->state == ST_CLOSING && c->got_close);
}

static struct scen scen_cr = {cr_on_open, cr_on_message, cr_on_close_frame, cr_on_eof};

static int run_connrate(void)
{
	long k = opt_inflight > 0 ? opt_inflight : 4;
	S = &scen_cr;
	build_rep((size_t)opt_size, 1);
	setup(k, 0);
	cr_lat_cap = 1000000;
	cr_lat = xmalloc(sizeof(double) * cr_lat_cap);
	ph_hs = xmalloc(sizeof(double) * cr_lat_cap);
	ph_echo = xmalloc(sizeof(double) * cr_lat_cap);
	ph_cf = xmalloc(sizeof(double) * cr_lat_cap);
	ph_eof = xmalloc(sizeof(double) * cr_lat_cap);
	long long cpu0 = proc_cpu_ticks(opt_gwpid);
	double t0 = now_s();
	cr_deadline = t0 + opt_secs;
	for (long i = 0; i < k; i++)
		if (conn_start(&conns[i]) < 0)
			cr_fail++;
	double t1;
	for (;;) {
		poll_once(20);
		t1 = now_s();
		long active = 0;
		for (long i = 0; i < k; i++) {
			struct conn *c = &conns[i];
			if (c->state != ST_FREE && t1 - c->t_start > opt_timeout) {
				/* stuck: a close frame received but no EOF counts as
				 * slow close; anything else as failure */
				if (c->state == ST_CLOSING && c->got_close) {
					cr_slow_close++;
					cr_finish(c, 1);
				} else {
					last_err = "connection timed out";
					cr_finish(c, 0);
				}
				conn_close(c);
			}
			if (c->state == ST_FREE && t1 < cr_deadline) {
				if (conn_start(c) < 0) {
					cr_fail++;
					continue;
				}
			}
			if (c->state != ST_FREE)
				active++;
		}
		if (t1 >= cr_deadline && active == 0)
			break;
	}
	long long cpu1 = proc_cpu_ticks(opt_gwpid);
	double secs = t1 - t0;
	qsort(cr_lat, cr_lat_n, sizeof *cr_lat, cmp_double);
	printf("scenario=connrate inflight=%ld secs=%.3f conns=%" PRIu64
	       " conns_per_sec=%.1f failed=%" PRIu64 " slow_close=%" PRIu64
	       " bad_close_code=%" PRIu64 " mismatches=%" PRIu64
	       " cycle_p50_us=%.0f cycle_p99_us=%.0f",
	       k, secs, cr_done, (double)cr_done / secs, cr_fail, cr_slow_close,
	       cr_bad_code, g_mismatch, pct(cr_lat, cr_lat_n, .5),
	       pct(cr_lat, cr_lat_n, .99));
	qsort(ph_hs, ph_n, sizeof(double), cmp_double);
	qsort(ph_echo, ph_n, sizeof(double), cmp_double);
	qsort(ph_cf, ph_n, sizeof(double), cmp_double);
	qsort(ph_eof, ph_n, sizeof(double), cmp_double);
	/* phases: connect..101, 101..echo, echo..server close frame,
	 * close frame..TCP EOF */
	printf(" hs_p50_us=%.0f echo_p50_us=%.0f closeframe_p50_us=%.0f eof_p50_us=%.0f",
	       pct(ph_hs, ph_n, .5), pct(ph_echo, ph_n, .5), pct(ph_cf, ph_n, .5),
	       pct(ph_eof, ph_n, .5));
	if (cr_fail)
		printf(" last_err=\"%s\"", last_err);
	print_cpu(cpu0, cpu1, 0, (double)cr_done);
	printf("\n");
	fflush(stdout);
	return cr_fail ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* idle                                                                */

static uint64_t idle_dropped;

static void idle_on_eof(struct conn *c)
{
	if (c->state == ST_OPEN)
		idle_dropped++;
}

static void idle_on_close(struct conn *c)
{
	idle_dropped++;
	c->state = ST_CLOSING;
}

static struct scen scen_idle = {NULL, NULL, idle_on_close, idle_on_eof};

static int run_idle(void)
{
	S = &scen_idle;
	build_rep((size_t)opt_size, 1);
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGUSR1);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	int sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd: %s", strerror(errno));
	setup(opt_conns, 0);
	struct epoll_event sev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &sev);
	long inflight = opt_inflight > 0 ? opt_inflight : 100;
	double t0 = now_s();
	long open = open_all(inflight, t0 + 120);
	double t_open = now_s() - t0;
	printf("ready=1 conns=%ld opened=%ld open_secs=%.3f hs_fail=%" PRIu64 "\n",
	       opt_conns, open, t_open, g_hs_fail);
	fflush(stdout);
	/* hold until SIGUSR1 (or SIGTERM/SIGINT, or hold-max) */
	double dl = now_s() + opt_hold_max;
	int sig = 0;
	while (!sig && now_s() < dl) {
		poll_once(200);
		struct signalfd_siginfo si;
		if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
			sig = (int)si.ssi_signo;
	}
	long still = count_state(ST_OPEN);
	/* close: send close frames, then close all sockets */
	for (long i = 0; i < nconns; i++)
		if (conns[i].state != ST_FREE)
			conn_close(&conns[i]);
	printf("scenario=idle conns=%ld opened=%ld open_secs=%.3f held_open=%ld"
	       " dropped=%" PRIu64 " hs_fail=%" PRIu64 " released_by=%s",
	       opt_conns, open, t_open, still, idle_dropped, g_hs_fail,
	       sig == SIGUSR1 ? "SIGUSR1" : sig ? "signal" : "timeout");
	if (g_hs_fail)
		printf(" last_err=\"%s\"", last_err);
	printf("\n");
	fflush(stdout);
	return open == opt_conns && still == open ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* probe, freeport                                                     */

static int run_probe(void)
{
	double dl = now_s() + opt_timeout;
	S = &scen_tp;
	build_rep((size_t)opt_size, 1);
	for (;;) {
		g_msgs = 0;
		g_hs_fail = 0;
		if (epfd >= 0)
			close(epfd);
		free(conns);
		setup(1, 0);
		long open = open_all(1, dl);
		if (open == 1) {
			g_running = 0;
			queue_frames(&conns[0], 1);
			conn_flush(&conns[0]);
			while (g_msgs < 1 && conns[0].state == ST_OPEN && now_s() < dl)
				poll_once(100);
			if (g_msgs == 1) {
				printf("scenario=probe ok=1\n");
				conn_close(&conns[0]);
				return 0;
			}
		}
		if (conns[0].state != ST_FREE)
			conn_close(&conns[0]);
		if (now_s() > dl)
			break;
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	printf("scenario=probe ok=0 last_err=\"%s\"\n", last_err);
	return 1;
}

static int run_freeport(void)
{
	int port = wsc_free_port();
	if (port < 0)
		die("bind: %s", strerror(errno));
	printf("%d\n", port);
	return 0;
}

/* ------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr,
		"usage: wsbench --scenario=rtt|throughput|connrate|idle|probe|freeport\n"
		"       --port=P [--host=127.0.0.1] [--path=/] [--pid=GWPID]\n"
		"       [--conns=C] [--window=W] [--size=BYTES] [--secs=T] [--n=N]\n"
		"       [--stall=SECS] [--inflight=K] [--hold-max=SECS] [--timeout=SECS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (strncmp(a, "--", 2) != 0)
			usage();
		a += 2;
		char *v = strchr(a, '=');
		if (!v) {
			if (strcmp(a, "help") == 0)
				usage();
			if (i + 1 >= argc)
				usage();
			v = argv[++i];
		} else {
			*v++ = 0;
		}
		if (!strcmp(a, "scenario")) opt_scenario = v;
		else if (!strcmp(a, "host")) opt_host = v;
		else if (!strcmp(a, "path")) opt_path = v;
		else if (!strcmp(a, "port")) opt_port = atoi(v);
		else if (!strcmp(a, "conns")) opt_conns = atol(v);
		else if (!strcmp(a, "window")) opt_window = atol(v);
		else if (!strcmp(a, "size")) opt_size = atol(v);
		else if (!strcmp(a, "secs")) opt_secs = atof(v);
		else if (!strcmp(a, "n")) opt_n = atol(v);
		else if (!strcmp(a, "stall")) opt_stall = atof(v);
		else if (!strcmp(a, "inflight")) opt_inflight = atol(v);
		else if (!strcmp(a, "hold-max")) opt_hold_max = atof(v);
		else if (!strcmp(a, "timeout")) opt_timeout = atof(v);
		else if (!strcmp(a, "pid")) opt_gwpid = atol(v);
		else usage();
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (!strcmp(opt_scenario, "freeport"))
		return run_freeport();
	if (opt_port <= 0 || opt_port > 65535)
		die("--port is required");
	if (opt_size < 0 || opt_conns < 1 || opt_window < 1)
		die("bad --size/--conns/--window");
	resolve();
	if (!strcmp(opt_scenario, "rtt"))
		return run_throughput(1);
	if (!strcmp(opt_scenario, "throughput"))
		return run_throughput(0);
	if (!strcmp(opt_scenario, "connrate"))
		return run_connrate();
	if (!strcmp(opt_scenario, "idle"))
		return run_idle();
	if (!strcmp(opt_scenario, "probe"))
		return run_probe();
	usage();
	return 2;
}

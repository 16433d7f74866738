/*
 * fanbench - pub/sub fan-out load generator for wspipe's listen mode, for
 * a websocketd + nc + chat-server setup and for nats-server over WebSocket.
 *
 * Plain C11 + POSIX/Linux (epoll); no libraries besides libc.  The
 * WebSocket client is bench/wsclient.c, which frames with src/ws.c.
 * Build:  make bench   (in the configured tree)
 *
 *   fanbench --mode=wspipe --port=P --broker=SOCK --subs=N [--resources=K]
 *            [--phases=steady:RATE,max] [--secs=3] [--warmup=0.5]
 *            [--window=W] [--gwpid=PID[,PID...]] [--gwpid2=PID]
 *            [--extrapid=PID] [--inflight=200] [--ids] [--port2=P2]
 *            [--transport=ws|sse] [--mount=/wspipe/live]
 *   fanbench --mode=chat   --port=P --subs=N [same options]
 *   fanbench --mode=nats   --port=WSPORT --natsport=P --subs=N [same options]
 *   fanbench --scenario=freeport
 *
 * mode=wspipe: N WebSocket subscribers connect to the gateway and send
 *   "subscribe /r" (K = 1) or "subscribe /r<i % K>" (K > 1); the publisher
 *   writes "publish <res> <seq> <send-ns>" lines to the broker's UNIX
 *   socket SOCK, round-robin over the resources (seq s goes to s % K).
 *   Subscribers receive "update <res> <seq> <send-ns>".  With --ids they
 *   send "subscribe <res> current" instead (what listen.js does) and
 *   receive "update <res> <EPOCH-SEQ> <seq> <send-ns>": skipped states
 *   are then counted from the ids (a jump of the id's SEQ by more than 1
 *   within an epoch misses the states between), "gap <res> WHY" lines are
 *   counted (gap_lines), and the payload's seq is only a cross-check
 *   (seq_skipped).  Without --ids, skipped comes from the payload's seq.
 *   With --transport=sse the subscribers are server-sent event streams
 *   instead of WebSockets: each sends "GET <mount><res> HTTP/1.1" with
 *   "Accept: text/event-stream" (--mount: the listen path, /live for
 *   --listen=/live; /wspipe/live, the default, for a bare --listen), counts
 *   as subscribed at the 200 answer, and parses the stream incrementally
 *   (lines ending in LF, CR or CRLF; id:, data:, event: fields; comments
 *   and the heartbeat ignored).  An update is "id: EPOCH-SEQ" and
 *   "data: <seq> <send-ns>"; the ids are checked as with --ids (which
 *   this implies), event "gap" counts as a gap line and event "refused"
 *   as an error.
 *   With --port2=P2 (any mode), the subscribers alternate between two
 *   gateways: even-numbered ones connect to --port, odd-numbered ones to
 *   --port2 (e.g. two gateways whose brokers share resources through
 *   Redis; the publisher still goes to --broker / --natsport only).
 * mode=chat: N WebSocket subscribers connect to websocketd (which runs
 *   nc to a broadcast chat server); the publisher is one more WebSocket
 *   client that sends "<seq> <send-ns>" messages; subscribers receive the
 *   same text back from the chat server.  K must be 1.
 * mode=nats: N WebSocket subscribers connect to nats-server's websocket
 *   port and speak the NATS client protocol in binary frames: "CONNECT
 *   {...}", "SUB r 1" (K = 1) or "SUB r<i % K> 1", "PING"; the "PONG" is
 *   their "ok subscribe".  The server's bytes are parsed as a stream
 *   (several MSGs per frame, a MSG split across frames); server PINGs are
 *   answered.  The publisher is a plain TCP NATS client on --natsport
 *   sending "PUB <subject> <len>\r\n<seq> <send-ns>\r\n": the payload is
 *   the same bytes as wspipe's update data.
 *
 * Before the phases, a sync step publishes seq 0 to every resource every
 * 100 ms until every subscriber has received one (so every subscription
 * has reached the broker / every nc has connected to the chat server).
 *
 * Phases (comma-separated, each: warm-up, measured window of --secs,
 * then publishing stops and the remaining deliveries are drained):
 *   steady:R  R publishes per second, on a schedule (at most --cap
 *             publishes outstanding, else the publisher counts "behind")
 *   max       as fast as possible while every subscriber keeps up: at most
 *             --window publishes not yet received by all their subscribers
 *
 * Every phase also reports: the time from its first publish to its first
 * delivery at any subscriber (first_any_us) and until every subscriber has
 * had one (first_all_us, -1 if not within the phase), and the longest gap
 * between two consecutive deliveries at one subscriber from the phase's
 * first delivery to the end of its drain (gap_max_us; gap_p50_us and
 * gap_p99_us are percentiles over the subscribers of each one's longest
 * gap; interval_us is the publish interval each subscriber sees in a
 * steady phase).  The setup line has the same for the very first publish
 * (the first sync publish of seq 0, on a gateway that has delivered
 * nothing yet): cold_first_us, cold_all_us.
 *
 * A delivery = one update received by one subscriber.  Latency = receive
 * time - the CLOCK_MONOTONIC timestamp embedded by the publisher (same
 * process, same clock).  --gwpid: CPU (utime+stime) and VmRSS/Pss of that
 * process and of all its descendants (the wspipe broker, websocketd's nc
 * processes); --extrapid: one more process counted in memory and CPU
 * (the chat server, redis-server).  *_hwm_kb is VmHWM, the peak RSS since
 * the process started; gw_anon*_kb is RssAnon, the gateway's RSS without
 * its file-backed pages (library code a first connection touches, such as
 * libcrypto's for the WebSocket handshake).  --gwpid takes a
 * comma-separated list of up to 8 gateways (--gwpid2=PID adds one more): the gw_* keys are then the sums
 * over all those gateway processes, the desc_* and broker_* keys over all
 * their descendants, and total_* / extra_* are as before (all gateways,
 * their descendants and --extrapid).  One key=value result line per phase
 * on stdout.
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
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "wsclient.h"

/* ------------------------------------------------------------------ */
/* options                                                             */

static const char *opt_mode = "wspipe";
static const char *opt_scenario = "fanout";
static const char *opt_path = "/";
static const char *opt_broker = NULL;
static const char *opt_phases = "max";
static int opt_port;
static int opt_port2;   /* 0: every subscriber on opt_port */
static int opt_natsport;
static long opt_subs = 1000;
static long opt_res = 1;
static double opt_secs = 3.0;
static double opt_warmup = 0.5;
static long opt_window = 16;
static long opt_cap = 0;
#define GWPID_MAX 8
static long opt_gwpid[GWPID_MAX]; /* --gwpid list, then --gwpid2 */
static int n_gwpid;
static long opt_extrapid;
static long opt_inflight = 200;
static double opt_timeout = 60.0;
static double opt_drain = 15.0;
static int opt_ids;
static const char *opt_transport = "ws";
static const char *opt_mount = "/wspipe/live";

static int chat_mode;
static int nats_mode;
static int sse_mode;	/* --transport=sse */

/* ------------------------------------------------------------------ */
/* helpers                                                             */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fanbench: ");
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
/* /proc: CPU and memory of a process tree                             */

static long long proc_cpu_ticks(long pid)
{
	char path[64], buf[4096];
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
	p += 2;
	for (int field = 3; field < 14; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	long long ut, st;
	if (sscanf(p, "%lld %lld", &ut, &st) != 2)
		return -1;
	return ut + st;
}

static long proc_ppid(long pid)
{
	char path[64], buf[1024];
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
	long ppid;
	char st;
	if (!p || sscanf(p + 2, "%c %ld", &st, &ppid) != 2)
		return -1;
	return ppid;
}

/* "VmRSS:" / "Pss:" style field of a /proc file, in kB; -1 if absent */
static long proc_kb(long pid, const char *file, const char *key)
{
	char path[64], buf[8192];
	snprintf(path, sizeof path, "/proc/%ld/%s", pid, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	size_t kl = strlen(key);
	for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, kl))
			return atol(p + kl);
	return -1;
}

static int proc_cmdline_has(long pid, const char *word)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	for (ssize_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	buf[n] = 0;
	return strstr(buf, word) != NULL;
}

static long *desc;      /* descendants of the --gwpid processes */
static size_t ndesc;

static int is_gwpid(long pid)
{
	for (int i = 0; i < n_gwpid; i++)
		if (opt_gwpid[i] == pid)
			return 1;
	return 0;
}

static void find_descendants(void)
{
	free(desc);
	desc = NULL;
	ndesc = 0;
	if (n_gwpid == 0)
		return;
	size_t cap = 4096, n = 0;
	long *pid = xcalloc(cap, sizeof *pid), *pp = xcalloc(cap, sizeof *pp);
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		if (n == cap) {
			cap *= 2;
			pid = realloc(pid, cap * sizeof *pid);
			pp = realloc(pp, cap * sizeof *pp);
			if (!pid || !pp)
				die("out of memory");
		}
		pid[n] = atol(e->d_name);
		pp[n] = proc_ppid(pid[n]);
		n++;
	}
	if (d)
		closedir(d);
	desc = xcalloc(n + 1, sizeof *desc);
	/* breadth-first over the parent links */
	long *q = xcalloc(n + GWPID_MAX, sizeof *q);
	size_t qh = 0, qt = 0;
	for (int i = 0; i < n_gwpid; i++)
		q[qt++] = opt_gwpid[i];
	while (qh < qt) {
		long p = q[qh++];
		for (size_t i = 0; i < n; i++)
			if (pp[i] == p && !is_gwpid(pid[i])) {
				q[qt++] = pid[i];
				desc[ndesc++] = pid[i];
			}
	}
	free(q);
	free(pid);
	free(pp);
}

/* CPU time of every thread of pid in ms: se.sum_exec_runtime from
 * /proc/PID/task/TID/sched (ns precision; utime+stime in /proc/PID/stat
 * are truncated to 10 ms per process, which loses everything for 1,000
 * nc processes using a few ms each); falls back to /proc/PID/stat. */
static double proc_cpu_ms(long pid)
{
	char path[320], buf[8192];
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
	if (found)
		return sum;
	long long t = proc_cpu_ticks(pid);
	return t < 0 ? -1 : (double)t * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

struct cpu_snap {
	double gw, desc, extra;
	double gw_stat;	/* utime+stime of the whole process (10 ms ticks) */
	double machine; /* busy CPU of the whole machine, ms (/proc/stat) */
	struct rusage self;
};

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
	unsigned long long v[10] = {0};
	if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
		   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 8)
		return -1;
	/* user nice system [idle] [iowait] irq softirq steal */
	unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	return (double)busy * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* the sum over the --gwpid processes; -1 if there are none, or one of
 * them cannot be read */
static void add_ms(double *acc, double v)
{
	*acc = (*acc < 0 || v < 0) ? -1 : *acc + v;
}

static void add_kb(long *acc, long v)
{
	*acc = (*acc < 0 || v < 0) ? -1 : *acc + v;
}

static void cpu_snap(struct cpu_snap *s)
{
	s->gw = s->gw_stat = n_gwpid > 0 ? 0 : -1;
	for (int i = 0; i < n_gwpid; i++) {
		add_ms(&s->gw, proc_cpu_ms(opt_gwpid[i]));
		long long tk = proc_cpu_ticks(opt_gwpid[i]);
		add_ms(&s->gw_stat, tk < 0 ? -1 : (double)tk * 1000.0 / (double)sysconf(_SC_CLK_TCK));
	}
	s->desc = 0;
	for (size_t i = 0; i < ndesc; i++) {
		double t = proc_cpu_ms(desc[i]);
		if (t > 0)
			s->desc += t;
	}
	s->extra = opt_extrapid > 0 ? proc_cpu_ms(opt_extrapid) : -1;
	getrusage(RUSAGE_SELF, &s->self);
	s->machine = machine_busy_ms();
}

static double tv_ms(struct timeval a, struct timeval b)
{
	return (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_usec - a.tv_usec) / 1e3;
}

struct mem_snap {
	long gw_rss, gw_pss, desc_rss, desc_pss, broker_rss, broker_pss,
		extra_rss, extra_pss, nalive;
	long gw_hwm, desc_hwm, broker_hwm, extra_hwm; /* VmHWM: peak RSS */
	long gw_anon;   /* RssAnon: the gateways' RSS less file-backed pages */
};

static void mem_snap(struct mem_snap *m)
{
	memset(m, 0, sizeof *m);
	for (int i = 0; i < n_gwpid; i++) {
		add_kb(&m->gw_rss, proc_kb(opt_gwpid[i], "status", "VmRSS:"));
		add_kb(&m->gw_pss, proc_kb(opt_gwpid[i], "smaps_rollup", "Pss:"));
		add_kb(&m->gw_hwm, proc_kb(opt_gwpid[i], "status", "VmHWM:"));
		add_kb(&m->gw_anon, proc_kb(opt_gwpid[i], "status", "RssAnon:"));
	}
	for (size_t i = 0; i < ndesc; i++) {
		long r = proc_kb(desc[i], "status", "VmRSS:");
		long p = proc_kb(desc[i], "smaps_rollup", "Pss:");
		if (r < 0)
			continue;
		m->nalive++;
		m->desc_rss += r;
		m->desc_pss += p > 0 ? p : 0;
		long h = proc_kb(desc[i], "status", "VmHWM:");
		m->desc_hwm += h > 0 ? h : 0;
		if (proc_cmdline_has(desc[i], "broker")) {
			m->broker_rss += r;
			m->broker_pss += p > 0 ? p : 0;
			m->broker_hwm += h > 0 ? h : 0;
		}
	}
	if (opt_extrapid > 0) {
		m->extra_rss = proc_kb(opt_extrapid, "status", "VmRSS:");
		m->extra_pss = proc_kb(opt_extrapid, "smaps_rollup", "Pss:");
		m->extra_hwm = proc_kb(opt_extrapid, "status", "VmHWM:");
	}
}

/* ------------------------------------------------------------------ */
/* latency histogram (µs, log-linear, ~0.1 % resolution)                */

#define H_LIN 2048
#define H_SUB 1024
#define H_N (H_LIN + 40 * H_SUB)
static uint64_t hist[H_N];
static uint64_t hist_n;
static uint64_t hist_max;

static size_t h_idx(uint64_t v)
{
	if (v < H_LIN)
		return (size_t)v;
	int e = 63 - __builtin_clzll(v) - 10; /* v >> e in [1024, 2047] */
	size_t i = H_LIN + (size_t)(e - 1) * H_SUB + (size_t)((v >> e) - 1024);
	return i < H_N ? i : H_N - 1;
}

static uint64_t h_val(size_t i)
{
	if (i < H_LIN)
		return i;
	size_t e = (i - H_LIN) / H_SUB + 1, m = (i - H_LIN) % H_SUB + 1024;
	return (uint64_t)m << e;
}

static void h_add(uint64_t us)
{
	hist[h_idx(us)]++;
	hist_n++;
	if (us > hist_max)
		hist_max = us;
}

static uint64_t h_pct(double p)
{
	if (!hist_n)
		return 0;
	uint64_t want = (uint64_t)(p * (double)hist_n);
	if (want >= hist_n)
		want = hist_n - 1;
	uint64_t acc = 0;
	for (size_t i = 0; i < H_N; i++) {
		acc += hist[i];
		if (acc > want)
			return h_val(i);
	}
	return hist_max;
}

/* ------------------------------------------------------------------ */
/* connections                                                         */

enum { C_CONNECTING, C_HANDSHAKE, C_OPEN, C_SUBSCRIBED, C_DEAD };

#define PART_MAX 1024

struct conn {
	int fd;
	int state;
	int is_pub;
	int is_raw;	/* not WebSocket: the broker socket, NATS publisher */
	int res;
	int synced;
	int want_out;
	uint64_t next_exp; /* next seq expected */
	unsigned char *out;
	size_t olen, ooff, ocap;
	unsigned char *part; /* unparsed bytes (partial handshake / line) */
	size_t partlen;
	struct wsc_rx rx;
	unsigned char *nb;   /* nats: unparsed bytes of the protocol stream */
	size_t nblen, nbcap;
	int phase_seen;      /* last phase this subscriber had a delivery in */
	uint64_t last_ns;    /* its last delivery in this phase */
	uint64_t max_gap_ns; /* its longest gap between deliveries in it */
	int have_id;         /* --ids: the last id it got, EPOCH-SEQ */
	uint64_t id_epoch, id_seq;
	/* --transport=sse: the event being read */
	int sse_cr;          /* the last line ended in a CR: skip a LF next */
	int ev_kind;         /* SSE_MESSAGE, SSE_GAP, SSE_REFUSED, SSE_OTHER */
	int ev_ndata;        /* data lines */
	int ev_data;         /* 1: the last data line was "<seq> <ns>" */
	int ev_id;           /* 0 none, 1 EPOCH-SEQ, -1 another value */
	uint64_t ev_epoch, ev_seq, ev_dseq, ev_dts;
};

enum { SSE_MESSAGE, SSE_GAP, SSE_REFUSED, SSE_OTHER };

static int epfd;
static struct conn *subs;
static struct conn pubc;
static struct sockaddr_in srv, srv2; /* --port, --port2 */
static const unsigned char MASK[4] = {0x5a, 0x13, 0xc7, 0x2e};
/* longest message accepted from the gateway */
#define MSG_MAX (65536 + 512)

static long n_open, n_subscribed, n_synced, n_dead, n_started;
static uint64_t g_errors, g_proto, g_closed, g_dups, g_skipped, g_badmsg;
/* skipped states by the payload's seq; --ids: gap lines, bad or
 * backward ids, epoch changes (g_skipped comes from the ids then) */
static uint64_t g_seqskip, g_gaplines, g_iderr, g_resets;
static uint64_t g_deliveries; /* real (seq > 0) updates received */
static int measuring;
static char first_error[200];

/* publish bookkeeping */
#define RING (1u << 21)
static uint32_t *ring_cnt;  /* deliveries of seq s at s & (RING-1) */
static long *exp_per_res;  /* live subscribers per resource */
static uint64_t next_seq = 1, lowwater = 1; /* lowwater: oldest seq not fully delivered */

/* first deliveries and gaps */
static uint64_t sync_pub_ns;                 /* the first sync publish */
static uint64_t cold_first_ns, cold_last_ns; /* first seq-0 arrivals: earliest, latest */
static int cur_phase;                        /* 1, 2, ... while a phase runs */
static uint64_t ph_seq0;                     /* first seq of the phase */
static uint64_t ph_pub_ns, ph_first_ns, ph_all_ns;
static long ph_got;                          /* subscribers with a delivery in the phase */
static int pub_ready;                        /* nats: the publisher's PONG came */

static void ev_set(struct conn *c, int out)
{
	if (c->fd < 0 || c->want_out == out)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl MOD: %s", strerror(errno));
	c->want_out = out;
}

static void out_append(struct conn *c, const void *p, size_t n)
{
	if (c->ooff == c->olen)
		c->ooff = c->olen = 0;
	if (c->olen + n > c->ocap) {
		if (c->ooff > 0) {
			memmove(c->out, c->out + c->ooff, c->olen - c->ooff);
			c->olen -= c->ooff;
			c->ooff = 0;
		}
		if (c->olen + n > c->ocap) {
			size_t cap = c->ocap ? c->ocap : 256;
			while (cap < c->olen + n)
				cap *= 2;
			c->out = realloc(c->out, cap);
			if (!c->out)
				die("out of memory");
			c->ocap = cap;
		}
	}
	memcpy(c->out + c->olen, p, n);
	c->olen += n;
}

static void out_frame(struct conn *c, int opcode, const void *payload, size_t len)
{
	unsigned char f[WS_HEADER_MAX + 256];
	if (len > 256)
		die("frame too long");
	out_append(c, f, wsc_frame(f, opcode, payload, len, MASK));
}

static void conn_dead(struct conn *c, const char *why)
{
	if (c->state == C_DEAD)
		return;
	if (c->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	if (c->state >= C_OPEN)
		n_open--;
	c->state = C_DEAD;
	n_dead++;
	if (c->is_pub)
		die("publisher connection lost: %s", why);
	exp_per_res[c->res]--;
	g_closed++;
	if (!first_error[0])
		snprintf(first_error, sizeof first_error, "subscriber closed: %s", why);
}

static int conn_flush(struct conn *c)
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
	ev_set(c, c->ooff < c->olen || c->state == C_CONNECTING);
	return 0;
}

static const char *res_name(int k, char *buf, size_t sz);

/* the request of an event stream for c's resource */
static int sse_request(char *out, size_t cap, int port, int res)
{
	char rn[64];
	int n = snprintf(out, cap,
			 "GET %s%s HTTP/1.1\r\n"
			 "Host: 127.0.0.1:%d\r\n"
			 "Accept: text/event-stream\r\n"
			 "Cache-Control: no-cache\r\n"
			 "\r\n",
			 strcmp(opt_mount, "/") ? opt_mount : "",
			 res_name(res, rn, sizeof rn), port);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

static void sub_start(struct conn *c)
{
	/* --port2: odd-numbered subscribers go to the second gateway */
	int two = opt_port2 && !c->is_pub && (c - subs) % 2 == 1;
	struct sockaddr_in *sa = two ? &srv2 : &srv;
	int fd = wsc_connect((struct sockaddr *)sa, sizeof *sa);
	if (fd < 0)
		die("connect: %s (open-file limit?)", strerror(errno));
	c->fd = fd;
	c->state = C_CONNECTING;
	char req[512];
	int n;
	if (sse_mode && !c->is_pub) {
		if ((n = sse_request(req, sizeof req, two ? opt_port2 : opt_port, c->res)) < 0)
			die("--mount too long");
	} else if ((n = wsc_request(req, sizeof req, "127.0.0.1", two ? opt_port2 : opt_port,
				    opt_path)) < 0) {
		die("--path too long");
	}
	out_append(c, req, (size_t)n);
	/* nats-server puts all it has for a client into one frame */
	if (!sse_mode)
		wsc_rx_init(&c->rx, nats_mode ? 0 : MSG_MAX, 1);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl ADD: %s", strerror(errno));
	c->want_out = 1;
	n_started++;
}

/* the resource ("/r", "/r<k>"), or the NATS subject ("r", "r<k>") */
static const char *res_name(int k, char *buf, size_t sz)
{
	const char *pre = nats_mode ? "" : "/";
	if (opt_res == 1)
		snprintf(buf, sz, "%sr", pre);
	else
		snprintf(buf, sz, "%sr%d", pre, k);
	return buf;
}

#define NATS_CONNECT "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\n"

static void on_open(struct conn *c)
{
	n_open++;
	if (c->is_pub || chat_mode)
		return;
	char line[300], rn[64];
	if (nats_mode) {
		/* the PONG to this PING says the SUB is in place */
		int n = snprintf(line, sizeof line, NATS_CONNECT "SUB %s 1\r\nPING\r\n",
				 res_name(c->res, rn, sizeof rn));
		out_frame(c, WS_OP_BINARY, line, (size_t)n);
		return;
	}
	int n = snprintf(line, sizeof line, "subscribe %s%s", res_name(c->res, rn, sizeof rn),
			 opt_ids ? " current" : "");
	out_frame(c, 1, line, (size_t)n);
}

/* account one delivery of seq to subscriber c */
static void deliver(struct conn *c, uint64_t seq, uint64_t ts, uint64_t tnow)
{
	if (seq == 0) {
		if (!c->synced) {
			c->synced = 1;
			n_synced++;
			if (!cold_first_ns || tnow < cold_first_ns)
				cold_first_ns = tnow;
			if (tnow > cold_last_ns)
				cold_last_ns = tnow;
		}
		return;
	}
	if (seq < c->next_exp || seq >= next_seq || (seq % (uint64_t)opt_res) != (uint64_t)c->res) {
		g_dups++;
		return;
	}
	/* skipped states (conflation): credit them so the window moves on */
	while (c->next_exp < seq) {
		g_seqskip++;
		if (!opt_ids)
			g_skipped++;
		ring_cnt[c->next_exp & (RING - 1)]++;
		c->next_exp += (uint64_t)opt_res;
	}
	ring_cnt[seq & (RING - 1)]++;
	c->next_exp = seq + (uint64_t)opt_res;
	g_deliveries++;
	if (measuring)
		h_add(tnow > ts ? (tnow - ts) / 1000 : 0);
	if (cur_phase && seq >= ph_seq0) {
		if (!ph_first_ns)
			ph_first_ns = tnow;
		if (c->phase_seen != cur_phase) {
			c->phase_seen = cur_phase;
			c->last_ns = 0;
			c->max_gap_ns = 0;
			if (++ph_got >= opt_subs - n_dead && !ph_all_ns)
				ph_all_ns = tnow;
		}
		if (c->last_ns && tnow - c->last_ns > c->max_gap_ns)
			c->max_gap_ns = tnow - c->last_ns;
		c->last_ns = tnow;
	}
}

static void advance_lowwater(void)
{
	while (lowwater < next_seq &&
	       ring_cnt[lowwater & (RING - 1)] >= (uint32_t)exp_per_res[lowwater % (uint64_t)opt_res]) {
		ring_cnt[lowwater & (RING - 1)] = 0;
		lowwater++;
	}
}

/* parse "... <seq> <ts>" at the end of a message */
static int parse_tail(const unsigned char *p, size_t n, uint64_t *seq, uint64_t *ts)
{
	size_t i = n;
	uint64_t v = 0, m = 1;
	if (i == 0 || !isdigit(p[i - 1]))
		return -1;
	while (i > 0 && isdigit(p[i - 1])) {
		v += (uint64_t)(p[i - 1] - '0') * m;
		m *= 10;
		i--;
	}
	*ts = v;
	if (i == 0 || p[i - 1] != ' ')
		return -1;
	i--;
	v = 0;
	m = 1;
	if (i == 0 || !isdigit(p[i - 1]))
		return -1;
	while (i > 0 && isdigit(p[i - 1])) {
		v += (uint64_t)(p[i - 1] - '0') * m;
		m *= 10;
		i--;
	}
	*seq = v;
	return 0;
}

/* --ids: parse "EPOCH-SEQ " at p[0..n) (EPOCH hex, SEQ decimal); returns
 * the bytes up to and with the space after it, 0 if it is not an id */
static size_t parse_id(const unsigned char *p, size_t n, uint64_t *epoch, uint64_t *seq)
{
	size_t i = 0;
	uint64_t e = 0, s = 0;
	while (i < n && i < 16 && isxdigit(p[i])) {
		e = e * 16 + (uint64_t)(isdigit(p[i]) ? p[i] - '0' : (tolower(p[i]) - 'a' + 10));
		i++;
	}
	if (i == 0 || i >= n || p[i] != '-')
		return 0;
	size_t j = ++i;
	while (i < n && i - j < 19 && isdigit(p[i])) {
		s = s * 10 + (uint64_t)(p[i] - '0');
		i++;
	}
	if (i == j || i >= n || p[i] != ' ')
		return 0;
	*epoch = e;
	*seq = s;
	return i + 1;
}

static void id_error(const char *what, const unsigned char *p, size_t n)
{
	g_iderr++;
	if (!first_error[0])
		snprintf(first_error, sizeof first_error, "%s: %.*s", what, (int)(n > 120 ? 120 : n), p);
}

/* --ids, SSE: c's next id is EPOCH-SEQ; counts the states the ids say
 * were skipped; 0 if it is a state c already had (not a delivery), else 1.
 * p[0..n) is the message, for the error text. */
static int id_next(struct conn *c, uint64_t epoch, uint64_t idseq, const unsigned char *p, size_t n)
{
	if (c->have_id && epoch != c->id_epoch) {
		g_resets++;
		id_error("the id's epoch changed", p, n);
	} else if (c->have_id && idseq <= c->id_seq) {
		id_error("an id not after the last", p, n);
		return 0;
	} else if (c->have_id && idseq > c->id_seq + 1) {
		g_skipped += idseq - c->id_seq - 1;
	}
	c->have_id = 1;
	c->id_epoch = epoch;
	c->id_seq = idseq;
	return 1;
}

/* --ids: "update <res> <EPOCH-SEQ> <seq> <ns>"; counts the states the ids
 * say were skipped, then the delivery as without ids */
static void on_update_id(struct conn *c, const unsigned char *p, size_t n, uint64_t tnow)
{
	const unsigned char *r = memchr(p + 7, ' ', n - 7);
	uint64_t epoch, idseq, seq, ts;
	size_t off = r ? (size_t)(r - p) + 1 : n;
	size_t il = off < n ? parse_id(p + off, n - off, &epoch, &idseq) : 0;
	if (!il || parse_tail(p + off + il, n - off - il, &seq, &ts) < 0) {
		g_badmsg++;
		id_error("update without a valid id", p, n);
		return;
	}
	if (id_next(c, epoch, idseq, p, n))
		deliver(c, seq, ts, tnow);
}

/* ---- server-sent events (--transport=sse) ---- */

/* length of a complete "200" answer of type text/event-stream, with no
 * transfer coding (the stream is the body as it is), 0 while it is
 * incomplete, -1 (with *err) if it is anything else */
static long sse_response(const char *b, size_t n, const char **err)
{
	static char why[160];
	const char *end = memmem(b, n, "\r\n\r\n", 4);
	int typed = 0;
	if (!end)
		return 0;
	const char *l = memchr(b, '\n', n), *e;
	if (n < 13 || memcmp(b, "HTTP/1.1 200 ", 13)) {
		size_t sl = l ? (size_t)(l - b) : n;
		if (sl && b[sl - 1] == '\r')
			sl--;
		snprintf(why, sizeof why, "answer %.*s", (int)(sl > 100 ? 100 : sl), b);
		*err = why;
		return -1;
	}
	for (l = l + 1; l < end; l = e + 2) {
		e = memmem(l, (size_t)(end + 2 - l), "\r\n", 2);
		size_t ll = (size_t)(e - l);
		if (ll >= 13 && !strncasecmp(l, "content-type:", 13)) {
			const char *v = l + 13;
			while (*v == ' ' || *v == '\t')
				v++;
			typed = e - v >= 17 && !strncasecmp(v, "text/event-stream", 17);
		} else if (ll >= 18 && !strncasecmp(l, "transfer-encoding:", 18)) {
			*err = "a transfer coding (not supported here)";
			return -1;
		} else if (ll >= 15 && !strncasecmp(l, "content-length:", 15)) {
			*err = "a stream with a length";
			return -1;
		}
	}
	if (!typed) {
		*err = "not text/event-stream";
		return -1;
	}
	return (long)(end + 4 - b);
}

/* "EPOCH-SEQ" and nothing else (EPOCH hex, SEQ decimal) */
static int sse_id(const unsigned char *p, size_t n, uint64_t *epoch, uint64_t *seq)
{
	unsigned char t[48];
	if (n == 0 || n + 1 > sizeof t)
		return -1;
	memcpy(t, p, n);
	t[n] = ' '; /* parse_id's end */
	return parse_id(t, n + 1, epoch, seq) == n + 1 ? 0 : -1;
}

static void sse_reset(struct conn *c)
{
	c->ev_kind = SSE_MESSAGE;
	c->ev_ndata = c->ev_data = c->ev_id = 0;
}

/* the blank line: the event is complete (WHATWG HTML 9.2.6: an event
 * with no data line is not dispatched, e.g. the ":" heartbeat) */
static void sse_dispatch(struct conn *c, uint64_t tnow)
{
	char idt[64];
	int n;
	if (!c->ev_ndata) {
		sse_reset(c);
		return;
	}
	switch (c->ev_kind) {
	case SSE_GAP:
		g_gaplines++;
		break;
	case SSE_REFUSED:
		g_errors++; /* first_error was set by its data line */
		break;
	case SSE_OTHER:
		g_badmsg++;
		break;
	default:
		if (c->ev_data != 1 || c->ev_id != 1) {
			g_badmsg++;
			n = snprintf(idt, sizeof idt, "id %s, data %s",
				     c->ev_id == 1 ? "EPOCH-SEQ" : c->ev_id ? "not EPOCH-SEQ" : "none",
				     c->ev_data == 1 ? "<seq> <ns>" : "not <seq> <ns>");
			if (c->ev_id != 1)
				id_error("update without a valid id", (const unsigned char *)idt, (size_t)n);
			break;
		}
		/* the text is for id_next's complaints only */
		n = 0;
		if (c->have_id && (c->ev_epoch != c->id_epoch || c->ev_seq <= c->id_seq))
			n = snprintf(idt, sizeof idt, "id: %" PRIx64 "-%" PRIu64, c->ev_epoch, c->ev_seq);
		if (id_next(c, c->ev_epoch, c->ev_seq, (const unsigned char *)idt, (size_t)n))
			deliver(c, c->ev_dseq, c->ev_dts, tnow);
		break;
	}
	sse_reset(c);
}

/* one line of the stream, without its end */
static void sse_line(struct conn *c, const unsigned char *l, size_t n, uint64_t tnow)
{
	if (n == 0) {
		sse_dispatch(c, tnow);
		return;
	}
	if (l[0] == ':')
		return; /* a comment */
	const unsigned char *colon = memchr(l, ':', n), *v;
	size_t fl = colon ? (size_t)(colon - l) : n, vl;
	v = colon ? colon + 1 : l + n;
	vl = (size_t)(l + n - v);
	if (vl && *v == ' ') {
		v++;
		vl--;
	}
	if (fl == 4 && !memcmp(l, "data", 4)) {
		c->ev_ndata++;
		c->ev_data = parse_tail(v, vl, &c->ev_dseq, &c->ev_dts) == 0;
		if (c->ev_kind == SSE_REFUSED && !first_error[0])
			snprintf(first_error, sizeof first_error, "refused: %.*s", (int)(vl > 150 ? 150 : vl), v);
	} else if (fl == 2 && !memcmp(l, "id", 2)) {
		c->ev_id = sse_id(v, vl, &c->ev_epoch, &c->ev_seq) == 0 ? 1 : -1;
	} else if (fl == 5 && !memcmp(l, "event", 5)) {
		if (vl == 7 && !memcmp(v, "message", 7))
			c->ev_kind = SSE_MESSAGE;
		else if (vl == 3 && !memcmp(v, "gap", 3))
			c->ev_kind = SSE_GAP;
		else if (vl == 7 && !memcmp(v, "refused", 7))
			c->ev_kind = SSE_REFUSED;
		else
			c->ev_kind = SSE_OTHER;
	} else if (!(fl == 5 && !memcmp(l, "retry", 5))) {
		g_badmsg++; /* a field the gateway has no reason to send */
	}
}

/* every complete line in p[0..n); returns the bytes used (a partial last
 * line stays for the next read) */
static size_t sse_parse(struct conn *c, const unsigned char *p, size_t n, uint64_t tnow)
{
	size_t off = 0, i;
	if (n && c->sse_cr) {
		c->sse_cr = 0;
		if (p[0] == '\n')
			off = 1; /* CRLF across two reads */
	}
	while (off < n) {
		for (i = off; i < n && p[i] != '\n' && p[i] != '\r'; i++)
			;
		if (i == n)
			break;
		sse_line(c, p + off, i - off, tnow);
		if (p[i] == '\r') {
			if (i + 1 == n)
				c->sse_cr = 1;
			else if (p[i + 1] == '\n')
				i++;
		}
		off = i + 1;
	}
	return off;
}

/* ---- NATS client protocol (a byte stream) ---- */

static void nats_reply(struct conn *c, const char *s)
{
	if (c->is_raw)
		out_append(c, s, strlen(s));
	else
		out_frame(c, WS_OP_BINARY, s, strlen(s));
}

static void nats_error(const unsigned char *p, size_t n)
{
	g_errors++;
	if (!first_error[0])
		snprintf(first_error, sizeof first_error, "nats: %.*s", (int)(n > 150 ? 150 : n), p);
}

/* every complete protocol message in p[0..n); returns the bytes used */
static size_t nats_parse(struct conn *c, const unsigned char *p, size_t n, uint64_t tnow)
{
	size_t off = 0;
	while (off < n) {
		const unsigned char *nl = memchr(p + off, '\n', n - off);
		if (!nl)
			break;
		const unsigned char *l = p + off;
		size_t ll = (size_t)(nl - l), next = off + ll + 1;
		if (ll && l[ll - 1] == '\r')
			ll--;
		if (ll > 4 && !memcmp(l, "MSG ", 4)) {
			/* MSG <subject> <sid> [reply-to] <#bytes>: the last token */
			size_t i = ll, size = 0, m = 1;
			while (i > 4 && isdigit(l[i - 1])) {
				size += (size_t)(l[i - 1] - '0') * m;
				m *= 10;
				i--;
			}
			if (i == ll || l[i - 1] != ' ') {
				g_badmsg++;
				off = next;
				continue;
			}
			if (n - next < size + 2)
				break; /* the payload is not all here yet */
			uint64_t seq, ts;
			if (c->is_pub)
				;
			else if (parse_tail(p + next, size, &seq, &ts) == 0)
				deliver(c, seq, ts, tnow);
			else
				g_badmsg++;
			off = next + size + 2;
			continue;
		}
		if (ll == 4 && !memcmp(l, "PING", 4)) {
			nats_reply(c, "PONG\r\n");
		} else if (ll == 4 && !memcmp(l, "PONG", 4)) {
			if (c->is_pub) {
				pub_ready = 1;
			} else if (c->state == C_OPEN) {
				c->state = C_SUBSCRIBED;
				n_subscribed++;
			}
		} else if (ll >= 4 && !memcmp(l, "-ERR", 4)) {
			nats_error(l, ll);
		} else if (!(ll >= 4 && !memcmp(l, "INFO", 4)) && !(ll == 3 && !memcmp(l, "+OK", 3))) {
			g_badmsg++;
		}
		off = next;
	}
	return off;
}

/* appends the bytes to c's stream and parses what is complete */
static void nats_feed(struct conn *c, const unsigned char *p, size_t n, uint64_t tnow)
{
	if (!c->nblen) {
		size_t used = nats_parse(c, p, n, tnow);
		p += used;
		n -= used;
		if (!n)
			return;
	}
	if (c->nblen + n > c->nbcap) {
		size_t cap = c->nbcap ? c->nbcap : 512;
		while (cap < c->nblen + n)
			cap *= 2;
		c->nb = realloc(c->nb, cap);
		if (!c->nb)
			die("out of memory");
		c->nbcap = cap;
	}
	memcpy(c->nb + c->nblen, p, n);
	c->nblen += n;
	size_t used = nats_parse(c, c->nb, c->nblen, tnow);
	if (used) {
		memmove(c->nb, c->nb + used, c->nblen - used);
		c->nblen -= used;
	}
	if (c->nblen > (1u << 20)) {
		g_proto++;
		nats_error((const unsigned char *)"protocol line over 1 MiB", 24);
		c->nblen = 0;
	}
}

static void on_message(struct conn *c, const unsigned char *p, size_t n, uint64_t tnow)
{
	if (nats_mode) {
		nats_feed(c, p, n, tnow);
		return;
	}
	if (c->is_pub)
		return; /* chat mode: the publisher gets the broadcast too */
	uint64_t seq, ts;
	if (chat_mode) {
		if (parse_tail(p, n, &seq, &ts) == 0)
			deliver(c, seq, ts, tnow);
		else
			g_badmsg++;
		return;
	}
	if (n > 7 && !memcmp(p, "update ", 7)) {
		if (opt_ids)
			on_update_id(c, p, n, tnow);
		else if (parse_tail(p, n, &seq, &ts) == 0)
			deliver(c, seq, ts, tnow);
		else
			g_badmsg++;
	} else if (n > 4 && !memcmp(p, "gap ", 4)) {
		/* states skipped for this subscriber: the ids' jump counts them */
		g_gaplines++;
	} else if (n >= 12 && !memcmp(p, "ok subscribe", 12)) {
		if (c->state == C_OPEN) {
			c->state = C_SUBSCRIBED;
			n_subscribed++;
		}
	} else if (n >= 5 && !memcmp(p, "error", 5)) {
		g_errors++;
		if (!first_error[0])
			snprintf(first_error, sizeof first_error, "%.*s", (int)(n > 150 ? 150 : n), p);
	} else if (n == 4 && !memcmp(p, "pong", 4)) {
	} else {
		g_badmsg++;
	}
}

/* handle every frame in buf (a partial one stays in c->rx); returns the
 * bytes consumed, or -1 on a protocol error or a close frame */
static long parse_frames(struct conn *c, unsigned char *b, size_t n, uint64_t tnow)
{
	size_t off = 0;
	struct wsc_ev ev;
	for (;;) {
		switch (wsc_next(&c->rx, b, n, &off, &ev)) {
		case WSC_NEED:
			return (long)off;
		case WSC_ERROR:
			g_proto++;
			return -1;
		case WSC_MESSAGE:
			on_message(c, ev.data, ev.len, tnow);
			break;
		case WSC_CONTROL:
			if (ev.opcode == WS_OP_PING) {
				out_frame(c, WS_OP_PONG, ev.data, ev.len);
			} else if (ev.opcode == WS_OP_CLOSE) {
				g_closed++;
				return -1;
			}
			break;
		}
	}
}

static unsigned char rbuf[1 << 18];

static void handle_read(struct conn *c)
{
	for (int rounds = 0; rounds < 4; rounds++) {
		size_t have = c->partlen;
		if (have)
			memcpy(rbuf, c->part, have);
		ssize_t n = read(c->fd, rbuf + have, sizeof rbuf - have);
		if (n < 0) {
			if (errno == EAGAIN)
				return;
			conn_dead(c, strerror(errno));
			return;
		}
		if (n == 0) {
			conn_dead(c, "EOF");
			return;
		}
		size_t tot = have + (size_t)n;
		size_t off = 0;
		uint64_t tnow = now_ns();
		if (c->is_raw && nats_mode) {
			/* the NATS publisher: INFO, PING, -ERR */
			nats_feed(c, rbuf, tot, tnow);
			off = tot;
		} else if (c->is_raw) {
			/* broker socket: only errors are expected */
			for (size_t i = 0; i < tot; i++)
				if (rbuf[i] == '\n') {
					g_errors++;
					if (!first_error[0])
						snprintf(first_error, sizeof first_error, "broker: %.*s",
							 (int)(i - off > 150 ? 150 : i - off), rbuf + off);
					off = i + 1;
				}
		} else if (sse_mode) {
			if (c->state == C_CONNECTING || c->state == C_HANDSHAKE) {
				const char *err = "refused";
				long hl = sse_response((char *)rbuf, tot, &err);
				if (hl == 0) {
					if (tot > PART_MAX)
						conn_dead(c, "answer too long");
					else
						goto keep;
					return;
				}
				if (hl < 0) {
					conn_dead(c, err);
					return;
				}
				off = (size_t)hl;
				c->state = C_SUBSCRIBED;
				n_open++;
				n_subscribed++;
				sse_reset(c);
			}
			off += sse_parse(c, rbuf + off, tot - off, tnow);
		} else {
			if (c->state == C_CONNECTING || c->state == C_HANDSHAKE) {
				const char *err;
				long hl = wsc_response((char *)rbuf, tot, &err);
				if (hl == 0) {
					if (tot > PART_MAX)
						conn_dead(c, "handshake too long");
					else
						goto keep;
					return;
				}
				if (hl < 0) {
					conn_dead(c, "handshake refused");
					return;
				}
				off = (size_t)hl;
				c->state = C_OPEN;
				on_open(c);
			}
			long used = parse_frames(c, rbuf + off, tot - off, tnow);
			if (used < 0) {
				conn_dead(c, "protocol error or close frame");
				return;
			}
			off += (size_t)used;
		}
	keep:
		c->partlen = tot - off;
		if (c->partlen > PART_MAX) {
			conn_dead(c, "partial line too large");
			return;
		}
		if (c->partlen) {
			if (!c->part)
				c->part = xcalloc(1, PART_MAX);
			memcpy(c->part, rbuf + off, c->partlen);
		}
		if (c->olen > c->ooff && conn_flush(c) < 0) {
			conn_dead(c, "write");
			return;
		}
		if ((size_t)n < sizeof rbuf - have)
			return;
	}
}

static void handle_event(struct conn *c, uint32_t ev)
{
	if (c->state == C_DEAD)
		return;
	if (c->state == C_CONNECTING && (ev & EPOLLOUT)) {
		int err = 0;
		socklen_t l = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			conn_dead(c, strerror(err));
			return;
		}
		c->state = C_HANDSHAKE;
	}
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		handle_read(c);
	if (c->state != C_DEAD && (ev & EPOLLOUT) && conn_flush(c) < 0)
		conn_dead(c, "write");
}

/* ------------------------------------------------------------------ */
/* publishing                                                          */

static void publish_one(uint64_t seq, uint64_t ts)
{
	char line[300], rn[64];
	int k = (int)(seq % (uint64_t)opt_res), n;
	if (cur_phase && !ph_pub_ns)
		ph_pub_ns = ts;
	if (chat_mode) {
		n = snprintf(line, sizeof line, "%" PRIu64 " %" PRIu64, seq, ts);
		out_frame(&pubc, 1, line, (size_t)n);
	} else if (nats_mode) {
		char pl[64];
		int pn = snprintf(pl, sizeof pl, "%" PRIu64 " %" PRIu64, seq, ts);
		n = snprintf(line, sizeof line, "PUB %s %d\r\n%s\r\n",
			     res_name(k, rn, sizeof rn), pn, pl);
		out_append(&pubc, line, (size_t)n);
	} else {
		n = snprintf(line, sizeof line, "publish %s %" PRIu64 " %" PRIu64 "\n",
			     res_name(k, rn, sizeof rn), seq, ts);
		out_append(&pubc, line, (size_t)n);
	}
}

static void publish_sync(void)
{
	uint64_t ts = now_ns();
	char line[300], rn[64];
	if (!sync_pub_ns)
		sync_pub_ns = ts;
	if (chat_mode) {
		publish_one(0, ts);
	} else if (nats_mode) {
		char pl[64];
		int pn = snprintf(pl, sizeof pl, "0 %" PRIu64, ts);
		for (int k = 0; k < opt_res; k++) {
			int n = snprintf(line, sizeof line, "PUB %s %d\r\n%s\r\n",
					 res_name(k, rn, sizeof rn), pn, pl);
			out_append(&pubc, line, (size_t)n);
		}
	} else {
		for (int k = 0; k < opt_res; k++) {
			int n = snprintf(line, sizeof line, "publish %s 0 %" PRIu64 "\n",
					 res_name(k, rn, sizeof rn), ts);
			out_append(&pubc, line, (size_t)n);
		}
	}
	if (conn_flush(&pubc) < 0)
		die("publisher write failed");
}

static size_t pub_pending(void) { return pubc.olen - pubc.ooff; }

/* ------------------------------------------------------------------ */
/* main loop                                                           */

static struct epoll_event evs[1024];

static void poll_once(int timeout_ms)
{
	int n = epoll_wait(epfd, evs, 1024, timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return;
		die("epoll_wait: %s", strerror(errno));
	}
	for (int i = 0; i < n; i++)
		handle_event(evs[i].data.ptr, evs[i].events);
	advance_lowwater();
}

static void connect_unix_pub(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(opt_broker) >= sizeof sa.sun_path)
		die("broker path too long");
	strcpy(sa.sun_path, opt_broker);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("connect %s: %s", opt_broker, strerror(errno));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	pubc.fd = fd;
	pubc.is_pub = 1;
	pubc.is_raw = 1;
	pubc.state = C_OPEN;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &pubc};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl ADD: %s", strerror(errno));
}

/* the NATS publisher: a plain TCP client on the server's client port */
static void connect_nats_pub(void)
{
	struct sockaddr_in sa = srv;
	sa.sin_port = htons((uint16_t)opt_natsport);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("connect 127.0.0.1:%d: %s", opt_natsport, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	pubc.fd = fd;
	pubc.is_pub = 1;
	pubc.is_raw = 1;
	pubc.state = C_OPEN;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &pubc};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl ADD: %s", strerror(errno));
	out_append(&pubc, NATS_CONNECT "PING\r\n", sizeof NATS_CONNECT - 1 + 6);
	if (conn_flush(&pubc) < 0)
		die("publisher write failed");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int run_freeport(void)
{
	int port = wsc_free_port();
	if (port < 0)
		die("freeport: %s", strerror(errno));
	printf("%d\n", port);
	return 0;
}

static void run_phase(const char *spec)
{
	int is_max = !strcmp(spec, "max");
	double rate = 0;
	if (!is_max) {
		if (strncmp(spec, "steady:", 7) || (rate = atof(spec + 7)) <= 0)
			die("bad phase %s", spec);
	}
	/* steady: at most ~1,000,000 deliveries outstanding unless --cap */
	long per = opt_subs / opt_res > 0 ? opt_subs / opt_res : 1;
	long cap = opt_cap > 0 ? opt_cap : (1000000 / per > 4 ? 1000000 / per : 4);
	if (is_max)
		cap = opt_window;
	if ((uint64_t)cap >= RING / 2)
		cap = RING / 2 - 1;

	uint64_t behind = 0;
	uint64_t skipped0 = g_skipped, dups0 = g_dups, closed0 = g_closed,
		 errors0 = g_errors, seqskip0 = g_seqskip, gaplines0 = g_gaplines,
		 iderr0 = g_iderr, resets0 = g_resets;
	double t0 = now_s(), tws = t0 + opt_warmup, twe = tws + opt_secs;
	uint64_t pubs_done = 0; /* steady: publishes issued in this phase */
	uint64_t seq_ws = 0, seq_we = 0, d_ws = 0, d_we = 0;
	double a_ws = 0, a_we = 0;
	struct cpu_snap c_ws, c_we;
	struct mem_snap mem;
	int stage = 0; /* 0 warm-up, 1 measuring, 2 draining */
	memset(hist, 0, sizeof hist);
	hist_n = hist_max = 0;
	double drain_start = 0, drain_end = 0;
	cur_phase++;
	ph_seq0 = next_seq;
	ph_pub_ns = ph_first_ns = ph_all_ns = 0;
	ph_got = 0;

	for (;;) {
		double t = now_s();
		if (stage == 0 && t >= tws) {
			cpu_snap(&c_ws);
			a_ws = now_s();
			d_ws = g_deliveries;
			seq_ws = next_seq;
			measuring = 1;
			stage = 1;
		}
		if (stage == 1 && t >= twe) {
			measuring = 0;
			a_we = now_s();
			d_we = g_deliveries;
			seq_we = next_seq;
			cpu_snap(&c_we);
			mem_snap(&mem);
			stage = 2;
			drain_start = now_s();
		}
		if (stage == 2) {
			if (lowwater >= next_seq) {
				drain_end = now_s();
				break;
			}
			if (now_s() - drain_start > opt_drain) {
				drain_end = now_s();
				break;
			}
			poll_once(10);
			continue;
		}
		/* publish */
		int timeout = 10;
		if (pub_pending() < (1u << 20)) {
			if (is_max) {
				uint64_t ts = now_ns();
				while (next_seq - lowwater < (uint64_t)cap) {
					publish_one(next_seq, ts);
					next_seq++;
				}
				timeout = 10;
			} else {
				uint64_t due = (uint64_t)((t - t0) * rate) + 1;
				uint64_t ts = now_ns();
				while (pubs_done < due) {
					if (next_seq - lowwater >= (uint64_t)cap) {
						behind += due - pubs_done;
						pubs_done = due;
						break;
					}
					publish_one(next_seq, ts);
					next_seq++;
					pubs_done++;
				}
				double next_t = t0 + (double)pubs_done / rate;
				double dt = next_t - now_s();
				/* never spin: wait at least 1 ms, then publish what is due */
				timeout = dt <= 0 ? 0 : (int)(dt * 1000.0) + 1;
				if (timeout > 10)
					timeout = 10;
			}
			if (pub_pending() && conn_flush(&pubc) < 0)
				die("publisher write failed");
		}
		poll_once(timeout);
	}
	double win = a_we - a_ws;
	uint64_t deliv = d_we - d_ws;
	uint64_t missing = 0;
	for (uint64_t s = lowwater; s < next_seq; s++) {
		long e = exp_per_res[s % (uint64_t)opt_res];
		uint32_t got = ring_cnt[s & (RING - 1)];
		if (got < e)
			missing += (uint64_t)(e - got);
	}
	double gw_ms = (c_ws.gw >= 0 && c_we.gw >= 0) ? c_we.gw - c_ws.gw : -1;
	double desc_ms = c_we.desc - c_ws.desc;
	double extra_ms = (c_ws.extra >= 0 && c_we.extra >= 0) ? c_we.extra - c_ws.extra : 0;
	double self_ms = tv_ms(c_ws.self.ru_utime, c_we.self.ru_utime) + tv_ms(c_ws.self.ru_stime, c_we.self.ru_stime);
	/* CPU used by processes outside the benchmark: a noise indicator */
	double other_ms = c_we.machine - c_ws.machine - (gw_ms > 0 ? gw_ms : 0) - desc_ms - extra_ms - self_ms;
	if (other_ms < 0)
		other_ms = 0;
	long total_rss = (mem.gw_rss > 0 ? mem.gw_rss : 0) + mem.desc_rss + (mem.extra_rss > 0 ? mem.extra_rss : 0);
	long total_hwm = (mem.gw_hwm > 0 ? mem.gw_hwm : 0) + mem.desc_hwm + (mem.extra_hwm > 0 ? mem.extra_hwm : 0);
	double gw_stat_ms = (c_ws.gw_stat >= 0 && c_we.gw_stat >= 0) ? c_we.gw_stat - c_ws.gw_stat : -1;
	/* longest gaps: over the live subscribers that had a delivery */
	uint64_t *gaps = xcalloc((size_t)opt_subs, sizeof *gaps);
	size_t ng = 0;
	for (long i = 0; i < opt_subs; i++)
		if (subs[i].state != C_DEAD && subs[i].phase_seen == cur_phase)
			gaps[ng++] = subs[i].max_gap_ns;
	qsort(gaps, ng, sizeof *gaps, cmp_u64);
	double gap_max = ng ? (double)gaps[ng - 1] / 1e3 : -1;
	double gap_p50 = ng ? (double)gaps[(ng - 1) / 2] / 1e3 : -1;
	double gap_p99 = ng ? (double)gaps[(size_t)((double)(ng - 1) * 0.99)] / 1e3 : -1;
	free(gaps);
	double first_any = ph_first_ns && ph_pub_ns ? (double)(ph_first_ns - ph_pub_ns) / 1e3 : -1;
	double first_all = ph_all_ns && ph_pub_ns ? (double)(ph_all_ns - ph_pub_ns) / 1e3 : -1;
	double interval = is_max ? 0 : (double)opt_res / rate * 1e6;
	long total_pss = (mem.gw_pss > 0 ? mem.gw_pss : 0) + mem.desc_pss + (mem.extra_pss > 0 ? mem.extra_pss : 0);
	printf("scenario=fanout mode=%s transport=%s phase=%s subs=%ld resources=%ld window=%ld secs=%.3f"
	       " publishes=%" PRIu64 " pub_per_sec=%.1f deliveries=%" PRIu64 " deliveries_per_sec=%.0f"
	       " lat_p50_us=%" PRIu64 " lat_p99_us=%" PRIu64 " lat_max_us=%" PRIu64
	       " behind=%" PRIu64 " skipped=%" PRIu64 " missing=%" PRIu64 " dups=%" PRIu64
	       " closed=%" PRIu64 " errors=%" PRIu64 " badmsg=%" PRIu64 " drain_ms=%.0f"
	       " gw_cpu_ms=%.0f gw_cpu_us_per_delivery=%.3f desc_cpu_ms=%.0f extra_cpu_ms=%.0f"
	       " total_cpu_us_per_delivery=%.3f lg_cpu_ms=%.0f other_cpu_pct=%.0f"
	       " gw_rss_kb=%ld broker_rss_kb=%ld desc_rss_kb=%ld ndesc=%ld extra_rss_kb=%ld"
	       " total_rss_kb=%ld total_pss_kb=%ld"
	       " gw_hwm_kb=%ld broker_hwm_kb=%ld total_hwm_kb=%ld gw_cpu_stat_ms=%.0f gw_anon_kb=%ld"
	       " first_any_us=%.0f first_all_us=%.0f gap_max_us=%.0f gap_p50_us=%.0f gap_p99_us=%.0f"
	       " interval_us=%.0f ids=%d seq_skipped=%" PRIu64 " gap_lines=%" PRIu64
	       " id_errors=%" PRIu64 " id_resets=%" PRIu64 "\n",
	       opt_mode, opt_transport, is_max ? "max" : "steady", opt_subs, opt_res, is_max ? cap : 0, win,
	       seq_we - seq_ws, (double)(seq_we - seq_ws) / win, deliv, (double)deliv / win,
	       h_pct(0.50), h_pct(0.99), hist_max,
	       behind, g_skipped - skipped0, missing, g_dups - dups0,
	       g_closed - closed0, g_errors - errors0, g_badmsg, (drain_end - drain_start) * 1000,
	       gw_ms, deliv ? gw_ms * 1000.0 / (double)deliv : 0, desc_ms, extra_ms,
	       deliv ? (gw_ms + desc_ms + extra_ms) * 1000.0 / (double)deliv : 0, self_ms,
	       other_ms / 10.0 / win,
	       mem.gw_rss, mem.broker_rss, mem.desc_rss, mem.nalive, mem.extra_rss,
	       total_rss, total_pss,
	       mem.gw_hwm, mem.broker_hwm, total_hwm, gw_stat_ms, mem.gw_anon,
	       first_any, first_all, gap_max, gap_p50, gap_p99, interval, opt_ids,
	       g_seqskip - seqskip0, g_gaplines - gaplines0, g_iderr - iderr0, g_resets - resets0);
	fflush(stdout);
	/* forget what did not arrive, so the next phase starts clean */
	for (uint64_t s = lowwater; s < next_seq; s++)
		ring_cnt[s & (RING - 1)] = 0;
	lowwater = next_seq;
	for (long i = 0; i < opt_subs; i++)
		if (subs[i].next_exp < next_seq) {
			uint64_t k = (uint64_t)subs[i].res, s = next_seq;
			while (s % (uint64_t)opt_res != k)
				s++;
			subs[i].next_exp = s;
		}
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *a = argv[i], *v = strchr(a, '=');
		if (!strcmp(a, "--ids")) {
			opt_ids = 1;
			continue;
		}
		if (strncmp(a, "--", 2) || !v)
			die("bad argument %s", a);
		*v++ = 0;
		a += 2;
		if (!strcmp(a, "mode")) opt_mode = v;
		else if (!strcmp(a, "scenario")) opt_scenario = v;
		else if (!strcmp(a, "path")) opt_path = v;
		else if (!strcmp(a, "broker")) opt_broker = v;
		else if (!strcmp(a, "phases")) opt_phases = v;
		else if (!strcmp(a, "port")) opt_port = atoi(v);
		else if (!strcmp(a, "port2")) opt_port2 = atoi(v);
		else if (!strcmp(a, "natsport")) opt_natsport = atoi(v);
		else if (!strcmp(a, "subs")) opt_subs = atol(v);
		else if (!strcmp(a, "resources")) opt_res = atol(v);
		else if (!strcmp(a, "secs")) opt_secs = atof(v);
		else if (!strcmp(a, "warmup")) opt_warmup = atof(v);
		else if (!strcmp(a, "window")) opt_window = atol(v);
		else if (!strcmp(a, "cap")) opt_cap = atol(v);
		else if (!strcmp(a, "gwpid") || !strcmp(a, "gwpid2")) {
			for (char *t = strtok(v, ","); t; t = strtok(NULL, ",")) {
				if (n_gwpid == GWPID_MAX)
					die("at most %d gateway PIDs", GWPID_MAX);
				if (atol(t) > 0 && !is_gwpid(atol(t)))
					opt_gwpid[n_gwpid++] = atol(t);
			}
		}
		else if (!strcmp(a, "extrapid")) opt_extrapid = atol(v);
		else if (!strcmp(a, "inflight")) opt_inflight = atol(v);
		else if (!strcmp(a, "timeout")) opt_timeout = atof(v);
		else if (!strcmp(a, "drain")) opt_drain = atof(v);
		else if (!strcmp(a, "ids")) opt_ids = atoi(v) != 0;
		else if (!strcmp(a, "transport")) opt_transport = v;
		else if (!strcmp(a, "mount")) opt_mount = v;
		else die("unknown option --%s", a);
	}
	if (!strcmp(opt_scenario, "freeport"))
		return run_freeport();
	signal(SIGPIPE, SIG_IGN);
	chat_mode = !strcmp(opt_mode, "chat");
	nats_mode = !strcmp(opt_mode, "nats");
	if (!chat_mode && !nats_mode && strcmp(opt_mode, "wspipe"))
		die("--mode=wspipe|chat|nats");
	if (!opt_port || opt_subs < 1 || opt_res < 1 || opt_window < 1)
		die("need --port, --subs >= 1, --resources >= 1, --window >= 1");
	if (chat_mode && opt_res != 1)
		die("chat mode has one resource");
	if (!chat_mode && !nats_mode && !opt_broker)
		die("wspipe mode needs --broker=SOCKET");
	if (opt_ids && (chat_mode || nats_mode))
		die("--ids is for --mode=wspipe");
	sse_mode = !strcmp(opt_transport, "sse");
	if (!sse_mode && strcmp(opt_transport, "ws"))
		die("--transport=ws|sse");
	if (sse_mode && (chat_mode || nats_mode))
		die("--transport=sse is for --mode=wspipe");
	if (opt_mount[0] != '/')
		die("--mount must start with /");
	/* an event stream's updates always carry their id */
	if (sse_mode)
		opt_ids = 1;
	if (nats_mode && !opt_natsport)
		die("nats mode needs --natsport=PORT (the client port; --port is the websocket port)");
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < opt_subs + 20)
		die("open-file limit %ld too low for %ld subscribers", (long)rl.rlim_cur, opt_subs);

	srv.sin_family = AF_INET;
	srv.sin_port = htons((uint16_t)opt_port);
	srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv2 = srv;
	srv2.sin_port = htons((uint16_t)opt_port2);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	subs = xcalloc((size_t)opt_subs, sizeof *subs);
	ring_cnt = xcalloc(RING, sizeof *ring_cnt);
	exp_per_res = xcalloc((size_t)opt_res, sizeof *exp_per_res);
	for (long i = 0; i < opt_subs; i++) {
		subs[i].fd = -1;
		subs[i].res = (int)(i % opt_res);
		subs[i].next_exp = subs[i].res ? (uint64_t)subs[i].res : (uint64_t)opt_res;
		exp_per_res[subs[i].res]++;
	}
	struct mem_snap m0;
	find_descendants();
	mem_snap(&m0);

	/* connect + subscribe */
	double t0 = now_s(), dl = t0 + opt_timeout;
	long next = 0;
	long target_ready = opt_subs;
	for (;;) {
		long ready = chat_mode ? n_open : n_subscribed;
		long inflight = n_started - n_dead - ready;
		while (next < opt_subs && inflight < opt_inflight) {
			sub_start(&subs[next++]);
			inflight++;
		}
		if (ready >= target_ready)
			break;
		if (n_dead > 0 || now_s() > dl) {
			printf("scenario=fanout mode=%s transport=%s phase=setup error=1 started=%ld open=%ld subscribed=%ld dead=%ld first_error=\"%s\"\n",
			       opt_mode, opt_transport, n_started, n_open, n_subscribed, n_dead, first_error);
			return 1;
		}
		poll_once(10);
	}
	double t_conn = now_s() - t0;

	/* publisher */
	if (chat_mode) {
		pubc.is_pub = 1;
		pubc.fd = -1;
		sub_start(&pubc);
		while (pubc.state != C_OPEN && now_s() < dl)
			poll_once(10);
		if (pubc.state != C_OPEN)
			die("publisher could not connect");
	} else if (nats_mode) {
		connect_nats_pub();
		while (!pub_ready && now_s() < dl)
			poll_once(10);
		if (!pub_ready)
			die("publisher: no PONG from nats-server (%s)", first_error);
	} else {
		connect_unix_pub();
	}

	/* sync: every subscription is live end to end */
	double t1 = now_s(), last_sync = 0;
	while (n_synced < opt_subs - (long)n_dead) {
		if (now_s() > dl) {
			printf("scenario=fanout mode=%s transport=%s phase=setup error=1 synced=%ld of %ld dead=%ld first_error=\"%s\"\n",
			       opt_mode, opt_transport, n_synced, opt_subs, n_dead, first_error);
			return 1;
		}
		if (now_s() - last_sync > 0.1) {
			publish_sync();
			last_sync = now_s();
		}
		poll_once(10);
	}
	/* let in-flight sync messages arrive */
	double q = now_s();
	while (now_s() - q < 0.3)
		poll_once(10);
	double t_sync = now_s() - t1;
	find_descendants();
	struct mem_snap m1;
	mem_snap(&m1);
	printf("scenario=fanout mode=%s transport=%s phase=setup subs=%ld resources=%ld connect_secs=%.2f sync_secs=%.2f"
	       " gw_rss0_kb=%ld gw_rss_idle_kb=%ld broker_rss_idle_kb=%ld desc_rss_idle_kb=%ld ndesc=%zu extra_rss_idle_kb=%ld"
	       " gw_hwm_idle_kb=%ld cold_first_us=%.0f cold_all_us=%.0f errors=%" PRIu64 " badmsg=%" PRIu64
	       " ids=%d skipped=%" PRIu64 " gap_lines=%" PRIu64 " id_errors=%" PRIu64
	       " gw_anon0_kb=%ld gw_anon_idle_kb=%ld\n",
	       opt_mode, opt_transport, opt_subs, opt_res, t_conn, t_sync, m0.gw_rss, m1.gw_rss, m1.broker_rss,
	       m1.desc_rss, ndesc, m1.extra_rss, m1.gw_hwm,
	       cold_first_ns ? (double)(cold_first_ns - sync_pub_ns) / 1e3 : -1,
	       cold_last_ns ? (double)(cold_last_ns - sync_pub_ns) / 1e3 : -1, g_errors, g_badmsg,
	       opt_ids, g_skipped, g_gaplines, g_iderr, m0.gw_anon, m1.gw_anon);
	fflush(stdout);

	char *phases = strdup(opt_phases), *save = NULL;
	for (char *ph = strtok_r(phases, ",", &save); ph; ph = strtok_r(NULL, ",", &save))
		run_phase(ph);
	free(phases);
	return 0;
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Unit tests for ws.c.  Decoder vectors are the RFC 6455 5.7 examples,
 * every length encoding, fragmentation with interleaved control frames
 * and each malformed header with its close code.  Every vector is fed
 * whole, split at every offset and byte by byte, and must produce the same
 * events and the same payload.  Frames made by the encoder with random
 * keys must decode to what went in.  Close codes and payloads last.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"
#include "tap.h"

static uint64_t	 rng_state = 0x6455ULL;

static uint64_t
rng(void)
{
	uint64_t	 z;

	z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n == 0 ? 1 : n)) == NULL)
		abort();
	return (p);
}

/* A growable byte string. */
struct bytes {
	uint8_t	*p;
	size_t	 len;
	size_t	 cap;
};

static void
bytes_add(struct bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

/*
 * Appends a frame built independently of ws.c: first byte b0 (FIN, RSV,
 * opcode), minimal length encoding, masked with key when key is not NULL.
 */
static void
put_frame(struct bytes *b, int b0, const void *payload, uint64_t len,
    const uint8_t *key)
{
	uint8_t	 h[14], *m;
	size_t	 n = 0, i;
	int	 k;

	h[n++] = b0;
	if (len < 126)
		h[n++] = len;
	else if (len < 65536) {
		h[n++] = 126;
		h[n++] = len >> 8;
		h[n++] = len;
	} else {
		h[n++] = 127;
		for (k = 7; k >= 0; k--)
			h[n++] = len >> (8 * k);
	}
	if (key != NULL) {
		h[1] |= 0x80;
		memcpy(h + n, key, 4);
		n += 4;
	}
	bytes_add(b, h, n);
	bytes_add(b, payload, len);
	m = b->p + b->len - len;
	if (key != NULL)
		for (i = 0; i < len; i++)
			m[i] ^= key[i % 4];
}

/* What the parser reported, data pieces merged into their message. */
struct ev {
	int		 kind;		/* WS_DATA, WS_CONTROL, WS_ERR */
	int		 opcode;
	int		 fin;		/* WS_DATA: the message is complete */
	int		 code;
	struct bytes	 data;
};

struct log {
	struct ev	*ev;
	size_t		 n;
	const char	*fault;		/* a broken API rule, if any */
	const char	*errstr;	/* from WS_ERR */
};

static void
log_free(struct log *lg)
{
	size_t	 i;

	for (i = 0; i < lg->n; i++)
		free(lg->ev[i].data.p);
	free(lg->ev);
	memset(lg, 0, sizeof *lg);
}

static struct ev *
log_new(struct log *lg, int kind, int opcode)
{
	struct ev	*e;

	lg->ev = xrealloc(lg->ev, (lg->n + 1) * sizeof *lg->ev);
	e = &lg->ev[lg->n++];
	memset(e, 0, sizeof *e);
	e->kind = kind;
	e->opcode = opcode;
	return (e);
}

/* Empty non-final pieces may or may not be reported: ignore them. */
static void
log_data(struct log *lg, int opcode, int fin, const uint8_t *p, size_t len)
{
	struct ev	*e = lg->n > 0 ? &lg->ev[lg->n - 1] : NULL;

	if (e != NULL && e->kind == WS_DATA && !e->fin) {
		if (e->opcode != opcode && lg->fault == NULL)
			lg->fault = "opcode changed inside a message";
	} else {
		if (len == 0 && !fin)
			return;
		e = log_new(lg, WS_DATA, opcode);
	}
	bytes_add(&e->data, p, len);
	e->fin = fin;
}

static void
log_ctl(struct log *lg, int opcode, const uint8_t *p, size_t len)
{
	struct ev	*e;

	e = log_new(lg, WS_CONTROL, opcode);
	bytes_add(&e->data, p, len);
}

static void
log_err(struct log *lg, int code)
{
	log_new(lg, WS_ERR, 0)->code = code;
}

/*
 * Builds a log from a spec: events separated by '|', each a letter and
 * ':' then the payload (or the close code for E).  T/B: a complete text
 * or binary message, t/b: an incomplete one (a control frame follows),
 * P/O/C: ping, pong, close, E: protocol error.
 */
static void
log_spec(struct log *lg, const char *spec)
{
	const char	*s, *end;
	size_t		 len;

	memset(lg, 0, sizeof *lg);
	for (s = spec; *s != '\0'; s = *end == '|' ? end + 1 : end) {
		end = strchr(s, '|');
		if (end == NULL)
			end = s + strlen(s);
		len = end - s - 2;
		switch (s[0]) {
		case 'T':
		case 't':
			log_data(lg, WS_OP_TEXT, s[0] == 'T',
			    (const uint8_t *)s + 2, len);
			break;
		case 'B':
		case 'b':
			log_data(lg, WS_OP_BINARY, s[0] == 'B',
			    (const uint8_t *)s + 2, len);
			break;
		case 'P':
			log_ctl(lg, WS_OP_PING, (const uint8_t *)s + 2, len);
			break;
		case 'O':
			log_ctl(lg, WS_OP_PONG, (const uint8_t *)s + 2, len);
			break;
		case 'C':
			log_ctl(lg, WS_OP_CLOSE, (const uint8_t *)s + 2, len);
			break;
		case 'E':
			log_err(lg, atoi(s + 2));
			break;
		default:
			abort();
		}
	}
}

static int
log_eq(const struct log *a, const struct log *b, char *why, size_t whysz)
{
	const struct ev	*x, *y;
	size_t		 i, j;

	if (a->fault != NULL) {
		snprintf(why, whysz, "%s", a->fault);
		return (0);
	}
	for (i = 0; i < a->n && i < b->n; i++) {
		x = &a->ev[i];
		y = &b->ev[i];
		if (x->kind != y->kind || x->opcode != y->opcode ||
		    x->fin != y->fin || x->code != y->code ||
		    x->data.len != y->data.len) {
			snprintf(why, whysz, "event %zu: got kind %d op %d "
			    "fin %d code %d len %zu%s%s, expected kind %d "
			    "op %d fin %d code %d len %zu", i, x->kind,
			    x->opcode, x->fin, x->code, x->data.len,
			    x->kind == WS_ERR ? " " : "",
			    x->kind == WS_ERR ? a->errstr : "", y->kind,
			    y->opcode, y->fin, y->code, y->data.len);
			return (0);
		}
		if (x->data.len > 0 &&
		    memcmp(x->data.p, y->data.p, x->data.len) != 0) {
			for (j = 0; x->data.p[j] == y->data.p[j]; j++)
				;
			snprintf(why, whysz, "event %zu: payload differs at "
			    "byte %zu: %02x, expected %02x", i, j,
			    x->data.p[j], y->data.p[j]);
			return (0);
		}
	}
	if (a->n != b->n) {
		snprintf(why, whysz, "%zu events, expected %zu%s%s", a->n,
		    b->n, a->errstr != NULL ? ", error: " : "",
		    a->errstr != NULL ? a->errstr : "");
		return (0);
	}
	return (1);
}

/*
 * Feeds a copy of in[0..len) to a fresh parser in chunks ending at
 * cuts[0..ncuts), then the rest, the way the relay does, and logs events.
 */
static void
run(const uint8_t *in, size_t len, int server, uint64_t max_msg,
    const size_t *cuts, size_t ncuts, struct log *lg)
{
	struct ws_parser	 ps;
	enum ws_status		 st;
	uint8_t			*copy, *p;
	size_t			 start = 0, end, left, n, i;
	int			 stall = 0, dead = 0;

	memset(lg, 0, sizeof *lg);
	copy = xrealloc(NULL, len);
	memcpy(copy, in, len);
	ws_parser_init(&ps, max_msg, server);
	for (i = 0; i <= ncuts && !dead; i++) {
		end = i < ncuts ? cuts[i] : len;
		p = copy + start;
		left = end - start;
		start = end;
		while (left > 0 && !dead) {
			st = (enum ws_status)-1;
			n = ws_parse(&ps, p, left, &st);
			if (n > left) {
				lg->fault = "consumed more than given";
				dead = 1;
				break;
			}
			switch (st) {
			case WS_MORE:
				if (n != left && lg->fault == NULL)
					lg->fault = "WS_MORE before the end";
				break;
			case WS_DATA:
				if (ps.opcode != WS_OP_TEXT &&
				    ps.opcode != WS_OP_BINARY) {
					lg->fault = "data opcode not a message "
					    "opcode";
					dead = 1;
					break;
				}
				if (ps.len > 0 && (ps.data < p ||
				    ps.data + ps.len > p + n)) {
					lg->fault = "data piece not within the "
					    "bytes consumed";
					dead = 1;
					break;
				}
				log_data(lg, ps.opcode, ps.fin, ps.data,
				    ps.len);
				break;
			case WS_CONTROL:
				if ((ps.opcode != WS_OP_PING &&
				    ps.opcode != WS_OP_PONG &&
				    ps.opcode != WS_OP_CLOSE) ||
				    ps.len > WS_CONTROL_MAX) {
					lg->fault = "bad control event";
					dead = 1;
					break;
				}
				log_ctl(lg, ps.opcode, ps.data, ps.len);
				break;
			case WS_ERR:
				if (ps.errstr == NULL && lg->fault == NULL)
					lg->fault = "WS_ERR without errstr";
				log_err(lg, ps.code);
				lg->errstr = ps.errstr;
				dead = 1;
				break;
			default:
				lg->fault = "unknown status";
				dead = 1;
				break;
			}
			if (n == 0 && ++stall > 4) {
				lg->fault = "no progress";
				dead = 1;
			} else if (n > 0)
				stall = 0;
			p += n;
			left -= n;
		}
	}
	free(copy);
}

/*
 * Runs one vector whole, split in two at every offset (a sample of them
 * for long inputs) and byte by byte: three test points.
 */
static void
check(const char *name, const uint8_t *in, size_t len, int server,
    uint64_t max_msg, const struct log *want)
{
	struct log	 got;
	size_t		*cuts, k, i, stride, edge;
	char		 why[256];
	int		 good;

	run(in, len, server, max_msg, NULL, 0, &got);
	if (!ok(log_eq(&got, want, why, sizeof why), "%s: whole", name))
		diag("  %s", why);
	log_free(&got);

	stride = len <= 4096 ? 1 : len <= 262144 ? len / 97 : len / 17;
	edge = len <= 262144 ? 64 : 16;
	good = 1;
	for (k = 0; k <= len && good; k++) {
		if (k > edge && k + edge < len && k % stride != 0)
			continue;
		run(in, len, server, max_msg, &k, 1, &got);
		if (!log_eq(&got, want, why, sizeof why)) {
			diag("  split at %zu: %s", k, why);
			good = 0;
		}
		log_free(&got);
	}
	ok(good, "%s: split at every offset%s", name, stride > 1 ?
	    " (sampled)" : "");

	cuts = xrealloc(NULL, (len + 1) * sizeof *cuts);
	for (i = 0; i < len; i++)
		cuts[i] = i + 1;
	run(in, len, server, max_msg, cuts, len, &got);
	if (!ok(log_eq(&got, want, why, sizeof why), "%s: byte by byte",
	    name))
		diag("  %s", why);
	log_free(&got);
	free(cuts);
}

static void
check_spec(const char *name, const char *in, size_t len, int server,
    uint64_t max_msg, const char *spec)
{
	struct log	 want;

	log_spec(&want, spec);
	check(name, (const uint8_t *)in, len, server, max_msg, &want);
	log_free(&want);
}

struct vec {
	const char	*name;
	const char	*in;
	size_t		 len;
	int		 server;
	uint64_t	 max_msg;
	const char	*want;
};

#define V(n, srv, max, in, want) \
	{ n, in, sizeof(in) - 1, srv, max, want }
#define KEY	"\x37\xfa\x21\x3d"
#define Z8	"\x00\x00\x00\x00\x00\x00\x00"

static const struct vec vecs[] = {
	/* RFC 6455 5.7. */
	V("5.7 single-frame unmasked text", 0, 0, "\x81\x05Hello", "T:Hello"),
	V("5.7 single-frame masked text", 1, 0,
	    "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", "T:Hello"),
	V("5.7 fragmented unmasked text", 0, 0, "\x01\x03Hel\x80\x02lo",
	    "T:Hello"),
	V("5.7 unmasked ping", 0, 0, "\x89\x05Hello", "P:Hello"),
	V("5.7 masked pong", 1, 0,
	    "\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", "O:Hello"),

	/* Data and control details. */
	V("empty text", 0, 0, "\x81\x00", "T:"),
	V("empty masked binary", 1, 0, "\x82\x80" KEY, "B:"),
	V("empty fragments", 0, 0, "\x01\x00\x00\x00\x80\x00", "T:"),
	V("empty first fragment", 0, 0, "\x01\x00\x80\x03" "abc", "T:abc"),
	V("empty last fragment", 0, 0, "\x02\x03" "abc\x80\x00", "B:abc"),
	V("binary in three frames", 0, 0, "\x02\x02" "ab\x00\x01" "c\x80\x01"
	    "d", "B:abcd"),
	V("two messages", 0, 0, "\x81\x01" "a\x82\x01" "b", "T:a|B:b"),
	V("fragments with ping and empty pong between", 0, 0,
	    "\x01\x03Hel\x89\x01x\x00\x01l\x8a\x00\x80\x01o",
	    "t:Hel|P:x|t:l|O:|T:o"),
	V("ping between empty fragments", 0, 0, "\x01\x00\x89\x00\x80\x00",
	    "P:|T:"),
	V("close 1000", 0, 0, "\x88\x02\x03\xe8", "C:\x03\xe8"),
	V("empty close", 0, 0, "\x88\x00", "C:"),
	V("masked close with reason", 1, 0, "\x88\x85\x37\xfa\x21\x3d"
	    "\x34\x12\x43\x44\x52", "C:\x03\xe8" "bye"),
	V("message exactly max_msg", 0, 5, "\x81\x05Hello", "T:Hello"),
	V("fragmented message exactly max_msg", 0, 5,
	    "\x01\x03Hel\x00\x00\x80\x02lo", "T:Hello"),
	V("max_msg applies per message", 0, 5, "\x81\x05Hello\x82\x05world",
	    "T:Hello|B:world"),
	V("126-byte length form accepted at 126", 0, 0, "\x81\x7e\x00\x7e",
	    ""),

	/* RFC 6455 5.2: reserved bits without an extension. */
	V("RSV1", 0, 0, "\xc1\x00", "E:1002"),
	V("RSV2", 0, 0, "\xa1\x00", "E:1002"),
	V("RSV3", 0, 0, "\x91\x00", "E:1002"),
	V("RSV1 on a ping", 0, 0, "\xc9\x00", "E:1002"),
	V("RSV1 on a continuation", 0, 0, "\x01\x01" "a\xc0\x01" "b",
	    "t:a|E:1002"),
	V("RSV after a good message", 0, 0, "\x81\x01" "a\x91\x00",
	    "T:a|E:1002"),
	V("RSV masked", 1, 0, "\xc1\x80" KEY, "E:1002"),

	/* RFC 6455 5.2: reserved opcodes. */
	V("opcode 3", 0, 0, "\x83\x00", "E:1002"),
	V("opcode 4", 0, 0, "\x84\x00", "E:1002"),
	V("opcode 5", 0, 0, "\x85\x00", "E:1002"),
	V("opcode 6", 0, 0, "\x86\x00", "E:1002"),
	V("opcode 7", 0, 0, "\x87\x01" "a", "E:1002"),
	V("opcode 0xB", 0, 0, "\x8b\x00", "E:1002"),
	V("opcode 0xC", 0, 0, "\x8c\x00", "E:1002"),
	V("opcode 0xD", 0, 0, "\x8d\x00", "E:1002"),
	V("opcode 0xE", 0, 0, "\x8e\x00", "E:1002"),
	V("opcode 0xF", 0, 0, "\x8f\x01" "a", "E:1002"),
	V("opcode 3 without FIN", 0, 0, "\x03\x00", "E:1002"),
	V("opcode 0xB inside a message", 0, 0, "\x01\x01" "a\x8b\x00",
	    "t:a|E:1002"),

	/* RFC 6455 5.5: control frames. */
	V("fragmented ping", 0, 0, "\x09\x00", "E:1002"),
	V("fragmented close", 0, 0, "\x08\x02\x03\xe8", "E:1002"),
	V("fragmented pong", 0, 0, "\x0a\x00", "E:1002"),
	V("ping of 126 bytes, 16-bit length", 0, 0, "\x89\x7e\x00\x7e",
	    "E:1002"),
	V("close of 126 bytes, 16-bit length", 0, 0, "\x88\x7e\x00\x7e",
	    "E:1002"),
	V("pong of 126 bytes, 64-bit length", 0, 0, "\x8a\x7f" Z8 "\x7e",
	    "E:1002"),
	V("masked ping of 126 bytes", 1, 0, "\x89\xfe\x00\x7e" KEY, "E:1002"),

	/* RFC 6455 5.1: a server must close on an unmasked frame. */
	V("unmasked text to a server", 1, 0, "\x81\x05Hello", "E:1002"),
	V("unmasked ping to a server", 1, 0, "\x89\x00", "E:1002"),
	V("unmasked continuation to a server", 1, 0, "\x01\x81" KEY "\x56"
	    "\x80\x01" "b", "t:a|E:1002"),

	/* RFC 6455 5.2: the minimal number of bytes must be used. */
	V("16-bit length 5", 0, 0, "\x81\x7e\x00\x05Hello", "E:1002"),
	V("16-bit length 0", 0, 0, "\x81\x7e\x00\x00", "E:1002"),
	V("16-bit length 125", 0, 0, "\x82\x7e\x00\x7d", "E:1002"),
	V("64-bit length 5", 0, 0, "\x81\x7f" Z8 "\x05Hello", "E:1002"),
	V("64-bit length 126", 0, 0, "\x82\x7f" Z8 "\x7e", "E:1002"),
	V("64-bit length 65535", 0, 0, "\x82\x7f\x00\x00\x00\x00\x00\x00"
	    "\xff\xff", "E:1002"),
	V("masked 16-bit length 5", 1, 0, "\x81\xfe\x00\x05" KEY
	    "\x7f\x9f\x4d\x51\x58", "E:1002"),
	V("64-bit length with the top bit", 0, 0, "\x82\x7f\x80\x00\x00\x00"
	    "\x00\x00\x00\x00", "E:1002"),
	V("64-bit length all ones", 0, 0, "\x82\x7f\xff\xff\xff\xff\xff\xff"
	    "\xff\xff", "E:1002"),

	/* RFC 6455 5.4: fragmentation. */
	V("continuation with no message", 0, 0, "\x80\x01" "a", "E:1002"),
	V("non-final continuation with no message", 0, 0, "\x00\x01" "a",
	    "E:1002"),
	V("continuation after a complete message", 0, 0, "\x81\x01" "a\x80"
	    "\x01" "b", "T:a|E:1002"),
	V("text inside a fragmented text", 0, 0, "\x01\x01" "a\x81\x01" "b",
	    "t:a|E:1002"),
	V("binary inside a fragmented text", 0, 0, "\x01\x01" "a\x02\x01" "b",
	    "t:a|E:1002"),
	V("empty text inside a fragmented binary", 0, 0, "\x02\x01"
	    "a\x01\x00", "b:a|E:1002"),
	V("text after ping inside a message", 0, 0, "\x01\x01" "a\x89\x00"
	    "\x81\x00", "t:a|P:|E:1002"),

	/* Message size, checked from the header. */
	V("frame over max_msg, header only", 0, 5, "\x81\x06", "E:1009"),
	V("frame over max_msg", 0, 5, "\x81\x06Hello!", "E:1009"),
	V("masked frame over max_msg", 1, 5, "\x82\x86" KEY "abcdef",
	    "E:1009"),
	V("fragments over max_msg", 0, 5, "\x01\x03" "abc\x80\x03" "def",
	    "t:abc|E:1009"),
	V("fragments over max_msg, header only", 0, 5, "\x01\x03" "abc\x80"
	    "\x03", "t:abc|E:1009"),
	V("one byte over max_msg after a full frame", 0, 5, "\x01\x05Hello"
	    "\x80\x01!", "t:Hello|E:1009"),
	V("2^40 bytes over 16 MiB", 0, 16777216, "\x82\x7f\x00\x00\x01\x00"
	    "\x00\x00\x00\x00", "E:1009"),
	V("16 MiB + 1", 0, 16777216, "\x82\x7f\x00\x00\x00\x00\x01\x00\x00"
	    "\x01", "E:1009"),
};

#define NVECS	(sizeof vecs / sizeof vecs[0])

static void
test_vectors(void)
{
	const struct vec	*v;

	for (v = vecs; v < vecs + NVECS; v++)
		check_spec(v->name, v->in, v->len, v->server, v->max_msg,
		    v->want);
}

/* The RFC's 256-byte and 64 KiB binary frames, and every length form. */
static void
test_lengths(void)
{
	static const uint64_t	 lens[] = {
		0, 1, 125, 126, 127, 256, 65535, 65536, 65537, 1048579
	};
	struct bytes		 in;
	struct log		 want;
	uint8_t			*payload, key[4];
	char			 name[80];
	size_t			 i, j;
	int			 masked;

	payload = xrealloc(NULL, 1048579);
	for (j = 0; j < 1048579; j++)
		payload[j] = rng();

	/* RFC 6455 5.7, byte for byte. */
	memset(&in, 0, sizeof in);
	bytes_add(&in, "\x82\x7e\x01\x00", 4);
	bytes_add(&in, payload, 256);
	memset(&want, 0, sizeof want);
	log_data(&want, WS_OP_BINARY, 1, payload, 256);
	check("5.7 256-byte binary, unmasked", in.p, in.len, 0, 0, &want);
	in.len = 0;
	bytes_add(&in, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	bytes_add(&in, payload, 65536);
	log_free(&want);
	log_data(&want, WS_OP_BINARY, 1, payload, 65536);
	check("5.7 64 KiB binary, unmasked", in.p, in.len, 0, 0, &want);
	log_free(&want);

	for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		for (masked = 0; masked <= 1; masked++) {
			in.len = 0;
			for (j = 0; j < 4; j++)
				key[j] = rng();
			put_frame(&in, 0x80 | WS_OP_BINARY, payload, lens[i],
			    masked ? key : NULL);
			/* A ping after it proves the frame ended right. */
			put_frame(&in, 0x80 | WS_OP_PING, "end", 3,
			    masked ? key : NULL);
			log_data(&want, WS_OP_BINARY, 1, payload, lens[i]);
			log_ctl(&want, WS_OP_PING, (const uint8_t *)"end", 3);
			snprintf(name, sizeof name, "%s binary of %llu bytes",
			    masked ? "masked" : "unmasked",
			    (unsigned long long)lens[i]);
			check(name, in.p, in.len, masked, 0, &want);
			log_free(&want);
		}
	}

	/* A long text message in fragments of every length form. */
	in.len = 0;
	for (j = 0; j < 200000; j++)
		payload[j] = 'a' + j % 26;
	put_frame(&in, WS_OP_TEXT, payload, 125, (const uint8_t *)KEY);
	put_frame(&in, WS_OP_CONT, payload + 125, 126, (const uint8_t *)KEY);
	put_frame(&in, 0x80 | WS_OP_PONG, "", 0, (const uint8_t *)KEY);
	put_frame(&in, WS_OP_CONT, payload + 251, 65536, (const uint8_t *)KEY);
	put_frame(&in, 0x80 | WS_OP_CONT, payload + 65787, 100000,
	    (const uint8_t *)KEY);
	log_data(&want, WS_OP_TEXT, 0, payload, 251);
	log_ctl(&want, WS_OP_PONG, NULL, 0);
	log_data(&want, WS_OP_TEXT, 1, payload + 251, 165536);
	check("masked text in 125+126+65536+100000 byte fragments", in.p,
	    in.len, 1, 165787, &want);
	log_free(&want);
	log_data(&want, WS_OP_TEXT, 0, payload, 251);
	log_ctl(&want, WS_OP_PONG, NULL, 0);
	log_data(&want, WS_OP_TEXT, 0, payload + 251, 65536);
	log_err(&want, WS_CLOSE_TOO_BIG);
	check("same message one byte over max_msg: 1009 at the last header",
	    in.p, in.len, 1, 165786, &want);
	log_free(&want);
	free(in.p);
	free(payload);
}

/* Random messages through ws_header and ws_mask, decoded again. */
static void
test_roundtrip(void)
{
	struct bytes		 in;
	struct log		 want, got;
	uint8_t			 payload[70000], key[4], hdr[WS_HEADER_MAX];
	uint8_t			*m;
	size_t			 len, flen, clen, off, hl, cuts[8], ncuts;
	size_t			 i;
	char			 why[256];
	int			 round, op, cop, fin, server, nframes;
	int			 first, bad = 0;

	memset(&in, 0, sizeof in);
	for (round = 0; round < 400 && bad == 0; round++) {
		server = round % 2;
		in.len = 0;
		memset(&want, 0, sizeof want);
		while (in.len < 200000 && rng() % 8 != 0) {
			op = rng() % 2 ? WS_OP_TEXT : WS_OP_BINARY;
			len = rng() % 8 == 0 ? rng() % sizeof payload :
			    rng() % 300;
			for (i = 0; i < len; i++)
				payload[i] = rng();
			nframes = 1 + rng() % 4;
			for (off = 0, fin = 0, first = 1; !fin;
			    off += flen, first = 0) {
				flen = nframes-- <= 1 ? len - off :
				    rng() % (len - off + 1);
				fin = off + flen == len && nframes <= 0;
				for (i = 0; i < 4; i++)
					key[i] = rng();
				hl = ws_header(hdr, first ? op : WS_OP_CONT,
				    fin, flen, server ? key : NULL);
				bytes_add(&in, hdr, hl);
				bytes_add(&in, payload + off, flen);
				m = in.p + in.len - flen;
				if (server)
					ws_mask(m, flen, key, 0);
				log_data(&want, op, fin, payload + off, flen);
				if (fin || rng() % 3 != 0)
					continue;
				/* A control frame between fragments. */
				clen = rng() % 126;
				cop = rng() % 2 ? WS_OP_PING : WS_OP_PONG;
				hl = ws_header(hdr, cop, 1, clen,
				    server ? key : NULL);
				bytes_add(&in, hdr, hl);
				bytes_add(&in, payload, clen);
				m = in.p + in.len - clen;
				if (server)
					ws_mask(m, clen, key, 0);
				log_ctl(&want, cop, payload, clen);
			}
		}
		ncuts = in.len == 0 ? 0 : rng() % 8;
		for (i = 0; i < ncuts; i++)
			cuts[i] = rng() % in.len;
		for (i = 1; i < ncuts; i++)	/* sorted, by insertion */
			for (off = i; off > 0 && cuts[off - 1] > cuts[off];
			    off--) {
				flen = cuts[off];
				cuts[off] = cuts[off - 1];
				cuts[off - 1] = flen;
			}
		run(in.p, in.len, server, 0, cuts, ncuts, &got);
		if (!log_eq(&got, &want, why, sizeof why)) {
			diag("round %d (%zu bytes, %zu cuts): %s", round,
			    in.len, ncuts, why);
			bad++;
		}
		log_free(&got);
		log_free(&want);
	}
	ok(bad == 0, "400 random streams of ws_header/ws_mask frames decode "
	    "to what went in, in random chunks");
	free(in.p);
}

static void
test_header(void)
{
	static const struct {
		int		 op, fin;
		uint64_t	 len;
		int		 masked;
		const char	*want;
		size_t		 wantlen;
	} h[] = {
#define H(op, fin, len, masked, want) \
	{ op, fin, len, masked, want, sizeof(want) - 1 }
		H(WS_OP_TEXT, 1, 5, 0, "\x81\x05"),
		H(WS_OP_TEXT, 1, 5, 1, "\x81\x85" KEY),
		H(WS_OP_TEXT, 0, 3, 0, "\x01\x03"),
		H(WS_OP_CONT, 1, 2, 0, "\x80\x02"),
		H(WS_OP_CONT, 0, 0, 0, "\x00\x00"),
		H(WS_OP_PING, 1, 0, 0, "\x89\x00"),
		H(WS_OP_PONG, 1, 125, 0, "\x8a\x7d"),
		H(WS_OP_CLOSE, 1, 2, 1, "\x88\x82" KEY),
		H(WS_OP_BINARY, 1, 125, 0, "\x82\x7d"),
		H(WS_OP_BINARY, 1, 126, 0, "\x82\x7e\x00\x7e"),
		H(WS_OP_BINARY, 1, 256, 0, "\x82\x7e\x01\x00"),
		H(WS_OP_BINARY, 1, 65535, 0, "\x82\x7e\xff\xff"),
		H(WS_OP_BINARY, 1, 65535, 1, "\x82\xfe\xff\xff" KEY),
		H(WS_OP_BINARY, 1, 65536, 0, "\x82\x7f\x00\x00\x00\x00\x00\x01"
		    "\x00\x00"),
		H(WS_OP_BINARY, 1, 65536, 1, "\x82\xff\x00\x00\x00\x00\x00\x01"
		    "\x00\x00" KEY),
		H(WS_OP_BINARY, 1, 0x100000001ULL, 0, "\x82\x7f\x00\x00\x00\x01"
		    "\x00\x00\x00\x01"),
		H(WS_OP_BINARY, 1, 0x7fffffffffffffffULL, 0, "\x82\x7f\x7f\xff"
		    "\xff\xff\xff\xff\xff\xff"),
#undef H
	};
	uint8_t		 out[WS_HEADER_MAX + 4];
	size_t		 i, n;
	int		 good;

	for (i = 0; i < sizeof h / sizeof h[0]; i++) {
		memset(out, 0xa5, sizeof out);
		n = ws_header(out, h[i].op, h[i].fin, h[i].len,
		    h[i].masked ? (const uint8_t *)KEY : NULL);
		good = n == h[i].wantlen &&
		    memcmp(out, h[i].want, n) == 0 &&
		    out[WS_HEADER_MAX] == 0xa5;
		ok(good, "ws_header op %d fin %d len %llu %s", h[i].op,
		    h[i].fin, (unsigned long long)h[i].len,
		    h[i].masked ? "masked" : "unmasked");
		if (!good)
			diag("  got %zu bytes %02x %02x %02x %02x", n, out[0],
			    out[1], out[2], out[3]);
	}
}

static void
test_mask(void)
{
	uint8_t		 a[1000], b[1000], c[1000], key[4];
	size_t		 i, cut, cut2;
	int		 round, good;

	memcpy(a, "Hello", 5);
	ws_mask(a, 5, (const uint8_t *)KEY, 0);
	ok(memcmp(a, "\x7f\x9f\x4d\x51\x58", 5) == 0,
	    "ws_mask: RFC 6455 5.7 masked Hello");
	memcpy(a, "llo", 3);
	ws_mask(a, 3, (const uint8_t *)KEY, 2);
	ok(memcmp(a, "\x4d\x51\x58", 3) == 0, "ws_mask from offset 2");
	a[0] = 'o';
	ws_mask(a, 1, (const uint8_t *)KEY, 4);
	ok(a[0] == 0x58, "ws_mask from offset 4 wraps to key[0]");
	a[0] = 0;
	ws_mask(a, 1, (const uint8_t *)KEY, 4000000003ULL);
	ok(a[0] == 0x3d, "ws_mask from a large offset uses key[off %% 4]");

	good = 1;
	for (round = 0; round < 2000; round++) {
		for (i = 0; i < 4; i++)
			key[i] = rng();
		for (i = 0; i < sizeof a; i++)
			a[i] = b[i] = c[i] = rng();
		cut = rng() % sizeof a;
		cut2 = cut + rng() % (sizeof a - cut);
		ws_mask(a, sizeof a, key, 0);
		ws_mask(b, cut, key, 0);
		ws_mask(b + cut, cut2 - cut, key, cut);
		ws_mask(b + cut2, sizeof b - cut2, key, cut2);
		for (i = 0; i < sizeof a; i++)
			if ((a[i] ^ c[i]) != key[i % 4])
				good = 0;
		if (memcmp(a, b, sizeof a) != 0)
			good = 0;
		ws_mask(a, sizeof a, key, 0);
		if (memcmp(a, c, sizeof a) != 0)
			good = 0;
	}
	ok(good, "ws_mask in pieces at any offsets equals one pass and is "
	    "its own inverse");
}

static void
test_close(void)
{
	static const unsigned int	 codes[] = {
		0, 999, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008,
		1009, 1010, 1011, 1012, 1013, 1014, 1015, 1016, 1100, 2000,
		2999, 3000, 3999, 4000, 4999, 5000, 65535, 66536, 0x100003e8
	};
	uint8_t			 out[200], p[130];
	const uint8_t		*reason;
	unsigned int		 code, c;
	size_t			 i, n, rlen;
	int			 want, good, r;
	char			 longr[300];

	for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		c = codes[i];
		want = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
		    (c >= 3000 && c <= 4999);
		is_int(ws_close_code_valid(c), want, "ws_close_code_valid(%u)",
		    c);
	}
	good = 1;
	for (c = 0; c < 70000; c++) {
		want = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
		    (c >= 3000 && c <= 4999);
		if (ws_close_code_valid(c) != want) {
			if (good)
				diag("ws_close_code_valid(%u) wrong", c);
			good = 0;
		}
	}
	ok(good, "ws_close_code_valid on 0..69999");

	code = 0;
	reason = NULL;
	rlen = 99;
	r = ws_close_parse((const uint8_t *)"", 0, &code, &reason, &rlen);
	ok(r == 0 && code == 1005 && rlen == 0,
	    "ws_close_parse: empty payload is 1005 (no status)");
	r = ws_close_parse((const uint8_t *)"\x03", 1, &code, &reason, &rlen);
	is_int(r, -1, "ws_close_parse: 1-byte payload refused");
	memcpy(p, "\x03\xe8" "bye", 5);
	r = ws_close_parse(p, 5, &code, &reason, &rlen);
	ok(r == 0 && code == 1000 && reason == p + 2 && rlen == 3,
	    "ws_close_parse: 1000 with reason \"bye\"");
	r = ws_close_parse(p, 2, &code, &reason, &rlen);
	ok(r == 0 && code == 1000 && rlen == 0,
	    "ws_close_parse: 1000 without reason");
	memcpy(p, "\x03\xe8\xff\xfe", 4);
	r = ws_close_parse(p, 4, &code, &reason, &rlen);
	ok(r == 0 && code == 1000 && rlen == 2,
	    "ws_close_parse: reason UTF-8 not checked here");
	for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		if (codes[i] > 65535)
			continue;
		p[0] = codes[i] >> 8;
		p[1] = codes[i];
		code = 0;
		r = ws_close_parse(p, 2, &code, &reason, &rlen);
		want = ws_close_code_valid(codes[i]) ? 0 : -1;
		ok(r == want && (r == -1 || code == codes[i]),
		    "ws_close_parse: code %u %s", codes[i],
		    want == 0 ? "accepted" : "refused");
	}
	memset(p, 'r', sizeof p);
	p[0] = 0x0f;
	p[1] = 0xa0;
	r = ws_close_parse(p, 125, &code, &reason, &rlen);
	ok(r == 0 && code == 4000 && reason == p + 2 && rlen == 123,
	    "ws_close_parse: 125-byte payload, 123-byte reason");

	memset(out, 0xa5, sizeof out);
	n = ws_close_payload(out, 1000, "");
	ok(n == 2 && out[0] == 0x03 && out[1] == 0xe8,
	    "ws_close_payload(1000, \"\")");
	n = ws_close_payload(out, 1011, "exit status 1");
	ok(n == 15 && memcmp(out, "\x03\xf3" "exit status 1", 15) == 0,
	    "ws_close_payload(1011, \"exit status 1\")");
	n = ws_close_payload(out, 4999, "x");
	ok(n == 3 && memcmp(out, "\x13\x87x", 3) == 0,
	    "ws_close_payload(4999, \"x\")");
	memset(longr, 'z', sizeof longr - 1);
	longr[sizeof longr - 1] = '\0';
	memset(out, 0xa5, sizeof out);
	n = ws_close_payload(out, 1001, longr);
	ok(n == 125 && out[0] == 0x03 && out[1] == 0xe9 && out[2] == 'z' &&
	    out[124] == 'z' && out[125] == 0xa5,
	    "ws_close_payload truncates a 299-byte reason to 125 bytes");
	longr[123] = '\0';
	n = ws_close_payload(out, 1001, longr);
	is_int(n, 125, "ws_close_payload: 123-byte reason fits exactly");
	r = ws_close_parse(out, n, &code, &reason, &rlen);
	ok(r == 0 && code == 1001 && rlen == 123,
	    "ws_close_parse reads back ws_close_payload");

	/* 2 + 121 ASCII + a 2-byte character cut in half at 125. */
	memset(longr, 'z', 122);
	memcpy(longr + 122, "\xc3\xa9", 3);
	n = ws_close_payload(out, 1000, longr);
	/* RFC 6455 5.5.1: the reason must stay UTF-8. */
	ok(n == 124 && memcmp(out + 2, longr, 122) == 0,
	    "ws_close_payload does not cut a UTF-8 character in half");
}

/* After WS_ERR the parser is dead: nothing more is reported. */
static void
test_dead(void)
{
	struct ws_parser	 ps;
	enum ws_status		 st;
	uint8_t			 buf[16];
	size_t			 n;
	int			 events = 0, i;

	ws_parser_init(&ps, 0, 0);
	memcpy(buf, "\xc1\x00", 2);
	n = ws_parse(&ps, buf, 2, &st);
	ok(st == WS_ERR && ps.code == 1002 && n <= 2,
	    "RSV1 alone: WS_ERR 1002");
	for (i = 0; i < 3; i++) {
		memcpy(buf, "\x81\x01" "a\x89\x00", 5);
		n = ws_parse(&ps, buf, 5, &st);
		if (st == WS_DATA || st == WS_CONTROL || n > 5)
			events++;
	}
	is_int(events, 0, "no event from a dead parser");
}

/* With permessage-deflate (rsv1 set), RSV1 marks a message, nothing else. */
static void
test_rsv1(void)
{
	struct ws_parser	 ps;
	enum ws_status		 st;
	uint8_t			 buf[16];

	ws_parser_init(&ps, 0, 0);
	ps.rsv1 = 1;
	memcpy(buf, "\x41\x01" "a\x80\x01" "b", 6);
	(void)ws_parse(&ps, buf, 3, &st);
	ok(st == WS_DATA && ps.compressed && !ps.fin,
	    "rsv1: RSV1 on a first frame marks the message compressed");
	(void)ws_parse(&ps, buf + 3, 3, &st);
	ok(st == WS_DATA && ps.compressed && ps.fin,
	    "rsv1: its continuation (RSV1 clear) is part of it");
	memcpy(buf, "\x81\x01" "c", 3);
	(void)ws_parse(&ps, buf, 3, &st);
	ok(st == WS_DATA && !ps.compressed, "rsv1: a plain message after it");
	ws_parser_init(&ps, 0, 0);
	ps.rsv1 = 1;
	memcpy(buf, "\x01\x01" "a\xc0\x01" "b", 6);
	(void)ws_parse(&ps, buf, 3, &st);
	(void)ws_parse(&ps, buf + 3, 3, &st);
	ok(st == WS_ERR && ps.code == 1002,
	    "rsv1: RSV1 on a continuation is a protocol error");
	ws_parser_init(&ps, 0, 0);
	ps.rsv1 = 1;
	memcpy(buf, "\xc9\x00", 2);
	(void)ws_parse(&ps, buf, 2, &st);
	ok(st == WS_ERR && ps.code == 1002,
	    "rsv1: RSV1 on a ping is a protocol error");
	ws_parser_init(&ps, 0, 0);
	ps.rsv1 = 1;
	memcpy(buf, "\xa1\x00", 2);
	(void)ws_parse(&ps, buf, 2, &st);
	ok(st == WS_ERR && ps.code == 1002,
	    "rsv1: RSV2 is still a protocol error");
	is_int(ws_header(buf, WS_OP_TEXT | WS_RSV1, 1, 5, NULL), 2,
	    "ws_header with RSV1: two bytes");
	ok(buf[0] == 0xc1, "ws_header with RSV1: FIN, RSV1, text (0x%02x)",
	    buf[0]);
}

int
main(void)
{
	test_vectors();
	test_dead();
	test_rsv1();
	test_lengths();
	test_roundtrip();
	test_header();
	test_mask();
	test_close();
	return (done_testing());
}

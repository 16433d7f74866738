/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Unit tests for utf8.c.  The validator is checked against the UTF-8
 * decoder capability and stress test by Markus Kuhn and the Autobahn 6.x
 * cases: boundaries, overlongs, surrogates, values above U+10FFFF, lone and
 * missing continuation bytes.  Each vector is also fed split at every
 * offset and byte by byte, and must fail at the same first bad byte.  The
 * repairer must substitute U+FFFD for each maximal subpart (Unicode 3.9,
 * WHATWG Encoding), whatever the split of its input.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "tap.h"

struct vec {
	const char	*name;
	const char	*s;
	size_t		 len;
	int		 st;
	size_t		 off;		/* UTF8_INVALID: first bad byte */
};

#define OK_(n, s)	{ n, s, sizeof(s) - 1, UTF8_OK, 0 }
#define PART(n, s)	{ n, s, sizeof(s) - 1, UTF8_PARTIAL, 0 }
#define BAD(n, s, o)	{ n, s, sizeof(s) - 1, UTF8_INVALID, o }

#define KOSME		"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

static const struct vec vecs[] = {
	OK_("empty", ""),
	OK_("ascii", "Hello, world"),
	OK_("1 kosme", KOSME),
	OK_("6.2 Hello-mu@ss...", "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4"
	    "\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!"),
	/* Kuhn 2.1: first possible sequence of a certain length. */
	OK_("2.1.1 U+0000", "\x00"),
	OK_("2.1.2 U+0080", "\xc2\x80"),
	OK_("2.1.3 U+0800", "\xe0\xa0\x80"),
	OK_("2.1.4 U+10000", "\xf0\x90\x80\x80"),
	BAD("2.1.5 5-byte U+200000", "\xf8\x88\x80\x80\x80", 0),
	BAD("2.1.6 6-byte U+4000000", "\xfc\x84\x80\x80\x80\x80", 0),
	/* Kuhn 2.2: last possible sequence of a certain length. */
	OK_("2.2.1 U+007F", "\x7f"),
	OK_("2.2.2 U+07FF", "\xdf\xbf"),
	OK_("2.2.3 U+FFFF", "\xef\xbf\xbf"),
	OK_("U+10FFFF", "\xf4\x8f\xbf\xbf"),
	BAD("2.2.4 U+1FFFFF", "\xf7\xbf\xbf\xbf", 0),
	BAD("2.2.5 U+3FFFFFF", "\xfb\xbf\xbf\xbf\xbf", 0),
	BAD("2.2.6 U+7FFFFFFF", "\xfd\xbf\xbf\xbf\xbf\xbf", 0),
	/* Kuhn 2.3: other boundary conditions. */
	OK_("2.3.1 U+D7FF", "\xed\x9f\xbf"),
	OK_("2.3.2 U+E000", "\xee\x80\x80"),
	OK_("2.3.3 U+FFFD", "\xef\xbf\xbd"),
	OK_("2.3.4 U+10FFFF", "\xf4\x8f\xbf\xbf"),
	BAD("2.3.5 U+110000", "\xf4\x90\x80\x80", 1),
	BAD("F4 BF BF BF", "\xf4\xbf\xbf\xbf", 1),
	BAD("F5 80 80 80", "\xf5\x80\x80\x80", 0),
	/* Kuhn 3.1: unexpected continuation bytes. */
	BAD("3.1.1 80", "\x80", 0),
	BAD("3.1.2 BF", "\xbf", 0),
	BAD("3.1.3 80 BF", "\x80\xbf", 0),
	BAD("3.1.4 80 BF 80", "\x80\xbf\x80", 0),
	BAD("continuation after ascii", "ab\x80", 2),
	BAD("continuation after a 2-byte char", "\xc2\xa9\xa9", 2),
	BAD("continuation after U+10FFFF", "\xf4\x8f\xbf\xbf\x80", 4),
	/* Kuhn 3.2: lonely start characters. */
	BAD("3.2.1 C0 space", "\xc0\x20", 0),
	BAD("3.2.1 C2 space", "\xc2\x20", 1),
	BAD("3.2.1 DF space", "\xdf\x20", 1),
	BAD("3.2.2 E0 space", "\xe0\x20", 1),
	BAD("3.2.2 EF space", "\xef\x20", 1),
	BAD("3.2.3 F0 space", "\xf0\x20", 1),
	BAD("3.2.3 F4 space", "\xf4\x20", 1),
	BAD("3.2.4 F8 space", "\xf8\x20", 0),
	BAD("3.2.5 FC space", "\xfc\x20", 0),
	/* Kuhn 3.3: sequences with the last continuation byte missing. */
	PART("3.3.1 C2", "\xc2"),
	PART("3.3.2 E0 A0", "\xe0\xa0"),
	PART("3.3.3 F0 90 80", "\xf0\x90\x80"),
	PART("3.3.6 DF", "\xdf"),
	PART("3.3.7 EF BF", "\xef\xbf"),
	PART("3.3.8 F4 8F BF", "\xf4\x8f\xbf"),
	PART("E0 alone", "\xe0"),
	PART("F0 alone", "\xf0"),
	PART("F4 alone", "\xf4"),
	PART("ascii then F0 90", "abc\xf0\x90"),
	PART("kosme then ED 9F", KOSME "\xed\x9f"),
	BAD("3.3.4 F8 88 80 80", "\xf8\x88\x80\x80", 0),
	BAD("E2 82 then ascii", "\xe2\x82" "a", 2),
	BAD("F0 90 80 then ascii", "\xf0\x90\x80" "a", 3),
	BAD("E2 then new lead", "\xe2\xe2\x82\xac", 1),
	/* Kuhn 3.4: concatenation of incomplete sequences. */
	BAD("3.4 concatenation", "\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80"
	    "\xfc\x80\x80\x80\x80\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf"
	    "\xfd\xbf\xbf\xbf\xbf", 0),
	BAD("incomplete then incomplete", "\xdf\xef\xbf", 1),
	/* Kuhn 3.5: impossible bytes. */
	BAD("3.5.1 FE", "\xfe", 0),
	BAD("3.5.2 FF", "\xff", 0),
	BAD("3.5.3 FE FE FF FF", "\xfe\xfe\xff\xff", 0),
	BAD("C1 alone", "\xc1", 0),
	BAD("F5 alone", "\xf5", 0),
	/* Kuhn 4: overlong sequences. */
	BAD("4.1.1 C0 AF", "\xc0\xaf", 0),
	BAD("4.1.2 E0 80 AF", "\xe0\x80\xaf", 1),
	BAD("4.1.3 F0 80 80 AF", "\xf0\x80\x80\xaf", 1),
	BAD("4.1.4 F8 80 80 80 AF", "\xf8\x80\x80\x80\xaf", 0),
	BAD("4.1.5 FC 80 80 80 80 AF", "\xfc\x80\x80\x80\x80\xaf", 0),
	BAD("4.2.1 C1 BF", "\xc1\xbf", 0),
	BAD("4.2.2 E0 9F BF", "\xe0\x9f\xbf", 1),
	BAD("4.2.3 F0 8F BF BF", "\xf0\x8f\xbf\xbf", 1),
	BAD("4.3.1 C0 80", "\xc0\x80", 0),
	BAD("4.3.2 E0 80 80", "\xe0\x80\x80", 1),
	BAD("4.3.3 F0 80 80 80", "\xf0\x80\x80\x80", 1),
	/* Kuhn 5.1: single UTF-16 surrogates. */
	BAD("5.1.1 U+D800", "\xed\xa0\x80", 1),
	BAD("5.1.2 U+DB7F", "\xed\xad\xbf", 1),
	BAD("5.1.3 U+DB80", "\xed\xae\x80", 1),
	BAD("5.1.4 U+DBFF", "\xed\xaf\xbf", 1),
	BAD("5.1.5 U+DC00", "\xed\xb0\x80", 1),
	BAD("5.1.6 U+DF80", "\xed\xbe\x80", 1),
	BAD("5.1.7 U+DFFF", "\xed\xbf\xbf", 1),
	/* Kuhn 5.2: paired UTF-16 surrogates. */
	BAD("5.2.1 U+D800 U+DC00", "\xed\xa0\x80\xed\xb0\x80", 1),
	BAD("5.2.8 U+DBFF U+DFFF", "\xed\xaf\xbf\xed\xbf\xbf", 1),
	/* Kuhn 5.3: noncharacters are valid UTF-8. */
	OK_("5.3.1 U+FFFE", "\xef\xbf\xbe"),
	OK_("5.3.2 U+FFFF", "\xef\xbf\xbf"),
	OK_("U+FDD0", "\xef\xb7\x90"),
	OK_("U+10FFFE", "\xf4\x8f\xbf\xbe"),
	/* Autobahn 6.3/6.4: fail fast, inside the message. */
	BAD("6.3.1 kosme + surrogate + edited", KOSME "\xed\xa0\x80" "edited",
	    12),
	BAD("6.4.1 kosme + F4 90 80 80 + edited", KOSME "\xf4\x90\x80\x80"
	    "edited", 12),
	BAD("6.4.2 kosme + F4 90", KOSME "\xf4\x90", 12),
	BAD("6.4.3 kosme + ED A0 80 80", KOSME "\xed\xa0\x80\x80", 12),
	BAD("6.4.4 kosme + lone 80 + edited", KOSME "\x80" "edited", 11),
	BAD("ascii + C0 + more", "Hello\xc0\x80world", 5),
};

#define NVECS	(sizeof vecs / sizeof vecs[0])

static uint64_t	 rng_state = 0x5eed1234abcdULL;

static uint64_t
rng(void)
{
	uint64_t	 z;

	z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

/*
 * Reference: length of the sequence a lead byte starts (0: not a lead),
 * and the range its first continuation byte must fall in (RFC 3629 4).
 */
static int
ref_lead(uint8_t c, uint8_t *lo, uint8_t *hi)
{
	*lo = 0x80;
	*hi = 0xbf;
	if (c < 0x80)
		return (1);
	if (c >= 0xc2 && c <= 0xdf)
		return (2);
	if (c == 0xe0)
		*lo = 0xa0;
	else if (c == 0xed)
		*hi = 0x9f;
	if (c >= 0xe0 && c <= 0xef)
		return (3);
	if (c == 0xf0)
		*lo = 0x90;
	else if (c == 0xf4)
		*hi = 0x8f;
	if (c >= 0xf0 && c <= 0xf4)
		return (4);
	return (0);
}

/*
 * Reference: bytes of s[i..len) that continue a valid sequence started at
 * i, or 0 when s[i] is not a lead byte.  *need is the full length.
 */
static size_t
ref_seq(const uint8_t *s, size_t len, size_t i, int *need)
{
	uint8_t	 lo, hi;
	size_t	 k;

	*need = ref_lead(s[i], &lo, &hi);
	if (*need == 0)
		return (0);
	for (k = 1; k < (size_t)*need && i + k < len; k++) {
		if (s[i + k] < lo || s[i + k] > hi)
			break;
		lo = 0x80;
		hi = 0xbf;
	}
	return (k);
}

static int
ref_check(const uint8_t *s, size_t len, size_t *off)
{
	size_t	 i, k;
	int	 need;

	for (i = 0; i < len; i += k) {
		k = ref_seq(s, len, i, &need);
		if (k == 0) {
			*off = i;
			return (UTF8_INVALID);
		}
		if (k < (size_t)need) {
			if (i + k == len)
				return (UTF8_PARTIAL);
			*off = i + k;
			return (UTF8_INVALID);
		}
	}
	return (UTF8_OK);
}

/* Reference repair of a whole input (final): maximal subparts → U+FFFD. */
static size_t
ref_repair(const uint8_t *s, size_t len, uint8_t *out)
{
	size_t	 i, k, n = 0;
	int	 need;

	for (i = 0; i < len; i += k) {
		k = ref_seq(s, len, i, &need);
		if (k > 0 && k == (size_t)need) {
			memcpy(out + n, s + i, k);
			n += k;
		} else {
			memcpy(out + n, "\xef\xbf\xbd", 3);
			n += 3;
			if (k == 0)
				k = 1;
		}
	}
	return (n);
}

static size_t
encode(uint32_t cp, uint8_t *o)
{
	if (cp < 0x80) {
		o[0] = cp;
		return (1);
	}
	if (cp < 0x800) {
		o[0] = 0xc0 | (cp >> 6);
		o[1] = 0x80 | (cp & 0x3f);
		return (2);
	}
	if (cp < 0x10000) {
		o[0] = 0xe0 | (cp >> 12);
		o[1] = 0x80 | ((cp >> 6) & 0x3f);
		o[2] = 0x80 | (cp & 0x3f);
		return (3);
	}
	o[0] = 0xf0 | (cp >> 18);
	o[1] = 0x80 | ((cp >> 12) & 0x3f);
	o[2] = 0x80 | ((cp >> 6) & 0x3f);
	o[3] = 0x80 | (cp & 0x3f);
	return (4);
}

static const char *
stname(int st)
{
	switch (st) {
	case UTF8_OK:
		return ("OK");
	case UTF8_PARTIAL:
		return ("PARTIAL");
	case UTF8_INVALID:
		return ("INVALID");
	}
	return ("?");
}

/*
 * Feeds s in the chunks ending at cuts[0..ncuts), then the rest.  Returns
 * the verdict of the last call made (feeding stops at UTF8_INVALID) and
 * the absolute failing offset.  Each intermediate verdict must match the
 * reference on that prefix; a mismatch is reported through *why.
 */
static int
feed_chunks(const uint8_t *s, size_t len, const size_t *cuts, size_t ncuts,
    size_t *absoff, const char **why)
{
	struct utf8	 u;
	size_t		 start = 0, end, i, off, roff;
	int		 st = UTF8_OK, rst;

	*why = NULL;
	utf8_init(&u);
	for (i = 0; i <= ncuts; i++) {
		end = i < ncuts ? cuts[i] : len;
		off = (size_t)-1;
		st = utf8_feed(&u, s + start, end - start, &off);
		rst = ref_check(s, end, &roff);
		if (st == UTF8_INVALID) {
			*absoff = start + off;
			if (rst != UTF8_INVALID || roff != *absoff)
				*why = "early or wrong failure";
			return (st);
		}
		if (st != rst) {
			*why = "prefix verdict differs from the reference";
			return (st);
		}
		start = end;
	}
	return (st);
}

static int
check_vec(const struct vec *v, const uint8_t *s, size_t len,
    const size_t *cuts, size_t ncuts)
{
	const char	*why;
	size_t		 off = 0;
	int		 st;

	st = feed_chunks(s, len, cuts, ncuts, &off, &why);
	if (st != v->st || (st == UTF8_INVALID && off != v->off)) {
		diag("%s: %zu cuts (first at %zu): got %s at %zu, expected "
		    "%s at %zu", v->name, ncuts, ncuts ? cuts[0] : 0,
		    stname(st), off, stname(v->st), v->off);
		return (0);
	}
	if (why != NULL) {
		diag("%s: %zu cuts (first at %zu): %s", v->name, ncuts,
		    ncuts ? cuts[0] : 0, why);
		return (0);
	}
	return (1);
}

static void
test_vectors(void)
{
	const struct vec	*v;
	const uint8_t		*s;
	size_t			 i, k, off, cuts[64], rlen;
	int			 good, rst;

	for (v = vecs; v < vecs + NVECS; v++) {
		s = (const uint8_t *)v->s;
		rst = ref_check(s, v->len, &off);
		if (rst != v->st || (rst == UTF8_INVALID && off != v->off))
			diag("test bug: reference disagrees on %s", v->name);
		ok(check_vec(v, s, v->len, NULL, 0), "%s: %s%s", v->name,
		    stname(v->st), v->st == UTF8_INVALID ? " at the first bad "
		    "byte" : "");
		good = 1;
		for (k = 0; k <= v->len; k++) {
			cuts[0] = k;
			good &= check_vec(v, s, v->len, cuts, 1);
		}
		ok(good, "%s: split at every offset", v->name);
		rlen = v->len < 64 ? v->len : 64;
		for (i = 0; i < rlen; i++)
			cuts[i] = i;
		ok(check_vec(v, s, v->len, cuts, rlen), "%s: byte by byte",
		    v->name);
	}
}

/* Second and third bytes worth trying after each 4-byte lead. */
static const uint8_t	 quirks[] = {
	0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2,
	0xe0, 0xf0, 0xff
};

#define NQ	(sizeof quirks / sizeof quirks[0])

static void
test_exhaustive(void)
{
	struct utf8	 u;
	uint8_t		 b[4];
	uint32_t	 cp, x, y;
	size_t		 n, off, roff;
	int		 st, rst, bad = 0, badsur = 0;

	for (cp = 0; cp <= 0x10ffff; cp++) {
		n = encode(cp, b);
		utf8_init(&u);
		off = 0;
		st = utf8_feed(&u, b, n, &off);
		if (cp >= 0xd800 && cp <= 0xdfff) {
			if ((st != UTF8_INVALID || off != 1) && badsur++ < 3)
				diag("surrogate U+%04X: %s at %zu", cp,
				    stname(st), off);
		} else if (st != UTF8_OK && bad++ < 3)
			diag("U+%04X: %s at %zu", cp, stname(st), off);
	}
	ok(bad == 0, "every scalar value U+0000..U+10FFFF is valid");
	ok(badsur == 0, "every surrogate fails at its second byte");

	/* Every 1-, 2- and 3-byte string; 4-byte ones from F0..F7. */
	bad = 0;
	for (x = 0; x < 0x1000000 + 8 * NQ * NQ * 256; x++) {
		if (x < 0x100) {
			b[0] = x;
			n = 1;
		} else if (x < 0x10000) {
			b[0] = x >> 8;
			b[1] = x;
			n = 2;
		} else if (x < 0x1000000) {
			b[0] = x >> 16;
			b[1] = x >> 8;
			b[2] = x;
			n = 3;
		} else {
			y = x - 0x1000000;
			b[3] = y % 256;
			b[2] = quirks[(y / 256) % NQ];
			b[1] = quirks[(y / 256 / NQ) % NQ];
			b[0] = 0xf0 + y / 256 / NQ / NQ;
			n = 4;
		}
		utf8_init(&u);
		off = 0;
		roff = 0;
		st = utf8_feed(&u, b, n, &off);
		rst = ref_check(b, n, &roff);
		if ((st != rst || (st == UTF8_INVALID && off != roff)) &&
		    bad++ < 5)
			diag("%zu bytes %02x %02x %02x %02x: got %s at %zu, "
			    "expected %s at %zu", n, b[0], n > 1 ? b[1] : 0,
			    n > 2 ? b[2] : 0, n > 3 ? b[3] : 0, stname(st),
			    off, stname(rst), roff);
	}
	ok(bad == 0, "every short byte string: verdict and offset as RFC 3629");

	utf8_init(&u);
	st = utf8_feed(&u, (const uint8_t *)"\xed\xa0\x80", 3, NULL);
	is_int(st, UTF8_INVALID, "INVALID with a NULL offset pointer");
	utf8_init(&u);
	st = utf8_feed(&u, (const uint8_t *)"", 0, NULL);
	is_int(st, UTF8_OK, "empty input after init: OK");
	utf8_init(&u);
	st = utf8_feed(&u, (const uint8_t *)"\xe2\x82", 2, NULL);
	st = utf8_feed(&u, (const uint8_t *)"", 0, NULL);
	is_int(st, UTF8_PARTIAL, "empty input mid-character: still PARTIAL");
	st = utf8_feed(&u, (const uint8_t *)"\xac", 1, NULL);
	is_int(st, UTF8_OK, "state survives an empty call");
}

/* Random strings of interesting bytes, whole and split, vs the reference. */
static const uint8_t	 alphabet[] = {
	0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1,
	0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3,
	0xf4, 0xf5, 0xf7, 0xf8, 0xfe, 0xff
};

static size_t
rand_string(uint8_t *s, size_t max)
{
	size_t	 len, n;

	len = 0;
	n = rng() % max;
	while (len + 4 < n) {
		if (rng() % 3 == 0)
			s[len++] = alphabet[rng() % sizeof alphabet];
		else
			len += encode((uint32_t)(rng() % 4 == 0 ?
			    rng() % 0x110000 : rng() % 0x900), s + len);
		/* encode() makes surrogates too: fine, they are invalid. */
	}
	return (len);
}

static void
test_random(void)
{
	struct vec	 v;
	uint8_t		 s[64];
	size_t		 len, cuts[3], off;
	int		 i, bad = 0;

	for (i = 0; i < 20000; i++) {
		len = rand_string(s, sizeof s);
		v.name = "random";
		v.s = (const char *)s;
		v.len = len;
		off = 0;
		v.st = ref_check(s, len, &off);
		v.off = off;
		cuts[0] = len ? rng() % len : 0;
		cuts[1] = cuts[0] + (len - cuts[0]) / 2;
		cuts[2] = cuts[1] + (len - cuts[1]) / 3;
		if (!check_vec(&v, s, len, NULL, 0) ||
		    !check_vec(&v, s, len, cuts, 3))
			if (++bad > 3)
				break;
	}
	ok(bad == 0, "20000 random strings, whole and in 4 chunks");
}

/*
 * Repairs s with the given cuts (final on the last chunk, or on an extra
 * empty call when lastempty).  Returns the output length, or (size_t)-1
 * when a call wrote more than UTF8_REPAIR_MAX of its input.
 */
static size_t
repair_chunks(const uint8_t *s, size_t len, const size_t *cuts,
    size_t ncuts, int lastempty, uint8_t *out)
{
	struct utf8	 u;
	size_t		 start = 0, end, i, n, total = 0;

	utf8_init(&u);
	for (i = 0; i <= ncuts; i++) {
		end = i < ncuts ? cuts[i] : len;
		n = utf8_repair(&u, s + start, end - start, out + total,
		    i == ncuts && !lastempty);
		if (n > UTF8_REPAIR_MAX(end - start))
			return ((size_t)-1);
		total += n;
		start = end;
	}
	if (lastempty) {
		n = utf8_repair(&u, s + len, 0, out + total, 1);
		if (n > UTF8_REPAIR_MAX(0))
			return ((size_t)-1);
		total += n;
	}
	return (total);
}

static int
valid(const uint8_t *s, size_t len)
{
	struct utf8	 u;

	utf8_init(&u);
	return (utf8_feed(&u, s, len, NULL) == UTF8_OK);
}

/* One repair check of s: returns 1 when every way of feeding it agrees. */
static int
check_repair(const char *name, const uint8_t *s, size_t len, int verbose)
{
	uint8_t		*want, *got;
	size_t		 wlen, glen, k, cuts[256];
	int		 good = 1;

	want = malloc(UTF8_REPAIR_MAX(len) + 3);
	got = malloc(UTF8_REPAIR_MAX(len) + 3);
	if (want == NULL || got == NULL)
		abort();
	wlen = ref_repair(s, len, want);
	for (k = 0; k <= len + 1 && good; k++) {
		if (k == len + 1) {
			/* Byte by byte, then an empty final call. */
			if (len > sizeof cuts / sizeof cuts[0])
				break;
			for (k = 0; k < len; k++)
				cuts[k] = k + 1;
			glen = repair_chunks(s, len, cuts, len, 1, got);
			k = len + 1;
		} else {
			cuts[0] = k;
			glen = repair_chunks(s, len, cuts, k == 0 ? 0 : 1, 0,
			    got);
		}
		if (glen != wlen || memcmp(got, want, wlen) != 0) {
			if (verbose)
				diag("%s: %s: output of %zu bytes, expected "
				    "%zu", name, k == len + 1 ? "byte by byte" :
				    "split", glen, wlen);
			good = 0;
		} else if (!valid(got, glen))
			good = 0;
	}
	free(want);
	free(got);
	return (good);
}

struct rvec {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	const char	*out;
	size_t		 outlen;
};

#define R(n, i, o)	{ n, i, sizeof(i) - 1, o, sizeof(o) - 1 }
#define FFFD		"\xef\xbf\xbd"

static const struct rvec rvecs[] = {
	R("FF", "\xff", FFFD),
	R("a E2 82 (final)", "a\xe2\x82", "a" FFFD),
	R("euro", "\xe2\x82\xac", "\xe2\x82\xac"),
	R("lone continuation", "a\x80z", "a" FFFD "z"),
	R("C0 80: two subparts", "\xc0\x80", FFFD FFFD),
	R("E0 80 80: three subparts", "\xe0\x80\x80", FFFD FFFD FFFD),
	R("surrogate ED A0 80", "\xed\xa0\x80", FFFD FFFD FFFD),
	R("F4 90 80 80", "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD),
	R("truncated F0 90 80 then A", "\xf0\x90\x80" "A", FFFD "A"),
	R("E2 then euro", "\xe2\xe2\x82\xac", FFFD "\xe2\x82\xac"),
	R("Unicode table 3-8", "\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63"
	    "\x80\xbf\x64", "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d"),
	R("Unicode table 3-9", "\xf4\x91\x92\x93\xff\x41\x80\xbf\x42",
	    FFFD FFFD FFFD FFFD FFFD "A" FFFD FFFD "B"),
	R("Unicode table 3-10", "\xed\xa0\x80\xed\xbf\xbf\xed\xaf\x41",
	    FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD "A"),
	R("Unicode table 3-11", "\xc0\xaf\xe0\x80\xbf\xf0\x81\x82\x41",
	    FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD "A"),
	R("Unicode table 3-12", "\xe1\x80\xe2\xf0\x91\x92\xf1\xbf\x41",
	    FFFD FFFD FFFD FFFD "A"),
	R("NUL kept", "a\x00" "b", "a\x00" "b"),
	R("U+10FFFF kept", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"),
	R("all FF", "\xff\xff\xff", FFFD FFFD FFFD),
};

#define NRVECS	(sizeof rvecs / sizeof rvecs[0])

static void
test_repair(void)
{
	const struct rvec	*r;
	const struct vec	*v;
	struct utf8		 u;
	uint8_t			 out[UTF8_REPAIR_MAX(64)], s[64];
	size_t			 n, n2, len, cuts[1];
	int			 good, i, bad;

	for (r = rvecs; r < rvecs + NRVECS; r++) {
		n = repair_chunks((const uint8_t *)r->in, r->inlen, NULL, 0, 0,
		    out);
		ok(n == r->outlen && memcmp(out, r->out, n) == 0,
		    "repair %s", r->name);
		ok(check_repair(r->name, (const uint8_t *)r->in, r->inlen, 1),
		    "repair %s: same output split at every offset and byte "
		    "by byte", r->name);
	}

	/* The held partial sequence is emitted by the next call. */
	utf8_init(&u);
	n = utf8_repair(&u, (const uint8_t *)"\xe2", 1, out, 0);
	n2 = utf8_repair(&u, (const uint8_t *)"\x82\xac", 2, out + n, 0);
	ok(n == 0 && n2 == 3 && memcmp(out, "\xe2\x82\xac", 3) == 0,
	    "euro split 1/2, not final: nothing, then the euro sign");
	utf8_init(&u);
	n = utf8_repair(&u, (const uint8_t *)"a\xe2\x82", 3, out, 0);
	ok(n == 1 && out[0] == 'a', "incomplete tail held when not final");
	n2 = utf8_repair(&u, (const uint8_t *)"", 0, out + n, 1);
	ok(n2 == 3 && memcmp(out + n, FFFD, 3) == 0,
	    "held tail becomes one U+FFFD on an empty final call");
	utf8_init(&u);
	n = utf8_repair(&u, (const uint8_t *)"\xf0\x90\x80", 3, out, 0);
	n2 = utf8_repair(&u, (const uint8_t *)"x", 1, out + n, 0);
	ok(n + n2 == 4 && memcmp(out, FFFD "x", 4) == 0,
	    "held F0 90 80 then x: U+FFFD x");
	n = utf8_repair(&u, (const uint8_t *)"\xe2\x82\xac", 3, out, 1);
	ok(n == 3 && memcmp(out, "\xe2\x82\xac", 3) == 0,
	    "state is clean after a repaired sequence");

	good = 1;
	for (v = vecs; v < vecs + NVECS; v++) {
		if (v->st != UTF8_OK)
			continue;
		n = repair_chunks((const uint8_t *)v->s, v->len, NULL, 0, 0,
		    out);
		if (n != v->len || memcmp(out, v->s, n) != 0) {
			diag("repair changed valid %s", v->name);
			good = 0;
		}
	}
	ok(good, "repair of every valid vector is the identity");

	good = 1;
	for (v = vecs; v < vecs + NVECS; v++)
		good &= check_repair(v->name, (const uint8_t *)v->s, v->len,
		    good);
	ok(good, "repair of every validator vector: maximal subparts, same "
	    "output at every split, output valid");

	bad = 0;
	for (i = 0; i < 5000; i++) {
		len = rand_string(s, sizeof s);
		if (!check_repair("random", s, len, bad == 0))
			bad++;
	}
	ok(bad == 0, "5000 random strings: repair matches the reference at "
	    "every split, output valid (%d bad)", bad);

	/* A long valid run split in many places is copied unchanged. */
	len = 0;
	while (len + 4 <= sizeof s)
		len += encode(0x1f600 + (uint32_t)len, s + len);
	cuts[0] = 5;
	n = repair_chunks(s, len, cuts, 1, 1, out);
	ok(n == len && memcmp(out, s, len) == 0,
	    "valid 4-byte characters split mid-character pass unchanged");
}

int
main(void)
{
	test_vectors();
	test_exhaustive();
	test_random();
	test_repair();
	return (done_testing());
}

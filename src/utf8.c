/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * UTF-8 (RFC 3629) checked one byte at a time, so that a text message can
 * be refused at the first byte that cannot belong to a valid sequence
 * (RFC 6455 8.1), whatever the frame boundaries.  The state is the number
 * of continuation bytes still due and the range the next one must fall in,
 * which is where overlongs, surrogates and values above U+10FFFF are
 * caught.
 */

#include <string.h>

#include "utf8.h"

void
utf8_init(struct utf8 *u)
{
	memset(u, 0, sizeof *u);
}

/* Starts a sequence at lead byte c; returns -1 if c cannot start one. */
static int
utf8_lead(struct utf8 *u, uint8_t c)
{
	u->lo = 0x80;
	u->hi = 0xbf;
	if (c < 0x80)
		u->need = 0;
	else if (c >= 0xc2 && c <= 0xdf)
		u->need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		u->need = 2;
		if (c == 0xe0)
			u->lo = 0xa0;		/* overlong */
		else if (c == 0xed)
			u->hi = 0x9f;		/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		u->need = 3;
		if (c == 0xf0)
			u->lo = 0x90;		/* overlong */
		else if (c == 0xf4)
			u->hi = 0x8f;		/* above U+10FFFF */
	} else
		return (-1);
	return (0);
}

/* Advances by one byte; returns -1 if c cannot come next. */
static int
utf8_step(struct utf8 *u, uint8_t c)
{
	if (u->need == 0)
		return (utf8_lead(u, c));
	if (c < u->lo || c > u->hi)
		return (-1);
	u->need--;
	u->lo = 0x80;
	u->hi = 0xbf;
	return (0);
}

/*
 * Checks len more bytes of a message.  On UTF8_INVALID, *off (if not
 * NULL) is the index of the first byte that cannot continue.
 */
enum utf8_status
utf8_feed(struct utf8 *u, const uint8_t *s, size_t len, size_t *off)
{
	size_t	i = 0;

	while (i < len) {
		/* Fast path: plain ASCII, eight bytes at a time. */
		if (u->need == 0) {
			while (i + 8 <= len) {
				uint64_t	w;

				memcpy(&w, s + i, sizeof w);
				if (w & 0x8080808080808080ULL)
					break;
				i += 8;
			}
			if (i == len)
				break;
		}
		if (utf8_step(u, s[i]) == -1) {
			if (off != NULL)
				*off = i;
			return (UTF8_INVALID);
		}
		i++;
	}
	return (u->need == 0 ? UTF8_OK : UTF8_PARTIAL);
}

static uint8_t *
utf8_put_fffd(uint8_t *out)
{
	*out++ = 0xef;
	*out++ = 0xbf;
	*out++ = 0xbd;
	return (out);
}

/*
 * Copies len bytes to out, replacing each maximal invalid subpart with
 * U+FFFD as the WHATWG decoder does.  Unless final, an incomplete
 * sequence at the end is held in u for the next call.  Returns the bytes
 * written, at most UTF8_REPAIR_MAX(len).
 */
size_t
utf8_repair(struct utf8 *u, const uint8_t *in, size_t len, uint8_t *out,
    int final)
{
	uint8_t	*p = out;
	size_t	 i = 0;

	while (i < len) {
		uint8_t	c = in[i];

		if (u->need == 0 && c < 0x80) {
			*p++ = c;
			i++;
			continue;
		}
		if (utf8_step(u, c) == -1) {
			/*
			 * The held bytes were a valid prefix: they form one
			 * maximal subpart.  A byte that failed as a lead is a
			 * subpart of its own; one that failed as a
			 * continuation is read again as a lead.
			 */
			if (u->nheld > 0) {
				p = utf8_put_fffd(p);
				u->nheld = 0;
				u->need = 0;
				continue;
			}
			p = utf8_put_fffd(p);
			u->need = 0;
			i++;
			continue;
		}
		if (u->need == 0) {
			memcpy(p, u->held, u->nheld);
			p += u->nheld;
			u->nheld = 0;
			*p++ = c;
		} else
			u->held[u->nheld++] = c;
		i++;
	}
	if (final && u->nheld > 0) {
		p = utf8_put_fffd(p);
		u->nheld = 0;
		u->need = 0;
	}
	return (p - out);
}

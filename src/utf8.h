/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Incremental UTF-8 validation (RFC 3629) for inbound text messages, and
 * repair of program output into valid UTF-8.  Pure: libc only.
 */
#ifndef UTF8_H
#define UTF8_H

#include <stddef.h>
#include <stdint.h>

/* State carried across pieces and frames of one message. */
struct utf8 {
	uint8_t		need;		/* continuation bytes still expected */
	uint8_t		lo, hi;		/* range allowed for the next one */
	uint8_t		nheld;		/* utf8_repair: bytes held back */
	uint8_t		held[3];
};

enum utf8_status {
	UTF8_OK,			/* valid, ends on a character boundary */
	UTF8_PARTIAL,			/* valid so far, ends inside a character */
	UTF8_INVALID			/* a byte that cannot continue */
};

void		 utf8_init(struct utf8 *);
enum utf8_status utf8_feed(struct utf8 *, const uint8_t *, size_t, size_t *);
size_t		 utf8_repair(struct utf8 *, const uint8_t *, size_t,
		    uint8_t *, int);

/* utf8_repair writes at most this many bytes for len input bytes. */
#define UTF8_REPAIR_MAX(len)	(3 * (len) + 3)

#endif

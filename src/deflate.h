/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * permessage-deflate (RFC 7692): the client's offer read and answered,
 * messages compressed and inflated with zlib.  Both directions go
 * without context takeover, so that an idle connection holds no zlib
 * state at all.  Pure: libc and zlib.
 */
#ifndef DEFLATE_H
#define DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#define PMD_RESPONSE_MAX	160	/* the answer's header value */

/* What was agreed for one connection. */
struct pmd {
	int		 on;
	int		 server_bits;	/* our window: 9 to 15 */
};

/* One message being inflated. */
struct pmd_inflate {
	z_stream	 z;
	uint64_t	 total;		/* bytes out so far */
};

int		 pmd_negotiate(const char *, struct pmd *, char *, size_t);
const uint8_t	*pmd_compress(const struct pmd *, const uint8_t *, size_t,
		    size_t *);
struct pmd_inflate *pmd_inflate_new(void);
int		 pmd_inflate(struct pmd_inflate *, const uint8_t *, size_t,
		    size_t *, uint8_t *, size_t, size_t *);
void		 pmd_inflate_free(struct pmd_inflate *);

#endif

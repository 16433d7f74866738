/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * What a listen client may do: patterns of resources it may subscribe to
 * and publish to (pubsub_match's grammar: "*", "PREFIX*" or an exact
 * name).  Pure: libc and pubsub.c.
 */
#ifndef GRANTS_H
#define GRANTS_H

#include <stddef.h>

#define GRANT_SUBSCRIBE		0
#define GRANT_PUBLISH		1
#define GRANTS_MAX		1024	/* patterns of each kind */

struct grants {
	char	**v[2];
	size_t	  n[2];
};

int	 grants_add(struct grants *, int, const char *, size_t);
int	 grants_line(struct grants *, const char *, size_t, const char **);
int	 grants_merge(struct grants *, const struct grants *);
int	 grants_allow(const struct grants *, int, const char *, size_t);
void	 grants_free(struct grants *);

#endif

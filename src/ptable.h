/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * A table of prefixes (listen mode's patterns, without their "*") that
 * finds every prefix of a name the table holds in one walk along the
 * name: the hash of each of its prefixes is carried from one byte to
 * the next, and only lengths some entry has are looked up.  What a
 * lookup costs grows with the name, not with the table.  Entries live
 * in their owners.  Pure: libc and the allocators only.
 */
#ifndef PTABLE_H
#define PTABLE_H

#include <stddef.h>

#define PTABLE_KEY_MAX	256

struct pnode {
	struct pnode	*next;		/* in its bucket */
	unsigned long	 hash;
	const char	*key;		/* len bytes, the owner's */
	size_t		 len;
};

struct ptable {
	struct pnode	**b;
	size_t		  mask;		/* buckets - 1 */
	size_t		  n;
	size_t		  lens[PTABLE_KEY_MAX + 1];	/* entries per length */
};

void		 ptable_add(struct ptable *, struct pnode *, const char *,
		    size_t);
void		 ptable_del(struct ptable *, struct pnode *);
struct pnode	*ptable_find(const struct ptable *, const char *, size_t);
void		 ptable_prefixes(const struct ptable *, const char *, size_t,
		    void (*)(struct pnode *, void *), void *);
void		 ptable_free(struct ptable *);

#endif

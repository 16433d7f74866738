/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The prefix table: chained hashing (FNV-1a, whose hash of a key is
 * the hash of the key one byte shorter, updated), doubled as it fills.
 */

#include <stdlib.h>
#include <string.h>

#include "ptable.h"
#include "xmalloc.h"

#define PTABLE_FNV_OFFSET	2166136261UL
#define PTABLE_FNV_PRIME	16777619UL
#define PTABLE_MIN		64

/* The hash of key's first len bytes, h being that of none. */
static unsigned long
ptable_hash(unsigned long h, const char *key, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		h = ((h ^ (unsigned char)key[i]) * PTABLE_FNV_PRIME) &
		    0xffffffffUL;
	return (h);
}

/* Doubles the buckets, or makes the first. */
static void
ptable_grow(struct ptable *t)
{
	struct pnode	**b, *e, *next;
	size_t		  n = t->b == NULL ? PTABLE_MIN : (t->mask + 1) * 2, i;

	b = xcalloc(n, sizeof *b);
	for (i = 0; t->b != NULL && i <= t->mask; i++)
		for (e = t->b[i]; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	free(t->b);
	t->b = b;
	t->mask = n - 1;
}

/* Adds e, for the len bytes at key (at most PTABLE_KEY_MAX). */
void
ptable_add(struct ptable *t, struct pnode *e, const char *key, size_t len)
{
	if (t->b == NULL || t->n >= t->mask + 1)
		ptable_grow(t);
	e->key = key;
	e->len = len;
	e->hash = ptable_hash(PTABLE_FNV_OFFSET, key, len);
	e->next = t->b[e->hash & t->mask];
	t->b[e->hash & t->mask] = e;
	t->n++;
	t->lens[len]++;
}

void
ptable_del(struct ptable *t, struct pnode *e)
{
	struct pnode	**pp;

	for (pp = &t->b[e->hash & t->mask]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			t->n--;
			t->lens[e->len]--;
			return;
		}
}

static struct pnode *
ptable_lookup(const struct ptable *t, unsigned long h, const char *key,
    size_t len)
{
	struct pnode	*e;

	for (e = t->b[h & t->mask]; e != NULL; e = e->next)
		if (e->hash == h && e->len == len &&
		    memcmp(e->key, key, len) == 0)
			return (e);
	return (NULL);
}

/* The entry for the len bytes at key, or NULL. */
struct pnode *
ptable_find(const struct ptable *t, const char *key, size_t len)
{
	if (t->b == NULL || len > PTABLE_KEY_MAX || t->lens[len] == 0)
		return (NULL);
	return (ptable_lookup(t, ptable_hash(PTABLE_FNV_OFFSET, key, len),
	    key, len));
}

/*
 * Calls fn(entry, arg) for each entry whose key is a prefix of the len
 * bytes at name (the whole name and the empty prefix included), the
 * shortest first.  fn must not add or delete entries.
 */
void
ptable_prefixes(const struct ptable *t, const char *name, size_t len,
    void (*fn)(struct pnode *, void *), void *arg)
{
	struct pnode	*e;
	unsigned long	 h = PTABLE_FNV_OFFSET;
	size_t		 k;

	if (t->b == NULL || t->n == 0)
		return;
	for (k = 0; k <= len && k <= PTABLE_KEY_MAX; k++) {
		if (t->lens[k] > 0 && (e = ptable_lookup(t, h, name, k)) !=
		    NULL)
			fn(e, arg);
		if (k < len)
			h = ((h ^ (unsigned char)name[k]) * PTABLE_FNV_PRIME) &
			    0xffffffffUL;
	}
}

/* Frees the buckets; the entries are their owners'. */
void
ptable_free(struct ptable *t)
{
	free(t->b);
	memset(t, 0, sizeof *t);
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Unit tests for ptable.c, the prefix table: against a plain list, the
 * prefixes of random names are found exactly, the shortest first, as
 * entries come and go and the table grows; the empty prefix and a
 * 256-byte one are found; a name shorter than a key is not matched.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../src/ptable.h"

#define N	3000

struct ent {
	struct pnode	 pn;
	char		 key[PTABLE_KEY_MAX + 1];
	size_t		 len;
	int		 in;
};

static struct ent	 ents[N];
static struct pnode	*seen[N + 1];
static size_t		 nseen;

static void
collect(struct pnode *pn, void *arg)
{
	(void)arg;
	seen[nseen++] = pn;
}

/* The entries a list walk finds for name, shortest first, vs the table's. */
static int
agrees(struct ptable *t, const char *name, size_t len)
{
	size_t	i, k, j = 0;

	nseen = 0;
	ptable_prefixes(t, name, len, collect, NULL);
	for (k = 0; k <= len; k++)
		for (i = 0; i < N; i++) {
			if (!ents[i].in || ents[i].len != k ||
			    memcmp(ents[i].key, name, k) != 0)
				continue;
			if (j >= nseen || seen[j] != &ents[i].pn)
				return (0);
			j++;
		}
	return (j == nseen);
}

int
main(void)
{
	struct ptable	 t;
	char		 name[PTABLE_KEY_MAX + 1];
	size_t		 i, len, bad = 0, k;
	unsigned int	 seed = 7;

	plan(9);
	memset(&t, 0, sizeof t);
	nseen = 0;
	ptable_prefixes(&t, "/x", 2, collect, NULL);
	is_int(nseen, 0, "an empty table matches nothing");

	/* Keys over a small alphabet, so that names share prefixes. */
	for (i = 0; i < N; i++) {
		len = rand_r(&seed) % 12;
		for (k = 0; k < len; k++)
			ents[i].key[k] = "/ab"[rand_r(&seed) % 3];
		ents[i].len = len;
		if (ptable_find(&t, ents[i].key, len) == NULL) {
			ptable_add(&t, &ents[i].pn, ents[i].key, len);
			ents[i].in = 1;
		}
	}
	ok(t.n > 0 && t.n < N, "distinct keys held: %zu", t.n);
	for (i = 0; i < N; i++)
		if (ents[i].in && ptable_find(&t, ents[i].key, ents[i].len) !=
		    &ents[i].pn)
			bad++;
	is_int(bad, 0, "each key finds its own entry");
	for (i = 0, bad = 0; i < 2000; i++) {
		len = rand_r(&seed) % 16;
		for (k = 0; k < len; k++)
			name[k] = "/ab"[rand_r(&seed) % 3];
		if (!agrees(&t, name, len))
			bad++;
	}
	is_int(bad, 0, "2000 names: the prefixes found are the list's, "
	    "shortest first");
	for (i = 0; i < N; i += 2)
		if (ents[i].in) {
			ptable_del(&t, &ents[i].pn);
			ents[i].in = 0;
		}
	for (i = 0, bad = 0; i < 2000; i++) {
		len = rand_r(&seed) % 16;
		for (k = 0; k < len; k++)
			name[k] = "/ab"[rand_r(&seed) % 3];
		if (!agrees(&t, name, len))
			bad++;
	}
	is_int(bad, 0, "after deleting half: still the list's");
	for (i = 0, k = 0; i <= PTABLE_KEY_MAX; i++)
		k += t.lens[i];
	is_int(k, t.n, "per-length counts add up");

	ptable_free(&t);
	memset(ents, 0, sizeof ents);
	memset(name, 'z', sizeof name);
	ptable_add(&t, &ents[0].pn, name, PTABLE_KEY_MAX);
	ptable_add(&t, &ents[1].pn, "", 0);
	nseen = 0;
	ptable_prefixes(&t, name, PTABLE_KEY_MAX, collect, NULL);
	ok(nseen == 2 && seen[0] == &ents[1].pn && seen[1] == &ents[0].pn,
	    "the empty prefix and a 256-byte one");
	nseen = 0;
	ptable_prefixes(&t, name, PTABLE_KEY_MAX - 1, collect, NULL);
	ok(nseen == 1 && seen[0] == &ents[1].pn,
	    "a name shorter than a key does not match it");
	ptable_del(&t, &ents[0].pn);
	ptable_del(&t, &ents[1].pn);
	is_int(t.n, 0, "all deleted");
	ptable_free(&t);
	return (done_testing());
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * A listen client's grants.  They come from the command line (the open
 * defaults), an authorizer program's output lines ("subscribe PATTERN",
 * "publish PATTERN") or a token's claims, and are looked up on every
 * subscribe and publish.  A client holds few patterns, so a lookup walks
 * them; the count is capped.
 */

#include <stdlib.h>
#include <string.h>

#include "grants.h"
#include "pubsub.h"

/* Adds a pattern of a kind; -1 if it is malformed or one too many. */
int
grants_add(struct grants *g, int kind, const char *p, size_t len)
{
	char	**v, *copy;

	if (!pubsub_resource_valid(p, len) || g->n[kind] >= GRANTS_MAX)
		return (-1);
	if ((copy = malloc(len + 1)) == NULL)
		return (-1);
	memcpy(copy, p, len);
	copy[len] = '\0';
	if ((v = reallocarray(g->v[kind], g->n[kind] + 1, sizeof *v)) ==
	    NULL) {
		free(copy);
		return (-1);
	}
	v[g->n[kind]++] = copy;
	g->v[kind] = v;
	return (0);
}

/*
 * Adds the grant a line states: "subscribe PATTERN" or "publish PATTERN".
 * Returns 0, or -1 with a static reason.
 */
int
grants_line(struct grants *g, const char *s, size_t len,
    const char **errstr)
{
	static const struct {
		const char	*verb;
		int		 kind;
	} verbs[] = {
		{ "subscribe ", GRANT_SUBSCRIBE },
		{ "publish ", GRANT_PUBLISH }
	};
	size_t	i, n;

	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		n = strlen(verbs[i].verb);
		if (len <= n || memcmp(s, verbs[i].verb, n) != 0)
			continue;
		if (grants_add(g, verbs[i].kind, s + n, len - n) == -1) {
			*errstr = g->n[verbs[i].kind] >= GRANTS_MAX ?
			    "too many grants" : "bad pattern";
			return (-1);
		}
		return (0);
	}
	*errstr = "not a grant (subscribe PATTERN, publish PATTERN)";
	return (-1);
}

/*
 * Returns 1 if a pattern of the kind covers r (len bytes): a resource it
 * matches, or, r being a pattern itself (ending in "*"), every resource
 * r matches.
 */
int
grants_allow(const struct grants *g, int kind, const char *r, size_t len)
{
	const char	*v;
	size_t		 i, vlen;
	int		 pattern = pubsub_pattern(r, len);

	for (i = 0; i < g->n[kind]; i++) {
		v = g->v[kind][i];
		vlen = strlen(v);
		if (!pattern ? pubsub_match(v, r, len) : vlen > 0 &&
		    v[vlen - 1] == '*' && vlen <= len &&
		    memcmp(v, r, vlen - 1) == 0)
			return (1);
	}
	return (0);
}

/* Adds every pattern of src to dst; -1 if one does not fit. */
int
grants_merge(struct grants *dst, const struct grants *src)
{
	size_t	i;
	int	k;

	for (k = 0; k < 2; k++)
		for (i = 0; i < src->n[k]; i++)
			if (grants_add(dst, k, src->v[k][i],
			    strlen(src->v[k][i])) == -1)
				return (-1);
	return (0);
}

void
grants_free(struct grants *g)
{
	size_t	i;
	int	k;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < g->n[k]; i++)
			free(g->v[k][i]);
		free(g->v[k]);
		g->v[k] = NULL;
		g->n[k] = 0;
	}
}

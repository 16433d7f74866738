/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Allocators that cannot fail (xmalloc.c): out of memory is fatal, which
 * is safe only because every input is bounded.  Pure: libc only.
 */
#ifndef XMALLOC_H
#define XMALLOC_H

#include <stddef.h>

struct strlist {
	char		**v;
	size_t		  n;
};

void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xreallocarray(void *, size_t, size_t);
char		*xstrdup(const char *);
char		*xstrndup(const char *, size_t);
int		 xasprintf(char **, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 strlist_add(struct strlist *, char *);
void		 strlist_free(struct strlist *);

#endif

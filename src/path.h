/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * URL paths mapped to files under a root directory, with no way out:
 * percent-decoding, dot segments, NUL bytes and symbolic links that lead
 * outside are all refused.  Pure: libc only.
 */
#ifndef PATH_H
#define PATH_H

#include <stddef.h>

/* Results are HTTP statuses: 0 (found), 400, 403 or 404. */
int	 path_decode(const char *, size_t, char *, size_t);
int	 path_resolve(const char *, const char *, char *, size_t);
int	 path_script(const char *, const char *, char *, size_t, size_t *);

#endif

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Maps a URL path to a file under a root.  The path is percent-decoded
 * first, so "%2e%2e" is a dot-dot like any other; a decoded NUL is a bad
 * request and any "." or ".." segment is refused outright rather than
 * resolved.  The joined path is then resolved with realpath(3), and the
 * result must still lie under the root (itself resolved), which is what
 * stops a symbolic link from leading outside.
 */

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"

static int
path_hex(int ch)
{
	if (ch >= '0' && ch <= '9')
		return (ch - '0');
	if (ch >= 'a' && ch <= 'f')
		return (ch - 'a' + 10);
	if (ch >= 'A' && ch <= 'F')
		return (ch - 'A' + 10);
	return (-1);
}

/*
 * Percent-decodes len bytes of a URL path into out.  Returns 0, 400 for
 * a NUL byte or a bad escape, or 414 if it does not fit.
 */
int
path_decode(const char *s, size_t len, char *out, size_t outsz)
{
	size_t	i, n = 0;
	int	hi, lo, ch;

	for (i = 0; i < len; i++) {
		ch = (unsigned char)s[i];
		if (ch == '%') {
			if (i + 2 >= len)
				return (400);
			if ((hi = path_hex(s[i + 1])) == -1 ||
			    (lo = path_hex(s[i + 2])) == -1)
				return (400);
			ch = hi << 4 | lo;
			i += 2;
		}
		if (ch == '\0')
			return (400);
		if (n + 1 >= outsz)
			return (414);
		out[n++] = ch;
	}
	out[n] = '\0';
	return (0);
}

/* Returns 1 if a decoded path has a "." or ".." segment. */
static int
path_has_dots(const char *p)
{
	const char	*seg = p, *e;
	size_t		 n;

	while (*seg != '\0') {
		e = strchr(seg, '/');
		n = e == NULL ? strlen(seg) : (size_t)(e - seg);
		if ((n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return (1);
		if (e == NULL)
			break;
		seg = e + 1;
	}
	return (0);
}

/* Returns 1 if the resolved path is the root or below it. */
static int
path_inside(const char *root, const char *real)
{
	size_t	n = strlen(root);

	if (strncmp(real, root, n) != 0)
		return (0);
	/* The root "/" contains everything. */
	return (real[n] == '\0' || real[n] == '/' || (n == 1 &&
	    root[0] == '/'));
}

/*
 * Resolves a decoded URL path under root (an absolute, resolved path)
 * into out.  Returns 0, 403 (dot segment, outside the root, unreadable)
 * or 404 (missing).
 */
int
path_resolve(const char *root, const char *path, char *out, size_t outsz)
{
	char	joined[PATH_MAX], real[PATH_MAX];
	size_t	n;

	if (path[0] != '/' || path_has_dots(path))
		return (403);
	n = strlen(root);
	if (n + strlen(path) + 1 > sizeof joined)
		return (404);
	memcpy(joined, root, n);
	strcpy(joined + n, path);
	if (realpath(joined, real) == NULL)
		return (errno == EACCES ? 403 : 404);
	if (!path_inside(root, real))
		return (403);
	if (strlen(real) >= outsz)
		return (404);
	strcpy(out, real);
	return (0);
}

/*
 * Finds the script a decoded URL path names under root: the shortest
 * leading run of segments that resolves to a regular file.  Returns 0
 * with its resolved path in out and, in *used, how many bytes of path
 * named it (the rest is PATH_INFO); else 403 or 404.
 */
int
path_script(const char *root, const char *path, char *out, size_t outsz,
    size_t *used)
{
	struct stat	 sb;
	char		 prefix[PATH_MAX];
	const char	*e;
	size_t		 n;
	int		 r;

	if (path[0] != '/' || path_has_dots(path))
		return (403);
	for (e = path + 1; ; e++) {
		if (*e != '/' && *e != '\0')
			continue;
		n = e - path;
		if (n >= sizeof prefix)
			return (404);
		memcpy(prefix, path, n);
		prefix[n] = '\0';
		if ((r = path_resolve(root, prefix, out, outsz)) != 0)
			return (r);
		if (stat(out, &sb) == -1)
			return (404);
		if (S_ISREG(sb.st_mode)) {
			*used = n;
			return (0);
		}
		if (!S_ISDIR(sb.st_mode) || *e == '\0')
			return (404);
	}
}

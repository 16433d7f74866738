/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Unit tests for path.c: decoding, and URL paths resolved under a root
 * built in a temporary directory, with symbolic links in and out.
 */

#include <sys/stat.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "../../src/path.h"

static char	top[256], root[512];

static void
mkfile(const char *rel, int mode)
{
	char	p[PATH_MAX];
	int	fd;

	snprintf(p, sizeof p, "%s/%s", top, rel);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode)) != -1)
		close(fd);
}

static void
setup(void)
{
	char	p[PATH_MAX], q[PATH_MAX], tmpl[] = "/tmp/path_test.XXXXXX";
	char	real[PATH_MAX];

	if (mkdtemp(tmpl) == NULL || realpath(tmpl, real) == NULL ||
	    strlen(real) >= sizeof top)
		exit(99);
	strcpy(top, real);
	snprintf(root, sizeof root, "%s/root", top);
	mkdir(root, 0755);
	snprintf(p, sizeof p, "%s/root/sub", top);
	mkdir(p, 0755);
	mkfile("secret", 0644);
	mkfile("root/index.html", 0644);
	mkfile("root/sub/script.sh", 0755);
	snprintf(p, sizeof p, "%s/root/out", top);
	snprintf(q, sizeof q, "%s/secret", top);
	symlink(q, p);
	snprintf(p, sizeof p, "%s/root/in", top);
	symlink("index.html", p);
	snprintf(p, sizeof p, "%s/root/updir", top);
	symlink("..", p);
}

static void
cleanup(void)
{
	char	cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
	(void)system(cmd);
}

static int
resolve(const char *urlpath, char *out)
{
	char	dec[PATH_MAX];
	int	r;

	if ((r = path_decode(urlpath, strlen(urlpath), dec, sizeof dec)) != 0)
		return (r);
	return (path_resolve(root, dec, out, PATH_MAX));
}

int
main(void)
{
	char	out[PATH_MAX], want[PATH_MAX], dec[64];
	size_t	used;

	setup();
	plan(22);
	is_int(path_decode("/a%20b", 6, dec, sizeof dec), 0, "decode %%20");
	is_str(dec, "/a b", "decoded to a space");
	is_int(path_decode("/%2e%2E", 7, dec, sizeof dec), 0,
	    "decode mixed-case dots");
	is_str(dec, "/..", "decoded to dot-dot");
	is_int(path_decode("/a%00b", 6, dec, sizeof dec), 400, "NUL: 400");
	is_int(path_decode("/a%2", 4, dec, sizeof dec), 400,
	    "truncated escape: 400");
	is_int(path_decode("/a%zz", 5, dec, sizeof dec), 400,
	    "bad hex: 400");
	is_int(path_decode("/abcdef", 7, dec, 4), 414, "too long: 414");

	is_int(resolve("/index.html", out), 0, "a file inside resolves");
	snprintf(want, sizeof want, "%s/index.html", root);
	is_str(out, want, "to its real path");
	is_int(resolve("/", out), 0, "the root itself resolves");
	is_int(resolve("/../secret", out), 403, "dot-dot: 403");
	is_int(resolve("/%2e%2e/secret", out), 403, "encoded dot-dot: 403");
	is_int(resolve("/sub/./script.sh", out), 403, "a dot segment: 403");
	is_int(resolve("/out", out), 403, "symlink to outside: 403");
	is_int(resolve("/updir/secret", out), 403,
	    "symlink to the parent: 403");
	is_int(resolve("/in", out), 0, "symlink inside: resolves");
	is_int(resolve("/missing", out), 404, "missing: 404");

	is_int(path_script(root, "/sub/script.sh/extra/info", out,
	    sizeof out, &used), 0, "script found under extra path");
	is_int(used, strlen("/sub/script.sh"), "script name length");
	is_int(path_script(root, "/sub", out, sizeof out, &used), 404,
	    "a directory is no script");
	is_int(path_script(root, "/out", out, sizeof out, &used), 403,
	    "a script out of the root: 403");
	cleanup();
	return (done_testing());
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The program the integration tests run behind wspipe.  argv[1] picks the
 * behaviour (see usage()): echo lines or bytes, exit or crash, write on a
 * timer or in bulk, never read, ignore SIGTERM, write to stderr, or report
 * its environment, fds, signal mask and process group.
 */
#define _POSIX_C_SOURCE 200809L

#include <sys/resource.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
usage(void)
{
	fputs("usage: testchild echo | cat | exit N | crash | tick MS N |\n"
	    "       spew BYTES | lines N LEN | noread | ignore-term |\n"
	    "       stderr LEN | env | fds | pgroup\n", stderr);
	exit(2);
}

static long
num(const char *s)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < 0)
		usage();
	return n;
}

/* Write all of buf to fd, or exit 1. */
static void
writeall(int fd, const void *buf, size_t len)
{
	const char	*p;
	ssize_t		 n;

	p = buf;
	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			exit(1);
		p += n;
		len -= (size_t)n;
	}
}

/* Copy stdin to stdout line by line, flushing each line; return at EOF. */
static void
echolines(void)
{
	char	*line;
	size_t	 cap;
	ssize_t	 n;

	line = NULL;
	cap = 0;
	while ((n = getline(&line, &cap, stdin)) > 0)
		writeall(1, line, (size_t)n);
	free(line);
}

static void
sleepforever(void)
{
	for (;;)
		pause();
}

static void
sleepms(long ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
printfds(void)
{
	DIR		*d;
	struct dirent	*e;
	char		 path[512], target[PATH_MAX], line[256];
	ssize_t		 n;
	FILE		*f;
	int		 self;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return 1;
	self = dirfd(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == self)
			continue;
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof target - 1);
		target[n < 0 ? 0 : n] = '\0';
		printf("%s %s\n", e->d_name, target);
	}
	closedir(d);
	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return 1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "SigBlk:", 7) == 0 ||
		    strncmp(line, "SigIgn:", 7) == 0)
			fputs(line, stdout);
	fclose(f);
	return fflush(stdout) == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	extern char	**environ;
	static char	 buf[65536];
	const char	*mode;
	long		 a, b, i;
	ssize_t		 n;
	pid_t		 pid;
	char		**ep;
	char		*s;

	mode = argc > 1 ? argv[1] : "";
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(mode, "echo") == 0 && argc == 2) {
		echolines();
	} else if (strcmp(mode, "cat") == 0 && argc == 2) {
		while ((n = read(0, buf, sizeof buf)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return 1;
			writeall(1, buf, (size_t)n);
		}
	} else if (strcmp(mode, "exit") == 0 && argc == 3) {
		return (int)num(argv[2]);
	} else if (strcmp(mode, "crash") == 0 && argc == 2) {
		if (fgets(buf, sizeof buf, stdin) != NULL)
			writeall(1, buf, strlen(buf));
		/* No core file in the build tree. */
		setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
		return 1;
	} else if (strcmp(mode, "tick") == 0 && argc == 4) {
		a = num(argv[2]);
		b = num(argv[3]);
		for (i = 0; i < b; i++) {
			if (i > 0)
				sleepms(a);
			printf("tick %ld\n", i);
		}
	} else if (strcmp(mode, "spew") == 0 && argc == 3) {
		memset(buf, 'x', sizeof buf);
		for (a = num(argv[2]); a > 0; a -= b) {
			b = a < (long)sizeof buf ? a : (long)sizeof buf;
			writeall(1, buf, (size_t)b);
		}
	} else if (strcmp(mode, "lines") == 0 && argc == 4) {
		a = num(argv[2]);
		b = num(argv[3]);
		if ((s = malloc((size_t)b + 1)) == NULL)
			return 1;
		memset(s, 'l', (size_t)b);
		s[b] = '\n';
		for (i = 0; i < a; i++)
			writeall(1, s, (size_t)b + 1);
		free(s);
	} else if (strcmp(mode, "noread") == 0 && argc == 2) {
		sleepforever();
	} else if (strcmp(mode, "ignore-term") == 0 && argc == 2) {
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		printf("%ld\n", (long)getpid());
		echolines();
		sleepforever();
	} else if (strcmp(mode, "stderr") == 0 && argc == 3) {
		/* "STDERR " then Z up to LEN bytes, then a newline. */
		a = num(argv[2]);
		if (a < 7 || (s = malloc((size_t)a + 1)) == NULL)
			usage();
		memset(s, 'Z', (size_t)a);
		memcpy(s, "STDERR ", 7);
		s[a] = '\n';
		writeall(2, s, (size_t)a + 1);
		free(s);
		echolines();
	} else if (strcmp(mode, "env") == 0 && argc == 2) {
		for (ep = environ; *ep != NULL; ep++)
			printf("%s\n", *ep);
	} else if (strcmp(mode, "fds") == 0 && argc == 2) {
		return printfds();
	} else if (strcmp(mode, "pgroup") == 0 && argc == 2) {
		if ((pid = fork()) < 0)
			return 1;
		if (pid == 0) {
			/* Keep no end of the gateway's pipes open. */
			if (freopen("/dev/null", "r", stdin) == NULL ||
			    freopen("/dev/null", "w", stdout) == NULL ||
			    freopen("/dev/null", "w", stderr) == NULL)
				_exit(1);
			sleep(1000);
			_exit(0);
		}
		printf("child %ld\ngrandchild %ld\n", (long)getpid(),
		    (long)pid);
		/* Read stdin to EOF, then stay until signalled. */
		while (fgets(buf, sizeof buf, stdin) != NULL)
			;
		sleepforever();
	} else {
		usage();
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

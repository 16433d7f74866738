/*
 * floors - what this machine can do at best, without any gateway:
 *
 *   pipe_p50_us   round trip of a 33-byte line through /bin/cat over a pipe
 *                 pair (write stdin pipe, read stdout pipe), like websocketd
 *   sock_p50_us   the same through one AF_UNIX socketpair used as cat's
 *                 stdin and stdout, like wspipe
 *   spawn_per_sec posix_spawn + waitpid of /bin/cat (stdin /dev/null, so it
 *                 exits at once), sequentially
 *   spawn_call_p50_us  time the posix_spawn() call itself blocks its caller
 *                 (glibc uses CLONE_VFORK: the parent waits until the child
 *                 has exec'd) - what a single-threaded gateway's event loop
 *                 loses per connection
 *
 * Build: cc -O2 -o bench/floors bench/floors.c
 * Usage: floors [--n=20000] [--secs=2] [--cat=/bin/cat]
 * Prints one line: scenario=floors key=value ...
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static const char *cat_path = "/bin/cat";

static pid_t spawn_cat(int in, int out)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	pid_t pid;
	char *argv[] = {(char *)"cat", NULL};
	int r = posix_spawn(&pid, cat_path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		fprintf(stderr, "floors: posix_spawn %s: %s\n", cat_path, strerror(r));
		exit(1);
	}
	return pid;
}

/* n round trips of a line: write to wfd, read the echo from rfd */
static void roundtrips(int wfd, int rfd, long n, double *p50, double *p99)
{
	static const char line[] = "abcdefghijklmnopqrstuvwxyz012345\n";
	size_t len = sizeof line - 1;
	double *lat = malloc(sizeof(double) * (size_t)n);
	char buf[256];
	long warm = n / 10 + 10;
	for (long i = -warm; i < n; i++) {
		double t = now_s();
		if (write(wfd, line, len) != (ssize_t)len) {
			perror("floors: write");
			exit(1);
		}
		size_t got = 0;
		while (got < len) {
			ssize_t r = read(rfd, buf + got, sizeof buf - got);
			if (r <= 0) {
				perror("floors: read");
				exit(1);
			}
			got += (size_t)r;
		}
		if (i >= 0)
			lat[i] = (now_s() - t) * 1e6;
	}
	qsort(lat, (size_t)n, sizeof *lat, cmp_double);
	*p50 = lat[n / 2];
	*p99 = lat[(size_t)((double)(n - 1) * 0.99)];
	free(lat);
}

int main(int argc, char **argv)
{
	long n = 20000;
	double secs = 2;
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--n=", 4))
			n = atol(argv[i] + 4);
		else if (!strncmp(argv[i], "--secs=", 7))
			secs = atof(argv[i] + 7);
		else if (!strncmp(argv[i], "--cat=", 6))
			cat_path = argv[i] + 6;
		else {
			fprintf(stderr, "usage: floors [--n=N] [--secs=T] [--cat=PATH]\n");
			return 2;
		}
	}
	if (n < 10)
		n = 10;
	signal(SIGPIPE, SIG_IGN);

	/* pipe pair */
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		perror("floors: pipe");
		return 1;
	}
	pid_t pid = spawn_cat(in[0], out[1]);
	close(in[0]);
	close(out[1]);
	double pipe50, pipe99;
	roundtrips(in[1], out[0], n, &pipe50, &pipe99);
	close(in[1]);
	close(out[0]);
	waitpid(pid, NULL, 0);

	/* socketpair: one end is cat's stdin and stdout */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("floors: socketpair");
		return 1;
	}
	pid = spawn_cat(sv[1], sv[1]);
	close(sv[1]);
	double sock50, sock99;
	roundtrips(sv[0], sv[0], n, &sock50, &sock99);
	close(sv[0]);
	waitpid(pid, NULL, 0);

	/* posix_spawn + waitpid */
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		perror("floors: /dev/null");
		return 1;
	}
	long spawned = 0, ncall = 0, capcall = 1000000;
	double *call = malloc(sizeof(double) * (size_t)capcall);
	double t0 = now_s(), t;
	do {
		double tc = now_s();
		pid = spawn_cat(devnull, devnull);
		if (ncall < capcall)
			call[ncall++] = (now_s() - tc) * 1e6;
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		spawned++;
		t = now_s();
	} while (t - t0 < secs);
	close(devnull);
	qsort(call, (size_t)ncall, sizeof *call, cmp_double);

	printf("scenario=floors n=%ld pipe_p50_us=%.1f pipe_p99_us=%.1f sock_p50_us=%.1f"
	       " sock_p99_us=%.1f spawn_per_sec=%.0f spawn_us=%.1f spawn_call_p50_us=%.1f\n",
	       n, pipe50, pipe99, sock50, sock99, (double)spawned / (t - t0),
	       (t - t0) * 1e6 / (double)spawned, call[ncall / 2]);
	return 0;
}

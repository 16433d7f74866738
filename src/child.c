/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * A program we run: a connection's WebSocket program or CGI script, or a
 * helper of ours (the broker).  This file knows nothing of connections:
 * its owner hands it a table of callbacks (readable, writable, exited,
 * gone) and an argument, as tmux's job_run does, and reads, writes and
 * ends the program through the functions below.
 *
 * vfork and exec start it, and an exec error comes back before the
 * owner answers, so that a missing program becomes an HTTP error, never
 * a 101.  (glibc's posix_spawn works the same way but leaves its two
 * internal signals ignored in the new program.)  The program's stdin and
 * stdout are one AF_UNIX socketpair (one fd for us instead of two pipes)
 * and its stderr a pipe we log from, a line at a time.  It runs in a
 * process group of its own with default signal dispositions and an empty
 * mask.  Termination is one table walked by one timer, and only this
 * file signals programs.
 */

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wspipe.h"
#include "metrics.h"

int	nchildren;

static TAILQ_HEAD(, child)	children = TAILQ_HEAD_INITIALIZER(children);
static int			nall;

/* Close stdin, then each signal after its delay (plus --closems). */
static const struct {
	int	sig;
	double	delay;
} child_steps[] = {
	{ SIGINT, 0.100 },
	{ SIGTERM, 0.250 },
	{ SIGKILL, 0.500 },
	{ 0, 0.050 }		/* polls until the group is gone */
};

/* A helper is asked with SIGTERM at once; this is where it starts. */
#define CHILD_HELPER_STEP	1

/*
 * Then it has this long (plus --closems) before SIGKILL: the broker ends
 * its own programs first (publisher.c gives them less).
 */
#define CHILD_HELPER_WAIT	3.0

/* Polls after SIGKILL before a survivor is reported. */
#define CHILD_KILL_POLLS	20

static uint8_t	child_scratch[READ_MAX];

static void	child_io_cb(struct ev_loop *, ev_io *, int);
static void	child_err_cb(struct ev_loop *, ev_io *, int);
static void	child_exit_cb(struct ev_loop *, ev_child *, int);
static void	child_term_cb(struct ev_loop *, ev_timer *, int);
static void	child_maybe_gone(struct child *);

static int
child_nonblock(int fd)
{
	int	flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return (-1);
	return (fcntl(fd, F_SETFL, flags | O_NONBLOCK));
}

/*
 * In the new process, before exec: default disposition for every signal
 * (handlers are reset by exec anyway, but an ignored signal would stay
 * ignored), an empty mask, a process group of its own, the socket on
 * 0 and 1, the pipe on 2, nothing else open.  This runs in a vfork
 * child, sharing our memory: only system calls, and the one write to
 * *err, which is how an exec failure reaches the parent.
 */
static void __attribute__((noreturn))
child_exec(const char *path, char **argv, int io, int errfd, char **env,
    int pdeathsig, volatile int *err)
{
	/* An all-zero kernel sigaction is SIG_DFL whatever its layout. */
	static const unsigned long	dfl[8];
	sigset_t			none;
	int				sig;

	/*
	 * The raw call, because glibc's sigaction refuses its two internal
	 * signals, and a gateway started by posix_spawn inherits them
	 * ignored: exec would pass that on.
	 */
	for (sig = 1; sig < NSIG; sig++)
		(void)syscall(SYS_rt_sigaction, sig, dfl, NULL, NSIG / 8);
	sigemptyset(&none);
	/* A helper of ours (the broker), or a tied program, dies with us. */
	if (pdeathsig != 0)
		(void)prctl(PR_SET_PDEATHSIG, pdeathsig);
	if (sigprocmask(SIG_SETMASK, &none, NULL) == 0 &&
	    setpgid(0, 0) == 0 && dup2(io, STDIN_FILENO) != -1 &&
	    dup2(io, STDOUT_FILENO) != -1 &&
	    dup2(errfd, STDERR_FILENO) != -1) {
		/* Every fd of ours is close-on-exec; this is a second lock. */
		(void)close_range(3, ~0U, 0);
		execve(path, argv, env);
	}
	*err = errno;
	_exit(127);
}

/*
 * Starts the program; returns its pid, or -1 with errno set, also when
 * exec itself failed.  vfork suspends us until the child has exec'd or
 * died, which is what a synchronous exec error needs anyway, and it does
 * not copy our page tables as fork would on every connection.
 */
static pid_t
child_fork(const char *path, char **argv, int io, int errfd, char **env,
    int pdeathsig)
{
	sigset_t	all, old;
	volatile int	err = 0;
	pid_t		pid;
	int		saved;

	/* No handler of ours may run in the child before exec. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = vfork()) == 0)
		child_exec(path, argv, io, errfd, env, pdeathsig, &err);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1) {
		errno = saved;
		return (-1);
	}
	if (err != 0) {
		/* It has exited: reap it here, its watcher never existed. */
		(void)waitpid(pid, NULL, 0);
		errno = err;
		return (-1);
	}
	return (pid);
}

/*
 * Starts a program for an owner that hears of it through cb and arg;
 * tag starts its log lines.  CHILD_HELPER in flags: one of our own (the
 * broker), with stdin and stdout on /dev/null and our stderr, sent
 * SIGTERM if we die, not counted against --maxforks.  CHILD_TIED: a
 * program that is sent SIGKILL if we die (the broker's publishers).
 * Returns -1 with errno set on failure, having logged nothing.
 */
int
child_spawn(struct child *ch, const struct child_cb *cb, void *arg,
    const char *tag, const char *path, char **argv, char **env, int flags)
{
	int	sv[2], ep[2], saved;
	pid_t	pid;

	memset(ch, 0, sizeof *ch);
	ch->fd = ch->errfd = -1;
	if (flags & CHILD_HELPER) {
		if ((sv[0] = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
			return (-1);
		pid = child_fork(path, argv, sv[0], STDERR_FILENO, env,
		    SIGTERM);
		saved = errno;
		close(sv[0]);
		if (pid == -1) {
			errno = saved;
			return (-1);
		}
		ch->flags = CHILD_HELPER | CHILD_EOF;
	} else {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ==
		    -1)
			return (-1);
		if (pipe2(ep, O_CLOEXEC) == -1) {
			saved = errno;
			close(sv[0]);
			close(sv[1]);
			errno = saved;
			return (-1);
		}
		pid = child_fork(path, argv, sv[1], ep[1], env,
		    (flags & CHILD_TIED) ? SIGKILL : 0);
		saved = errno;
		close(sv[1]);
		close(ep[1]);
		if (pid == -1 || child_nonblock(sv[0]) == -1 ||
		    child_nonblock(ep[0]) == -1) {
			if (pid != -1) {
				saved = errno;
				(void)kill(pid, SIGKILL);
				(void)waitpid(pid, NULL, 0);
			}
			close(sv[0]);
			close(ep[0]);
			errno = saved;
			return (-1);
		}
		ch->fd = sv[0];
		ch->errfd = ep[0];
		buf_init(&ch->tochild, TOCHILD_CAP);
		buf_init(&ch->errline, STDERR_LINE_MAX);
		ev_io_init(&ch->io, child_io_cb, ch->fd, 0);
		ch->io.data = ch;
		ev_io_init(&ch->errio, child_err_cb, ch->errfd, EV_READ);
		ch->errio.data = ch;
		ev_io_start(EV_DEFAULT, &ch->errio);
		nchildren++;
		metrics_add(METRIC_PROGRAMS, 1);
	}
	ch->pid = pid;
	ch->cb = cb;
	ch->arg = arg;
	ch->tag = tag;
	ev_child_init(&ch->cw, child_exit_cb, pid, 0);
	ch->cw.data = ch;
	ev_child_start(EV_DEFAULT, &ch->cw);
	ev_init(&ch->term, child_term_cb);
	ch->term.data = ch;
	TAILQ_INSERT_TAIL(&children, ch, entry);
	nall++;
	return (0);
}

/* Programs and helpers whose process group is not known to be gone. */
int
child_count(void)
{
	return (nall);
}

/*
 * Derives what the stdio socket waits for: stdout while the owner wants
 * it (or while its output is being dropped), stdin while bytes wait.
 */
void
child_update(struct child *ch, int want_read)
{
	int	events = 0;

	if (ch->fd == -1)
		return;
	if (!(ch->flags & CHILD_EOF) &&
	    (want_read || (ch->flags & CHILD_DISCARD)))
		events |= EV_READ;
	if (buf_len(&ch->tochild) > ch->held &&
	    !(ch->flags & CHILD_STDIN_SHUT))
		events |= EV_WRITE;
	/* A stderr that goes to the owner waits for it like stdout. */
	if (ch->cb->stderr_line != NULL && ch->errfd != -1 &&
	    !(ch->flags & CHILD_ERR_EOF)) {
		if (want_read || (ch->flags & CHILD_DISCARD))
			ev_io_start(EV_DEFAULT, &ch->errio);
		else
			ev_io_stop(EV_DEFAULT, &ch->errio);
	}
	if (events == (ch->io.events & (EV_READ | EV_WRITE)) &&
	    (events == 0) == !ev_is_active(&ch->io))
		return;
	ev_io_stop(EV_DEFAULT, &ch->io);
	ev_io_set(&ch->io, ch->fd, events);
	if (events != 0)
		ev_io_start(EV_DEFAULT, &ch->io);
}

/*
 * Reads the program's stdout: read(2)'s contract.  0 is the end of its
 * output, after which the fds go once the program is reaped too.
 */
ssize_t
child_read(struct child *ch, void *buf, size_t len)
{
	ssize_t	n;

	if (ch->fd == -1 || (ch->flags & CHILD_EOF))
		return (0);
	n = read(ch->fd, buf, len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (-1);
	if (n <= 0) {
		ch->flags |= CHILD_EOF;
		if (ch->flags & CHILD_REAPED)
			child_close_fds(ch);
		else
			child_update(ch, 0);
		child_maybe_gone(ch);
		return (0);
	}
	return (n);
}

/* Queues bytes for the program's stdin; -1 if they do not fit. */
int
child_write(struct child *ch, const void *data, size_t len)
{
	if (ch->flags & (CHILD_STDIN_SHUT | CHILD_STDIN_EOF))
		return (0);
	return (buf_append(&ch->tochild, data, len));
}

/* Bytes waiting for the program's stdin. */
size_t
child_queued(const struct child *ch)
{
	return (buf_len(&ch->tochild));
}

/*
 * The last len queued bytes are an unfinished message: they are not
 * written until child_hold(ch, 0), and child_drop_held() forgets them.
 */
void
child_hold(struct child *ch, size_t len)
{
	ch->held = len;
}

void
child_drop_held(struct child *ch)
{
	buf_truncate(&ch->tochild, ch->held);
	ch->held = 0;
}

/* The program's input is complete: EOF once what is queued is written. */
void
child_close_stdin(struct child *ch)
{
	ch->flags |= CHILD_STDIN_EOF;
	if (ch->fd != -1)
		(void)child_flush(ch);
}

/* Writes queued stdin bytes; returns -1 if the program cannot take them. */
int
child_flush(struct child *ch)
{
	ssize_t	n;

	if (ch->fd == -1)
		return (0);
	while (buf_len(&ch->tochild) > ch->held &&
	    !(ch->flags & CHILD_STDIN_SHUT)) {
		n = write(ch->fd, buf_head(&ch->tochild),
		    buf_len(&ch->tochild) - ch->held);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			/* The program closed its stdin: drop the rest. */
			buf_free(&ch->tochild);
			ch->held = 0;
			ch->flags |= CHILD_STDIN_SHUT;
			return (-1);
		}
		buf_drain(&ch->tochild, n);
	}
	/* Stdin EOF comes after the last accepted byte, never before. */
	if ((ch->flags & (CHILD_TERMINATING | CHILD_STDIN_EOF)) &&
	    buf_len(&ch->tochild) == 0 && !(ch->flags & CHILD_STDIN_SHUT)) {
		(void)shutdown(ch->fd, SHUT_WR);
		ch->flags |= CHILD_STDIN_SHUT;
	}
	return (0);
}

/* The owner is gone: stdout is read and dropped from now on. */
void
child_discard(struct child *ch)
{
	ch->flags |= CHILD_DISCARD;
	if (ch->pid == 0)
		return;
	if ((ch->flags & CHILD_REAPED) && ch->fd != -1)
		child_close_fds(ch);
	else
		child_update(ch, 0);
	child_maybe_gone(ch);
}

static void
child_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct child	*ch = w->data;
	ssize_t		 n;

	if (revents & EV_WRITE) {
		(void)child_flush(ch);
		if (!(ch->flags & CHILD_DISCARD) && ch->cb->writable != NULL)
			ch->cb->writable(ch->arg);
	}
	if (!(revents & EV_READ) || ch->fd == -1)
		return;
	if (ch->flags & CHILD_DISCARD) {
		while ((n = child_read(ch, child_scratch,
		    sizeof child_scratch)) > 0)
			;
		return;
	}
	ch->cb->readable(ch->arg);
}

/* Logs one stderr line of the program, escaped. */
static void
child_stderr_line(struct child *ch, const uint8_t *s, size_t len)
{
	char	line[4 * STDERR_LINE_MAX + 1];

	if (ch->cb->stderr_line != NULL && !(ch->flags & CHILD_DISCARD)) {
		ch->cb->stderr_line(ch->arg, s, len);
		return;
	}
	log_vis(line, sizeof line, (const char *)s, len);
	log_msg(LOG_LEVEL_ERROR, ch->tag, "stderr: %s", line);
}

/*
 * Drains the program's stderr into the log, a line at a time; a line
 * longer than STDERR_LINE_MAX is logged in pieces, so it is always read.
 */
static void
child_stderr_read(struct child *ch)
{
	const uint8_t	*p, *nl;
	ssize_t		 n;
	size_t		 len, take;

	n = read(ch->errfd, child_scratch, sizeof child_scratch);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (buf_len(&ch->errline) > 0)
			child_stderr_line(ch, buf_head(&ch->errline),
			    buf_len(&ch->errline));
		buf_free(&ch->errline);
		ch->flags |= CHILD_ERR_EOF;
		ev_io_stop(EV_DEFAULT, &ch->errio);
		return;
	}
	for (p = child_scratch, len = n; len > 0; ) {
		nl = memchr(p, '\n', len);
		take = nl != NULL ? (size_t)(nl - p) : len;
		if (take > buf_room(&ch->errline))
			take = buf_room(&ch->errline);
		(void)buf_append(&ch->errline, p, take);
		p += take;
		len -= take;
		if (len > 0 && *p == '\n') {
			p++;
			len--;
		} else if (buf_room(&ch->errline) > 0)
			continue;
		child_stderr_line(ch, buf_head(&ch->errline),
		    buf_len(&ch->errline));
		buf_drain(&ch->errline, buf_len(&ch->errline));
	}
}

static void
child_err_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	child_stderr_read(w->data);
}

/* Closes our ends once nothing more can come from them. */
void
child_close_fds(struct child *ch)
{
	if (ch->fd != -1) {
		ev_io_stop(EV_DEFAULT, &ch->io);
		close(ch->fd);
		ch->fd = -1;
	}
	if (ch->errfd != -1) {
		/* Log what the program said last before closing. */
		if (!(ch->flags & CHILD_ERR_EOF))
			child_stderr_read(ch);
		ev_io_stop(EV_DEFAULT, &ch->errio);
		close(ch->errfd);
		ch->errfd = -1;
	}
	buf_free(&ch->tochild);
	buf_free(&ch->errline);
	ch->held = 0;
}

/* Returns 1 when nothing of the program is left to wait for. */
int
child_done(const struct child *ch)
{
	if (ch->pid == 0)
		return (1);
	return ((ch->flags & CHILD_REAPED) && ch->fd == -1 &&
	    ch->errfd == -1 && !ev_is_active(&ch->term));
}

/* Tells the owner, once, that the program is all gone. */
static void
child_maybe_gone(struct child *ch)
{
	if (ch->pid == 0 || !child_done(ch) || (ch->flags & CHILD_GONE))
		return;
	ch->flags |= CHILD_GONE;
	TAILQ_REMOVE(&children, ch, entry);
	nall--;
	if (ch->cb->gone != NULL)
		ch->cb->gone(ch->arg);
}

/* Returns 1 if the program's process group still has members. */
static int
child_group_alive(struct child *ch)
{
	if (ch->flags & CHILD_GROUP_GONE)
		return (0);
	/*
	 * The group id cannot be reused while the group has members, so it
	 * is safe to signal after the leader is reaped.
	 */
	if (kill(-ch->pid, 0) == -1 && errno == ESRCH) {
		ch->flags |= CHILD_GROUP_GONE;
		return (0);
	}
	return (1);
}

static void
child_arm(struct child *ch)
{
	double	delay = child_steps[ch->term_step].delay;

	if ((ch->flags & CHILD_HELPER) &&
	    child_steps[ch->term_step].sig == SIGKILL)
		delay = CHILD_HELPER_WAIT;
	ch->term.repeat = delay + conf.closems / 1000.0;
	ev_timer_again(EV_DEFAULT, &ch->term);
}

/*
 * The conversation is over: close the program's stdin and start the
 * termination sequence, which ends early once the group is gone.  A
 * helper gets SIGTERM at once.
 */
void
child_terminate(struct child *ch)
{
	if (ch->pid == 0 || (ch->flags & CHILD_TERMINATING))
		return;
	ch->flags |= CHILD_TERMINATING;
	child_drop_held(ch);
	if (ch->fd != -1)
		(void)child_flush(ch);
	if ((ch->flags & CHILD_REAPED) && !child_group_alive(ch)) {
		child_maybe_gone(ch);
		return;
	}
	ch->term_polls = 0;
	ch->term_step = 0;
	if (ch->flags & CHILD_HELPER) {
		ch->term_step = CHILD_HELPER_STEP;
		(void)kill(-ch->pid, SIGTERM);
		ch->term_step++;
	}
	child_arm(ch);
}

static void
child_term_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct child	*ch = w->data;
	int		 sig = child_steps[ch->term_step].sig;

	if (!child_group_alive(ch) || (sig != 0 && kill(-ch->pid, sig) == -1 &&
	    errno == ESRCH)) {
		ev_timer_stop(loop, w);
		child_maybe_gone(ch);
		return;
	}
	if (sig == 0) {
		/* Killed members may linger a moment as zombies. */
		if (++ch->term_polls < CHILD_KILL_POLLS) {
			child_arm(ch);
			return;
		}
		log_msg(LOG_LEVEL_ERROR, ch->tag,
		    "SIGKILL did not end group %ld", (long)ch->pid);
		ev_timer_stop(loop, w);
		child_maybe_gone(ch);
		return;
	}
	log_msg(LOG_LEVEL_DEBUG, ch->tag, "sent signal %d to group %ld", sig,
	    (long)ch->pid);
	ch->term_step++;
	child_arm(ch);
}

static void
child_exit_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct child	*ch = w->data;

	ev_child_stop(loop, w);
	ch->status = w->rstatus;
	ch->flags |= CHILD_REAPED;
	if (!(ch->flags & CHILD_HELPER)) {
		nchildren--;
		metrics_add(METRIC_PROGRAMS, -1);
	}
	if (WIFSIGNALED(ch->status))
		log_msg(LOG_LEVEL_DEBUG, ch->tag, "pid %ld killed by signal %d",
		    (long)ch->pid, WTERMSIG(ch->status));
	else
		log_msg(LOG_LEVEL_DEBUG, ch->tag, "pid %ld exited %d",
		    (long)ch->pid, WEXITSTATUS(ch->status));
	if (ev_is_active(&ch->term) && !child_group_alive(ch))
		ev_timer_stop(loop, &ch->term);
	/* Output may still be in the socket: the owner reads it first. */
	if ((ch->flags & (CHILD_EOF | CHILD_DISCARD)) && ch->fd != -1)
		child_close_fds(ch);
	else if (ch->fd == -1 && ch->errfd != -1)
		child_close_fds(ch);
	if (!(ch->flags & CHILD_DISCARD) && ch->cb->exited != NULL)
		ch->cb->exited(ch->arg);
	child_maybe_gone(ch);
}

/* At shutdown's deadline: SIGKILL every group that is left. */
void
child_kill_all(void)
{
	struct child	*ch;

	TAILQ_FOREACH(ch, &children, entry)
		if (child_group_alive(ch))
			(void)kill(-ch->pid, SIGKILL);
}

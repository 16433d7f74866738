/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The program behind a connection.  vfork and exec start it, and an exec
 * error comes back before we answer, so that a missing program becomes an
 * HTTP error, never a 101.  (glibc's posix_spawn works the same way but
 * leaves its two internal signals ignored in the new program.)
 * The program's stdin and stdout are one
 * AF_UNIX socketpair (one fd for us instead of two pipes) and its stderr
 * a pipe we log from.  It runs in a process group of its own with default
 * signal dispositions and an empty mask.  Termination is one table walked
 * by one timer, and only this file signals programs.
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

int	nchildren;

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

/* Polls after SIGKILL before a survivor is reported. */
#define CHILD_KILL_POLLS	20

#define CHILD_NSTEPS	(sizeof child_steps / sizeof child_steps[0])

static void	child_io_cb(struct ev_loop *, ev_io *, int);
static void	child_err_cb(struct ev_loop *, ev_io *, int);
static void	child_exit_cb(struct ev_loop *, ev_child *, int);
static void	child_term_cb(struct ev_loop *, ev_timer *, int);

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
	/* A helper of ours (the broker) must not outlive us. */
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
 * Runs one of our own helpers (the broker): stdin and stdout on
 * /dev/null, our stderr shared, killed by SIGTERM if we die.  The caller
 * watches the pid.  Returns -1 with errno set on failure.
 */
pid_t
child_run(const char *path, char **argv, char **env)
{
	pid_t	pid;
	int	null, saved;

	if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		return (-1);
	pid = child_fork(path, argv, null, STDERR_FILENO, env, SIGTERM);
	saved = errno;
	close(null);
	errno = saved;
	return (pid);
}

/* Asks a helper started by child_run to stop. */
void
child_stop(pid_t pid)
{
	if (pid > 0)
		(void)kill(pid, SIGTERM);
}

/* Starts the program of c; returns -1 with errno set on failure. */
int
child_spawn(struct conn *c, const char *path, char **argv, char **env)
{
	struct child	*ch = &c->child;
	int		 sv[2], ep[2], saved;
	pid_t		 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return (-1);
	if (pipe2(ep, O_CLOEXEC) == -1) {
		saved = errno;
		close(sv[0]);
		close(sv[1]);
		errno = saved;
		return (-1);
	}
	pid = child_fork(path, argv, sv[1], ep[1], env, 0);
	saved = errno;
	close(sv[1]);
	close(ep[1]);
	if (pid == -1 || child_nonblock(sv[0]) == -1 ||
	    child_nonblock(ep[0]) == -1) {
		close(sv[0]);
		close(ep[0]);
		conn_log(c, LOG_LEVEL_ERROR, "cannot run %s: %s", path,
		    strerror(saved));
		errno = saved;
		return (-1);
	}
	ch->pid = pid;
	ch->fd = sv[0];
	ch->errfd = ep[0];
	buf_init(&ch->tochild, TOCHILD_CAP);
	buf_init(&ch->errline, STDERR_LINE_MAX);
	line_init(&ch->line, LINE_FRAGMENT);
	ev_io_init(&ch->io, child_io_cb, ch->fd, 0);
	ch->io.data = c;
	ev_io_init(&ch->errio, child_err_cb, ch->errfd, EV_READ);
	ch->errio.data = c;
	ev_io_start(EV_DEFAULT, &ch->errio);
	ev_child_init(&ch->cw, child_exit_cb, pid, 0);
	ch->cw.data = c;
	ev_child_start(EV_DEFAULT, &ch->cw);
	ev_init(&ch->term, child_term_cb);
	ch->term.data = c;
	nchildren++;
	return (0);
}

/* Derives what the stdio socket waits for from the buffers. */
void
child_update(struct conn *c)
{
	struct child	*ch = &c->child;
	int		 events = 0;

	if (ch->fd == -1)
		return;
	if (!(ch->flags & CHILD_EOF)) {
		/* After the client is gone, output is read and dropped. */
		if (c->flags & CONN_SOCK_CLOSED)
			events |= EV_READ;
		else if ((c->state == CONN_OPEN || c->state == CONN_DRAIN ||
		    c->state == CONN_CGI) && buf_len(&c->out) < HIGH_WATER)
			events |= EV_READ;
	}
	if (buf_len(&ch->tochild) > ch->held &&
	    !(ch->flags & CHILD_STDIN_SHUT))
		events |= EV_WRITE;
	if (events == (ch->io.events & (EV_READ | EV_WRITE)) &&
	    (events == 0) == !ev_is_active(&ch->io))
		return;
	ev_io_stop(EV_DEFAULT, &ch->io);
	ev_io_set(&ch->io, ch->fd, events);
	if (events != 0)
		ev_io_start(EV_DEFAULT, &ch->io);
}

/*
 * A message that failed, or that the client abandoned by closing, is not
 * accepted: if it is still held, the program never sees any of it.
 */
void
child_drop_held(struct conn *c)
{
	struct child	*ch = &c->child;

	buf_truncate(&ch->tochild, ch->held);
	ch->held = 0;
}

/* The program's input is complete: EOF once what is queued is written. */
void
child_close_stdin(struct conn *c)
{
	struct child	*ch = &c->child;

	ch->flags |= CHILD_STDIN_EOF;
	if (ch->fd != -1)
		(void)child_flush(c);
	child_update(c);
}

/* Writes queued stdin bytes; returns -1 if the program cannot take them. */
int
child_flush(struct conn *c)
{
	struct child	*ch = &c->child;
	ssize_t		 n;

	while (buf_len(&ch->tochild) > ch->held &&
	    !(ch->flags & CHILD_STDIN_SHUT)) {
		n = write(ch->fd, buf_head(&ch->tochild),
		    buf_len(&ch->tochild) - ch->held);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			/* The program closed its stdin: drop the rest. */
			buf_free(&ch->tochild);
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

static void
child_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn	*c = w->data;

	if (revents & EV_WRITE) {
		(void)child_flush(c);
		if ((c->state == CONN_OPEN || c->state == CONN_CGI) &&
		    !(c->flags & CONN_SOCK_CLOSED)) {
			/* Room for more request body, maybe. */
			if (c->state == CONN_CGI && http_process(c) == -1)
				return;
			conn_update(c);
		}
	}
	if (revents & EV_READ)
		relay_child_read(c);
	else
		child_update(c);
}

static void
child_err_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	relay_stderr_read(w->data);
}

/* Closes our ends once nothing more can come from them. */
void
child_close_fds(struct conn *c)
{
	struct child	*ch = &c->child;

	if (ch->fd != -1) {
		ev_io_stop(EV_DEFAULT, &ch->io);
		close(ch->fd);
		ch->fd = -1;
	}
	if (ch->errfd != -1) {
		/* Log what the program said last before closing. */
		if (!(ch->flags & CHILD_ERR_EOF))
			relay_stderr_read(c);
		ev_io_stop(EV_DEFAULT, &ch->errio);
		close(ch->errfd);
		ch->errfd = -1;
	}
	buf_free(&ch->tochild);
	buf_free(&ch->errline);
	line_free(&ch->line);
}

/* Returns 1 when nothing of the program is left to wait for. */
int
child_done(struct conn *c)
{
	struct child	*ch = &c->child;

	if (ch->pid == 0)
		return (1);
	return ((ch->flags & CHILD_REAPED) && ch->fd == -1 &&
	    ch->errfd == -1 && !ev_is_active(&ch->term));
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
	ch->term.repeat = child_steps[ch->term_step].delay +
	    conf.closems / 1000.0;
	ev_timer_again(EV_DEFAULT, &ch->term);
}

/*
 * The conversation is over: close the program's stdin and start the
 * termination sequence, which ends early once the group is gone.
 */
void
child_terminate(struct conn *c)
{
	struct child	*ch = &c->child;

	if (ch->pid == 0 || (ch->flags & CHILD_TERMINATING))
		return;
	ch->flags |= CHILD_TERMINATING;
	child_drop_held(c);
	if (ch->fd != -1)
		(void)child_flush(c);
	child_update(c);
	if ((ch->flags & CHILD_REAPED) && !child_group_alive(ch))
		return;
	ch->term_step = 0;
	ch->term_polls = 0;
	child_arm(ch);
}

static void
child_term_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn	*c = w->data;
	struct child	*ch = &c->child;
	int		 sig = child_steps[ch->term_step].sig;

	if (!child_group_alive(ch) || (sig != 0 && kill(-ch->pid, sig) == -1 &&
	    errno == ESRCH)) {
		ev_timer_stop(loop, w);
		conn_maybe_free(c);
		return;
	}
	if (sig == 0) {
		/* Killed members may linger a moment as zombies. */
		if (++ch->term_polls < CHILD_KILL_POLLS) {
			child_arm(ch);
			return;
		}
		conn_log(c, LOG_LEVEL_ERROR, "SIGKILL did not end group %ld",
		    (long)ch->pid);
		ev_timer_stop(loop, w);
		conn_maybe_free(c);
		return;
	}
	conn_log(c, LOG_LEVEL_DEBUG, "sent signal %d to group %ld", sig,
	    (long)ch->pid);
	ch->term_step++;
	child_arm(ch);
}

static void
child_exit_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct conn	*c = w->data;
	struct child	*ch = &c->child;

	ev_child_stop(loop, w);
	ch->status = w->rstatus;
	ch->flags |= CHILD_REAPED;
	nchildren--;
	if (WIFSIGNALED(ch->status))
		conn_log(c, LOG_LEVEL_DEBUG, "pid %ld killed by signal %d",
		    (long)ch->pid, WTERMSIG(ch->status));
	else
		conn_log(c, LOG_LEVEL_DEBUG, "pid %ld exited %d",
		    (long)ch->pid, WEXITSTATUS(ch->status));
	if (ev_is_active(&ch->term) && !child_group_alive(ch))
		ev_timer_stop(loop, &ch->term);
	if (c->flags & CONN_SOCK_CLOSED) {
		child_close_fds(c);
		conn_maybe_free(c);
		return;
	}
	/* Output may still be in the socket: finish it, then close. */
	if (ch->flags & CHILD_EOF)
		relay_child_eof(c);
}

/* At shutdown's deadline: SIGKILL every group that is left. */
void
child_kill_all(void)
{
	struct conn	*c;

	TAILQ_FOREACH(c, &conns, entry)
		if (c->child.pid != 0 && child_group_alive(&c->child))
			(void)kill(-c->child.pid, SIGKILL);
}

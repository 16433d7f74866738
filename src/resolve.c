/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * --reverselookup: the name of a client's address (REMOTE_HOST), found
 * by worker threads so that a slow or dead DNS server never stops the
 * loop.  The loop queues a query and hears back through an ev_async, in
 * its own thread; a query whose connection has gone is cancelled, and
 * freed once a worker is done with it.  The threads only call
 * getnameinfo(3) and touch the two queues under one mutex.
 */

#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "wspipe.h"

#define RESOLVE_THREADS		2
#define RESOLVE_QUEUED_MAX	256	/* then names are not looked up */

struct resolve {
	TAILQ_ENTRY(resolve)	 entry;
	char			 addr[64];
	char			 name[NI_MAXHOST];	/* "" if none */
	int			 running;	/* a worker has it */
	int			 cancelled;
	void			(*done)(void *, const char *);
	void			*arg;
};

TAILQ_HEAD(resolve_list, resolve);

static struct resolve_list	resolve_todo = TAILQ_HEAD_INITIALIZER(resolve_todo);
static struct resolve_list	resolve_done = TAILQ_HEAD_INITIALIZER(resolve_done);
static size_t			resolve_nqueued;
static pthread_mutex_t		resolve_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		resolve_wake = PTHREAD_COND_INITIALIZER;
static ev_async			resolve_async;
static int			resolve_started;

/* A worker: takes a query, looks its address up, hands it back. */
static void *
resolve_main(void *unused)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&ss;
	struct resolve		*q;
	socklen_t		 len;

	for (;;) {
		pthread_mutex_lock(&resolve_lock);
		while ((q = TAILQ_FIRST(&resolve_todo)) == NULL)
			pthread_cond_wait(&resolve_wake, &resolve_lock);
		TAILQ_REMOVE(&resolve_todo, q, entry);
		q->running = 1;
		pthread_mutex_unlock(&resolve_lock);

		memset(&ss, 0, sizeof ss);
		q->name[0] = '\0';
		if (inet_pton(AF_INET, q->addr, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			len = sizeof *s4;
		} else if (inet_pton(AF_INET6, q->addr, &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6;
			len = sizeof *s6;
		} else
			len = 0;
		if (len == 0 || getnameinfo((struct sockaddr *)&ss, len,
		    q->name, sizeof q->name, NULL, 0, NI_NAMEREQD) != 0)
			q->name[0] = '\0';

		pthread_mutex_lock(&resolve_lock);
		TAILQ_INSERT_TAIL(&resolve_done, q, entry);
		pthread_mutex_unlock(&resolve_lock);
		ev_async_send(EV_DEFAULT, &resolve_async);
	}
	return (NULL);
}

/* In the loop: the answers, to those still waiting for them. */
static void
resolve_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct resolve_list	 done = TAILQ_HEAD_INITIALIZER(done);
	struct resolve		*q;

	pthread_mutex_lock(&resolve_lock);
	TAILQ_CONCAT(&done, &resolve_done, entry);
	pthread_mutex_unlock(&resolve_lock);
	while ((q = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, q, entry);
		resolve_nqueued--;
		if (!q->cancelled)
			q->done(q->arg, q->name[0] != '\0' ? q->name : NULL);
		free(q);
	}
}

/* Starts the workers, their signals blocked: signals are the loop's. */
static int
resolve_init(void)
{
	pthread_t	t;
	sigset_t	all, old;
	int		i, ok = 0;

	ev_async_init(&resolve_async, resolve_async_cb);
	ev_async_start(EV_DEFAULT, &resolve_async);
	/* It must not keep the loop running at shutdown. */
	ev_unref(EV_DEFAULT);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < RESOLVE_THREADS; i++)
		if (pthread_create(&t, NULL, resolve_main, NULL) == 0) {
			pthread_detach(t);
			ok++;
		}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return (ok > 0 ? 0 : -1);
}

/*
 * Looks addr up; done(arg, name or NULL) follows from the loop.  NULL if
 * it cannot be queued now (too many waiting): go on without a name.
 */
struct resolve *
resolve_start(const char *addr, void (*done)(void *, const char *),
    void *arg)
{
	struct resolve	*q;

	if (!resolve_started) {
		if (resolve_init() == -1)
			return (NULL);
		resolve_started = 1;
	}
	if (resolve_nqueued >= RESOLVE_QUEUED_MAX)
		return (NULL);
	q = xcalloc(1, sizeof *q);
	strlcpy(q->addr, addr, sizeof q->addr);
	q->done = done;
	q->arg = arg;
	resolve_nqueued++;
	pthread_mutex_lock(&resolve_lock);
	TAILQ_INSERT_TAIL(&resolve_todo, q, entry);
	pthread_cond_signal(&resolve_wake);
	pthread_mutex_unlock(&resolve_lock);
	return (q);
}

/* The asker is gone: its answer will not be given. */
void
resolve_cancel(struct resolve *q)
{
	pthread_mutex_lock(&resolve_lock);
	q->cancelled = 1;
	if (!q->running) {
		TAILQ_REMOVE(&resolve_todo, q, entry);
		resolve_nqueued--;
		free(q);
	}
	pthread_mutex_unlock(&resolve_lock);
}

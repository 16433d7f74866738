/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * A tiny TAP producer for the unit tests, read by Automake's tap-driver.sh.
 * Header-only: each test program includes it once.  Set tap_todo to a
 * reason to mark the following test points as known failures.
 */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TAP_PRINTF(f, a)	__attribute__((__format__(__printf__, f, a)))

static int		 tap_run, tap_failed, tap_planned;
static const char	*tap_todo;

static inline void
plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
}

static inline void TAP_PRINTF(1, 2)
diag(const char *fmt, ...)
{
	va_list	 ap;

	fflush(stdout);
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Descriptions are one line, and '#' would start a TAP directive. */
static inline int
tap_vok(int cond, const char *fmt, va_list ap)
{
	char	 desc[512], *p;

	vsnprintf(desc, sizeof desc, fmt, ap);
	for (p = desc; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' || *p == '#' || *p == 0x7f)
			*p = '?';
	tap_run++;
	printf("%sok %d - %s", cond ? "" : "not ", tap_run, desc);
	if (tap_todo != NULL)
		printf(" # TODO %s", tap_todo);
	else if (!cond)
		tap_failed++;
	printf("\n");
	return (cond);
}

static inline int TAP_PRINTF(2, 3)
ok(int cond, const char *fmt, ...)
{
	va_list	 ap;
	int	 r;

	va_start(ap, fmt);
	r = tap_vok(cond, fmt, ap);
	va_end(ap);
	return (r);
}

static inline int TAP_PRINTF(3, 4)
is_int(long long got, long long want, const char *fmt, ...)
{
	va_list	 ap;
	int	 r;

	va_start(ap, fmt);
	r = tap_vok(got == want, fmt, ap);
	va_end(ap);
	if (!r)
		diag("  got %lld, expected %lld", got, want);
	return (r);
}

static inline int TAP_PRINTF(3, 4)
is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list	 ap;
	int	 r;

	va_start(ap, fmt);
	r = tap_vok(got != NULL && want != NULL ? strcmp(got, want) == 0 :
	    got == want, fmt, ap);
	va_end(ap);
	if (!r)
		diag("  got \"%s\", expected \"%s\"",
		    got != NULL ? got : "(null)",
		    want != NULL ? want : "(null)");
	return (r);
}

/* Returns the exit status: 0 when every test point passed as planned. */
static inline int
done_testing(void)
{
	if (tap_planned == 0)
		plan(tap_run);
	else if (tap_run != tap_planned)
		diag("planned %d tests but ran %d", tap_planned, tap_run);
	return (tap_failed > 0 || tap_run != tap_planned ? 1 : 0);
}

#endif

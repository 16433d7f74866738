/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The one way wspipe logs: a line per event on stderr, written with a
 * single write(2) so lines from a busy gateway never interleave, with a
 * timestamp and a level named as websocketd names them.  log_warn and
 * fatal add strerror(errno); the x variants do not.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <vis.h>

#include "log.h"

#define LOG_LINE_MAX	2048

static int	log_level = LOG_LEVEL_ACCESS;

static const char *const log_names[] = {
	"debug", "trace", "access", "info", "error", "fatal", "none"
};

void
log_init(int level)
{
	log_level = level;
}

int
log_enabled(int level)
{
	return (level >= log_level && level < LOG_LEVEL_NONE);
}

/*
 * Appends src to line[n..size) with every control or 8-bit byte as a C
 * octal escape, so that whatever a caller forgot to escape, no raw byte
 * can forge or garble a log line.  Backslashes stay as they are: text
 * already escaped by log_vis reads the same.  Returns the new length.
 */
static size_t
log_visible(char *line, size_t n, size_t size, const char *src, size_t len)
{
	unsigned char	ch;
	size_t		i;

	for (i = 0; i < len; i++) {
		ch = (unsigned char)src[i];
		if (ch >= 0x20 && ch < 0x7f) {
			if (n + 1 >= size)
				break;
			line[n++] = ch;
			continue;
		}
		if (n + 4 >= size)
			break;
		snprintf(line + n, 5, "\\%03o", ch);
		n += 4;
	}
	line[n] = '\0';
	return (n);
}

void
log_vmsg(int level, const char *tag, const char *fmt, va_list ap)
{
	char		 line[LOG_LINE_MAX], text[LOG_LINE_MAX];
	struct tm	 tm;
	time_t		 now;
	size_t		 n;
	int		 saved = errno, r;

	if (!log_enabled(level))
		return;
	now = time(NULL);
	localtime_r(&now, &tm);
	n = strftime(line, sizeof line, "%Y-%m-%d %H:%M:%S ", &tm);
	r = snprintf(line + n, sizeof line - n, "%s %s%s", log_names[level],
	    tag != NULL ? tag : "", tag != NULL ? " " : "");
	if (r > 0)
		n += (size_t)r < sizeof line - n ? (size_t)r :
		    sizeof line - n - 1;
	r = vsnprintf(text, sizeof text, fmt, ap);
	if (r > 0)
		n = log_visible(line, n, sizeof line,
		    text, (size_t)r < sizeof text ? (size_t)r : sizeof text - 1);
	if (n >= sizeof line - 1)
		n = sizeof line - 2;
	line[n++] = '\n';
	(void)write(STDERR_FILENO, line, n);
	errno = saved;
}

void
log_msg(int level, const char *tag, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(level, tag, fmt, ap);
	va_end(ap);
}

static void
log_errno(int level, const char *fmt, va_list ap)
{
	char	msg[LOG_LINE_MAX];
	int	saved = errno;

	vsnprintf(msg, sizeof msg, fmt, ap);
	log_msg(level, NULL, "%s: %s", msg, strerror(saved));
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_errno(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERROR, NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_INFO, NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_errno(LOG_LEVEL_FATAL, fmt, ap);
	va_end(ap);
	exit(EXIT_FAILURE);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_FATAL, NULL, fmt, ap);
	va_end(ap);
	exit(EXIT_FAILURE);
}

/*
 * Escapes untrusted bytes (a header, a program's stderr) so that they
 * cannot forge a log line.  Returns the length written to dst.
 */
size_t
log_vis(char *dst, size_t dstsz, const char *src, size_t len)
{
	int	n;

	if (dstsz == 0)
		return (0);
	/* strnvisx needs up to four bytes out for each byte in. */
	if (len > (dstsz - 1) / 4)
		len = (dstsz - 1) / 4;
	n = strnvisx(dst, dstsz, src, len, VIS_CSTYLE | VIS_NL | VIS_TAB |
	    VIS_OCTAL);
	return (n < 0 ? 0 : (size_t)n);
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The one way wspipe logs: a line per event on stderr, written with a
 * single write(2) so lines from a busy gateway never interleave, with a
 * timestamp and a level named as websocketd names them, or, with
 * --logformat=json, as one JSON object per line with the same fields.
 * log_warn and fatal add strerror(errno); the x variants do not.
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
static int	log_json;

static const char *const log_names[] = {
	"debug", "trace", "access", "info", "error", "fatal", "none"
};

void
log_init(int level)
{
	log_level = level;
}

/* 1: one JSON object per line. */
void
log_format(int json)
{
	log_json = json;
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

/*
 * Appends text (already visible ASCII) as the body of a JSON string:
 * quotes and backslashes escaped.  Returns the new length.
 */
static size_t
log_json_string(char *line, size_t n, size_t size, const char *text)
{
	for (; *text != '\0' && n + 3 < size; text++) {
		if (*text == '"' || *text == '\\')
			line[n++] = '\\';
		line[n++] = *text;
	}
	line[n] = '\0';
	return (n);
}

/* Appends s at *n, within size (NUL kept). */
static void
log_put(char *line, size_t *n, size_t size, const char *s)
{
	while (*s != '\0' && *n + 1 < size)
		line[(*n)++] = *s++;
	line[*n] = '\0';
}

void
log_vmsg(int level, const char *tag, const char *fmt, va_list ap)
{
	char		 line[LOG_LINE_MAX * 2], text[LOG_LINE_MAX];
	char		 vtag[LOG_LINE_MAX / 4], msg[LOG_LINE_MAX];
	struct tm	 tm;
	time_t		 now;
	size_t		 n;
	int		 saved = errno, r;

	if (!log_enabled(level))
		return;
	now = time(NULL);
	localtime_r(&now, &tm);
	r = vsnprintf(text, sizeof text, fmt, ap);
	(void)log_visible(msg, 0, sizeof msg, text, r < 0 ? 0 :
	    (size_t)r < sizeof text ? (size_t)r : sizeof text - 1);
	(void)log_visible(vtag, 0, sizeof vtag, tag != NULL ? tag : "",
	    tag != NULL ? strlen(tag) : 0);
	if (log_json) {
		n = strftime(line, sizeof line, "{\"time\":\"%Y-%m-%dT%H:%M:%S%z\","
		    "\"level\":\"", &tm);
		log_put(line, &n, sizeof line, log_names[level]);
		log_put(line, &n, sizeof line, "\"");
		if (tag != NULL) {
			log_put(line, &n, sizeof line, ",\"conn\":\"");
			n = log_json_string(line, n, sizeof line, vtag);
			log_put(line, &n, sizeof line, "\"");
		}
		log_put(line, &n, sizeof line, ",\"msg\":\"");
		n = log_json_string(line, n, sizeof line - 3, msg);
		line[n++] = '"';
		line[n++] = '}';
	} else {
		n = strftime(line, sizeof line, "%Y-%m-%d %H:%M:%S ", &tm);
		log_put(line, &n, sizeof line, log_names[level]);
		log_put(line, &n, sizeof line, " ");
		if (tag != NULL) {
			log_put(line, &n, sizeof line, vtag);
			log_put(line, &n, sizeof line, " ");
		}
		log_put(line, &n, LOG_LINE_MAX - 1, msg);
	}
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

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The one way wspipe logs, and the one way it fails: log.c.  Pure:
 * libc only, so that the pure modules' tests link it alone.
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_TRACE,
	LOG_LEVEL_ACCESS,
	LOG_LEVEL_INFO,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_FATAL,
	LOG_LEVEL_NONE
};

void		 log_init(int);
void		 log_format(int);
int		 log_enabled(int);
void		 log_msg(int, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
void		 log_vmsg(int, const char *, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));
void		 log_warn(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_info(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_debug(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 fatal(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
void		 fatalx(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
size_t		 log_vis(char *, size_t, const char *, size_t);

#endif

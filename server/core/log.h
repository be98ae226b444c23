/* log.h - structured log lines on stderr.
 *
 *   ts=2026-11-24T08:41:16.123Z level=info event=listening max_connections=1024
 *
 * One line per event, logfmt: an event word and key=value fields. Values
 * given with log_str are quoted and stripped of control bytes; request
 * payloads, tokens and keys are never passed to the logger.
 */
#ifndef NOORMME_LOG_H
#define NOORMME_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level_t;

/* Sets the lowest level written (default LOG_INFO). */
void log_set_level(log_level_t level);

/* Parses "debug", "info", "warn" or "error". Returns 0, or -1. */
int log_parse_level(const char *s, log_level_t *out);

/* Writes one line: `event` is a fixed word; `fmt` adds fields and is made of
 * " key=%d"-style pieces (NULL for none). Wire strings must go through
 * log_quote() first. Thread-safe: one write(2) per line. */
void log_event(log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies `s[0..len)` into `out` as a quoted logfmt value: control bytes and
 * non-ASCII become '?', quotes and backslashes are escaped, long values are
 * cut with "...". `out` must hold at least 8 bytes. Returns `out`. */
char *log_quote(char *out, size_t outsz, const char *s, size_t len);

#endif

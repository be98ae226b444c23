/* proto_errors.h - protocol error codes, names and messages.
 *
 * Generated from errors.def. Functions that can fail return 0 or the
 * negated code of one of these errors.
 */
#ifndef NOORMME_PROTO_ERRORS_H
#define NOORMME_PROTO_ERRORS_H

#include <stdbool.h>

typedef enum {
#define PROTO_ERROR(code, name, sev, retry, msg) PROTO_E_##name = code,
#include "errors.def"
#undef PROTO_ERROR
} proto_error_t;

/* The wire NAME of `code` ("NOT_FOUND"), or "UNKNOWN_ERROR" for a code not
 * in the table. Static storage. */
const char *proto_error_name(int code);

/* The default message of `code`. Static storage. */
const char *proto_error_message(int code);

/* True when `code` is a protocol error: the connection closes after it. */
bool proto_error_is_fatal(int code);

/* True when the table marks `code` RETRIABLE: the request did not run, so
 * sending it again as it is is safe. */
bool proto_error_is_retriable(int code);

#endif

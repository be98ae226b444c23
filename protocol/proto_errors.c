/* proto_errors.c - lookups over the error table in errors.def. */
#include "proto_errors.h"

#include <stddef.h>

typedef struct {
    int code;            /* wire code */
    const char *name;    /* wire NAME */
    bool fatal;          /* PROTOCOL severity: close after sending */
    bool retriable;      /* safe to send again as it is */
    const char *message; /* default message */
} proto_error_entry_t;

#define REQUEST   false
#define PROTOCOL  true
#define RETRIABLE true
#define FINAL     false
static const proto_error_entry_t proto_error_table[] = {
#define PROTO_ERROR(code, name, sev, retry, msg) {code, #name, sev, retry, msg},
#include "errors.def"
#undef PROTO_ERROR
};
#undef REQUEST
#undef PROTOCOL
#undef RETRIABLE
#undef FINAL

static const proto_error_entry_t *proto_error_find(int code)
{
    if (code < 0)
        code = -code;
    for (size_t i = 0; i < sizeof proto_error_table / sizeof proto_error_table[0]; i++) {
        if (proto_error_table[i].code == code)
            return &proto_error_table[i];
    }
    return NULL;
}

const char *proto_error_name(int code)
{
    const proto_error_entry_t *e = proto_error_find(code);
    return e ? e->name : "UNKNOWN_ERROR";
}

const char *proto_error_message(int code)
{
    const proto_error_entry_t *e = proto_error_find(code);
    return e ? e->message : "unknown error";
}

bool proto_error_is_fatal(int code)
{
    const proto_error_entry_t *e = proto_error_find(code);
    return e ? e->fatal : false;
}

bool proto_error_is_retriable(int code)
{
    const proto_error_entry_t *e = proto_error_find(code);
    return e ? e->retriable : false;
}

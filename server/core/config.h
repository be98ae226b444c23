/* config.h - noormd's configuration: defaults, environment, flags.
 *
 * The options are the table in config.def; this header turns it into a
 * struct with one field per option (strings as const char *, numbers as
 * int64_t).
 */
#ifndef NOORMME_CONFIG_H
#define NOORMME_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_FIELD_STR(f)    const char *f;
#define CONFIG_FIELD_CHOICE(f) const char *f;
#define CONFIG_FIELD_INT(f)    int64_t f;
#define CONFIG_FIELD_BYTES(f)  int64_t f;
#define CONFIG_FIELD_MODE(f)   int64_t f;

typedef struct {
#define CONFIG_OPT(field, kind, flag, env, def, min, max, metavar, help) CONFIG_FIELD_##kind(field)
#include "config.def"
#undef CONFIG_OPT
} config_t;

typedef enum {
    CONFIG_OK = 0,      /* parsed; run the server */
    CONFIG_EXIT_OK = 1, /* --help or --version was printed; exit 0 */
    CONFIG_ERROR = -1,  /* a message was written to `err`; exit 2 */
} config_result_t;

/* Fills `cfg` from the defaults, then NOORMME_* environment variables, then
 * `argv`. Strings in `cfg` point into argv, the environment or static
 * storage. Help and version go to `out`, errors to `err`. */
config_result_t config_load(config_t *cfg, int argc, char **argv, FILE *out, FILE *err);

/* Writes the --help text. */
void config_print_help(FILE *out);

/* One option of the table, for tests and documentation tools. */
typedef struct {
    const char *flag; /* long flag without dashes */
    const char *env;  /* environment variable */
    const char *def;  /* default, as text */
    int numeric;      /* 1 for INT, BYTES and MODE options */
    int octal;        /* 1 for MODE options */
    int64_t min, max; /* bounds of numeric options */
} config_info_t;

/* Number of options in the table. */
size_t config_option_count(void);

/* Describes option `i` (< config_option_count()). */
void config_option_info(size_t i, config_info_t *out);

#endif

/* config.c - parse options from the table in config.def. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "proto_rpc.h"
#include "version.h"

typedef enum { KIND_STR, KIND_CHOICE, KIND_INT, KIND_BYTES, KIND_MODE } config_kind_t;

typedef struct {
    const char *flag;    /* long flag without the dashes */
    const char *env;     /* environment variable */
    config_kind_t kind;  /* how the text is parsed */
    const char *def;     /* default, as text */
    int64_t min, max;    /* bounds for numeric kinds */
    const char *metavar; /* placeholder in --help; the choices for CHOICE */
    const char *help;    /* one-line description */
    size_t offset;       /* field in config_t */
} config_opt_t;

static const config_opt_t config_opts[] = {
#define CONFIG_OPT(field, kind, flag, env, def, min, max, metavar, help)                           \
    {flag, env, KIND_##kind, def, min, max, metavar, help, offsetof(config_t, field)},
#include "config.def"
#undef CONFIG_OPT
};
#define CONFIG_NOPTS (sizeof config_opts / sizeof config_opts[0])

static int parse_int(const config_opt_t *o, const char *text, int64_t *out)
{
    int base = o->kind == KIND_MODE ? 8 : 10;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, base);
    if (errno != 0 || end == text)
        return -1;
    if (o->kind == KIND_BYTES && *end) {
        long long mult = 0;
        switch (*end) {
        case 'k':
        case 'K': mult = 1LL << 10; break;
        case 'm':
        case 'M': mult = 1LL << 20; break;
        case 'g':
        case 'G': mult = 1LL << 30; break;
        default: return -1;
        }
        if (v > INT64_MAX / mult || v < INT64_MIN / mult)
            return -1;
        v *= mult;
        end++;
    }
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static int choice_ok(const char *choices, const char *text)
{
    size_t n = strlen(text);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, text, n) == 0)
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return 0;
}

/* Stores `text` into the option's field; `source` names where it came from
 * for the error message. */
static int config_set(config_t *cfg, const config_opt_t *o, const char *text, const char *source,
                      FILE *err)
{
    char *field = (char *)cfg + o->offset;
    switch (o->kind) {
    case KIND_STR: memcpy(field, &text, sizeof text); return 0;
    case KIND_CHOICE:
        if (!choice_ok(o->metavar, text)) {
            fprintf(err, "noormd: %s must be one of %s (got \"%s\")\n", source, o->metavar, text);
            return -1;
        }
        memcpy(field, &text, sizeof text);
        return 0;
    default: {
        int64_t v;
        if (parse_int(o, text, &v) != 0) {
            fprintf(err, "noormd: %s must be %s (got \"%s\")\n", source,
                    o->kind == KIND_MODE    ? "an octal file mode such as 0660"
                    : o->kind == KIND_BYTES ? "a byte count such as 65536, 64k or 1m"
                                            : "a whole number",
                    text);
            return -1;
        }
        if (v < o->min || v > o->max) {
            if (o->kind == KIND_MODE)
                fprintf(err, "noormd: %s must be between %04llo and %04llo (got %s)\n", source,
                        (long long)o->min, (long long)o->max, text);
            else
                fprintf(err, "noormd: %s must be between %lld and %lld (got %s)\n", source,
                        (long long)o->min, (long long)o->max, text);
            return -1;
        }
        memcpy(field, &v, sizeof v);
        return 0;
    }
    }
}

void config_print_help(FILE *out)
{
    fprintf(out, "Usage: noormd [OPTION]...\n"
                 "Storage server for Auth.js apps: MessagePack-RPC over a Unix socket, SQLite "
                 "in WAL mode.\n\n"
                 "Each option can also be set by the environment variable shown; a flag wins.\n\n");
    for (size_t i = 0; i < CONFIG_NOPTS; i++) {
        const config_opt_t *o = &config_opts[i];
        fprintf(out, "  --%s %s\n      %s", o->flag, o->metavar, o->help);
        if (o->kind == KIND_INT || o->kind == KIND_BYTES)
            fprintf(out, " [%lld..%lld]", (long long)o->min, (long long)o->max);
        fprintf(out, "\n      env %s, default %s\n", o->env, o->def[0] ? o->def : "(none)");
    }
    fprintf(out, "  --help\n      print this help and exit\n"
                 "  --version\n      print the version and exit\n\n"
                 "Signals: SIGTERM or SIGINT stops accepting, answers requests in flight, "
                 "checkpoints and exits 0.\n");
}

config_result_t config_load(config_t *cfg, int argc, char **argv, FILE *out, FILE *err)
{
    memset(cfg, 0, sizeof *cfg);
    /* Flags first, so that a flag replaces an environment value before that
     * value is checked: a bad NOORMME_* variable does not block a fix given
     * on the command line. */
    const char *flag_value[CONFIG_NOPTS] = {0};
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            config_print_help(out);
            return CONFIG_EXIT_OK;
        }
        if (strcmp(arg, "--version") == 0) {
            fprintf(out, "noormd %s (protocol %d)\n", NOORMME_VERSION, PROTO_VERSION);
            return CONFIG_EXIT_OK;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(err, "noormd: unexpected argument \"%s\" (see noormd --help)\n", arg);
            return CONFIG_ERROR;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        size_t i = 0;
        while (i < CONFIG_NOPTS && !(strlen(config_opts[i].flag) == name_len &&
                                     strncmp(config_opts[i].flag, name, name_len) == 0))
            i++;
        if (i == CONFIG_NOPTS) {
            fprintf(err, "noormd: unknown option --%.*s (see noormd --help)\n", (int)name_len,
                    name);
            return CONFIG_ERROR;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (a + 1 >= argc) {
                fprintf(err, "noormd: --%s needs a value (%s)\n", config_opts[i].flag,
                        config_opts[i].metavar);
                return CONFIG_ERROR;
            }
            value = argv[++a];
        }
        flag_value[i] = value; /* the last occurrence wins */
    }

    char source[96];
    for (size_t i = 0; i < CONFIG_NOPTS; i++) {
        const config_opt_t *o = &config_opts[i];
        const char *env = getenv(o->env);
        const char *value = o->def;
        if (flag_value[i]) {
            value = flag_value[i];
            snprintf(source, sizeof source, "--%s", o->flag);
        } else if (env && *env) {
            value = env;
            snprintf(source, sizeof source, "%s", o->env);
        } else {
            snprintf(source, sizeof source, "default of --%s", o->flag);
        }
        if (config_set(cfg, o, value, source, err) != 0)
            return CONFIG_ERROR;
    }
    /* Rules between options. Another user who can connect can call every
     * method, including the ones that return decrypted OAuth tokens: only
     * on explicit request. */
    if ((cfg->socket_mode & 07) && strcmp(cfg->socket_mode_unsafe, "yes") != 0) {
        fprintf(err,
                "noormd: socket mode %04llo gives other users access to the socket (with "
                "write access, any local user can call every method); use 0660 or 0600, or "
                "add --socket-mode-unsafe yes\n",
                (unsigned long long)cfg->socket_mode);
        return CONFIG_ERROR;
    }
    return CONFIG_OK;
}

size_t config_option_count(void)
{
    return CONFIG_NOPTS;
}

void config_option_info(size_t i, config_info_t *out)
{
    const config_opt_t *o = &config_opts[i];
    out->flag = o->flag;
    out->env = o->env;
    out->def = o->def;
    out->numeric = o->kind == KIND_INT || o->kind == KIND_BYTES || o->kind == KIND_MODE;
    out->octal = o->kind == KIND_MODE;
    out->min = o->min;
    out->max = o->max;
}

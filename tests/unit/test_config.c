/* test_config.c - option parsing: defaults, environment, flags, and every
 * numeric option at its bounds and one past them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* Runs config_load on a NULL-terminated argument list; captures both
 * streams into `msg` (may be NULL). */
static config_result_t load(config_t *cfg, char *msg, size_t msgsz, ...)
{
    char *argv[16] = {"noormd"};
    int argc = 1;
    va_list ap;
    va_start(ap, msgsz);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 15;)
        argv[argc++] = a;
    va_end(ap);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_result_t r = config_load(cfg, argc, argv, f, f);
    fclose(f);
    if (msg)
        snprintf(msg, msgsz, "%s", buf ? buf : "");
    free(buf);
    return r;
}

static void fmt_value(char *out, size_t n, int octal, long long v)
{
    if (octal)
        snprintf(out, n, "%llo", v);
    else
        snprintf(out, n, "%lld", v);
}

static void unset_all_env(void)
{
    for (size_t i = 0; i < config_option_count(); i++) {
        config_info_t info;
        config_option_info(i, &info);
        unsetenv(info.env);
    }
}

static int setup(void **state)
{
    (void)state;
    unset_all_env();
    return 0;
}

static void test_config_defaults_are_the_documented_ones(void **state)
{
    config_t cfg;
    assert_int_equal(load(&cfg, NULL, 0, NULL), CONFIG_OK);
    assert_string_equal(cfg.socket_path, "./var/noormme.sock");
    assert_string_equal(cfg.db_path, "./var/noormme.db");
    assert_string_equal(cfg.synchronous, "full");
    assert_int_equal(cfg.socket_mode, 0660);
    assert_int_equal(cfg.max_message_bytes, 1 << 20);
    assert_int_equal(cfg.max_depth, 32);
    assert_int_equal(cfg.max_connections, 1024);
    assert_int_equal(cfg.output_cap_bytes, 16 << 20);
}

static void test_config_environment_overrides_default_and_flag_overrides_both(void **state)
{
    config_t cfg;
    setenv("NOORMME_SOCKET", "/tmp/env.sock", 1);
    setenv("NOORMME_MAX_CONNECTIONS", "77", 1);
    assert_int_equal(load(&cfg, NULL, 0, NULL), CONFIG_OK);
    assert_string_equal(cfg.socket_path, "/tmp/env.sock");
    assert_int_equal(cfg.max_connections, 77);

    assert_int_equal(load(&cfg, NULL, 0, "--socket", "/tmp/flag.sock", "--max-connections=5", NULL),
                     CONFIG_OK);
    assert_string_equal(cfg.socket_path, "/tmp/flag.sock");
    assert_int_equal(cfg.max_connections, 5);
}

static void test_config_flag_replaces_an_invalid_environment_value(void **state)
{
    config_t cfg;
    setenv("NOORMME_MAX_DEPTH", "40", 1);
    char msg[512];
    assert_int_equal(load(&cfg, msg, sizeof msg, NULL), CONFIG_ERROR);
    assert_non_null(strstr(msg, "NOORMME_MAX_DEPTH"));
    assert_int_equal(load(&cfg, msg, sizeof msg, "--max-depth", "10", NULL), CONFIG_OK);
    assert_int_equal(cfg.max_depth, 10);
    /* --help works whatever the environment holds. */
    assert_int_equal(load(&cfg, msg, sizeof msg, "--help", NULL), CONFIG_EXIT_OK);
    unsetenv("NOORMME_MAX_DEPTH");
}

static void test_config_byte_sizes_accept_suffixes(void **state)
{
    config_t cfg;
    assert_int_equal(load(&cfg, NULL, 0, "--max-message", "64k", "--output-cap", "2m", NULL),
                     CONFIG_OK);
    assert_int_equal(cfg.max_message_bytes, 64 * 1024);
    assert_int_equal(cfg.output_cap_bytes, 2 * 1024 * 1024);
    char msg[512];
    assert_int_equal(load(&cfg, msg, sizeof msg, "--max-message", "64q", NULL), CONFIG_ERROR);
    assert_non_null(strstr(msg, "byte count"));
}

static void test_config_socket_mode_is_octal(void **state)
{
    config_t cfg;
    assert_int_equal(load(&cfg, NULL, 0, "--socket-mode", "0600", NULL), CONFIG_OK);
    assert_int_equal(cfg.socket_mode, 0600);
    char msg[512];
    assert_int_equal(load(&cfg, msg, sizeof msg, "--socket-mode", "0666x", NULL), CONFIG_ERROR);
    assert_non_null(strstr(msg, "octal"));
}

static void test_config_every_numeric_option_accepts_its_bounds_and_refuses_one_past(void **s)
{
    /* The bounds of each option alone: --socket-mode's upper ones need
     * the unsafe flag (test_config_socket_mode_for_others_needs_the_unsafe_flag). */
    setenv("NOORMME_SOCKET_MODE_UNSAFE", "yes", 1);
    for (size_t i = 0; i < config_option_count(); i++) {
        config_info_t info;
        config_option_info(i, &info);
        if (!info.numeric)
            continue;
        char flag[64], val[32], msg[512];
        snprintf(flag, sizeof flag, "--%s", info.flag);
        config_t cfg;

        fmt_value(val, sizeof val, info.octal, (long long)info.min);
        assert_int_equal(load(&cfg, msg, sizeof msg, flag, val, NULL), CONFIG_OK);
        fmt_value(val, sizeof val, info.octal, (long long)info.max);
        assert_int_equal(load(&cfg, msg, sizeof msg, flag, val, NULL), CONFIG_OK);

        fmt_value(val, sizeof val, info.octal, (long long)info.min - 1);
        if (info.min > 0) {
            assert_int_equal(load(&cfg, msg, sizeof msg, flag, val, NULL), CONFIG_ERROR);
            assert_non_null(strstr(msg, "must be between"));
        }
        fmt_value(val, sizeof val, info.octal, (long long)info.max + 1);
        assert_int_equal(load(&cfg, msg, sizeof msg, flag, val, NULL), CONFIG_ERROR);
        assert_non_null(strstr(msg, info.flag));

        /* The environment variable is checked the same way. */
        setenv(info.env, val, 1);
        assert_int_equal(load(&cfg, msg, sizeof msg, NULL), CONFIG_ERROR);
        assert_non_null(strstr(msg, info.env));
        unsetenv(info.env);
    }
    unsetenv("NOORMME_SOCKET_MODE_UNSAFE");
}

/* issue 7 defect 9: a socket mode that lets other users in is a
 * configuration error, unless asked for by name. */
static void test_config_socket_mode_for_others_needs_the_unsafe_flag(void **state)
{
    config_t cfg;
    char msg[512];
    assert_int_equal(load(&cfg, msg, sizeof msg, "--socket-mode", "0660", NULL), CONFIG_OK);
    assert_int_equal(load(&cfg, msg, sizeof msg, "--socket-mode", "0661", NULL), CONFIG_ERROR);
    assert_non_null(strstr(msg, "--socket-mode-unsafe yes"));
    assert_int_equal(load(&cfg, msg, sizeof msg, "--socket-mode", "0666", NULL), CONFIG_ERROR);
    assert_int_equal(
        load(&cfg, msg, sizeof msg, "--socket-mode", "0666", "--socket-mode-unsafe", "yes", NULL),
        CONFIG_OK);
    assert_int_equal(
        load(&cfg, msg, sizeof msg, "--socket-mode", "0666", "--socket-mode-unsafe", "no", NULL),
        CONFIG_ERROR);
}

static void test_config_choices_are_checked(void **state)
{
    config_t cfg;
    assert_int_equal(load(&cfg, NULL, 0, "--synchronous", "normal", NULL), CONFIG_OK);
    assert_string_equal(cfg.synchronous, "normal");
    char msg[512];
    assert_int_equal(load(&cfg, msg, sizeof msg, "--synchronous", "off", NULL), CONFIG_ERROR);
    assert_non_null(strstr(msg, "full|normal"));
}

static void test_config_unknown_option_and_missing_value_are_errors(void **state)
{
    config_t cfg;
    char msg[512];
    assert_int_equal(load(&cfg, msg, sizeof msg, "--sokcet", "x", NULL), CONFIG_ERROR);
    assert_non_null(strstr(msg, "unknown option --sokcet"));
    assert_int_equal(load(&cfg, msg, sizeof msg, "--db", NULL), CONFIG_ERROR);
    assert_non_null(strstr(msg, "needs a value"));
    assert_int_equal(load(&cfg, msg, sizeof msg, "stray", NULL), CONFIG_ERROR);
}

static void test_config_help_lists_every_flag_and_environment_variable(void **state)
{
    config_t cfg;
    char *msg = calloc(1, 16384);
    assert_int_equal(load(&cfg, msg, 16384, "--help", NULL), CONFIG_EXIT_OK);
    for (size_t i = 0; i < config_option_count(); i++) {
        config_info_t info;
        config_option_info(i, &info);
        char flag[64];
        snprintf(flag, sizeof flag, "--%s ", info.flag);
        assert_non_null(strstr(msg, flag));
        assert_non_null(strstr(msg, info.env));
    }
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_config_defaults_are_the_documented_ones, setup),
        cmocka_unit_test_setup(test_config_environment_overrides_default_and_flag_overrides_both,
                               setup),
        cmocka_unit_test_setup(test_config_flag_replaces_an_invalid_environment_value, setup),
        cmocka_unit_test_setup(test_config_byte_sizes_accept_suffixes, setup),
        cmocka_unit_test_setup(test_config_socket_mode_is_octal, setup),
        cmocka_unit_test_setup(test_config_socket_mode_for_others_needs_the_unsafe_flag, setup),
        cmocka_unit_test_setup(
            test_config_every_numeric_option_accepts_its_bounds_and_refuses_one_past, setup),
        cmocka_unit_test_setup(test_config_choices_are_checked, setup),
        cmocka_unit_test_setup(test_config_unknown_option_and_missing_value_are_errors, setup),
        cmocka_unit_test_setup(test_config_help_lists_every_flag_and_environment_variable, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

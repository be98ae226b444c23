/* testsrv.h - runs a real noormd (or noormd-test) process for an integration
 * test: a private mode-0700 directory holds its socket, database and log;
 * start waits (bounded) until the socket accepts; stop sends SIGTERM and
 * reaps with a timeout; teardown kills what is left, reports sanitizer
 * findings from the log, and removes the directory.
 *
 * Every wait here is bounded, so a hung server fails the test instead of
 * hanging it. The server is started with PR_SET_PDEATHSIG, so a test process
 * killed by its ctest timeout takes its server with it.
 */
#ifndef NOORMME_TESTSRV_H
#define NOORMME_TESTSRV_H

#include <stdbool.h>
#include <sys/types.h>

#define TESTSRV_MAX_ARGS 24
#define TESTSRV_MAX_ENV  8
#define TESTSRV_PATH_MAX 200

/* How long start waits for the socket, and stop for the exit, by default. */
#define TESTSRV_READY_TIMEOUT_MS 15000
#define TESTSRV_EXIT_TIMEOUT_MS  10000

/* The master key every test server gets (base64 of "0123456789abcdef" twice).
 * Tests that need another key pass their own --key-file after it. */
#define TESTSRV_KEY_B64 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

/* Result of testsrv_wait_exit when the process is still running. */
#define TESTSRV_STILL_RUNNING (-1)

typedef struct {
    pid_t pid;                          /* running server, or 0 */
    char bin[512];                      /* binary to run */
    char dir[TESTSRV_PATH_MAX];         /* private directory, "" before init */
    char socket_path[TESTSRV_PATH_MAX]; /* dir/noormd.sock (--socket) */
    char db_path[TESTSRV_PATH_MAX];     /* dir/noormd.db (--db) */
    char key_path[TESTSRV_PATH_MAX]; /* dir/noormd.key (--key-file): TESTSRV_KEY_B64, mode 0600 */
    char log_path[TESTSRV_PATH_MAX]; /* dir/noormd.log: the server's stdout and stderr */
    int nargs;                       /* extra arguments in use */
    char *args[TESTSRV_MAX_ARGS];    /* extra arguments, owned copies */
    int nenv;                        /* environment overrides in use */
    char *env[TESTSRV_MAX_ENV];      /* "NAME=value" to set, or "NAME" to remove; owned */
    int last_status;                 /* exit status seen by the last wait, or -1 */
} testsrv_t;

/* Prepares `s` without starting anything: creates a fresh private directory
 * (mkdtemp, mode 0700) and fills in the paths. `bin` is the server binary
 * (usually NOORMD_TEST_BIN or NOORMD_BIN); `args` is a NULL-terminated list
 * of extra command-line arguments (may be NULL), copied. Extra arguments
 * come after --socket, --db and --key-file, so they override them. Returns 0, or -1 with
 * a message on stderr. Whatever the result, call testsrv_destroy(). */
int testsrv_init(testsrv_t *s, const char *bin, const char *const *args);

/* Sets (or, when `value` is NULL, removes) the variable `name` in the
 * environment of every server launched from `s` from now on; the test's own
 * environment is left alone. Call after testsrv_init. Setting a name again
 * replaces the earlier override. Returns 0, or -1 (printed) when more than
 * TESTSRV_MAX_ENV names are overridden or memory runs out. */
int testsrv_set_env(testsrv_t *s, const char *name, const char *value);

/* Starts the process (fork + exec) with its working directory set to the
 * private directory and its stdout and stderr appended to log_path. Does
 * not wait for the socket. Returns 0, or -1 when fork fails or a server is
 * already running. */
int testsrv_launch(testsrv_t *s);

/* Waits until a connection to socket_path succeeds, for at most
 * `timeout_ms`. Returns 0; or -1 when the process exited first or the time
 * ran out, after printing the log to stderr. The probe connection is closed
 * at once. */
int testsrv_wait_ready(testsrv_t *s, int timeout_ms);

/* testsrv_init + testsrv_launch + testsrv_wait_ready with the default
 * timeout. Returns 0 (call testsrv_destroy() or testsrv_finish() later), or
 * -1 after cleaning up itself (a cmocka setup that fails gets no teardown);
 * calling testsrv_destroy() again is harmless. */
int testsrv_start(testsrv_t *s, const char *bin, const char *const *args);

/* Starts the same binary with the same arguments again in the same
 * directory (same socket and database), after the previous process has
 * exited, and waits for the socket. Returns 0 or -1. */
int testsrv_restart(testsrv_t *s);

/* Sends `sig` to the running server. Returns 0, or -1 when none runs. */
int testsrv_signal(testsrv_t *s, int sig);

/* Waits at most `timeout_ms` for the server to exit and reaps it. Returns
 * its exit code (0..255), 128 + the signal number when a signal killed it,
 * or TESTSRV_STILL_RUNNING on timeout (the process is left running). When
 * no process runs, returns the status of the last one reaped (-1 if none). */
int testsrv_wait_exit(testsrv_t *s, int timeout_ms);

/* SIGTERM, then testsrv_wait_exit(s, timeout_ms). Same results. */
int testsrv_stop(testsrv_t *s, int timeout_ms);

/* Tears down: kills a still-running server with SIGKILL and reaps it, checks
 * the log for AddressSanitizer, LeakSanitizer and UBSan reports (printing
 * the log when one is found), removes the directory and frees the argument
 * copies. Safe on a zeroed or half-initialised `s`, and twice. Returns 0, or
 * -1 when the server had to be killed or its log holds a sanitizer report;
 * each -1 also counts in testsrv_problems(). */
int testsrv_destroy(testsrv_t *s);

/* The clean end of a test's server: testsrv_stop with the default timeout,
 * requiring exit status 0, then testsrv_destroy. Returns 0, or -1 (counted
 * in testsrv_problems(), with the log printed) for any other outcome. Meant
 * for teardown functions. */
int testsrv_finish(testsrv_t *s);

/* Problems found by testsrv_destroy/testsrv_finish in this process so far.
 * cmocka ignores a failing group teardown, so a test's main() adds this to
 * its failure count. */
int testsrv_problems(void);

/* The whole log file as a NUL-terminated string (at most 16 MiB), or NULL
 * when it cannot be read. The caller frees it with free(). */
char *testsrv_read_log(const testsrv_t *s);

/* True when the log file contains `needle`. */
bool testsrv_log_contains(const testsrv_t *s, const char *needle);

/* Writes the log to stderr, framed with the server's directory name. */
void testsrv_print_log(const testsrv_t *s);

/* Milliseconds on the monotonic clock, for test timing. */
long long testsrv_now_ms(void);

/* Sleeps `ms` milliseconds. */
void testsrv_sleep_ms(int ms);

#endif

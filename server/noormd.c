/* noormd.c - start-up and exit: configuration, ownership of the database,
 * socket, key, migrations, method table, executors (writer and reader
 * pool), then the event loop; on the way out everything in reverse. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "crypto.h"
#include "cmd.h"
#include "dispatch.h"
#include "log.h"
#include "net.h"
#include "noormd.h"
#include "pool.h"
#include "proto_errors.h"
#include "server.h"
#include "store.h"
#include "version.h"
#include "writer.h"

/* File descriptors noormd needs beside one per connection: the database
 * and its -wal, -shm and lock files, the listener and its spare, libuv's
 * own (epoll, signals, wake-up), stdio, the reader pool's connections, and
 * the refused connections held while they are told why (at most 64,
 * NET_REFUSED_MAX in net/listen.c). */
#define FD_RESERVE 128

/* Raises the soft RLIMIT_NOFILE to the hard limit, then checks that it holds
 * `max_connections` connections plus FD_RESERVE plus `pool` (three files
 * per pool connection): past the limit, accept fails with EMFILE and
 * clients are turned away. Returns 0, or a negative code with the reason
 * in `err`. */
static int fit_fd_limit(int64_t max_connections, long pool, proto_err_t *err)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return proto_err_set(err, PROTO_E_INTERNAL, "getrlimit(RLIMIT_NOFILE): %s",
                             strerror(errno));
    rlim_t reserve = FD_RESERVE + 3 * (rlim_t)pool;
    rlim_t need = (rlim_t)max_connections + reserve;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
        struct rlimit raised = {rl.rlim_max, rl.rlim_max};
        /* An unlimited hard limit cannot be the soft one (Linux caps it at
         * fs.nr_open): then ask for what is needed. */
        if (setrlimit(RLIMIT_NOFILE, &raised) != 0 && need > rl.rlim_cur) {
            raised.rlim_cur = need;
            if (setrlimit(RLIMIT_NOFILE, &raised) != 0)
                raised.rlim_cur = rl.rlim_cur;
        }
        rl.rlim_cur = raised.rlim_cur;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return 0;
    char fit[64] = "";
    if (rl.rlim_cur > reserve)
        snprintf(fit, sizeof fit, " or lower --max-connections to %llu",
                 (unsigned long long)(rl.rlim_cur - reserve));
    return proto_err_set(err, PROTO_E_INTERNAL,
                         "--max-connections %lld needs %llu file descriptors but RLIMIT_NOFILE "
                         "is %llu (hard limit %llu): raise it (ulimit -n, systemd LimitNOFILE=)%s",
                         (long long)max_connections, (unsigned long long)need,
                         (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, fit);
}

/* The reader pool's size: --pool-threads, or one per online core. */
static long pool_size(const config_t *cfg)
{
    long threads = cfg->pool_threads;
    if (threads == 0)
        threads = sysconf(_SC_NPROCESSORS_ONLN);
    return threads < 1 ? 1 : threads;
}

static int fail(const char *event, const proto_err_t *err)
{
    char q[320];
    log_event(LOG_ERROR, event, " code=%s message=%s", proto_error_name(err->code),
              log_quote(q, sizeof q, err->message, strlen(err->message)));
    return 1;
}

int noormd_main(int argc, char **argv, noormd_hook_fn hook)
{
    server_t srv;
    memset(&srv, 0, sizeof srv);
    switch (config_load(&srv.cfg, argc, argv, stdout, stderr)) {
    case CONFIG_EXIT_OK: return 0;
    case CONFIG_ERROR: return 2;
    case CONFIG_OK: break;
    }
    log_level_t level = LOG_INFO;
    log_parse_level(srv.cfg.log_level, &level);
    log_set_level(level);

    /* A peer that disconnects mid-write must not kill the server, and a
     * crash must not leave keys or tokens in a core file. */
    signal(SIGPIPE, SIG_IGN);
    /* Everything noormd creates (database, WAL, lock file) is private to
     * its user; the socket gets --socket-mode through the umask at bind. */
    umask(077);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    /* Also: no ptrace attach or /proc/PID/mem by other non-root users. */
    prctl(PR_SET_DUMPABLE, 0);

    srv.started_ns = stats_now_ns();
    int status = 1;
    proto_err_t err;
    net_t *net = NULL;
    store_t *writer_store = NULL;
    int lock_fd = -1;
    store_options_t so = {
        .path = srv.cfg.db_path,
        .synchronous_full = strcmp(srv.cfg.synchronous, "full") == 0,
        .busy_timeout_ms = (int)srv.cfg.busy_timeout_ms,
        .wal_limit_bytes = srv.cfg.wal_limit_bytes,
    };

    char qs[320], qd[320];
    log_event(LOG_INFO, "starting", " version=%s sqlite=%s socket=%s db=%s synchronous=%s",
              NOORMME_VERSION, store_sqlite_version(),
              log_quote(qs, sizeof qs, srv.cfg.socket_path, strlen(srv.cfg.socket_path)),
              log_quote(qd, sizeof qd, srv.cfg.db_path, strlen(srv.cfg.db_path)),
              srv.cfg.synchronous);

    if (srv.cfg.socket_mode & 07)
        log_event(LOG_WARN, "socket_mode_unsafe", " mode=%04llo",
                  (unsigned long long)srv.cfg.socket_mode);

    long threads = pool_size(&srv.cfg);
    if (fit_fd_limit(srv.cfg.max_connections, threads, &err) != 0) {
        status = fail("start_failed", &err);
        goto out;
    }

    /* Ownership first: a second server for the same database is refused
     * before it touches the socket or the database. */
    if (store_lock(srv.cfg.db_path, &lock_fd, &err) != 0) {
        status = fail("db_locked", &err);
        goto out;
    }
    net = net_new(&srv, &err);
    if (!net) {
        status = fail("listen_failed", &err);
        goto out;
    }
    if (crypto_load(srv.cfg.key_file, getenv("NOORMME_KEY"), &srv.crypto, &err) != 0) {
        status = fail("key_refused", &err);
        goto out;
    }
    /* The key is in guarded memory now; do not leave it in the environment
     * where child processes or /proc readers could find it. unsetenv alone
     * only drops the pointer: /proc/<pid>/environ still shows the original
     * bytes, so they are wiped first. */
    char *env_key = getenv("NOORMME_KEY");
    if (env_key)
        explicit_bzero(env_key, strlen(env_key));
    unsetenv("NOORMME_KEY");
    if (store_open_writer(&so, &writer_store, &err) != 0) {
        status = fail("db_open_failed", &err);
        goto out;
    }
    if (store_migrate(writer_store, store_embedded_migrations, store_embedded_migrations_count,
                      &err) != 0) {
        status = fail("migration_failed", &err);
        goto out;
    }
    if (dispatch_register(&srv, cmd_builtin_methods, cmd_builtin_method_count) != 0) {
        proto_err_set(&err, PROTO_E_INTERNAL, "the built-in method table is invalid");
        status = fail("start_failed", &err);
        goto out;
    }
    if (hook && hook(&srv, writer_store, &err) != 0) {
        status = fail("start_failed", &err);
        goto out;
    }
    if (store_open_reader(&so, &srv.reader, &err) != 0) {
        status = fail("db_open_failed", &err);
        goto out;
    }
    if (dispatch_init(&srv) != 0) {
        proto_err_set(&err, PROTO_E_INTERNAL, "out of memory");
        status = fail("start_failed", &err);
        goto out;
    }
    srv.done = exec_done_new(net_wake, net);
    if (!srv.done) {
        proto_err_set(&err, PROTO_E_INTERNAL, "out of memory");
        status = fail("start_failed", &err);
        goto out;
    }
    if (pool_start(&so, (int)threads, srv.done, &srv.pool, &err) != 0) {
        status = fail("start_failed", &err);
        goto out;
    }
    writer_options_t wo = {.batch_max = (int)srv.cfg.batch_max,
                           .checkpoint_idle_ms = (int)srv.cfg.checkpoint_idle_ms};
    srv.writer = writer_start(writer_store, &wo, srv.done);
    if (!srv.writer) {
        proto_err_set(&err, PROTO_E_INTERNAL, "cannot start the writer thread");
        status = fail("start_failed", &err);
        goto out;
    }
    status = net_run(net); /* stops the writer and the pool before it returns */

out:
    /* Start-up failures after the executors started: stop them first. */
    pool_stop(srv.pool);
    writer_stop(srv.writer);
    net_free(net);
    for (exec_job_t *j = srv.done ? exec_done_take(srv.done) : NULL, *next; j; j = next) {
        next = j->next;
        dispatch_job_finish(&srv, j, NULL);
    }
    exec_done_free(srv.done);
    /* Readers close before the writer so the writer's close is the last and
     * leaves no WAL behind. */
    store_close(srv.reader);
    store_close(writer_store);
    store_unlock(lock_fd);
    crypto_free(srv.crypto);
    dispatch_deinit(&srv);
    if (status == 0)
        log_event(LOG_INFO, "exit", " status=0");
    return status;
}

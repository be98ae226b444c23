/* noormd.c - start-up and exit: configuration, ownership of the database,
 * socket, key, migrations, method table, executors (writer and reader
 * pool), then the event loop; on the way out everything in reverse. */
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
     * its user; the socket gets --socket-mode explicitly. */
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
    long threads = srv.cfg.pool_threads;
    if (threads == 0)
        threads = sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
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

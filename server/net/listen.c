/* listen.c - the listening socket: creating it safely, accepting at most
 * NET_ACCEPT_BUDGET connections per loop turn, and refusing the ones the
 * server cannot serve so that their clients know nothing ran. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "net_internal.h"
#include "proto_errors.h"

/* Accepting: connections taken from the backlog per readiness of the
 * listener. The rest wait for the next loop iteration, so a connect/close
 * flood cannot keep the loop from reading the connections already open. */
#define NET_ACCEPT_BUDGET   64
/* After accept failed for lack of resources, accepting resumes this much
 * later instead of retrying in a busy loop. */
#define NET_ACCEPT_PAUSE_MS 100

/* Refused connections (TOO_MANY_CONNECTIONS, SHUTTING_DOWN) stay open after
 * their notification, read and ignored, until the client closes, for at most
 * NET_REFUSED_HOLD_MS or NET_REFUSED_DISCARD_MAX bytes: closing at once
 * would reset a client whose request was already on its way, and it could
 * not tell whether that request ran. At most NET_REFUSED_MAX are held at
 * once; more are told and closed at once. noormd.c's descriptor reserve counts
 * them. */
#define NET_REFUSED_MAX         64
#define NET_REFUSED_HOLD_MS     1000
#define NET_REFUSED_DISCARD_MAX (64 * 1024)

/* A connection that was told why it is refused and is held until its
 * client closes (see NET_REFUSED_MAX). Nothing it sends is looked at. */
struct refused {
    uv_pipe_t pipe;         /* the socket; pipe.data points back here */
    net_t *net;             /* owner */
    refused_t *prev, *next; /* held refusals, oldest first */
    uint64_t deadline_ms;   /* uv_now by which it is closed anyway */
    size_t discarded;       /* bytes read and ignored */
    bool closing;           /* uv_close called */
};

static void on_connection(uv_poll_t *p, int status, int events);

static void refused_close_cb(uv_handle_t *h)
{
    free(h->data);
}

/* Stops holding `r`: unlinks it and closes its socket. */
static void refused_close(refused_t *r)
{
    if (r->closing)
        return;
    r->closing = true;
    net_t *n = r->net;
    if (r->prev)
        r->prev->next = r->next;
    else
        n->refused = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        n->refused_last = r->prev;
    n->nrefused--;
    uv_close((uv_handle_t *)&r->pipe, refused_close_cb);
}

/* Closes the held refusals whose deadline has come; rearms for the next.
 * They are held for the same time, so the oldest is always first. */
static void refused_timer_cb(uv_timer_t *t)
{
    net_t *n = t->data;
    uint64_t now = net_now_ms(n);
    while (n->refused && n->refused->deadline_ms <= now)
        refused_close(n->refused);
    if (n->refused)
        uv_timer_start(&n->refused_timer, refused_timer_cb, n->refused->deadline_ms - now, 0);
}

static void refused_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    refused_t *r = h->data;
    *buf = uv_buf_init((char *)r->net->discard, sizeof r->net->discard);
}

/* Ignores what a refused client sends; lets go at its EOF or past the cap. */
static void refused_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    refused_t *r = s->data;
    if (nread < 0) {
        refused_close(r);
        return;
    }
    r->discarded += (size_t)nread;
    if (r->discarded > NET_REFUSED_DISCARD_MAX)
        refused_close(r);
}

/* Tells the client on the accepted socket `fd` why it cannot be served
 * (`code`, as a server.error notification), then ends the server's side of
 * the stream. When `hold` and fewer than NET_REFUSED_MAX are held, the
 * socket stays open, its input read and ignored, until the client closes
 * or the hold ends; otherwise it is closed at once. Takes `fd` in every
 * case. */
static void refuse(net_t *n, int fd, int code, bool hold)
{
    proto_buf_t msg;
    proto_buf_init(&msg);
    dispatch_pack_fatal(&msg, code, NULL);
    /* A fresh socket's buffer takes these few bytes whole. */
    bool told = !msg.failed && send(fd, msg.data, msg.len, MSG_NOSIGNAL) == (ssize_t)msg.len;
    proto_buf_deinit(&msg);
    refused_t *r = NULL;
    if (told && hold && n->nrefused < NET_REFUSED_MAX && shutdown(fd, SHUT_WR) == 0)
        r = calloc(1, sizeof *r);
    if (!r) {
        close(fd);
        return;
    }
    r->net = n;
    uv_pipe_init(&n->loop, &r->pipe, 0);
    r->pipe.data = r;
    if (uv_pipe_open(&r->pipe, fd) != 0) {
        close(fd);
        r->closing = true; /* never linked */
        uv_close((uv_handle_t *)&r->pipe, refused_close_cb);
        return;
    }
    r->deadline_ms = net_now_ms(n) + NET_REFUSED_HOLD_MS;
    r->prev = n->refused_last;
    if (n->refused_last)
        n->refused_last->next = r;
    else
        n->refused = r;
    n->refused_last = r;
    if (n->nrefused++ == 0)
        uv_timer_start(&n->refused_timer, refused_timer_cb, NET_REFUSED_HOLD_MS, 0);
    uv_read_start((uv_stream_t *)&r->pipe, refused_alloc_cb, refused_read_cb);
}

/* Serves the accepted socket `fd`, or refuses it. Takes `fd` on every path:
 * it becomes a connection's handle or is closed, so no failure here can
 * leave a connection waiting or the listener stuck. */
static void net_admit(net_t *n, int fd)
{
    server_t *srv = n->srv;
    if (n->stopping) {
        /* The listener stays open until the database is released, so say
         * why instead. */
        refuse(n, fd, PROTO_E_SHUTTING_DOWN, true);
        return;
    }
    if (srv->conns.current >= (uint64_t)srv->cfg.max_connections) {
        refuse(n, fd, PROTO_E_TOO_MANY_CONNECTIONS, true);
        srv->conns.refused++;
        log_event(LOG_WARN, "connection_refused", " reason=max_connections max=%lld",
                  (long long)srv->cfg.max_connections);
        return;
    }
    conn_open(n, fd);
}

static void accept_resume_cb(uv_timer_t *t)
{
    net_t *n = t->data;
    if (n->spare_fd < 0)
        n->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (n->listening)
        uv_poll_start(&n->listener, UV_READABLE, on_connection);
}

/* Stops accepting for NET_ACCEPT_PAUSE_MS: the connections wait in the
 * backlog instead of the loop spinning on a failing accept. */
static void accept_pause(net_t *n)
{
    uv_poll_stop(&n->listener);
    uv_timer_start(&n->accept_pause, accept_resume_cb, NET_ACCEPT_PAUSE_MS, 0);
}

/* accept failed with EMFILE or ENFILE (`e`). Gives up the spare descriptor
 * to accept one connection and tell it TOO_MANY_CONNECTIONS, so that it is
 * neither left waiting nor closed without a word. Returns true when that
 * worked and accepting may go on. */
static bool accept_without_fds(net_t *n, int e)
{
    server_t *srv = n->srv;
    int fd = -1;
    if (n->spare_fd >= 0) {
        close(n->spare_fd);
        n->spare_fd = -1;
        do
            fd = accept4(n->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        while (fd < 0 && errno == EINTR);
        if (fd >= 0) {
            refuse(n, fd, PROTO_E_TOO_MANY_CONNECTIONS, false);
            srv->conns.emfile++;
        }
        n->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    /* One line per second at most: a flood must not flood the log too. */
    uint64_t now = net_now_ms(n);
    if (n->emfile_logged_ms == 0 || now - n->emfile_logged_ms >= 1000) {
        n->emfile_logged_ms = now;
        log_event(LOG_WARN, "connection_refused", " reason=%s refused=%llu open=%llu",
                  e == EMFILE ? "emfile" : "enfile", (unsigned long long)srv->conns.emfile,
                  (unsigned long long)srv->conns.current);
    }
    if (fd >= 0 && n->spare_fd >= 0)
        return true;
    accept_pause(n);
    return false;
}

/* The listener is readable: accepts up to NET_ACCEPT_BUDGET connections.
 * Whatever is left in the backlog keeps the (level-triggered) listener
 * readable, so the next loop iteration continues after the connections
 * already open have been read. */
static void on_connection(uv_poll_t *p, int status, int events)
{
    (void)events;
    net_t *n = p->data;
    if (status < 0) {
        log_event(LOG_WARN, "accept_failed", " error=%s", uv_err_name(status));
        accept_pause(n);
        return;
    }
    for (int i = 0; i < NET_ACCEPT_BUDGET; i++) {
        int fd = accept4(n->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            net_admit(n, fd);
            continue;
        }
        int e = errno;
        if (e == EINTR || e == ECONNABORTED)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK)
            return;
        if (e == EMFILE || e == ENFILE) {
            if (!accept_without_fds(n, e))
                return;
            continue;
        }
        log_event(LOG_WARN, "accept_failed", " error=%s", uv_err_name(uv_translate_sys_error(e)));
        accept_pause(n);
        return;
    }
}

void listener_close(net_t *n)
{
    if (n->listening) {
        uv_close((uv_handle_t *)&n->listener, NULL);
        n->listening = false;
    }
    /* Safe once the poll handle is closing (libuv's uv_poll contract). */
    if (n->listen_fd >= 0) {
        close(n->listen_fd);
        n->listen_fd = -1;
    }
    while (n->refused)
        refused_close(n->refused);
    net_close_if_open((uv_handle_t *)&n->refused_timer);
    net_close_if_open((uv_handle_t *)&n->accept_pause);
    if (n->spare_fd >= 0) {
        close(n->spare_fd);
        n->spare_fd = -1;
    }
}

void listener_unlink(net_t *n)
{
    if (n->bound) {
        unlink(n->srv->cfg.socket_path);
        n->bound = false;
    }
}

/* Refuses a socket directory that every user may write to and that has no
 * sticky bit: there anyone could rename the socket away and bind their own
 * in its place, and clients would send it their requests. A directory that
 * cannot be looked at is left for bind to report. */
static int check_socket_dir(const char *path, proto_err_t *err)
{
    char dir[sizeof((struct sockaddr_un *)0)->sun_path]; /* path fits: checked by the caller */
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    }
    struct stat st;
    if (stat(dir, &st) != 0)
        return 0;
    if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
        return proto_err_set(err, PROTO_E_INTERNAL,
                             "the socket's directory %s is world-writable without the sticky "
                             "bit, so any user could replace the socket; chmod o-w or +t it, or "
                             "choose another --socket",
                             dir);
    return 0;
}

/* Refuses an unsafe directory, a live socket or a non-socket file; removes
 * a stale socket. */
static int prepare_path(const char *path, proto_err_t *err)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof sa.sun_path)
        return proto_err_set(err, PROTO_E_INTERNAL,
                             "socket path %s is too long (at most %zu bytes)", path,
                             sizeof sa.sun_path - 1);
    if (check_socket_dir(path, err) != 0)
        return -1;
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0
                               : proto_err_set(err, PROTO_E_INTERNAL, "cannot inspect %s: %s", path,
                                               strerror(errno));
    if (!S_ISSOCK(st.st_mode))
        return proto_err_set(err, PROTO_E_INTERNAL,
                             "%s exists and is not a socket; refusing to replace it", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return proto_err_set(err, PROTO_E_INTERNAL, "socket: %s", strerror(errno));
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (rc == 0)
        return proto_err_set(err, PROTO_E_INTERNAL,
                             "another server is already listening on %s; stop it or choose "
                             "another --socket",
                             path);
    if (e != ECONNREFUSED)
        return proto_err_set(err, PROTO_E_INTERNAL, "cannot probe existing socket %s: %s", path,
                             strerror(e));
    if (unlink(path) != 0)
        return proto_err_set(err, PROTO_E_INTERNAL, "cannot remove stale socket %s: %s", path,
                             strerror(errno));
    log_event(LOG_WARN, "stale_socket_removed", NULL);
    return 0;
}

/* Creates the socket at `path` (already checked by prepare_path) with file
 * mode `mode`, into n->listen_fd, bound but not yet listening; sets
 * n->bound once the file exists. The mode comes from the umask at bind
 * alone: the file never exists with wider permissions, and nothing changes
 * it afterwards (a chmod by path follows a symbolic link put in the
 * socket's place). Returns 0, or -1 with the reason in `err`. */
static int bind_socket(net_t *n, const char *path, mode_t mode, proto_err_t *err)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return proto_err_set(err, PROTO_E_INTERNAL, "socket: %s", strerror(errno));
    n->listen_fd = fd;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* The umask is per process: no other thread runs yet. */
    mode_t old = umask((mode_t)(~mode & 0777));
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    umask(old);
    if (rc != 0)
        return proto_err_set(err, PROTO_E_INTERNAL, "cannot listen on %s: %s%s", path, strerror(e),
                             e == ENOENT || e == EACCES
                                 ? " (does its directory exist, and may this user write to it?)"
                                 : "");
    n->bound = true;
    /* A default ACL on the directory replaces the umask: check the result
     * instead of trusting it. */
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != mode)
        return proto_err_set(err, PROTO_E_INTERNAL,
                             "socket %s did not get mode %04o (is there a default ACL on its "
                             "directory?)",
                             path, (unsigned)mode);
    return 0;
}

void listener_init(net_t *n)
{
    n->listen_fd = n->spare_fd = -1;
    uv_timer_init(&n->loop, &n->accept_pause);
    uv_timer_init(&n->loop, &n->refused_timer);
    n->accept_pause.data = n->refused_timer.data = n;
}

int listener_bind(net_t *n, proto_err_t *err)
{
    const char *path = n->srv->cfg.socket_path;
    int rc = prepare_path(path, err);
    return rc != 0 ? rc : bind_socket(n, path, (mode_t)n->srv->cfg.socket_mode, err);
}

int listener_start(net_t *n, proto_err_t *err)
{
    /* Given up when accept runs out of descriptors (accept_without_fds). */
    n->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int rc = listen(n->listen_fd, 511) == 0 ? 0 : uv_translate_sys_error(errno);
    if (rc == 0)
        rc = uv_poll_init(&n->loop, &n->listener, n->listen_fd);
    if (rc == 0) {
        n->listening = true;
        n->listener.data = n;
        rc = uv_poll_start(&n->listener, UV_READABLE, on_connection);
    }
    if (rc != 0)
        return proto_err_set(err, PROTO_E_INTERNAL, "cannot listen on %s: %s",
                             n->srv->cfg.socket_path, uv_strerror(rc));
    return 0;
}

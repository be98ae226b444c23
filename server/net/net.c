/* net.c - the libuv loop, connections and their limits, the completion
 * handle, timers and shutdown (the listening socket is listen.c's).
 *
 * Per connection, bytes flow: libuv read -> proto_scan_feed (validate, find
 * the message end) -> dispatch_message (decode, check, run or queue) -> reply
 * bytes appended to conn->out -> one write per burst. Limits are enforced at
 * fixed points: max connections at accept (listen.c), message size and depth
 * in the scanner, requests per loop turn (slices), unread replies after
 * every request (pause, output cap), the memory budget when a buffer grows,
 * and the partial-message, output and idle deadlines in the sweep timer.
 */
#include "net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "log.h"
#include "net_internal.h"
#include "pool.h"
#include "proto_errors.h"
#include "proto_scan.h"

/* Messages handled per connection per loop iteration: a client pipelining
 * thousands of requests gets them served in slices between everyone
 * else's, not all at once. */
#define NET_SLICE    64
/* Replies waiting for a client past which the server stops reading its
 * requests until it reads its replies (they then wait in the kernel). */
#define NET_OUT_HIGH (256 * 1024)

typedef struct {
    uv_write_t req;  /* libuv request */
    conn_t *conn;    /* connection written to */
    proto_buf_t buf; /* bytes being written, owned here */
} net_write_t;

static void conn_flush(conn_t *c);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void ready_push(conn_t *c);
static void slices_cb(uv_idle_t *h);

uint64_t net_now_ms(net_t *n)
{
    return uv_now(&n->loop);
}

/* Charges what c's buffers hold now to the memory budget. */
static void conn_charge(conn_t *c)
{
    server_t *srv = c->net->srv;
    uint64_t now = c->in_cap + c->out.cap + c->out_inflight_cap;
    srv->mem.buffers = srv->mem.buffers - c->charged + now;
    srv->mem.used = srv->mem.used - c->charged + now;
    c->charged = now;
}

static void conn_unref(conn_t *c)
{
    if (--c->refs > 0)
        return;
    c->in_cap = c->out.cap = c->out_inflight_cap = 0;
    conn_charge(c);
    free(c->in);
    proto_buf_deinit(&c->out);
    free(c);
}

static void net_maybe_finish(net_t *n);

static void conn_close_cb(uv_handle_t *h)
{
    conn_t *c = h->data;
    net_t *n = c->net;
    conn_unref(c);
    net_maybe_finish(n);
}

static void conn_close(conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    net_t *n = c->net;
    if (c->prev)
        c->prev->next = c->next;
    else
        n->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    n->srv->conns.current--;
    log_event(LOG_DEBUG, "connection_closed", " open=%llu",
              (unsigned long long)n->srv->conns.current);
    uv_close((uv_handle_t *)&c->pipe, conn_close_cb);
}

/* Sends one protocol error and closes once it is written. */
static void conn_fail(conn_t *c, int code, const char *message)
{
    log_event(LOG_WARN, "connection_dropped", " reason=%s", proto_error_name(code));
    c->net->srv->conns.dropped++;
    dispatch_pack_fatal(&c->out, code, message);
    c->close_after_flush = true;
    uv_read_stop((uv_stream_t *)&c->pipe);
    conn_flush(c);
}

static void write_cb(uv_write_t *req, int status)
{
    net_write_t *w = (net_write_t *)req;
    conn_t *c = w->conn;
    c->out_inflight -= w->buf.len;
    c->out_inflight_cap = 0;
    proto_buf_deinit(&w->buf);
    free(w);
    if (status < 0) {
        conn_close(c);
        conn_charge(c);
        return;
    }
    c->stall_since_ms = net_now_ms(c->net);
    conn_flush(c);
}

/* Hands conn->out to the socket: a direct write when nothing is queued, the
 * remainder as one uv_write. Enforces the output cap and closes a connection
 * whose work is done. */
static void conn_flush(conn_t *c)
{
    if (c->closing)
        return;
    net_t *n = c->net;
    if (c->out.failed) {
        log_event(LOG_ERROR, "connection_dropped", " reason=out_of_memory");
        n->srv->conns.dropped++;
        conn_close(c);
        return;
    }
    if (c->out.len > 0 && c->out_inflight == 0) {
        uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
        int w = uv_try_write((uv_stream_t *)&c->pipe, &b, 1);
        if (w < 0 && w != UV_EAGAIN) {
            conn_close(c);
            return;
        }
        if (w > 0) {
            memmove(c->out.data, c->out.data + w, c->out.len - (size_t)w);
            c->out.len -= (size_t)w;
            c->last_active_ms = net_now_ms(n);
            c->stall_since_ms = c->last_active_ms;
        }
    }
    if (c->out.len + c->out_inflight == 0)
        c->stall_since_ms = 0;
    else if (c->stall_since_ms == 0)
        c->stall_since_ms = net_now_ms(n);
    if (c->out.len + c->out_inflight > (size_t)n->srv->cfg.output_cap_bytes) {
        /* The client is not reading its replies: drop it before it costs
         * more memory. No error can reach a client that does not read. */
        log_event(LOG_WARN, "connection_dropped", " reason=output_cap queued=%zu",
                  c->out.len + c->out_inflight);
        n->srv->conns.dropped++;
        conn_close(c);
        return;
    }
    if (c->out.len > 0 && c->out_inflight == 0) {
        net_write_t *w = malloc(sizeof *w);
        if (!w) {
            conn_close(c);
            return;
        }
        w->conn = c;
        w->buf = c->out; /* the write takes the bytes; out starts empty */
        proto_buf_init(&c->out);
        uv_buf_t b = uv_buf_init((char *)w->buf.data, (unsigned)w->buf.len);
        c->out_inflight = w->buf.len;
        c->out_inflight_cap = w->buf.cap;
        if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, write_cb) != 0) {
            c->out_inflight = 0;
            proto_buf_deinit(&w->buf);
            free(w);
            conn_close(c);
            return;
        }
    }
    /* Requests still waiting for their slice are answered first (with
     * SHUTTING_DOWN, when stopping). */
    if ((c->close_after_flush || n->stopping) && !c->backlog && c->jobs == 0 && c->out.len == 0 &&
        c->out_inflight == 0) {
        conn_close(c);
        return;
    }
    size_t pending = c->out.len + c->out_inflight;
    if (!c->paused && pending > NET_OUT_HIGH && !c->close_after_flush) {
        /* The client is not reading its replies: stop taking requests, so
         * what it sends waits in the kernel, not in our memory. */
        c->paused = true;
        uv_read_stop((uv_stream_t *)&c->pipe);
    } else if (c->paused && pending < NET_OUT_HIGH / 2) {
        /* It reads again: take its requests again. */
        c->paused = false;
        if (c->backlog)
            ready_push(c);
        else if (!c->close_after_flush && !c->eof)
            uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
    }
    conn_charge(c);
}

static void mark_dirty(conn_t *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    c->dirty_next = c->net->dirty;
    c->net->dirty = c;
}

static void flush_dirty(net_t *n)
{
    while (n->dirty) {
        conn_t *c = n->dirty;
        n->dirty = c->dirty_next;
        c->dirty = false;
        conn_flush(c);
    }
}

static int scan_error_code(int r)
{
    switch (r) {
    case PROTO_SCAN_E_TOO_LARGE: return PROTO_E_MESSAGE_TOO_LARGE;
    case PROTO_SCAN_E_TOO_DEEP: return PROTO_E_NESTING_TOO_DEEP;
    default: return PROTO_E_PARSE_ERROR;
    }
}

/* Handles every complete message in data[0..len); returns bytes consumed. */
static size_t conn_consume(conn_t *c, const uint8_t *data, size_t len)
{
    net_t *n = c->net;
    size_t off = 0;
    unsigned handled = 0;
    uint64_t arrived = stats_now_ns(); /* one clock read for the whole burst */
    while (off < len && !c->close_after_flush) {
        if (handled == NET_SLICE) {
            /* The rest waits for the next slice (after everyone else's). */
            ready_push(c);
            break;
        }
        handled++;
        size_t msg_len = 0;
        int r = proto_scan_feed(&c->scan, data + off, len - off, &msg_len);
        if (r == PROTO_SCAN_NEED_MORE)
            break;
        if (r < 0) {
            n->srv->protocol_errors++;
            conn_fail(c, scan_error_code(r), proto_scan_strerror(r));
            return len;
        }
        proto_scan_reset(&c->scan);
        dispatch_conn_t dc = {.owner = c, .held = c->charged + c->job_bytes};
        dispatch_result_t d =
            dispatch_message(n->srv, data + off, msg_len, &n->zone, &c->out, &dc, arrived);
        off += msg_len;
        if (d == DISPATCH_QUEUED) {
            /* The job's reference first: the flush below may close the
             * connection, and the job must still find it (issue 7 defect 7). */
            c->refs++;
            c->jobs++;
            c->job_bytes += dc.cost;
        }
        if (d == DISPATCH_CLOSE) {
            n->srv->conns.dropped++;
            c->close_after_flush = true;
            uv_read_stop((uv_stream_t *)&c->pipe);
        }
        size_t pending = c->out.len + c->out_inflight;
        if (pending > NET_OUT_HIGH || pending > (size_t)n->srv->cfg.output_cap_bytes) {
            /* Checked per message: one read can ask for far more output
             * than it brought in. Flushing writes what the socket takes,
             * drops the client past --output-cap, and pauses it when its
             * replies stay unread: the rest of its requests wait. */
            conn_flush(c);
            if (c->closing)
                return len;
            if (c->paused) {
                ready_push(c); /* parked until the client reads */
                break;
            }
        }
    }
    return off;
}

/* Keeps the bytes of a partial message in the connection's own buffer. */
static int conn_keep(conn_t *c, const uint8_t *rest, size_t len)
{
    if (len > c->in_cap && !server_mem_fits(c->net->srv, len - c->in_cap))
        return -1;
    if (len > c->in_cap) {
        uint8_t *p = realloc(c->in, len);
        if (!p)
            return -1;
        c->in = p;
        c->in_cap = len;
    }
    memmove(c->in, rest, len);
    c->in_len = len;
    return 0;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn_t *c = h->data;
    net_t *n = c->net;
    if (c->in_len == 0 && !n->rbuf_busy) {
        /* Idle connections hold no buffer: whole messages are handled
         * straight from the shared one. */
        n->rbuf_busy = true;
        *buf = uv_buf_init((char *)n->rbuf, sizeof n->rbuf);
        return;
    }
    /* A partial message is pending: read after it. It is never longer than
     * max_message_bytes (the scanner guarantees it). */
    size_t want = c->in_len + NET_READ_CHUNK;
    if (want > c->in_cap) {
        /* Half-sent messages may not take the memory of everyone else. */
        uint8_t *p = server_mem_fits(n->srv, want - c->in_cap) ? realloc(c->in, want) : NULL;
        if (!p) {
            c->oom = true;               /* read_cb tells the client why */
            *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
            return;
        }
        c->in = p;
        c->in_cap = want;
        conn_charge(c);
    }
    *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

/* Handles the complete messages in data[0..len) (the shared read buffer or
 * c->in), keeps the rest in c->in, and flushes the replies. */
static void conn_process(conn_t *c, const uint8_t *data, size_t len)
{
    net_t *n = c->net;
    c->backlog = false; /* conn_consume sets it again when it stops at a slice's end */
    size_t used = conn_consume(c, data, len);
    size_t rest = len - used;
    if (rest > 0 && !c->close_after_flush) {
        if (conn_keep(c, data + used, rest) != 0) {
            conn_fail(c, PROTO_E_OUT_OF_MEMORY,
                      "the server cannot buffer this message within its memory budget; retry");
            return;
        }
        if (c->backlog)
            c->partial_since_ms = 0; /* whole requests waiting their turn */
        else if (c->partial_since_ms == 0 || used > 0)
            c->partial_since_ms = net_now_ms(n);
    } else {
        c->in_len = 0;
        c->partial_since_ms = 0;
        if (c->in_cap > NET_READ_CHUNK) {
            /* Give back the room a large message needed. */
            free(c->in);
            c->in = NULL;
            c->in_cap = 0;
        }
    }
    if (!c->backlog && c->eof && !c->close_after_flush)
        c->close_after_flush = true; /* the last slice of a client that left */
    conn_flush(c);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    net_t *n = c->net;
    bool shared = buf->base == (char *)n->rbuf;
    if (shared)
        n->rbuf_busy = false;
    if (nread < 0) {
        /* EOF: the client will send nothing more. Answer what it asked,
         * then close. Errors close at once. */
        uv_read_stop(s);
        if (nread == UV_ENOBUFS && c->oom) {
            c->oom = false;
            conn_fail(c, PROTO_E_OUT_OF_MEMORY,
                      "the server cannot buffer this message within its memory budget; retry");
        } else if (nread == UV_EOF) {
            if (c->backlog)
                c->eof = true;
            else
                c->close_after_flush = true;
            conn_flush(c);
        } else {
            conn_close(c);
        }
        return;
    }
    if (nread == 0)
        return;
    c->last_active_ms = net_now_ms(n);
    if (shared) {
        conn_process(c, n->rbuf, (size_t)nread);
    } else {
        c->in_len += (size_t)nread;
        conn_process(c, c->in, c->in_len);
    }
}

/* Puts `c` on the ready list: its remaining requests run in the next loop
 * iteration, after the other connections' reads. Reading stops meanwhile. */
static void ready_push(conn_t *c)
{
    net_t *n = c->net;
    c->backlog = true;
    uv_read_stop((uv_stream_t *)&c->pipe);
    if (c->on_ready || c->paused)
        return; /* a paused connection is put back when it resumes */
    c->on_ready = true;
    c->refs++; /* the list's reference */
    c->ready_next = n->ready;
    n->ready = c;
    if (!uv_is_active((uv_handle_t *)&n->slices))
        uv_idle_start(&n->slices, slices_cb);
}

/* One slice for every connection with a backlog. */
static void slices_cb(uv_idle_t *h)
{
    net_t *n = h->data;
    conn_t *list = n->ready;
    n->ready = NULL;
    for (conn_t *c = list, *next; c; c = next) {
        next = c->ready_next;
        c->on_ready = false;
        if (!c->closing && !c->paused) {
            conn_process(c, c->in, c->in_len);
            if (!c->backlog && !c->paused && !c->closing && !c->close_after_flush)
                uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
        }
        conn_unref(c);
    }
    if (!n->ready)
        uv_idle_stop(h);
    flush_dirty(n);
}

void conn_open(net_t *n, int fd)
{
    server_t *srv = n->srv;
    conn_t *c = calloc(1, sizeof(conn_t));
    if (!c) {
        /* Too little memory to say why, too: just close. */
        close(fd);
        srv->conns.refused++;
        log_event(LOG_ERROR, "connection_refused", " reason=out_of_memory");
        return;
    }
    c->net = n;
    c->refs = 1;
    proto_buf_init(&c->out);
    proto_scan_init(&c->scan, (size_t)srv->cfg.max_message_bytes, (uint32_t)srv->cfg.max_depth);
    uv_pipe_init(&n->loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_pipe_open(&c->pipe, fd) != 0) {
        close(fd);
        uv_close((uv_handle_t *)&c->pipe, conn_close_cb);
        return;
    }
    c->next = n->conns;
    if (n->conns)
        n->conns->prev = c;
    n->conns = c;
    srv->conns.current++;
    srv->conns.accepted++;
    log_event(LOG_DEBUG, "connection_opened", " open=%llu", (unsigned long long)srv->conns.current);
    c->last_active_ms = net_now_ms(n);
    uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
}

/* Collects the jobs the pool and the writer finished and sends their
 * replies. */
static void wake_cb(uv_async_t *a)
{
    net_t *n = a->data;
    for (exec_job_t *j = exec_done_take(n->srv->done), *next; j; j = next) {
        next = j->next;
        conn_t *c = dispatch_job_owner(j);
        if (!c) { /* an internal job: nobody to answer */
            dispatch_job_finish(n->srv, j, NULL);
            continue;
        }
        c->jobs--;
        c->job_bytes -= dispatch_job_held(j);
        if (!c->closing) {
            dispatch_job_finish(n->srv, j, &c->out);
            mark_dirty(c);
        } else {
            dispatch_job_finish(n->srv, j, NULL);
        }
        conn_unref(c); /* an open connection still holds its handle ref */
    }
    flush_dirty(n);
}

void net_wake(void *arg)
{
    net_t *n = arg;
    uv_async_send(&n->wake);
}

/* Enforces the partial-message deadline and the idle timeout. */
static void sweep_cb(uv_timer_t *t)
{
    net_t *n = t->data;
    const config_t *cfg = &n->srv->cfg;
    uint64_t now = net_now_ms(n);
    for (conn_t *c = n->conns, *next; c; c = next) {
        next = c->next;
        if (c->stall_since_ms && now - c->stall_since_ms >= (uint64_t)cfg->output_timeout_ms) {
            /* Replies made no progress for the whole deadline: the client
             * holds memory and reads nothing. Nothing can reach it. This
             * holds for a client that already sent EOF too: it may have
             * stopped reading as well. */
            log_event(LOG_WARN, "connection_dropped", " reason=output_timeout pending=%zu",
                      c->out.len + c->out_inflight);
            n->srv->conns.dropped++;
            conn_close(c);
            continue;
        }
        if (c->close_after_flush)
            continue;
        if (c->partial_since_ms && now - c->partial_since_ms >= (uint64_t)cfg->partial_timeout_ms) {
            conn_fail(c, PROTO_E_MESSAGE_TIMEOUT, NULL);
        } else if (cfg->idle_timeout_ms > 0 && c->jobs == 0 && c->in_len == 0 && c->out.len == 0 &&
                   c->out_inflight == 0 &&
                   now - c->last_active_ms >= (uint64_t)cfg->idle_timeout_ms) {
            conn_fail(c, PROTO_E_IDLE_TIMEOUT, NULL);
        }
    }
}

static void purge_cb(uv_timer_t *t)
{
    net_t *n = t->data;
    dispatch_internal(n->srv, "server.purge");
}

void net_close_if_open(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Closes the loop's own handles (not the listener or connections). */
static void close_loop_handles(net_t *n)
{
    uv_handle_t *const handles[] = {
        (uv_handle_t *)&n->wake,   (uv_handle_t *)&n->sweep,   (uv_handle_t *)&n->deadline,
        (uv_handle_t *)&n->purge,  (uv_handle_t *)&n->sigterm, (uv_handle_t *)&n->sigint,
        (uv_handle_t *)&n->slices,
    };
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++)
        net_close_if_open(handles[i]);
}

/* Once shutdown has begun and every connection is closed: stop the writer
 * (it finishes its queue and checkpoints), then close the loop's own handles
 * so uv_run returns. */
static void net_maybe_finish(net_t *n)
{
    if (!n->stopping || n->conns || n->writer_stopped)
        return;
    n->writer_stopped = true;
    pool_stop(n->srv->pool); /* runs what is queued */
    n->srv->pool = NULL;
    writer_stop(n->srv->writer); /* drains, checkpoints */
    n->srv->writer = NULL;
    for (exec_job_t *j = exec_done_take(n->srv->done), *next; j; j = next) {
        next = j->next;
        conn_t *c = dispatch_job_owner(j);
        dispatch_job_finish(n->srv, j, NULL);
        if (c)
            conn_unref(c);
    }
    close_loop_handles(n);
    /* The socket goes last: while it exists, this process still owns the
     * database (see store_lock). */
    listener_close(n);
    listener_unlink(n);
    log_event(LOG_INFO, "stopped", NULL);
}

static void deadline_cb(uv_timer_t *t)
{
    net_t *n = t->data;
    log_event(LOG_WARN, "shutdown_deadline", " open_connections=%llu",
              (unsigned long long)n->srv->conns.current);
    for (conn_t *c = n->conns, *next; c; c = next) {
        next = c->next;
        conn_close(c);
    }
}

static void signal_cb(uv_signal_t *s, int signum)
{
    net_t *n = s->data;
    if (n->stopping)
        return;
    n->stopping = true;
    n->srv->shutting_down = true;
    log_event(LOG_INFO, "shutdown", " signal=%s open_connections=%llu",
              signum == SIGTERM ? "SIGTERM" : "SIGINT", (unsigned long long)n->srv->conns.current);
    /* Connections with nothing in flight close now. The others stay until
     * their writes are answered; requests they send meanwhile get
     * SHUTTING_DOWN (dispatch) so the client knows to retry elsewhere. */
    for (conn_t *c = n->conns, *next; c; c = next) {
        next = c->next;
        conn_flush(c);
    }
    uv_timer_start(&n->deadline, deadline_cb, (uint64_t)n->srv->cfg.shutdown_timeout_ms, 0);
    net_maybe_finish(n);
}

net_t *net_new(server_t *srv, proto_err_t *err)
{
    net_t *n = calloc(1, sizeof *n);
    if (!n) {
        proto_err_set(err, PROTO_E_INTERNAL, "out of memory");
        return NULL;
    }
    n->srv = srv;
    uv_loop_init(&n->loop);
    msgpack_zone_init(&n->zone, 4096);
    uv_async_init(&n->loop, &n->wake, wake_cb);
    uv_timer_init(&n->loop, &n->sweep);
    uv_timer_init(&n->loop, &n->deadline);
    uv_timer_init(&n->loop, &n->purge);
    uv_idle_init(&n->loop, &n->slices);
    uv_signal_init(&n->loop, &n->sigterm);
    uv_signal_init(&n->loop, &n->sigint);
    n->wake.data = n->sweep.data = n->deadline.data = n->purge.data = n->slices.data = n;
    n->sigterm.data = n->sigint.data = n;
    listener_init(n);
    if (listener_bind(n, err) != 0) {
        net_free(n);
        return NULL;
    }
    /* From the moment the socket accepts, SIGTERM must mean a clean stop:
     * a signal that arrives while the database opens is handled once the
     * loop runs, instead of killing the process by default action. So the
     * handlers come first, then listen. */
    uv_signal_start(&n->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&n->sigint, signal_cb, SIGINT);
    if (listener_start(n, err) != 0) {
        net_free(n);
        return NULL;
    }
    return n;
}

int net_run(net_t *n)
{
    const config_t *cfg = &n->srv->cfg;
    uint64_t period = (uint64_t)cfg->partial_timeout_ms;
    if (cfg->idle_timeout_ms > 0 && (uint64_t)cfg->idle_timeout_ms < period)
        period = (uint64_t)cfg->idle_timeout_ms;
    period /= 4;
    if (period < 5)
        period = 5;
    if (period > 1000)
        period = 1000;
    uv_timer_start(&n->sweep, sweep_cb, period, period);
    uint64_t purge = (uint64_t)cfg->purge_interval_ms;
    uv_timer_start(&n->purge, purge_cb, purge, purge);
    log_event(LOG_INFO, "listening", " max_connections=%lld max_message=%lld",
              (long long)cfg->max_connections, (long long)cfg->max_message_bytes);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    return 0;
}

void net_free(net_t *n)
{
    if (!n)
        return;
    listener_unlink(n);
    /* Close whatever is still open (start-up failure paths) and let the
     * close callbacks run. */
    listener_close(n);
    close_loop_handles(n);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    uv_loop_close(&n->loop);
    msgpack_zone_destroy(&n->zone);
    free(n);
}

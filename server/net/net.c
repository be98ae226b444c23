/* net.c - libuv loop, connections and their limits.
 *
 * Per connection, bytes flow: libuv read -> proto_scan_feed (validate, find
 * the message end) -> dispatch_message (decode, check, run or queue) -> reply
 * bytes appended to conn->out -> one write per burst. Limits are enforced at
 * fixed points: max connections at accept, message size and depth in the
 * scanner, the partial-message deadline and idle timeout in the sweep timer,
 * the output cap after every append.
 */
#define _GNU_SOURCE /* accept4 */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "dispatch.h"
#include "pool.h"
#include "log.h"
#include "proto_errors.h"
#include "proto_scan.h"

#define NET_READ_CHUNK (64 * 1024)
/* Messages handled per connection per loop iteration: a client pipelining
 * thousands of requests gets them served in slices between everyone
 * else's, not all at once. */
#define NET_SLICE      64
/* Replies waiting for a client past which the server stops reading its
 * requests until it reads its replies (they then wait in the kernel). */
#define NET_OUT_HIGH   (256 * 1024)

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
 * once; more are told and closed at once. main.c's descriptor reserve counts
 * them. */
#define NET_REFUSED_MAX         64
#define NET_REFUSED_HOLD_MS     1000
#define NET_REFUSED_DISCARD_MAX (64 * 1024)

typedef struct conn conn_t;
typedef struct refused refused_t;

struct conn {
    uv_pipe_t pipe;            /* the socket; pipe.data points back here */
    net_t *net;                /* owner */
    conn_t *prev, *next;       /* all open connections */
    conn_t *dirty_next;        /* flush list link */
    bool dirty;                /* on the flush list */
    int refs;                  /* 1 for the handle + 1 per queued job + 1 on the ready list */
    bool closing;              /* uv_close called */
    bool close_after_flush;    /* no more requests: close once answers are out */
    proto_scan_t scan;         /* the message being received */
    uint8_t *in;               /* partial message bytes (NULL when none) */
    size_t in_len, in_cap;     /* bytes held, bytes allocated */
    proto_buf_t out;           /* replies not yet handed to libuv */
    size_t out_inflight;       /* bytes in the uv_write not yet completed */
    unsigned jobs;             /* pool and writer jobs queued for this connection */
    uint64_t last_active_ms;   /* uv_now at the last request or reply */
    uint64_t partial_since_ms; /* when the current partial message began; 0 = none */
    size_t out_inflight_cap;   /* bytes allocated for the uv_write in flight */
    uint64_t charged;          /* buffer bytes charged to the memory budget */
    uint64_t job_bytes;        /* bytes held by this connection's queued jobs */
    uint64_t stall_since_ms;   /* replies pending without progress since; 0 = none */
    bool paused;               /* reading stopped: too many replies unread */
    bool backlog;              /* complete requests left in `in` for the next slice */
    bool on_ready;             /* on the ready list */
    bool eof;                  /* the client sent EOF while a backlog remained */
    bool oom;                  /* alloc_cb could not grow `in` (budget or memory) */
    conn_t *ready_next;        /* ready list link (backlog) */
};

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

typedef struct {
    uv_write_t req;  /* libuv request */
    conn_t *conn;    /* connection written to */
    proto_buf_t buf; /* bytes being written, owned here */
} net_write_t;

struct net {
    server_t *srv;  /* shared state */
    uv_loop_t loop; /* the loop */

    /* Accepting and refusing (on_connection, refuse). */
    int listen_fd;              /* listening socket, -1 when closed */
    uv_poll_t listener;         /* readable: connections wait in the backlog */
    bool bound;                 /* the socket file is ours to unlink */
    bool listening;             /* listener handle open */
    int spare_fd;               /* given up to accept when descriptors run out; -1 = none */
    uv_timer_t accept_pause;    /* resumes accepting after a resource failure */
    refused_t *refused;         /* refused connections being held, oldest first */
    refused_t *refused_last;    /* the newest of them */
    unsigned nrefused;          /* how many */
    uv_timer_t refused_timer;   /* closes held refusals at their deadline */
    uint64_t emfile_logged_ms;  /* when the last out-of-descriptors line was logged */
    uint8_t discard[16 * 1024]; /* read buffer of every refused connection */

    uv_async_t wake;     /* pool and writer -> loop: jobs finished */
    uv_timer_t sweep;    /* deadlines: partial message, idle */
    uv_timer_t deadline; /* shutdown deadline */
    uv_timer_t purge;    /* deletes expired sessions and tokens */
    uv_idle_t slices;    /* runs the next slice of connections with a backlog */
    conn_t *ready;       /* connections with a backlog */
    uv_signal_t sigterm, sigint;
    conn_t *conns;                /* open connections */
    conn_t *dirty;                /* connections with replies to flush */
    msgpack_zone zone;            /* decode arena, reused per message */
    uint8_t rbuf[NET_READ_CHUNK]; /* shared read buffer for connections with no partial message */
    bool rbuf_busy;               /* handed to libuv by alloc_cb, not yet returned */
    bool stopping;                /* shutdown begun */
    bool writer_stopped;          /* writer joined */
};

static void conn_flush(conn_t *c);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void ready_push(conn_t *c);
static void slices_cb(uv_idle_t *h);

static uint64_t now_ms(net_t *n)
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
static void unlink_socket(net_t *n);
static void close_if_open(uv_handle_t *h);

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
    c->stall_since_ms = now_ms(c->net);
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
            c->last_active_ms = now_ms(n);
            c->stall_since_ms = c->last_active_ms;
        }
    }
    if (c->out.len + c->out_inflight == 0)
        c->stall_since_ms = 0;
    else if (c->stall_since_ms == 0)
        c->stall_since_ms = now_ms(n);
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
    if ((c->close_after_flush || n->stopping) && c->jobs == 0 && c->out.len == 0 &&
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
            c->partial_since_ms = now_ms(n);
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
    c->last_active_ms = now_ms(n);
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
    uint64_t now = now_ms(n);
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
    r->deadline_ms = now_ms(n) + NET_REFUSED_HOLD_MS;
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
    c->last_active_ms = now_ms(n);
    uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
}

static void on_connection(uv_poll_t *p, int status, int events);

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
    uint64_t now = now_ms(n);
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

/* Closes the listener, its timers and every refused connection still held.
 * Safe twice. The socket file is left for unlink_socket. */
static void listener_close(net_t *n)
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
    close_if_open((uv_handle_t *)&n->refused_timer);
    close_if_open((uv_handle_t *)&n->accept_pause);
    if (n->spare_fd >= 0) {
        close(n->spare_fd);
        n->spare_fd = -1;
    }
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
    uint64_t now = now_ms(n);
    for (conn_t *c = n->conns, *next; c; c = next) {
        next = c->next;
        if (c->close_after_flush)
            continue;
        if (c->partial_since_ms && now - c->partial_since_ms >= (uint64_t)cfg->partial_timeout_ms) {
            conn_fail(c, PROTO_E_MESSAGE_TIMEOUT, NULL);
        } else if (c->stall_since_ms &&
                   now - c->stall_since_ms >= (uint64_t)cfg->output_timeout_ms) {
            /* Replies made no progress for the whole deadline: the client
             * holds memory and reads nothing. Nothing can reach it. */
            log_event(LOG_WARN, "connection_dropped", " reason=output_timeout pending=%zu",
                      c->out.len + c->out_inflight);
            n->srv->conns.dropped++;
            conn_close(c);
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

static void close_if_open(uv_handle_t *h)
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
        close_if_open(handles[i]);
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
    unlink_socket(n);
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

static void unlink_socket(net_t *n)
{
    if (n->bound) {
        unlink(n->srv->cfg.socket_path);
        n->bound = false;
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

net_t *net_new(server_t *srv, proto_err_t *err)
{
    net_t *n = calloc(1, sizeof *n);
    if (!n) {
        proto_err_set(err, PROTO_E_INTERNAL, "out of memory");
        return NULL;
    }
    n->srv = srv;
    n->listen_fd = n->spare_fd = -1;
    uv_loop_init(&n->loop);
    msgpack_zone_init(&n->zone, 4096);
    uv_async_init(&n->loop, &n->wake, wake_cb);
    uv_timer_init(&n->loop, &n->sweep);
    uv_timer_init(&n->loop, &n->deadline);
    uv_timer_init(&n->loop, &n->purge);
    uv_idle_init(&n->loop, &n->slices);
    n->slices.data = n;
    uv_timer_init(&n->loop, &n->accept_pause);
    uv_timer_init(&n->loop, &n->refused_timer);
    uv_signal_init(&n->loop, &n->sigterm);
    uv_signal_init(&n->loop, &n->sigint);
    n->wake.data = n->sweep.data = n->deadline.data = n->purge.data = n;
    n->accept_pause.data = n->refused_timer.data = n;
    n->sigterm.data = n->sigint.data = n;

    const char *path = srv->cfg.socket_path;
    if (prepare_path(path, err) != 0 ||
        bind_socket(n, path, (mode_t)srv->cfg.socket_mode, err) != 0) {
        net_free(n);
        return NULL;
    }
    /* From the moment the socket accepts, SIGTERM must mean a clean stop:
     * a signal that arrives while the database opens is handled once the
     * loop runs, instead of killing the process by default action. So the
     * handlers come first, then listen. */
    uv_signal_start(&n->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&n->sigint, signal_cb, SIGINT);
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
    if (rc != 0) {
        proto_err_set(err, PROTO_E_INTERNAL, "cannot listen on %s: %s", path, uv_strerror(rc));
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
    unlink_socket(n);
    /* Close whatever is still open (start-up failure paths) and let the
     * close callbacks run. */
    listener_close(n);
    close_loop_handles(n);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    uv_loop_close(&n->loop);
    msgpack_zone_destroy(&n->zone);
    free(n);
}

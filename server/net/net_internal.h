/* net_internal.h - shared by net.c (connections) and listen.c (the
 * listening socket, accepting and refusing): the loop's state and a
 * connection's. Nothing outside server/net/ includes it. */
#ifndef NOORMME_NET_INTERNAL_H
#define NOORMME_NET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "dispatch.h"
#include "net.h"
#include "proto_scan.h"

/* Read buffer shared by connections with no partial message. */
#define NET_READ_CHUNK    (64 * 1024)
/* Read buffer of every refused connection (what they send is ignored). */
#define NET_DISCARD_CHUNK (16 * 1024)

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

struct net {
    server_t *srv;  /* shared state */
    uv_loop_t loop; /* the loop */

    /* Accepting and refusing (on_connection, refuse). */
    int listen_fd;                      /* listening socket, -1 when closed */
    uv_poll_t listener;                 /* readable: connections wait in the backlog */
    bool bound;                         /* the socket file is ours to unlink */
    bool listening;                     /* listener handle open */
    int spare_fd;                       /* given up to accept when descriptors run out; -1 = none */
    uv_timer_t accept_pause;            /* resumes accepting after a resource failure */
    refused_t *refused;                 /* refused connections being held, oldest first */
    refused_t *refused_last;            /* the newest of them */
    unsigned nrefused;                  /* how many */
    uv_timer_t refused_timer;           /* closes held refusals at their deadline */
    uint64_t emfile_logged_ms;          /* when the last out-of-descriptors line was logged */
    uint8_t discard[NET_DISCARD_CHUNK]; /* read buffer of every refused connection */

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

/* ---- net.c, for listen.c ---- */

/* uv_now of the loop, in milliseconds. */
uint64_t net_now_ms(net_t *n);

/* Closes `h` unless it is already closing. */
void net_close_if_open(uv_handle_t *h);

/* Serves the accepted socket `fd` as a new connection (the limits were
 * checked by the caller). Takes `fd` on every path: it becomes the
 * connection's handle or is closed. */
void conn_open(net_t *n, int fd);

/* ---- listen.c, for net.c ---- */

/* Prepares the listener's handles and descriptors (nothing open yet). */
void listener_init(net_t *n);

/* Checks the socket path and its directory, replaces a stale socket, and
 * binds srv->cfg.socket_path with srv->cfg.socket_mode (through the umask,
 * checked after). Returns 0, or a negative code with `err` set. */
int listener_bind(net_t *n, proto_err_t *err);

/* Listens and starts accepting. Returns 0, or a negative code. */
int listener_start(net_t *n, proto_err_t *err);

/* Closes the listener, its timers and every refused connection still held.
 * Safe twice. The socket file is left for listener_unlink. */
void listener_close(net_t *n);

/* Removes the socket file if this process bound it. */
void listener_unlink(net_t *n);

#endif

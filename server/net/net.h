/* net.h - the event loop: Unix socket listener, connections, limits,
 * signals and graceful shutdown. The only module that includes uv.h. */
#ifndef NOORMME_NET_H
#define NOORMME_NET_H

#include "proto_rpc.h"
#include "server.h"

typedef struct net net_t;

/* Creates the loop and binds the listening socket at srv->cfg.socket_path,
 * created with srv->cfg.socket_mode through the umask (and checked after
 * bind). A stale socket file left by a crashed server is replaced; a live
 * one (something accepts on it), a non-socket file, or a directory that
 * everyone may write to without the sticky bit is refused. Returns NULL
 * with the reason in `err`. */
net_t *net_new(server_t *srv, proto_err_t *err);

/* Wakes the loop to collect the jobs the pool and the writer finished;
 * safe from any thread. The completion queue's notify callback, with the
 * net_t as its argument. */
void net_wake(void *net);

/* Accepts and serves until SIGTERM/SIGINT, then stops accepting, answers the
 * requests in flight (up to shutdown_timeout_ms), stops the pool and the
 * writer (which checkpoints) and returns 0. srv->pool and srv->writer must
 * be running. */
int net_run(net_t *net);

/* Unlinks the socket if still bound and frees everything. NULL is a no-op. */
void net_free(net_t *net);

#endif

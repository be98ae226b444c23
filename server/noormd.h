/* noormd.h - start-up and exit of the server, shared by noormd and the test
 * binary noormd-test. */
#ifndef NOORMME_NOORMD_H
#define NOORMME_NOORMD_H

#include "proto_rpc.h"
#include "server.h"
#include "store.h"

/* Called once the database is open and migrated, before the method table is
 * fixed: may register methods (dispatch_register) and prepare tables on the
 * writer connection `w`. Returns 0, or a negative code with `err` set (the
 * server then exits 1). */
typedef int (*noormd_hook_fn)(server_t *srv, store_t *w, proto_err_t *err);

/* Parses the options, takes the database, opens the socket, migrates, runs
 * until SIGTERM/SIGINT, and returns the process exit status (0 clean, 1
 * failure, 2 bad options). `hook` may be NULL. */
int noormd_main(int argc, char **argv, noormd_hook_fn hook);

#endif

/* wait.h - waiting for observable server state in the integration tests.
 *
 * A test that needs something to have happened inside the server (a counter
 * moved, a connection was closed, a checkpoint ran) asks again and again
 * until it holds or a deadline passes, instead of sleeping a fixed time and
 * hoping the server kept up. The deadline only bounds a failing test, so it
 * is generous: a passing test waits exactly as long as the server needs,
 * which on a loaded two-core CI machine or under ThreadSanitizer can be many
 * times the usual.
 */
#ifndef NOORMME_WAIT_H
#define NOORMME_WAIT_H

#include <stdbool.h>
#include <stdint.h>

#include "rpcc.h"

/* Default deadline of a wait: far beyond any healthy server's delay, well
 * inside the 300 s ctest timeout of an integration test. */
#define WAIT_DEADLINE_MS 30000

/* Pause between two looks. */
#define WAIT_POLL_MS 10

/* The msgid of the server.stats calls made here; no test uses it. */
#define WAIT_MSGID 4000000000u

/* How a counter is compared with the wanted value. */
typedef enum {
    WAIT_EQ, /* value == want */
    WAIT_NE, /* value != want */
    WAIT_GE, /* value >= want */
    WAIT_GT, /* value > want */
    WAIT_LE, /* value <= want */
} wait_cmp_t;

/* Reads one unsigned counter of server.stats, asked on `c` (which must have
 * no other request in flight). `path` names it by its keys joined with '/':
 * "writer/queue_depth", "methods/test.get/count" (method names contain
 * dots). Returns 0 with the value in *out; 1 when the call worked but the
 * counter is absent (a method never called has no "methods" entry); -1
 * when the call failed (printed). */
int wait_stat_u64(rpcc_t *c, const char *path, uint64_t *out);

/* Asks server.stats on `c` every WAIT_POLL_MS until the counter at `path`
 * compares to `want` as `cmp` says, for at most `deadline_ms`. An absent
 * counter counts as "not yet". Stores the last value read in *last (0 if
 * none; `last` may be NULL). Returns 0 when the comparison held, or -1 after
 * printing the path, the last value and the wanted one (time out, or a
 * failed call). Typical use: assert_int_equal(wait_for_stat(...), 0). */
int wait_for_stat(rpcc_t *c, const char *path, wait_cmp_t cmp, uint64_t want, int deadline_ms,
                  uint64_t *last);

/* Calls `cond(arg)` every WAIT_POLL_MS until it returns true, for at most
 * `deadline_ms` (cond is called at least once, and once more at the
 * deadline). Returns 0 when it held, -1 on time out; prints nothing, since
 * only the caller knows what it waited for. */
int wait_until(bool (*cond)(void *arg), void *arg, int deadline_ms);

#endif

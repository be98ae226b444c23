/* test_accept_flood.c - integration: a client that connects and closes as
 * fast as it can must not starve the connections already open. One thread
 * floods noormd-test with connect/close pairs while this thread pings on an
 * established connection and records each round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rpcc.h"
#include "testsrv.h"

#define IDLE_PINGS  500
#define FLOOD_MS    2000
#define MAX_SAMPLES 200000

/* A ping that takes longer than this during the flood fails the test. It is
 * far above an idle round trip (tens of microseconds) and far below the
 * seconds-long stalls of the defect, so it holds on a loaded machine and in
 * sanitizer builds. */
#define WORST_PING_BOUND_US 200000

static testsrv_t srv;

static int start_server(void **state)
{
    (void)state;
    return testsrv_start(&srv, NOORMD_TEST_BIN, NULL);
}

static int stop_server(void **state)
{
    (void)state;
    return testsrv_finish(&srv);
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

typedef struct {
    const char *path;     /* socket to flood */
    atomic_bool stop;     /* set by the main thread */
    unsigned long made;   /* connections that succeeded */
    unsigned long failed; /* connects that failed (backlog full, ...) */
} flood_t;

/* Connects and closes in a loop, as fast as possible, until told to stop. */
static void *flood_main(void *arg)
{
    flood_t *f = arg;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
    while (!atomic_load(&f->stop)) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            f->failed++;
            continue;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            f->made++;
        else
            f->failed++;
        close(fd);
    }
    return NULL;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile of the n sorted samples. */
static long long quantile(const long long *sorted, size_t n, double q)
{
    size_t i = (size_t)(q * (double)(n - 1));
    return sorted[i];
}

/* One timed ping on `c`, in microseconds. */
static long long timed_ping(rpcc_t *c, uint32_t msgid)
{
    long long t0 = now_us();
    if (rpcc_ping(c, msgid, 10000) != 0)
        fail_msg("ping %u failed", (unsigned)msgid);
    return now_us() - t0;
}

/* issue 7 defect 14: libuv 1.44's accept loop does not return to the event
 * loop while the backlog is non-empty, so an unthrottled connect/close loop
 * froze every established client for seconds. noormd now accepts at most a
 * fixed number of connections per loop iteration. */
static void test_connect_close_flood_does_not_stall_established_clients(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    static long long idle[IDLE_PINGS];
    for (int i = 0; i < IDLE_PINGS; i++)
        idle[i] = timed_ping(&c, (uint32_t)i + 1);
    qsort(idle, IDLE_PINGS, sizeof idle[0], cmp_ll);
    long long idle_p99 = quantile(idle, IDLE_PINGS, 0.99);

    flood_t f = {.path = srv.socket_path};
    atomic_init(&f.stop, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, flood_main, &f), 0);
    static long long busy[MAX_SAMPLES];
    size_t n = 0;
    long long end = now_us() + FLOOD_MS * 1000LL;
    while (now_us() < end && n < MAX_SAMPLES) {
        busy[n] = timed_ping(&c, (uint32_t)(IDLE_PINGS + 1 + n));
        n++;
    }
    atomic_store(&f.stop, true);
    pthread_join(th, NULL);
    qsort(busy, n, sizeof busy[0], cmp_ll);
    long long p99 = quantile(busy, n, 0.99), worst = busy[n - 1];
    fprintf(stderr,
            "idle p99 %lld us; during the flood (%lu connects, %lu failed): %zu pings, "
            "p50 %lld us, p99 %lld us, worst %lld us\n",
            idle_p99, f.made, f.failed, n, quantile(busy, n, 0.5), p99, worst);

    /* The flood did reach the server. */
    assert_true(f.made > 1000);
    if (worst > WORST_PING_BOUND_US)
        fail_msg("a ping took %lld us during the flood (bound %d us)", worst, WORST_PING_BOUND_US);
    assert_int_equal(rpcc_ping(&c, 1, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connect_close_flood_does_not_stall_established_clients,
                                        start_server, stop_server),
    };
    int failed = cmocka_run_group_tests_name("accept_flood", tests, NULL, NULL);
    return failed + testsrv_problems();
}

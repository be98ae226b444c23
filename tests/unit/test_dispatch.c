/* test_dispatch.c - the checklist every request passes before a handler
 * runs (decode, lookup, params shape, argument names, types, limits,
 * required), reads answered in place, writes answered after commit. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "dispatch.h"
#include "proto_errors.h"
#include "proto_rpc.h"
#include "test_methods.h"

typedef struct {
    char dir[64];
    char path[128];
    server_t srv;
    store_t *w;
    msgpack_zone zone;
    proto_buf_t out; /* last reply bytes; decoded strings point into them */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool woken;
} fixture_t;

static void on_wake(void *arg)
{
    fixture_t *f = arg;
    pthread_mutex_lock(&f->mu);
    f->woken = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/noormme-dispatch-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    char *argv[] = {"noormd", "--db", f->path};
    assert_int_equal(config_load(&f->srv.cfg, 3, argv, stdout, stderr), CONFIG_OK);
    store_options_t o = {.path = f->path,
                         .synchronous_full = false,
                         .busy_timeout_ms = 1000,
                         .wal_limit_bytes = 1 << 20};
    proto_err_t err;
    assert_int_equal(store_open_writer(&o, &f->w, &err), 0);
    assert_int_equal(store_open_reader(&o, &f->srv.reader, &err), 0);
    assert_int_equal(dispatch_register(&f->srv, cmd_builtin_methods, cmd_builtin_method_count), 0);
    assert_int_equal(test_methods_hook(&f->srv, f->w, &err), 0);
    assert_int_equal(dispatch_init(&f->srv), 0);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->srv.done = exec_done_new(on_wake, f);
    assert_non_null(f->srv.done);
    assert_int_equal(pool_start(&o, 1, f->srv.done, &f->srv.pool, &err), 0);
    writer_options_t wo = {.batch_max = 64, .checkpoint_idle_ms = 1000};
    f->srv.writer = writer_start(f->w, &wo, f->srv.done);
    assert_non_null(f->srv.writer);
    msgpack_zone_init(&f->zone, 1024);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    pool_stop(f->srv.pool);
    writer_stop(f->srv.writer);
    for (exec_job_t *j = exec_done_take(f->srv.done), *n; j; j = n) {
        n = j->next;
        dispatch_job_finish(&f->srv, j, NULL);
    }
    exec_done_free(f->srv.done);
    store_close(f->srv.reader);
    store_close(f->w);
    dispatch_deinit(&f->srv);
    msgpack_zone_destroy(&f->zone);
    proto_buf_deinit(&f->out);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Builds [0, msgid, method, [args]] where args is packed by `pack_args`
 * (NULL: an empty map). */
typedef void (*args_fn)(msgpack_packer *pk);

static void build(proto_buf_t *b, uint32_t msgid, const char *method, args_fn pack_args)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, proto_buf_msgpack_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_uint32(&pk, msgid);
    proto_pack_cstr(&pk, method);
    msgpack_pack_array(&pk, 1);
    if (pack_args)
        pack_args(&pk);
    else
        msgpack_pack_map(&pk, 0);
}

/* Dispatches `msg` and decodes the single reply into `reply` (caller
 * destroys). Returns the dispatch result. For a queued write, waits for the
 * writer and finishes the job into the reply. */
static dispatch_result_t roundtrip(fixture_t *f, proto_buf_t *msg, msgpack_unpacked *reply)
{
    proto_buf_t *out = &f->out;
    out->len = 0;
    dispatch_conn_t dc = {.owner = f};
    dispatch_result_t r =
        dispatch_message(&f->srv, msg->data, msg->len, &f->zone, out, &dc, stats_now_ns());
    if (r == DISPATCH_QUEUED) {
        exec_job_t *done = NULL;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        pthread_mutex_lock(&f->mu);
        while (!(done = exec_done_take(f->srv.done))) {
            f->woken = false;
            while (!f->woken)
                assert_int_equal(pthread_cond_timedwait(&f->cv, &f->mu, &until), 0);
        }
        pthread_mutex_unlock(&f->mu);
        assert_null(done->next);
        assert_ptr_equal(dispatch_job_owner(done), f);
        dispatch_job_finish(&f->srv, done, out);
    }
    msgpack_unpacked_init(reply);
    if (out->len > 0) {
        size_t off = 0;
        assert_int_equal(msgpack_unpack_next(reply, (const char *)out->data, out->len, &off),
                         MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, out->len); /* exactly one reply */
    }
    proto_buf_deinit(msg);
    return r;
}

/* Asserts `reply` is [1, msgid, [code, NAME, ...], nil] and returns the
 * details map. */
static const msgpack_object *expect_error(const msgpack_unpacked *reply, uint32_t msgid, int code)
{
    const msgpack_object *r = &reply->data;
    assert_int_equal(r->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(r->via.array.size, 4);
    assert_int_equal(r->via.array.ptr[0].via.u64, 1);
    assert_int_equal(r->via.array.ptr[1].via.u64, msgid);
    const msgpack_object *e = &r->via.array.ptr[2];
    assert_int_equal(e->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(e->via.array.size, 4);
    assert_int_equal(e->via.array.ptr[0].via.i64, code);
    const char *name = proto_error_name(code);
    assert_int_equal(e->via.array.ptr[1].via.str.size, strlen(name));
    assert_memory_equal(e->via.array.ptr[1].via.str.ptr, name, strlen(name));
    assert_int_equal(r->via.array.ptr[3].type, MSGPACK_OBJECT_NIL);
    assert_int_equal(e->via.array.ptr[3].type, MSGPACK_OBJECT_MAP);
    return &e->via.array.ptr[3];
}

static void expect_detail(const msgpack_object *details, const char *key, const char *val)
{
    for (uint32_t i = 0; i < details->via.map.size; i++) {
        const msgpack_object_kv *kv = &details->via.map.ptr[i];
        if (kv->key.via.str.size == strlen(key) &&
            memcmp(kv->key.via.str.ptr, key, strlen(key)) == 0) {
            assert_int_equal(kv->val.via.str.size, strlen(val));
            assert_memory_equal(kv->val.via.str.ptr, val, strlen(val));
            return;
        }
    }
    fail_msg("detail %s missing", key);
}

static const msgpack_object *expect_result(const msgpack_unpacked *reply, uint32_t msgid)
{
    const msgpack_object *r = &reply->data;
    assert_int_equal(r->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(r->via.array.size, 4);
    assert_int_equal(r->via.array.ptr[1].via.u64, msgid);
    assert_int_equal(r->via.array.ptr[2].type, MSGPACK_OBJECT_NIL);
    return &r->via.array.ptr[3];
}

static void test_dispatch_answers_ping_in_place(void **state)
{
    fixture_t *f = *state;
    proto_buf_t m;
    proto_buf_init(&m);
    build(&m, 7, "server.ping", NULL);
    msgpack_unpacked reply;
    assert_int_equal(roundtrip(f, &m, &reply), DISPATCH_DONE);
    const msgpack_object *res = expect_result(&reply, 7);
    assert_int_equal(res->type, MSGPACK_OBJECT_STR);
    assert_memory_equal(res->via.str.ptr, "pong", 4);
    msgpack_unpacked_destroy(&reply);
    assert_int_equal(f->srv.method_stats[0].count, 1);
}

static void test_dispatch_unknown_method_is_a_request_error_naming_it(void **state)
{
    fixture_t *f = *state;
    proto_buf_t m;
    proto_buf_init(&m);
    build(&m, 3, "server.pnig", NULL);
    msgpack_unpacked reply;
    assert_int_equal(roundtrip(f, &m, &reply), DISPATCH_DONE);
    expect_detail(expect_error(&reply, 3, PROTO_E_METHOD_NOT_FOUND), "method", "server.pnig");
    msgpack_unpacked_destroy(&reply);
}

static void pack_unknown_arg(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    proto_pack_cstr(pk, "colour");
    msgpack_pack_int(pk, 1);
}

static void test_dispatch_unknown_argument_is_unknown_field(void **state)
{
    fixture_t *f = *state;
    proto_buf_t m;
    proto_buf_init(&m);
    build(&m, 4, "server.ping", pack_unknown_arg);
    msgpack_unpacked reply;
    assert_int_equal(roundtrip(f, &m, &reply), DISPATCH_DONE);
    expect_detail(expect_error(&reply, 4, PROTO_E_UNKNOWN_FIELD), "field", "colour");
    msgpack_unpacked_destroy(&reply);
}

static void pack_wrong_type(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    proto_pack_cstr(pk, "key");
    msgpack_pack_int(pk, 42);
    proto_pack_cstr(pk, "value");
    proto_pack_cstr(pk, "v");
}

static void test_dispatch_wrong_type_is_invalid_argument_naming_the_field(void **state)
{
    fixture_t *f = *state;
    proto_buf_t m;
    proto_buf_init(&m);
    build(&m, 5, "test.write", pack_wrong_type);
    msgpack_unpacked reply;
    assert_int_equal(roundtrip(f, &m, &reply), DISPATCH_DONE);
    expect_detail(expect_error(&reply, 5, PROTO_E_INVALID_ARGUMENT), "field", "key");
    msgpack_unpacked_destroy(&reply);
}

static void pack_missing_value(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    proto_pack_cstr(pk, "key");
    proto_pack_cstr(pk, "k");
}

static void test_dispatch_missing_required_argument_is_invalid_argument(void **state)
{
    fixture_t *f = *state;
    proto_buf_t m;
    proto_buf_init(&m);
    build(&m, 6, "test.write", pack_missing_value);
    msgpack_unpacked reply;
    assert_int_equal(roundtrip(f, &m, &reply), DISPATCH_DONE);
    expect_detail(expect_error(&reply, 6, PROTO_E_INVALID_ARGUMENT), "field", "value");
    msgpack_unpacked_destroy(&reply);
}

static void pack_duplicate(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    proto_pack_cstr(pk, "key");
    proto_pack_cstr(pk, "a");
    proto_pack_cstr(pk, "key");
    proto_pack_cstr(pk, "b");
    proto_pack_cstr(pk, "value");
    proto_pack_cstr(pk, "v");
}

static void test_dispatch_duplicate_argument_is_refused(void **state)
{
    fixture_t *f = *state;
    proto_buf_t m;
    proto_buf_init(&m);
    build(&m, 8, "test.write", pack_duplicate);
    msgpack_unpacked reply;
    assert_int_equal(roundtrip(f, &m, &reply), DISPATCH_DONE);
    expect_detail(expect_error(&reply, 8, PROTO_E_INVALID_ARGUMENT), "field", "key");
    msgpack_unpacked_destroy(&reply);
}

static size_t key_len; /* key length used by pack_key_of_len */

static void pack_key_of_len(msgpack_packer *pk)
{
    char key[300];
    memset(key, 'k', sizeof key);
    msgpack_pack_map(pk, 2);
    proto_pack_cstr(pk, "key");
    proto_pack_str(pk, key, key_len);
    proto_pack_cstr(pk, "value");
    proto_pack_cstr(pk, "v");
}

static void test_dispatch_argument_length_limit_at_and_past_the_limit(void **state)
{
    fixture_t *f = *state;
    proto_buf_t m;
    msgpack_unpacked reply;

    key_len = 256; /* test.write's key limit */
    proto_buf_init(&m);
    build(&m, 9, "test.write", pack_key_of_len);
    assert_int_equal(roundtrip(f, &m, &reply), DISPATCH_QUEUED);
    assert_true(expect_result(&reply, 9)->via.boolean);
    msgpack_unpacked_destroy(&reply);

    key_len = 257;
    proto_buf_init(&m);
    build(&m, 10, "test.write", pack_key_of_len);
    assert_int_equal(roundtrip(f, &m, &reply), DISPATCH_DONE);
    expect_detail(expect_error(&reply, 10, PROTO_E_LIMIT_EXCEEDED), "field", "key");
    msgpack_unpacked_destroy(&reply);
}

static void pack_failing_write(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    proto_pack_cstr(pk, "key");
    proto_pack_cstr(pk, "doomed");
    proto_pack_cstr(pk, "value");
    proto_pack_cstr(pk, "v");
    proto_pack_cstr(pk, "fail");
    msgpack_pack_true(pk);
}

static void pack_get_doomed(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    proto_pack_cstr(pk, "key");
    proto_pack_cstr(pk, "doomed");
}

static void test_dispatch_failed_write_replies_error_and_leaves_no_row(void **state)
{
    fixture_t *f = *state;
    proto_buf_t m;
    msgpack_unpacked reply;
    proto_buf_init(&m);
    build(&m, 11, "test.write", pack_failing_write);
    assert_int_equal(roundtrip(f, &m, &reply), DISPATCH_QUEUED);
    expect_detail(expect_error(&reply, 11, PROTO_E_CONFLICT), "field", "fail");
    msgpack_unpacked_destroy(&reply);

    proto_buf_init(&m);
    build(&m, 12, "test.get", pack_get_doomed);
    assert_int_equal(roundtrip(f, &m, &reply), DISPATCH_DONE);
    assert_int_equal(expect_result(&reply, 12)->type, MSGPACK_OBJECT_NIL);
    msgpack_unpacked_destroy(&reply);
}

static void test_dispatch_params_must_be_an_array_of_one_map(void **state)
{
    fixture_t *f = *state;
    /* [0, 1, "server.ping", [1]] and [0, 2, "server.ping", {}] */
    static const uint8_t not_map[] = {0x94, 0x00, 0x01, 0xab, 's', 'e', 'r',  'v', 'e',
                                      'r',  '.',  'p',  'i',  'n', 'g', 0x91, 0x01};
    static const uint8_t not_array[] = {0x94, 0x00, 0x02, 0xab, 's', 'e', 'r', 'v',
                                        'e',  'r',  '.',  'p',  'i', 'n', 'g', 0x80};
    static const uint8_t empty[] = {0x94, 0x00, 0x03, 0xab, 's', 'e', 'r', 'v',
                                    'e',  'r',  '.',  'p',  'i', 'n', 'g', 0x90};
    const struct {
        const uint8_t *bytes;
        size_t len;
        uint32_t msgid;
        int code;
    } cases[] = {{not_map, sizeof not_map, 1, PROTO_E_INVALID_PARAMS},
                 {not_array, sizeof not_array, 2, PROTO_E_INVALID_PARAMS},
                 {empty, sizeof empty, 3, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        proto_buf_t m;
        proto_buf_init(&m);
        proto_buf_append(&m, cases[i].bytes, cases[i].len);
        msgpack_unpacked reply;
        assert_int_equal(roundtrip(f, &m, &reply), DISPATCH_DONE);
        if (cases[i].code)
            expect_error(&reply, cases[i].msgid, cases[i].code);
        else
            expect_result(&reply, cases[i].msgid);
        msgpack_unpacked_destroy(&reply);
    }
}

static void test_dispatch_notification_runs_without_a_reply(void **state)
{
    fixture_t *f = *state;
    /* [2, "server.ping", [{}]] */
    static const uint8_t note[] = {0x93, 0x02, 0xab, 's', 'e', 'r', 'v',  'e',
                                   'r',  '.',  'p',  'i', 'n', 'g', 0x91, 0x80};
    proto_buf_t m;
    proto_buf_init(&m);
    proto_buf_append(&m, note, sizeof note);
    msgpack_unpacked reply;
    assert_int_equal(roundtrip(f, &m, &reply), DISPATCH_DONE);
    assert_int_equal(reply.data.type, MSGPACK_OBJECT_NIL); /* nothing was sent */
    msgpack_unpacked_destroy(&reply);
    assert_int_equal(f->srv.method_stats[0].count, 1);
}

static void test_dispatch_response_or_non_rpc_message_closes(void **state)
{
    fixture_t *f = *state;
    /* [1, 5, nil, nil]: a response sent to the server; 0x00: not an array. */
    static const uint8_t response[] = {0x94, 0x01, 0x05, 0xc0, 0xc0};
    static const uint8_t zero[] = {0x00};
    proto_buf_t m;
    msgpack_unpacked reply;

    proto_buf_init(&m);
    proto_buf_append(&m, response, sizeof response);
    assert_int_equal(roundtrip(f, &m, &reply), DISPATCH_CLOSE);
    expect_error(&reply, 5, PROTO_E_INVALID_MESSAGE);
    msgpack_unpacked_destroy(&reply);

    proto_buf_init(&m);
    proto_buf_append(&m, zero, sizeof zero);
    assert_int_equal(roundtrip(f, &m, &reply), DISPATCH_CLOSE);
    /* No msgid to address: [2, "server.error", [[code, NAME, msg, {}]]] */
    const msgpack_object *r = &reply.data;
    assert_int_equal(r->via.array.size, 3);
    assert_int_equal(r->via.array.ptr[0].via.u64, 2);
    assert_memory_equal(r->via.array.ptr[1].via.str.ptr, "server.error", 12);
    assert_int_equal(r->via.array.ptr[2].via.array.ptr[0].via.array.ptr[0].via.i64,
                     PROTO_E_INVALID_MESSAGE);
    msgpack_unpacked_destroy(&reply);
    assert_int_equal(f->srv.protocol_errors, 2);
}

static size_t value_len; /* value length used by pack_value_of_len */

static void pack_value_of_len(msgpack_packer *pk)
{
    static char value[4096];
    memset(value, 'v', sizeof value);
    msgpack_pack_map(pk, 2);
    proto_pack_cstr(pk, "key");
    proto_pack_cstr(pk, "big");
    proto_pack_cstr(pk, "value");
    proto_pack_str(pk, value, value_len);
}

static void pack_sleep(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    proto_pack_cstr(pk, "ms");
    msgpack_pack_int(pk, 200);
}

/* What a queued job of message `m` holds: its bytes plus its decoded
 * argument map. */
static size_t cost_of(const proto_buf_t *m)
{
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    proto_msg_t msg;
    assert_int_equal(proto_msg_decode(m->data, m->len, &z, &msg), 0);
    size_t c = dispatch_job_cost(m->len, msg.args);
    msgpack_zone_destroy(&z);
    return c;
}

static void test_dispatch_write_queue_cap_refuses_writes_past_it(void **state)
{
    fixture_t *f = *state;
    dispatch_conn_t dc = {.owner = f};
    proto_buf_t sleep_msg, fits, over, out;
    proto_buf_init(&sleep_msg);
    proto_buf_init(&fits);
    proto_buf_init(&over);
    proto_buf_init(&out);
    build(&sleep_msg, 20, "test.sleep", pack_sleep);
    value_len = 1000;
    build(&fits, 21, "test.write", pack_value_of_len);
    value_len = 1001;
    build(&over, 22, "test.write", pack_value_of_len);
    assert_int_equal(over.len, fits.len + 1);
    /* Room for the sleeping job (which keeps the queue occupied) plus
     * exactly `fits`. */
    f->srv.cfg.write_queue_bytes = (int64_t)(cost_of(&sleep_msg) + cost_of(&fits));

    assert_int_equal(dispatch_message(&f->srv, sleep_msg.data, sleep_msg.len, &f->zone, &out, &dc,
                                      stats_now_ns()),
                     DISPATCH_QUEUED);
    /* One byte past the cap: refused at once, nothing queued. */
    assert_int_equal(
        dispatch_message(&f->srv, over.data, over.len, &f->zone, &out, &dc, stats_now_ns()),
        DISPATCH_DONE);
    msgpack_unpacked reply;
    msgpack_unpacked_init(&reply);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&reply, (const char *)out.data, out.len, &off),
                     MSGPACK_UNPACK_SUCCESS);
    expect_error(&reply, 22, PROTO_E_UNAVAILABLE);
    const msgpack_object *text = &reply.data.via.array.ptr[2].via.array.ptr[2];
    assert_non_null(memmem(text->via.str.ptr, text->via.str.size, "write queue is full", 19));
    msgpack_unpacked_destroy(&reply);
    assert_int_equal(f->srv.write_queue_bytes, cost_of(&sleep_msg));
    /* Exactly at the cap: queued. */
    assert_int_equal(
        dispatch_message(&f->srv, fits.data, fits.len, &f->zone, &out, &dc, stats_now_ns()),
        DISPATCH_QUEUED);
    assert_int_equal(f->srv.write_queue_bytes, cost_of(&sleep_msg) + cost_of(&fits));
    proto_buf_deinit(&sleep_msg);
    proto_buf_deinit(&fits);
    proto_buf_deinit(&over);
    proto_buf_deinit(&out);
}

static void test_dispatch_refuses_new_requests_while_shutting_down(void **state)
{
    fixture_t *f = *state;
    f->srv.shutting_down = true;
    proto_buf_t m;
    proto_buf_init(&m);
    build(&m, 13, "server.ping", NULL);
    msgpack_unpacked reply;
    assert_int_equal(roundtrip(f, &m, &reply), DISPATCH_DONE);
    expect_error(&reply, 13, PROTO_E_SHUTTING_DOWN);
    msgpack_unpacked_destroy(&reply);
}

/* A registered method cannot shadow another (noormd-test's table adds to
 * the built-in one, never replaces an entry), nor have more arguments than
 * a handler can be given; and once dispatch_init has sized the stats, the
 * table is fixed. */
static void test_dispatch_register_refuses_repeats_wide_methods_and_late_calls(void **state)
{
    (void)state;
    server_t srv;
    memset(&srv, 0, sizeof srv);
    assert_int_equal(dispatch_register(&srv, cmd_builtin_methods, cmd_builtin_method_count), 0);
    cmd_method_t again = cmd_builtin_methods[0];
    assert_int_equal(dispatch_register(&srv, &again, 1), -1);
    /* Two of one name in the same call (a repeated methods.def entry). */
    cmd_method_t twins[2] = {{"test.twin", cmd_builtin_methods[0].fn, CMD_LOOP, false, NULL, 0, 9},
                             {"test.twin", cmd_builtin_methods[0].fn, CMD_LOOP, false, NULL, 0, 9}};
    assert_int_equal(dispatch_register(&srv, twins, 2), -1);
    assert_int_equal(srv.nmethods, cmd_builtin_method_count);
    cmd_method_t wide = {"test.wide", cmd_builtin_methods[0].fn, CMD_LOOP, false,
                         NULL,        CMD_MAX_ARGS + 1,          9};
    assert_int_equal(dispatch_register(&srv, &wide, 1), -1);
    wide.nargs = CMD_MAX_ARGS;
    assert_int_equal(dispatch_register(&srv, &wide, 1), 0);
    assert_int_equal(srv.nmethods, cmd_builtin_method_count + 1);
    assert_int_equal(dispatch_init(&srv), 0);
    cmd_method_t late = {"test.late", cmd_builtin_methods[0].fn, CMD_LOOP, false, NULL, 0, 9};
    assert_int_equal(dispatch_register(&srv, &late, 1), -1);
    dispatch_deinit(&srv);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_dispatch_answers_ping_in_place),
        T(test_dispatch_unknown_method_is_a_request_error_naming_it),
        T(test_dispatch_unknown_argument_is_unknown_field),
        T(test_dispatch_wrong_type_is_invalid_argument_naming_the_field),
        T(test_dispatch_missing_required_argument_is_invalid_argument),
        T(test_dispatch_duplicate_argument_is_refused),
        T(test_dispatch_argument_length_limit_at_and_past_the_limit),
        T(test_dispatch_failed_write_replies_error_and_leaves_no_row),
        T(test_dispatch_params_must_be_an_array_of_one_map),
        T(test_dispatch_notification_runs_without_a_reply),
        T(test_dispatch_response_or_non_rpc_message_closes),
        T(test_dispatch_write_queue_cap_refuses_writes_past_it),
        T(test_dispatch_refuses_new_requests_while_shutting_down),
        cmocka_unit_test(test_dispatch_register_refuses_repeats_wide_methods_and_late_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

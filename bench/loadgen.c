/* loadgen.c - closed-loop load generator for noormd over its Unix socket.
 *
 * Each connection keeps --depth requests in flight, pipelined: every answer
 * is replaced by a new request, and all replacements prepared while handling
 * one read go out in one send(). Requests are pre-encoded templates whose
 * fixed-width fields (uint32 msgid, hex key) are patched in place; answers
 * are framed with proto_scan_feed and only their head is read (msgid, and
 * whether the error slot is nil). Latency is measured per request, from the
 * send() that carried it to the read() that brought its answer, into a
 * log-linear histogram. One epoll loop per thread; connections are dealt to
 * threads round-robin.
 *
 * Besides load, it can hold --idle extra connections (each used for one ping,
 * so the server has surely accepted it) and read the server's VmRSS from
 * /proc/PID/status, and read writer counters from server.stats.
 *
 * Auth.js data: --load-users N first creates N users and N sessions (tokens
 * "sess-<i>", i in fixed-width decimal) over one deeply pipelined
 * connection. The mix entries auth.getSessionAndUser (a random loaded token)
 * and auth.createSession (a unique token for a random loaded user) then work
 * on that population, given by --users when it was loaded earlier. A
 * session's expiry is stamped when its request is prepared, 30 days ahead,
 * so expiries grow over time as they do in a real deployment.
 *
 * Every run is bounded: the load stops at warmup + duration, and an alarm
 * kills the process if connecting or the idle phase hangs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <msgpack.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto_scan.h"

#define LG_MAX_MIX        8     /* methods in one --mix */
#define LG_MAX_DEPTH      4096  /* requests in flight per connection */
#define LG_MAX_VALUE      60000 /* largest test.write value (server limit 65536) */
#define LG_KEY_LEN        24    /* hex key: nonce 8 + connection 4 + counter 12 */
#define LG_READ_CHUNK     (64 * 1024)
#define LG_MAX_REPLY      (16u * 1024 * 1024) /* largest answer accepted */
#define LG_HIST_SUB_BITS  6                   /* 64 buckets per power of two: < 1.6% error */
#define LG_HIST_SUB       (1u << LG_HIST_SUB_BITS)
#define LG_HIST_BUCKETS   (LG_HIST_SUB + (44 - LG_HIST_SUB_BITS) * LG_HIST_SUB)
#define LG_EVENTS         256           /* epoll events per wait */
#define LG_WATCHDOG_SLACK 60            /* seconds allowed for connecting and idle setup */
#define LG_NUM_DIGITS     10            /* decimal user and token numbers: "user-0000000042" */
#define LG_MAX_USERS      1000000000u   /* fits LG_NUM_DIGITS digits */
#define LG_LOAD_WINDOW    1024          /* loader requests in flight */
#define LG_LOAD_RATE_MIN  500           /* loader writes/s assumed by its watchdog */
#define LG_EXPIRES_S      (30 * 86400)  /* sessions expire 30 days from now */
#define LG_EXPIRES_EPOCH  1700000000ull /* the seconds of an expiry must exceed this */

/* What a request carries besides its method name. */
typedef enum {
    LG_KIND_PLAIN,        /* {} */
    LG_KIND_WRITE,        /* {key: unique, value: bin} */
    LG_KIND_GET,          /* {key: one this connection wrote, or never written} */
    LG_KIND_SESSION_GET,  /* {sessionToken: sess-<random loaded i>} */
    LG_KIND_SESSION_NEW,  /* {sessionToken: unique, userId: user-<random loaded i>, expires} */
    LG_KIND_USER_LOAD,    /* loader: {id: user-<i>, email: user-<i>@example.com} */
    LG_KIND_SESSION_LOAD, /* loader: {sessionToken: sess-<i>, userId: user-<i>, expires} */
} lg_kind_t;

/* One method of the mix: its pre-encoded request and where to patch it. */
typedef struct {
    char method[32];    /* method name (fixstr, so < 32 bytes) */
    unsigned weight;    /* share of requests, relative to the other entries */
    lg_kind_t kind;     /* argument shape */
    uint8_t *tmpl;      /* encoded request, msgid and key as placeholders */
    size_t len;         /* template bytes */
    size_t msgid_off;   /* offset of the 4 big-endian msgid bytes */
    size_t key_off;     /* offset of the LG_KEY_LEN key characters (WRITE, GET,
                           SESSION_NEW) or of the token's LG_NUM_DIGITS digits
                           (SESSION_GET, SESSION_LOAD) */
    size_t user_off;    /* offset of the userId's (or id's) LG_NUM_DIGITS digits */
    size_t email_off;   /* offset of the email's LG_NUM_DIGITS digits (USER_LOAD) */
    size_t expires_off; /* offset of the expiry's 8 timestamp bytes (SESSION_NEW, _LOAD) */
} lg_req_t;

typedef struct {
    const char *socket_path;  /* server socket */
    unsigned connections;     /* loaded connections */
    unsigned depth;           /* requests in flight per loaded connection */
    unsigned threads;         /* event loops */
    unsigned idle;            /* extra idle connections held open */
    double duration_s;        /* measured seconds */
    double warmup_s;          /* seconds of load before measuring */
    long pid;                 /* server pid for VmRSS, 0 = none */
    bool json;                /* one JSON line instead of text */
    bool server_stats;        /* read writer counters before and after */
    unsigned value_bytes;     /* test.write value size */
    unsigned load_users;      /* users and sessions to create before the load */
    unsigned users;           /* loaded population the auth.* mix entries pick from */
    const char *mix_text;     /* --mix as given */
    lg_req_t mix[LG_MAX_MIX]; /* parsed mix */
    unsigned nmix;            /* entries used */
    unsigned weight_total;    /* sum of weights */
    size_t max_req_len;       /* longest template */
} lg_opts_t;

/* A log-linear latency histogram in nanoseconds. */
typedef struct {
    uint64_t count;                   /* samples */
    uint64_t max_ns;                  /* largest sample */
    uint64_t bucket[LG_HIST_BUCKETS]; /* samples per bucket */
} lg_hist_t;

typedef struct {
    int fd;                        /* socket, non-blocking; -1 once dead */
    unsigned id;                   /* connection number, part of the keys it writes */
    uint64_t rng;                  /* xorshift state for the mix */
    uint64_t written;              /* keys written so far (test.write counter) */
    uint64_t created;              /* sessions created so far (auth.createSession) */
    uint16_t gen;                  /* bumped per request, the high half of the msgid */
    proto_scan_t scan;             /* frames the answer being read */
    uint8_t *in;                   /* received bytes */
    size_t in_off, in_len, in_cap; /* first unhandled byte, bytes held, bytes allocated */
    uint8_t *out;                  /* requests not yet sent */
    size_t out_off, out_len;       /* first unsent byte, bytes held */
    bool want_out;                 /* EPOLLOUT registered */
    uint32_t *slot_msgid;          /* msgid in flight per slot */
    uint64_t *slot_t0;             /* send time per slot, 0 = free */
    uint8_t *slot_kind;            /* lg_kind_t of the request per slot */
    uint32_t *free_slot;           /* stack of free slots */
    unsigned nfree;                /* slots on the stack */
} lg_conn_t;

/* One event loop and its share of connections and results. */
typedef struct {
    const lg_opts_t *opt; /* options */
    unsigned index;       /* thread number */
    int ep;               /* epoll instance */
    lg_conn_t *conns;     /* its connections */
    unsigned nconns;      /* how many */
    uint64_t t_measure;   /* measuring starts (monotonic ns) */
    uint64_t t_end;       /* load stops */
    uint64_t ok;          /* answers with a nil error, inside the window */
    uint64_t errors;      /* error answers inside the window */
    uint64_t
        nil_results;    /* lookups (test.get, getSessionAndUser) answered nil, inside the window */
    uint64_t failures;  /* bad frames, unknown msgids, notifications, disconnects: any time */
    uint64_t sent;      /* requests sent, any time */
    uint64_t answered;  /* answers matched to a request, any time */
    lg_hist_t hist;     /* latencies inside the window */
    bool printed_error; /* the first error answer was shown */
} lg_thread_t;

static uint32_t lg_key_nonce;

static uint64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void lg_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void lg_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---- histogram ---------------------------------------------------------- */

static unsigned lg_hist_bucket(uint64_t v)
{
    if (v < LG_HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= LG_HIST_SUB_BITS */
    unsigned sub = (unsigned)(v >> (e - LG_HIST_SUB_BITS)) & (LG_HIST_SUB - 1);
    unsigned b = LG_HIST_SUB + (e - LG_HIST_SUB_BITS) * LG_HIST_SUB + sub;
    return b < LG_HIST_BUCKETS ? b : LG_HIST_BUCKETS - 1;
}

/* Middle of a bucket's range, in ns. */
static double lg_hist_value(unsigned b)
{
    if (b < LG_HIST_SUB)
        return (double)b;
    unsigned e = (b - LG_HIST_SUB) / LG_HIST_SUB + LG_HIST_SUB_BITS;
    unsigned sub = (b - LG_HIST_SUB) % LG_HIST_SUB;
    double width = (double)(1ull << (e - LG_HIST_SUB_BITS));
    return (double)(1ull << e) + sub * width + width / 2;
}

static inline void lg_hist_add(lg_hist_t *h, uint64_t ns)
{
    h->count++;
    h->bucket[lg_hist_bucket(ns)]++;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

static void lg_hist_merge(lg_hist_t *into, const lg_hist_t *from)
{
    into->count += from->count;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
    for (unsigned b = 0; b < LG_HIST_BUCKETS; b++)
        into->bucket[b] += from->bucket[b];
}

/* Latency at quantile q (0..1) in microseconds; -1 when empty. The sample of
 * rank ceil(q * count) is reported, never above the true maximum. */
static double lg_hist_quantile_us(const lg_hist_t *h, double q)
{
    if (h->count == 0)
        return -1;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < LG_HIST_BUCKETS; b++) {
        seen += h->bucket[b];
        if (seen >= rank) {
            double v = lg_hist_value(b);
            if (v > (double)h->max_ns)
                v = (double)h->max_ns;
            return v / 1000.0;
        }
    }
    return (double)h->max_ns / 1000.0;
}

/* ---- request templates -------------------------------------------------- */

static size_t lg_put(uint8_t *p, size_t at, const void *src, size_t n)
{
    memcpy(p + at, src, n);
    return at + n;
}

static size_t lg_put_fixstr(uint8_t *p, size_t at, const char *s)
{
    size_t n = strlen(s);
    p[at++] = (uint8_t)(0xa0 | n);
    return lg_put(p, at, s, n);
}

/* Writes fixstr prefix + LG_NUM_DIGITS zeros + suffix; *digits_off gets the
 * offset of the first digit. */
static size_t lg_put_numstr(uint8_t *p, size_t at, const char *prefix, const char *suffix,
                            size_t *digits_off)
{
    char s[32];
    int n = snprintf(s, sizeof s, "%s%0*d%s", prefix, LG_NUM_DIGITS, 0, suffix);
    if (n < 0 || n >= (int)sizeof s)
        lg_die("template string too long");
    *digits_off = at + 1 + strlen(prefix);
    return lg_put_fixstr(p, at, s);
}

/* The body of a 64-bit MessagePack timestamp (nanoseconds in the top 30
 * bits, seconds in the low 34, big-endian) for LG_EXPIRES_S from now, in
 * whole milliseconds like a JavaScript Date. */
static uint64_t lg_expires_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t sec = (uint64_t)ts.tv_sec + LG_EXPIRES_S;
    uint64_t nsec = (uint64_t)(ts.tv_nsec / 1000000) * 1000000;
    if (sec <= LG_EXPIRES_EPOCH || sec >= (1ull << 34))
        lg_die("the clock is off: %llu s", (unsigned long long)ts.tv_sec);
    return nsec << 34 | sec;
}

static void lg_put_u64be(uint8_t *dst, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        dst[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Writes an expiry (d7 ff + 8 bytes) and records where its 8 bytes are. */
static size_t lg_put_expires(uint8_t *p, size_t at, size_t *off)
{
    p[at++] = 0xd7;
    p[at++] = 0xff;
    *off = at;
    lg_put_u64be(p + at, lg_expires_now());
    return at + 8;
}

/* Encodes [0, msgid, method, [ {args} ]] with placeholders for the msgid and
 * the numbers patched per request. */
static void lg_req_build(lg_req_t *r, unsigned value_bytes)
{
    size_t cap = 192 + LG_KEY_LEN + value_bytes;
    uint8_t *p = malloc(cap);
    if (!p)
        lg_die("out of memory");
    size_t at = 0;
    p[at++] = 0x94;
    p[at++] = 0x00;
    p[at++] = 0xce; /* uint32 msgid: always 4 bytes, so it can be patched */
    r->msgid_off = at;
    memset(p + at, 0, 4);
    at += 4;
    at = lg_put_fixstr(p, at, r->method);
    p[at++] = 0x91;
    char key[LG_KEY_LEN + 1];
    memset(key, '0', LG_KEY_LEN);
    key[LG_KEY_LEN] = '\0';
    switch (r->kind) {
    case LG_KIND_PLAIN: p[at++] = 0x80; break;
    case LG_KIND_GET:
        p[at++] = 0x81;
        at = lg_put_fixstr(p, at, "key");
        r->key_off = at + 1;
        at = lg_put_fixstr(p, at, key);
        break;
    case LG_KIND_WRITE:
        p[at++] = 0x82;
        at = lg_put_fixstr(p, at, "key");
        r->key_off = at + 1;
        at = lg_put_fixstr(p, at, key);
        at = lg_put_fixstr(p, at, "value");
        if (value_bytes < 256) {
            p[at++] = 0xc4;
            p[at++] = (uint8_t)value_bytes;
        } else {
            p[at++] = 0xc5;
            p[at++] = (uint8_t)(value_bytes >> 8);
            p[at++] = (uint8_t)value_bytes;
        }
        memset(p + at, 'v', value_bytes);
        at += value_bytes;
        break;
    case LG_KIND_SESSION_GET:
        p[at++] = 0x81;
        at = lg_put_fixstr(p, at, "sessionToken");
        at = lg_put_numstr(p, at, "sess-", "", &r->key_off);
        break;
    case LG_KIND_SESSION_NEW:
    case LG_KIND_SESSION_LOAD:
        p[at++] = 0x83;
        at = lg_put_fixstr(p, at, "sessionToken");
        if (r->kind == LG_KIND_SESSION_NEW) {
            r->key_off = at + 1;
            at = lg_put_fixstr(p, at, key);
        } else {
            at = lg_put_numstr(p, at, "sess-", "", &r->key_off);
        }
        at = lg_put_fixstr(p, at, "userId");
        at = lg_put_numstr(p, at, "user-", "", &r->user_off);
        at = lg_put_fixstr(p, at, "expires");
        at = lg_put_expires(p, at, &r->expires_off);
        break;
    case LG_KIND_USER_LOAD:
        p[at++] = 0x82;
        at = lg_put_fixstr(p, at, "id");
        at = lg_put_numstr(p, at, "user-", "", &r->user_off);
        at = lg_put_fixstr(p, at, "email");
        at = lg_put_numstr(p, at, "user-", "@example.com", &r->email_off);
        break;
    }
    if (at > cap)
        lg_die("template overflow"); /* cap is sized for the longest shape */
    r->tmpl = p;
    r->len = at;
}

static void lg_hex(uint8_t *dst, uint64_t v, unsigned digits)
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = digits; i-- > 0;) {
        dst[i] = (uint8_t)hex[v & 15];
        v >>= 4;
    }
}

/* Writes v as `digits` decimal digits, zero-padded (v < 10^digits). */
static void lg_dec(uint8_t *dst, uint64_t v, unsigned digits)
{
    for (unsigned i = digits; i-- > 0;) {
        dst[i] = (uint8_t)('0' + v % 10);
        v /= 10;
    }
}

static void lg_put_msgid(uint8_t *dst, uint32_t msgid)
{
    dst[0] = (uint8_t)(msgid >> 24);
    dst[1] = (uint8_t)(msgid >> 16);
    dst[2] = (uint8_t)(msgid >> 8);
    dst[3] = (uint8_t)msgid;
}

/* Parses "a=90,b=10" (a bare name weighs 100). */
static void lg_mix_parse(lg_opts_t *o)
{
    const char *s = o->mix_text;
    o->nmix = 0;
    o->weight_total = 0;
    while (*s) {
        if (o->nmix == LG_MAX_MIX)
            lg_die("--mix has more than %d entries", LG_MAX_MIX);
        lg_req_t *r = &o->mix[o->nmix];
        size_t n = strcspn(s, "=,");
        if (n == 0 || n >= sizeof r->method)
            lg_die("--mix: method names are 1..%zu bytes", sizeof r->method - 1);
        for (size_t i = 0; i < n; i++) {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-'))
                lg_die("--mix: bad character in method name");
        }
        memcpy(r->method, s, n);
        r->method[n] = '\0';
        s += n;
        r->weight = 100;
        if (*s == '=') {
            char *end;
            unsigned long w = strtoul(s + 1, &end, 10);
            if (end == s + 1 || w == 0 || w > 1000000)
                lg_die("--mix: weight of %s must be 1..1000000", r->method);
            r->weight = (unsigned)w;
            s = end;
        }
        if (*s == ',')
            s++;
        else if (*s)
            lg_die("--mix: expected ',' after %s", r->method);
        r->kind = strcmp(r->method, "test.write") == 0               ? LG_KIND_WRITE
                  : strcmp(r->method, "test.get") == 0               ? LG_KIND_GET
                  : strcmp(r->method, "auth.getSessionAndUser") == 0 ? LG_KIND_SESSION_GET
                  : strcmp(r->method, "auth.createSession") == 0     ? LG_KIND_SESSION_NEW
                                                                     : LG_KIND_PLAIN;
        if ((r->kind == LG_KIND_SESSION_GET || r->kind == LG_KIND_SESSION_NEW) && o->users == 0)
            lg_die("--mix %s needs --users N or --load-users N", r->method);
        lg_req_build(r, o->value_bytes);
        if (r->len > o->max_req_len)
            o->max_req_len = r->len;
        o->weight_total += r->weight;
        o->nmix++;
    }
    if (o->nmix == 0)
        lg_die("--mix is empty");
}

/* ---- sockets ------------------------------------------------------------ */

/* Blocking connect; the caller sets O_NONBLOCK if it wants. Exits on
 * failure: a benchmark with fewer connections than asked would mislead. */
static int lg_connect(const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path)
        lg_die("socket path too long: %s", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        lg_die("socket: %s", strerror(errno));
    while (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno == EINTR)
            continue;
        lg_die("connect %s: %s", path, strerror(errno));
    }
    return fd;
}

/* Sends `req` on a blocking socket and reads the one answer into a malloc'd
 * buffer (*len bytes); the caller frees it. */
static uint8_t *lg_call(int fd, const uint8_t *req, size_t req_len, size_t *len)
{
    for (size_t off = 0; off < req_len;) {
        ssize_t n = send(fd, req + off, req_len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            lg_die("send: %s", n < 0 ? strerror(errno) : "closed");
        off += (size_t)n;
    }
    proto_scan_t scan;
    proto_scan_init(&scan, LG_MAX_REPLY, PROTO_SCAN_DEPTH_CAP);
    size_t cap = 4096, have = 0, msg_len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf)
            lg_die("out of memory");
        int r = proto_scan_feed(&scan, buf, have, &msg_len);
        if (r == PROTO_SCAN_COMPLETE)
            break;
        if (r < 0)
            lg_die("bad answer: %s", proto_scan_strerror(r));
        if (have == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            continue;
        }
        ssize_t n = recv(fd, buf + have, cap - have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            lg_die("recv: %s", n < 0 ? strerror(errno) : "server closed the connection");
        have += (size_t)n;
    }
    *len = msg_len;
    return buf;
}

/* CPU seconds this process has used (user + system, all threads). */
static double lg_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static long lg_rss_kb(long pid)
{
    if (pid <= 0)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* Raises the open-file limit to at least `need`. */
static void lg_raise_nofile(rlim_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return;
    if (rl.rlim_max < need)
        rl.rlim_max = need; /* works with CAP_SYS_RESOURCE; else setrlimit says no */
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        lg_die("cannot raise RLIMIT_NOFILE to %llu: %s", (unsigned long long)need, strerror(errno));
}

/* ---- server.stats ------------------------------------------------------- */

typedef struct {
    bool ok;                /* the fields below were read */
    uint64_t batches;       /* writer.batches_committed */
    uint64_t writes;        /* writer.writes_committed */
    uint64_t largest_batch; /* writer.largest_batch */
    uint64_t answered;      /* sum of methods.*.count: requests the server answered */
} lg_writer_stats_t;

static const msgpack_object *lg_map_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
            memcmp(k->via.str.ptr, key, klen) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static uint64_t lg_u64(const msgpack_object *o)
{
    return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : 0;
}

/* Calls server.stats on `fd` and reads the writer counters. */
static lg_writer_stats_t lg_writer_stats(int fd)
{
    lg_writer_stats_t ws = {0};
    lg_req_t r = {.kind = LG_KIND_PLAIN};
    strcpy(r.method, "server.stats");
    lg_req_build(&r, 0);
    size_t len;
    uint8_t *ans = lg_call(fd, r.tmpl, r.len, &len);
    free(r.tmpl);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, (const char *)ans, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 4 &&
        u.data.via.array.ptr[2].type == MSGPACK_OBJECT_NIL) {
        const msgpack_object *w = lg_map_get(&u.data.via.array.ptr[3], "writer");
        if (w) {
            ws.ok = true;
            ws.batches = lg_u64(lg_map_get(w, "batches_committed"));
            ws.writes = lg_u64(lg_map_get(w, "writes_committed"));
            ws.largest_batch = lg_u64(lg_map_get(w, "largest_batch"));
        }
        const msgpack_object *m = lg_map_get(&u.data.via.array.ptr[3], "methods");
        for (uint32_t i = 0; m && m->type == MSGPACK_OBJECT_MAP && i < m->via.map.size; i++)
            ws.answered += lg_u64(lg_map_get(&m->via.map.ptr[i].val, "count"));
    }
    msgpack_unpacked_destroy(&u);
    free(ans);
    return ws;
}

/* ---- idle connections --------------------------------------------------- */

/* Opens n connections and pings each once: the answer proves the server
 * accepted it (connects can sit in the listen backlog). Returns the fds. */
static int *lg_idle_open(const lg_opts_t *o, unsigned n)
{
    int *fds = calloc(n ? n : 1, sizeof *fds);
    if (!fds)
        lg_die("out of memory");
    lg_req_t ping = {.kind = LG_KIND_PLAIN};
    strcpy(ping.method, "server.ping");
    lg_req_build(&ping, 0);
    for (unsigned i = 0; i < n; i++) {
        fds[i] = lg_connect(o->socket_path);
        /* The msgid is the connection number; the answer is checked below. */
        uint32_t id = i;
        ping.tmpl[ping.msgid_off] = (uint8_t)(id >> 24);
        ping.tmpl[ping.msgid_off + 1] = (uint8_t)(id >> 16);
        ping.tmpl[ping.msgid_off + 2] = (uint8_t)(id >> 8);
        ping.tmpl[ping.msgid_off + 3] = (uint8_t)id;
        size_t len;
        uint8_t *ans = lg_call(fds[i], ping.tmpl, ping.len, &len);
        if (len < 3 || ans[0] != 0x94 || ans[1] != 0x01)
            lg_die("idle connection %u: unexpected answer to server.ping", i);
        free(ans);
    }
    free(ping.tmpl);
    return fds;
}

/* ---- the load loop ------------------------------------------------------ */

static inline uint64_t lg_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static const lg_req_t *lg_pick(const lg_opts_t *o, lg_conn_t *c)
{
    if (o->nmix == 1)
        return &o->mix[0];
    unsigned w = (unsigned)(lg_rand(&c->rng) % o->weight_total);
    for (unsigned i = 0; i < o->nmix; i++) {
        if (w < o->mix[i].weight)
            return &o->mix[i];
        w -= o->mix[i].weight;
    }
    return &o->mix[o->nmix - 1];
}

/* Appends requests for every free slot to c->out, stamped `now`. */
static void lg_conn_fill(lg_thread_t *t, lg_conn_t *c, uint64_t now)
{
    const lg_opts_t *o = t->opt;
    if (c->out_off > 0) {
        /* Keep only unsent bytes: they belong to requests in flight, so the
         * buffer (depth x longest request) always has room. */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    uint64_t expires = 0;
    while (c->nfree > 0) {
        uint32_t slot = c->free_slot[--c->nfree];
        const lg_req_t *r = lg_pick(o, c);
        uint8_t *p = c->out + c->out_len;
        memcpy(p, r->tmpl, r->len);
        uint32_t msgid = ((uint32_t)++c->gen << 16) | slot;
        lg_put_msgid(p + r->msgid_off, msgid);
        uint64_t n;
        switch (r->kind) {
        case LG_KIND_WRITE:
        case LG_KIND_GET:
        case LG_KIND_SESSION_NEW:
            n = r->kind == LG_KIND_WRITE         ? c->written++
                : r->kind == LG_KIND_SESSION_NEW ? c->created++
                : c->written                     ? lg_rand(&c->rng) % c->written
                                                 : 0;
            lg_hex(p + r->key_off, lg_key_nonce, 8);
            lg_hex(p + r->key_off + 8, c->id, 4);
            lg_hex(p + r->key_off + 12, n, 12);
            if (r->kind == LG_KIND_SESSION_NEW) {
                lg_dec(p + r->user_off, lg_rand(&c->rng) % o->users, LG_NUM_DIGITS);
                if (!expires)
                    expires = lg_expires_now(); /* once per fill: one clock read */
                lg_put_u64be(p + r->expires_off, expires);
            }
            break;
        case LG_KIND_SESSION_GET:
            lg_dec(p + r->key_off, lg_rand(&c->rng) % o->users, LG_NUM_DIGITS);
            break;
        default: break;
        }
        c->out_len += r->len;
        c->slot_msgid[slot] = msgid;
        c->slot_t0[slot] = now;
        c->slot_kind[slot] = (uint8_t)r->kind;
        t->sent++;
    }
}

static void lg_conn_kill(lg_thread_t *t, lg_conn_t *c, const char *why)
{
    if (c->fd < 0)
        return;
    fprintf(stderr, "loadgen: connection %u lost: %s\n", c->id, why);
    t->failures++;
    epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

static void lg_conn_want_out(lg_thread_t *t, lg_conn_t *c, bool want)
{
    if (c->want_out == want)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want;
}

static void lg_conn_flush(lg_thread_t *t, lg_conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            lg_conn_want_out(t, c, true);
            return;
        }
        lg_conn_kill(t, c, n < 0 ? strerror(errno) : "send returned 0");
        return;
    }
    c->out_off = c->out_len = 0;
    lg_conn_want_out(t, c, false);
}

/* Prints `what` and the message, decoded, on stderr. */
static void lg_print_msg(const char *what, const uint8_t *m, size_t len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    fprintf(stderr, "loadgen: %s: ", what);
    if (msgpack_unpack_next(&u, (const char *)m, len, &off) == MSGPACK_UNPACK_SUCCESS)
        msgpack_object_print(stderr, u.data);
    fputc('\n', stderr);
    msgpack_unpacked_destroy(&u);
}

/* Shows the first error answer of a thread, decoded, on stderr. */
static void lg_show_error(lg_thread_t *t, const uint8_t *m, size_t len)
{
    if (t->printed_error)
        return;
    t->printed_error = true;
    lg_print_msg("first error answer", m, len);
}

/* Reads the head of one whole answer [1, msgid, error, result]: its msgid,
 * and in *at the offset of the error slot (< len). False when the message is
 * not an answer with a uint msgid. */
static bool lg_answer_head(const uint8_t *m, size_t len, uint32_t *msgid, size_t *at)
{
    if (len < 4 || m[0] != 0x94 || m[1] != 0x01)
        return false;
    uint8_t b = m[2];
    if (b < 0x80) {
        *msgid = b;
        *at = 3;
    } else if (b == 0xcc && len > 4) {
        *msgid = m[3];
        *at = 4;
    } else if (b == 0xcd && len > 5) {
        *msgid = (uint32_t)m[3] << 8 | m[4];
        *at = 5;
    } else if (b == 0xce && len > 7) {
        *msgid = (uint32_t)m[3] << 24 | (uint32_t)m[4] << 16 | (uint32_t)m[5] << 8 | m[6];
        *at = 7;
    } else {
        return false;
    }
    return true;
}

/* Handles one whole answer: frees its slot, counts it, records latency. */
static void lg_conn_answer(lg_thread_t *t, lg_conn_t *c, const uint8_t *m, size_t len, uint64_t now)
{
    if (len >= 2 && m[0] == 0x93 && m[1] == 0x02) {
        /* A notification: server.error, a protocol error before a close. */
        t->failures++;
        lg_show_error(t, m, len);
        return;
    }
    uint32_t msgid;
    size_t at;
    if (!lg_answer_head(m, len, &msgid, &at)) {
        t->failures++;
        return;
    }
    uint32_t slot = msgid & 0xffff;
    if (slot >= t->opt->depth || c->slot_t0[slot] == 0 || c->slot_msgid[slot] != msgid) {
        t->failures++; /* an answer to nothing we asked */
        return;
    }
    uint64_t t0 = c->slot_t0[slot];
    c->slot_t0[slot] = 0;
    c->free_slot[c->nfree++] = slot;
    t->answered++;
    if (now < t->t_measure)
        return;
    if (m[at] == 0xc0) {
        t->ok++;
        lg_hist_add(&t->hist, now - t0);
        lg_kind_t kind = (lg_kind_t)c->slot_kind[slot];
        if ((kind == LG_KIND_GET || kind == LG_KIND_SESSION_GET) && at + 1 < len &&
            m[at + 1] == 0xc0)
            t->nil_results++;
    } else {
        t->errors++;
        lg_show_error(t, m, len);
    }
}

/* Reads what arrived, handles every whole answer, sends replacements. The
 * clock is read once per recv(): it stamps the answers just read and the
 * requests sent in their place. */
static void lg_conn_read(lg_thread_t *t, lg_conn_t *c)
{
    if (c->in_off > 0 && c->in_cap - c->in_len < LG_READ_CHUNK / 2) {
        /* Move the partial answer to the front; the scanner is fed from the
         * answer's first byte, so only the base pointer changes. */
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    if (c->in_len == c->in_cap) {
        if (c->in_cap >= LG_MAX_REPLY + LG_READ_CHUNK) {
            lg_conn_kill(t, c, "answer too large");
            return;
        }
        uint8_t *p = realloc(c->in, c->in_cap * 2);
        if (!p)
            lg_die("out of memory");
        c->in = p;
        c->in_cap *= 2;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        lg_conn_kill(t, c, n < 0 ? strerror(errno) : "server closed the connection");
        return;
    }
    uint64_t now = lg_now_ns();
    c->in_len += (size_t)n;
    while (c->in_off < c->in_len) {
        size_t msg_len = 0;
        int r = proto_scan_feed(&c->scan, c->in + c->in_off, c->in_len - c->in_off, &msg_len);
        if (r == PROTO_SCAN_NEED_MORE)
            break;
        if (r < 0) {
            lg_conn_kill(t, c, proto_scan_strerror(r));
            return;
        }
        proto_scan_reset(&c->scan);
        lg_conn_answer(t, c, c->in + c->in_off, msg_len, now);
        c->in_off += msg_len;
    }
    if (c->in_off == c->in_len)
        c->in_off = c->in_len = 0;
    if (now < t->t_end)
        lg_conn_fill(t, c, now);
    lg_conn_flush(t, c);
}

static void lg_conn_init(lg_thread_t *t, lg_conn_t *c, unsigned id)
{
    const lg_opts_t *o = t->opt;
    memset(c, 0, sizeof *c);
    c->id = id;
    c->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)id * 0xbf58476d1ce4e5b9ull) ^ lg_key_nonce;
    if (c->rng == 0)
        c->rng = 1;
    proto_scan_init(&c->scan, LG_MAX_REPLY, PROTO_SCAN_DEPTH_CAP);
    c->in_cap = 2 * LG_READ_CHUNK;
    c->in = malloc(c->in_cap);
    c->out = malloc(o->depth * o->max_req_len);
    c->slot_msgid = calloc(o->depth, sizeof *c->slot_msgid);
    c->slot_t0 = calloc(o->depth, sizeof *c->slot_t0);
    c->slot_kind = calloc(o->depth, sizeof *c->slot_kind);
    c->free_slot = malloc(o->depth * sizeof *c->free_slot);
    if (!c->in || !c->out || !c->slot_msgid || !c->slot_t0 || !c->slot_kind || !c->free_slot)
        lg_die("out of memory");
    for (unsigned s = 0; s < o->depth; s++)
        c->free_slot[c->nfree++] = o->depth - 1 - s;
    c->fd = lg_connect(o->socket_path);
    int fl = fcntl(c->fd, F_GETFL);
    fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        lg_die("epoll_ctl: %s", strerror(errno));
}

static void lg_conn_deinit(lg_conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->in);
    free(c->out);
    free(c->slot_msgid);
    free(c->slot_t0);
    free(c->slot_kind);
    free(c->free_slot);
}

/* The event loop of one thread: load until t_end. */
static void *lg_thread_main(void *arg)
{
    lg_thread_t *t = arg;
    struct epoll_event evs[LG_EVENTS];
    uint64_t now = lg_now_ns();
    for (unsigned i = 0; i < t->nconns; i++) {
        lg_conn_fill(t, &t->conns[i], now);
        lg_conn_flush(t, &t->conns[i]);
    }
    for (;;) {
        now = lg_now_ns();
        if (now >= t->t_end)
            break;
        unsigned alive = 0;
        for (unsigned i = 0; i < t->nconns && !alive; i++)
            alive += t->conns[i].fd >= 0;
        if (!alive)
            break;
        /* Wake at least at the end of the run even when nothing answers. */
        uint64_t left_ms = (t->t_end - now + 999999) / 1000000;
        int timeout = left_ms > 100 ? 100 : (int)left_ms;
        int n = epoll_wait(t->ep, evs, LG_EVENTS, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            lg_die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            lg_conn_t *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                lg_conn_read(t, c);
            if (c->fd >= 0 && (evs[i].events & EPOLLOUT))
                lg_conn_flush(t, c);
        }
    }
    return NULL;
}

/* ---- data loader -------------------------------------------------------- */

/* Creates users user-<i> (email user-<i>@example.com) and sessions sess-<i>
 * for user-<i>, i in [0, n) written in LG_NUM_DIGITS digits, over one
 * connection with LG_LOAD_WINDOW requests in flight. Each createUser goes
 * before its createSession on the same connection, and the server runs the
 * writes of a connection in order, so a session never names a user not yet
 * created. Exits on any error answer (loading into a database that already
 * holds the users gets CONFLICT). Returns the seconds it took. */
static double lg_load(const lg_opts_t *o, unsigned n)
{
    lg_req_t ur = {.kind = LG_KIND_USER_LOAD}, sr = {.kind = LG_KIND_SESSION_LOAD};
    strcpy(ur.method, "auth.createUser");
    strcpy(sr.method, "auth.createSession");
    lg_req_build(&ur, 0);
    lg_req_build(&sr, 0);
    size_t out_cap = LG_LOAD_WINDOW * (ur.len > sr.len ? ur.len : sr.len);
    size_t in_cap = 4 * LG_READ_CHUNK;
    uint8_t *out = malloc(out_cap), *in = malloc(in_cap);
    if (!out || !in)
        lg_die("out of memory");
    int fd = lg_connect(o->socket_path);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    proto_scan_t scan;
    proto_scan_init(&scan, LG_MAX_REPLY, PROTO_SCAN_DEPTH_CAP);
    uint64_t total = 2ull * n, sent = 0, answered = 0, t0 = lg_now_ns();
    size_t out_off = 0, out_len = 0, in_off = 0, in_len = 0;
    while (answered < total) {
        /* Unsent bytes belong to requests counted in flight, so out_cap
         * always holds them plus the requests that refill the window. */
        memmove(out, out + out_off, out_len - out_off);
        out_len -= out_off;
        out_off = 0;
        uint64_t expires = lg_expires_now();
        for (; sent < total && sent - answered < LG_LOAD_WINDOW; sent++) {
            const lg_req_t *r = sent % 2 ? &sr : &ur;
            uint8_t *p = out + out_len;
            uint64_t i = sent / 2;
            memcpy(p, r->tmpl, r->len);
            lg_put_msgid(p + r->msgid_off, (uint32_t)sent);
            lg_dec(p + r->user_off, i, LG_NUM_DIGITS);
            lg_dec(p + (r == &sr ? r->key_off : r->email_off), i, LG_NUM_DIGITS);
            if (r == &sr)
                lg_put_u64be(p + r->expires_off, expires);
            out_len += r->len;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN | (out_off < out_len ? POLLOUT : 0)};
        if (poll(&pfd, 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            lg_die("poll: %s", strerror(errno));
        }
        if (pfd.revents & POLLOUT) {
            ssize_t k = send(fd, out + out_off, out_len - out_off, MSG_NOSIGNAL);
            if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                lg_die("load: send: %s", strerror(errno));
            if (k > 0)
                out_off += (size_t)k;
        }
        if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        if (in_off > 0) {
            memmove(in, in + in_off, in_len - in_off);
            in_len -= in_off;
            in_off = 0;
        }
        if (in_len == in_cap) {
            if (in_cap >= LG_MAX_REPLY)
                lg_die("load: answer too large");
            in_cap *= 2;
            if (!(in = realloc(in, in_cap)))
                lg_die("out of memory");
        }
        ssize_t k = recv(fd, in + in_len, in_cap - in_len, 0);
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        if (k <= 0)
            lg_die("load: recv: %s", k < 0 ? strerror(errno) : "server closed the connection");
        in_len += (size_t)k;
        while (in_off < in_len) {
            size_t msg_len = 0;
            int r = proto_scan_feed(&scan, in + in_off, in_len - in_off, &msg_len);
            if (r == PROTO_SCAN_NEED_MORE)
                break;
            if (r < 0)
                lg_die("load: bad answer: %s", proto_scan_strerror(r));
            proto_scan_reset(&scan);
            uint32_t msgid;
            size_t at;
            const uint8_t *m = in + in_off;
            if (!lg_answer_head(m, msg_len, &msgid, &at) || m[at] != 0xc0) {
                lg_print_msg("load: answer", m, msg_len);
                lg_die("load: request %" PRIu32 " failed after %" PRIu64 " answers", msgid,
                       answered);
            }
            answered++;
            in_off += msg_len;
        }
    }
    double s = (double)(lg_now_ns() - t0) / 1e9;
    close(fd);
    free(in);
    free(out);
    free(ur.tmpl);
    free(sr.tmpl);
    return s;
}

/* ---- options and report ------------------------------------------------- */

static void lg_usage(FILE *f)
{
    fputs("Usage: loadgen --socket PATH [OPTION]...\n"
          "Closed-loop MessagePack-RPC load against noormd; prints throughput, latency and\n"
          "server memory.\n\n"
          "  --socket PATH        server socket (required)\n"
          "  --connections N      loaded connections (default 16; 0 = no load)\n"
          "  --depth D            requests in flight per connection, pipelined (default 1)\n"
          "  --duration SECONDS   measured time (default 5)\n"
          "  --warmup SECONDS     load before measuring (default 1)\n"
          "  --mix SPEC           method=weight,... (default server.ping=100); test.write\n"
          "                       sends unique keys, test.get keys this connection wrote\n"
          "  --value-bytes N      test.write value size (default 16)\n"
          "  --load-users N       first create users user-<i> and sessions sess-<i>,\n"
          "                       i < N, pipelined over one connection\n"
          "  --users N            loaded population (default: --load-users): in --mix,\n"
          "                       auth.getSessionAndUser asks for a random sess-<i> and\n"
          "                       auth.createSession makes a unique token for a random\n"
          "                       user-<i>\n"
          "  --threads N          event-loop threads (default 1)\n"
          "  --idle N             also hold N idle connections (each pinged once)\n"
          "  --pid PID            report the server's VmRSS from /proc/PID/status\n"
          "  --server-stats       report writer batches from server.stats (delta over the\n"
          "                       whole run, warmup included)\n"
          "  --json               one JSON line instead of text\n"
          "  --help               this text\n",
          f);
}

static double lg_arg_num(const char *flag, const char *v, double lo, double hi)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || d < lo || d > hi)
        lg_die("%s must be a number in [%g, %g]", flag, lo, hi);
    return d;
}

static void lg_opts_parse(lg_opts_t *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->connections = 16;
    o->depth = 1;
    o->threads = 1;
    o->duration_s = 5;
    o->warmup_s = 1;
    o->value_bytes = 16;
    o->mix_text = "server.ping=100";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            lg_usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (strcmp(a, "--server-stats") == 0) {
            o->server_stats = true;
            continue;
        }
        if (i + 1 >= argc)
            lg_die("%s needs a value (see --help)", a);
        const char *v = argv[++i];
        if (strcmp(a, "--socket") == 0)
            o->socket_path = v;
        else if (strcmp(a, "--connections") == 0)
            o->connections = (unsigned)lg_arg_num(a, v, 0, 60000);
        else if (strcmp(a, "--depth") == 0)
            o->depth = (unsigned)lg_arg_num(a, v, 1, LG_MAX_DEPTH);
        else if (strcmp(a, "--threads") == 0)
            o->threads = (unsigned)lg_arg_num(a, v, 1, 64);
        else if (strcmp(a, "--idle") == 0)
            o->idle = (unsigned)lg_arg_num(a, v, 0, 1000000);
        else if (strcmp(a, "--duration") == 0)
            o->duration_s = lg_arg_num(a, v, 0, 3600);
        else if (strcmp(a, "--warmup") == 0)
            o->warmup_s = lg_arg_num(a, v, 0, 3600);
        else if (strcmp(a, "--pid") == 0)
            o->pid = (long)lg_arg_num(a, v, 1, 4194304);
        else if (strcmp(a, "--mix") == 0)
            o->mix_text = v;
        else if (strcmp(a, "--value-bytes") == 0)
            o->value_bytes = (unsigned)lg_arg_num(a, v, 0, LG_MAX_VALUE);
        else if (strcmp(a, "--load-users") == 0)
            o->load_users = (unsigned)lg_arg_num(a, v, 0, LG_MAX_USERS - 1);
        else if (strcmp(a, "--users") == 0)
            o->users = (unsigned)lg_arg_num(a, v, 0, LG_MAX_USERS - 1);
        else
            lg_die("unknown option %s (see --help)", a);
    }
    if (!o->socket_path)
        lg_die("--socket is required (see --help)");
    if (o->connections > 0 && o->duration_s <= 0)
        lg_die("--duration must be > 0 with --connections > 0");
    if (o->threads > o->connections && o->connections > 0)
        o->threads = o->connections;
    if (o->users == 0)
        o->users = o->load_users;
    lg_mix_parse(o);
}

/* Prints "key":value, with `decimals` digits, or null for a negative value
 * (not measured), then a comma. */
static void lg_json_num(const char *key, double v, int decimals)
{
    if (v < 0)
        printf("\"%s\":null,", key);
    else
        printf("\"%s\":%.*f,", key, decimals, v);
}

int main(int argc, char **argv)
{
    lg_opts_t o;
    lg_opts_parse(&o, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    /* A hung server must not hang the benchmark: SIGALRM's default action
     * ends the process. */
    alarm((unsigned)(o.warmup_s + o.duration_s) + LG_WATCHDOG_SLACK);
    lg_raise_nofile((rlim_t)o.connections + o.idle + 64);
    lg_key_nonce = (uint32_t)(lg_now_ns() ^ ((uint64_t)getpid() << 16));

    double load_s = -1;
    if (o.load_users > 0) {
        alarm(LG_WATCHDOG_SLACK + 2 * o.load_users / LG_LOAD_RATE_MIN);
        load_s = lg_load(&o, o.load_users);
        alarm((unsigned)(o.warmup_s + o.duration_s) + LG_WATCHDOG_SLACK);
    }

    long rss_start = lg_rss_kb(o.pid);
    int stats_fd = -1;
    lg_writer_stats_t ws0 = {0}, ws1 = {0};
    if (o.server_stats) {
        stats_fd = lg_connect(o.socket_path);
        ws0 = lg_writer_stats(stats_fd);
    }

    long rss_idle = -1;
    int *idle_fds = NULL;
    if (o.idle > 0) {
        idle_fds = lg_idle_open(&o, o.idle);
        usleep(200000); /* let the server's allocations settle */
        rss_idle = lg_rss_kb(o.pid);
    }

    lg_thread_t *th = calloc(o.threads, sizeof *th);
    lg_conn_t *conns = calloc(o.connections ? o.connections : 1, sizeof *conns);
    if (!th || !conns)
        lg_die("out of memory");
    for (unsigned i = 0; i < o.threads; i++) {
        th[i].opt = &o;
        th[i].index = i;
        th[i].ep = epoll_create1(EPOLL_CLOEXEC);
        if (th[i].ep < 0)
            lg_die("epoll_create1: %s", strerror(errno));
    }
    /* Deal connections to threads; keep each thread's connections together. */
    unsigned at = 0;
    for (unsigned i = 0; i < o.threads; i++) {
        th[i].conns = conns + at;
        th[i].nconns = o.connections / o.threads + (i < o.connections % o.threads);
        for (unsigned k = 0; k < th[i].nconns; k++)
            lg_conn_init(&th[i], &th[i].conns[k], at + k);
        at += th[i].nconns;
    }

    uint64_t t_start = lg_now_ns();
    double cpu_start = lg_cpu_s();
    uint64_t t_measure = t_start + (uint64_t)(o.warmup_s * 1e9);
    uint64_t t_end = t_measure + (uint64_t)(o.duration_s * 1e9);
    if (o.connections == 0) {
        /* Idle-only run: hold the connections for the duration. */
        uint64_t left = t_end - t_start;
        struct timespec ts = {(time_t)(left / 1000000000ull), (long)(left % 1000000000ull)};
        nanosleep(&ts, NULL);
    } else {
        pthread_t *tid = calloc(o.threads, sizeof *tid);
        if (!tid)
            lg_die("out of memory");
        for (unsigned i = 0; i < o.threads; i++) {
            th[i].t_measure = t_measure;
            th[i].t_end = t_end;
            if (i > 0 && pthread_create(&tid[i], NULL, lg_thread_main, &th[i]) != 0)
                lg_die("pthread_create failed");
        }
        lg_thread_main(&th[0]);
        for (unsigned i = 1; i < o.threads; i++)
            pthread_join(tid[i], NULL);
        free(tid);
    }
    uint64_t t_stop = lg_now_ns();
    double cpu_load = lg_cpu_s() - cpu_start;
    long rss_end = lg_rss_kb(o.pid);
    if (o.server_stats)
        ws1 = lg_writer_stats(stats_fd);

    lg_hist_t *h = calloc(1, sizeof *h);
    if (!h)
        lg_die("out of memory");
    uint64_t ok = 0, errors = 0, failures = 0, sent = 0, answered = 0, nil_results = 0;
    for (unsigned i = 0; i < o.threads; i++) {
        lg_hist_merge(h, &th[i].hist);
        ok += th[i].ok;
        errors += th[i].errors;
        nil_results += th[i].nil_results;
        failures += th[i].failures;
        sent += th[i].sent;
        answered += th[i].answered;
    }
    /* The window is warmup end to the stop, which is t_end unless every
     * connection died first. */
    double window_s =
        t_stop > t_measure ? (double)((t_stop < t_end ? t_stop : t_end) - t_measure) / 1e9 : 0;
    uint64_t requests = ok + errors;
    bool loaded = o.connections > 0;
    double ops = loaded && window_s > 0 ? (double)requests / window_s : -1;
    double p50 = lg_hist_quantile_us(h, 0.50), p99 = lg_hist_quantile_us(h, 0.99),
           p999 = lg_hist_quantile_us(h, 0.999), pmax = h->count ? h->max_ns / 1000.0 : -1;
    bool have_ws = ws0.ok && ws1.ok;
    uint64_t batches = ws1.batches - ws0.batches, writes = ws1.writes - ws0.writes;
    /* ws1 counts the first server.stats call; the second is recorded after
     * it answers. */
    uint64_t srv_answered = ws1.answered - ws0.answered - 1;

    if (o.json) {
        printf("{\"mix\":\"%s\",\"connections\":%u,\"depth\":%u,\"threads\":%u,\"idle\":%u,",
               o.mix_text, o.connections, o.depth, o.threads, o.idle);
        printf("\"warmup_s\":%g,\"duration_s\":%g,\"requests\":%" PRIu64 ",\"errors\":%" PRIu64
               ",\"failures\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"answered\":%" PRIu64
               ",\"nil_results\":%" PRIu64 ",\"users\":%u,",
               o.warmup_s, o.duration_s, requests, errors, failures, sent, answered, nil_results,
               o.users);
        if (o.load_users > 0) {
            lg_json_num("loaded_users", o.load_users, 0);
            lg_json_num("load_s", load_s, 3);
        }
        lg_json_num("ops_per_sec", ops, 0);
        lg_json_num("p50_us", p50, 2);
        lg_json_num("p99_us", p99, 2);
        lg_json_num("p999_us", p999, 2);
        lg_json_num("max_us", pmax, 2);
        lg_json_num("rss_start_kb", (double)rss_start, 0);
        lg_json_num("rss_idle_kb", (double)rss_idle, 0);
        lg_json_num("rss_end_kb", (double)rss_end, 0);
        if (have_ws) {
            lg_json_num("writer_batches", (double)batches, 0);
            lg_json_num("writer_writes", (double)writes, 0);
            lg_json_num("avg_batch", batches ? (double)writes / (double)batches : -1, 2);
            lg_json_num("largest_batch", (double)ws1.largest_batch, 0);
            lg_json_num("server_answered", (double)srv_answered, 0);
        }
        /* The client's own CPU use while loading, in % of one core: with
         * client and server on the same cores, part of the picture. */
        lg_json_num("client_cpu_pct",
                    loaded && t_stop > t_start ? cpu_load * 1e11 / (double)(t_stop - t_start) : -1,
                    0);
        printf("\"window_s\":%.3f}\n", window_s);
    } else {
        if (o.load_users > 0)
            printf("loaded     %u users and %u sessions in %.2f s (%.0f writes/s)\n", o.load_users,
                   o.load_users, load_s, 2.0 * o.load_users / load_s);
        printf("mix %s, %u connections x %u in flight, %u thread(s), %u idle\n", o.mix_text,
               o.connections, o.depth, o.threads, o.idle);
        if (loaded) {
            printf("requests   %" PRIu64 " in %.2f s (after %.1f s warmup), errors %" PRIu64
                   ", failures %" PRIu64 "\n",
                   requests, window_s, o.warmup_s, errors, failures);
            printf("throughput %.0f requests/s\n", ops);
            printf("latency    p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us\n", p50, p99,
                   p999, pmax);
            if (nil_results > 0)
                printf("lookups    %" PRIu64 " answered nil (not found)\n", nil_results);
        }
        if (o.pid)
            printf("server RSS start %ld kB, with idle %ld kB, end %ld kB\n", rss_start, rss_idle,
                   rss_end);
        if (have_ws)
            printf("server     answered %" PRIu64 " (loadgen sent %" PRIu64 "); writer %" PRIu64
                   " writes in %" PRIu64 " batches (avg %.1f, largest %" PRIu64 ")\n",
                   srv_answered, sent, writes, batches,
                   batches ? (double)writes / (double)batches : 0.0, ws1.largest_batch);
    }
    fflush(stdout);

    for (unsigned i = 0; i < o.connections; i++)
        lg_conn_deinit(&conns[i]);
    for (unsigned i = 0; i < o.idle; i++)
        close(idle_fds[i]);
    for (unsigned i = 0; i < o.threads; i++)
        close(th[i].ep);
    if (stats_fd >= 0)
        close(stats_fd);
    free(idle_fds);
    free(conns);
    free(th);
    free(h);
    for (unsigned i = 0; i < o.nmix; i++)
        free(o.mix[i].tmpl);
    return failures > 0 ? 1 : 0;
}

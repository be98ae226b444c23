/* msgpack_failalloc.c - an LD_PRELOAD library for noormd-test in plain
 * (unsanitized) builds: with NOORMME_TEST_FAIL_MSGPACK_MIN=N in its
 * environment, every malloc and realloc of N bytes or more that msgpack-c's
 * shared library makes fails. noormd decodes into a zone it keeps (its 4 KiB
 * first chunk is made at start, under N), so only a message whose decoded
 * form needs a large new chunk allocates: the test sends one and expects
 * OUT_OF_MEMORY addressed to its msgid, not a protocol error that closes
 * the connection (issue 7 defect 4).
 * failalloc.c's --wrap cannot reach these allocations: they are made
 * inside libmsgpackc, not in noormd's own objects. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void *__libc_malloc(size_t n);
void *__libc_realloc(void *p, size_t n);

static long min_size = -1; /* -1: not read yet; 0: never fail */

/* True when an allocation of `n` bytes made by the code at `pc` must fail:
 * `pc` belongs to msgpack-c's shared library and `n` is large enough. */
static int fails(const void *pc, size_t n)
{
    if (min_size < 0) {
        const char *e = getenv("NOORMME_TEST_FAIL_MSGPACK_MIN");
        min_size = e ? strtol(e, NULL, 10) : 0;
    }
    if (min_size <= 0 || n < (size_t)min_size)
        return 0;
    Dl_info info;
    return dladdr(pc, &info) && info.dli_fname && strstr(info.dli_fname, "libmsgpackc");
}

void *malloc(size_t n)
{
    return fails(__builtin_return_address(0), n) ? NULL : __libc_malloc(n);
}

void *realloc(void *p, size_t n)
{
    return fails(__builtin_return_address(0), n) ? NULL : __libc_realloc(p, n);
}

/* main.c - noormd: the product binary. Everything is in noormd_main; the
 * test binary (tests/support/methods) calls the same function with a hook
 * that registers its test.* methods. */
#include "noormd.h"

int main(int argc, char **argv)
{
    return noormd_main(argc, argv, NULL);
}

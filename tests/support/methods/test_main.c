/* test_main.c - noormd-test: the shipped server library plus the test.*
 * methods, registered by the start-up hook, and allocation failure on
 * demand (failalloc.c). */
#include "test_methods.h"

int main(int argc, char **argv)
{
    return noormd_main(argc, argv, test_failalloc_hook);
}

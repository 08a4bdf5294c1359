#include "CMallocTuning.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int starling_tune_malloc(int arena_max, int mmap_threshold) {
#if defined(__GLIBC__)
    int ok = 1;
    if (arena_max > 0 && mallopt(M_ARENA_MAX, arena_max) != 1) ok = 0;
    if (mmap_threshold > 0 && mallopt(M_MMAP_THRESHOLD, mmap_threshold) != 1) ok = 0;
    return ok;
#else
    (void)arena_max;
    (void)mmap_threshold;
    return 1;
#endif
}

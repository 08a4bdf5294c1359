#include "CMallocTuning.h"

#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

static int tuned = 0;

/// Runs when the executable is loaded, before the Swift runtime starts any thread: glibc fixes its limit of
/// arenas when a second thread first needs one, so M_ARENA_MAX set any later is ignored.
__attribute__((constructor)) static void starling_tune_malloc_at_load(void) {
#if defined(__GLIBC__)
    int ok = 1;
    if (getenv("MALLOC_ARENA_MAX") == NULL && mallopt(M_ARENA_MAX, 2) != 1) ok = 0;
    if (getenv("MALLOC_MMAP_THRESHOLD_") == NULL && mallopt(M_MMAP_THRESHOLD, 128 * 1024) != 1) ok = 0;
    tuned = ok;
#endif
}

int starling_malloc_tuned(void) { return tuned; }

int starling_release_free_memory(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

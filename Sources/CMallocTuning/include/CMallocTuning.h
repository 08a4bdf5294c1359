#ifndef STARLING_CMALLOC_TUNING_H
#define STARLING_CMALLOC_TUNING_H

/// glibc's mallopt(M_ARENA_MAX) and mallopt(M_MMAP_THRESHOLD); a value <= 0 leaves that setting alone.
/// Returns 1 when every requested setting was applied (always 1 where glibc's mallopt does not exist).
int starling_tune_malloc(int arena_max, int mmap_threshold);

#endif

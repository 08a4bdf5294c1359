#ifndef STARLING_CMALLOC_TUNING_H
#define STARLING_CMALLOC_TUNING_H

/// 1 when the process's malloc was tuned at load time (two arenas, a fixed 128 KiB mmap threshold; each unless
/// MALLOC_ARENA_MAX or MALLOC_MMAP_THRESHOLD_ is set), 0 where glibc's mallopt does not exist or refused.
int starling_malloc_tuned(void);

/// Gives the free pages of every malloc arena back to the system (glibc's malloc_trim(0)); 1 if any was.
/// A no-op returning 0 where glibc's malloc_trim does not exist.
int starling_release_free_memory(void);

#endif

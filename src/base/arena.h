/* Bump allocator for objects that share one lifetime (a model's IR, a plan's constants).
 * Memory comes in chunks from malloc and is released all at once by ig_arena_free. Not thread-safe:
 * an arena belongs to whoever is building the object it backs. */
#ifndef IG_BASE_ARENA_H
#define IG_BASE_ARENA_H

#include <stddef.h>

typedef struct ig_arena ig_arena;

ig_arena *ig_arena_create(size_t chunk_size);
void ig_arena_free(ig_arena *a);
/* Zeroed memory of size bytes aligned to align (a power of two, at most 4096); NULL on OOM or overflow. */
void *ig_arena_alloc(ig_arena *a, size_t size, size_t align);
/* count * size with an overflow check. */
void *ig_arena_array(ig_arena *a, size_t count, size_t size, size_t align);
/* NUL-terminated copy of len bytes of s. */
char *ig_arena_strndup(ig_arena *a, const char *s, size_t len);
char *ig_arena_strdup(ig_arena *a, const char *s);
/* Bytes handed out so far (for reporting). */
size_t ig_arena_used(const ig_arena *a);

#endif

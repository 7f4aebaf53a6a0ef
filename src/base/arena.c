/* Chunked bump allocator; large requests get a chunk of their own so small ones keep packing. */
#include "base/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(64) unsigned char data[];
} chunk;

struct ig_arena {
    chunk *head;
    size_t chunk_size;
    size_t used;
};

ig_arena *ig_arena_create(size_t chunk_size)
{
    ig_arena *a = calloc(1, sizeof(*a));
    if (!a) return NULL;
    a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
    return a;
}

void ig_arena_free(ig_arena *a)
{
    if (!a) return;
    for (chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

static chunk *chunk_new(size_t size)
{
    if (size > SIZE_MAX - sizeof(chunk)) return NULL;
    chunk *c = aligned_alloc(64, (sizeof(chunk) + size + 63) & ~(size_t)63);
    if (!c) return NULL;
    c->size = size;
    c->used = 0;
    c->next = NULL;
    return c;
}

void *ig_arena_alloc(ig_arena *a, size_t size, size_t align)
{
    if (align == 0) align = 1;
    if (align > 4096 || (align & (align - 1))) return NULL;
    if (size == 0) size = 1;
    chunk *c = a->head;
    if (c) {
        size_t off = (c->used + align - 1) & ~(align - 1);
        if (off <= c->size && size <= c->size - off) {
            c->used = off + size;
            a->used += size;
            memset(c->data + off, 0, size);
            return c->data + off;
        }
    }
    if (size > SIZE_MAX - align) return NULL;
    size_t need = size + align;
    chunk *n = chunk_new(need > a->chunk_size ? need : a->chunk_size);
    if (!n) return NULL;
    if (need > a->chunk_size && c) {
        /* An oversized block goes behind the head so the head's free tail stays usable. */
        n->next = c->next;
        c->next = n;
    } else {
        n->next = c;
        a->head = n;
    }
    size_t off = ((uintptr_t)n->data + align - 1) / align * align - (uintptr_t)n->data;
    n->used = off + size;
    a->used += size;
    memset(n->data + off, 0, size);
    return n->data + off;
}

void *ig_arena_array(ig_arena *a, size_t count, size_t size, size_t align)
{
    if (size && count > SIZE_MAX / size) return NULL;
    return ig_arena_alloc(a, count * size, align);
}

char *ig_arena_strndup(ig_arena *a, const char *s, size_t len)
{
    if (len == SIZE_MAX) return NULL;
    char *d = ig_arena_alloc(a, len + 1, 1);
    if (d && len) memcpy(d, s, len);
    return d;
}

char *ig_arena_strdup(ig_arena *a, const char *s)
{
    return ig_arena_strndup(a, s, strlen(s));
}

size_t ig_arena_used(const ig_arena *a)
{
    return a->used;
}

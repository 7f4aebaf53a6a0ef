/* NumPy .npy files (format versions 1-3, C order) for tensors going in and out of the CLI. */
#ifndef IG_ENGINE_NPY_H
#define IG_ENGINE_NPY_H

#include "base/arena.h"
#include "infergate/error.h"
#include "infergate/tensor.h"

/* Reads path into *out, data allocated in arena. Numeric and bool arrays, and unicode ('<U') arrays
 * as STRING tensors (UTF-8). */
int ig_npy_read(const char *path, ig_arena *arena, ig_tensor *out, ig_error *err);
int ig_npy_parse(const void *buf, size_t len, ig_arena *arena, ig_tensor *out, ig_error *err);

/* Writes t to path; STRING tensors become unicode arrays. */
int ig_npy_write(const char *path, const ig_tensor *t, ig_error *err);

#endif

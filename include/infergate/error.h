/* infergate error space: 0 is success, every failure a negative IG_E* code.
 * Functions that can fail with a detail worth showing a person also fill an ig_error. */
#ifndef INFERGATE_ERROR_H
#define INFERGATE_ERROR_H

#include <stddef.h>

/* X(name, value, description) */
#define IG_ERRNO_MAP(X)                                                                                      \
    X(NOMEM, -1, "out of memory")                                                                            \
    X(INVAL, -2, "invalid argument")                                                                         \
    X(IO, -3, "I/O error")                                                                                   \
    X(FORMAT, -4, "malformed model or tensor file")                                                          \
    X(UNSUPPORTED, -5, "unsupported")                                                                        \
    X(NOTFOUND, -6, "not found")                                                                             \
    X(OVERFLOW, -7, "size overflow")                                                                         \
    X(SHAPE, -8, "shape mismatch")                                                                           \
    X(DTYPE, -9, "data type mismatch")                                                                       \
    X(DEFER, -10, "value not known until run time")                                                          \
    X(RUNTIME, -11, "execution failed")                                                                      \
    X(ACCESS, -12, "path not allowed")                                                                       \
    X(UNAVAILABLE, -13, "unavailable")                                                                       \
    X(CANCELED, -14, "cancelled")                                                                            \
    X(TOOBIG, -15, "too large")                                                                              \
    X(NOMODEL, -16, "unknown model")

enum {
#define IG__ERR_ENUM(name, value, desc) IG_E##name = value,
    IG_ERRNO_MAP(IG__ERR_ENUM)
#undef IG__ERR_ENUM
};

/* A failure's code plus a one-line, human-readable reason. */
typedef struct ig_error {
    int code;
    char msg[512];
} ig_error;

/* Short static description of an IG_E* code. */
const char *ig_strerror(int code);

/* Records code and a printf-style reason into err (which may be NULL); returns code so callers can
 * write `return ig_error_set(err, IG_EINVAL, "...")`. The first reason set wins, so the innermost,
 * most specific cause survives when outer layers add context with ig_error_prefix. */
int ig_error_set(ig_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepends context ("while loading x: ") to an already-set reason. Returns err->code (or code if
 * err is NULL). */
int ig_error_prefix(ig_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif

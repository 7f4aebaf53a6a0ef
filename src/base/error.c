/* The error space's descriptions and the ig_error helpers. */
#include "infergate/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ig_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define IG__ERR_CASE(name, value, desc)                                                                      \
    case value:                                                                                              \
        return desc;
        IG_ERRNO_MAP(IG__ERR_CASE)
#undef IG__ERR_CASE
    default:
        return "unknown error";
    }
}

int ig_error_set(ig_error *err, int code, const char *fmt, ...)
{
    if (!err || err->code) return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

int ig_error_prefix(ig_error *err, int code, const char *fmt, ...)
{
    if (!err) return code;
    if (!err->code) {
        err->code = code;
        err->msg[0] = 0;
    }
    char prefix[256], old[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s%s", prefix, old[0] ? old : ig_strerror(err->code));
    return err->code;
}

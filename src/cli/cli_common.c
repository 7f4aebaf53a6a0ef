/* Helpers the subcommands share: error reporting, option values, model and tensor loading. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/io/npy.h"
#include "engine/onnx/onnx.h"

int ig_cli_fail(const char *cmd, int status, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "infergate %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return status;
}

bool ig_cli_parse_int(const char *cmd, const char *opt, const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || errno || end == text || *end || v < min || v > max) {
        ig_cli_fail(cmd, 2, "%s needs an integer from %ld to %ld, got '%s'", opt, min, max, text ? text : "");
        return false;
    }
    *out = v;
    return true;
}

ig_model *ig_cli_load_model(const char *cmd, const char *path, int n_threads)
{
    ig_model *m;
    ig_error err = {0};
    ig_model_options opts = {.n_threads = n_threads};
    if (ig_model_load(path, &opts, &m, &err)) {
        ig_cli_fail(cmd, 1, "%s: %s", path, err.msg);
        return NULL;
    }
    return m;
}

int ig_cli_read_tensor(const char *path, ig_arena *arena, ig_tensor *out, ig_error *err)
{
    size_t len = strlen(path);
    if (len > 4 && !strcmp(path + len - 4, ".npy")) return ig_npy_read(path, arena, out, err);
    if (len > 3 && !strcmp(path + len - 3, ".pb"))
        return ig_onnx_read_tensor_file(path, arena, out, NULL, err);
    return ig_error_set(err, IG_EINVAL, "%s: expected a .npy or .pb file", path);
}

void ig_cli_describe_io(const ig_io_info *io, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "%s ", ig_dtype_name(io->dtype));
    if (io->ndim < 0) {
        snprintf(buf + o, len - o, "[rank unknown]");
        return;
    }
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int k = 0; k < io->ndim && o < len; k++) {
        const char *sep = k ? "," : "";
        if (io->dims[k] >= 0)
            o += (size_t)snprintf(buf + o, len - o, "%s%lld", sep, (long long)io->dims[k]);
        else
            o += (size_t)snprintf(buf + o, len - o, "%s%s", sep, io->dim_params[k] ? io->dim_params[k] : "?");
    }
    if (o < len) snprintf(buf + o, len - o, "]");
}

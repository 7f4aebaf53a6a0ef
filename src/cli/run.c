/* infergate run MODEL.onnx --input NAME=FILE ... [--output-dir DIR] [--threads N]
 * Runs a model once on tensors from .npy or .pb files and writes each output as DIR/<name>.npy. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "engine/io/npy.h"

static const char usage[] =
    "usage: infergate run MODEL.onnx --input NAME=FILE ... [--output-dir DIR] [--threads N]\n"
    "  FILE is a .npy array or an ONNX TensorProto .pb; every model input needs one.\n"
    "  Writes DIR/<output name>.npy for every output (default DIR: .) and prints their shapes.\n";

/* Output names may hold characters a file name cannot. */
static void file_name_for(const char *name, char *buf, size_t len)
{
    size_t i = 0;
    for (; name[i] && i + 1 < len; i++) buf[i] = name[i] == '/' || name[i] == '\\' ? '_' : name[i];
    buf[i] = 0;
    if (!strcmp(buf, ".") || !strcmp(buf, "..") || !buf[0]) snprintf(buf, len, "output");
}

int ig_cli_run(int argc, char **argv)
{
    const char *model_path = NULL, *out_dir = ".";
    long threads = 0;
    int n_bind = 0;
    char **bind = calloc((size_t)argc + 1, sizeof(char *));
    int status = 2;
    ig_model *m = NULL;
    ig_runner *r = NULL;
    ig_arena *arena = NULL;
    ig_tensor *in = NULL, *out = NULL;
    if (!bind) return ig_cli_fail("run", 1, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) {
            fputs(usage, stdout);
            status = 0;
            goto done;
        } else if (!strcmp(a, "--input") && i + 1 < argc) {
            bind[n_bind++] = argv[++i];
        } else if (!strcmp(a, "--output-dir") && i + 1 < argc) {
            out_dir = argv[++i];
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            if (!ig_cli_parse_int("run", "--threads", argv[++i], 1, 1024, &threads)) goto done;
        } else if (a[0] == '-' || model_path) {
            status = ig_cli_fail("run", 2, "unexpected argument '%s' (see 'infergate run --help')", a);
            goto done;
        } else {
            model_path = a;
        }
    }
    if (!model_path) {
        status = ig_cli_fail("run", 2, "no model given (see 'infergate run --help')");
        goto done;
    }
    status = 1;
    if (!(m = ig_cli_load_model("run", model_path, (int)threads))) goto done;
    int ni = ig_model_num_inputs(m), no = ig_model_num_outputs(m);
    in = calloc((size_t)ni + 1, sizeof(ig_tensor));
    out = calloc((size_t)no + 1, sizeof(ig_tensor));
    arena = ig_arena_create(1 << 20);
    if (!in || !out || !arena) {
        status = ig_cli_fail("run", 1, "out of memory");
        goto done;
    }
    bool *bound = calloc((size_t)ni + 1, 1);
    for (int b = 0; b < n_bind; b++) {
        char *eq = strchr(bind[b], '=');
        if (!eq || eq == bind[b] || !eq[1]) {
            status = ig_cli_fail("run", 2, "--input takes NAME=FILE, got '%s'", bind[b]);
            free(bound);
            goto done;
        }
        *eq = 0;
        int slot = ig_model_find_input(m, bind[b]);
        if (slot < 0) {
            char names[1024] = "";
            size_t o = 0;
            for (int i = 0; i < ni && o < sizeof(names); i++)
                o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "",
                                      ig_model_input(m, i)->name);
            status = ig_cli_fail("run", 2, "input '%s': the model has no such input (its inputs: %s)",
                                 bind[b], names);
            free(bound);
            goto done;
        }
        ig_error err = {0};
        if (ig_cli_read_tensor(eq + 1, arena, &in[slot], &err)) {
            status = ig_cli_fail("run", 1, "input '%s': %s", bind[b], err.msg);
            free(bound);
            goto done;
        }
        bound[slot] = true;
    }
    for (int i = 0; i < ni; i++) {
        if (!bound[i]) {
            status = ig_cli_fail("run", 2, "input '%s': missing (pass --input %s=FILE)",
                                 ig_model_input(m, i)->name, ig_model_input(m, i)->name);
            free(bound);
            goto done;
        }
    }
    free(bound);
    ig_error err = {0};
    if (ig_runner_create(m, &r, &err) || ig_runner_run(r, in, out, &err)) {
        status = ig_cli_fail("run", 1, "%s", err.msg);
        goto done;
    }
    if (mkdir(out_dir, 0777) && errno != EEXIST) {
        status = ig_cli_fail("run", 1, "cannot create %s: %s", out_dir, strerror(errno));
        goto done;
    }
    for (int i = 0; i < no; i++) {
        char file[512], path[4096], shape[256];
        const char *name = ig_model_output(m, i)->name;
        file_name_for(name, file, sizeof(file));
        snprintf(path, sizeof(path), "%s/%s.npy", out_dir, file);
        if (ig_npy_write(path, &out[i], &err)) {
            status = ig_cli_fail("run", 1, "output '%s': %s", name, err.msg);
            goto done;
        }
        printf("%s: %s %s -> %s\n", name, ig_dtype_name(out[i].dtype),
               ig_shape_str(&out[i], shape, sizeof(shape)), path);
    }
    status = 0;
done:
    ig_runner_free(r);
    ig_model_free(m);
    ig_arena_free(arena);
    free(in);
    free(out);
    free(bind);
    return status;
}

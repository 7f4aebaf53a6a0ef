/* ONNX backend conformance: runs model.onnx over each test_data_set_N folder in the given test folders
 * and compares outputs with output_*.pb at the suite's tolerances (rtol 1e-3, atol 1e-7). Each test
 * runs in a child process with a time limit, so a crash or hang counts as one failure.
 *
 *   ig_conformance [--filter SUBSTR] [--verbose] [--expected FILE] [--write-passing FILE]
 *                  [--rtol R] [--atol A] DIR...
 *
 * DIR is a suite folder (holding test_* folders) or one test folder. With --expected, any listed test
 * that does not pass fails the run (exit 1): the regression gate. --rtol/--atol replace the tolerances for
 * whole models, whose O(1) outputs carry float32 rounding of about 1e-6 that near-zero elements cannot meet
 * at atol 1e-7. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/onnx/onnx.h"
#include "infergate/engine.h"

enum { PASS = 0, FAIL = 1, UNSUPPORTED = 2 };
static double RTOL = 1e-3, ATOL = 1e-7;
static bool verbose;

static float half_to_float(uint16_t h)
{
    /* Scale the 5-bit-exponent value through float arithmetic: exact for normals and subnormals. */
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 0x400), e - 25);
    return (h & 0x8000) ? -v : v;
}

static float bf16_to_float(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static double as_double(const ig_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case IG_DT_FLOAT: return ((const float *)t->data)[i];
    case IG_DT_DOUBLE: return ((const double *)t->data)[i];
    case IG_DT_FLOAT16: return half_to_float(((const uint16_t *)t->data)[i]);
    case IG_DT_BFLOAT16: return bf16_to_float(((const uint16_t *)t->data)[i]);
    default: return 0;
    }
}

/* Returns true when got matches want; otherwise writes why into why. */
static bool compare(const ig_tensor *got, const ig_tensor *want, char *why, size_t len)
{
    char a[128], b[128];
    if (got->dtype != want->dtype) {
        snprintf(why, len, "dtype %s, expected %s", ig_dtype_name(got->dtype), ig_dtype_name(want->dtype));
        return false;
    }
    if (got->ndim != want->ndim || memcmp(got->dims, want->dims, sizeof(int64_t) * (size_t)got->ndim)) {
        snprintf(why, len, "shape %s, expected %s", ig_shape_str(got, a, sizeof(a)), ig_shape_str(want, b, sizeof(b)));
        return false;
    }
    int64_t n = ig_tensor_numel(want);
    bool fp = want->dtype == IG_DT_FLOAT || want->dtype == IG_DT_DOUBLE || want->dtype == IG_DT_FLOAT16 ||
              want->dtype == IG_DT_BFLOAT16;
    for (int64_t i = 0; i < n; i++) {
        if (fp) {
            double x = as_double(got, i), y = as_double(want, i);
            if (isnan(x) && isnan(y)) continue;
            if (isinf(y) && x == y) continue;
            if (!(fabs(x - y) <= ATOL + RTOL * fabs(y))) {
                snprintf(why, len, "element %lld is %.9g, expected %.9g", (long long)i, x, y);
                return false;
            }
        } else if (want->dtype == IG_DT_STRING) {
            const ig_string *x = (const ig_string *)got->data + i, *y = (const ig_string *)want->data + i;
            if (x->len != y->len || (x->len && memcmp(x->ptr, y->ptr, x->len))) {
                snprintf(why, len, "string element %lld differs", (long long)i);
                return false;
            }
        } else {
            size_t es = ig_dtype_size(want->dtype);
            if (memcmp((const char *)got->data + i * es, (const char *)want->data + i * es, es)) {
                snprintf(why, len, "element %lld differs", (long long)i);
                return false;
            }
        }
    }
    return true;
}

static int count_files(const char *dir, const char *prefix)
{
    int n = 0;
    char path[4096];
    for (;;) {
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s_%d.pb", dir, prefix, n);
        if (stat(path, &st)) return n;
        n++;
    }
}

static int run_dataset(ig_model *m, ig_runner *r, const char *ds, char *why, size_t len)
{
    ig_arena *arena = ig_arena_create(1 << 20);
    int rc = FAIL, n_in = count_files(ds, "input"), n_out = count_files(ds, "output");
    int mi = ig_model_num_inputs(m), mo = ig_model_num_outputs(m);
    ig_tensor *in = calloc((size_t)mi + 1, sizeof(ig_tensor)), *out = calloc((size_t)mo + 1, sizeof(ig_tensor));
    char path[4096];
    ig_error err = {0};
    if (n_in != mi) {
        snprintf(why, len, "%d input files for %d model inputs", n_in, mi);
        goto done;
    }
    for (int i = 0; i < n_in; i++) {
        const char *name;
        ig_tensor t;
        snprintf(path, sizeof(path), "%s/input_%d.pb", ds, i);
        if (ig_onnx_read_tensor_file(path, arena, &t, &name, &err)) {
            snprintf(why, len, "reading %s: %s", path, err.msg);
            goto done;
        }
        int slot = name && name[0] ? ig_model_find_input(m, name) : -1;
        if (slot < 0) slot = i;
        /* numpy has no bfloat16, so the suite stores such tensors as their UINT16 bits. */
        if (t.dtype == IG_DT_UINT16 && ig_model_input(m, slot)->dtype == IG_DT_BFLOAT16) t.dtype = IG_DT_BFLOAT16;
        in[slot] = t;
    }
    if (ig_runner_run(r, in, out, &err)) {
        snprintf(why, len, "%s", err.msg);
        rc = err.code == IG_EUNSUPPORTED ? UNSUPPORTED : FAIL;
        goto done;
    }
    if (n_out != mo) {
        snprintf(why, len, "%d output files for %d model outputs", n_out, mo);
        goto done;
    }
    for (int i = 0; i < n_out; i++) {
        ig_tensor want;
        snprintf(path, sizeof(path), "%s/output_%d.pb", ds, i);
        if (ig_onnx_read_tensor_file(path, arena, &want, NULL, &err)) {
            snprintf(why, len, "reading %s: %s", path, err.msg);
            goto done;
        }
        char detail[300];
        if (want.dtype == IG_DT_UINT16 && out[i].dtype == IG_DT_BFLOAT16) want.dtype = IG_DT_BFLOAT16;
        if (!compare(&out[i], &want, detail, sizeof(detail))) {
            snprintf(why, len, "output %d ('%s'): %s", i, ig_model_output(m, i)->name, detail);
            goto done;
        }
    }
    rc = PASS;
done:
    free(in);
    free(out);
    ig_arena_free(arena);
    return rc;
}

/* Runs one test folder in this process; returns PASS, FAIL or UNSUPPORTED with a reason. */
static int run_test(const char *dir, char *why, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/model.onnx", dir);
    ig_model *m;
    ig_runner *r;
    ig_error err = {0};
    ig_model_options opts = {.n_threads = 1};
    if (ig_model_load(path, &opts, &m, &err)) {
        snprintf(why, len, "%s", err.msg);
        return err.code == IG_EUNSUPPORTED ? UNSUPPORTED : FAIL;
    }
    if (ig_runner_create(m, &r, &err)) {
        snprintf(why, len, "%s", err.msg);
        ig_model_free(m);
        return FAIL;
    }
    int rc = FAIL, n = 0;
    for (;; n++) {
        snprintf(path, sizeof(path), "%s/test_data_set_%d", dir, n);
        struct stat st;
        if (stat(path, &st)) {
            if (n == 0) {
                /* Random-op tests ship only a model: nothing to compare, so not a pass either. */
                snprintf(why, len, "no test data sets to compare with");
                rc = UNSUPPORTED;
            }
            break;
        }
        if ((rc = run_dataset(m, r, path, why, len)) != PASS) break;
    }
    ig_runner_free(r);
    ig_model_free(m);
    return rc;
}

/* Forks so that one crashing or hanging test cannot take the suite down. */
static int run_isolated(const char *dir, char *why, size_t len)
{
    int fds[2];
    if (pipe(fds)) return FAIL;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        alarm(60);
        char msg[1024] = "";
        int rc = run_test(dir, msg, sizeof(msg));
        if (write(fds[1], msg, strlen(msg)) < 0) _exit(FAIL);
        _exit(rc);
    }
    close(fds[1]);
    ssize_t got = 0, k;
    while ((size_t)got + 1 < len && (k = read(fds[0], why + got, len - 1 - (size_t)got)) > 0) got += k;
    why[got] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        snprintf(why, len, "crashed with signal %d%s", WTERMSIG(status), WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
        return FAIL;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : FAIL;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct tally {
    int pass, fail, unsupported;
    char **expected;
    int n_expected;
    char *passed; /* flags per expected test */
    FILE *write_passing;
} tally;

static void run_one(const char *dir, const char *name, const char *filter, tally *t)
{
    if (filter && !strstr(name, filter)) return;
    char why[1024] = "";
    int rc = run_isolated(dir, why, sizeof(why));
    const char *label = rc == PASS ? "PASS" : rc == UNSUPPORTED ? "UNSUPPORTED" : "FAIL";
    if (rc == PASS) {
        t->pass++;
        if (t->write_passing) fprintf(t->write_passing, "%s\n", name);
        for (int i = 0; i < t->n_expected; i++)
            if (!strcmp(t->expected[i], name)) t->passed[i] = 1;
    } else {
        rc == UNSUPPORTED ? t->unsupported++ : t->fail++;
    }
    if (verbose || rc == FAIL) printf("%-11s %s%s%s\n", label, name, why[0] ? ": " : "", why);
    fflush(stdout);
}

static void run_dir(const char *dir, const char *filter, tally *t)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof(path), "%s/model.onnx", dir);
    if (!stat(path, &st)) {
        const char *slash = strrchr(dir, '/');
        run_one(dir, slash ? slash + 1 : dir, filter, t);
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "ig_conformance: cannot open %s\n", dir);
        t->fail++;
        return;
    }
    char **names = NULL;
    int n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "test_", 5)) continue;
        if (n == cap && !(names = realloc(names, sizeof(char *) * (size_t)(cap = cap * 2 + 64)))) break;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), by_name);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        run_one(path, names[i], filter, t);
        free(names[i]);
    }
    free(names);
}

static void load_expected(const char *file, tally *t)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "ig_conformance: cannot read %s\n", file);
        exit(2);
    }
    char line[512];
    int cap = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        if (t->n_expected == cap) t->expected = realloc(t->expected, sizeof(char *) * (size_t)(cap = cap * 2 + 256));
        t->expected[t->n_expected++] = strdup(line);
    }
    fclose(f);
    t->passed = calloc((size_t)t->n_expected + 1, 1);
}

int main(int argc, char **argv)
{
    const char *filter = NULL;
    tally t = {0};
    int n_dirs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "--verbose")) verbose = true;
        else if (!strcmp(argv[i], "--expected") && i + 1 < argc) load_expected(argv[++i], &t);
        else if (!strcmp(argv[i], "--write-passing") && i + 1 < argc) t.write_passing = fopen(argv[++i], "w");
        else if (!strcmp(argv[i], "--rtol") && i + 1 < argc) RTOL = atof(argv[++i]);
        else if (!strcmp(argv[i], "--atol") && i + 1 < argc) ATOL = atof(argv[++i]);
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: ig_conformance [--filter S] [--verbose] [--expected F] [--write-passing F] [--rtol R] "
                            "[--atol A] DIR...\n");
            return 2;
        } else argv[n_dirs++ + 1] = argv[i];
    }
    const char *defaults[] = {"/usr/share/libonnx-testdata/data/node", "/usr/share/libonnx-testdata/data/pytorch-converted",
                              "/usr/share/libonnx-testdata/data/pytorch-operator",
                              "/usr/share/libonnx-testdata/data/simple"};
    if (n_dirs == 0)
        for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) run_dir(defaults[i], filter, &t);
    for (int i = 0; i < n_dirs; i++) run_dir(argv[i + 1], filter, &t);
    if (t.write_passing) fclose(t.write_passing);
    int regressions = 0;
    for (int i = 0; i < t.n_expected; i++)
        if (!t.passed[i] && (!filter || strstr(t.expected[i], filter))) {
            printf("REGRESSION  %s was expected to pass\n", t.expected[i]);
            regressions++;
        }
    printf("conformance: %d passed, %d failed, %d unsupported", t.pass, t.fail, t.unsupported);
    if (t.n_expected) printf(", %d regressions against %d expected passes", regressions, t.n_expected);
    printf("\n");
    return regressions ? 1 : 0;
}

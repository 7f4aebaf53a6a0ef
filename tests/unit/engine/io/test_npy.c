/* .npy reading and writing: round trips for every dtype the CLI exchanges, unicode strings, and
 * malformed files (each must fail with an error, never read outside the buffer). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "engine/io/npy.h"

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len + 1);
    if (b && fread(b, 1, *len, f) != *len) *len = 0;
    fclose(f);
    return b;
}

static void round_trip(ig_dtype dt, int ndim, const int64_t *dims)
{
    ig_tensor t = {.dtype = dt, .ndim = ndim};
    memcpy(t.dims, dims, sizeof(int64_t) * (size_t)ndim);
    size_t nb = ig_tensor_nbytes(&t);
    unsigned char *data = malloc(nb + 1);
    for (size_t i = 0; i < nb; i++) data[i] = (unsigned char)(i * 7 + 3);
    if (dt == IG_DT_BOOL)
        for (size_t i = 0; i < nb; i++) data[i] &= 1;
    t.data = data;
    char path[] = "/tmp/ig_test_npy_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ig_error err = {0};
    CHECK_EQ_INT(ig_npy_write(path, &t, &err), 0);
    ig_arena *a = ig_arena_create(0);
    ig_tensor back;
    CHECK_EQ_INT(ig_npy_read(path, a, &back, &err), 0);
    CHECK_EQ_INT(back.dtype, dt);
    CHECK_EQ_INT(back.ndim, ndim);
    for (int k = 0; k < ndim; k++) CHECK_EQ_INT(back.dims[k], dims[k]);
    CHECK(nb == 0 || !memcmp(back.data, data, nb));
    /* numpy pads the header so data starts 64-byte aligned; so do we. */
    size_t len;
    unsigned char *raw = slurp(path, &len);
    CHECK(raw && (len - nb) % 64 == 0);
    free(raw);
    ig_arena_free(a);
    free(data);
    unlink(path);
}

static void strings(void)
{
    ig_string s[3] = {{"abc", 3}, {"", 0}, {"\xc3\xa9t\xc3\xa9", 5}}; /* "été" */
    ig_tensor t = {.dtype = IG_DT_STRING, .ndim = 1, .dims = {3}, .data = s};
    char path[] = "/tmp/ig_test_npy_XXXXXX";
    close(mkstemp(path));
    ig_error err = {0};
    CHECK_EQ_INT(ig_npy_write(path, &t, &err), 0);
    ig_arena *a = ig_arena_create(0);
    ig_tensor back;
    CHECK_EQ_INT(ig_npy_read(path, a, &back, &err), 0);
    CHECK_EQ_INT(back.dtype, IG_DT_STRING);
    const ig_string *b = back.data;
    CHECK(b[0].len == 3 && !memcmp(b[0].ptr, "abc", 3));
    CHECK_EQ_INT(b[1].len, 0);
    CHECK(b[2].len == 5 && !memcmp(b[2].ptr, "\xc3\xa9t\xc3\xa9", 5));
    ig_arena_free(a);
    unlink(path);
}

static void rejects(const char *what, const void *buf, size_t len)
{
    /* An exact-size heap copy, so the sanitizer build sees any read past the end. */
    unsigned char *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    ig_arena *a = ig_arena_create(0);
    ig_tensor t;
    ig_error err = {0};
    int rc = ig_npy_parse(copy, len, a, &t, &err);
    if (rc == 0) fprintf(stderr, "accepted: %s\n", what);
    CHECK(rc < 0 && err.msg[0]);
    ig_arena_free(a);
    free(copy);
}

int main(void)
{
    int64_t d2[2] = {3, 5}, d0[1] = {0}, d3[3] = {2, 1, 4};
    ig_dtype all[] = {IG_DT_FLOAT, IG_DT_DOUBLE, IG_DT_FLOAT16, IG_DT_INT8, IG_DT_INT16, IG_DT_INT32,
                      IG_DT_INT64, IG_DT_UINT8, IG_DT_UINT16, IG_DT_UINT32, IG_DT_UINT64, IG_DT_BOOL};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        round_trip(all[i], 2, d2);
        round_trip(all[i], 3, d3);
    }
    round_trip(IG_DT_FLOAT, 1, d0);
    round_trip(IG_DT_FLOAT, 0, d0); /* a scalar */
    strings();

    static const char good[] = "\x93NUMPY\x01\x00\x3a\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
    unsigned char ok[sizeof(good) - 1 + 8];
    memcpy(ok, good, sizeof(good) - 1);
    memset(ok + sizeof(good) - 1, 0, 8);
    rejects("empty", "", 0);
    rejects("bad magic", "\x93NUMPX\x01\x00\x00\x00", 10);
    rejects("version 9", "\x93NUMPY\x09\x00\x00\x00", 10);
    for (size_t cut = 0; cut < sizeof(ok); cut++) rejects("truncated", ok, cut);
    rejects("header running to the end", "\x93NUMPY\x01\x00\x08\x00{'shape'", 18);
    static const char crash[] = "\x93NUMPY\x01\x00\x20\x00{'descr': '<f8', 'fortran_order'"; /* found by fuzzing */
    rejects("key at the end of the header", crash, sizeof(crash) - 1);
    rejects("unterminated shape", "\x93NUMPY\x01\x00\x34\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2", 62);
    rejects("fortran order",
            "\x93NUMPY\x01\x00\x39\x00{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }\n\0\0\0\0\0\0\0\0", 75);
    rejects("object dtype",
            "\x93NUMPY\x01\x00\x3a\x00{'descr': '|O8', 'fortran_order': False, 'shape': (2,), }\n\0\0\0\0\0\0\0\0", 76);
    rejects("negative dim",
            "\x93NUMPY\x01\x00\x3b\x00{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }\n\0\0\0\0\0\0\0\0", 77);
    ig_arena *a = ig_arena_create(0);
    ig_tensor t;
    ig_error err = {0};
    CHECK_EQ_INT(ig_npy_parse(ok, sizeof(ok), a, &t, &err), 0);
    CHECK_EQ_INT(t.dims[0], 2);
    ig_arena_free(a);
    return CHECK_DONE();
}

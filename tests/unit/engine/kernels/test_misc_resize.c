/* Unit tests of the Resize reference kernel: nearest and linear on small known cases, sizes mode,
 * deferral while scales are unknown and shape errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/kernels/kernel.h"

static ig_tensor tensor(ig_dtype dt, int ndim, const int64_t *dims, void *data)
{
    ig_tensor t = {dt, ndim, {0}, data};
    memcpy(t.dims, dims, sizeof(int64_t) * (size_t)ndim);
    return t;
}

/* Plans and runs one Resize node; returns plan's or run's code. y receives malloc'd data. */
static int antialias;

static int resize(const char *mode, const char *ctm, ig_tensor *x, ig_tensor *scales, ig_tensor *sizes,
                  ig_tensor *y)
{
    ig_attr attrs[3] = {{.name = "mode", .type = IG_ATTR_STRING},
                        {.name = "coordinate_transformation_mode", .type = IG_ATTR_STRING},
                        {.name = "antialias", .type = IG_ATTR_INT}};
    attrs[2].i = antialias;
    attrs[0].s.ptr = mode;
    attrs[0].s.len = strlen(mode);
    attrs[1].s.ptr = ctm;
    attrs[1].s.len = strlen(ctm);
    ig_node node = {
        .name = "r", .op_type = "Resize", .domain = "", .opset = 18, .n_attrs = 3, .attrs = attrs};
    ig_tensor *in[4] = {x, NULL, scales, sizes};
    ig_tensor *out[1] = {y};
    ig_kstep s = {.node = &node, .n_in = 4, .n_out = 1, .in = in, .out = out, .n_threads = 1};
    const ig_kernel_def *k = ig_kernel_next(NULL, "", "Resize", 18, in, 4);
    if (!k) return -100;
    ig_error err = {0};
    int rc = k->plan(&s, &err);
    if (rc) {
        if (k->destroy) k->destroy(s.state);
        return rc;
    }
    y->data = malloc(ig_tensor_nbytes(y) + 1);
    s.scratch = s.scratch_bytes ? aligned_alloc(64, (s.scratch_bytes + 63) & ~(size_t)63) : NULL;
    rc = k->run(&s);
    free(s.scratch);
    if (k->destroy) k->destroy(s.state);
    return rc;
}

static bool close_to(const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        if (fabsf(a[i] - b[i]) > 1e-4f) return false;
    return true;
}

int main(void)
{
    float xd[4] = {1, 2, 3, 4};
    int64_t xdims[4] = {1, 1, 2, 2}, sdims[1] = {4};
    ig_tensor x = tensor(IG_DT_FLOAT, 4, xdims, xd);

    /* nearest, scales [1,1,2,3] */
    float sc1[4] = {1, 1, 2, 3};
    ig_tensor scales = tensor(IG_DT_FLOAT, 1, sdims, sc1), y = {0};
    CHECK_EQ_INT(resize("nearest", "half_pixel", &x, &scales, NULL, &y), 0);
    CHECK_EQ_INT(y.ndim, 4);
    CHECK_EQ_INT(y.dims[2], 4);
    CHECK_EQ_INT(y.dims[3], 6);
    float e1[24] = {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4};
    CHECK(close_to(y.data, e1, 24));
    free(y.data);

    /* bilinear half_pixel, scales [1,1,2,2] */
    float sc2[4] = {1, 1, 2, 2};
    scales.data = sc2;
    memset(&y, 0, sizeof(y));
    CHECK_EQ_INT(resize("linear", "half_pixel", &x, &scales, NULL, &y), 0);
    float e2[16] = {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4};
    CHECK(close_to(y.data, e2, 16));
    free(y.data);

    /* bilinear align_corners */
    memset(&y, 0, sizeof(y));
    CHECK_EQ_INT(resize("linear", "align_corners", &x, &scales, NULL, &y), 0);
    float t = 1.0f / 3, e3[16] = {1,     1 + t,     1 + 2 * t, 2,     1 + 2 * t, 2,     2 + t,     2 + 2 * t,
                                  2 + t, 2 + 2 * t, 3,         3 + t, 3,         3 + t, 3 + 2 * t, 4};
    CHECK(close_to(y.data, e3, 16));
    free(y.data);

    /* sizes mode, nearest downsample of [1,1,2,4] to [1,1,1,2] */
    float xd2[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t xdims2[4] = {1, 1, 2, 4}, sz[4] = {1, 1, 1, 2};
    ig_tensor x2 = tensor(IG_DT_FLOAT, 4, xdims2, xd2), sizes = tensor(IG_DT_INT64, 1, sdims, sz);
    memset(&y, 0, sizeof(y));
    CHECK_EQ_INT(resize("nearest", "half_pixel", &x2, NULL, &sizes, &y), 0);
    CHECK_EQ_INT(y.dims[3], 2);
    float e4[2] = {1, 3};
    CHECK(close_to(y.data, e4, 2));
    free(y.data);

    /* scales not known yet: deferred */
    scales.data = NULL;
    memset(&y, 0, sizeof(y));
    CHECK_EQ_INT(resize("nearest", "half_pixel", &x, &scales, NULL, &y), IG_EDEFER);

    /* wrong number of scales */
    int64_t sdims3[1] = {3};
    ig_tensor bad = tensor(IG_DT_FLOAT, 1, sdims3, sc2);
    CHECK_EQ_INT(resize("nearest", "half_pixel", &x, &bad, NULL, &y), IG_ESHAPE);
    CHECK_EQ_INT(resize("bogus", "half_pixel", &x, &scales, NULL, &y), IG_EINVAL);

    /* antialiased linear downsampling by 2 of a ramp: kernel (1,3,3,1)/8, edges clamped */
    float ramp[8] = {0, 1, 2, 3, 4, 5, 6, 7}, sc5[2] = {1, 0.5f};
    int64_t rdims[2] = {1, 8}, s2[1] = {2};
    ig_tensor xr = tensor(IG_DT_FLOAT, 2, rdims, ramp), scr = tensor(IG_DT_FLOAT, 1, s2, sc5);
    antialias = 1;
    memset(&y, 0, sizeof(y));
    CHECK_EQ_INT(resize("linear", "half_pixel", &xr, &scr, NULL, &y), 0);
    CHECK_EQ_INT(y.dims[1], 4);
    float e5[4] = {0.625f, 2.5f, 4.5f, 6.375f};
    CHECK(close_to(y.data, e5, 4));
    free(y.data);
    return CHECK_DONE();
}

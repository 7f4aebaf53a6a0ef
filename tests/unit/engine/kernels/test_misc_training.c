/* Adagrad, Adam and Momentum (ai.onnx.preview.training) reference kernels driven directly, checked
 * against the update rules of the operator specs evaluated here in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/kernels/kernel.h"

#define TRAINING "ai.onnx.preview.training"
#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static ig_attr a_float(const char *name, float v)
{
    return (ig_attr){.name = name, .type = IG_ATTR_FLOAT, .f = v};
}

static ig_attr a_str(const char *name, const char *v)
{
    return (ig_attr){.name = name, .type = IG_ATTR_STRING, .s = {v, strlen(v)}};
}

static ig_tensor vec(ig_dtype dt, void *data, int64_t n)
{
    return (ig_tensor){.dtype = dt, .ndim = 1, .dims = {n}, .data = data};
}

static bool near(double a, double b)
{
    return fabs(a - b) <= 1e-6 + 1e-5 * fabs(b);
}

/* Plans and runs one node; outputs get malloc'd data that run_node frees after copying each into
 * res[o] (as doubles, up to 4 elements per output). */
static int run_node(const char *op, ig_attr *attrs, int n_attrs, ig_tensor **in, int n_in, int n_out,
                    double res[][4])
{
    ig_node node = {
        .name = "n", .op_type = op, .domain = TRAINING, .opset = 1, .n_attrs = n_attrs, .attrs = attrs};
    ig_tensor outs[8] = {{0}}, *out[8];
    for (int i = 0; i < n_out; i++) out[i] = &outs[i];
    ig_kstep s = {.node = &node, .n_in = n_in, .n_out = n_out, .in = in, .out = out, .n_threads = 1};
    const ig_kernel_def *k = ig_kernel_next(NULL, TRAINING, op, 1, in, n_in);
    if (!k) return -1000;
    ig_error err = {0};
    int rc = k->plan(&s, &err);
    if (rc) return rc;
    for (int i = 0; i < n_out; i++) outs[i].data = calloc(ig_tensor_nbytes(&outs[i]) + 1, 1);
    rc = k->run(&s);
    for (int i = 0; i < n_out; i++) {
        for (int64_t e = 0; e < ig_tensor_numel(&outs[i]) && e < 4; e++)
            res[i][e] =
                outs[i].dtype == IG_DT_DOUBLE ? ((double *)outs[i].data)[e] : ((float *)outs[i].data)[e];
        free(outs[i].data);
    }
    k->destroy(s.state);
    return rc;
}

static void test_adagrad(void)
{
    float r = 0.1f, x[] = {1.0f, 2.0f}, g[] = {-1.0f, 3.0f}, h[] = {2.0f, 0.5f};
    int64_t t = 3;
    ig_tensor tr = {.dtype = IG_DT_FLOAT, .data = &r}, tt = {.dtype = IG_DT_INT64, .data = &t};
    ig_tensor tx = vec(IG_DT_FLOAT, x, 2), tg = vec(IG_DT_FLOAT, g, 2), th = vec(IG_DT_FLOAT, h, 2);
    ig_tensor *in[] = {&tr, &tt, &tx, &tg, &th};
    ig_attr a[] = {a_float("norm_coefficient", 0.01f), a_float("epsilon", 1e-5f),
                   a_float("decay_factor", 0.1f)};
    double res[2][4];
    CHECK_EQ_INT(run_node("Adagrad", a, N_OF(a), in, 5, 2, res), 0);
    for (int i = 0; i < 2; i++) {
        double rate = 0.1 / (1 + 3 * (double)0.1f), gr = (double)0.01f * x[i] + g[i];
        double hn = h[i] + gr * gr;
        CHECK(near(res[1][i], hn));
        CHECK(near(res[0][i], x[i] - rate * gr / (sqrt(hn) + (double)1e-5f)));
    }
    /* a state input of the wrong shape */
    th.dims[0] = 1;
    CHECK_EQ_INT(run_node("Adagrad", a, N_OF(a), in, 5, 2, res), IG_ESHAPE);
    /* inputs not a whole number of groups */
    CHECK_EQ_INT(run_node("Adagrad", a, N_OF(a), in, 4, 2, res), IG_EINVAL);
}

static void test_adam(void)
{
    /* two tensors, one float one double, at step 2 so the bias correction applies */
    double r = 0.05;
    int64_t t = 2;
    float x1[] = {1.0f}, g1[] = {-1.0f}, v1[] = {2.0f}, h1[] = {0.5f};
    double x2[] = {1.0, 2.0}, g2[] = {-1.0, -3.0}, v2[] = {4.0, 1.0}, h2[] = {1.0, 10.0};
    ig_tensor tr = {.dtype = IG_DT_DOUBLE, .data = &r}, tt = {.dtype = IG_DT_INT64, .data = &t};
    ig_tensor tx1 = vec(IG_DT_FLOAT, x1, 1), tg1 = vec(IG_DT_FLOAT, g1, 1), tv1 = vec(IG_DT_FLOAT, v1, 1),
              th1 = vec(IG_DT_FLOAT, h1, 1);
    ig_tensor tx2 = vec(IG_DT_DOUBLE, x2, 2), tg2 = vec(IG_DT_DOUBLE, g2, 2), tv2 = vec(IG_DT_DOUBLE, v2, 2),
              th2 = vec(IG_DT_DOUBLE, h2, 2);
    ig_tensor *in[] = {&tr, &tt, &tx1, &tx2, &tg1, &tg2, &tv1, &tv2, &th1, &th2};
    const float al = 0.9f, be = 0.8f, eps = 1e-2f, nc = 0.001f, ncp = 0.1f;
    ig_attr a[] = {a_float("alpha", al), a_float("beta", be), a_float("epsilon", eps),
                   a_float("norm_coefficient", nc), a_float("norm_coefficient_post", ncp)};
    double res[6][4];
    CHECK_EQ_INT(run_node("Adam", a, N_OF(a), in, 10, 6, res), 0);
    double ra = r * sqrt(1 - pow(be, 2)) / (1 - pow(al, 2));
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < k + 1; i++) {
            double x = k ? x2[i] : x1[i], g = k ? g2[i] : g1[i], v = k ? v2[i] : v1[i], h = k ? h2[i] : h1[i];
            double gr = nc * x + g, vn = al * v + (1 - al) * gr, hn = be * h + (1 - be) * gr * gr;
            double xn = (1 - (double)ncp) * (x - ra * vn / (sqrt(hn) + eps));
            CHECK(near(res[0 + k][i], xn));
            CHECK(near(res[2 + k][i], vn));
            CHECK(near(res[4 + k][i], hn));
        }
}

static void test_momentum(void)
{
    float r = 0.1f, x[] = {1.2f, 2.8f}, g[] = {-0.94f, -2.5f}, v[] = {1.7f, 3.6f};
    int64_t t = 0;
    ig_tensor tr = {.dtype = IG_DT_FLOAT, .data = &r}, tt = {.dtype = IG_DT_INT64, .data = &t};
    ig_tensor tx = vec(IG_DT_FLOAT, x, 2), tg = vec(IG_DT_FLOAT, g, 2), tv = vec(IG_DT_FLOAT, v, 2);
    ig_tensor *in[] = {&tr, &tt, &tx, &tg, &tv};
    const float al = 0.95f, be = 0.1f, nc = 0.001f;
    ig_attr a[] = {a_float("alpha", al), a_float("beta", be), a_float("norm_coefficient", nc),
                   a_str("mode", "standard")};
    double res[2][4];
    for (int pass = 0; pass < 4; pass++) {
        bool nesterov = pass & 1;
        t = pass < 2 ? 0 : 5; /* at T 0 beta counts as 1 */
        a[3] = a_str("mode", nesterov ? "nesterov" : "standard");
        CHECK_EQ_INT(run_node("Momentum", a, N_OF(a), in, 5, 2, res), 0);
        for (int i = 0; i < 2; i++) {
            double b = t > 0 ? be : 1.0, gr = nc * x[i] + g[i], vn = al * v[i] + b * gr;
            double xn = nesterov ? x[i] - r * (gr + al * vn) : x[i] - r * vn;
            CHECK(near(res[1][i], vn));
            CHECK(near(res[0][i], xn));
        }
    }
    a[3] = a_str("mode", "heavy");
    CHECK_EQ_INT(run_node("Momentum", a, N_OF(a), in, 5, 2, res), IG_EINVAL);
    /* T must be int64 */
    tt.dtype = IG_DT_INT32;
    a[3] = a_str("mode", "standard");
    CHECK_EQ_INT(run_node("Momentum", a, N_OF(a), in, 5, 2, res), IG_EDTYPE);
}

int main(void)
{
    test_adagrad();
    test_adam();
    test_momentum();
    return CHECK_DONE();
}

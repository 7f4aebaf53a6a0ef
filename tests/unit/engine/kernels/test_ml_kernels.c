/* ai.onnx.ml kernels driven directly: hand-built nodes, plan, run, compare with values worked out by
 * hand (or with numpy for the transcendental ones). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/kernels/kernel.h"

#define ML "ai.onnx.ml"

/* ---- attribute builders ---- */

static ig_attr a_int(const char *name, int64_t v)
{
    return (ig_attr){.name = name, .type = IG_ATTR_INT, .i = v};
}

static ig_attr a_float(const char *name, float v)
{
    return (ig_attr){.name = name, .type = IG_ATTR_FLOAT, .f = v};
}

static ig_attr a_str(const char *name, const char *v)
{
    return (ig_attr){.name = name, .type = IG_ATTR_STRING, .s = {v, strlen(v)}};
}

static ig_attr a_ints(const char *name, const int64_t *v, int n)
{
    return (ig_attr){.name = name, .type = IG_ATTR_INTS, .ints = (int64_t *)v, .n = n};
}

static ig_attr a_floats(const char *name, const float *v, int n)
{
    return (ig_attr){.name = name, .type = IG_ATTR_FLOATS, .floats = (float *)v, .n = n};
}

/* Strings stay alive for the whole test: a small pool. */
static ig_string str_pool[256];
static int str_used;

static ig_string *strs(const char *const *v, int n)
{
    ig_string *p = &str_pool[str_used];
    for (int i = 0; i < n; i++) p[i] = (ig_string){v[i], strlen(v[i])};
    str_used += n;
    return p;
}

static ig_attr a_strs(const char *name, const char *const *v, int n)
{
    return (ig_attr){.name = name, .type = IG_ATTR_STRINGS, .strings = strs(v, n), .n = n};
}

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static ig_tensor tens(ig_dtype dt, void *data, int ndim, int64_t d0, int64_t d1)
{
    ig_tensor t = {.dtype = dt, .ndim = ndim, .data = data};
    t.dims[0] = d0;
    t.dims[1] = d1;
    return t;
}

/* Plans and runs one node; outputs get malloc'd data the caller frees. */
static int run_node(const char *op, int opset, ig_attr *attrs, int n_attrs, ig_tensor **in, int n_in,
                    ig_tensor **out, int n_out, ig_error *err)
{
    ig_node node = {
        .name = "n", .op_type = op, .domain = ML, .opset = opset, .n_attrs = n_attrs, .attrs = attrs};
    const ig_kernel_def *k = ig_kernel_next(NULL, ML, op, opset, in, n_in);
    if (!k) return IG_ENOTFOUND;
    ig_kstep s = {.node = &node, .n_in = n_in, .in = in, .n_out = n_out, .out = out, .n_threads = 1};
    memset(err, 0, sizeof(*err));
    int r = k->plan(&s, err);
    if (!r) {
        for (int i = 0; i < n_out; i++)
            if (out[i]) out[i]->data = calloc(ig_tensor_nbytes(out[i]) + 1, 1);
        s.scratch = s.scratch_bytes ? aligned_alloc(64, (s.scratch_bytes + 63) / 64 * 64) : NULL;
        r = k->run(&s);
        free(s.scratch);
    }
    if (k->destroy) k->destroy(s.state);
    return r;
}

static void free_outs(ig_tensor **out, int n)
{
    for (int i = 0; i < n; i++)
        if (out[i]) {
            free(out[i]->data);
            out[i]->data = NULL;
        }
}

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-5 + 1e-4 * fabs(b);
}

static void check_floats(const ig_tensor *t, const float *want, int n)
{
    CHECK_EQ_INT(ig_tensor_numel(t), n);
    for (int i = 0; i < n; i++) {
        float got = ((const float *)t->data)[i];
        if (!near(got, want[i])) fprintf(stderr, "  [%d] got %g want %g\n", i, got, want[i]);
        CHECK(near(got, want[i]));
    }
}

static int str_is(ig_string s, const char *want)
{
    return s.len == strlen(want) && !memcmp(s.ptr, want, s.len);
}

/* ---- tests ---- */

static void test_linear_classifier(void)
{
    ig_error err;
    /* 3 classes, 2 features; scores = X W^T + b, softmax. */
    float coef[] = {1, 0, 0, 1, -1, -1}, icpt[] = {0, 0.5f, 0};
    int64_t labels[] = {10, 20, 30};
    ig_attr at[] = {a_floats("coefficients", coef, 6), a_floats("intercepts", icpt, 3),
                    a_ints("classlabels_ints", labels, 3), a_str("post_transform", "SOFTMAX")};
    double xd[] = {2, 1, -3, -1};
    ig_tensor x = tens(IG_DT_DOUBLE, xd, 2, 2, 2), y = {0}, z = {0};
    ig_tensor *in[] = {&x}, *out[] = {&y, &z};
    CHECK_EQ_INT(run_node("LinearClassifier", 1, at, N_OF(at), in, 1, out, 2, &err), 0);
    CHECK_EQ_INT(y.dtype, IG_DT_INT64);
    CHECK_EQ_INT(z.ndim, 2);
    CHECK_EQ_INT(z.dims[1], 3);
    /* row 0 raw scores [2, 1.5, -3] -> 10; row 1 [-3, -0.5, 4] -> 30 */
    CHECK_EQ_INT(((int64_t *)y.data)[0], 10);
    CHECK_EQ_INT(((int64_t *)y.data)[1], 30);
    double e0 = exp(2), e1 = exp(1.5), e2 = exp(-3), s = e0 + e1 + e2;
    float want0[] = {(float)(e0 / s), (float)(e1 / s), (float)(e2 / s)};
    float *zd = z.data;
    for (int i = 0; i < 3; i++) CHECK(near(zd[i], want0[i]));
    free_outs(out, 2);

    /* Binary form: one coefficient row, string labels, logistic. */
    float c1[] = {1, -1}, i1[] = {0.25f};
    const char *sl[] = {"neg", "pos"};
    ig_attr ab[] = {a_floats("coefficients", c1, 2), a_floats("intercepts", i1, 1),
                    a_strs("classlabels_strings", sl, 2), a_str("post_transform", "LOGISTIC")};
    float xf[] = {1, 0, 0, 1};
    x = tens(IG_DT_FLOAT, xf, 2, 2, 2);
    CHECK_EQ_INT(run_node("LinearClassifier", 1, ab, N_OF(ab), in, 1, out, 2, &err), 0);
    CHECK_EQ_INT(y.dtype, IG_DT_STRING);
    CHECK(str_is(((ig_string *)y.data)[0], "pos"));
    CHECK(str_is(((ig_string *)y.data)[1], "neg"));
    double p0 = 1 / (1 + exp(-1.25)), p1 = 1 / (1 + exp(0.75));
    float wb[] = {(float)(1 - p0), (float)p0, (float)(1 - p1), (float)p1};
    check_floats(&z, wb, 4);
    free_outs(out, 2);

    /* Labels that do not match the coefficient rows. */
    ig_attr bad[] = {a_floats("coefficients", coef, 6), a_ints("classlabels_ints", labels, 2)};
    x = tens(IG_DT_DOUBLE, xd, 2, 2, 2);
    CHECK_EQ_INT(run_node("LinearClassifier", 1, bad, N_OF(bad), in, 1, out, 2, &err), IG_ESHAPE);
}

static void test_linear_regressor(void)
{
    ig_error err;
    float coef[] = {1, 2, 3, 0, 0, 1}, icpt[] = {1, -1};
    ig_attr at[] = {a_floats("coefficients", coef, 6), a_floats("intercepts", icpt, 2), a_int("targets", 2)};
    int64_t xd[] = {1, 1, 1, 2, 0, -1};
    ig_tensor x = tens(IG_DT_INT64, xd, 2, 2, 3), y = {0};
    ig_tensor *in[] = {&x}, *out[] = {&y};
    CHECK_EQ_INT(run_node("LinearRegressor", 1, at, N_OF(at), in, 1, out, 1, &err), 0);
    float want[] = {7, 0, 0, -2};
    check_floats(&y, want, 4);
    free_outs(out, 1);
}

static void test_transforms(void)
{
    ig_error err;
    float xf[] = {1, 2, 3, -4, 0, 4};
    ig_tensor x = tens(IG_DT_FLOAT, xf, 2, 2, 3), y = {0};
    ig_tensor *in[] = {&x}, *out[] = {&y};

    float off[] = {1, 2, 3}, sc[] = {2};
    ig_attr as[] = {a_floats("offset", off, 3), a_floats("scale", sc, 1)};
    CHECK_EQ_INT(run_node("Scaler", 1, as, N_OF(as), in, 1, out, 1, &err), 0);
    float ws[] = {0, 0, 0, -10, -4, 2};
    check_floats(&y, ws, 6);
    free_outs(out, 1);

    ig_attr an[] = {a_str("norm", "L2")};
    CHECK_EQ_INT(run_node("Normalizer", 1, an, 1, in, 1, out, 1, &err), 0);
    double n0 = sqrt(14), n1 = sqrt(32);
    float wn[] = {(float)(1 / n0), (float)(2 / n0), (float)(3 / n0), (float)(-4 / n1), 0, (float)(4 / n1)};
    check_floats(&y, wn, 6);
    free_outs(out, 1);
    an[0] = a_str("norm", "L1");
    CHECK_EQ_INT(run_node("Normalizer", 1, an, 1, in, 1, out, 1, &err), 0);
    float wl1[] = {1 / 6.f, 2 / 6.f, 3 / 6.f, -0.5f, 0, 0.5f};
    check_floats(&y, wl1, 6);
    free_outs(out, 1);
    an[0] = a_str("norm", "MAX");
    CHECK_EQ_INT(run_node("Normalizer", 1, an, 1, in, 1, out, 1, &err), 0);
    float wmax[] = {1 / 3.f, 2 / 3.f, 1, -1, 0, 1};
    check_floats(&y, wmax, 6);
    free_outs(out, 1);
    an[0] = a_str("norm", "L3");
    CHECK_EQ_INT(run_node("Normalizer", 1, an, 1, in, 1, out, 1, &err), IG_EINVAL);

    ig_attr ab[] = {a_float("threshold", 1.5f)};
    CHECK_EQ_INT(run_node("Binarizer", 1, ab, 1, in, 1, out, 1, &err), 0);
    float wb[] = {0, 1, 1, 0, 0, 1};
    check_floats(&y, wb, 6);
    free_outs(out, 1);

    float nanx[] = {NAN, 1, 2, 3, NAN, NAN};
    ig_tensor xn = tens(IG_DT_FLOAT, nanx, 2, 2, 3);
    ig_tensor *inn[] = {&xn};
    float imp[] = {7, 8, 9};
    ig_attr ai[] = {a_floats("imputed_value_floats", imp, 3), a_float("replaced_value_float", NAN)};
    CHECK_EQ_INT(run_node("Imputer", 1, ai, 2, inn, 1, out, 1, &err), 0);
    float wi[] = {7, 1, 2, 3, 8, 9};
    check_floats(&y, wi, 6);
    free_outs(out, 1);

    int64_t xi[] = {0, 5, -1, 5};
    ig_tensor xint = tens(IG_DT_INT64, xi, 1, 4, 0);
    ig_tensor *ini[] = {&xint};
    int64_t impi[] = {42};
    ig_attr aii[] = {a_ints("imputed_value_int64s", impi, 1), a_int("replaced_value_int64", 5)};
    CHECK_EQ_INT(run_node("Imputer", 1, aii, 2, ini, 1, out, 1, &err), 0);
    CHECK_EQ_INT(y.dtype, IG_DT_INT64);
    CHECK_EQ_INT(((int64_t *)y.data)[1], 42);
    CHECK_EQ_INT(((int64_t *)y.data)[2], -1);
    CHECK_EQ_INT(((int64_t *)y.data)[3], 42);
    free_outs(out, 1);
}

static void test_feature_ops(void)
{
    ig_error err;
    float a[] = {1, 2, 3, 4};
    int32_t b[] = {5, 6, 7, 8, 9, 10};
    ig_tensor ta = tens(IG_DT_FLOAT, a, 2, 2, 2), tb = tens(IG_DT_INT32, b, 2, 2, 3), y = {0};
    ig_tensor *in[] = {&ta, &tb}, *out[] = {&y};
    int64_t dims[] = {3, 2};
    ig_attr at[] = {a_ints("inputdimensions", dims, 2)};
    CHECK_EQ_INT(run_node("FeatureVectorizer", 1, at, 1, in, 2, out, 1, &err), 0);
    CHECK_EQ_INT(y.dims[0], 2);
    CHECK_EQ_INT(y.dims[1], 5);
    float want[] = {1, 2, 0, 5, 6, 3, 4, 0, 8, 9};
    check_floats(&y, want, 10);
    free_outs(out, 1);

    const char *sv[] = {"a", "b", "c", "d", "e", "f"};
    ig_string *xs = strs(sv, 6);
    int64_t idx[] = {2, 0};
    ig_tensor tx = tens(IG_DT_STRING, xs, 2, 2, 3), ti = tens(IG_DT_INT64, idx, 1, 2, 0);
    ig_tensor *in2[] = {&tx, &ti};
    CHECK_EQ_INT(run_node("ArrayFeatureExtractor", 1, NULL, 0, in2, 2, out, 1, &err), 0);
    CHECK_EQ_INT(y.dims[1], 2);
    ig_string *ys = y.data;
    CHECK(str_is(ys[0], "c") && str_is(ys[1], "a") && str_is(ys[2], "f") && str_is(ys[3], "d"));
    free_outs(out, 1);
    idx[0] = 3;
    CHECK_EQ_INT(run_node("ArrayFeatureExtractor", 1, NULL, 0, in2, 2, out, 1, &err), IG_EINVAL);
    free_outs(out, 1);
}

static void test_encoders(void)
{
    ig_error err;
    const char *keys[] = {"Amy", "Sally", "Bob"};
    int64_t vals[] = {5, 6, 7};
    ig_attr at[] = {a_strs("keys_strings", keys, 3), a_ints("values_int64s", vals, 3),
                    a_int("default_int64", -9)};
    const char *xv[] = {"Dori", "Amy", "Bob", "Sally", "Sallyx"};
    ig_tensor x = tens(IG_DT_STRING, strs(xv, 5), 1, 5, 0), y = {0};
    ig_tensor *in[] = {&x}, *out[] = {&y};
    CHECK_EQ_INT(run_node("LabelEncoder", 2, at, N_OF(at), in, 1, out, 1, &err), 0);
    int64_t want[] = {-9, 5, 7, 6, -9};
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(((int64_t *)y.data)[i], want[i]);
    free_outs(out, 1);

    float kf[] = {0.5f, NAN}, vf[] = {1, 2};
    ig_attr af[] = {a_floats("keys_floats", kf, 2), a_floats("values_floats", vf, 2)};
    float xf[] = {NAN, 0.5f, 3};
    ig_tensor xfl = tens(IG_DT_FLOAT, xf, 1, 3, 0);
    ig_tensor *inf[] = {&xfl};
    CHECK_EQ_INT(run_node("LabelEncoder", 2, af, 2, inf, 1, out, 1, &err), 0);
    float wf[] = {2, 1, -0.f};
    check_floats(&y, wf, 3);
    free_outs(out, 1);

    /* opset 1: int64 -> classes_strings[x] */
    const char *cls[] = {"x", "y"};
    ig_attr a1[] = {a_strs("classes_strings", cls, 2), a_str("default_string", "?")};
    int64_t xi[] = {1, 0, 7};
    ig_tensor xint = tens(IG_DT_INT64, xi, 1, 3, 0);
    ig_tensor *ini[] = {&xint};
    CHECK_EQ_INT(run_node("LabelEncoder", 1, a1, 2, ini, 1, out, 1, &err), 0);
    ig_string *ys = y.data;
    CHECK(str_is(ys[0], "y") && str_is(ys[1], "x") && str_is(ys[2], "?"));
    free_outs(out, 1);

    /* keys that do not match the input type */
    CHECK_EQ_INT(run_node("LabelEncoder", 2, at, N_OF(at), ini, 1, out, 1, &err), IG_EDTYPE);

    int64_t cats[] = {1, 3, 5};
    ig_attr ao[] = {a_ints("cats_int64s", cats, 3), a_int("zeros", 1)};
    double xd[] = {3, 4, 5, 1};
    ig_tensor xdbl = tens(IG_DT_DOUBLE, xd, 2, 2, 2);
    ig_tensor *ind[] = {&xdbl};
    CHECK_EQ_INT(run_node("OneHotEncoder", 1, ao, 2, ind, 1, out, 1, &err), 0);
    CHECK_EQ_INT(y.ndim, 3);
    CHECK_EQ_INT(y.dims[2], 3);
    float wo[] = {0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0};
    check_floats(&y, wo, 12);
    free_outs(out, 1);
    ao[1] = a_int("zeros", 0);
    CHECK_EQ_INT(run_node("OneHotEncoder", 1, ao, 2, ind, 1, out, 1, &err), IG_EINVAL);
    free_outs(out, 1);

    CHECK_EQ_INT(run_node("ZipMap", 1, NULL, 0, ind, 1, out, 1, &err), IG_EUNSUPPORTED);
    CHECK(strstr(err.msg, "zipmap") != NULL);
}

/* Two trees over 2 features:
 *   tree 0: x0 <= 0.5 ? leaf(1) : leaf(2)        (NaN goes true)
 *   tree 1: x1 <  2   ? leaf(10) : (x0 >= 3 ? leaf(20) : leaf(30)) */
static const int64_t t_tree[] = {0, 0, 0, 1, 1, 1, 1, 1};
static const int64_t t_node[] = {0, 1, 2, 0, 1, 2, 3, 4};
static const int64_t t_feat[] = {0, 0, 0, 1, 0, 0, 0, 0};
static const float t_vals[] = {0.5f, 0, 0, 2, 0, 3, 0, 0};
static const int64_t t_true[] = {1, 0, 0, 1, 0, 3, 0, 0};
static const int64_t t_false[] = {2, 0, 0, 2, 0, 4, 0, 0};
static const int64_t t_miss[] = {1, 0, 0, 0, 0, 0, 0, 0};
static const char *const t_modes[] = {"BRANCH_LEQ", "LEAF",       "LEAF", "BRANCH_LT",
                                      "LEAF",       "BRANCH_GTE", "LEAF", "LEAF"};

#define TREE_ATTRS                                                                                           \
    a_ints("nodes_treeids", t_tree, 8), a_ints("nodes_nodeids", t_node, 8),                                  \
        a_ints("nodes_featureids", t_feat, 8), a_floats("nodes_values", t_vals, 8),                          \
        a_ints("nodes_truenodeids", t_true, 8), a_ints("nodes_falsenodeids", t_false, 8),                    \
        a_ints("nodes_missing_value_tracks_true", t_miss, 8), a_strs("nodes_modes", t_modes, 8)

static void test_trees(void)
{
    ig_error err;
    int64_t lt[] = {0, 0, 1, 1, 1}, ln[] = {1, 2, 1, 3, 4}, lid[] = {0, 0, 0, 0, 0};
    float lw[] = {1, 2, 10, 20, 30}, base[] = {100};
    ig_attr at[] = {TREE_ATTRS,
                    a_ints("target_treeids", lt, 5),
                    a_ints("target_nodeids", ln, 5),
                    a_ints("target_ids", lid, 5),
                    a_floats("target_weights", lw, 5),
                    a_floats("base_values", base, 1),
                    a_str("aggregate_function", "SUM")};
    float xf[] = {0, 0, 1, 5, 4, 5, NAN, 1};
    ig_tensor x = tens(IG_DT_FLOAT, xf, 2, 4, 2), y = {0};
    ig_tensor *in[] = {&x}, *out[] = {&y};
    CHECK_EQ_INT(run_node("TreeEnsembleRegressor", 1, at, N_OF(at), in, 1, out, 1, &err), 0);
    CHECK_EQ_INT(y.dims[1], 1);
    float want[] = {111, 132, 122, 111};
    check_floats(&y, want, 4);
    free_outs(out, 1);
    at[N_OF(at) - 1] = a_str("aggregate_function", "AVERAGE");
    CHECK_EQ_INT(run_node("TreeEnsembleRegressor", 1, at, N_OF(at), in, 1, out, 1, &err), 0);
    float wavg[] = {105.5f, 116, 111, 105.5f};
    check_floats(&y, wavg, 4);
    free_outs(out, 1);
    at[N_OF(at) - 1] = a_str("aggregate_function", "MAX");
    CHECK_EQ_INT(run_node("TreeEnsembleRegressor", 1, at, N_OF(at), in, 1, out, 1, &err), 0);
    float wmax[] = {110, 130, 120, 110};
    check_floats(&y, wmax, 4);
    free_outs(out, 1);

    /* Classifier: 3 classes; tree 0 leaves vote for class 0 / 1, tree 1 leaves for 2 / 1 / 0. */
    int64_t ct[] = {0, 0, 1, 1, 1}, cn[] = {1, 2, 1, 3, 4}, cid[] = {0, 1, 2, 1, 0}, labels[] = {7, 8, 9};
    float cw[] = {0.6f, 0.5f, 0.7f, 0.4f, 0.3f};
    ig_attr ac[] = {TREE_ATTRS,
                    a_ints("class_treeids", ct, 5),
                    a_ints("class_nodeids", cn, 5),
                    a_ints("class_ids", cid, 5),
                    a_floats("class_weights", cw, 5),
                    a_ints("classlabels_int64s", labels, 3)};
    ig_tensor z = {0};
    ig_tensor *out2[] = {&y, &z};
    CHECK_EQ_INT(run_node("TreeEnsembleClassifier", 1, ac, N_OF(ac), in, 1, out2, 2, &err), 0);
    /* rows: (0,0): c0 .6 + c2 .7 -> 9; (1,5): c1 .5 + c0 .3 -> 8; (4,5): c1 .5 + c1 .4 -> 8; (NaN,1): c0 .6,
     * c2 .7 -> 9 */
    int64_t wl[] = {9, 8, 8, 9};
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(((int64_t *)y.data)[i], wl[i]);
    float wz[] = {.6f, 0, .7f, .3f, .5f, 0, 0, .9f, 0, .6f, 0, .7f};
    check_floats(&z, wz, 12);
    free_outs(out2, 2);

    /* A child id that does not exist must fail plan, not crash. */
    int64_t badt[8];
    memcpy(badt, t_true, sizeof badt);
    badt[0] = 99;
    ig_attr ab[N_OF(ac)];
    memcpy(ab, ac, sizeof ab);
    ab[4] = a_ints("nodes_truenodeids", badt, 8);
    CHECK_EQ_INT(run_node("TreeEnsembleClassifier", 1, ab, N_OF(ab), in, 1, out2, 2, &err), IG_EINVAL);
    /* A feature id past the input's columns. */
    float xn[] = {0, 1, 2};
    ig_tensor x1 = tens(IG_DT_FLOAT, xn, 2, 3, 1);
    ig_tensor *in1[] = {&x1};
    CHECK_EQ_INT(run_node("TreeEnsembleClassifier", 1, ac, N_OF(ac), in1, 1, out2, 2, &err), IG_EINVAL);
}

int main(void)
{
    test_linear_classifier();
    test_linear_regressor();
    test_transforms();
    test_feature_ops();
    test_encoders();
    test_trees();
    return CHECK_DONE();
}

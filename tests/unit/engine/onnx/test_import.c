/* ONNX import: real models from Debian's libonnx-testdata (skipped when absent), hand-encoded models
 * for the corner cases (sorting, cycles, outer scope, typed and sparse data, attributes), truncated
 * files, and external data confined to the model's folder (fixtures from tests/fixtures/). */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "engine/onnx/onnx.h"

#define TESTDATA "/usr/share/libonnx-testdata/data/"
#define FIXTURES "tests/fixtures/external/"

/* ---- a minimal protobuf encoder for hand-built models ---- */
typedef struct pb {
    uint8_t b[8192];
    size_t n;
} pb;

static void put_varint(pb *o, uint64_t v)
{
    do {
        o->b[o->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}
static void put_int(pb *o, int num, int64_t v)
{
    put_varint(o, (uint64_t)num << 3);
    put_varint(o, (uint64_t)v);
}
static void put_bytes(pb *o, int num, const void *p, size_t n)
{
    put_varint(o, (uint64_t)num << 3 | 2);
    put_varint(o, n);
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static void put_str(pb *o, int num, const char *s)
{
    put_bytes(o, num, s, strlen(s));
}
static void put_msg(pb *o, int num, const pb *m)
{
    put_bytes(o, num, m->b, m->n);
}
static void put_f32(pb *o, int num, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_varint(o, (uint64_t)num << 3 | 5);
    for (int i = 0; i < 4; i++) o->b[o->n++] = (uint8_t)(u >> (8 * i));
}

/* NodeProto with inputs/outputs given as NULL-terminated lists. */
static pb node(const char *op, const char *const *in, const char *const *out)
{
    pb n = {0};
    for (; in && *in; in++) put_str(&n, 1, *in);
    for (; out && *out; out++) put_str(&n, 2, *out);
    put_str(&n, 4, op);
    return n;
}
static pb vinfo(const char *name, int elem, int ndim, const int64_t *dims)
{
    pb t = {0}, tt = {0}, sh = {0}, vi = {0};
    put_int(&tt, 1, elem);
    for (int k = 0; k < ndim; k++) {
        pb d = {0};
        if (dims[k] >= 0)
            put_int(&d, 1, dims[k]);
        else
            put_str(&d, 2, "N");
        put_msg(&sh, 1, &d);
    }
    if (ndim >= 0) put_msg(&tt, 2, &sh);
    put_msg(&t, 1, &tt);
    put_str(&vi, 1, name);
    put_msg(&vi, 2, &t);
    return vi;
}
static pb model(const pb *graph, int64_t opset)
{
    pb m = {0}, os = {0};
    put_int(&m, 1, 8);
    put_str(&m, 2, "test");
    put_msg(&m, 7, graph);
    put_int(&os, 2, opset);
    put_msg(&m, 8, &os);
    return m;
}

static int load_pb(const pb *m, ig_onnx_model **out, ig_error *err)
{
    memset(err, 0, sizeof(*err));
    return ig_onnx_load_buffer(m->b, m->n, NULL, out, err);
}

static const ig_value *val(const ig_graph *g, int i)
{
    return i >= 0 && i < g->n_values ? &g->values[i] : NULL;
}
static const char *vname(const ig_graph *g, int i)
{
    return val(g, i) ? val(g, i)->name : "(none)";
}

/* ---- real models ---- */
static int have_testdata(void)
{
    return access(TESTDATA "node/test_abs/model.onnx", R_OK) == 0;
}

static void test_abs(void)
{
    ig_onnx_model *m = NULL;
    ig_error err = {0};
    CHECK_EQ_INT(ig_onnx_load(TESTDATA "node/test_abs/model.onnx", &m, &err), 0);
    if (!m) return;
    const ig_graph *g = m->graph;
    CHECK_EQ_INT(g->n_nodes, 1);
    CHECK_STR(g->nodes[0].op_type, "Abs");
    CHECK_STR(g->nodes[0].domain, "");
    CHECK_EQ_INT(g->nodes[0].opset, ig_onnx_opset(m, ""));
    CHECK_EQ_INT(ig_onnx_opset(m, "ai.onnx"), ig_onnx_opset(m, ""));
    CHECK(g->nodes[0].opset > 0);
    CHECK_EQ_INT(g->n_inputs, 1);
    CHECK_EQ_INT(g->n_outputs, 1);
    CHECK_STR(vname(g, g->inputs[0]), "x");
    CHECK_STR(vname(g, g->outputs[0]), "y");
    CHECK_EQ_INT(g->nodes[0].inputs[0], g->inputs[0]);
    CHECK_EQ_INT(g->nodes[0].outputs[0], g->outputs[0]);
    CHECK_EQ_INT(val(g, g->outputs[0])->producer, 0);
    const ig_value_info *vi = &val(g, g->inputs[0])->info;
    CHECK(vi->is_tensor);
    CHECK_EQ_INT(vi->dtype, IG_DT_FLOAT);
    CHECK_EQ_INT(vi->ndim, 3);
    CHECK_EQ_INT(vi->dims[0], 3);
    CHECK_EQ_INT(vi->dims[2], 5);
    CHECK_EQ_INT(ig_graph_find_value(g, "y"), g->outputs[0]);
    CHECK_EQ_INT(ig_graph_find_value(g, "nope"), -1);
    CHECK_EQ_INT(m->weight_bytes, 0);
    ig_onnx_free(m);

    /* the test set's input tensor */
    ig_arena *a = ig_arena_create(0);
    ig_tensor t;
    const char *name = NULL;
    memset(&err, 0, sizeof(err));
    CHECK_EQ_INT(
        ig_onnx_read_tensor_file(TESTDATA "node/test_abs/test_data_set_0/input_0.pb", a, &t, &name, &err), 0);
    CHECK_STR(name, "x");
    CHECK_EQ_INT(t.dtype, IG_DT_FLOAT);
    CHECK_EQ_INT(t.ndim, 3);
    CHECK_EQ_INT(ig_tensor_numel(&t), 60);
    CHECK((uintptr_t)t.data % 64 == 0);
    float *f = t.data;
    CHECK(f[0] > 1.76405f && f[0] < 1.76406f);
    CHECK(f[59] < -0.36274f && f[59] > -0.36275f);
    ig_arena_free(a);
}

static void test_if_model(void)
{
    ig_onnx_model *m = NULL;
    ig_error err = {0};
    CHECK_EQ_INT(ig_onnx_load(TESTDATA "node/test_if/model.onnx", &m, &err), 0);
    if (!m) return;
    const ig_node *n = &m->graph->nodes[0];
    CHECK_STR(n->op_type, "If");
    const ig_attr *th = ig_node_attr(n, "then_branch"), *el = ig_node_attr(n, "else_branch");
    CHECK(th && th->type == IG_ATTR_GRAPH && th->g);
    CHECK(el && el->type == IG_ATTR_GRAPH && el->g);
    if (th && th->g) {
        CHECK(th->g->parent == m->graph);
        CHECK_EQ_INT(th->g->n_outputs, 1);
        CHECK_STR(th->g->nodes[0].op_type, "Constant");
        CHECK_EQ_INT(th->g->nodes[0].opset, n->opset);
        const ig_attr *v = ig_node_attr(&th->g->nodes[0], "value");
        CHECK(v && v->type == IG_ATTR_TENSOR && v->t && v->t->dtype == IG_DT_FLOAT);
        if (v && v->t) CHECK((uintptr_t)v->t->data % 4 == 0);
    }
    ig_onnx_free(m);

    /* A Loop whose body holds an If that reads the body's values: outer links go one level up. */
    m = NULL;
    CHECK_EQ_INT(ig_onnx_load(TESTDATA "node/test_loop16_seq_none/model.onnx", &m, &err), 0);
    if (!m) return;
    const ig_attr *body = ig_node_attr(&m->graph->nodes[0], "body");
    int outer_links = 0;
    for (int i = 0; body && body->g && i < body->g->n_nodes; i++)
        for (int k = 0; k < body->g->nodes[i].n_attrs; k++) {
            const ig_graph *sg = body->g->nodes[i].attrs[k].g;
            for (int v = 0; sg && v < sg->n_values; v++) {
                if (sg->values[v].outer < 0) continue;
                outer_links++;
                CHECK(sg->parent == body->g);
                CHECK_STR(body->g->values[sg->values[v].outer].name, sg->values[v].name);
            }
        }
    CHECK(outer_links > 0);
    /* opt_seq is declared optional(sequence(tensor)): not a tensor; undeclared node outputs default to one */
    int os = ig_graph_find_value(m->graph, "opt_seq");
    CHECK(os >= 0 && !m->graph->values[os].info.is_tensor && m->graph->values[os].info.ndim == -1);
    if (body && body->g) {
        int x = ig_graph_find_value(body->g, "x");
        CHECK(x >= 0 && body->g->values[x].info.is_tensor && body->g->values[x].info.ndim == -1);
    }
    ig_onnx_free(m);
}

static void test_conv(void)
{
    ig_onnx_model *m = NULL;
    ig_error err = {0};
    CHECK_EQ_INT(ig_onnx_load(TESTDATA "pytorch-converted/test_Conv2d/model.onnx", &m, &err), 0);
    if (!m) return;
    const ig_graph *g = m->graph;
    CHECK_STR(g->nodes[0].op_type, "Conv");
    CHECK_EQ_INT(g->nodes[0].n_inputs, 3);
    /* inputs "0","1","2" are declared but "1","2" are initializers */
    CHECK_EQ_INT(g->n_inputs, 1);
    CHECK_STR(vname(g, g->inputs[0]), "0");
    const ig_value *w = val(g, g->nodes[0].inputs[1]);
    CHECK(w && w->constant);
    if (w && w->constant) {
        CHECK_EQ_INT(w->constant->ndim, 4);
        CHECK_EQ_INT(w->constant->dims[0], 4);
        CHECK_EQ_INT(w->constant->dims[3], 2);
        CHECK((uintptr_t)w->constant->data % 4 == 0);
    }
    CHECK_EQ_INT(m->weight_bytes, (4 * 3 * 3 * 2 + 4) * 4);
    int n;
    const int64_t *ks = ig_node_attr_ints(&g->nodes[0], "kernel_shape", &n);
    CHECK(ks && n == 2 && ks[0] == 3 && ks[1] == 2);
    ig_onnx_free(m);
}

/* Every strict prefix of a model must fail cleanly (run under ASan to catch over-reads). */
static void test_truncated(const char *path, const char *base)
{
    FILE *f = fopen(path, "rb");
    if (!f) return;
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    int ok = 0;
    for (size_t len = 0; len < n; len++) {
        /* a fresh heap copy of exactly len bytes, so ASan sees any read past it */
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, buf, len);
        ig_onnx_model *m = NULL;
        ig_error err = {0};
        int rc = ig_onnx_load_buffer(p, len, base, &m, &err);
        if (rc == 0) {
            fprintf(stderr, "%s: prefix of %zu bytes loaded\n", path, len);
            ig_onnx_free(m);
        } else {
            ok += rc < 0 && err.code == rc && err.msg[0];
        }
        free(p);
    }
    CHECK_EQ_INT(ok, n);
    ig_onnx_model *m = NULL;
    ig_error err = {0};
    CHECK_EQ_INT(ig_onnx_load_buffer(buf, n, base, &m, &err), 0);
    ig_onnx_free(m);
}

static void test_empty_file(void)
{
    char path[] = "/tmp/ig_empty_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    ig_onnx_model *m = NULL;
    ig_error err = {0};
    CHECK_EQ_INT(ig_onnx_load(path, &m, &err), IG_EFORMAT);
    CHECK(strstr(err.msg, "empty") != NULL);
    unlink(path);
    memset(&err, 0, sizeof(err));
    CHECK(ig_onnx_load("/nonexistent/model.onnx", &m, &err) < 0);
    CHECK(m == NULL);
}

/* ---- hand-built models ---- */
static void test_sort_and_optional(void)
{
    /* Nodes out of order: B = Relu(A) comes before A = Relu(X); C = Identity(X) is independent. */
    pb g = {0};
    const char *const in_b[] = {"A", NULL}, *const out_b[] = {"B", NULL};
    const char *const in_a[] = {"X", NULL}, *const out_a[] = {"A", NULL};
    const char *const in_c[] = {"X", "", NULL}, *const out_c[] = {"C", "", NULL};
    pb nb = node("Relu", in_b, out_b), na = node("Relu", in_a, out_a), nc = node("Clip", in_c, out_c);
    put_str(&nb, 3, "second");
    put_msg(&g, 1, &nb);
    put_msg(&g, 1, &na);
    put_msg(&g, 1, &nc);
    put_str(&g, 2, "main");
    int64_t d[] = {2, -1};
    pb x = vinfo("X", 1, 2, d), bo = vinfo("B", 1, 2, d), co = vinfo("C", 1, 2, d);
    put_msg(&g, 11, &x);
    put_msg(&g, 12, &bo);
    put_msg(&g, 12, &co);
    pb mm = model(&g, 13);
    ig_onnx_model *m = NULL;
    ig_error err;
    CHECK_EQ_INT(load_pb(&mm, &m, &err), 0);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    const ig_graph *gr = m->graph;
    CHECK_STR(gr->name, "main");
    CHECK_EQ_INT(gr->n_nodes, 3);
    /* stable Kahn: A's producer first, then the earliest ready node in file order */
    CHECK_STR(vname(gr, gr->nodes[0].outputs[0]), "A");
    CHECK_STR(vname(gr, gr->nodes[1].outputs[0]), "B");
    CHECK_STR(gr->nodes[1].name, "second");
    CHECK_STR(gr->nodes[2].op_type, "Clip");
    CHECK_EQ_INT(gr->nodes[2].n_inputs, 2);
    CHECK_EQ_INT(gr->nodes[2].inputs[1], -1);
    CHECK_EQ_INT(gr->nodes[2].outputs[1], -1);
    for (int i = 0; i < gr->n_nodes; i++)
        for (int k = 0; k < gr->nodes[i].n_outputs; k++)
            if (gr->nodes[i].outputs[k] >= 0) CHECK_EQ_INT(gr->values[gr->nodes[i].outputs[k]].producer, i);
    const ig_value_info *xi = &val(gr, gr->inputs[0])->info;
    CHECK_EQ_INT(xi->ndim, 2);
    CHECK_EQ_INT(xi->dims[1], -1);
    CHECK_STR(xi->dim_params[1], "N");
    CHECK(xi->dim_params[0] == NULL);
    CHECK_EQ_INT(gr->nodes[0].opset, 13);
    ig_onnx_free(m);
}

static void expect_error(const pb *g, int64_t opset, const char *needle)
{
    pb mm = model(g, opset);
    ig_onnx_model *m = NULL;
    ig_error err;
    int rc = load_pb(&mm, &m, &err);
    CHECK(rc < 0);
    CHECK(m == NULL);
    if (!strstr(err.msg, needle)) {
        fprintf(stderr, "expected '%s' in: %s\n", needle, err.msg);
        CHECK(0);
    }
}

static void test_graph_errors(void)
{
    const char *const a[] = {"A", NULL}, *const b[] = {"B", NULL}, *const x[] = {"X", NULL};
    const char *const ghost[] = {"ghost", NULL};
    int64_t d[] = {1};
    pb xi = vinfo("X", 1, 1, d);
    /* cycle */
    pb g = {0}, n1 = node("Relu", a, b), n2 = node("Relu", b, a);
    put_str(&n1, 3, "loopy");
    put_msg(&g, 1, &n1);
    put_msg(&g, 1, &n2);
    expect_error(&g, 13, "cycle");
    /* input nobody produces */
    g = (pb){0};
    n1 = node("Relu", ghost, b);
    put_str(&n1, 3, "reader");
    put_msg(&g, 1, &n1);
    expect_error(&g, 13, "'ghost'");
    expect_error(&g, 13, "reader");
    /* two producers */
    g = (pb){0};
    n1 = node("Relu", x, b);
    n2 = node("Relu", x, b);
    put_msg(&g, 1, &n1);
    put_msg(&g, 1, &n2);
    put_msg(&g, 11, &xi);
    expect_error(&g, 13, "more than once");
    /* domain not imported */
    g = (pb){0};
    n1 = node("LinearRegressor", x, b);
    put_str(&n1, 7, "ai.onnx.ml");
    put_msg(&g, 1, &n1);
    put_msg(&g, 11, &xi);
    expect_error(&g, 13, "ai.onnx.ml");
    /* rank above IG_MAX_DIMS */
    g = (pb){0};
    int64_t d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    pb big = vinfo("X", 1, 9, d9);
    put_msg(&g, 11, &big);
    expect_error(&g, 13, "rank");
    /* graph output that does not exist */
    g = (pb){0};
    pb yo = vinfo("Y", 1, 1, d);
    put_msg(&g, 12, &yo);
    expect_error(&g, 13, "'Y'");
}

/* TensorProto with the given dtype/dims plus extra raw fields appended by the caller. */
static pb tensor_hdr(const char *name, int dtype, int ndim, const int64_t *dims)
{
    pb t = {0};
    for (int k = 0; k < ndim; k++) put_int(&t, 1, dims[k]);
    put_int(&t, 2, dtype);
    if (name) put_str(&t, 8, name);
    return t;
}

static int parse(const pb *t, ig_arena *a, ig_tensor *out, ig_error *err)
{
    memset(err, 0, sizeof(*err));
    return ig_onnx_parse_tensor(t->b, t->n, a, out, NULL, err);
}

static void test_typed_tensors(void)
{
    ig_arena *a = ig_arena_create(0);
    ig_tensor t;
    ig_error err;
    int64_t d3[] = {3}, d2[] = {2};
    /* FLOAT16 bits in unpacked int32_data */
    pb h = tensor_hdr("h", IG_DT_FLOAT16, 1, d3);
    put_int(&h, 5, 0x3c00);
    put_int(&h, 5, 0xc000);
    put_int(&h, 5, 0x7bff);
    CHECK_EQ_INT(parse(&h, a, &t, &err), 0);
    CHECK_EQ_INT(t.dtype, IG_DT_FLOAT16);
    CHECK(((uint16_t *)t.data)[0] == 0x3c00 && ((uint16_t *)t.data)[1] == 0xc000 &&
          ((uint16_t *)t.data)[2] == 0x7bff);
    /* BOOL and INT8 (negative) in packed int32_data */
    pb bl = tensor_hdr(NULL, IG_DT_BOOL, 1, d3);
    const uint8_t packed_bool[] = {1, 0, 5};
    put_bytes(&bl, 5, packed_bool, 3);
    CHECK_EQ_INT(parse(&bl, a, &t, &err), 0);
    CHECK(((uint8_t *)t.data)[0] == 1 && ((uint8_t *)t.data)[1] == 0 && ((uint8_t *)t.data)[2] == 1);
    pb i8 = tensor_hdr(NULL, IG_DT_INT8, 1, d2);
    put_int(&i8, 5, -5);
    put_int(&i8, 5, 127);
    CHECK_EQ_INT(parse(&i8, a, &t, &err), 0);
    CHECK(((int8_t *)t.data)[0] == -5 && ((int8_t *)t.data)[1] == 127);
    /* INT64: one packed chunk plus one unpacked element */
    pb i64 = tensor_hdr(NULL, IG_DT_INT64, 1, d3);
    const uint8_t pk[] = {0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    put_bytes(&i64, 7, pk, sizeof(pk));
    put_int(&i64, 7, 1LL << 40);
    CHECK_EQ_INT(parse(&i64, a, &t, &err), 0);
    CHECK(((int64_t *)t.data)[0] == 42 && ((int64_t *)t.data)[1] == -1 &&
          ((int64_t *)t.data)[2] == 1LL << 40);
    /* UINT32 in uint64_data, DOUBLE in double_data */
    pb u32 = tensor_hdr(NULL, IG_DT_UINT32, 0, NULL);
    put_int(&u32, 11, 4000000000LL);
    CHECK_EQ_INT(parse(&u32, a, &t, &err), 0);
    CHECK_EQ_INT(t.ndim, 0);
    CHECK(((uint32_t *)t.data)[0] == 4000000000u);
    pb dbl = tensor_hdr(NULL, IG_DT_DOUBLE, 1, d2);
    double dv[2] = {0.5, -1e300};
    put_bytes(&dbl, 10, dv, sizeof(dv));
    CHECK_EQ_INT(parse(&dbl, a, &t, &err), 0);
    CHECK(((double *)t.data)[0] == 0.5 && ((double *)t.data)[1] == -1e300);
    /* FLOAT, unpacked float_data */
    pb fl = tensor_hdr(NULL, IG_DT_FLOAT, 1, d2);
    put_f32(&fl, 4, 1.5f);
    put_f32(&fl, 4, -2.0f);
    CHECK_EQ_INT(parse(&fl, a, &t, &err), 0);
    CHECK(((float *)t.data)[0] == 1.5f && ((float *)t.data)[1] == -2.0f);
    /* STRING */
    pb s = tensor_hdr("s", IG_DT_STRING, 1, d2);
    put_str(&s, 6, "hello");
    put_bytes(&s, 6, "a\0b", 3);
    CHECK_EQ_INT(parse(&s, a, &t, &err), 0);
    const ig_string *str = t.data;
    CHECK(str[0].len == 5 && !memcmp(str[0].ptr, "hello", 5));
    CHECK(str[1].len == 3 && !memcmp(str[1].ptr, "a\0b", 3));
    /* raw_data at an odd offset in the buffer is copied to an aligned place */
    pb r = tensor_hdr(NULL, IG_DT_FLOAT, 1, d2);
    float rv[2] = {3.0f, 4.0f};
    put_bytes(&r, 9, rv, sizeof(rv));
    CHECK_EQ_INT(parse(&r, a, &t, &err), 0);
    CHECK((uintptr_t)t.data % 64 == 0);
    CHECK(((float *)t.data)[1] == 4.0f);
    /* errors: count mismatch, raw size mismatch, unknown dtype, too many dims, dims product overflow */
    pb bad = tensor_hdr("bad", IG_DT_FLOAT, 1, d3);
    put_f32(&bad, 4, 1.0f);
    CHECK_EQ_INT(parse(&bad, a, &t, &err), IG_EFORMAT);
    CHECK(strstr(err.msg, "'bad'") != NULL);
    bad = tensor_hdr("bad", IG_DT_FLOAT, 1, d3);
    put_bytes(&bad, 9, rv, 7);
    CHECK_EQ_INT(parse(&bad, a, &t, &err), IG_EFORMAT);
    bad = tensor_hdr("bad", 99, 1, d3);
    CHECK(parse(&bad, a, &t, &err) < 0);
    int64_t d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    bad = tensor_hdr("bad", IG_DT_FLOAT, 9, d9);
    CHECK(parse(&bad, a, &t, &err) < 0);
    int64_t huge[] = {INT64_MAX / 2, 4};
    bad = tensor_hdr("bad", IG_DT_FLOAT, 2, huge);
    CHECK(parse(&bad, a, &t, &err) < 0);
    int64_t huge2[] = {1LL << 62};
    bad = tensor_hdr("bad", IG_DT_FLOAT, 1, huge2);
    CHECK(parse(&bad, a, &t, &err) < 0);
    /* external data is refused without a model folder */
    bad = tensor_hdr("ext", IG_DT_FLOAT, 1, d2);
    pb loc = {0};
    put_str(&loc, 1, "location");
    put_str(&loc, 2, "w.bin");
    put_msg(&bad, 13, &loc);
    put_int(&bad, 14, 1);
    CHECK_EQ_INT(parse(&bad, a, &t, &err), IG_EACCESS);
    ig_arena_free(a);
}

static void test_attrs_and_sparse(void)
{
    const char *const x[] = {"X", NULL}, *const y[] = {"Y", NULL};
    pb n = node("Foo", x, y), at = {0};
    /* ints: packed {1,2} then unpacked 3 */
    put_str(&at, 1, "ints");
    const uint8_t pk[] = {1, 2};
    put_bytes(&at, 8, pk, 2);
    put_int(&at, 8, 3);
    put_int(&at, 20, 7);
    put_msg(&n, 5, &at);
    at = (pb){0};
    put_str(&at, 1, "floats");
    put_f32(&at, 7, 0.25f);
    put_f32(&at, 7, 0.5f);
    put_int(&at, 20, 6);
    put_msg(&n, 5, &at);
    at = (pb){0}; /* no type field: inferred from i */
    put_str(&at, 1, "alpha");
    put_int(&at, 3, -4);
    put_msg(&n, 5, &at);
    at = (pb){0};
    put_str(&at, 1, "mode");
    put_str(&at, 4, "nearest");
    put_int(&at, 20, 3);
    put_msg(&n, 5, &at);
    at = (pb){0};
    put_str(&at, 1, "f");
    put_f32(&at, 2, 1e-5f);
    put_int(&at, 20, 1);
    put_msg(&n, 5, &at);
    pb g = {0};
    put_msg(&g, 1, &n);
    int64_t d[] = {2, 3};
    pb xi = vinfo("X", 1, 2, d);
    put_msg(&g, 11, &xi);
    /* sparse initializer S [2,3] with values {7,8} at linear indices {1,5} */
    pb sp = {0}, vals = tensor_hdr("S", IG_DT_FLOAT, 1, (int64_t[]){2}),
       idx = tensor_hdr(NULL, IG_DT_INT64, 1, (int64_t[]){2});
    put_f32(&vals, 4, 7.0f);
    put_f32(&vals, 4, 8.0f);
    put_int(&idx, 7, 1);
    put_int(&idx, 7, 5);
    put_msg(&sp, 1, &vals);
    put_msg(&sp, 2, &idx);
    put_int(&sp, 3, 2);
    put_int(&sp, 3, 3);
    put_msg(&g, 15, &sp);
    /* a plain initializer also listed as a graph input */
    pb w = tensor_hdr("W", IG_DT_FLOAT, 1, (int64_t[]){1});
    put_f32(&w, 4, 9.0f);
    put_msg(&g, 5, &w);
    pb wi = vinfo("W", 1, 1, (int64_t[]){1});
    put_msg(&g, 11, &wi);
    pb yo = vinfo("Y", 1, 2, d);
    put_msg(&g, 12, &yo);
    pb mm = model(&g, 17);
    ig_onnx_model *m = NULL;
    ig_error err;
    CHECK_EQ_INT(load_pb(&mm, &m, &err), 0);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    const ig_node *nd = &m->graph->nodes[0];
    int cnt;
    const int64_t *ints = ig_node_attr_ints(nd, "ints", &cnt);
    CHECK(ints && cnt == 3 && ints[0] == 1 && ints[1] == 2 && ints[2] == 3);
    const float *fl = ig_node_attr_floats(nd, "floats", &cnt);
    CHECK(fl && cnt == 2 && fl[0] == 0.25f && fl[1] == 0.5f);
    CHECK_EQ_INT(ig_node_attr_int(nd, "alpha", 0), -4);
    CHECK_EQ_INT(ig_node_attr_int(nd, "missing", 11), 11);
    CHECK_STR(ig_node_attr_str(nd, "mode", "x"), "nearest");
    CHECK(ig_node_attr_float(nd, "f", 0) == 1e-5f);
    CHECK(ig_node_attr_ints(nd, "alpha", &cnt) == NULL && cnt == 0);
    const ig_graph *gr = m->graph;
    CHECK_EQ_INT(gr->n_inputs, 1); /* W has an initializer */
    int si = ig_graph_find_value(gr, "S");
    CHECK(si >= 0);
    if (si >= 0 && gr->values[si].constant) {
        const ig_tensor *st = gr->values[si].constant;
        CHECK_EQ_INT(st->ndim, 2);
        const float *sv = st->data;
        CHECK(sv[0] == 0 && sv[1] == 7.0f && sv[4] == 0 && sv[5] == 8.0f);
        CHECK_EQ_INT(gr->values[si].info.ndim, 2);
    }
    CHECK_EQ_INT(m->weight_bytes, 6 * 4 + 4);
    ig_onnx_free(m);
}

/* If's branches read values of the main graph, one produced by a node listed after the If, and a
 * doubly nested graph reads the main graph through its parent. */
static void test_outer_scope(void)
{
    const char *const cond[] = {"C", NULL}, *const res[] = {"R", NULL};
    const char *const z_in[] = {"X", NULL}, *const z_out[] = {"Z", NULL};
    const char *const inner_in[] = {"Z", NULL}, *const inner_out[] = {"T", NULL};
    int64_t d[] = {1};
    /* innermost: T = Identity(Z), Z from the main graph */
    pb inner = {0}, in_n = node("Identity", inner_in, inner_out), to = vinfo("T", 1, 1, d);
    put_msg(&inner, 1, &in_n);
    put_str(&inner, 2, "inner");
    put_msg(&inner, 12, &to);
    /* then branch: an If nested inside, whose branch is `inner` */
    pb then_g = {0}, nested = node("If", cond, inner_out), at = {0};
    put_str(&at, 1, "then_branch");
    put_msg(&at, 6, &inner);
    put_int(&at, 20, 5);
    put_msg(&nested, 5, &at);
    at = (pb){0};
    put_str(&at, 1, "else_branch");
    put_msg(&at, 6, &inner);
    put_int(&at, 20, 5);
    put_msg(&nested, 5, &at);
    put_msg(&then_g, 1, &nested);
    put_str(&then_g, 2, "then");
    put_msg(&then_g, 12, &to);
    /* main: R = If(C) listed before Z = Relu(X) */
    pb g = {0}, ifn = node("If", cond, res), relu = node("Relu", z_in, z_out);
    at = (pb){0};
    put_str(&at, 1, "then_branch");
    put_msg(&at, 6, &then_g);
    put_int(&at, 20, 5);
    put_msg(&ifn, 5, &at);
    at = (pb){0};
    put_str(&at, 1, "else_branch");
    put_msg(&at, 6, &inner);
    put_int(&at, 20, 5);
    put_msg(&ifn, 5, &at);
    put_msg(&g, 1, &ifn);
    put_msg(&g, 1, &relu);
    pb ci = vinfo("C", 9, 0, NULL), xi = vinfo("X", 1, 1, d), ro = vinfo("R", 1, 1, d);
    put_msg(&g, 11, &ci);
    put_msg(&g, 11, &xi);
    put_msg(&g, 12, &ro);
    pb mm = model(&g, 16);
    ig_onnx_model *m = NULL;
    ig_error err;
    CHECK_EQ_INT(load_pb(&mm, &m, &err), 0);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    const ig_graph *gr = m->graph;
    /* the capture makes Relu a dependency of If */
    CHECK_STR(gr->nodes[0].op_type, "Relu");
    CHECK_STR(gr->nodes[1].op_type, "If");
    int zi = ig_graph_find_value(gr, "Z");
    const ig_graph *tg = ig_node_attr(&gr->nodes[1], "then_branch")->g;
    CHECK(tg->parent == gr);
    int tz = ig_graph_find_value(tg, "Z"), tc = ig_graph_find_value(tg, "C");
    CHECK(tz >= 0 && tc >= 0);
    if (tz >= 0) CHECK_EQ_INT(tg->values[tz].outer, zi);
    if (tc >= 0) CHECK_EQ_INT(tg->values[tc].outer, ig_graph_find_value(gr, "C"));
    const ig_graph *ig = ig_node_attr(&tg->nodes[0], "then_branch")->g;
    CHECK(ig->parent == tg);
    int iz = ig_graph_find_value(ig, "Z");
    CHECK(iz >= 0);
    if (iz >= 0) CHECK_EQ_INT(ig->values[iz].outer, tz);
    CHECK_EQ_INT(ig->values[iz].producer, -1);
    ig_onnx_free(m);

    /* the same subgraph reading a name that nobody defines */
    g = (pb){0};
    ifn = node("If", cond, res);
    at = (pb){0};
    put_str(&at, 1, "then_branch");
    put_msg(&at, 6, &inner);
    put_msg(&ifn, 5, &at);
    put_msg(&g, 1, &ifn);
    put_msg(&g, 11, &ci);
    expect_error(&g, 16, "'Z'");
}

/* ---- external data ---- */
static void test_external(void)
{
    ig_onnx_model *m = NULL;
    ig_error err = {0};
    const char *ok[] = {FIXTURES "valid/model.onnx", FIXTURES "unaligned/model.onnx"};
    for (int i = 0; i < 2; i++) {
        memset(&err, 0, sizeof(err));
        m = NULL;
        CHECK_EQ_INT(ig_onnx_load(ok[i], &m, &err), 0);
        if (!m) {
            fprintf(stderr, "%s\n", err.msg);
            continue;
        }
        int w = ig_graph_find_value(m->graph, "W");
        CHECK(w >= 0 && m->graph->values[w].constant);
        if (w >= 0 && m->graph->values[w].constant) {
            const ig_tensor *t = m->graph->values[w].constant;
            CHECK((uintptr_t)t->data % 4 == 0);
            const float *f = t->data;
            CHECK(f[0] == 1.0f && f[5] == 6.0f);
        }
        CHECK_EQ_INT(m->weight_bytes, 24);
        CHECK_EQ_INT(m->n_maps, 2); /* the model file and weights.bin */
        ig_onnx_free(m);
    }
    struct {
        const char *path, *needle;
        int code;
    } bad[] = {
        {FIXTURES "absolute/model.onnx", "absolute", IG_EACCESS},
        {FIXTURES "dotdot/model.onnx", "..", IG_EACCESS},
        {FIXTURES "symlink/model.onnx", "outside", IG_EACCESS},
        {FIXTURES "past_eof/model.onnx", "past the end", IG_EFORMAT},
    };
    for (int i = 0; i < 4; i++) {
        memset(&err, 0, sizeof(err));
        m = NULL;
        CHECK_EQ_INT(ig_onnx_load(bad[i].path, &m, &err), bad[i].code);
        CHECK(m == NULL);
        if (!strstr(err.msg, bad[i].needle)) {
            fprintf(stderr, "expected '%s' in: %s\n", bad[i].needle, err.msg);
            CHECK(0);
        }
    }
    /* the valid model from a buffer without a folder: external data refused */
    FILE *f = fopen(FIXTURES "valid/model.onnx", "rb");
    CHECK(f != NULL);
    if (!f) return;
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    memset(&err, 0, sizeof(err));
    CHECK_EQ_INT(ig_onnx_load_buffer(buf, n, NULL, &m, &err), IG_EACCESS);
    memset(&err, 0, sizeof(err));
    m = NULL;
    CHECK_EQ_INT(ig_onnx_load_buffer(buf, n, FIXTURES "valid", &m, &err), 0);
    ig_onnx_free(m);
}

int main(void)
{
    if (have_testdata()) {
        test_abs();
        test_if_model();
        test_conv();
        test_truncated(TESTDATA "node/test_abs/model.onnx", NULL);
        test_truncated(TESTDATA "node/test_if/model.onnx", NULL);
        test_truncated(TESTDATA "pytorch-converted/test_Conv2d/model.onnx", NULL);
        test_truncated(TESTDATA "node/test_loop16_seq_none/model.onnx", NULL);
    } else {
        printf("libonnx-testdata not installed: skipping the real-model tests\n");
    }
    test_truncated(FIXTURES "valid/model.onnx", FIXTURES "valid");
    test_empty_file();
    test_sort_and_optional();
    test_graph_errors();
    test_typed_tensors();
    test_attrs_and_sparse();
    test_outer_scope();
    test_external();
    return CHECK_DONE();
}

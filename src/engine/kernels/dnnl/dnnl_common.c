/* oneDNN plumbing shared by the dnnl and fused kernels: engine, per-thread streams, descriptors,
 * post-op attributes, execution, and the process-wide cache of reordered constant weights. */
#include "engine/kernels/dnnl/dnnl_common.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static dnnl_engine_t g_engine;
static pthread_once_t g_engine_once = PTHREAD_ONCE_INIT;
/* Streams are cheap but not free to create; each executing thread keeps one for its lifetime, and
 * the key's destructor releases it when the thread ends (servers start and stop instance threads
 * with every model reload). */
static pthread_key_t g_stream_key;

static void stream_release(void *stream)
{
    dnnl_stream_destroy(stream);
}

static void engine_init(void)
{
    if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success) g_engine = NULL;
    if (g_engine && pthread_key_create(&g_stream_key, stream_release)) {
        dnnl_engine_destroy(g_engine);
        g_engine = NULL;
    }
}

dnnl_engine_t ig__dnnl_engine(void)
{
    pthread_once(&g_engine_once, engine_init);
    return g_engine;
}

static dnnl_stream_t thread_stream(void)
{
    dnnl_engine_t e = ig__dnnl_engine();
    if (!e) return NULL;
    dnnl_stream_t s = pthread_getspecific(g_stream_key);
    if (!s) {
        if (dnnl_stream_create(&s, e, dnnl_stream_default_flags) != dnnl_success) return NULL;
        if (pthread_setspecific(g_stream_key, s)) {
            dnnl_stream_destroy(s);
            return NULL;
        }
    }
    return s;
}

bool ig__dnnl_is_initializer(const ig_kstep *s, int i)
{
    if (!s->graph || i >= s->node->n_inputs) return false;
    int v = s->node->inputs[i];
    return v >= 0 && v < s->graph->n_values && s->graph->values[v].constant != NULL;
}

void ig__dnnl_md_plain(dnnl_memory_desc_t *md, int ndim, const int64_t *dims)
{
    int64_t st[DNNL_MAX_NDIMS], one = 1;
    if (ndim == 0) {
        ndim = 1;
        dims = &one;
    }
    int64_t acc = 1;
    for (int k = ndim - 1; k >= 0; k--) {
        st[k] = acc;
        acc *= dims[k] > 0 ? dims[k] : 1;
    }
    ig__dnnl_md_strided(md, ndim, dims, st);
}

void ig__dnnl_md_strided(dnnl_memory_desc_t *md, int ndim, const int64_t *dims, const int64_t *strides)
{
    dnnl_dims_t d, s;
    for (int k = 0; k < ndim; k++) {
        d[k] = dims[k];
        s[k] = strides[k];
    }
    memset(md, 0, sizeof(*md));
    dnnl_memory_desc_init_by_strides(md, ndim, d, dnnl_f32, s);
}

void ig__dnnl_md_nhwc(dnnl_memory_desc_t *md, int ndim, const int64_t *dims)
{
    if (ndim < 3) {
        ig__dnnl_md_plain(md, ndim, dims);
        return;
    }
    int64_t st[DNNL_MAX_NDIMS], c = dims[1], acc = c;
    st[1] = 1;
    for (int k = ndim - 1; k >= 2; k--) {
        st[k] = acc;
        acc *= dims[k];
    }
    st[0] = acc;
    ig__dnnl_md_strided(md, ndim, dims, st);
}

int ig__dnnl_nhwc_in(const ig_node *n, int i)
{
    int cnt = 0;
    const int64_t *f = ig_node_attr_ints(n, "nhwc_in", &cnt);
    return f && i < cnt ? (int)f[i] : 0;
}

int ig__dnnl_nhwc_out(const ig_node *n)
{
    return (int)ig_node_attr_int(n, "nhwc_out", 0);
}

/* Layout 2 marks a value the fusion pass allows in blocked form (graphs with depthwise
 * convolutions): at large batches their activations overflow the cache and nChw8c runs the
 * 1x1 + depthwise chain about a third faster than channels-last. The choice depends on the shape
 * only, so a value's producer and consumers agree on it. */
void ig__dnnl_md_user(dnnl_memory_desc_t *md, int layout, int ndim, const int64_t *dims)
{
    if (layout == 2 && ndim == 4 && dims[0] >= 8 && dims[1] % 8 == 0) {
        dnnl_dims_t d = {dims[0], dims[1], dims[2], dims[3]};
        memset(md, 0, sizeof(*md));
        dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, dnnl_nChw8c);
        return;
    }
    bool nhwc = layout != 0;
    if (nhwc)
        ig__dnnl_md_nhwc(md, ndim, dims);
    else
        ig__dnnl_md_plain(md, ndim, dims);
}

void ig__dnnl_md_any(dnnl_memory_desc_t *md, int ndim, const int64_t *dims)
{
    dnnl_dims_t d;
    for (int k = 0; k < ndim; k++) d[k] = dims[k];
    memset(md, 0, sizeof(*md));
    dnnl_memory_desc_init_by_tag(md, ndim, d, dnnl_f32, dnnl_format_tag_any);
}

int ig__dnnl_postops_parse(const ig_node *n, ig__dnnl_postops *po)
{
    memset(po, 0, sizeof(*po));
    int nk = 0, na = 0, nb = 0;
    const int64_t *k = ig_node_attr_ints(n, "post_ops", &nk);
    const float *a = ig_node_attr_floats(n, "post_alpha", &na);
    const float *b = ig_node_attr_floats(n, "post_beta", &nb);
    if (nk > IG_MAX_POST_OPS || (na && na != nk) || (nb && nb != nk)) return IG_EINVAL;
    for (int i = 0; i < nk; i++) {
        if (k[i] < IG_PO_RELU || k[i] > IG_PO_SUM) return IG_EINVAL;
        po->kind[i] = (int)k[i];
        po->alpha[i] = na ? a[i] : 0.f;
        po->beta[i] = nb ? b[i] : 0.f;
        if (k[i] == IG_PO_SUM) po->n_sum++;
    }
    po->n = nk;
    return 0;
}

dnnl_primitive_attr_t ig__dnnl_attr(const ig__dnnl_postops *po, const dnnl_memory_desc_t *const *bin_mds)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    if (dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) != dnnl_success) goto fail;
    if (!po || po->n == 0) return attr;
    if (dnnl_post_ops_create(&ops) != dnnl_success) goto fail;
    int j = 0;
    for (int i = 0; i < po->n; i++) {
        dnnl_status_t st = dnnl_success;
        switch (po->kind[i]) {
        case IG_PO_RELU:
            st = dnnl_post_ops_append_eltwise(ops, 1.f, dnnl_eltwise_relu, po->alpha[i], 0.f);
            break;
        case IG_PO_CLIP:
            st = dnnl_post_ops_append_eltwise(ops, 1.f, dnnl_eltwise_clip, po->alpha[i], po->beta[i]);
            break;
        case IG_PO_SIGMOID:
            st = dnnl_post_ops_append_eltwise(ops, 1.f, dnnl_eltwise_logistic, 0.f, 0.f);
            break;
        case IG_PO_TANH:
            st = dnnl_post_ops_append_eltwise(ops, 1.f, dnnl_eltwise_tanh, 0.f, 0.f);
            break;
        case IG_PO_GELU_ERF:
            st = dnnl_post_ops_append_eltwise(ops, 1.f, dnnl_eltwise_gelu_erf, 0.f, 0.f);
            break;
        case IG_PO_SUM:
            if (bin_mds && bin_mds[j])
                st = dnnl_post_ops_append_binary(ops, dnnl_binary_add, bin_mds[j]);
            else
                st = dnnl_post_ops_append_sum(ops, 1.f);
            j++;
            break;
        default:
            st = dnnl_invalid_arguments;
        }
        if (st != dnnl_success) goto fail;
    }
    if (dnnl_primitive_attr_set_post_ops(attr, ops) != dnnl_success) goto fail;
    dnnl_post_ops_destroy(ops);
    return attr;
fail:
    if (ops) dnnl_post_ops_destroy(ops);
    dnnl_primitive_attr_destroy(attr);
    return NULL;
}

int ig__dnnl_prim_from_pd(ig__dnnl_prim *out, dnnl_primitive_desc_t pd)
{
    memset(out, 0, sizeof(*out));
    const dnnl_memory_desc_t *sm = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (sm) {
        out->scratch_md = *sm;
        out->scratch_bytes = dnnl_memory_desc_get_size(sm);
    }
    dnnl_status_t st = dnnl_primitive_create(&out->p, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        out->p = NULL;
        return IG_EUNSUPPORTED;
    }
    return 0;
}

void ig__dnnl_prim_destroy(ig__dnnl_prim *p)
{
    if (p->p) dnnl_primitive_destroy(p->p);
    p->p = NULL;
}

int ig__dnnl_reorder_make(ig__dnnl_prim *out, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst)
{
    memset(out, 0, sizeof(*out));
    if (dnnl_memory_desc_equal(src, dst)) return 0;
    dnnl_engine_t e = ig__dnnl_engine();
    dnnl_primitive_attr_t attr = ig__dnnl_attr(NULL, NULL);
    if (!e || !attr) {
        if (attr) dnnl_primitive_attr_destroy(attr);
        return IG_EUNSUPPORTED;
    }
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, src, e, dst, e, attr);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) return IG_EUNSUPPORTED;
    return ig__dnnl_prim_from_pd(out, pd);
}

int ig__dnnl_execute(const ig__dnnl_prim *p, const ig__dnnl_arg *args, int n_args, void *scratch)
{
    enum { max_args = 16 };
    dnnl_exec_arg_t ea[max_args + 1];
    int n = 0, rc = 0;
    dnnl_engine_t e = ig__dnnl_engine();
    dnnl_stream_t s = thread_stream();
    if (!e || !s || n_args > max_args) return IG_ERUNTIME;
    for (int i = 0; i < n_args; i++) {
        dnnl_memory_t m;
        if (dnnl_memory_create(&m, args[i].md, e, args[i].ptr) != dnnl_success) {
            rc = IG_ERUNTIME;
            goto done;
        }
        ea[n].arg = args[i].arg;
        ea[n++].memory = m;
    }
    if (p->scratch_bytes) {
        dnnl_memory_t m;
        if (!scratch || dnnl_memory_create(&m, &p->scratch_md, e, scratch) != dnnl_success) {
            rc = IG_ERUNTIME;
            goto done;
        }
        ea[n].arg = DNNL_ARG_SCRATCHPAD;
        ea[n++].memory = m;
    }
    if (dnnl_primitive_execute(p->p, s, n, ea) != dnnl_success || dnnl_stream_wait(s) != dnnl_success)
        rc = IG_ERUNTIME;
done:
    for (int i = 0; i < n; i++) dnnl_memory_destroy(ea[i].memory);
    return rc;
}

int ig__dnnl_reorder_run(const ig__dnnl_prim *r, const dnnl_memory_desc_t *src_md, const void *src,
                         const dnnl_memory_desc_t *dst_md, void *dst, void *scratch)
{
    ig__dnnl_arg a[2] = {{DNNL_ARG_FROM, src_md, (void *)src}, {DNNL_ARG_TO, dst_md, dst}};
    return ig__dnnl_execute(r, a, 2, scratch);
}

size_t ig__dnnl_scratch_take(size_t *total, size_t bytes)
{
    size_t off = (*total + 63) & ~(size_t)63;
    *total = off + ((bytes + 63) & ~(size_t)63);
    return off;
}

/* ---- constant weights cache ---- */

struct ig__dnnl_wentry {
    struct ig__dnnl_wentry *next;
    const void *data;
    dnnl_memory_desc_t user, want;
    uint64_t fingerprint;
    size_t bytes;
    int refs;
    void *packed;
};

static pthread_mutex_t g_wmu = PTHREAD_MUTEX_INITIALIZER;
static ig__dnnl_wentry *g_wlist;

/* A pointer alone could be reused by a later constant after its owner is freed; a sample of the
 * contents makes a stale hit practically impossible without hashing megabytes. */
static uint64_t fingerprint(const void *data, size_t bytes)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull ^ bytes;
    enum { samples = 64 };
    for (int i = 0; i < samples && bytes; i++) {
        size_t off = (size_t)((bytes - 1) * (double)i / (samples - 1));
        h = (h ^ p[off]) * 1099511628211ull;
    }
    return h;
}

ig__dnnl_wentry *ig__dnnl_weights_acquire(const void *data, const dnnl_memory_desc_t *user,
                                          const dnnl_memory_desc_t *want)
{
    size_t ubytes = dnnl_memory_desc_get_size(user);
    uint64_t fp = fingerprint(data, ubytes);
    pthread_mutex_lock(&g_wmu);
    ig__dnnl_wentry *e;
    for (e = g_wlist; e; e = e->next)
        if (e->data == data && e->fingerprint == fp && dnnl_memory_desc_equal(&e->user, user) &&
            dnnl_memory_desc_equal(&e->want, want))
            break;
    if (e) {
        e->refs++;
        pthread_mutex_unlock(&g_wmu);
        return e;
    }
    e = calloc(1, sizeof(*e));
    ig__dnnl_prim r = {0};
    if (!e) goto fail;
    e->data = data;
    e->user = *user;
    e->want = *want;
    e->fingerprint = fp;
    e->refs = 1;
    e->bytes = dnnl_memory_desc_get_size(want);
    e->packed = aligned_alloc(64, (e->bytes + 63) & ~(size_t)63);
    if (!e->packed) goto fail;
    if (ig__dnnl_reorder_make(&r, user, want)) goto fail;
    void *scratch = NULL;
    if (r.scratch_bytes && !(scratch = aligned_alloc(64, (r.scratch_bytes + 63) & ~(size_t)63))) goto fail;
    int rc = r.p ? ig__dnnl_reorder_run(&r, user, data, want, e->packed, scratch) : 0;
    if (!r.p) memcpy(e->packed, data, e->bytes);
    free(scratch);
    ig__dnnl_prim_destroy(&r);
    if (rc) goto fail;
    e->next = g_wlist;
    g_wlist = e;
    pthread_mutex_unlock(&g_wmu);
    return e;
fail:
    ig__dnnl_prim_destroy(&r);
    if (e) free(e->packed);
    free(e);
    pthread_mutex_unlock(&g_wmu);
    return NULL;
}

void *ig__dnnl_weights_data(const ig__dnnl_wentry *e)
{
    return e->packed;
}

static void unlink_free(ig__dnnl_wentry *e)
{
    for (ig__dnnl_wentry **pp = &g_wlist; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    free(e->packed);
    free(e);
}

/* An entry outlives its last plan: plans of steps deferred to run time come and go every run, and
 * must not repack the weights each time. Idle entries go when their model is freed. */
void ig__dnnl_weights_release(ig__dnnl_wentry *e)
{
    if (!e) return;
    pthread_mutex_lock(&g_wmu);
    e->refs--;
    pthread_mutex_unlock(&g_wmu);
}

void ig__dnnl_release_weights(const void *begin, const void *end)
{
    pthread_mutex_lock(&g_wmu);
    for (ig__dnnl_wentry *e = g_wlist, *next; e; e = next) {
        next = e->next;
        bool in = !begin ||
                  ((const char *)e->data >= (const char *)begin && (const char *)e->data < (const char *)end);
        if (e->refs <= 0 && in) unlink_free(e);
    }
    pthread_mutex_unlock(&g_wmu);
}

void ig__dnnl_weights_stats(int *entries, size_t *bytes)
{
    int n = 0;
    size_t b = 0;
    pthread_mutex_lock(&g_wmu);
    for (ig__dnnl_wentry *e = g_wlist; e; e = e->next) {
        n++;
        b += e->bytes;
    }
    pthread_mutex_unlock(&g_wmu);
    if (entries) *entries = n;
    if (bytes) *bytes = b;
}

/* TensorProto and SparseTensorProto import: shape, data type and data from raw_data (zero-copy when
 * aligned), the typed repeated fields (packed or not), or external data. Sparse tensors are expanded
 * to dense ones so the rest of the engine only ever sees dense constants. */
#include <stdint.h>
#include <string.h>

#include "engine/onnx/import.h"

/* raw_data is little-endian; pointing tensors at it in place assumes a little-endian host. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "zero-copy raw_data needs a little-endian host");

enum {
    T_DIMS = 1,
    T_DATA_TYPE = 2,
    T_SEGMENT = 3,
    T_FLOAT = 4,
    T_INT32 = 5,
    T_STRING = 6,
    T_INT64 = 7,
    T_NAME = 8,
    T_RAW = 9,
    T_DOUBLE = 10,
    T_UINT64 = 11,
    T_EXTERNAL = 13,
    T_LOCATION = 14,
};

typedef struct tinfo {
    const char *name;
    int64_t dtype;
    const uint8_t *raw;
    size_t raw_len;
    bool has_raw;
    int64_t location;
    const char *ext_location;
    int64_t ext_offset, ext_length;
    size_t count[16]; /* elements seen per typed field number */
} tinfo;

/* Which typed field carries dtype's values, how it is encoded, and how many entries per element. */
static int typed_field(ig_dtype dt, uint32_t *wt, int *per_elem)
{
    *per_elem = 1;
    switch (dt) {
    case IG_DT_FLOAT:
        *wt = IG_PB_FIXED32;
        return T_FLOAT;
    case IG_DT_COMPLEX64:
        *wt = IG_PB_FIXED32;
        *per_elem = 2;
        return T_FLOAT;
    case IG_DT_INT32:
    case IG_DT_INT16:
    case IG_DT_INT8:
    case IG_DT_UINT16:
    case IG_DT_UINT8:
    case IG_DT_BOOL:
    case IG_DT_FLOAT16:
    case IG_DT_BFLOAT16:
        *wt = IG_PB_VARINT;
        return T_INT32;
    case IG_DT_INT64:
        *wt = IG_PB_VARINT;
        return T_INT64;
    case IG_DT_STRING:
        *wt = IG_PB_LEN;
        return T_STRING;
    case IG_DT_DOUBLE:
        *wt = IG_PB_FIXED64;
        return T_DOUBLE;
    case IG_DT_COMPLEX128:
        *wt = IG_PB_FIXED64;
        *per_elem = 2;
        return T_DOUBLE;
    case IG_DT_UINT32:
    case IG_DT_UINT64:
        *wt = IG_PB_VARINT;
        return T_UINT64;
    default:
        return 0;
    }
}

static const char *tname(const tinfo *ti)
{
    return ti->name && ti->name[0] ? ti->name : "(unnamed)";
}

/* Strict decimal parse of an external_data offset/length value. */
static int parse_u63(const uint8_t *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 19) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        if (v > (INT64_MAX - (s[i] - '0')) / 10) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int parse_ext_entry(ig__onnx_ctx *c, tinfo *ti, const uint8_t *p, size_t len)
{
    ig__pb r = ig__pb_init(p, len);
    ig__pb_field f;
    const char *why = NULL;
    const uint8_t *k = NULL, *v = NULL;
    size_t kl = 0, vl = 0;
    int rc;
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        if (f.wt != IG_PB_LEN) continue;
        if (f.num == 1) k = f.data, kl = f.len;
        if (f.num == 2) v = f.data, vl = f.len;
    }
    if (rc < 0) return ig__onnx_wire_err(c, "tensor external_data entry", why);
    if (!k) return 0;
    if (kl == 8 && !memcmp(k, "location", 8)) {
        ti->ext_location = ig_arena_strndup(c->a, v ? (const char *)v : "", vl);
        if (!ti->ext_location) return ig_error_set(c->err, IG_ENOMEM, "out of memory");
        if (strlen(ti->ext_location) != vl)
            return ig_error_set(c->err, IG_EFORMAT, "tensor '%s': external data location contains a NUL byte",
                                tname(ti));
    } else if ((kl == 6 && !memcmp(k, "offset", 6)) || (kl == 6 && !memcmp(k, "length", 6))) {
        int64_t *dst = k[0] == 'o' ? &ti->ext_offset : &ti->ext_length;
        if (!v || parse_u63(v, vl, dst))
            return ig_error_set(c->err, IG_EFORMAT, "tensor '%s': external data %.6s is not a decimal number",
                                tname(ti), (const char *)k);
    }
    return 0;
}

/* Puts nbytes at src into t->data: in place when allowed and aligned, else an aligned arena copy. */
static int place(ig__onnx_ctx *c, ig_tensor *t, const uint8_t *src, size_t nbytes, size_t esize)
{
    size_t align = esize > 16 ? 16 : esize;
    if (!c->copy_all && align && (uintptr_t)src % align == 0 && nbytes) {
        t->data = (void *)(uintptr_t)src; /* read-only mapping; the IR is immutable */
        return 0;
    }
    void *d = ig_arena_alloc(c->a, nbytes, 64);
    if (!d) return ig_error_set(c->err, IG_ENOMEM, "out of memory copying tensor data (%zu bytes)", nbytes);
    if (nbytes) memcpy(d, src, nbytes);
    t->data = d;
    return 0;
}

static void store(void *data, ig_dtype dt, size_t i, uint64_t v)
{
    switch (dt) {
    case IG_DT_FLOAT:
    case IG_DT_COMPLEX64: {
        float f = ig__pb_f32(v);
        memcpy((char *)data + i * 4, &f, 4);
        break;
    }
    case IG_DT_DOUBLE:
    case IG_DT_COMPLEX128:
    case IG_DT_INT64:
    case IG_DT_UINT64:
        memcpy((char *)data + i * 8, &v, 8);
        break;
    case IG_DT_INT32:
    case IG_DT_UINT32: {
        uint32_t x = (uint32_t)v;
        memcpy((char *)data + i * 4, &x, 4);
        break;
    }
    case IG_DT_INT16:
    case IG_DT_UINT16:
    case IG_DT_FLOAT16:
    case IG_DT_BFLOAT16: {
        uint16_t x = (uint16_t)v;
        memcpy((char *)data + i * 2, &x, 2);
        break;
    }
    case IG_DT_INT8:
    case IG_DT_UINT8:
        ((uint8_t *)data)[i] = (uint8_t)v;
        break;
    case IG_DT_BOOL:
        ((uint8_t *)data)[i] = v != 0;
        break;
    default:
        break;
    }
}

static int fill_typed(ig__onnx_ctx *c, const tinfo *ti, const uint8_t *p, size_t len, ig_tensor *t, int field,
                      uint32_t wt, size_t n)
{
    size_t es = ig_dtype_size(t->dtype);
    if (t->dtype == IG_DT_COMPLEX64 || t->dtype == IG_DT_COMPLEX128) es /= 2;
    void *data = ig_arena_array(c->a, n ? n : 1, t->dtype == IG_DT_STRING ? sizeof(ig_string) : es, 64);
    if (!data) return ig_error_set(c->err, IG_ENOMEM, "out of memory for tensor '%s'", tname(ti));
    ig__pb r = ig__pb_init(p, len);
    ig__pb_field f;
    const char *why = NULL;
    size_t i = 0;
    int rc;
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        if (f.num != (uint32_t)field) continue;
        if (t->dtype == IG_DT_STRING) {
            ig_string *s = (ig_string *)data + i++;
            char *d = ig_arena_strndup(c->a, (const char *)f.data, f.len);
            if (!d) return ig_error_set(c->err, IG_ENOMEM, "out of memory for tensor '%s'", tname(ti));
            s->ptr = d;
            s->len = f.len;
            continue;
        }
        ig__pb_rep it;
        uint64_t v;
        if (ig__pb_rep_init(&it, &f, wt, &why)) return ig__onnx_wire_err(c, "tensor data field", why);
        while ((rc = ig__pb_rep_next(&it, &v, &why)) > 0) store(data, t->dtype, i++, v);
        if (rc < 0) return ig__onnx_wire_err(c, "tensor data field", why);
    }
    if (rc < 0) return ig__onnx_wire_err(c, "TensorProto", why);
    t->data = data;
    return 0;
}

static int scan(ig__onnx_ctx *c, tinfo *ti, const uint8_t *p, size_t len, ig_tensor *t)
{
    ig__pb r = ig__pb_init(p, len);
    ig__pb_field f;
    const char *why = NULL;
    int rc;
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        switch (f.num) {
        case T_DIMS: {
            ig__pb_rep it;
            uint64_t v;
            if (ig__pb_rep_init(&it, &f, IG_PB_VARINT, &why))
                return ig__onnx_wire_err(c, "TensorProto.dims", why);
            while ((rc = ig__pb_rep_next(&it, &v, &why)) > 0) {
                if (t->ndim >= IG_MAX_DIMS)
                    return ig_error_set(c->err, IG_EUNSUPPORTED, "tensor '%s' has more than %d dims",
                                        tname(ti), IG_MAX_DIMS);
                if ((int64_t)v < 0)
                    return ig_error_set(c->err, IG_EFORMAT, "tensor '%s' has a negative dim", tname(ti));
                t->dims[t->ndim++] = (int64_t)v;
            }
            if (rc < 0) return ig__onnx_wire_err(c, "TensorProto.dims", why);
            break;
        }
        case T_DATA_TYPE:
            if (f.wt != IG_PB_VARINT) return ig__onnx_wire_err(c, "TensorProto.data_type", "wrong wire type");
            ti->dtype = (int64_t)f.u;
            break;
        case T_SEGMENT:
            return ig_error_set(c->err, IG_EUNSUPPORTED, "tensor '%s' is segmented, which is not supported",
                                tname(ti));
        case T_NAME:
            if (f.wt != IG_PB_LEN) return ig__onnx_wire_err(c, "TensorProto.name", "wrong wire type");
            if (!(ti->name = ig_arena_strndup(c->a, (const char *)f.data, f.len)))
                return ig_error_set(c->err, IG_ENOMEM, "out of memory");
            break;
        case T_RAW:
            if (f.wt != IG_PB_LEN) return ig__onnx_wire_err(c, "TensorProto.raw_data", "wrong wire type");
            ti->raw = f.data;
            ti->raw_len = f.len;
            ti->has_raw = true;
            break;
        case T_EXTERNAL:
            if (f.wt != IG_PB_LEN)
                return ig__onnx_wire_err(c, "TensorProto.external_data", "wrong wire type");
            if ((rc = parse_ext_entry(c, ti, f.data, f.len))) return rc;
            break;
        case T_LOCATION:
            if (f.wt != IG_PB_VARINT)
                return ig__onnx_wire_err(c, "TensorProto.data_location", "wrong wire type");
            ti->location = (int64_t)f.u;
            break;
        case T_STRING:
            if (f.wt != IG_PB_LEN) return ig__onnx_wire_err(c, "TensorProto.string_data", "wrong wire type");
            ti->count[T_STRING]++;
            break;
        case T_FLOAT:
        case T_INT32:
        case T_INT64:
        case T_DOUBLE:
        case T_UINT64: {
            uint32_t wt = f.num == T_FLOAT ? IG_PB_FIXED32 : f.num == T_DOUBLE ? IG_PB_FIXED64 : IG_PB_VARINT;
            size_t n;
            if (ig__pb_rep_count(&f, wt, &n, &why))
                return ig__onnx_wire_err(c, "TensorProto typed data", why);
            ti->count[f.num] += n; /* cannot overflow: n is bounded by the buffer length */
            break;
        }
        default:
            break;
        }
    }
    if (rc < 0) return ig__onnx_wire_err(c, "TensorProto", why);
    return 0;
}

int ig__onnx_tensor(ig__onnx_ctx *c, const uint8_t *p, size_t len, ig_tensor *t, const char **name)
{
    tinfo ti = {.ext_length = -1};
    int rc;
    memset(t, 0, sizeof(*t));
    if ((rc = scan(c, &ti, p, len, t))) return rc;
    if (name) *name = ti.name ? ti.name : "";
    if (ti.dtype <= 0 || ti.dtype >= IG_DT_COUNT || ti.dtype == IG_DT_UNDEFINED)
        return ig_error_set(c->err, IG_EUNSUPPORTED, "tensor '%s' has unsupported data type %lld", tname(&ti),
                            (long long)ti.dtype);
    t->dtype = (ig_dtype)ti.dtype;
    int64_t numel = ig_tensor_numel(t);
    size_t nbytes = ig_tensor_nbytes(t);
    size_t es = ig_dtype_size(t->dtype);
    if (numel < 0 || nbytes == SIZE_MAX)
        return ig_error_set(c->err, IG_EOVERFLOW, "tensor '%s': element count overflows", tname(&ti));

    if (ti.location == 1) {
        if (t->dtype == IG_DT_STRING)
            return ig_error_set(c->err, IG_EFORMAT, "tensor '%s': STRING tensors cannot be external",
                                tname(&ti));
        if (!ti.ext_location)
            return ig_error_set(c->err, IG_EFORMAT, "tensor '%s': external data without a location",
                                tname(&ti));
        const uint8_t *d;
        if ((rc =
                 ig__onnx_external(c, tname(&ti), ti.ext_location, ti.ext_offset, ti.ext_length, nbytes, &d)))
            return rc;
        return place(c, t, d, nbytes, es);
    }
    if (ti.location != 0)
        return ig_error_set(c->err, IG_EFORMAT, "tensor '%s': unknown data_location %lld", tname(&ti),
                            (long long)ti.location);
    if (ti.has_raw) {
        if (t->dtype == IG_DT_STRING)
            return ig_error_set(c->err, IG_EFORMAT, "tensor '%s': STRING tensors cannot use raw_data",
                                tname(&ti));
        if (ti.raw_len != nbytes)
            return ig_error_set(c->err, IG_EFORMAT,
                                "tensor '%s': raw_data has %zu bytes, shape and type need %zu", tname(&ti),
                                ti.raw_len, nbytes);
        return place(c, t, ti.raw, nbytes, es);
    }
    uint32_t wt;
    int per;
    int field = typed_field(t->dtype, &wt, &per);
    if (!field)
        return ig_error_set(c->err, IG_EUNSUPPORTED, "tensor '%s': no typed field for %s", tname(&ti),
                            ig_dtype_name(t->dtype));
    /* numel * per fits: nbytes = numel * es did not overflow and es >= per. */
    size_t want = (size_t)numel * (size_t)per;
    if (ti.count[field] != want)
        return ig_error_set(c->err, IG_EFORMAT, "tensor '%s': %zu values for %s data, shape needs %zu",
                            tname(&ti), ti.count[field], ig_dtype_name(t->dtype), want);
    return fill_typed(c, &ti, p, len, t, field, wt, want);
}

int ig__onnx_sparse_tensor(ig__onnx_ctx *c, const uint8_t *p, size_t len, ig_tensor *t, const char **name)
{
    ig__pb r = ig__pb_init(p, len);
    ig__pb_field f;
    const char *why = NULL, *vname = "";
    const uint8_t *vp = NULL, *ip = NULL;
    size_t vl = 0, il = 0;
    int rc;
    memset(t, 0, sizeof(*t));
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        if (f.num == 1 || f.num == 2) {
            if (f.wt != IG_PB_LEN) return ig__onnx_wire_err(c, "SparseTensorProto", "wrong wire type");
            if (f.num == 1)
                vp = f.data, vl = f.len;
            else
                ip = f.data, il = f.len;
        } else if (f.num == 3) {
            ig__pb_rep it;
            uint64_t v;
            if (ig__pb_rep_init(&it, &f, IG_PB_VARINT, &why))
                return ig__onnx_wire_err(c, "SparseTensorProto.dims", why);
            while ((rc = ig__pb_rep_next(&it, &v, &why)) > 0) {
                if (t->ndim >= IG_MAX_DIMS)
                    return ig_error_set(c->err, IG_EUNSUPPORTED, "sparse tensor has more than %d dims",
                                        IG_MAX_DIMS);
                if ((int64_t)v < 0)
                    return ig_error_set(c->err, IG_EFORMAT, "sparse tensor has a negative dim");
                t->dims[t->ndim++] = (int64_t)v;
            }
            if (rc < 0) return ig__onnx_wire_err(c, "SparseTensorProto.dims", why);
        }
    }
    if (rc < 0) return ig__onnx_wire_err(c, "SparseTensorProto", why);
    if (!vp || !ip) return ig_error_set(c->err, IG_EFORMAT, "sparse tensor lacks values or indices");
    ig_tensor vals, idx;
    if ((rc = ig__onnx_tensor(c, vp, vl, &vals, &vname))) return rc;
    if ((rc = ig__onnx_tensor(c, ip, il, &idx, NULL))) return rc;
    if (name) *name = vname;
    const char *sn = vname[0] ? vname : "(unnamed)";
    t->dtype = vals.dtype;
    int64_t numel = ig_tensor_numel(t);
    size_t nbytes = ig_tensor_nbytes(t), es = ig_dtype_size(t->dtype);
    if (numel < 0 || nbytes == SIZE_MAX)
        return ig_error_set(c->err, IG_EOVERFLOW, "sparse tensor '%s': element count overflows", sn);
    if (nbytes > IG__ONNX_MAX_SPARSE_DENSE - c->sparse_bytes)
        return ig_error_set(
            c->err, IG_EUNSUPPORTED,
            "sparse tensor '%s': dense form of %zu bytes exceeds the %zu-byte limit for sparse data", sn,
            nbytes, IG__ONNX_MAX_SPARSE_DENSE);
    c->sparse_bytes += nbytes;
    if (vals.ndim != 1) return ig_error_set(c->err, IG_EFORMAT, "sparse tensor '%s': values must be 1-D", sn);
    int64_t nnz = vals.dims[0];
    int rank = t->ndim;
    if (idx.dtype != IG_DT_INT64)
        return ig_error_set(c->err, IG_EFORMAT, "sparse tensor '%s': indices must be INT64", sn);
    bool linear = idx.ndim == 1 && idx.dims[0] == nnz;
    bool coords = idx.ndim == 2 && idx.dims[0] == nnz && idx.dims[1] == rank;
    if (!linear && !coords)
        return ig_error_set(c->err, IG_EFORMAT, "sparse tensor '%s': indices must be [NNZ] or [NNZ, rank]",
                            sn);
    char *dense = ig_arena_alloc(c->a, nbytes, 64);
    if (!dense) return ig_error_set(c->err, IG_ENOMEM, "out of memory for sparse tensor '%s'", sn);
    if (t->dtype == IG_DT_STRING)
        for (int64_t i = 0; i < numel; i++) ((ig_string *)(void *)dense)[i].ptr = "";
    const int64_t *ix = idx.data;
    for (int64_t k = 0; k < nnz; k++) {
        int64_t lin = 0;
        if (linear) {
            lin = ix[k];
        } else {
            for (int d = 0; d < rank; d++) {
                int64_t v = ix[k * rank + d];
                if (v < 0 || v >= t->dims[d]) {
                    lin = -1;
                    break;
                }
                lin = lin * t->dims[d] + v; /* < numel, no overflow */
            }
        }
        if (lin < 0 || lin >= numel)
            return ig_error_set(c->err, IG_EFORMAT, "sparse tensor '%s': index %lld out of range", sn,
                                (long long)k);
        memcpy(dense + (size_t)lin * es, (const char *)vals.data + (size_t)k * es, es);
    }
    t->data = dense;
    return 0;
}

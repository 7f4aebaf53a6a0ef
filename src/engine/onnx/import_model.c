/* Model-level import: the public ig_onnx_* entry points, ModelProto fields and opsets, mapping the
 * model file, and standalone TensorProto files. On any failure everything allocated so far (arena,
 * mappings) is released before returning. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/onnx/import.h"

enum {
    M_IR = 1,
    M_PRODUCER = 2,
    M_PRODUCER_VER = 3,
    M_DOMAIN = 4,
    M_MODEL_VER = 5,
    M_GRAPH = 7,
    M_OPSET = 8
};

int ig__onnx_wire_err(ig__onnx_ctx *c, const char *what, const char *why)
{
    return ig_error_set(c->err, IG_EFORMAT, "%s: %s", what, why ? why : "malformed");
}

static bool is_default_domain(const char *d)
{
    return !d[0] || !strcmp(d, "ai.onnx");
}

int64_t ig__onnx_opset_of(const ig_onnx_model *m, const char *domain)
{
    if (!m || !domain) return 0;
    for (int i = 0; i < m->n_opsets; i++) {
        const char *d = m->opsets[i].domain;
        if ((is_default_domain(domain) && is_default_domain(d)) || !strcmp(domain, d))
            return m->opsets[i].version;
    }
    return 0;
}

int64_t ig_onnx_opset(const ig_onnx_model *m, const char *domain)
{
    return ig__onnx_opset_of(m, domain ? domain : "");
}

int ig__onnx_add_map(ig__onnx_ctx *c, void *addr, size_t len)
{
    ig_onnx_model *m = c->m;
    struct ig_onnx_map *nm = realloc(m->maps, ((size_t)m->n_maps + 1) * sizeof(*nm));
    if (!nm) {
        munmap(addr, len);
        return ig_error_set(c->err, IG_ENOMEM, "out of memory");
    }
    m->maps = nm;
    m->maps[m->n_maps].addr = addr;
    m->maps[m->n_maps++].len = len;
    return 0;
}

void ig_onnx_free(ig_onnx_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_maps; i++) munmap(m->maps[i].addr, m->maps[i].len);
    free(m->maps);
    ig_arena_free(m->arena);
    free(m);
}

static int parse_opset(ig__onnx_ctx *c, const uint8_t *p, size_t len, ig_opset *o)
{
    ig__pb r = ig__pb_init(p, len);
    ig__pb_field f;
    const char *why = NULL;
    int rc;
    o->domain = "";
    o->version = 0;
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        if (f.num == 1 && f.wt == IG_PB_LEN) {
            if (!(o->domain = ig_arena_strndup(c->a, (const char *)f.data, f.len)))
                return ig_error_set(c->err, IG_ENOMEM, "out of memory");
        } else if (f.num == 2 && f.wt == IG_PB_VARINT) {
            o->version = (int64_t)f.u;
        }
    }
    if (rc < 0) return ig__onnx_wire_err(c, "ModelProto.opset_import", why);
    return 0;
}

static int import_model(ig__onnx_ctx *c, const uint8_t *p, size_t len)
{
    ig_onnx_model *m = c->m;
    ig__pb r = ig__pb_init(p, len);
    ig__pb_field f;
    const char *why = NULL;
    const uint8_t *graph = NULL;
    size_t graph_len = 0, n_opsets = 0;
    int rc;
    /* First pass: scalars, strings and the opset count; the graph needs the opsets, so it comes last. */
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        const char **dst = NULL;
        switch (f.num) {
        case M_IR:
        case M_MODEL_VER:
            if (f.wt != IG_PB_VARINT)
                return ig__onnx_wire_err(c, "ModelProto", "version field has the wrong wire type");
            *(f.num == M_IR ? &m->ir_version : &m->model_version) = (int64_t)f.u;
            break;
        case M_PRODUCER:
        case M_PRODUCER_VER:
        case M_DOMAIN:
            if (f.wt != IG_PB_LEN)
                return ig__onnx_wire_err(c, "ModelProto", "string field has the wrong wire type");
            dst = f.num == M_PRODUCER       ? &m->producer_name
                  : f.num == M_PRODUCER_VER ? &m->producer_version
                                            : &m->domain;
            if (!(*dst = ig_arena_strndup(c->a, (const char *)f.data, f.len)))
                return ig_error_set(c->err, IG_ENOMEM, "out of memory");
            break;
        case M_GRAPH:
            if (f.wt != IG_PB_LEN) return ig__onnx_wire_err(c, "ModelProto.graph", "wrong wire type");
            graph = f.data;
            graph_len = f.len;
            break;
        case M_OPSET:
            if (f.wt != IG_PB_LEN) return ig__onnx_wire_err(c, "ModelProto.opset_import", "wrong wire type");
            n_opsets++;
            break;
        default:
            break; /* functions, metadata, training info: not needed to run the graph */
        }
    }
    if (rc < 0) return ig__onnx_wire_err(c, "ModelProto", why);
    if (!m->producer_name) m->producer_name = "";
    if (!m->producer_version) m->producer_version = "";
    if (!m->domain) m->domain = "";
    if (!graph) return ig_error_set(c->err, IG_EFORMAT, "ModelProto has no graph");
    if (n_opsets > INT32_MAX) return ig_error_set(c->err, IG_EFORMAT, "too many opset imports");
    if (!(m->opsets = ig_arena_array(c->a, n_opsets + 1, sizeof(ig_opset), 16)))
        return ig_error_set(c->err, IG_ENOMEM, "out of memory");
    r = ig__pb_init(p, len);
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        if (f.num != M_OPSET) continue;
        ig_opset *o = &m->opsets[m->n_opsets];
        if ((rc = parse_opset(c, f.data, f.len, o))) return rc;
        if (o->version < 1)
            return ig_error_set(c->err, IG_EFORMAT, "opset_import for domain '%s' has version %lld",
                                o->domain, (long long)o->version);
        if (ig__onnx_opset_of(m, o->domain))
            return ig_error_set(c->err, IG_EFORMAT, "domain '%s' is imported twice", o->domain);
        m->n_opsets++;
    }
    if (rc < 0) return ig__onnx_wire_err(c, "ModelProto", why);
    /* Models from before opset_import existed (IR version < 3) implicitly use ai.onnx version 1. */
    if (m->n_opsets == 0 && m->ir_version < 3) m->opsets[m->n_opsets++] = (ig_opset){"", 1};
    return ig__onnx_graph(c, NULL, graph, graph_len, &m->graph);
}

/* Imports into a fresh model; mapping (addr, maplen) of the file, if any, is owned by it from here on. */
static int load(const void *buf, size_t len, const char *base_dir, void *map, size_t maplen,
                ig_onnx_model **out, ig_error *err)
{
    *out = NULL;
    ig_onnx_model *m = calloc(1, sizeof(*m));
    if (!m || !(m->arena = ig_arena_create(0))) {
        free(m);
        if (map) munmap(map, maplen);
        return ig_error_set(err, IG_ENOMEM, "out of memory");
    }
    ig__onnx_ctx c = {.m = m, .a = m->arena, .err = err, .base_dir = base_dir};
    int rc = map ? ig__onnx_add_map(&c, map, maplen) : 0;
    if (!rc) rc = import_model(&c, buf, len);
    ig__onnx_ext_release(&c);
    if (rc) {
        ig_onnx_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int ig_onnx_load_buffer(const void *buf, size_t len, const char *base_dir, ig_onnx_model **out, ig_error *err)
{
    if (!out || (!buf && len)) return ig_error_set(err, IG_EINVAL, "ig_onnx_load_buffer: bad arguments");
    if (!len) {
        *out = NULL;
        return ig_error_set(err, IG_EFORMAT, "empty model buffer");
    }
    return load(buf, len, base_dir, NULL, 0, out, err);
}

/* Maps a whole regular file read-only. *addr is NULL for an empty file. */
static int map_file(const char *path, void **addr, size_t *len, ig_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return ig_error_set(err, IG_EIO, "cannot open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return ig_error_set(err, IG_EIO, "'%s' is not a regular file", path);
    }
    *addr = NULL;
    *len = (size_t)st.st_size;
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return ig_error_set(err, IG_EOVERFLOW, "'%s' is too large to map", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return ig_error_set(err, IG_EIO, "cannot mmap '%s'", path);
        }
        *addr = p;
    }
    close(fd);
    return 0;
}

int ig_onnx_load(const char *path, ig_onnx_model **out, ig_error *err)
{
    if (!path || !out) return ig_error_set(err, IG_EINVAL, "ig_onnx_load: bad arguments");
    *out = NULL;
    void *addr = NULL;
    size_t len = 0;
    int rc = map_file(path, &addr, &len, err);
    if (rc) return rc;
    if (!addr) return ig_error_set(err, IG_EFORMAT, "'%s' is empty", path);
    /* External data lives beside the model. */
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    if (!dir) {
        munmap(addr, len);
        return ig_error_set(err, IG_ENOMEM, "out of memory");
    }
    rc = load(addr, len, dir, addr, len, out, err);
    free(dir);
    if (rc) ig_error_prefix(err, rc, "%s: ", path);
    return rc;
}

int ig_onnx_parse_tensor(const void *buf, size_t len, ig_arena *arena, ig_tensor *out, const char **name,
                         ig_error *err)
{
    if (!arena || !out || (!buf && len))
        return ig_error_set(err, IG_EINVAL, "ig_onnx_parse_tensor: bad arguments");
    ig__onnx_ctx c = {.a = arena, .err = err, .copy_all = true};
    const char *nm = "";
    int rc = ig__onnx_tensor(&c, buf, len, out, &nm);
    if (name) *name = rc ? "" : nm;
    return rc;
}

int ig_onnx_read_tensor_file(const char *path, ig_arena *arena, ig_tensor *out, const char **name,
                             ig_error *err)
{
    if (!path) return ig_error_set(err, IG_EINVAL, "ig_onnx_read_tensor_file: bad arguments");
    void *addr = NULL;
    size_t len = 0;
    int rc = map_file(path, &addr, &len, err);
    if (rc) return rc;
    rc = ig_onnx_parse_tensor(addr ? addr : "", len, arena, out, name, err);
    if (addr) munmap(addr, len);
    if (rc) ig_error_prefix(err, rc, "%s: ", path);
    return rc;
}

/* External tensor data (data_location = EXTERNAL): the file named by `location` is resolved inside the
 * model's folder only — no absolute paths, no `..`, no symlink leading out — then mapped once per load
 * and shared by every tensor that names it. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/onnx/import.h"

void ig__onnx_ext_release(ig__onnx_ctx *c)
{
    /* The mappings themselves belong to the model (m->maps); only the cache index goes. */
    for (int i = 0; i < c->n_ext; i++) free(c->ext[i].location);
    free(c->ext);
    c->ext = NULL;
    c->n_ext = 0;
}

static bool has_dotdot(const char *s)
{
    for (const char *p = s; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

/* Resolves location under base_dir and maps it; the new cache entry is appended to c->ext. */
static int map_location(ig__onnx_ctx *c, const char *tensor, const char *location)
{
    char base[PATH_MAX], full[PATH_MAX], real[PATH_MAX];
    if (!realpath(c->base_dir, base))
        return ig_error_set(c->err, IG_EIO, "tensor '%s': cannot resolve the model folder '%s'", tensor,
                            c->base_dir);
    size_t bl = strlen(base);
    if ((size_t)snprintf(full, sizeof(full), "%s/%s", base, location) >= sizeof(full))
        return ig_error_set(c->err, IG_EACCESS, "tensor '%s': external data path too long", tensor);
    if (!realpath(full, real))
        return ig_error_set(c->err, IG_EIO, "tensor '%s': external data file '%s' not found", tensor,
                            location);
    /* base "/" is its own prefix; otherwise the file must be strictly below base + '/'. */
    bool inside = bl == 1 ? real[0] == '/' : !strncmp(real, base, bl) && real[bl] == '/';
    if (!inside)
        return ig_error_set(c->err, IG_EACCESS,
                            "tensor '%s': external data '%s' resolves outside the model folder", tensor,
                            location);
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return ig_error_set(c->err, IG_EIO, "tensor '%s': cannot open external data '%s'", tensor, location);
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return ig_error_set(c->err, IG_EIO, "tensor '%s': external data '%s' is not a regular file", tensor,
                            location);
    }
    void *addr = NULL;
    size_t len = (size_t)st.st_size;
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return ig_error_set(c->err, IG_EOVERFLOW, "tensor '%s': external data '%s' too large", tensor,
                            location);
    }
    if (len) {
        addr = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (addr == MAP_FAILED) {
            close(fd);
            return ig_error_set(c->err, IG_EIO, "tensor '%s': cannot mmap external data '%s'", tensor,
                                location);
        }
    }
    close(fd);
    int rc;
    if (addr && (rc = ig__onnx_add_map(c, addr, len))) return rc;
    ig__onnx_extmap *ne = realloc(c->ext, ((size_t)c->n_ext + 1) * sizeof(*ne));
    char *loc = strdup(location);
    if (!ne || !loc) {
        free(loc);
        if (ne) c->ext = ne;
        return ig_error_set(c->err, IG_ENOMEM, "out of memory");
    }
    c->ext = ne;
    c->ext[c->n_ext++] = (ig__onnx_extmap){loc, addr, len};
    return 0;
}

int ig__onnx_external(ig__onnx_ctx *c, const char *tensor, const char *location, int64_t offset,
                      int64_t length, size_t nbytes, const uint8_t **data)
{
    if (!c->base_dir || !c->m)
        return ig_error_set(c->err, IG_EACCESS,
                            "tensor '%s': external data is not allowed here (no model folder)", tensor);
    if (!location[0])
        return ig_error_set(c->err, IG_EFORMAT, "tensor '%s': empty external data location", tensor);
    if (location[0] == '/')
        return ig_error_set(c->err, IG_EACCESS, "tensor '%s': external data location '%s' is absolute",
                            tensor, location);
    if (has_dotdot(location))
        return ig_error_set(c->err, IG_EACCESS, "tensor '%s': external data location '%s' contains '..'",
                            tensor, location);
    if (length >= 0 && (uint64_t)length != nbytes)
        return ig_error_set(c->err, IG_EFORMAT,
                            "tensor '%s': external data length %lld, shape and type need %zu", tensor,
                            (long long)length, nbytes);
    int i;
    for (i = 0; i < c->n_ext; i++)
        if (!strcmp(c->ext[i].location, location)) break;
    if (i == c->n_ext) {
        int rc = map_location(c, tensor, location);
        if (rc) return rc;
    }
    const ig__onnx_extmap *e = &c->ext[i];
    if (offset < 0 || (uint64_t)offset > e->len || nbytes > e->len - (size_t)offset)
        return ig_error_set(
            c->err, IG_EFORMAT,
            "tensor '%s': external data offset %lld + %zu bytes is past the end of '%s' (%zu bytes)", tensor,
            (long long)offset, nbytes, location, e->len);
    *data = e->addr ? e->addr + offset : (const uint8_t *)"";
    return 0;
}

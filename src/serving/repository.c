/* Model repository scanning: model folders, numeric version folders holding the model file,
 * a size-bounded config.pbtxt read, and the version policy applied to what was found. */
#include "serving/repository.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

void ig_repo_free_names(char **names, int n)
{
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int ig_repo_list_models(const char *repo, char ***names, int *n, ig_error *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(repo);
    if (!d) return ig_error_set(err, IG_EIO, "cannot open model repository '%s': %s", repo, strerror(errno));
    char **v = NULL;
    int cnt = 0, cap = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        if (snprintf(path, sizeof(path), "%s/%s", repo, e->d_name) >= (int)sizeof(path)) continue;
        if (!is_dir(path)) continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, (size_t)cap * sizeof(*v));
            if (!nv) goto oom;
            v = nv;
        }
        if (!(v[cnt] = strdup(e->d_name))) goto oom;
        cnt++;
    }
    closedir(d);
    if (cnt) qsort(v, (size_t)cnt, sizeof(*v), cmp_str);
    *names = v;
    *n = cnt;
    return 0;
oom:
    closedir(d);
    ig_repo_free_names(v, cnt);
    rc = ig_error_set(err, IG_ENOMEM, "out of memory listing '%s'", repo);
    return rc;
}

/* Version folder names: decimal digits without a leading zero, small enough for int64. */
static bool parse_version(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18 || s[0] == '0') return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int read_config(const char *path, ig_arena *a, ig_model_config *cfg, ig_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ig_error_set(err, IG_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return ig_error_set(err, IG_EIO, "%s is not a regular file", path);
    }
    if (st.st_size > IG_REPO_MAX_CONFIG_BYTES) {
        close(fd);
        return ig_error_set(err, IG_EINVAL, "%s is %lld bytes, above the %u byte limit", path,
                            (long long)st.st_size, IG_REPO_MAX_CONFIG_BYTES);
    }
    /* Read one byte past the size seen so a file that grew since fstat is still caught. */
    size_t cap = (size_t)st.st_size + 1;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return ig_error_set(err, IG_ENOMEM, "out of memory reading %s", path);
    }
    size_t len = 0;
    while (len < cap) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            close(fd);
            free(buf);
            return ig_error_set(err, IG_EIO, "cannot read %s: %s", path, strerror(errno));
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    close(fd);
    if (len > (size_t)st.st_size) {
        free(buf);
        return ig_error_set(err, IG_EIO, "%s changed while it was read", path);
    }
    /* The parsed config copies what it keeps into the arena, so the text can go. */
    int rc = ig_config_parse(buf, len, a, cfg, err);
    free(buf);
    return rc;
}

/* The model file of a version folder, or NULL when it has none. */
static char *model_file(ig_arena *a, const char *vdir, const char *file)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s", vdir, file) >= (int)sizeof(path)) return NULL;
    if (is_file(path)) return ig_arena_strdup(a, path);
    /* Triton's ONNX layout for external data: <version>/model.onnx/ holding model.onnx. */
    if (is_dir(path)) {
        char inner[4096];
        if (snprintf(inner, sizeof(inner), "%s/model.onnx", path) >= (int)sizeof(inner)) return NULL;
        if (is_file(inner)) return ig_arena_strdup(a, inner);
    }
    return NULL;
}

static bool valid_model_name(const char *name)
{
    return name[0] && strcmp(name, ".") && strcmp(name, "..") && !strchr(name, '/') && strlen(name) < 256;
}

int ig_repo_read_model(const char *repo, const char *name, ig_arena *a, ig_repo_model *out, ig_error *err)
{
    memset(out, 0, sizeof(*out));
    out->name = ig_arena_strdup(a, name);
    char dir[4096];
    if (!out->name) return ig_error_set(err, IG_ENOMEM, "out of memory");
    if (!valid_model_name(name)) return ig_error_set(err, IG_EINVAL, "'%s' is not a valid model name", name);
    if (snprintf(dir, sizeof(dir), "%s/%s", repo, name) >= (int)sizeof(dir))
        return ig_error_set(err, IG_EINVAL, "model path for '%s' is too long", name);
    out->dir = ig_arena_strdup(a, dir);
    if (!out->dir) return ig_error_set(err, IG_ENOMEM, "out of memory");
    /* Defaults first, so a caller sees a usable config even without config.pbtxt. */
    int rc = ig_config_parse("", 0, a, &out->config, err);
    if (rc) return rc;
    if (!is_dir(dir)) return ig_error_set(err, IG_ENOTFOUND, "model folder %s does not exist", dir);

    char cpath[4096 + 16];
    snprintf(cpath, sizeof(cpath), "%s/config.pbtxt", dir);
    struct stat st;
    if (stat(cpath, &st) == 0) {
        out->has_config = true;
        if ((rc = read_config(cpath, a, &out->config, err)))
            return ig_error_prefix(err, rc, "model '%s': ", name);
    }
    const char *file = out->config.default_model_filename ? out->config.default_model_filename : "model.onnx";

    DIR *d = opendir(dir);
    if (!d) return ig_error_set(err, IG_EIO, "cannot open %s: %s", dir, strerror(errno));
    int cap = 0;
    int64_t *vers = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        int64_t v;
        if (!parse_version(e->d_name, &v)) continue;
        char vdir[4096 + 32];
        snprintf(vdir, sizeof(vdir), "%s/%s", dir, e->d_name);
        if (!is_dir(vdir)) continue;
        char probe[4096];
        if (snprintf(probe, sizeof(probe), "%s/%s", vdir, file) >= (int)sizeof(probe)) continue;
        if (!is_file(probe) && !is_dir(probe)) continue;
        if (out->n_versions == cap) {
            int ncap = cap ? cap * 2 : 8;
            int64_t *nv = ig_arena_array(a, (size_t)ncap, sizeof(int64_t), 8);
            if (!nv) {
                closedir(d);
                return ig_error_set(err, IG_ENOMEM, "out of memory");
            }
            if (vers) memcpy(nv, vers, (size_t)out->n_versions * sizeof(int64_t));
            vers = nv, cap = ncap;
        }
        vers[out->n_versions++] = v;
    }
    closedir(d);
    if (out->n_versions) qsort(vers, (size_t)out->n_versions, sizeof(int64_t), cmp_i64);
    out->versions = vers;

    const ig_model_config *c = &out->config;
    out->selected =
        ig_arena_array(a, out->n_versions ? (size_t)out->n_versions : 1, sizeof(ig_repo_version), 8);
    if (!out->selected) return ig_error_set(err, IG_ENOMEM, "out of memory");
    for (int i = 0; i < out->n_versions; i++) {
        bool take = false;
        if (c->version_policy == IG_VERSION_ALL) {
            take = true;
        } else if (c->version_policy == IG_VERSION_SPECIFIC) {
            for (int k = 0; k < c->n_specific_versions && !take; k++)
                take = c->specific_versions[k] == vers[i];
        } else {
            take = out->n_versions - i <= (int64_t)c->latest_num_versions;
        }
        if (!take) continue;
        char vdir[4096 + 32];
        snprintf(vdir, sizeof(vdir), "%s/%lld", dir, (long long)vers[i]);
        const char *path = model_file(a, vdir, file);
        if (!path) continue; /* e.g. a model.onnx folder without model.onnx inside */
        out->selected[out->n_selected].version = vers[i];
        out->selected[out->n_selected].path = path;
        out->n_selected++;
    }
    if (!out->n_selected)
        return ig_error_set(err, IG_ENOTFOUND,
                            out->n_versions ? "model '%s' has no version folder the version policy selects"
                                            : "model '%s' has no version folder (a number) holding %s",
                            name, file);
    return 0;
}

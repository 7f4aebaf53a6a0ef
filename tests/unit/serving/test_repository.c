/* Repository scanning on temporary folders: model listing, version folders, config.pbtxt reading
 * and the version policies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "serving/repository.h"

static char root[64];

static void mkdirp(const char *rel)
{
    char p[512], cur[512];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            snprintf(cur, (size_t)(s - p) + 1, "%s", p);
            mkdir(cur, 0755);
        }
    mkdir(p, 0755);
}

static void put(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void test_list(void)
{
    char **names;
    int n;
    ig_error err = {0};
    CHECK_EQ_INT(ig_repo_list_models(root, &names, &n, &err), 0);
    CHECK_EQ_INT(n, 7);
    if (n == 7) {
        CHECK_STR(names[0], "bad_config");
        CHECK_STR(names[1], "big_config");
        CHECK_STR(names[2], "custom_file");
        CHECK_STR(names[6], "specific");
    }
    ig_repo_free_names(names, n);
    memset(&err, 0, sizeof(err));
    CHECK_EQ_INT(ig_repo_list_models("/nonexistent/repo", &names, &n, &err), IG_EIO);
    CHECK(strstr(err.msg, "/nonexistent/repo") != NULL);
}

static void test_latest(ig_arena *a)
{
    ig_repo_model m;
    ig_error err = {0};
    CHECK_EQ_INT(ig_repo_read_model(root, "latest", a, &m, &err), 0);
    CHECK_STR(m.name, "latest");
    CHECK(!m.has_config);
    /* 1, 2, 10 have model.onnx; 01, 0, abc, 3 (empty) and 4 (a file) are not versions. */
    CHECK_EQ_INT(m.n_versions, 3);
    if (m.n_versions == 3) {
        CHECK_EQ_INT(m.versions[0], 1);
        CHECK_EQ_INT(m.versions[1], 2);
        CHECK_EQ_INT(m.versions[2], 10);
    }
    CHECK_EQ_INT(m.n_selected, 1);
    CHECK_EQ_INT(m.selected[0].version, 10);
    char want[256];
    snprintf(want, sizeof(want), "%s/latest/10/model.onnx", root);
    CHECK_STR(m.selected[0].path, want);
}

static void test_policies(ig_arena *a)
{
    ig_repo_model m;
    ig_error err = {0};
    CHECK_EQ_INT(ig_repo_read_model(root, "latest2", a, &m, &err), 0);
    CHECK(m.has_config);
    CHECK_EQ_INT(m.n_selected, 2);
    CHECK_EQ_INT(m.selected[0].version, 2);
    CHECK_EQ_INT(m.selected[1].version, 3);
    /* model.onnx as a folder holding model.onnx (external data layout). */
    char want[256];
    snprintf(want, sizeof(want), "%s/latest2/3/model.onnx/model.onnx", root);
    CHECK_STR(m.selected[1].path, want);

    memset(&err, 0, sizeof(err));
    CHECK_EQ_INT(ig_repo_read_model(root, "specific", a, &m, &err), 0);
    CHECK_EQ_INT(m.n_versions, 3);
    CHECK_EQ_INT(m.n_selected, 2);
    CHECK_EQ_INT(m.selected[0].version, 1);
    CHECK_EQ_INT(m.selected[1].version, 3);

    memset(&err, 0, sizeof(err));
    CHECK_EQ_INT(ig_repo_read_model(root, "custom_file", a, &m, &err), 0);
    CHECK_EQ_INT(m.config.version_policy, IG_VERSION_ALL);
    CHECK_EQ_INT(m.n_selected, 2);
    snprintf(want, sizeof(want), "%s/custom_file/5/net.onnx", root);
    CHECK_STR(m.selected[1].path, want);
}

static void test_failures(ig_arena *a)
{
    ig_repo_model m;
    ig_error err = {0};
    CHECK_EQ_INT(ig_repo_read_model(root, "bad_config", a, &m, &err), IG_EFORMAT);
    CHECK(strstr(err.msg, "model 'bad_config': config.pbtxt:2: unknown field 'dimz' in input") != NULL);
    CHECK_STR(m.name, "bad_config");
    memset(&err, 0, sizeof(err));
    CHECK_EQ_INT(ig_repo_read_model(root, "big_config", a, &m, &err), IG_EINVAL);
    CHECK(strstr(err.msg, "byte limit") != NULL);
    memset(&err, 0, sizeof(err));
    CHECK_EQ_INT(ig_repo_read_model(root, "none_selected", a, &m, &err), IG_ENOTFOUND);
    CHECK(strstr(err.msg, "no version folder the version policy selects") != NULL);
    CHECK_EQ_INT(m.n_versions, 1);
    memset(&err, 0, sizeof(err));
    CHECK_EQ_INT(ig_repo_read_model(root, "missing", a, &m, &err), IG_ENOTFOUND);
    memset(&err, 0, sizeof(err));
    CHECK_EQ_INT(ig_repo_read_model(root, "..", a, &m, &err), IG_EINVAL);
    memset(&err, 0, sizeof(err));
    CHECK_EQ_INT(ig_repo_read_model(root, "a/b", a, &m, &err), IG_EINVAL);
    memset(&err, 0, sizeof(err));
    mkdirp("empty_model/1");
    CHECK_EQ_INT(ig_repo_read_model(root, "empty_model", a, &m, &err), IG_ENOTFOUND);
    CHECK(strstr(err.msg, "no version folder (a number) holding model.onnx") != NULL);
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/ig_repo_test_%d", (int)getpid());
    mkdir(root, 0755);
    mkdirp("latest/1");
    put("latest/1/model.onnx", "x");
    mkdirp("latest/2");
    put("latest/2/model.onnx", "x");
    mkdirp("latest/10");
    put("latest/10/model.onnx", "x");
    mkdirp("latest/01");
    put("latest/01/model.onnx", "x");
    mkdirp("latest/0");
    put("latest/0/model.onnx", "x");
    mkdirp("latest/abc");
    put("latest/abc/model.onnx", "x");
    mkdirp("latest/3");
    put("latest/4", "x");
    mkdirp("latest2/1");
    put("latest2/1/model.onnx", "x");
    mkdirp("latest2/2");
    put("latest2/2/model.onnx", "x");
    mkdirp("latest2/3/model.onnx");
    put("latest2/3/model.onnx/model.onnx", "x");
    put("latest2/config.pbtxt", "version_policy: { latest: { num_versions: 2 } }\n");
    for (int v = 1; v <= 3; v++) {
        char d[64];
        snprintf(d, sizeof(d), "specific/%d", v);
        mkdirp(d);
        snprintf(d, sizeof(d), "specific/%d/model.onnx", v);
        put(d, "x");
    }
    put("specific/config.pbtxt", "version_policy: { specific: { versions: [1, 3, 9] } }\n");
    mkdirp("custom_file/2");
    put("custom_file/2/net.onnx", "x");
    mkdirp("custom_file/5");
    put("custom_file/5/net.onnx", "x");
    mkdirp("custom_file/7");
    put("custom_file/7/model.onnx", "x");
    put("custom_file/config.pbtxt", "default_model_filename: \"net.onnx\"\nversion_policy { all {} }\n");
    mkdirp("bad_config/1");
    put("bad_config/1/model.onnx", "x");
    put("bad_config/config.pbtxt", "input {\n dimz: 1 }\n");
    mkdirp("big_config/1");
    put("big_config/1/model.onnx", "x");
    char *big = malloc(IG_REPO_MAX_CONFIG_BYTES + 2);
    memset(big, '#', IG_REPO_MAX_CONFIG_BYTES + 1);
    big[IG_REPO_MAX_CONFIG_BYTES + 1] = 0;
    put("big_config/config.pbtxt", big);
    free(big);
    mkdirp("none_selected/1");
    put("none_selected/1/model.onnx", "x");
    put("none_selected/config.pbtxt", "version_policy: { specific: { versions: [2] } }\n");
    mkdirp(".hidden/1");
    put("README", "not a model");

    ig_arena *a = ig_arena_create(0);
    test_list();
    test_latest(a);
    test_policies(a);
    test_failures(a);
    ig_arena_free(a);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", root);
    return CHECK_DONE();
}

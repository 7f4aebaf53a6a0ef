/* Model repository scanning (Triton layout): <repo>/<model>/[config.pbtxt] and numeric version
 * folders holding the model file. Reads what is on disk and applies the version policy; loading
 * the models and completing their configs is the caller's job. */
#ifndef IG_SERVING_REPOSITORY_H
#define IG_SERVING_REPOSITORY_H

#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "infergate/error.h"
#include "serving/config.h"

/* config.pbtxt files above this size are refused rather than read. */
#define IG_REPO_MAX_CONFIG_BYTES (1u << 20)

typedef struct ig_repo_version {
    int64_t version;
    const char *path; /* the model file: <repo>/<model>/<version>/<file>, or .../<file>/model.onnx when
                         <file> is a folder */
} ig_repo_version;

typedef struct ig_repo_model {
    const char *name;
    const char *dir;        /* <repo>/<model> */
    bool has_config;        /* config.pbtxt exists */
    ig_model_config config; /* parsed, not completed; defaults when there is no config.pbtxt */
    int n_versions;
    int64_t *versions; /* every valid version folder that holds the model file, ascending */
    int n_selected;
    ig_repo_version *selected; /* the versions the policy serves, ascending */
} ig_repo_model;

/* Names of the model folders in repo (sub-directories not starting with '.'), sorted. *names and each
 * name are malloc'd; free them with ig_repo_free_names. */
int ig_repo_list_models(const char *repo, char ***names, int *n, ig_error *err);
void ig_repo_free_names(char **names, int n);

/* Reads one model's folder into *out (all memory from a). Fails with a reason when the folder is
 * missing, config.pbtxt is malformed or too large, or the policy selects no version; *out then holds
 * what was read so far (name and dir are always set). */
int ig_repo_read_model(const char *repo, const char *name, ig_arena *a, ig_repo_model *out, ig_error *err);

#endif

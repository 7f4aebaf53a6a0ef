/* The model manager: which models and versions of a repository are served, in what state, and the
 * hand-over between versions. A request takes a reference on the version it runs on, so a version
 * that is unloaded or replaced (poll mode) keeps serving what it already accepted and is freed when
 * its last request completes. A version that fails to load leaves the versions already serving in
 * place, and its reason shows in the repository index. Thread-safe. */
#ifndef IG_SERVING_MODEL_MANAGER_H
#define IG_SERVING_MODEL_MANAGER_H

#include <stdbool.h>
#include <stdint.h>

#include "serving/config.h"
#include "serving/scheduler.h"
#include "serving/stats.h"

typedef struct ig_mm ig_mm;

typedef enum ig_control_mode {
    IG_CONTROL_NONE = 0, /* load everything at start, never change */
    IG_CONTROL_POLL,     /* rescan the repository every poll_secs */
    IG_CONTROL_EXPLICIT, /* load only what start-up names or the API asks for */
} ig_control_mode;

typedef enum ig_version_state {
    IG_STATE_UNKNOWN = 0,
    IG_STATE_LOADING,
    IG_STATE_READY,
    IG_STATE_UNAVAILABLE,
    IG_STATE_UNLOADING,
} ig_version_state;

typedef struct ig_mm_options {
    const char *repository;
    ig_control_mode mode;
    int poll_secs;             /* poll mode */
    const char *const *load;   /* explicit mode: models to load at start ("*" = all) */
    int n_load;
    int threads;               /* intra-op threads per instance; 0 = cores / instances */
} ig_mm_options;

/* One loaded version of a model. Fields are read-only after load. */
typedef struct ig_served {
    const char *name;
    int64_t version;
    char version_str[24];
    ig_model *engine;
    ig_model_config *cfg; /* completed */
    ig_sched *sched;
    ig_model_stats stats;
} ig_served;

/* Loads what the mode says (none/poll: every model; explicit: opts->load). A model that fails to load
 * does not fail the start: it shows as UNAVAILABLE with its reason. Starts the poll thread. */
int ig_mm_create(const ig_mm_options *opts, ig_mm **out, ig_error *err);
/* Stops polling, refuses new requests, lets every scheduler drain, frees everything. */
void ig_mm_free(ig_mm *mm);

/* The version a request for (name, version) runs on, with a reference the caller must release.
 * version NULL or "" = the highest ready version. Errors as Triton words them: an unknown model is
 * IG_ENOMODEL "Request for unknown model: 'x' is not found"; a model without that ready version is
 * IG_ENOTFOUND. */
ig_served *ig_mm_acquire(ig_mm *mm, const char *name, const char *version, ig_error *err);
void ig_mm_release(ig_mm *mm, ig_served *s);

/* Explicit mode (and poll): (re)load or unload a model by name. Load returns when the new versions
 * are ready (or failed: then the old ones keep serving). */
int ig_mm_load(ig_mm *mm, const char *name, ig_error *err);
int ig_mm_unload(ig_mm *mm, const char *name, ig_error *err);
/* Poll mode's rescan, callable directly (tests). */
void ig_mm_poll(ig_mm *mm);

/* True when every model the manager knows has at least one ready version and none failed. */
bool ig_mm_all_ready(ig_mm *mm);

/* One (model, version) the manager knows, ready or not. version is -1 for a model that failed as a
 * whole (no version to show); s is NULL when the version is not loaded. */
typedef struct ig_mm_row {
    const char *name;
    int64_t version;
    char version_str[24]; /* "" for version -1 */
    ig_version_state state;
    const char *reason;
    ig_served *s;
} ig_mm_row;

/* Calls f once with every row, sorted by name then version, under the manager's lock so that every
 * pointer in them (stats included) stays valid during f. f must not call back into the manager. */
void ig_mm_snapshot(ig_mm *mm, void (*f)(const ig_mm_row *rows, int n, void *ctx), void *ctx);

const char *ig_version_state_name(ig_version_state s);

#endif

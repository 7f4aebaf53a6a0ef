/* Model manager: the table of served models and versions, loading and replacing them, and the
 * housekeeping thread that polls the repository and frees retired versions once idle. Versions are
 * freed off the scheduler threads (a scheduler cannot join itself), by that thread or at shutdown. */
#include "serving/model_manager.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "serving/repository.h"

/* A loaded version and the references on it: the manager holds one while it serves the version,
 * each request in flight holds one. */
typedef struct live {
    ig_served s;
    ig_arena *arena; /* the config's memory */
    atomic_int refs;
    bool retired;
    struct live *next_dead;
    char signature[256]; /* what the files looked like when loaded: reload when it changes */
} live;

typedef struct slot {
    int64_t version;
    ig_version_state state;
    bool failed; /* the last load of this version failed (not an unload) */
    char reason[256];
    live *live;
} slot;

typedef struct entry {
    char *name;
    char reason[256]; /* the model as a whole failed (no versions, bad config) */
    bool failed;
    int n_slots;
    slot *slots;
} entry;

struct ig_mm {
    ig_mm_options opts;
    char *repository;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool thread_started, stop;
    int n_models;
    entry *models;
    live *dead; /* retired versions, freed by the housekeeping thread when idle */
    int cores;
};

const char *ig_version_state_name(ig_version_state s)
{
    static const char *const names[] = {"UNKNOWN", "LOADING", "READY", "UNAVAILABLE", "UNLOADING"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "UNKNOWN";
}

static void live_free(live *l)
{
    if (!l) return;
    if (l->s.sched) {
        ig_sched_drain(l->s.sched);
        ig_sched_free(l->s.sched);
    }
    ig_model_free(l->s.engine);
    ig_arena_free(l->arena);
    free(l);
}

/* Drops the manager's reference; the version goes to the graveyard, freed once idle. Lock held. */
static void retire(ig_mm *mm, live *l)
{
    if (!l) return;
    l->retired = true;
    l->next_dead = mm->dead;
    mm->dead = l;
    atomic_fetch_sub(&l->refs, 1);
    pthread_cond_signal(&mm->wake);
}

static entry *find_entry(ig_mm *mm, const char *name)
{
    for (int i = 0; i < mm->n_models; i++)
        if (!strcmp(mm->models[i].name, name)) return &mm->models[i];
    return NULL;
}

static entry *get_entry(ig_mm *mm, const char *name)
{
    entry *e = find_entry(mm, name);
    if (e) return e;
    entry *grown = realloc(mm->models, sizeof(entry) * (size_t)(mm->n_models + 1));
    if (!grown) return NULL;
    mm->models = grown;
    e = &mm->models[mm->n_models++];
    memset(e, 0, sizeof(*e));
    e->name = strdup(name);
    return e;
}

static slot *get_slot(entry *e, int64_t version)
{
    for (int i = 0; i < e->n_slots; i++)
        if (e->slots[i].version == version) return &e->slots[i];
    slot *grown = realloc(e->slots, sizeof(slot) * (size_t)(e->n_slots + 1));
    if (!grown) return NULL;
    e->slots = grown;
    slot *s = &e->slots[e->n_slots++];
    memset(s, 0, sizeof(*s));
    s->version = version;
    return s;
}

/* mtime and size of the files a version is made of: config and model file. */
static void file_signature(const char *config_path, const char *model_path, char *out, size_t len)
{
    struct stat a = {0}, b = {0};
    int ha = config_path && !stat(config_path, &a), hb = !stat(model_path, &b);
    snprintf(out, len, "%d:%lld.%09ld:%lld|%d:%lld.%09ld:%lld", ha, (long long)a.st_mtim.tv_sec, a.st_mtim.tv_nsec,
             (long long)a.st_size, hb, (long long)b.st_mtim.tv_sec, b.st_mtim.tv_nsec, (long long)b.st_size);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Loads one version outside the lock: engine, completed config, scheduler. */
static live *load_version(ig_mm *mm, const char *name, const char *path, int64_t version, const char *signature,
                          ig_error *err)
{
    double t0 = now_s();
    live *l = calloc(1, sizeof(*l));
    if (!l) {
        ig_error_set(err, IG_ENOMEM, "out of memory");
        return NULL;
    }
    atomic_init(&l->refs, 1);
    snprintf(l->signature, sizeof(l->signature), "%s", signature);
    l->s.version = version;
    snprintf(l->s.version_str, sizeof(l->s.version_str), "%lld", (long long)version);
    /* Each version reads and completes its own config, in memory that lives as long as it does: a
     * reload may bring a different one. */
    ig_repo_model rm;
    if (!(l->arena = ig_arena_create(16 * 1024))) goto oom;
    if (ig_repo_read_model(mm->repository, name, l->arena, &rm, err)) goto fail;
    ig_model_config *cfg = ig_arena_alloc(l->arena, sizeof(*cfg), 8);
    if (!cfg) goto oom;
    *cfg = rm.config;
    int instances = cfg->instance_count > 0 ? cfg->instance_count : 1;
    int threads = mm->opts.threads > 0 ? mm->opts.threads : (mm->cores / instances > 0 ? mm->cores / instances : 1);
    ig_model_options mo = {.n_threads = threads};
    if (ig_model_load(path, &mo, &l->s.engine, err)) goto fail;
    if (ig_config_complete(cfg, name, l->s.engine, err)) goto fail;
    l->s.name = cfg->name ? cfg->name : rm.name;
    l->s.cfg = cfg;
    ig_model_stats_init(&l->s.stats);
    if (ig_sched_create(l->s.engine, cfg, &l->s.stats, threads, &l->s.sched, err)) goto fail;
    l->s.stats.load_seconds = now_s() - t0;
    return l;
oom:
    ig_error_set(err, IG_ENOMEM, "out of memory loading '%s'", name);
fail:
    live_free(l);
    return NULL;
}

int ig_mm_load(ig_mm *mm, const char *name, ig_error *err)
{
    ig_arena *a = ig_arena_create(16 * 1024);
    if (!a) return ig_error_set(err, IG_ENOMEM, "out of memory");
    ig_repo_model rm;
    ig_error rerr = {0};
    int rc = ig_repo_read_model(mm->repository, name, a, &rm, &rerr);
    pthread_mutex_lock(&mm->lock);
    entry *e = get_entry(mm, name);
    if (e && rc) {
        e->failed = true;
        snprintf(e->reason, sizeof(e->reason), "%s", rerr.msg);
    }
    pthread_mutex_unlock(&mm->lock);
    if (!e) {
        ig_arena_free(a);
        return ig_error_set(err, IG_ENOMEM, "out of memory");
    }
    if (rc) {
        ig_arena_free(a);
        if (err && !err->code) *err = rerr;
        return rc;
    }
    int failures = 0;
    char first_reason[256] = "";
    char config_path[4096];
    snprintf(config_path, sizeof(config_path), "%s/config.pbtxt", rm.dir);
    for (int i = 0; i < rm.n_selected; i++) {
        const ig_repo_version *v = &rm.selected[i];
        char sig[256];
        file_signature(rm.has_config ? config_path : NULL, v->path, sig, sizeof(sig));
        pthread_mutex_lock(&mm->lock);
        slot *sl = get_slot(e = find_entry(mm, name), v->version);
        bool same = sl && sl->live && !strcmp(sl->live->signature, sig);
        if (sl && !same && !sl->live) sl->state = IG_STATE_LOADING;
        pthread_mutex_unlock(&mm->lock);
        if (!sl || same) continue;
        ig_error lerr = {0};
        live *l = load_version(mm, name, v->path, v->version, sig, &lerr);
        pthread_mutex_lock(&mm->lock);
        sl = get_slot(e = find_entry(mm, name), v->version);
        if (l) {
            live *old = sl->live;
            sl->live = l;
            sl->state = IG_STATE_READY;
            sl->failed = false;
            sl->reason[0] = 0;
            retire(mm, old); /* the replaced files' version finishes what it accepted */
        } else {
            /* A failed reload leaves the version that was serving in place. */
            if (!sl->live) sl->state = IG_STATE_UNAVAILABLE;
            sl->failed = true;
            snprintf(sl->reason, sizeof(sl->reason), "%s", lerr.msg);
            if (!failures++)
                snprintf(first_reason, sizeof(first_reason), "version %lld: %s", (long long)v->version, lerr.msg);
        }
        pthread_mutex_unlock(&mm->lock);
    }
    /* Versions the policy no longer selects stop taking requests, once a selected one serves: a new
     * version that fails to load leaves the old one serving. */
    pthread_mutex_lock(&mm->lock);
    e = find_entry(mm, name);
    e->failed = false;
    e->reason[0] = 0;
    bool replacement_serving = false;
    for (int s = 0; s < e->n_slots; s++)
        for (int i = 0; i < rm.n_selected; i++)
            replacement_serving |= rm.selected[i].version == e->slots[s].version && e->slots[s].live;
    for (int s = 0; s < e->n_slots && replacement_serving; s++) {
        bool selected = false;
        for (int i = 0; i < rm.n_selected; i++) selected |= rm.selected[i].version == e->slots[s].version;
        if (selected) continue;
        retire(mm, e->slots[s].live);
        e->slots[s] = e->slots[--e->n_slots];
        s--;
    }
    pthread_mutex_unlock(&mm->lock);
    ig_arena_free(a);
    if (failures) return ig_error_set(err, IG_EINVAL, "failed to load '%s': %s", name, first_reason);
    return 0;
}

int ig_mm_unload(ig_mm *mm, const char *name, ig_error *err)
{
    pthread_mutex_lock(&mm->lock);
    entry *e = find_entry(mm, name);
    if (!e) {
        pthread_mutex_unlock(&mm->lock);
        return ig_error_set(err, IG_EINVAL, "failed to unload '%s': no such model is loaded", name);
    }
    for (int s = 0; s < e->n_slots; s++) {
        retire(mm, e->slots[s].live);
        e->slots[s].live = NULL;
        e->slots[s].state = IG_STATE_UNAVAILABLE;
        snprintf(e->slots[s].reason, sizeof(e->slots[s].reason), "unloaded");
    }
    pthread_mutex_unlock(&mm->lock);
    return 0;
}

void ig_mm_poll(ig_mm *mm)
{
    char **names = NULL;
    int n = 0;
    ig_error err = {0};
    if (ig_repo_list_models(mm->repository, &names, &n, &err)) {
        fprintf(stderr, "infergate: repository poll: %s\n", err.msg);
        return;
    }
    for (int i = 0; i < n; i++) {
        ig_error lerr = {0};
        if (ig_mm_load(mm, names[i], &lerr)) fprintf(stderr, "infergate: %s\n", lerr.msg);
    }
    /* Models whose folder disappeared are unloaded. */
    pthread_mutex_lock(&mm->lock);
    for (int m = 0; m < mm->n_models; m++) {
        bool present = false;
        for (int i = 0; i < n && !present; i++) present = !strcmp(names[i], mm->models[m].name);
        if (present) continue;
        for (int s = 0; s < mm->models[m].n_slots; s++) {
            retire(mm, mm->models[m].slots[s].live);
            mm->models[m].slots[s].live = NULL;
            mm->models[m].slots[s].state = IG_STATE_UNAVAILABLE;
            snprintf(mm->models[m].slots[s].reason, sizeof(mm->models[m].slots[s].reason), "removed from repository");
        }
    }
    pthread_mutex_unlock(&mm->lock);
    ig_repo_free_names(names, n);
}

/* Frees retired versions nobody uses any more. Lock held; frees after unlinking, outside it. */
static live *take_idle_dead(ig_mm *mm)
{
    live *idle = NULL, **p = &mm->dead;
    while (*p) {
        live *l = *p;
        if (atomic_load(&l->refs) == 0) {
            *p = l->next_dead;
            l->next_dead = idle;
            idle = l;
        } else {
            p = &l->next_dead;
        }
    }
    return idle;
}

static void *housekeeping(void *arg)
{
    ig_mm *mm = arg;
    double next_poll = now_s() + mm->opts.poll_secs;
    pthread_mutex_lock(&mm->lock);
    while (!mm->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000000L; /* reap retired versions within 0.1 s of going idle */
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&mm->wake, &mm->lock, &until);
        live *idle = take_idle_dead(mm);
        pthread_mutex_unlock(&mm->lock);
        while (idle) {
            live *next = idle->next_dead;
            live_free(idle);
            idle = next;
        }
        if (mm->opts.mode == IG_CONTROL_POLL && now_s() >= next_poll) {
            ig_mm_poll(mm);
            next_poll = now_s() + mm->opts.poll_secs;
        }
        pthread_mutex_lock(&mm->lock);
    }
    pthread_mutex_unlock(&mm->lock);
    return NULL;
}

int ig_mm_create(const ig_mm_options *opts, ig_mm **out, ig_error *err)
{
    ig_mm *mm = calloc(1, sizeof(*mm));
    if (!mm) return ig_error_set(err, IG_ENOMEM, "out of memory");
    mm->opts = *opts;
    if (mm->opts.poll_secs <= 0) mm->opts.poll_secs = 15;
    mm->repository = strdup(opts->repository);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    mm->cores = cores > 0 ? (int)cores : 1;
    pthread_mutex_init(&mm->lock, NULL);
    pthread_cond_init(&mm->wake, NULL);
    struct stat st;
    if (stat(opts->repository, &st) || !S_ISDIR(st.st_mode)) {
        ig_error_set(err, IG_ENOTFOUND, "model repository '%s' is not a folder", opts->repository);
        ig_mm_free(mm);
        return IG_ENOTFOUND;
    }
    if (opts->mode == IG_CONTROL_EXPLICIT) {
        bool all = false;
        for (int i = 0; i < opts->n_load; i++) all |= !strcmp(opts->load[i], "*");
        if (all) {
            ig_mm_poll(mm);
        } else {
            for (int i = 0; i < opts->n_load; i++) {
                ig_error lerr = {0};
                if (ig_mm_load(mm, opts->load[i], &lerr)) fprintf(stderr, "infergate: %s\n", lerr.msg);
            }
        }
    } else {
        ig_mm_poll(mm);
    }
    if (pthread_create(&mm->thread, NULL, housekeeping, mm)) {
        ig_mm_free(mm);
        return ig_error_set(err, IG_ENOMEM, "cannot start the model manager's thread");
    }
    mm->thread_started = true;
    *out = mm;
    return 0;
}

void ig_mm_free(ig_mm *mm)
{
    if (!mm) return;
    pthread_mutex_lock(&mm->lock);
    mm->stop = true;
    pthread_cond_signal(&mm->wake);
    pthread_mutex_unlock(&mm->lock);
    if (mm->thread_started) pthread_join(mm->thread, NULL);
    for (int m = 0; m < mm->n_models; m++) {
        for (int s = 0; s < mm->models[m].n_slots; s++)
            if (mm->models[m].slots[s].live) retire(mm, mm->models[m].slots[s].live);
        free(mm->models[m].slots);
        free(mm->models[m].name);
    }
    /* By now callers have stopped sending; anything still referenced is a caller's leak, freed anyway. */
    for (live *l = mm->dead, *next; l; l = next) {
        next = l->next_dead;
        live_free(l);
    }
    free(mm->models);
    free(mm->repository);
    pthread_mutex_destroy(&mm->lock);
    pthread_cond_destroy(&mm->wake);
    free(mm);
}

ig_served *ig_mm_acquire(ig_mm *mm, const char *name, const char *version, ig_error *err)
{
    pthread_mutex_lock(&mm->lock);
    entry *e = find_entry(mm, name);
    live *best = NULL;
    if (!e) {
        pthread_mutex_unlock(&mm->lock);
        ig_error_set(err, IG_ENOMODEL, "Request for unknown model: '%s' is not found", name);
        return NULL;
    }
    if (version && version[0]) {
        char *end;
        long long v = strtoll(version, &end, 10);
        for (int s = 0; s < e->n_slots && !*end; s++)
            if (e->slots[s].version == v && e->slots[s].live) best = e->slots[s].live;
        if (!best) {
            pthread_mutex_unlock(&mm->lock);
            ig_error_set(err, IG_ENOTFOUND, "Request for unknown model: '%s' version %s is not at ready state", name,
                         version);
            return NULL;
        }
    } else {
        for (int s = 0; s < e->n_slots; s++)
            if (e->slots[s].live && (!best || e->slots[s].version > best->s.version)) best = e->slots[s].live;
        if (!best) {
            pthread_mutex_unlock(&mm->lock);
            ig_error_set(err, IG_ENOTFOUND, "'%s' has no available versions", name);
            return NULL;
        }
    }
    atomic_fetch_add(&best->refs, 1);
    pthread_mutex_unlock(&mm->lock);
    return &best->s;
}

void ig_mm_release(ig_mm *mm, ig_served *s)
{
    live *l = (live *)((char *)s - offsetof(live, s));
    if (atomic_fetch_sub(&l->refs, 1) == 1) {
        /* Last reference on a retired version: wake the housekeeper, which frees it off this thread. */
        pthread_mutex_lock(&mm->lock);
        pthread_cond_signal(&mm->wake);
        pthread_mutex_unlock(&mm->lock);
    }
}

bool ig_mm_all_ready(ig_mm *mm)
{
    bool ready = true;
    pthread_mutex_lock(&mm->lock);
    for (int m = 0; m < mm->n_models; m++) {
        /* A failed reload with the old version still serving counts as ready. */
        /* So does a new version that failed while an older one serves (anchor R2). */
        const entry *e = &mm->models[m];
        bool serving = false, failed_dead = false;
        for (int s = 0; s < e->n_slots; s++) {
            serving |= e->slots[s].live != NULL;
            failed_dead |= e->slots[s].failed && !e->slots[s].live;
            ready = ready && e->slots[s].state != IG_STATE_LOADING;
        }
        ready = ready && (serving || (!e->failed && !failed_dead));
    }
    pthread_mutex_unlock(&mm->lock);
    return ready;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static int by_version(const void *a, const void *b)
{
    int64_t x = ((const slot *)a)->version, y = ((const slot *)b)->version;
    return x < y ? -1 : x > y;
}

void ig_mm_snapshot(ig_mm *mm, void (*f)(const ig_mm_row *rows, int n, void *ctx), void *ctx)
{
    pthread_mutex_lock(&mm->lock);
    qsort(mm->models, (size_t)mm->n_models, sizeof(entry), by_name);
    int n = 0;
    for (int m = 0; m < mm->n_models; m++) n += mm->models[m].n_slots + 1;
    ig_mm_row *rows = calloc((size_t)n + 1, sizeof(ig_mm_row));
    n = 0;
    for (int m = 0; m < mm->n_models && rows; m++) {
        entry *e = &mm->models[m];
        qsort(e->slots, (size_t)e->n_slots, sizeof(slot), by_version);
        if (e->failed && e->n_slots == 0)
            rows[n++] = (ig_mm_row){.name = e->name, .version = -1, .state = IG_STATE_UNAVAILABLE, .reason = e->reason};
        /* A model-wide failure (config.pbtxt no longer parses) shows on the versions still serving. */
        for (int s = 0; s < e->n_slots; s++) {
            ig_mm_row *r = &rows[n++];
            *r = (ig_mm_row){.name = e->name, .version = e->slots[s].version, .state = e->slots[s].state,
                             .reason = e->slots[s].reason[0] || !e->failed ? e->slots[s].reason : e->reason,
                             .s = e->slots[s].live ? &e->slots[s].live->s : NULL};
            snprintf(r->version_str, sizeof(r->version_str), "%lld", (long long)e->slots[s].version);
        }
    }
    f(rows, rows ? n : 0, ctx);
    pthread_mutex_unlock(&mm->lock);
    free(rows);
}

/* Model warmup (config model_warmup): requests run through a freshly loaded version's scheduler
 * before it is reported ready, so the first client does not pay for plan building. */
#ifndef IG_SERVING_WARMUP_H
#define IG_SERVING_WARMUP_H

#include "serving/config.h"
#include "serving/scheduler.h"

/* Runs every warmup of cfg (count times each, at least once) and waits for them; fails with the
 * first request's reason. */
int ig__warmup_run(ig_sched *sched, const ig_model_config *cfg, ig_error *err);

#endif

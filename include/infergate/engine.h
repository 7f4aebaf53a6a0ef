/* The engine's public API: load an ONNX model once, then run it from one or more runners.
 *
 * A model is immutable after load and may be shared by threads. A runner belongs to one thread at a
 * time: it owns the shape-specialised plans it has built (one per distinct set of input shapes) and
 * the memory they execute in. Packed weights are shared by all plans and runners of a model. */
#ifndef INFERGATE_ENGINE_H
#define INFERGATE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "infergate/error.h"
#include "infergate/tensor.h"

typedef struct ig_model ig_model;
typedef struct ig_runner ig_runner;

typedef struct ig_model_options {
    int n_threads; /* intra-op threads per run; 0 = number of online cores */
} ig_model_options;

/* A graph input or output as the model declares it. A dim is dims[k] >= 0 when fixed, else -1 with
 * dim_params[k] naming it (or NULL). ndim is -1 when the rank is not declared. */
typedef struct ig_io_info {
    const char *name;
    ig_dtype dtype;
    int ndim;
    int64_t dims[IG_MAX_DIMS];
    const char *dim_params[IG_MAX_DIMS];
} ig_io_info;

/* Loads and checks a model: every node must have a kernel, else this fails naming the op and node. */
int ig_model_load(const char *path, const ig_model_options *opts, ig_model **out, ig_error *err);
void ig_model_free(ig_model *m);

int ig_model_num_inputs(const ig_model *m);
int ig_model_num_outputs(const ig_model *m);
/* Borrowed; valid until ig_model_free. */
const ig_io_info *ig_model_input(const ig_model *m, int i);
const ig_io_info *ig_model_output(const ig_model *m, int i);
int ig_model_find_input(const ig_model *m, const char *name);
int ig_model_threads(const ig_model *m);

/* Facts for `inspect`: opsets, op histogram, weight bytes. */
typedef struct ig_model_summary {
    int64_t ir_version;
    const char *producer;
    int n_opsets;
    const char *const *opset_domains;
    const int64_t *opset_versions;
    size_t weight_bytes;
    int n_nodes; /* including subgraphs */
} ig_model_summary;
void ig_model_get_summary(const ig_model *m, ig_model_summary *out);
/* Calls f once per distinct (domain, op) with its node count and whether a kernel implements it. */
void ig_model_foreach_op(const ig_model *m, void (*f)(const char *domain, const char *op, int count, int supported,
                                                      void *ctx),
                         void *ctx);
/* Opens a model for inspection only: like ig_model_load but does not fail on unsupported ops. */
int ig_model_open(const char *path, ig_model **out, ig_error *err);

int ig_runner_create(ig_model *m, ig_runner **out, ig_error *err);
void ig_runner_free(ig_runner *r);

/* Runs the model. inputs[i] binds model input i (ig_model_input order); its data is borrowed for the
 * call. On success outputs[0..ig_model_num_outputs) are filled; their data is borrowed and valid until
 * the next run on r or ig_runner_free. Input dtype, rank and dims are checked against the model, and
 * a mismatch fails with a reason naming the input. */
int ig_runner_run(ig_runner *r, const ig_tensor *inputs, ig_tensor *outputs, ig_error *err);

/* Bytes of the runner's activation buffer: the largest planned layout among its plans so far. */
size_t ig_runner_activation_bytes(const ig_runner *r);

/* Per-op timing of the runs that follow (off by default; costs two clock reads per step). */
void ig_runner_set_profiling(ig_runner *r, int on);
/* Calls f for every op type timed so far, slowest total first. */
void ig_runner_profile(const ig_runner *r, void (*f)(const char *op, long long calls, double total_ms, void *ctx),
                       void *ctx);

#endif

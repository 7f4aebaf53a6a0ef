/* Shared pieces of the ai.onnx.ml kernels: the entry points the ml table lists, input conversion to
 * double, and the post_transform score functions several classifiers and regressors apply. */
#ifndef IG_ENGINE_KERNELS_ML_OPS_H
#define IG_ENGINE_KERNELS_ML_OPS_H

#include <stdbool.h>

#include "engine/kernels/kernel.h"

#define IG_ML_TYPES_NUM                                                                                      \
    (IG_TYPE(IG_DT_FLOAT) | IG_TYPE(IG_DT_DOUBLE) | IG_TYPE(IG_DT_INT64) | IG_TYPE(IG_DT_INT32))

enum { IG_ML_POST_NONE, IG_ML_POST_LOGISTIC, IG_ML_POST_SOFTMAX, IG_ML_POST_SOFTMAX_ZERO, IG_ML_POST_PROBIT };

/* Parses the node's post_transform attribute into *post; fails the step on an unknown name. */
int ig__ml_post_parse(const ig_kstep *s, ig_error *err, int *post);
/* Applies a post_transform to one row of n scores in place. */
void ig__ml_post_apply(int post, double *row, int n);
double ig__ml_sigmoid(double x);

/* Reads X as a batch of rows: [N,C] or [C] (one row). Fails the step otherwise. */
int ig__ml_rows(const ig_kstep *s, ig_error *err, const ig_tensor *x, int64_t *n, int64_t *c);
/* Converts n elements of a float/double/int64/int32 tensor to double. */
void ig__ml_to_double(const ig_tensor *t, double *dst, int64_t n);
/* STRINGS attribute: element count in *count, NULL when absent. */
const ig_string *ig__ml_attr_strings(const ig_node *n, const char *name, int *count);
/* Sets a shape of up to two dims. */
void ig__ml_set_out2(ig_kstep *s, int i, ig_dtype dt, int ndim, int64_t d0, int64_t d1);

#define IG__ML_DECL(op)                                                                                      \
    int ig__ml_##op##_plan(ig_kstep *s, ig_error *err);                                                      \
    int ig__ml_##op##_run(ig_kstep *s);
IG__ML_DECL(linear_classifier)
IG__ML_DECL(linear_regressor)
IG__ML_DECL(tree_classifier)
IG__ML_DECL(tree_regressor)
IG__ML_DECL(scaler)
IG__ML_DECL(normalizer)
IG__ML_DECL(binarizer)
IG__ML_DECL(imputer)
IG__ML_DECL(feature_vectorizer)
IG__ML_DECL(array_feature_extractor)
IG__ML_DECL(label_encoder)
IG__ML_DECL(one_hot_encoder)
IG__ML_DECL(zipmap)
#undef IG__ML_DECL
void ig__ml_tree_destroy(void *state);
void ig__ml_label_encoder_destroy(void *state);
void ig__ml_one_hot_encoder_destroy(void *state);

#endif

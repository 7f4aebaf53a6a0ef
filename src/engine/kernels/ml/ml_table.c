/* Table of the ai.onnx.ml kernels (see kernel.h); implementations in the other files of this folder. */
#include <stdlib.h>

#include "engine/kernels/ml/ml_ops.h"

#define ML "ai.onnx.ml"
#define NUM IG_ML_TYPES_NUM
#define ROW(op, since, until, types, fn, destroy)                                                            \
    {                                                                                                        \
        ML, op, since, until, types, 0, "ref", ig__ml_##fn##_plan, ig__ml_##fn##_run, destroy, 0             \
    }

const ig_kernel_def ig__kernels_ml[] = {
    ROW("LinearClassifier", 1, 0, NUM, linear_classifier, free),
    ROW("LinearRegressor", 1, 0, NUM, linear_regressor, free),
    ROW("TreeEnsembleClassifier", 1, 0, NUM, tree_classifier, ig__ml_tree_destroy),
    ROW("TreeEnsembleRegressor", 1, 0, NUM, tree_regressor, ig__ml_tree_destroy),
    ROW("Scaler", 1, 0, NUM, scaler, NULL),
    ROW("Normalizer", 1, 0, NUM, normalizer, NULL),
    ROW("Binarizer", 1, 0, NUM, binarizer, NULL),
    ROW("Imputer", 1, 0, NUM, imputer, NULL),
    ROW("FeatureVectorizer", 1, 0, 0, feature_vectorizer, NULL),
    ROW("ArrayFeatureExtractor", 1, 0, NUM | IG_TYPE(IG_DT_STRING), array_feature_extractor, NULL),
    ROW("LabelEncoder", 1, 3, IG_TYPE(IG_DT_INT64) | IG_TYPE(IG_DT_STRING) | IG_TYPE(IG_DT_FLOAT),
        label_encoder, ig__ml_label_encoder_destroy),
    ROW("OneHotEncoder", 1, 0, NUM | IG_TYPE(IG_DT_STRING), one_hot_encoder, ig__ml_one_hot_encoder_destroy),
    ROW("ZipMap", 1, 0, 0, zipmap, NULL),
    {0},
};

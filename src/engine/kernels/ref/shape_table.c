/* Table of the shape reference kernels (see kernel.h). These ops move elements without looking at
 * their values, so nearly all accept every dtype. */
#include <stdlib.h>

#include "engine/kernels/ref/shape_common.h"

#define K(op, since, until, plan, run, destroy, flags)                                                       \
    {                                                                                                        \
        "", op, since, until, 0, 0, "ref", plan, run, destroy, flags                                         \
    }
#define KC(op, plan) K(op, 1, 0, ig__shape_##plan##_plan, ig__shape_copy_run, NULL, IG_KF_ALIAS)
#define KS(op, name) K(op, 1, 0, ig__shape_##name##_plan, ig__shape_##name##_run, free, 0)
#define KN(op, name) K(op, 1, 0, ig__shape_##name##_plan, ig__shape_##name##_run, NULL, 0)

const ig_kernel_def ig__kernels_shape[] = {
    KC("Reshape", reshape),
    KC("Flatten", flatten),
    KC("Squeeze", squeeze),
    KC("Unsqueeze", unsqueeze),
    KC("Identity", identity),
    KS("Transpose", transpose),
    KS("Concat", concat),
    KS("Split", split),
    KS("Slice", slice),
    KS("Gather", gather),
    KS("GatherElements", gather_elements),
    KS("GatherND", gathernd),
    KS("ScatterND", scatternd),
    KS("ScatterElements", scatter_elements),
    K("Scatter", 9, 10, ig__shape_scatter_elements_plan, ig__shape_scatter_elements_run, free, 0),
    KN("Tile", tile),
    KS("Pad", pad),
    K("Shape", 1, 0, ig__shape_shape_plan, ig__shape_shape_run, free, IG_KF_SHAPE_ONLY),
    K("Size", 1, 0, ig__shape_size_plan, ig__shape_size_run, NULL, IG_KF_SHAPE_ONLY),
    KS("Constant", constant),
    KS("ConstantOfShape", constant_of_shape),
    KN("Range", range),
    KS("EyeLike", eyelike),
    KS("OneHot", onehot),
    KS("Trilu", trilu),
    KS("DepthToSpace", depth_to_space),
    KS("SpaceToDepth", space_to_depth),
    KS("ReverseSequence", reverse_sequence),
    KN("Dropout", dropout),
    KS("Compress", compress),
    KN("NonZero", nonzero),
    K("Unique", 1, 0, ig__shape_unique_plan, ig__shape_unique_run, ig__shape_unique_destroy, 0),
    {0},
};

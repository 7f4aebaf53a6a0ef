/* Table of the ml kernels (see kernel.h). */
#include "engine/kernels/kernel.h"

const ig_kernel_def ig__kernels_ml[] = {
    {0},
};

/* Table of the reduce reference kernels (see kernel.h). */
#include "engine/kernels/kernel.h"

const ig_kernel_def ig__kernels_reduce[] = {
    {0},
};

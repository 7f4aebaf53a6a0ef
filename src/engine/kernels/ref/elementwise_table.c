/* Table of the elementwise reference kernels (see kernel.h). */
#include "engine/kernels/kernel.h"

const ig_kernel_def ig__kernels_elementwise[] = {
    {0},
};

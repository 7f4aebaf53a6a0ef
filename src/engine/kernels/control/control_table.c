/* Table of the control-flow kernels (see kernel.h): If, Loop, Scan. They run subgraphs and allocate
 * their outputs at run time. */
#include "engine/kernels/control/control_ops.h"

#define ROW(op, since, fn)                                                                                   \
    {                                                                                                        \
        "", op, since, 0, 0, 0, "ref", ig__ctl_plan, ig__ctl_##fn##_run, NULL, IG_KF_ALLOCS_OUTPUTS          \
    }

const ig_kernel_def ig__kernels_control[] = {
    ROW("If", 1, if),
    ROW("Loop", 1, loop),
    ROW("Scan", 8, scan),
    {0},
};

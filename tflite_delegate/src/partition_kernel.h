// The delegate kernel: one partition of claimed nodes (1xN CONV_2D / FULLY_CONNECTED and the glue
// between them) run in execution order as steps (partition_steps.h) on the onexn kernels.
#ifndef ONEXN_DELEGATE_PARTITION_KERNEL_H_
#define ONEXN_DELEGATE_PARTITION_KERNEL_H_

#include "onexn_tflite_abi.h"

namespace onexn {

// The registration passed to ReplaceNodeSubsetsWithDelegateKernels; its init takes the verified steps
// of the partition's nodes from the delegate state.
TfLiteRegistration KernelRegistration();

}  // namespace onexn

#endif  // ONEXN_DELEGATE_PARTITION_KERNEL_H_

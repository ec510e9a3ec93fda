// The delegate's Prepare (TfLiteDelegate::Prepare), called by the runtime once per graph: read the
// graph's metadata records, claim nodes, plan the partitions and replace them with delegate kernels.
// Everything else stays with the stock runtime, which applies XNNPACK afterwards.
#ifndef ONEXN_DELEGATE_DELEGATE_PREPARE_H_
#define ONEXN_DELEGATE_DELEGATE_PREPARE_H_

#include "onexn_tflite_abi.h"

namespace onexn {

TfLiteStatus PrepareDelegate(TfLiteContext* context, TfLiteDelegate* delegate);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_DELEGATE_PREPARE_H_

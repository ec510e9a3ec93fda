// The abi_probe option of the testing library (libonexn_delegate_testing.so, built with ONEXN_TESTING;
// the production library rejects the option): tests/test_abi.py proves the hand-written ABI with it.
//   abi_probe=1: the report gets "probe": the graph as read before the delegate's Prepare, and the
//                delegate kernel nodes after it (testing/abi_probe.h).
//   abi_probe=2: Prepare fails with a formatted message through TfLiteContext::ReportError.
#ifndef ONEXN_DELEGATE_TESTING_PROBED_PREPARE_H_
#define ONEXN_DELEGATE_TESTING_PROBED_PREPARE_H_

#include "onexn_tflite_abi.h"

namespace onexn {

// The delegate's Prepare (PrepareDelegate) with the probe around it.
TfLiteStatus ProbedPrepare(TfLiteContext* context, TfLiteDelegate* delegate);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_TESTING_PROBED_PREPARE_H_

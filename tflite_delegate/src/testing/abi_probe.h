// What the delegate reads through the hand-written TFLite ABI, as JSON, so that tests/test_abi.py can
// compare it with what the Python interpreter and the model file say (testing library only).
#ifndef ONEXN_DELEGATE_TESTING_ABI_PROBE_H_
#define ONEXN_DELEGATE_TESTING_ABI_PROBE_H_

#include <string>

#include "onexn_tflite_abi.h"

namespace onexn {

// The graph as seen by the delegate's Prepare before it replaces anything (a JSON object).
std::string ProbeGraph(TfLiteContext* context);

// The delegate kernel nodes after ReplaceNodeSubsetsWithDelegateKernels: their registration as stored
// by the runtime, compared field by field with the one passed by value (a JSON object).
std::string ProbeDelegateNodes(TfLiteContext* context, TfLiteDelegate* delegate,
                               const TfLiteRegistration& passed);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_TESTING_ABI_PROBE_H_

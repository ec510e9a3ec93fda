#include "testing/probed_prepare.h"

#include <string>

#include "delegate_prepare.h"
#include "delegate_state.h"
#include "partition_kernel.h"
#include "testing/abi_probe.h"

namespace onexn {

TfLiteStatus ProbedPrepare(TfLiteContext* context, TfLiteDelegate* delegate) {
  auto* state = static_cast<DelegateState*>(delegate->data_);
  if (state->options.abi_probe == 2) {
    int ordinal = 0;
    BeginGraphReport(state, context, &ordinal);  // as PrepareDelegate would, before it fails
    // Proves ReportError's place in TfLiteContext and its varargs: the runtime must show this message.
    context->ReportError(context, "onexn abi probe: ReportError works (%s, %d)", "varargs", 12345);
    return kTfLiteDelegateError;
  }
  const std::string before = ProbeGraph(context);
  const TfLiteStatus status = PrepareDelegate(context, delegate);
  if (GraphReport* report = state->ReportFor(context)) {
    report->probe_json = "{\"before\":" + before + ",\"after\":" +
                         ProbeDelegateNodes(context, delegate, KernelRegistration()) + "}";
  }
  return status;
}

}  // namespace onexn

// The external-delegate plugin interface (what load_delegate(path, options) calls) and the report
// export. These are the library's only exported symbols (onexn_delegate.lds).
#include <cstdint>
#include <string>

#include "delegate_prepare.h"
#include "delegate_state.h"
#include "onexn_tflite_abi.h"
#include "options.h"
#include "report.h"
#ifdef ONEXN_TESTING
#include "testing/probed_prepare.h"
#endif

#define ONEXN_EXPORT extern "C" __attribute__((visibility("default")))

// On a bad option it reports the reason through report_error and returns NULL, which the Python
// runtime turns into a ValueError.
ONEXN_EXPORT TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t num_options,
                                                           void (*report_error)(const char*)) {
  // ctypes passes the count as a C int; only its low 32 bits are meaningful.
  const uint32_t count = uint32_t(num_options);
  std::string err;
  onexn::DelegateOptions options;
  if (count > 64 || (count > 0 && (keys == nullptr || values == nullptr))) {
    err = "onexn delegate: invalid option arrays";
  } else {
    err = onexn::ParseOptions(keys, values, int(count), &options);
    if (!err.empty()) err = "onexn delegate: " + err;
  }
  if (!err.empty()) {
    if (report_error != nullptr) report_error(err.c_str());
    return nullptr;
  }
  auto* state = new onexn::DelegateState;
  state->options = options;
  state->delegate.data_ = state;
  state->delegate.Prepare = onexn::PrepareDelegate;
#ifdef ONEXN_TESTING
  if (options.abi_probe != 0) state->delegate.Prepare = onexn::ProbedPrepare;
#endif
  // Graphs with data-dependent shapes: without this flag the runtime refuses the whole delegate (the
  // Python Interpreter then raises a bare RuntimeError). The kernels recompute their shapes in their own
  // Prepare, which the runtime calls again after a dynamic tensor was resized.
  state->delegate.flags = kTfLiteDelegateFlagsAllowDynamicTensors;
  state->delegate.opaque_delegate_builder = nullptr;
  return &state->delegate;
}

ONEXN_EXPORT void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate) {
  if (delegate == nullptr) return;
  onexn::ReleaseState(static_cast<onexn::DelegateState*>(delegate->data_));
}

// The report of the last Prepare as JSON. The string stays valid until the next call or until the
// delegate is destroyed.
ONEXN_EXPORT const char* onexn_delegate_report_json(TfLiteDelegate* delegate) {
  if (delegate == nullptr || delegate->data_ == nullptr) return "{}";
  auto* state = static_cast<onexn::DelegateState*>(delegate->data_);
  state->report_json = onexn::BuildReportJson(*state);
  return state->report_json.c_str();
}

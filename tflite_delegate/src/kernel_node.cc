// The delegate kernel: one TFLite node (CONV_2D or FULLY_CONNECTED) run by the onexn 1xN kernels.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "conv_geometry.h"
#include "delegate_state.h"

namespace onexn {
namespace {

// user_data of one delegate kernel node.
struct KernelNode {
  DelegateState* state = nullptr;
  const TfLiteContext* context = nullptr;
  NodePlan plan;
  onexn_conv* conv = nullptr;  // packed for `shape`
  onexn_conv_shape shape{};
};

constexpr char kKernelName[] = "onexn_1xn";

void* Init(TfLiteContext* context, const char* buffer, size_t /*length*/) {
  const auto* params = reinterpret_cast<const TfLiteDelegateParams*>(buffer);
  if (params == nullptr || params->delegate == nullptr || params->nodes_to_replace == nullptr) return nullptr;
  auto* state = static_cast<DelegateState*>(params->delegate->data_);
  // The partition is the claimed node, possibly with the DENSIFY of its compact weight.
  auto it = state->pending.end();
  for (int i = 0; i < params->nodes_to_replace->size && it == state->pending.end(); ++i) {
    it = state->pending.find({context, params->nodes_to_replace->data[i]});
  }
  if (it == state->pending.end()) return nullptr;
  auto* k = new KernelNode;
  k->state = state;
  k->context = context;
  k->plan = std::move(it->second.plan);
  k->conv = it->second.conv;
  k->shape = it->second.shape;
  state->pending.erase(it);
  state->live_kernels++;
  state->refs++;
  return k;
}

void Free(TfLiteContext* /*context*/, void* buffer) {
  auto* k = static_cast<KernelNode*>(buffer);
  if (k == nullptr) return;
  k->state->live_kernels--;
  if (k->conv != nullptr) onexn_conv_destroy(k->conv);
  ReleaseState(k->state);
  delete k;
}

bool SameDims(const TfLiteIntArray* dims, const std::vector<int>& want) {
  return dims != nullptr && size_t(dims->size) == want.size() &&
         std::equal(want.begin(), want.end(), dims->data);
}

TfLiteStatus ResizeOutput(TfLiteContext* context, TfLiteTensor* output, const std::vector<int>& dims) {
  if (SameDims(output->dims, dims)) return kTfLiteOk;
  // ResizeTensor takes ownership of the array and frees it with free(), as TfLiteIntArrayFree does.
  // (ResizeTensorExplicit, which would copy, is NULL in the TFLite runtimes: it exists for TFLM.)
  auto* arr = static_cast<TfLiteIntArray*>(std::malloc(sizeof(int) * (dims.size() + 1)));
  if (arr == nullptr) return kTfLiteError;
  arr->size = int(dims.size());
  std::copy(dims.begin(), dims.end(), arr->data);
  return context->ResizeTensor(context, output, arr);
}

TfLiteStatus Prepare(TfLiteContext* context, TfLiteNode* node) {
  auto* k = static_cast<KernelNode*>(node->user_data);
  if (k == nullptr) {
    context->ReportError(context, "onexn: delegate kernel was not initialized");
    return kTfLiteError;
  }
  const NodePlan& p = k->plan;
  Geometry g;
  const std::string err = ComputeGeometry(p, context->tensors[p.input].dims, &g);
  if (!err.empty()) {
    context->ReportError(context, "onexn: node %d: %s", p.node, err.c_str());
    return kTfLiteError;
  }
  if (ResizeOutput(context, &context->tensors[p.output], g.output_dims) != kTfLiteOk) return kTfLiteError;
  if (k->conv != nullptr && SameShape(k->shape, g.shape)) return kTfLiteOk;

  // New shapes (e.g. the input was resized): pack again for them.
  const onexn_block_index index = {p.n, int(p.group_ptr.size()) - 1, p.group_ptr.data(), p.kept_cin.data()};
  const float* bias = p.bias >= 0 ? context->tensors[p.bias].data.f : nullptr;
  std::vector<float> scratch;
  const float* weights = PlanWeights(context, p, &scratch);
  char msg[256] = {0};
  onexn_conv* conv = onexn_conv_create(&g.shape, &index, weights, bias, k->state->options.isa, msg, sizeof(msg));
  if (conv == nullptr) {
    context->ReportError(context, "onexn: node %d: %s", p.node, msg);
    return kTfLiteError;
  }
  if (k->conv != nullptr) onexn_conv_destroy(k->conv);
  k->conv = conv;
  k->shape = g.shape;
  if (GraphReport* report = k->state->ReportFor(context)) {
    report->kernel_names[p.node] = onexn_conv_kernel_name(conv);
  }
  return kTfLiteOk;
}

TfLiteStatus Invoke(TfLiteContext* context, TfLiteNode* node) {
  auto* k = static_cast<KernelNode*>(node->user_data);
  const float* input = context->tensors[k->plan.input].data.f;
  float* output = context->tensors[k->plan.output].data.f;
  if (k->conv == nullptr || input == nullptr || output == nullptr) {
    context->ReportError(context, "onexn: node %d invoked before it was prepared", k->plan.node);
    return kTfLiteError;
  }
  onexn_conv_run(k->conv, input, output, k->state->pool);
  return kTfLiteOk;
}

const char* ProfilingString(const TfLiteContext* /*context*/, const TfLiteNode* node) {
  const auto* k = static_cast<const KernelNode*>(node->user_data);
  return k != nullptr && k->conv != nullptr ? onexn_conv_kernel_name(k->conv) : kKernelName;
}

}  // namespace

TfLiteRegistration KernelRegistration() {
  TfLiteRegistration r;
  std::memset(&r, 0, sizeof(r));
  r.init = Init;
  r.free = Free;
  r.prepare = Prepare;
  r.invoke = Invoke;
  r.profiling_string = ProfilingString;
  r.builtin_code = kTfLiteBuiltinDelegate;
  r.custom_name = kKernelName;
  r.version = 1;
  return r;
}

}  // namespace onexn

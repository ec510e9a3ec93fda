#include "partition_steps.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "conv_geometry.h"

namespace onexn {
namespace {

size_t ElementCount(const std::vector<int>& dims) {
  size_t n = 1;
  for (int v : dims) n *= size_t(v);
  return n;
}

// Makes *pool for `for_shape` unless it was made for that shape already.
std::string RemakePool(onexn_pool_kind kind, const onexn_pool_shape& for_shape, onexn_isa isa,
                       std::unique_ptr<onexn_pool, PoolDeleter>* pool, onexn_pool_shape* shape) {
  if (*pool != nullptr && SamePoolShape(*shape, for_shape)) return "";
  char msg[256] = {0};
  onexn_pool* made = onexn_pool_create(kind, &for_shape, isa, msg, sizeof(msg));
  if (made == nullptr) return msg[0] != '\0' ? msg : "no reason given";
  pool->reset(made);
  *shape = for_shape;
  return "";
}

}  // namespace

onexn_conv* ConvStep::PackedFor(const TfLiteContext* context, const onexn_conv_shape& for_shape, onexn_isa isa,
                                std::string* err) const {
  const onexn_block_index index = {plan.n, int(plan.group_ptr.size()) - 1, plan.group_ptr.data(),
                                   plan.kept_cin.data()};
  const float* bias = plan.bias >= 0 ? context->tensors[plan.bias].data.f : nullptr;
  std::vector<float> scratch;
  const float* weights = PlanWeights(context, plan, &scratch);
  char msg[256] = {0};
  onexn_conv* packed = onexn_conv_create_planned(&for_shape, &index, weights, bias, isa, dense, msg, sizeof(msg));
  if (packed == nullptr) *err = msg[0] != '\0' ? msg : "no reason given";
  return packed;
}

std::string ConvStep::Pack(const TfLiteContext* context, const onexn_conv_shape& for_shape, onexn_isa isa) {
  std::string err;
  onexn_conv* packed = PackedFor(context, for_shape, isa, &err);
  if (packed == nullptr) return err;
  conv.reset(packed);
  shape = for_shape;
  onexn_conv_get_choice(packed, &choice);
  every_block.clear();
  if (choice.dense) {
    char why[160];
    if (dense == ONEXN_DENSE_ALWAYS) {
      std::snprintf(why, sizeof(why), "option dense=always");
    } else {
      std::snprintf(why, sizeof(why), "faster than the kept 1x%d blocks: estimated %.3g ms against %.3g ms (1 thread)",
                    plan.n, 1e-6 * choice.dense_ns, 1e-6 * choice.sparse_ns);
    }
    every_block = why;
  }
  return "";
}

namespace {

// The geometry of a CONV_2D / FULLY_CONNECTED for input dims `dims`; "" or the reason.
std::string PlanGeometry(const NodePlan& plan, const Dims& dims, Geometry* g) {
  std::vector<int> storage(dims.size() + 1);  // a TfLiteIntArray: size, then the dims
  storage[0] = int(dims.size());
  std::copy(dims.begin(), dims.end(), storage.begin() + 1);
  return ComputeGeometry(plan, reinterpret_cast<const TfLiteIntArray*>(storage.data()), g);
}

}  // namespace

std::string ConvStep::Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in,
                              std::vector<int>* out) {
  Geometry g;
  const std::string err = PlanGeometry(plan, in[0], &g);
  if (!err.empty()) return err;
  *out = g.output_dims;
  if (conv != nullptr && SameShape(shape, g.shape)) return "";
  return Pack(context, g.shape, isa);
}

void ConvStep::Run(const float* const* in, float* out, onexn_isa /*isa*/, onexn_threadpool* pool) const {
  onexn_conv_run(conv.get(), in[0], out, pool);
}

void ConvStep::RunAdd(const float* in, const float* addend, float* out, float out_min, float out_max,
                      onexn_threadpool* pool) const {
  onexn_conv_run_add(conv.get(), in, addend, out, out_min, out_max, pool);
}

const char* ConvStep::KernelName(onexn_isa /*isa*/) const {
  return conv != nullptr ? onexn_conv_kernel_name(conv.get()) : "chosen once the input shape is known (run time)";
}

std::string QConvStep::Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in,
                               std::vector<int>* out) {
  Geometry g;
  const std::string err = PlanGeometry(plan, in[0], &g);
  if (!err.empty()) return err;
  *out = g.output_dims;
  if (conv != nullptr && SameShape(shape, g.shape)) return "";
  const onexn_block_index index = {plan.n, int(plan.group_ptr.size()) - 1, plan.group_ptr.data(),
                                   plan.kept_cin.data()};
  const onexn_qconv_quant quant = {plan.input_scale, plan.input_zero_point, plan.output_scale,
                                   plan.output_zero_point, plan.weight_scales.data()};
  const auto* weights = static_cast<const int8_t*>(context->tensors[plan.weights].data.data);
  const auto* bias = plan.bias >= 0 ? static_cast<const int32_t*>(context->tensors[plan.bias].data.data) : nullptr;
  char msg[256] = {0};
  onexn_qconv* packed = onexn_qconv_create(&g.shape, &index, weights, bias, &quant, amx ? ONEXN_ISA_AVX512AMX : isa,
                                           msg, sizeof(msg));
  if (packed == nullptr) return msg[0] != '\0' ? msg : "no reason given";
  conv.reset(packed);
  shape = g.shape;
  return "";
}

void QConvStep::Run(const float* const* in, float* out, onexn_isa /*isa*/, onexn_threadpool* pool) const {
  onexn_qconv_run(conv.get(), reinterpret_cast<const int8_t*>(in[0]), reinterpret_cast<int8_t*>(out), pool);
}

void QConvStep::RunAdd(const int8_t* in, const int8_t* addend, int8_t* out, const onexn_qadd_params& add,
                       int conv_operand, onexn_isa isa, onexn_threadpool* pool) const {
  onexn_qconv_run_add(conv.get(), in, addend, out, &add, conv_operand, isa, pool);
}

const char* QConvStep::KernelName(onexn_isa /*isa*/) const { return onexn_qconv_kernel_name(conv.get()); }

std::string DepthwiseStep::Pack(const TfLiteContext* context, const onexn_dwconv_shape& for_shape, onexn_isa isa) {
  const float* bias = plan.bias >= 0 ? context->tensors[plan.bias].data.f : nullptr;
  char msg[256] = {0};
  onexn_dwconv* packed =
      onexn_dwconv_create(&for_shape, context->tensors[plan.weights].data.f, bias, isa, msg, sizeof(msg));
  if (packed == nullptr) return msg[0] != '\0' ? msg : "no reason given";
  dw.reset(packed);
  shape = for_shape;
  return "";
}

std::string DepthwiseStep::Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in,
                                   std::vector<int>* out) {
  onexn_dwconv_shape for_shape;
  const std::string err = DepthwiseGeometry(plan, in[0], &for_shape, out);
  if (!err.empty()) return err;
  if (dw != nullptr && SameDwShape(shape, for_shape)) return "";
  return Pack(context, for_shape, isa);
}

void DepthwiseStep::Run(const float* const* in, float* out, onexn_isa /*isa*/, onexn_threadpool* pool) const {
  onexn_dwconv_run(dw.get(), in[0], out, pool);
}

const char* DepthwiseStep::KernelName(onexn_isa /*isa*/) const { return onexn_dwconv_kernel_name(dw.get()); }

std::string QDepthwiseStep::Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in,
                                    std::vector<int>* out) {
  onexn_dwconv_shape for_shape;
  const std::string err = DepthwiseGeometry(plan, in[0], &for_shape, out);
  if (!err.empty()) return err;
  if (dw != nullptr && SameDwShape(shape, for_shape)) return "";
  const onexn_qconv_quant quant = {plan.input_scales[0], plan.input_zero_points[0], plan.output_scale,
                                   plan.output_zero_point, plan.weight_scales.data()};
  const auto* weights = static_cast<const int8_t*>(context->tensors[plan.weights].data.data);
  const auto* bias = plan.bias >= 0 ? static_cast<const int32_t*>(context->tensors[plan.bias].data.data) : nullptr;
  char msg[256] = {0};
  onexn_qdwconv* made = onexn_qdwconv_create(&for_shape, weights, bias, &quant, isa, msg, sizeof(msg));
  if (made == nullptr) return msg[0] != '\0' ? msg : "no reason given";
  dw.reset(made);
  shape = for_shape;
  return "";
}

void QDepthwiseStep::Run(const float* const* in, float* out, onexn_isa /*isa*/, onexn_threadpool* pool) const {
  onexn_qdwconv_run(dw.get(), reinterpret_cast<const int8_t*>(in[0]), reinterpret_cast<int8_t*>(out), pool);
}

const char* QDepthwiseStep::KernelName(onexn_isa /*isa*/) const { return onexn_qdwconv_kernel_name(dw.get()); }

std::string AddStep::Prepare(const TfLiteContext* /*context*/, onexn_isa /*isa*/, const InputDims& in,
                             std::vector<int>* out) {
  const std::string err = GlueOutputDims(plan, in, out);
  if (!err.empty()) return err;
  count = ElementCount(*out);
  return ActivationRange(plan.activation, &out_min, &out_max) ? "" : "unsupported fused activation";
}

void AddStep::Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* pool) const {
  onexn_add_run(isa, in[0], in[1], out, count, out_min, out_max, pool);
}

const char* AddStep::KernelName(onexn_isa isa) const { return onexn_add_kernel_name(isa); }

std::string QAddStep::Prepare(const TfLiteContext* /*context*/, onexn_isa /*isa*/, const InputDims& in,
                              std::vector<int>* out) {
  const std::string err = GlueOutputDims(plan, in, out);
  if (!err.empty()) return err;
  count = ElementCount(*out);
  float lo, hi;
  if (!ActivationRange(plan.activation, &lo, &hi)) return "unsupported fused activation";
  char msg[256] = {0};
  if (onexn_qadd_init(&params, plan.input_scales[0], plan.input_zero_points[0], plan.input_scales[1],
                      plan.input_zero_points[1], plan.output_scale, plan.output_zero_point, lo, hi, msg,
                      sizeof(msg)) != 0) {
    return msg;
  }
  return "";
}

void QAddStep::Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* pool) const {
  onexn_qadd_run(isa, &params, reinterpret_cast<const int8_t*>(in[0]), reinterpret_cast<const int8_t*>(in[1]),
                 reinterpret_cast<int8_t*>(out), count, pool);
}

const char* QAddStep::KernelName(onexn_isa isa) const { return onexn_qadd_kernel_name(isa); }

std::string QMeanStep::Prepare(const TfLiteContext* /*context*/, onexn_isa /*isa*/, const InputDims& in,
                               std::vector<int>* out) {
  const std::string err = GlueOutputDims(plan, in, out);
  if (!err.empty()) return err;
  const std::vector<int>& d = in[0];
  batch = size_t(d[0]);
  channels = size_t(d[3]);
  char msg[256] = {0};
  if (onexn_qgavgpool_init(&params, plan.input_scales[0], plan.input_zero_points[0], plan.output_scale,
                           plan.output_zero_point, size_t(d[1]) * size_t(d[2]), msg, sizeof(msg)) != 0) {
    return msg;
  }
  return "";
}

void QMeanStep::Run(const float* const* in, float* out, onexn_isa /*isa*/, onexn_threadpool* /*pool*/) const {
  onexn_qgavgpool_run(&params, reinterpret_cast<const int8_t*>(in[0]), reinterpret_cast<int8_t*>(out), batch,
                      channels);
}

const char* QMeanStep::KernelName(onexn_isa /*isa*/) const { return "qs8-gavgpool-scalar"; }

std::string MeanStep::Prepare(const TfLiteContext* /*context*/, onexn_isa isa, const InputDims& in,
                              std::vector<int>* out) {
  const std::string err = GlueOutputDims(plan, in, out);
  if (!err.empty()) return err;
  const std::vector<int>& d = in[0];
  onexn_pool_shape whole{};
  whole.batch = d[0];
  whole.in_h = whole.kh = d[1];
  whole.in_w = whole.kw = d[2];
  whole.channels = d[3];
  whole.out_h = whole.out_w = whole.stride_h = whole.stride_w = 1;
  whole.out_min = -std::numeric_limits<float>::infinity();
  whole.out_max = std::numeric_limits<float>::infinity();
  return RemakePool(ONEXN_POOL_AVERAGE, whole, isa, &pool, &shape);
}

void MeanStep::Run(const float* const* in, float* out, onexn_isa /*isa*/, onexn_threadpool* threads) const {
  onexn_pool_run(pool.get(), in[0], out, threads);
}

const char* MeanStep::KernelName(onexn_isa /*isa*/) const { return onexn_pool_kernel_name(pool.get()); }

std::string PoolStep::Prepare(const TfLiteContext* /*context*/, onexn_isa isa, const InputDims& in,
                              std::vector<int>* out) {
  onexn_pool_shape for_shape;
  const std::string err = PoolGeometry(plan, in[0], &for_shape, out);
  if (!err.empty()) return err;
  const onexn_pool_kind kind = plan.builtin_code == kTfLiteBuiltinMaxPool2d ? ONEXN_POOL_MAX : ONEXN_POOL_AVERAGE;
  return RemakePool(kind, for_shape, isa, &pool, &shape);
}

void PoolStep::Run(const float* const* in, float* out, onexn_isa /*isa*/, onexn_threadpool* threads) const {
  onexn_pool_run(pool.get(), in[0], out, threads);
}

const char* PoolStep::KernelName(onexn_isa /*isa*/) const { return onexn_pool_kernel_name(pool.get()); }

std::string QMaxPoolStep::Prepare(const TfLiteContext* /*context*/, onexn_isa /*isa*/, const InputDims& in,
                                  std::vector<int>* out) {
  return PoolGeometry(plan, in[0], &shape, out);
}

void QMaxPoolStep::Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* /*threads*/) const {
  onexn_maxpool_x8_run(&shape, plan.output_scale, plan.output_zero_point, reinterpret_cast<const int8_t*>(in[0]),
                       reinterpret_cast<int8_t*>(out), isa);
}

const char* QMaxPoolStep::KernelName(onexn_isa isa) const { return onexn_maxpool_x8_kernel_name(isa); }

std::string PadStep::Prepare(const TfLiteContext* /*context*/, onexn_isa /*isa*/, const InputDims& in,
                             std::vector<int>* out) {
  const std::string err = GlueOutputDims(plan, in, out);
  if (!err.empty()) return err;
  in_dims.assign(in[0].begin(), in[0].end());
  before.assign(plan.pad_before.begin(), plan.pad_before.end());
  after.assign(plan.pad_after.begin(), plan.pad_after.end());
  return "";
}

void PadStep::Run(const float* const* in, float* out, onexn_isa /*isa*/, onexn_threadpool* pool) const {
  if (plan.int8) {
    onexn_pad_x8_run(reinterpret_cast<const int8_t*>(in[0]), reinterpret_cast<int8_t*>(out), in_dims.size(),
                     in_dims.data(), before.data(), after.data(), int8_t(plan.output_zero_point), pool);
  } else {
    onexn_pad_run(in[0], out, in_dims.size(), in_dims.data(), before.data(), after.data(), pool);
  }
}

const char* PadStep::KernelName(onexn_isa /*isa*/) const { return plan.int8 ? "x8-pad" : "f32-pad"; }

std::string ConcatStep::Prepare(const TfLiteContext* /*context*/, onexn_isa /*isa*/, const InputDims& in,
                                std::vector<int>* out) {
  const std::string err = GlueOutputDims(plan, in, out);
  if (!err.empty()) return err;
  const std::vector<int>& d = *out;
  outer = ElementCount(std::vector<int>(d.begin(), d.begin() + plan.axis));
  inner = ElementCount(std::vector<int>(d.begin() + plan.axis + 1, d.end()));
  sizes.clear();
  for (const std::vector<int>& i : in) sizes.push_back(size_t(i[plan.axis]));
  return "";
}

void ConcatStep::Run(const float* const* in, float* out, onexn_isa /*isa*/, onexn_threadpool* /*pool*/) const {
  onexn_concat_run(sizes.size(), in, sizes.data(), outer, inner, out);
}

const char* ConcatStep::KernelName(onexn_isa /*isa*/) const { return "f32-concat"; }

std::string ReshapeStep::Prepare(const TfLiteContext* /*context*/, onexn_isa /*isa*/, const InputDims& in,
                                 std::vector<int>* out) {
  const std::string err = GlueOutputDims(plan, in, out);
  bytes = ElementCount(in[0]) * (plan.int8 ? 1 : sizeof(float));
  return err;
}

void ReshapeStep::Run(const float* const* in, float* out, onexn_isa /*isa*/, onexn_threadpool* /*pool*/) const {
  std::memcpy(out, in[0], bytes);
}

const char* ReshapeStep::KernelName(onexn_isa /*isa*/) const { return plan.int8 ? "x8-copy" : "f32-copy"; }

std::string SoftmaxStep::Prepare(const TfLiteContext* /*context*/, onexn_isa /*isa*/, const InputDims& in,
                                 std::vector<int>* out) {
  const std::string err = GlueOutputDims(plan, in, out);
  if (!err.empty()) return err;
  channels = size_t(in[0].back());
  rows = ElementCount(in[0]) / channels;
  return "";
}

void SoftmaxStep::Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* /*pool*/) const {
  onexn_softmax_run(isa, in[0], out, rows, channels, plan.beta);
}

const char* SoftmaxStep::KernelName(onexn_isa isa) const { return onexn_softmax_kernel_name(isa); }

namespace {

template <typename Kind>
StepKernel WithPlan(GluePlan plan) {
  Kind step;
  step.plan = std::move(plan);
  return step;
}

}  // namespace

StepKernel GlueStep(GluePlan plan) {
  if (plan.int8) {
    switch (plan.builtin_code) {
      case kTfLiteBuiltinDepthwiseConv2d: return WithPlan<QDepthwiseStep>(std::move(plan));
      case kTfLiteBuiltinAdd: return WithPlan<QAddStep>(std::move(plan));
      case kTfLiteBuiltinMean: return WithPlan<QMeanStep>(std::move(plan));
      case kTfLiteBuiltinMaxPool2d: return WithPlan<QMaxPoolStep>(std::move(plan));
      case kTfLiteBuiltinPad:
      case kTfLiteBuiltinPadv2: return WithPlan<PadStep>(std::move(plan));
      default: return WithPlan<ReshapeStep>(std::move(plan));  // the int8 glue ops are IsInt8GlueOp's
    }
  }
  switch (plan.builtin_code) {
    case kTfLiteBuiltinAdd: return WithPlan<AddStep>(std::move(plan));
    case kTfLiteBuiltinMean: return WithPlan<MeanStep>(std::move(plan));
    case kTfLiteBuiltinMaxPool2d:
    case kTfLiteBuiltinAveragePool2d: return WithPlan<PoolStep>(std::move(plan));
    case kTfLiteBuiltinPad:
    case kTfLiteBuiltinPadv2: return WithPlan<PadStep>(std::move(plan));
    case kTfLiteBuiltinConcatenation: return WithPlan<ConcatStep>(std::move(plan));
    case kTfLiteBuiltinReshape: return WithPlan<ReshapeStep>(std::move(plan));
    case kTfLiteBuiltinSoftmax: return WithPlan<SoftmaxStep>(std::move(plan));
    default: return WithPlan<DepthwiseStep>(std::move(plan));
  }
}

const char* StepKernelName(const StepKernel& k, onexn_isa isa) {
  return std::visit([isa](const auto& s) { return s.KernelName(isa); }, k);
}

Step::Step(StepKernel k) : kernel(std::move(k)) {
  StepNode n = std::visit([](const auto& s) { return s.Node(); }, kernel);
  node = n.node;
  code = n.builtin_code;
  inputs = std::move(n.inputs);
  output = n.output;
}

std::map<int, int> ReaderCounts(const std::vector<Step>& steps) {
  std::map<int, int> readers;
  for (const Step& s : steps) {
    for (int t : s.inputs) readers[t]++;
  }
  return readers;
}

}  // namespace onexn

#include "conv_geometry.h"

#include <climits>
#include <cmath>
#include <cstdint>
#include <string>

namespace onexn {
namespace {

constexpr int64_t kMaxElements = INT_MAX;

std::string DimsString(const TfLiteIntArray* dims) {
  std::string s = "[";
  for (int i = 0; i < dims->size; ++i) s += (i ? ", " : "") + std::to_string(dims->data[i]);
  return s + "]";
}

}  // namespace

int OutputSize(TfLitePadding padding, int in, int k, int stride, int dilation) {
  const int effective = (k - 1) * dilation + 1;
  if (padding == kTfLitePaddingSame) return (in + stride - 1) / stride;
  return (in - effective + stride) / stride;
}

int LeadingPadding(int in, int out, int k, int stride, int dilation) {
  const int effective = (k - 1) * dilation + 1;
  const int total = (out - 1) * stride + effective - in;
  return total > 0 ? total / 2 : 0;
}

bool ActivationRange(TfLiteFusedActivation act, float* lo, float* hi) {
  switch (act) {
    case kTfLiteActNone: *lo = -INFINITY, *hi = INFINITY; return true;
    case kTfLiteActRelu: *lo = 0.0f, *hi = INFINITY; return true;
    case kTfLiteActReluN1To1: *lo = -1.0f, *hi = 1.0f; return true;
    case kTfLiteActRelu6: *lo = 0.0f, *hi = 6.0f; return true;
    default: return false;
  }
}

bool SameShape(const onexn_conv_shape& a, const onexn_conv_shape& b) {
  return a.batch == b.batch && a.in_h == b.in_h && a.in_w == b.in_w && a.cin == b.cin &&
         a.out_h == b.out_h && a.out_w == b.out_w && a.cout == b.cout && a.kh == b.kh && a.kw == b.kw &&
         a.stride_h == b.stride_h && a.stride_w == b.stride_w && a.dilation_h == b.dilation_h &&
         a.dilation_w == b.dilation_w && a.pad_top == b.pad_top && a.pad_left == b.pad_left &&
         a.out_min == b.out_min && a.out_max == b.out_max;
}

std::string ComputeGeometry(const NodePlan& plan, const TfLiteIntArray* dims, Geometry* out) {
  if (dims == nullptr || dims->size < 1) return "input shape unknown";
  int64_t elements = 1;
  for (int i = 0; i < dims->size; ++i) {
    if (dims->data[i] <= 0) return "input shape " + DimsString(dims) + " is not static";
    elements *= dims->data[i];
    if (elements > kMaxElements) return "input tensor too large";
  }
  Geometry g;
  onexn_conv_shape& s = g.shape;
  if (!ActivationRange(plan.activation, &s.out_min, &s.out_max)) return "unsupported fused activation";
  s.cin = plan.cin;
  s.cout = plan.cout;
  s.kh = plan.kh;
  s.kw = plan.kw;
  if (plan.builtin_code == kTfLiteBuiltinConv2d) {
    if (dims->size != 4) return "CONV_2D input is not 4-D";
    if (dims->data[3] != plan.cin) {
      return "input channels " + std::to_string(dims->data[3]) + " != filter input channels " +
             std::to_string(plan.cin) + " (grouped convolution)";
    }
    s.batch = dims->data[0];
    s.in_h = dims->data[1];
    s.in_w = dims->data[2];
    s.stride_h = plan.stride_h;
    s.stride_w = plan.stride_w;
    s.dilation_h = plan.dilation_h;
    s.dilation_w = plan.dilation_w;
    s.out_h = OutputSize(plan.padding, s.in_h, s.kh, s.stride_h, s.dilation_h);
    s.out_w = OutputSize(plan.padding, s.in_w, s.kw, s.stride_w, s.dilation_w);
    if (s.out_h <= 0 || s.out_w <= 0) return "the filter is larger than the input (empty output)";
    s.pad_top = LeadingPadding(s.in_h, s.out_h, s.kh, s.stride_h, s.dilation_h);
    s.pad_left = LeadingPadding(s.in_w, s.out_w, s.kw, s.stride_w, s.dilation_w);
    g.output_dims = {s.batch, s.out_h, s.out_w, s.cout};
  } else {
    if (elements % plan.cin != 0) return "input size is not a multiple of the weight's input size";
    const int rows = int(elements / plan.cin);
    if (plan.keep_num_dims && dims->data[dims->size - 1] != plan.cin) {
      return "keep_num_dims with an input whose last dimension != weight input size";
    }
    s.batch = 1;
    s.in_h = s.out_h = 1;
    s.in_w = s.out_w = rows;
    s.stride_h = s.stride_w = s.dilation_h = s.dilation_w = 1;
    s.pad_top = s.pad_left = 0;
    if (plan.keep_num_dims) {
      g.output_dims.assign(dims->data, dims->data + dims->size);
      g.output_dims.back() = plan.cout;
    } else {
      g.output_dims = {rows, plan.cout};
    }
  }
  if (int64_t(s.batch) * s.out_h * s.out_w * s.cout > kMaxElements) return "output tensor too large";
  *out = g;
  return "";
}

}  // namespace onexn

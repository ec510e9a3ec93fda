// Output shapes of the glue operators, computed the way TFLite computes them: at claim time to check the
// node, and in the partition's Prepare after every input resize.
#include <climits>
#include <cstdint>
#include <string>

#include "conv_geometry.h"
#include "glue_ops.h"

namespace onexn {
namespace {

std::string DimsString(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

// "" when every dim is positive and the element count fits an int.
std::string CheckStatic(const Dims& d, int64_t* elements) {
  *elements = 1;
  for (int v : d) {
    if (v <= 0) return "shape " + DimsString(d) + " is not static or has an empty dimension";
    *elements *= v;
    if (*elements > INT_MAX) return "tensor of shape " + DimsString(d) + " is too large";
  }
  return "";
}

std::string MeanDims(const GluePlan& p, const Dims& d, Dims* out) {
  if (d.size() != 4) return "MEAN input is not 4-D";
  *out = p.keep_dims ? Dims{d[0], 1, 1, d[3]} : Dims{d[0], d[3]};
  return "";
}

std::string PadDims(const GluePlan& p, const Dims& d, Dims* out) {
  if (d.size() != p.pad_before.size()) {
    return "PAD input has rank " + std::to_string(d.size()) + ", its paddings " + std::to_string(p.pad_before.size());
  }
  out->resize(d.size());
  for (size_t i = 0; i < d.size(); ++i) {
    const int64_t v = int64_t(p.pad_before[i]) + d[i] + p.pad_after[i];
    if (v > INT_MAX) return "padded dimension too large";
    (*out)[i] = int(v);
  }
  return "";
}

std::string ConcatDims(const GluePlan& p, const std::vector<Dims>& in, Dims* out) {
  *out = in[0];
  if (p.axis >= int(out->size())) return "CONCATENATION axis out of range after a resize";
  int64_t axis = 0;
  for (const Dims& d : in) {
    if (d.size() != out->size()) return "CONCATENATION inputs differ in rank";
    for (size_t i = 0; i < d.size(); ++i) {
      if (int(i) != p.axis && d[i] != (*out)[i]) return "CONCATENATION inputs differ outside the axis";
    }
    axis += d[p.axis];
  }
  if (axis > INT_MAX) return "concatenated dimension too large";
  (*out)[p.axis] = int(axis);
  return "";
}

// TFLite's rule: one dim may be -1 and takes what the others leave of the input's size.
std::string ReshapeDims(const GluePlan& p, int64_t elements, Dims* out) {
  *out = p.new_shape;
  int64_t known = 1;
  int stretch = -1;
  for (size_t i = 0; i < out->size(); ++i) {
    if ((*out)[i] == -1) {
      stretch = int(i);
    } else {
      known *= (*out)[i];
      if (known > INT_MAX) return "RESHAPE to " + DimsString(p.new_shape) + ": too many elements";
    }
  }
  if (stretch >= 0 && known > 0 && elements % known == 0) (*out)[stretch] = int(elements / known);
  if (stretch >= 0 ? (known == 0 || elements % known != 0) : known != elements) {
    return "RESHAPE to " + DimsString(p.new_shape) + " does not fit " + std::to_string(elements) + " elements";
  }
  return "";
}

// Output size and leading padding of one axis of a window, TFLite-style; false when the output is empty.
bool WindowAxis(TfLitePadding padding, int in, int k, int stride, int dilation, int* out, int* lead) {
  *out = OutputSize(padding, in, k, stride, dilation);
  *lead = *out > 0 ? LeadingPadding(in, *out, k, stride, dilation) : 0;
  return *out > 0;
}

}  // namespace

std::string GlueOutputDims(const GluePlan& p, const std::vector<Dims>& in, Dims* out) {
  if (in.size() != p.inputs.size() || in.empty()) return "unexpected number of inputs";
  int64_t elements = 0;
  for (const Dims& d : in) {
    const std::string err = CheckStatic(d, &elements);
    if (!err.empty()) return err;
  }
  switch (p.builtin_code) {
    case kTfLiteBuiltinDepthwiseConv2d: {
      onexn_dwconv_shape shape;
      return DepthwiseGeometry(p, in[0], &shape, out);
    }
    case kTfLiteBuiltinMaxPool2d:
    case kTfLiteBuiltinAveragePool2d: {
      onexn_pool_shape shape;
      return PoolGeometry(p, in[0], &shape, out);
    }
    case kTfLiteBuiltinAdd:
      *out = in[0];
      return in[1] == in[0] ? "" : "ADD inputs differ in shape";
    case kTfLiteBuiltinMean: return MeanDims(p, in[0], out);
    case kTfLiteBuiltinPad:
    case kTfLiteBuiltinPadv2: return PadDims(p, in[0], out);
    case kTfLiteBuiltinConcatenation: return ConcatDims(p, in, out);
    case kTfLiteBuiltinReshape: return ReshapeDims(p, elements, out);
    case kTfLiteBuiltinSoftmax: *out = in[0]; return "";
    default: return "not a glue operator";
  }
}

std::string DepthwiseGeometry(const GluePlan& p, const Dims& d, onexn_dwconv_shape* s, Dims* output_dims) {
  if (d.size() != 4) return "DEPTHWISE_CONV_2D input is not 4-D";
  int64_t elements;
  const std::string err = CheckStatic(d, &elements);
  if (!err.empty()) return err;
  if (d[3] != p.channels) return "input channels != filter channels (depth multiplier != 1)";
  onexn_dwconv_shape g{};
  if (!ActivationRange(p.activation, &g.out_min, &g.out_max)) return "unsupported fused activation";
  g.batch = d[0];
  g.in_h = d[1];
  g.in_w = d[2];
  g.channels = d[3];
  g.kh = p.kh;
  g.kw = p.kw;
  g.stride_h = p.stride_h;
  g.stride_w = p.stride_w;
  g.dilation_h = p.dilation_h;
  g.dilation_w = p.dilation_w;
  if (!WindowAxis(p.padding, g.in_h, g.kh, g.stride_h, g.dilation_h, &g.out_h, &g.pad_top) ||
      !WindowAxis(p.padding, g.in_w, g.kw, g.stride_w, g.dilation_w, &g.out_w, &g.pad_left)) {
    return "the filter is larger than the input (empty output)";
  }
  if (int64_t(g.batch) * g.out_h * g.out_w * g.channels > INT_MAX) return "output tensor too large";
  *s = g;
  *output_dims = {g.batch, g.out_h, g.out_w, g.channels};
  return "";
}

bool SameDwShape(const onexn_dwconv_shape& a, const onexn_dwconv_shape& b) {
  return a.batch == b.batch && a.in_h == b.in_h && a.in_w == b.in_w && a.channels == b.channels &&
         a.out_h == b.out_h && a.out_w == b.out_w && a.kh == b.kh && a.kw == b.kw && a.stride_h == b.stride_h &&
         a.stride_w == b.stride_w && a.dilation_h == b.dilation_h && a.dilation_w == b.dilation_w &&
         a.pad_top == b.pad_top && a.pad_left == b.pad_left && a.out_min == b.out_min && a.out_max == b.out_max;
}

std::string PoolGeometry(const GluePlan& p, const Dims& d, onexn_pool_shape* s, Dims* output_dims) {
  if (d.size() != 4) return "pooling input is not 4-D";
  int64_t elements;
  const std::string err = CheckStatic(d, &elements);
  if (!err.empty()) return err;
  onexn_pool_shape g{};
  if (!ActivationRange(p.activation, &g.out_min, &g.out_max)) return "unsupported fused activation";
  g.batch = d[0];
  g.in_h = d[1];
  g.in_w = d[2];
  g.channels = d[3];
  g.kh = p.kh;
  g.kw = p.kw;
  g.stride_h = p.stride_h;
  g.stride_w = p.stride_w;
  if (!WindowAxis(p.padding, g.in_h, g.kh, g.stride_h, 1, &g.out_h, &g.pad_top) ||
      !WindowAxis(p.padding, g.in_w, g.kw, g.stride_w, 1, &g.out_w, &g.pad_left)) {
    return "the pooling window is larger than the input (empty output)";
  }
  *s = g;
  *output_dims = {g.batch, g.out_h, g.out_w, g.channels};
  return "";
}

bool SamePoolShape(const onexn_pool_shape& a, const onexn_pool_shape& b) {
  return a.batch == b.batch && a.in_h == b.in_h && a.in_w == b.in_w && a.channels == b.channels &&
         a.out_h == b.out_h && a.out_w == b.out_w && a.kh == b.kh && a.kw == b.kw && a.stride_h == b.stride_h &&
         a.stride_w == b.stride_w && a.pad_top == b.pad_top && a.pad_left == b.pad_left &&
         a.out_min == b.out_min && a.out_max == b.out_max;
}

}  // namespace onexn

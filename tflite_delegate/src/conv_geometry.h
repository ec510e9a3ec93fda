// Turns a planned CONV_2D / FULLY_CONNECTED node and its current input shape into the kernel library's
// onexn_conv_shape and the output shape, computing padding exactly as TFLite does.
#ifndef ONEXN_DELEGATE_CONV_GEOMETRY_H_
#define ONEXN_DELEGATE_CONV_GEOMETRY_H_

#include <string>
#include <vector>

#include "node_plan.h"
#include "onexn_kernels.h"
#include "onexn_tflite_abi.h"

namespace onexn {

struct Geometry {
  onexn_conv_shape shape{};
  std::vector<int> output_dims;
};

// Returns "" on success, else why the shape cannot be handled.
std::string ComputeGeometry(const NodePlan& plan, const TfLiteIntArray* input_dims, Geometry* out);

bool SameShape(const onexn_conv_shape& a, const onexn_conv_shape& b);

// TFLite's output size: SAME keeps ceil(in / stride); VALID drops taps that would read padding.
int OutputSize(TfLitePadding padding, int in, int k, int stride, int dilation);
// TFLite's leading padding: half of the total (rounded down), the odd pixel goes after the image.
int LeadingPadding(int in, int out, int k, int stride, int dilation);

// Output clamp of a fused activation; false for activations the kernels do not fuse.
bool ActivationRange(TfLiteFusedActivation act, float* lo, float* hi);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_CONV_GEOMETRY_H_

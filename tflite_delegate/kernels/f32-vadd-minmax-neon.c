// NEON elementwise add with clamp: 16 floats per iteration, scalar tail. Each vector is loaded before
// its result is stored, so out may be a or b.
#include <arm_neon.h>

#include "onexn_internal.h"

void onexn_f32_vadd_minmax_neon(size_t n, const float* a, const float* b, float* out, float min, float max) {
  const float32x4_t vmin = vdupq_n_f32(min), vmax = vdupq_n_f32(max);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const float32x4_t s0 = vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
    const float32x4_t s1 = vaddq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    const float32x4_t s2 = vaddq_f32(vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
    const float32x4_t s3 = vaddq_f32(vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    vst1q_f32(out + i, vminq_f32(vmax, vmaxq_f32(vmin, s0)));
    vst1q_f32(out + i + 4, vminq_f32(vmax, vmaxq_f32(vmin, s1)));
    vst1q_f32(out + i + 8, vminq_f32(vmax, vmaxq_f32(vmin, s2)));
    vst1q_f32(out + i + 12, vminq_f32(vmax, vmaxq_f32(vmin, s3)));
  }
  for (; i + 4 <= n; i += 4) {
    const float32x4_t s = vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
    vst1q_f32(out + i, vminq_f32(vmax, vmaxq_f32(vmin, s)));
  }
  for (; i < n; i++) {
    float s = a[i] + b[i];
    s = s < min ? min : s;  // NaN passes through
    out[i] = s > max ? max : s;
  }
}

// XNNPACK's int8 output arithmetic, shared by the int8 glue operators (qdwconv, qadd, qgavgpool).
#ifndef ONEXN_OPERATORS_QS8_REQUANT_H_
#define ONEXN_OPERATORS_QS8_REQUANT_H_

#include <math.h>
#include <stdint.h>

// An activation bound in real units -> int8 (xnn_qs8_quantize): round half to even, clamped to int8.
static inline int32_t onexn_qs8_quantize(float v, float scale, int32_t zero_point) {
  return (int32_t)lrintf(fminf(fmaxf(v / scale + (float)zero_point, -128.0f), 127.0f));
}

// fp32 requantization: one float multiply, clamp to [lo, hi] (the bounds less the zero point), round half to
// even, add the zero point.
static inline int8_t onexn_qs8_requantize(int32_t acc, float scale, float lo, float hi, int32_t zero_point) {
  float f = (float)acc * scale;
  f = f < lo ? lo : f;
  f = f > hi ? hi : f;
  return (int8_t)((int32_t)lrintf(f) + zero_point);
}

// Whether an int8 kernel must clamp to its upper bound qmax before the float-to-int conversion. Not when it
// is int8's own (127) and no accumulator, of at most `terms` products of a (x - input zero point) and a weight
// on top of a bias of at most `max_abs_bias` (a kernel's offset form adds as much again), times a scale of at
// most `max_scale`, reaches 2^30: the conversion cannot overflow and saturating to int8 gives the same bytes.
// (The lower bound can always wait for the int8 result: the bounds are integers and rounding is monotone.)
static inline int onexn_qs8_clamp_hi_needed(int32_t qmax, double max_abs_bias, double terms, double max_scale) {
  if (qmax != 127) return 1;
  return (max_abs_bias + 2.0 * 255.0 * 128.0 * terms) * max_scale >= 1073741824.0;
}

static inline int onexn_qs8_positive_normal(float v) { return isnormal(v) && v > 0.0f; }

static inline int onexn_qs8_zero_point_ok(int32_t zp) { return zp >= -128 && zp <= 127; }

#endif  // ONEXN_OPERATORS_QS8_REQUANT_H_

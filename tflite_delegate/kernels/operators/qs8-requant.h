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

static inline int onexn_qs8_positive_normal(float v) { return isnormal(v) && v > 0.0f; }

static inline int onexn_qs8_zero_point_ok(int32_t zp) { return zp >= -128 && zp <= 127; }

#endif  // ONEXN_OPERATORS_QS8_REQUANT_H_

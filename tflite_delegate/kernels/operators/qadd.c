// onexn_qadd: int8 ADD with rescaling, XNNPACK's qs8 vadd arithmetic (fixed-point multipliers of 21 bits and a
// rounding shift, no float), so the stock runtime's XNNPACK path gives the same bits. Portable C: the loop
// is plain integer arithmetic the compiler vectorizes.
#include <math.h>
#include <string.h>

#include "common/common.h"
#include "onexn_kernels.h"
#include "operators/qs8-requant.h"

static uint32_t bits_of(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return u;
}

static float float_of(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof(f));
  return f;
}

int onexn_qadd_init(onexn_qadd_params* p, float a_scale, int32_t a_zero_point, float b_scale, int32_t b_zero_point,
                    float out_scale, int32_t out_zero_point, float out_min, float out_max, char* err,
                    size_t err_len) {
  if (!onexn_qs8_positive_normal(a_scale) || !onexn_qs8_positive_normal(b_scale) ||
      !onexn_qs8_positive_normal(out_scale)) {
    onexn_set_err(err, err_len, "onexn_qadd_init: scales %g, %g, %g must be positive normal numbers",
                  (double)a_scale, (double)b_scale, (double)out_scale);
    return -1;
  }
  if (!onexn_qs8_zero_point_ok(a_zero_point) || !onexn_qs8_zero_point_ok(b_zero_point) ||
      !onexn_qs8_zero_point_ok(out_zero_point)) {
    onexn_set_err(err, err_len, "onexn_qadd_init: zero points %d, %d, %d must be in -128..127", (int)a_zero_point,
                  (int)b_zero_point, (int)out_zero_point);
    return -1;
  }
  const float a = a_scale / out_scale, b = b_scale / out_scale;
  if (!(a >= 0x1.0p-10f && a < 0x1.0p+8f && b >= 0x1.0p-10f && b < 0x1.0p+8f)) {
    onexn_set_err(err, err_len, "onexn_qadd_init: input/output scale ratios %g and %g are outside [2^-10, 2^8)",
                  (double)a, (double)b);
    return -1;
  }
  // The larger ratio gets a multiplier in [2^20, 2^21): shift = 20 - its exponent, in [12, 30].
  const float larger = a > b ? a : b;
  const uint32_t shift = (uint32_t)(20 - ((int32_t)(bits_of(larger) >> 23) - 127));
  p->a_multiplier = (int32_t)lrintf(float_of(bits_of(a) + (shift << 23)));
  p->b_multiplier = (int32_t)lrintf(float_of(bits_of(b) + (shift << 23)));
  p->shift = shift;
  p->bias = (INT32_C(1) << (shift - 1)) - p->a_multiplier * a_zero_point - p->b_multiplier * b_zero_point;
  p->zero_point = out_zero_point;
  p->qmin = onexn_qs8_quantize(out_min, out_scale, out_zero_point);
  p->qmax = onexn_qs8_quantize(out_max, out_scale, out_zero_point);
  return 0;
}

void onexn_qadd_run(const onexn_qadd_params* p, const int8_t* a, const int8_t* b, int8_t* out, size_t count) {
  if (p == NULL || a == NULL || b == NULL || out == NULL) return;
  const int32_t lo = p->qmin - p->zero_point, hi = p->qmax - p->zero_point;
  for (size_t i = 0; i < count; i++) {
    // |acc| < 1.5 * 2^30: two products below 2^28 each, a bias below 2^30 in magnitude.
    const int32_t acc = p->bias + (int32_t)a[i] * p->a_multiplier + (int32_t)b[i] * p->b_multiplier;
    int32_t v = acc >> p->shift;  // arithmetic shift; with the bias's rounding term: round half up
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    out[i] = (int8_t)(v + p->zero_point);
  }
}

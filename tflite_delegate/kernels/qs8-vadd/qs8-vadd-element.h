// One element of the int8 ADD: the scalar reference's arithmetic, which the SIMD kernels also use for the
// elements after their last full vector.
#ifndef ONEXN_QS8_VADD_QS8_VADD_ELEMENT_H_
#define ONEXN_QS8_VADD_QS8_VADD_ELEMENT_H_

#include "common/microkernels.h"

// |acc| < 1.5 * 2^30: two products below 2^28 each, a bias below 2^30 in magnitude. The shift is arithmetic
// and, with the bias's rounding term 2^(shift-1), rounds half up.
static inline int8_t onexn_qs8_vadd_element(const onexn_qs8_vadd_args* p, int8_t a, int8_t b) {
  int32_t v = (p->bias + (int32_t)a * p->a_multiplier + (int32_t)b * p->b_multiplier) >> p->shift;
  v = v < p->lo ? p->lo : v;
  v = v > p->hi ? p->hi : v;
  return (int8_t)(v + p->zero_point);
}

#endif  // ONEXN_QS8_VADD_QS8_VADD_ELEMENT_H_

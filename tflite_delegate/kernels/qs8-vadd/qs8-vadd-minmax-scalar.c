// Portable int8 ADD microkernel and the reference of the family (qs8-vadd-element.h).
#include "common/microkernels.h"
#include "qs8-vadd/qs8-vadd-element.h"

void onexn_qs8_vadd_minmax_scalar(const onexn_qs8_vadd_args* p, size_t n, const int8_t* a, const int8_t* b,
                                  int8_t* out) {
  for (size_t i = 0; i < n; i++) out[i] = onexn_qs8_vadd_element(p, a[i], b[i]);
}

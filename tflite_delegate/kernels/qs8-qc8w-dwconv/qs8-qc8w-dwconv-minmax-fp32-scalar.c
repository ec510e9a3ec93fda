// Portable int8 depthwise microkernel and the reference of the family: one channel at a time
// (qs8-dw-channel.h).
#include "common/microkernels.h"
#include "qs8-qc8w-dwconv/qs8-dw-channel.h"

void onexn_qs8_qc8w_dwconv_minmax_fp32_scalar(const onexn_qs8_dw_args* a) {
  for (size_t p = 0; p < a->pixels; p++) {
    for (size_t c = 0; c < a->channels; c++) onexn_qs8_dw_channel(a, p * a->x_stride, c, a->out + p * a->channels);
  }
}

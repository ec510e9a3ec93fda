// Portable microkernel: 4 pixels x nr output channels (nr <= 8, chosen at run time), indirection input.
#include "common/microkernels.h"

#define MR 4
#define NR_MAX 8

static ONEXN_INLINE void tile4(const onexn_ind_tile* a) {
  const size_t nr = a->nr;
  const float* w = a->w;
  float acc[MR][NR_MAX];
  for (size_t m = 0; m < MR; m++) {
    for (size_t j = 0; j < nr; j++) acc[m][j] = w[j];
  }
  w += nr;
  for (size_t t = 0; t < a->taps; t++) {
    const float* rows[MR];
    for (size_t m = 0; m < MR; m++) {
      const ptrdiff_t off = m < a->mr ? a->ind[m * a->taps + t] : -1;
      rows[m] = off < 0 ? a->zero : a->input + off;
    }
    for (size_t k = 0; k < a->kept; k++) {
      const size_t c = a->kc[k];
      for (size_t m = 0; m < MR; m++) {
        const float x = rows[m][c];
        for (size_t j = 0; j < nr; j++) acc[m][j] += x * w[j];
      }
      w += nr;
    }
  }
  for (size_t m = 0; m < a->mr; m++) {
    float* out = a->out + m * a->out_stride;
    for (size_t j = 0; j < a->nc; j++) {
      float v = acc[m][j];
      v = v < a->min ? a->min : v;
      v = v > a->max ? a->max : v;
      out[j] = v;
    }
  }
}

void onexn_f32_spconv_4xn_scalar(const onexn_ind_args* a) {
  for (size_t p = 0; p < a->pixels; p += MR) {
    for (size_t i = 0; i < a->num_panels; i++) {
      onexn_ind_tile t;
      onexn_ind_tile_at(a, p, MR, i, &t);
      tile4(&t);
    }
  }
}

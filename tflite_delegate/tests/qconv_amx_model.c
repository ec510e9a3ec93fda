// The AMX int8 microkernel with its tile instructions replaced by the C model of common/amx-tiles.h, under
// its own name, for qconv_test on CPUs without AMX (compiled with the AVX512-VNNI + VBMI flags only).
#define ONEXN_AMX_MODEL 1
#define onexn_qs8_qc8w_spconv_16x16_avx512amx onexn_qs8_qc8w_spconv_16x16_avx512amx_model
#include "../kernels/qs8-qc8w-spconv/gen/qs8-qc8w-spconv-16x16-avx512amx.c"

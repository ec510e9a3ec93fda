// AVX-512BW gather of a 16-pixel int8 tile for layers of at most 4 input channels (stems: RGB images), into
// the same xt[t][c][m] = input row of pixel m at tap t, channel c, xor flip as the full gathers write. The
// full gathers copy such narrow rows byte by byte (MobileNetV2's int8 stem spent 60% of its time there);
// here each pixel is one 4-byte read, and a tap's 16 reads are transposed in one zmm.
//
// It reads 4 bytes at every row, past the cin bytes of a pixel: the caller (qconv.c) uses it only on tiles
// whose rows all have 4 readable bytes, and gives it a zero row of at least 4 bytes. Bytes past cin are
// not stored.
#include <immintrin.h>
#include <string.h>

#include "common/microkernels.h"

void onexn_x8_pixelvec_gather_16_c4_avx512bw(uint8_t* xt, const int8_t* input, const int8_t* zero,
                                             const ptrdiff_t* ind, size_t taps, size_t cin, size_t mr,
                                             uint8_t flip) {
  // After the read, dword m holds pixel m's channels 0..3. The byte shuffle turns each 128-bit lane's
  // 4 pixels x 4 channels into 4 channels x 4 pixels; the dword permute then puts channel c of all 16
  // pixels in bytes 16c..16c+15.
  const __m512i bytes = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  const __m512i dwords = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m512i vflip = _mm512_set1_epi8((char)flip);
  const __mmask64 store = cin >= 4 ? ~(__mmask64)0 : ((__mmask64)1 << (16 * cin)) - 1;
  for (size_t t = 0; t < taps; t++) {
    int32_t d[16];
    for (size_t m = 0; m < 16; m++) {
      const ptrdiff_t off = m < mr ? ind[m * taps + t] : -1;
      memcpy(&d[m], off < 0 ? zero : input + off, 4);
    }
    __m512i v = _mm512_setr_epi32(d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12],
                                  d[13], d[14], d[15]);
    v = _mm512_permutexvar_epi32(dwords, _mm512_shuffle_epi8(v, bytes));
    _mm512_mask_storeu_epi8(xt + t * cin * ONEXN_XT_PIXELS, store, _mm512_xor_si512(v, vflip));
  }
}

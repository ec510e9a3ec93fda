// Denormals flushed to zero while the delegate computes, as XNNPACK does around every operator it runs
// (pthreadpool's PTHREADPOOL_FLAG_DISABLE_DENORMALS): the stock runtime treats them as zero, so the same
// outputs need the same mode, and x86 cores take a microcode assist per denormal operand (a MobileNetV2
// fed uninitialized memory ran 15-20x slower than XNNPACK without this).
#include <stdint.h>

#include "onexn_kernels.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

onexn_fpu_state onexn_fpu_flush_denormals(void) {
  onexn_fpu_state s = {0};
#if defined(__x86_64__)
  s.saved = _mm_getcsr();
  _mm_setcsr((unsigned int)s.saved | 0x8040u);  // FTZ (bit 15): results; DAZ (bit 6): operands
#elif defined(__aarch64__)
  uint64_t fpcr;
  __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
  s.saved = fpcr;
  __asm__ volatile("msr fpcr, %0" : : "r"(fpcr | (UINT64_C(1) << 24)));  // FZ: inputs and results
#endif
  return s;
}

void onexn_fpu_restore(onexn_fpu_state state) {
#if defined(__x86_64__)
  _mm_setcsr((unsigned int)state.saved);
#elif defined(__aarch64__)
  __asm__ volatile("msr fpcr, %0" : : "r"(state.saved));
#else
  (void)state;
#endif
}

// Helpers every part of the kernel library uses: the architecture being compiled for, forced inlining,
// overflow-checked sizes and the create functions' error messages.
#ifndef ONEXN_COMMON_COMMON_H_
#define ONEXN_COMMON_COMMON_H_

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// The kernel lists (<family>/<family>.inc) name the microkernels of the architecture being compiled.
#if defined(__x86_64__)
#define ONEXN_ARCH_X86_64 1
#else
#define ONEXN_ARCH_X86_64 0
#endif
#if defined(__aarch64__)
#define ONEXN_ARCH_ARM64 1
#else
#define ONEXN_ARCH_ARM64 0
#endif

// Forces inlining where a call per tile would cost as much as the tile (see onexn_ind_args).
#if defined(__GNUC__)
#define ONEXN_INLINE inline __attribute__((always_inline))
#else
#define ONEXN_INLINE inline
#endif

// a * b into *r; -1 if it overflows size_t.
static inline int onexn_mul_size(size_t a, size_t b, size_t* r) {
  if (a != 0 && b > SIZE_MAX / a) return -1;
  *r = a * b;
  return 0;
}

// printf-style message into err (when err_len > 0): the create functions' error reports.
static inline void onexn_set_err(char* err, size_t err_len, const char* fmt, ...) {
  if (err == NULL || err_len == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

#endif  // ONEXN_COMMON_COMMON_H_

// Aligned allocation (see memory.h).
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "common/memory.h"

#include <stdint.h>
#include <stdlib.h>

void* onexn_aligned_alloc(size_t bytes) {
  void* p = NULL;
  if (bytes == 0) bytes = 64;
  if (bytes > SIZE_MAX - 64) return NULL;
  if (posix_memalign(&p, 64, bytes) != 0) return NULL;
  return p;
}

void onexn_aligned_free(void* p) { free(p); }

// The library's aligned allocations: packed weights, indirection buffers, scratch and the thread pool's
// per-thread counters all start on a 64-byte (cache line, zmm) boundary.
#ifndef ONEXN_COMMON_MEMORY_H_
#define ONEXN_COMMON_MEMORY_H_

#include <stddef.h>

// 64-byte aligned; NULL on overflow or failure. 0 bytes still gives a distinct block.
void* onexn_aligned_alloc(size_t bytes);
void onexn_aligned_free(void* p);

#endif  // ONEXN_COMMON_MEMORY_H_

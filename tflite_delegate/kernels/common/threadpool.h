// The thread pool's parallel-for, which the operators' run loops use (the pool itself is public API:
// onexn_threadpool_create in onexn_kernels.h).
#ifndef ONEXN_COMMON_THREADPOOL_H_
#define ONEXN_COMMON_THREADPOOL_H_

#include <stddef.h>

#include "onexn_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

// Parallel-for over [0, n): fn(ctx, task, thread) with thread in [0, onexn_threadpool_size(pool)).
// pool may be NULL. Tasks are claimed dynamically; the caller runs tasks as thread 0.
typedef void (*onexn_task_fn)(void* ctx, size_t task, size_t thread);
void onexn_threadpool_parallelize(onexn_threadpool* pool, size_t n, onexn_task_fn fn, void* ctx);

// Elements per task of an elementwise pass over count elements on `threads` threads: about 4 tasks per
// thread, none shorter than min_run / 4 elements, a multiple of 64 elements (whole cache lines and vectors);
// 0 when the caller had better run it alone (one thread, or at most min_run elements: waking the pool would
// cost more).
size_t onexn_elementwise_chunk(size_t count, size_t threads, size_t min_run);

// CLOCK_MONOTONIC in nanoseconds: spin deadlines, and the chain's profile (dwblock-chain.c).
long onexn_now_ns(void);

// One turn of a spin-wait: tells the core (and its SMT sibling) that this thread only waits.
static inline void onexn_cpu_relax(void) {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// For tests (tests/threadpool_test.cc): while hold is nonzero the workers join no job, like workers whose
// CPU has not run them yet; jobs still finish, on the caller.
void onexn_threadpool_hold_workers(onexn_threadpool* pool, int hold);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // ONEXN_COMMON_THREADPOOL_H_

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

// For tests (tests/threadpool_test.cc): while hold is nonzero the workers join no job, like workers whose
// CPU has not run them yet; jobs still finish, on the caller.
void onexn_threadpool_hold_workers(onexn_threadpool* pool, int hold);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // ONEXN_COMMON_THREADPOOL_H_

// A small fixed-size pthread pool with a parallel-for. The caller thread runs tasks too. Each thread first
// runs its own contiguous share of the tasks in order, then steals what is left of the others' shares from
// their ends: contiguous shares keep a thread on the same image rows from one layer to the next, so it
// mostly reads what it wrote itself (from its own cache, not the other core's), and only stealing touches
// another thread's counters. Taking from the end leaves the owner's run of tasks unbroken (a depthwise
// block's task continues the band of rows its thread's last task computed).
// Results never depend on which thread ran what.
//
// Waiting spins before it sleeps: a delegate runs one parallel-for per layer, layers take 20-500 us, and a
// condition-variable wake-up costs tens of microseconds per layer (measured on MobileNetV2: 2 threads were
// barely faster than 1 with sleep-only waits). The spin lasts up to 10 ms, about as long as XNNPACK's
// workers spin (pthreadpool: a million pauses, 5-10 ms on Zen 4), so that a model run periodically finds
// its workers awake as the stock runtime does: MobileNetV2 N=16 50% at 2 threads, invokes 5 ms apart, 1.03
// of the stock runtime with a 50 us spin, 0.55 with 10 ms. Spinning threads yield the CPU between checks,
// so that a thread of the stock runtime (or one this one waits for) woken on the same CPU runs.
//
// A job is finished when its tasks are, whoever ran them: the caller never waits for a worker that has not
// joined it. On a virtual machine a worker that slept between invokes can take milliseconds to run again
// (its vCPU was halted); when every job waited for each worker to check in, MobileNetV2 at 2 threads with
// invokes 5 ms apart ran 3.4x slower than back to back (6.8 ms against 2.0, slower than 1 thread).
// A worker that joins late runs what is left, or nothing; `active` counts the workers inside a job, so
// that the caller can close it before its context goes out of scope.
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "common/memory.h"
#include "common/threadpool.h"
#include "onexn_kernels.h"

struct onexn_threadpool {
  int size;                 // threads including the caller
  pthread_t* workers;       // size - 1 threads
  pthread_mutex_t run_lock; // serializes parallelize() calls from different caller threads
  pthread_mutex_t lock;
  pthread_cond_t work_cv;
  pthread_cond_t done_cv;
  atomic_ulong generation;  // bumped (under lock) for each job
  atomic_int stop;
  atomic_int hold;          // onexn_threadpool_hold_workers (tests)
  atomic_int open;          // 1 while the current job takes workers
  atomic_int active;        // workers inside run_tasks (joined while the job was open)
  atomic_size_t done;       // tasks of the current job finished
  size_t total;             // tasks of the current job
  int sleepers;             // workers blocked on work_cv (under lock)
  int caller_sleeping;      // the caller is blocked on done_cv (under lock)
  long spin_ns;             // how long a waiting thread spins before it sleeps
  atomic_int time_ends;     // onexn_threadpool_time_ends
  long end_spread_ns;       // its sum (the caller's, under run_lock)
  // Current job.
  int timed;                // its threads record when they end (time_ends when it began)
  onexn_task_fn fn;
  void* ctx;
  struct share* shares;     // one per thread
};

// Tasks [next, end) of one thread's share, alone on its cache line. left = end - next is claimed first
// (decremented while positive), so the owner's next and a thief's end never pass each other. ended_ns:
// when the thread ran its last task of the job (timing ends only; 0 while it has run none).
struct share {
  atomic_size_t left;
  atomic_size_t next;
  atomic_size_t end;
  long ended_ns;
  char pad[64 - 3 * sizeof(atomic_size_t) - sizeof(long)];
};

typedef struct {
  onexn_threadpool* pool;
  size_t index;
} worker_arg;

// Takes one task of the share if any is left.
static int claim(struct share* sh) {
  size_t left = atomic_load_explicit(&sh->left, memory_order_relaxed);
  while (left > 0) {
    if (atomic_compare_exchange_weak_explicit(&sh->left, &left, left - 1, memory_order_relaxed,
                                              memory_order_relaxed)) {
      return 1;
    }
  }
  return 0;
}

static void run_tasks(onexn_threadpool* pool, size_t thread) {
  const size_t size = (size_t)pool->size;
  size_t ran = 0;
  struct share* own = &pool->shares[thread];
  while (claim(own)) {
    pool->fn(pool->ctx, atomic_fetch_add_explicit(&own->next, 1, memory_order_relaxed), thread);
    ran++;
  }
  for (size_t k = 1; k < size; k++) {
    struct share* sh = &pool->shares[(thread + k) % size];
    while (claim(sh)) {
      pool->fn(pool->ctx, atomic_fetch_sub_explicit(&sh->end, 1, memory_order_relaxed) - 1, thread);
      ran++;
    }
  }
  // Written before the count below, which the caller reads (acquire) before it reads this.
  if (ran > 0 && pool->timed) own->ended_ns = onexn_now_ns();
  // Every task is claimed, so this thread runs no more: count its tasks done at once (a count per task
  // would move the counter's cache line between the cores after every task). Release: the tasks' results
  // are visible to the caller once it sees the count.
  if (ran > 0 && atomic_fetch_add_explicit(&pool->done, ran, memory_order_acq_rel) + ran == pool->total &&
      thread != 0) {
    pthread_mutex_lock(&pool->lock);  // the last tasks: wake the caller if it gave up spinning
    if (pool->caller_sleeping) pthread_cond_signal(&pool->done_cv);
    pthread_mutex_unlock(&pool->lock);
  }
}

long onexn_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

// Spins until done(pool, arg) or spin_ns elapse; returns done's last value.
static int spin_until(const onexn_threadpool* pool, int (*done)(const onexn_threadpool*, unsigned long),
                      unsigned long arg) {
  if (done(pool, arg)) return 1;
  if (pool->spin_ns <= 0) return 0;
  const long deadline = onexn_now_ns() + pool->spin_ns;
  for (;;) {
    for (int i = 0; i < 64; i++) {
      onexn_cpu_relax();
      if (done(pool, arg)) return 1;
    }
    sched_yield();  // a thread this one waits for may share its CPU
    if (onexn_now_ns() >= deadline) return done(pool, arg);
  }
}

static int new_work(const onexn_threadpool* pool, unsigned long seen) {
  return atomic_load_explicit(&pool->generation, memory_order_acquire) != seen ||
         atomic_load_explicit(&pool->stop, memory_order_relaxed);
}

static int all_done(const onexn_threadpool* pool, unsigned long unused) {
  (void)unused;
  return atomic_load_explicit(&pool->done, memory_order_acquire) == pool->total;
}

static void* worker_main(void* p) {
  worker_arg arg = *(worker_arg*)p;
  free(p);
  onexn_threadpool* pool = arg.pool;
  unsigned long seen = 0;
  onexn_fpu_flush_denormals();  // this thread runs only onexn's tasks (common/fpu.c)
  for (;;) {
    if (!spin_until(pool, new_work, seen)) {
      pthread_mutex_lock(&pool->lock);
      pool->sleepers++;
      while (!new_work(pool, seen)) pthread_cond_wait(&pool->work_cv, &pool->lock);
      pool->sleepers--;
      pthread_mutex_unlock(&pool->lock);
    }
    if (atomic_load_explicit(&pool->stop, memory_order_acquire)) break;
    if (atomic_load_explicit(&pool->hold, memory_order_acquire)) {
      seen = atomic_load_explicit(&pool->generation, memory_order_acquire);
      continue;
    }
    // Join, then look whether the job is still open (sequentially consistent, against the caller's close:
    // either it sees this worker active, or this worker sees the job closed and touches nothing of it).
    atomic_fetch_add_explicit(&pool->active, 1, memory_order_seq_cst);
    seen = atomic_load_explicit(&pool->generation, memory_order_seq_cst);
    if (atomic_load_explicit(&pool->open, memory_order_seq_cst)) run_tasks(pool, arg.index);
    atomic_fetch_sub_explicit(&pool->active, 1, memory_order_release);
  }
  return NULL;
}

static void stop_workers(onexn_threadpool* pool, int started) {
  pthread_mutex_lock(&pool->lock);
  atomic_store_explicit(&pool->stop, 1, memory_order_release);
  pthread_cond_broadcast(&pool->work_cv);
  pthread_mutex_unlock(&pool->lock);
  for (int i = 0; i < started; i++) pthread_join(pool->workers[i], NULL);
}

onexn_threadpool* onexn_threadpool_create(int num_threads) {
  if (num_threads < 1) num_threads = 1;
  onexn_threadpool* pool = (onexn_threadpool*)calloc(1, sizeof(*pool));
  if (pool == NULL) return NULL;
  pool->size = num_threads;
  pool->shares = (struct share*)onexn_aligned_alloc((size_t)num_threads * sizeof(struct share));
  if (pool->shares == NULL) {
    free(pool);
    return NULL;
  }
  for (int i = 0; i < num_threads; i++) {
    atomic_init(&pool->shares[i].left, 0);
    atomic_init(&pool->shares[i].next, 0);
    atomic_init(&pool->shares[i].end, 0);
  }
  atomic_init(&pool->generation, 0);
  atomic_init(&pool->stop, 0);
  atomic_init(&pool->hold, 0);
  atomic_init(&pool->open, 0);
  atomic_init(&pool->active, 0);
  atomic_init(&pool->done, 0);
  atomic_init(&pool->time_ends, 0);
  pool->spin_ns = 10000000;  // 10 ms, then sleep (see the top of this file)
  const char* spin = getenv("ONEXN_SPIN_US");
  if (spin != NULL) pool->spin_ns = strtol(spin, NULL, 10) * 1000L;
  pthread_mutex_init(&pool->run_lock, NULL);
  pthread_mutex_init(&pool->lock, NULL);
  pthread_cond_init(&pool->work_cv, NULL);
  pthread_cond_init(&pool->done_cv, NULL);
  if (num_threads > 1) {
    pool->workers = (pthread_t*)calloc((size_t)num_threads - 1, sizeof(pthread_t));
    int started = 0;
    if (pool->workers != NULL) {
      for (; started < num_threads - 1; started++) {
        worker_arg* arg = (worker_arg*)malloc(sizeof(*arg));
        if (arg == NULL) break;
        arg->pool = pool;
        arg->index = (size_t)started + 1;
        if (pthread_create(&pool->workers[started], NULL, worker_main, arg) != 0) {
          free(arg);
          break;
        }
      }
    }
    if (pool->workers == NULL || started != num_threads - 1) {
      if (pool->workers != NULL) stop_workers(pool, started);
      free(pool->workers);
      pthread_cond_destroy(&pool->done_cv);
      pthread_cond_destroy(&pool->work_cv);
      pthread_mutex_destroy(&pool->lock);
      pthread_mutex_destroy(&pool->run_lock);
      onexn_aligned_free(pool->shares);
      free(pool);
      return NULL;
    }
  }
  return pool;
}

int onexn_threadpool_size(const onexn_threadpool* pool) { return pool == NULL ? 1 : pool->size; }

void onexn_threadpool_destroy(onexn_threadpool* pool) {
  if (pool == NULL) return;
  if (pool->size > 1) stop_workers(pool, pool->size - 1);
  free(pool->workers);
  pthread_cond_destroy(&pool->done_cv);
  pthread_cond_destroy(&pool->work_cv);
  pthread_mutex_destroy(&pool->lock);
  pthread_mutex_destroy(&pool->run_lock);
  onexn_aligned_free(pool->shares);
  free(pool);
}

// Adds the finished job's spread of its threads' ends (a thread that ran no task ended when it began).
static void add_end_spread(onexn_threadpool* pool, long began) {
  long first = 0, last = 0;
  for (int t = 0; t < pool->size; t++) {
    const long ended = pool->shares[t].ended_ns > 0 ? pool->shares[t].ended_ns : began;
    if (t == 0 || ended < first) first = ended;
    if (t == 0 || ended > last) last = ended;
  }
  pool->end_spread_ns += last - first;
}

void onexn_threadpool_parallelize(onexn_threadpool* pool, size_t n, onexn_task_fn fn, void* ctx) {
  if (n == 0) return;
  if (pool == NULL || pool->size <= 1 || n == 1) {
    for (size_t i = 0; i < n; i++) fn(ctx, i, 0);
    return;
  }
  pthread_mutex_lock(&pool->run_lock);
  pthread_mutex_lock(&pool->lock);
  pool->fn = fn;
  pool->ctx = ctx;
  const size_t size = (size_t)pool->size;
  pool->timed = atomic_load_explicit(&pool->time_ends, memory_order_relaxed);
  for (size_t t = 0; t < size; t++) {
    const size_t begin = t * n / size, end = (t + 1) * n / size;
    pool->shares[t].ended_ns = 0;
    atomic_store_explicit(&pool->shares[t].next, begin, memory_order_relaxed);
    atomic_store_explicit(&pool->shares[t].end, end, memory_order_relaxed);
    atomic_store_explicit(&pool->shares[t].left, end - begin, memory_order_relaxed);
  }
  atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
  pool->total = n;
  atomic_store_explicit(&pool->open, 1, memory_order_seq_cst);
  atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
  if (pool->sleepers > 0) pthread_cond_broadcast(&pool->work_cv);
  pthread_mutex_unlock(&pool->lock);
  const long began = pool->timed ? onexn_now_ns() : 0;
  run_tasks(pool, 0);  // the caller's share, then whatever the workers have not taken
  if (!spin_until(pool, all_done, 0)) {
    pthread_mutex_lock(&pool->lock);
    pool->caller_sleeping = 1;
    while (!all_done(pool, 0)) pthread_cond_wait(&pool->done_cv, &pool->lock);
    pool->caller_sleeping = 0;
    pthread_mutex_unlock(&pool->lock);
  }
  // Close the job; workers still inside found no task left and are on their way out.
  atomic_store_explicit(&pool->open, 0, memory_order_seq_cst);
  for (unsigned spins = 0; atomic_load_explicit(&pool->active, memory_order_seq_cst) != 0; spins++) {
    if (spins < 1024) {
      onexn_cpu_relax();
    } else {
      sched_yield();  // such a worker may share this CPU
    }
  }
  if (pool->timed) add_end_spread(pool, began);
  pthread_mutex_unlock(&pool->run_lock);
}

void onexn_threadpool_time_ends(onexn_threadpool* pool, int enable) {
  if (pool != NULL) atomic_store_explicit(&pool->time_ends, enable != 0, memory_order_relaxed);
}

double onexn_threadpool_take_end_spread(onexn_threadpool* pool) {
  if (pool == NULL) return 0.0;
  pthread_mutex_lock(&pool->run_lock);  // against a parallel-for of another caller thread adding to it
  const long ns = pool->end_spread_ns;
  pool->end_spread_ns = 0;
  pthread_mutex_unlock(&pool->run_lock);
  return 1e-9 * (double)ns;
}

size_t onexn_elementwise_chunk(size_t count, size_t threads, size_t min_run) {
  if (threads <= 1 || count <= min_run) return 0;
  size_t chunk = count / (4 * threads);
  if (chunk < min_run / 4) chunk = min_run / 4;
  return (chunk + 63) & ~(size_t)63;
}

void onexn_threadpool_hold_workers(onexn_threadpool* pool, int hold) {
  if (pool != NULL) atomic_store_explicit(&pool->hold, hold != 0, memory_order_release);
}

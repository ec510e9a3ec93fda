// A small fixed-size pthread pool with a parallel-for. The caller thread runs tasks too; tasks are
// claimed through an atomic counter, so results never depend on which thread ran what.
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "onexn_internal.h"

struct onexn_threadpool {
  int size;                 // threads including the caller
  pthread_t* workers;       // size - 1 threads
  pthread_mutex_t run_lock; // serializes parallelize() calls from different caller threads
  pthread_mutex_t lock;
  pthread_cond_t work_cv;
  pthread_cond_t done_cv;
  unsigned long generation; // bumped for each job
  int stop;
  int busy;                 // workers still inside the current job
  // Current job.
  onexn_task_fn fn;
  void* ctx;
  size_t n;
  atomic_size_t next;
};

typedef struct {
  onexn_threadpool* pool;
  size_t index;
} worker_arg;

static void run_tasks(onexn_threadpool* pool, size_t thread) {
  for (;;) {
    size_t task = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed);
    if (task >= pool->n) break;
    pool->fn(pool->ctx, task, thread);
  }
}

static void* worker_main(void* p) {
  worker_arg arg = *(worker_arg*)p;
  free(p);
  onexn_threadpool* pool = arg.pool;
  unsigned long seen = 0;
  pthread_mutex_lock(&pool->lock);
  for (;;) {
    while (pool->generation == seen && !pool->stop) pthread_cond_wait(&pool->work_cv, &pool->lock);
    if (pool->stop) break;
    seen = pool->generation;
    pthread_mutex_unlock(&pool->lock);
    run_tasks(pool, arg.index);
    pthread_mutex_lock(&pool->lock);
    if (--pool->busy == 0) pthread_cond_signal(&pool->done_cv);
  }
  pthread_mutex_unlock(&pool->lock);
  return NULL;
}

static void stop_workers(onexn_threadpool* pool, int started) {
  pthread_mutex_lock(&pool->lock);
  pool->stop = 1;
  pthread_cond_broadcast(&pool->work_cv);
  pthread_mutex_unlock(&pool->lock);
  for (int i = 0; i < started; i++) pthread_join(pool->workers[i], NULL);
}

onexn_threadpool* onexn_threadpool_create(int num_threads) {
  if (num_threads < 1) num_threads = 1;
  onexn_threadpool* pool = (onexn_threadpool*)calloc(1, sizeof(*pool));
  if (pool == NULL) return NULL;
  pool->size = num_threads;
  atomic_init(&pool->next, 0);
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
  free(pool);
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
  pool->n = n;
  atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
  pool->busy = pool->size - 1;
  pool->generation++;
  pthread_cond_broadcast(&pool->work_cv);
  pthread_mutex_unlock(&pool->lock);
  run_tasks(pool, 0);
  pthread_mutex_lock(&pool->lock);
  while (pool->busy > 0) pthread_cond_wait(&pool->done_cv, &pool->lock);
  pthread_mutex_unlock(&pool->lock);
  pthread_mutex_unlock(&pool->run_lock);
}

// onexn_dwblock_chain: consecutive depthwise blocks (float or int8) run at two threads as one parallel job.
//
// Run one job per block, every block ends when its slower thread does: MobileNetV2 at 2 threads waited
// 2-3 us a block for it (the last rows of a share are one task; a row of a 14x14 block takes 8 us), half
// its loss against the stock runtime's scaling. Here thread 0 walks every block from the top down and
// thread 1 from the bottom up, each going on to the next block as soon as no row of this one is left to
// take, and waiting only for the rows it reads that the other thread has not written yet: those are in the
// middle of the image, which both reach last, so a thread that is ahead in one block catches up in the
// middle of the next. Each first takes its half of a block's rows less a few in the middle (its band then
// runs unbroken), then ever smaller runs of what is left, so the two meet where the work evens out; float
// blocks of a few rows split in exact halves instead (ONEXN_CHAIN_HALVES_ROWS).
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/memory.h"
#include "common/threadpool.h"
#include "operators/operators.h"

// One block's rows, each counter alone on its cache line (each written by one side).
typedef struct {
  atomic_uint_fast64_t claims;  // rows taken: from the top (low 32 bits), from the bottom (high 32 bits)
  char pad0[64 - sizeof(atomic_uint_fast64_t)];
  atomic_size_t top_done;  // the output's rows [0, top_done) are written (thread 0's side)
  char pad1[64 - sizeof(atomic_size_t)];
  atomic_size_t bottom_done;  // rows [bottom_done, out_rows) are (thread 1's side)
  char pad2[64 - sizeof(atomic_size_t)];
} progress;

struct onexn_dwblock_chain {
  size_t count;
  int int8;  // every block int8 (else every block float)
  onexn_dwblock_link* links;
  size_t scratch_stride;  // floats of scratch per thread: the largest block's
  float* scratch;         // 2 threads' (made by the first run at 2 threads)
  progress* progress;     // one per block
  onexn_dwblock_pass* passes;
  void** outputs;         // the blocks' outputs of the current run
  onexn_dwblock_chain_side* stats[2];  // per side and block when profiling (apart: each side writes its own)
  size_t stats_runs;
};

onexn_dwblock_chain* onexn_dwblock_chain_create(const onexn_dwblock_link* links, size_t count, char* err,
                                                size_t err_len) {
  if (err != NULL && err_len > 0) err[0] = '\0';
  if (links == NULL || count < 2 || count > UINT32_MAX) {
    onexn_set_err(err, err_len, "onexn_dwblock_chain_create: needs 2 or more blocks");
    return NULL;
  }
  size_t stride = 0;
  for (size_t k = 0; k < count; k++) {
    const onexn_dwblock* b = links[k].block;
    size_t batch, in_image, out_image;
    const onexn_conv *expand, *project;
    if (b == NULL) {
      onexn_set_err(err, err_len, "onexn_dwblock_chain_create: block %zu is missing", k);
      return NULL;
    }
    if (onexn_dwblock_is_float(b) != onexn_dwblock_is_float(links[0].block)) {
      onexn_set_err(err, err_len, "onexn_dwblock_chain_create: block %zu is %s, block 0 %s", k,
                    onexn_dwblock_is_float(b) ? "float" : "int8", onexn_dwblock_is_float(b) ? "int8" : "float");
      return NULL;
    }
    onexn_dwblock_layout(b, &batch, &in_image, &out_image, &expand, &project);
    if (batch != 1) {
      onexn_set_err(err, err_len, "onexn_dwblock_chain_create: block %zu runs a batch of %zu images, not 1", k, batch);
      return NULL;
    }
    if (links[k].residual && (!onexn_dwblock_has_projection(b) || in_image != out_image)) {
      onexn_set_err(err, err_len, "onexn_dwblock_chain_create: block %zu adds its input but %s", k,
                    !onexn_dwblock_has_projection(b) ? "has no projection" : "its output has another shape");
      return NULL;
    }
    if (links[k].residual && !onexn_dwblock_is_float(b) &&
        (links[k].qadd == NULL || (links[k].block_operand != 0 && links[k].block_operand != 1))) {
      onexn_set_err(err, err_len, "onexn_dwblock_chain_create: int8 block %zu adds its input but %s", k,
                    links[k].qadd == NULL ? "the ADD's parameters are missing" : "the operand is not 0 or 1");
      return NULL;
    }
    if (k > 0) {
      const onexn_dwblock* prev = links[k - 1].block;
      size_t pb, pin, pout;
      onexn_dwblock_layout(prev, &pb, &pin, &pout, &expand, &project);
      if (pout != in_image || onexn_dwblock_out_rows(prev) != onexn_dwblock_in_rows(b)) {
        onexn_set_err(err, err_len, "onexn_dwblock_chain_create: block %zu does not read block %zu's output", k, k - 1);
        return NULL;
      }
    }
    const size_t floats = onexn_dwblock_scratch_floats(b, 1);
    if (floats == 0 || floats > SIZE_MAX / sizeof(float) / 2) {
      onexn_set_err(err, err_len, "onexn_dwblock_chain_create: scratch size overflows");
      return NULL;
    }
    if (floats > stride) stride = floats;
  }
  onexn_dwblock_chain* c = (onexn_dwblock_chain*)calloc(1, sizeof(*c));
  if (c != NULL) {
    c->links = (onexn_dwblock_link*)malloc(count * sizeof(*links));
    c->progress = (progress*)onexn_aligned_alloc(count * sizeof(progress));
    c->passes = (onexn_dwblock_pass*)malloc(count * sizeof(onexn_dwblock_pass));
    c->outputs = (void**)malloc(count * sizeof(void*));
  }
  if (c == NULL || c->links == NULL || c->progress == NULL || c->passes == NULL || c->outputs == NULL) {
    onexn_dwblock_chain_destroy(c);
    onexn_set_err(err, err_len, "onexn_dwblock_chain_create: out of memory");
    return NULL;
  }
  memcpy(c->links, links, count * sizeof(*links));
  c->count = count;
  c->int8 = !onexn_dwblock_is_float(links[0].block);
  c->scratch_stride = stride;
  return c;
}

void onexn_dwblock_chain_destroy(onexn_dwblock_chain* c) {
  if (c == NULL) return;
  onexn_aligned_free(c->scratch);
  onexn_aligned_free(c->progress);
  onexn_aligned_free(c->stats[0]);
  onexn_aligned_free(c->stats[1]);
  free(c->passes);
  free(c->outputs);
  free(c->links);
  free(c);
}

// Float blocks of at most this many rows leave no middle rows: each side's first run is its whole half. A
// run of one middle row of MobileNetV2's 14x14 blocks costs its side another expansion call of 14 pixels,
// a mostly empty pixel tile (N=4 50% at 2 threads 0.5-1.9% faster, Zen 4; N=16 unchanged). int8 rows cost
// a fraction of that, and there the middle rows' balance pays (int8 N=16 50%: 1-2% slower in halves).
#define ONEXN_CHAIN_HALVES_ROWS 16

// Takes the next rows [*y0, *y1) of a block of h rows from the top (side 0) or the bottom (side 1); 0 when
// none are left. A side's first run is its half less the middle rows (none in halves); then a quarter of
// what is left.
static int take_rows(progress* p, size_t h, int halves, int side, int first, size_t* y0, size_t* y1) {
  const size_t middle = halves ? 0 : h / 8 > 2 ? h / 8 : 2;
  const size_t half = h > middle ? (h - middle) / 2 : 0;
  uint_fast64_t w = atomic_load_explicit(&p->claims, memory_order_relaxed);
  for (;;) {
    const size_t top = (size_t)(w & 0xffffffffu), bottom = h - (size_t)(w >> 32);
    if (top >= bottom) return 0;
    const size_t left = bottom - top;
    size_t n = left / 4 > 0 ? left / 4 : 1;
    if (first && side == 0 && half > top) n = half - top;
    if (first && side == 1 && bottom > h - half) n = bottom - (h - half);
    if (n > left) n = left;
    const uint_fast64_t next = side == 0 ? w + n : w + ((uint_fast64_t)n << 32);
    if (atomic_compare_exchange_weak_explicit(&p->claims, &w, next, memory_order_relaxed, memory_order_relaxed)) {
      *y0 = side == 0 ? top : bottom - n;
      *y1 = side == 0 ? top + n : bottom;
      return 1;
    }
  }
}

// Waits until rows [lo, hi) of a block's output are written.
static void wait_rows(progress* p, size_t lo, size_t hi) {
  for (unsigned spins = 0;; spins++) {
    const size_t top = atomic_load_explicit(&p->top_done, memory_order_acquire);
    const size_t bottom = atomic_load_explicit(&p->bottom_done, memory_order_acquire);
    if (lo >= hi || hi <= top || lo >= bottom || top >= bottom) return;
    if (spins % 64 == 63) {
      sched_yield();  // the other thread may share this CPU
    } else {
      onexn_cpu_relax();
    }
  }
}

// One side of the job (task 0: from the top; task 1: from the bottom), on whichever thread runs it.
static void run_side(void* ctx, size_t side, size_t thread) {
  onexn_dwblock_chain* c = (onexn_dwblock_chain*)ctx;
  onexn_dwblock_chain_side* stats = c->stats[side];  // NULL unless profiling
  for (size_t k = 0; k < c->count; k++) {
    const onexn_dwblock_pass* pass = &c->passes[k];
    const onexn_dwblock* b = c->links[k].block;
    const size_t h = onexn_dwblock_out_rows(b);
    onexn_dwblock_pass_forget(pass, thread);  // the band holds the last block's rows
    // Every row of the block two before is written: the delegate's arena lets block k's output reuse the
    // bytes of what only blocks up to k - 2 read (ChainLifetimes). Mostly true already (this side's last rows
    // waited for the other's); not when the block before left some of that block's rows unread.
    if (k >= 2) wait_rows(&c->progress[k - 2], 0, onexn_dwblock_out_rows(c->links[k - 2].block));
    const int halves = !c->int8 && h <= ONEXN_CHAIN_HALVES_ROWS;
    size_t y0, y1;
    for (int first = 1; take_rows(&c->progress[k], h, halves, (int)side, first, &y0, &y1); first = 0) {
      if (k > 0) {
        size_t lo, hi;  // rows of the block before that these read, with the residual's addend
        onexn_dwblock_rows_read(b, y0, y1, &lo, &hi);
        if (c->links[k].residual) {
          if (y0 < lo) lo = y0;
          if (y1 > hi) hi = y1;
        }
        const long t = stats != NULL ? onexn_now_ns() : 0;
        wait_rows(&c->progress[k - 1], lo, hi);
        if (stats != NULL) stats[k].wait_seconds += 1e-9 * (double)(onexn_now_ns() - t);
      }
      const long t = stats != NULL ? onexn_now_ns() : 0;
      onexn_dwblock_pass_rows(pass, 0, y0, y1, (int)side, thread);
      if (stats != NULL) {
        stats[k].compute_seconds += 1e-9 * (double)(onexn_now_ns() - t);
        stats[k].rows += (double)(y1 - y0);
      }
      if (side == 0) {
        atomic_store_explicit(&c->progress[k].top_done, y1, memory_order_release);
      } else {
        atomic_store_explicit(&c->progress[k].bottom_done, y0, memory_order_release);
      }
    }
  }
}

// The residual ADD of a link whose block reads `in` (none for a block without one).
static onexn_dwblock_residual residual_of(const onexn_dwblock_link* l, const void* in) {
  onexn_dwblock_residual r = {NULL, 0.0f, 0.0f, NULL, NULL, 0, ONEXN_ISA_AUTO};
  if (!l->residual) return r;
  if (onexn_dwblock_is_float(l->block)) {
    r.addend = (const float*)in;
    r.min = l->add_min;
    r.max = l->add_max;
  } else {
    r.qaddend = (const int8_t*)in;
    r.qparams = l->qadd;
    r.block_operand = l->block_operand;
    r.isa = l->add_isa;
  }
  return r;
}

// The blocks one job each (a pool of other than two threads, or short of memory).
static int run_blocks_apart(onexn_dwblock_chain* c, const void* input, void* const* outputs,
                            onexn_threadpool* pool) {
  for (size_t k = 0; k < c->count; k++) {
    const onexn_dwblock_link* l = &c->links[k];
    const void* in = k == 0 ? input : outputs[k - 1];
    int status;
    if (c->int8 && l->residual) {
      status = onexn_qdwblock_run_add(l->block, (const int8_t*)in, (const int8_t*)in, (int8_t*)outputs[k], l->qadd,
                                      l->block_operand, l->add_isa, NULL, 0, pool);
    } else if (c->int8) {
      status = onexn_qdwblock_run(l->block, (const int8_t*)in, (int8_t*)outputs[k], NULL, 0, pool);
    } else if (l->residual) {
      status = onexn_dwblock_run_add(l->block, (const float*)in, (const float*)in, (float*)outputs[k], l->add_min,
                                     l->add_max, NULL, 0, pool);
    } else {
      status = onexn_dwblock_run(l->block, (const float*)in, (float*)outputs[k], NULL, 0, pool);
    }
    if (status != 0) return status;
  }
  return 0;
}

// outputs: the caller's array copied to c->outputs (elements of either type).
static int run(onexn_dwblock_chain* c, const void* input, void* const* outputs, onexn_threadpool* pool) {
  if (onexn_threadpool_size(pool) != 2) return run_blocks_apart(c, input, outputs, pool);
  for (size_t k = 0; k < c->count; k++) {
    if (onexn_dwblock_reserve_threads(c->links[k].block, 2) < 2) return run_blocks_apart(c, input, outputs, pool);
  }
  if (c->scratch == NULL) {
    c->scratch = (float*)onexn_aligned_alloc(2 * c->scratch_stride * sizeof(float));
    if (c->scratch == NULL) return run_blocks_apart(c, input, outputs, pool);
  }
  for (size_t k = 0; k < c->count; k++) {
    const onexn_dwblock_link* l = &c->links[k];
    const void* in = k == 0 ? input : outputs[k - 1];
    const onexn_dwblock_residual add = residual_of(l, in);
    onexn_dwblock_pass_init(&c->passes[k], l->block, in, outputs[k], &add, c->scratch, c->scratch_stride);
    atomic_store_explicit(&c->progress[k].claims, 0, memory_order_relaxed);
    atomic_store_explicit(&c->progress[k].top_done, 0, memory_order_relaxed);
    atomic_store_explicit(&c->progress[k].bottom_done, onexn_dwblock_out_rows(l->block), memory_order_relaxed);
  }
  onexn_threadpool_parallelize(pool, 2, run_side, c);  // the pool publishes the stores above with the job
  if (c->stats[0] != NULL) c->stats_runs++;
  return 0;
}

int onexn_dwblock_chain_run(onexn_dwblock_chain* c, const float* input, float* const* outputs,
                            onexn_threadpool* pool) {
  if (c == NULL || c->int8 || input == NULL || outputs == NULL) return -1;
  for (size_t k = 0; k < c->count; k++) {
    if (outputs[k] == NULL) return -1;
    c->outputs[k] = outputs[k];
  }
  return run(c, input, c->outputs, pool);
}

int onexn_qdwblock_chain_run(onexn_dwblock_chain* c, const int8_t* input, int8_t* const* outputs,
                             onexn_threadpool* pool) {
  if (c == NULL || !c->int8 || input == NULL || outputs == NULL) return -1;
  for (size_t k = 0; k < c->count; k++) {
    if (outputs[k] == NULL) return -1;
    c->outputs[k] = outputs[k];
  }
  return run(c, input, c->outputs, pool);
}

int onexn_dwblock_chain_profile(onexn_dwblock_chain* c, int enable) {
  if (c == NULL) return -1;
  for (int side = 0; side < 2; side++) {
    onexn_aligned_free(c->stats[side]);
    c->stats[side] = NULL;
  }
  c->stats_runs = 0;
  if (!enable) return 0;
  for (int side = 0; side < 2; side++) {
    c->stats[side] = (onexn_dwblock_chain_side*)onexn_aligned_alloc(c->count * sizeof(onexn_dwblock_chain_side));
    if (c->stats[side] == NULL) {
      onexn_dwblock_chain_profile(c, 0);
      return -1;
    }
    memset(c->stats[side], 0, c->count * sizeof(onexn_dwblock_chain_side));
  }
  return 0;
}

int onexn_dwblock_chain_stats(const onexn_dwblock_chain* c, size_t k, int side, onexn_dwblock_chain_side* out,
                              size_t* runs) {
  if (c == NULL || out == NULL || runs == NULL || k >= c->count || (side != 0 && side != 1) ||
      c->stats[side] == NULL) {
    return -1;
  }
  *out = c->stats[side][k];
  *runs = c->stats_runs;
  return 0;
}

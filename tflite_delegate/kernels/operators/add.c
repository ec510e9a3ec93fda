// onexn_add: elementwise add with a fused clamp. Picks the vadd microkernel for the ISA and splits large
// tensors over the pool in coarse chunks (small ones run on the caller: waking threads would cost more).
#include "common/microkernels.h"
#include "common/threadpool.h"
#include "onexn_kernels.h"
#include "operators/operators.h"

typedef struct {
  const char* name;
  onexn_isa isa;
  onexn_vadd_ukernel fn;
} vadd_kernel;

static const vadd_kernel kUkernels[] = {
#define ONEXN_VADD_UKERNEL(isa, name, ukernel, batch_tile) {name, isa, ukernel},
#include "f32-vadd/f32-vadd.inc"
#undef ONEXN_VADD_UKERNEL
};

static const vadd_kernel* find(onexn_isa isa) {
  for (size_t i = 0; i < sizeof(kUkernels) / sizeof(kUkernels[0]); i++) {
    if (kUkernels[i].isa == isa) return &kUkernels[i];
  }
  return NULL;
}

// The list's microkernel for the resolved ISA, or the scalar one when the CPU or this build lacks it.
static vadd_kernel select_vadd(onexn_isa isa) {
  const onexn_isa resolved = onexn_isa_resolve(isa);
  const vadd_kernel* k = onexn_isa_supported(resolved) ? find(resolved) : NULL;
  return k != NULL ? *k : *find(ONEXN_ISA_SCALAR);
}

const char* onexn_add_kernel_name(onexn_isa isa) { return select_vadd(isa).name; }

onexn_vadd_ukernel onexn_add_ukernel(onexn_isa isa) { return select_vadd(isa).fn; }

// Tensors up to this many floats run on the caller; larger ones in chunks of at least a quarter of it.
// Small on purpose: each thread then adds the rows it wrote itself in the layer before, and writes the rows
// it reads in the layer after (MobileNetV2's 28x28x32 and 14x14x64 residual adds on the caller alone made
// the next block's other thread fetch its rows from the caller's core: N=16 50% at 2 threads 0.72 -> 0.69).
#define ONEXN_ADD_MIN_CHUNK ((size_t)4096)

typedef struct {
  onexn_vadd_ukernel fn;
  const float* a;
  const float* b;
  float* out;
  size_t count, chunk;
  float min, max;
} add_ctx;

static void add_task(void* p, size_t task, size_t thread) {
  (void)thread;
  const add_ctx* c = (const add_ctx*)p;
  const size_t i0 = task * c->chunk;
  const size_t n = c->count - i0 < c->chunk ? c->count - i0 : c->chunk;
  c->fn(n, c->a + i0, c->b + i0, c->out + i0, c->min, c->max);
}

void onexn_add_run(onexn_isa isa, const float* a, const float* b, float* out, size_t count, float out_min,
                   float out_max, onexn_threadpool* pool) {
  if (a == NULL || b == NULL || out == NULL || count == 0) return;
  const vadd_kernel k = select_vadd(isa);
  const size_t threads = (size_t)onexn_threadpool_size(pool);
  const size_t chunk = onexn_elementwise_chunk(count, threads, ONEXN_ADD_MIN_CHUNK);
  if (chunk == 0) {
    k.fn(count, a, b, out, out_min, out_max);
    return;
  }
  const add_ctx c = {k.fn, a, b, out, count, chunk, out_min, out_max};
  onexn_threadpool_parallelize(pool, (count + chunk - 1) / chunk, add_task, (void*)&c);
}

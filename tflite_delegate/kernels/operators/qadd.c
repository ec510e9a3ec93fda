// onexn_qadd: int8 ADD with rescaling, XNNPACK's qs8 vadd arithmetic (fixed-point multipliers of 21 bits and a
// rounding shift, no float), so the stock runtime's XNNPACK path gives the same bits: the parameters, and the
// qs8-vadd microkernel of the ISA.
#include <math.h>
#include <string.h>

#include "common/common.h"
#include "common/microkernels.h"
#include "common/threadpool.h"
#include "onexn_kernels.h"
#include "operators/operators.h"
#include "operators/qs8-requant.h"

static uint32_t bits_of(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return u;
}

static float float_of(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof(f));
  return f;
}

int onexn_qadd_init(onexn_qadd_params* p, float a_scale, int32_t a_zero_point, float b_scale, int32_t b_zero_point,
                    float out_scale, int32_t out_zero_point, float out_min, float out_max, char* err,
                    size_t err_len) {
  if (!onexn_qs8_positive_normal(a_scale) || !onexn_qs8_positive_normal(b_scale) ||
      !onexn_qs8_positive_normal(out_scale)) {
    onexn_set_err(err, err_len, "onexn_qadd_init: scales %g, %g, %g must be positive normal numbers",
                  (double)a_scale, (double)b_scale, (double)out_scale);
    return -1;
  }
  if (!onexn_qs8_zero_point_ok(a_zero_point) || !onexn_qs8_zero_point_ok(b_zero_point) ||
      !onexn_qs8_zero_point_ok(out_zero_point)) {
    onexn_set_err(err, err_len, "onexn_qadd_init: zero points %d, %d, %d must be in -128..127", (int)a_zero_point,
                  (int)b_zero_point, (int)out_zero_point);
    return -1;
  }
  const float a = a_scale / out_scale, b = b_scale / out_scale;
  if (!(a >= 0x1.0p-10f && a < 0x1.0p+8f && b >= 0x1.0p-10f && b < 0x1.0p+8f)) {
    onexn_set_err(err, err_len, "onexn_qadd_init: input/output scale ratios %g and %g are outside [2^-10, 2^8)",
                  (double)a, (double)b);
    return -1;
  }
  // The larger ratio gets a multiplier in [2^20, 2^21): shift = 20 - its exponent, in [12, 30].
  const float larger = a > b ? a : b;
  const uint32_t shift = (uint32_t)(20 - ((int32_t)(bits_of(larger) >> 23) - 127));
  p->a_multiplier = (int32_t)lrintf(float_of(bits_of(a) + (shift << 23)));
  p->b_multiplier = (int32_t)lrintf(float_of(bits_of(b) + (shift << 23)));
  p->shift = shift;
  p->bias = (INT32_C(1) << (shift - 1)) - p->a_multiplier * a_zero_point - p->b_multiplier * b_zero_point;
  p->zero_point = out_zero_point;
  p->qmin = onexn_qs8_quantize(out_min, out_scale, out_zero_point);
  p->qmax = onexn_qs8_quantize(out_max, out_scale, out_zero_point);
  return 0;
}

typedef struct {
  const char* name;
  onexn_isa isa;
  onexn_qs8_vadd_ukernel fn;
} qs8_vadd_kernel;

static const qs8_vadd_kernel kUkernels[] = {
#define ONEXN_QS8_VADD_UKERNEL(isa, name, ukernel, batch_tile) {name, isa, ukernel},
#include "qs8-vadd/qs8-vadd.inc"
#undef ONEXN_QS8_VADD_UKERNEL
};

// The row of the resolved ISA; the scalar one when the CPU or this build lacks it.
static const qs8_vadd_kernel* select_kernel(onexn_isa isa) {
  const onexn_isa resolved = onexn_isa_resolve(isa);
  for (size_t i = 0; i < sizeof(kUkernels) / sizeof(kUkernels[0]); i++) {
    if (kUkernels[i].isa == resolved && onexn_isa_supported(resolved)) return &kUkernels[i];
  }
  return &kUkernels[0];
}

const char* onexn_qadd_kernel_name(onexn_isa isa) { return select_kernel(isa)->name; }

onexn_qs8_vadd_ukernel onexn_qadd_ukernel(onexn_isa isa, const onexn_qadd_params* p, onexn_qs8_vadd_args* args) {
  const onexn_qs8_vadd_args a = {p->bias, p->a_multiplier, p->b_multiplier, p->shift,
                                 p->qmin - p->zero_point, p->qmax - p->zero_point, p->zero_point};
  *args = a;
  return select_kernel(isa)->fn;
}

// Tensors up to this many elements run on the caller; larger ones in chunks of at least a quarter of it
// (the float add's 16 KB, add.c: each thread adds the rows it wrote in the layer before).
#define ONEXN_QADD_MIN_CHUNK ((size_t)16384)

typedef struct {
  onexn_qs8_vadd_ukernel fn;
  onexn_qs8_vadd_args args;
  const int8_t* a;
  const int8_t* b;
  int8_t* out;
  size_t count, chunk;
} qadd_ctx;

static void qadd_task(void* p, size_t task, size_t thread) {
  (void)thread;
  const qadd_ctx* c = (const qadd_ctx*)p;
  const size_t i0 = task * c->chunk;
  const size_t n = c->count - i0 < c->chunk ? c->count - i0 : c->chunk;
  c->fn(&c->args, n, c->a + i0, c->b + i0, c->out + i0);
}

void onexn_qadd_run(onexn_isa isa, const onexn_qadd_params* p, const int8_t* a, const int8_t* b, int8_t* out,
                    size_t count, onexn_threadpool* pool) {
  if (p == NULL || a == NULL || b == NULL || out == NULL || count == 0) return;
  qadd_ctx c;
  c.fn = onexn_qadd_ukernel(isa, p, &c.args);
  const size_t threads = (size_t)onexn_threadpool_size(pool);
  const size_t chunk = onexn_elementwise_chunk(count, threads, ONEXN_QADD_MIN_CHUNK);
  if (chunk == 0) {
    c.fn(&c.args, count, a, b, out);
    return;
  }
  c.a = a;
  c.b = b;
  c.out = out;
  c.count = count;
  c.chunk = chunk;
  onexn_threadpool_parallelize(pool, (count + chunk - 1) / chunk, qadd_task, &c);
}

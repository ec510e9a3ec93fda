// onexn_softmax_run: softmax over the last axis, row by row with the f32-softmax microkernel of the ISA.
// Networks apply it once, to the classifier's output: it runs on the caller.
#include "common/microkernels.h"
#include "onexn_kernels.h"

typedef struct {
  const char* name;
  onexn_isa isa;
  onexn_softmax_ukernel fn;
} softmax_kernel;

static const softmax_kernel kUkernels[] = {
#define ONEXN_SOFTMAX_UKERNEL(isa, name, ukernel, channel_tile) {name, isa, ukernel},
#include "f32-softmax/f32-softmax.inc"
#undef ONEXN_SOFTMAX_UKERNEL
};

// The list's microkernel for the resolved ISA, or the scalar one (the first row) when the CPU or this
// build lacks it.
static const softmax_kernel* select_softmax(onexn_isa isa) {
  const onexn_isa resolved = onexn_isa_resolve(isa);
  for (size_t i = 0; onexn_isa_supported(resolved) && i < sizeof(kUkernels) / sizeof(kUkernels[0]); i++) {
    if (kUkernels[i].isa == resolved) return &kUkernels[i];
  }
  return &kUkernels[0];
}

const char* onexn_softmax_kernel_name(onexn_isa isa) { return select_softmax(isa)->name; }

void onexn_softmax_run(onexn_isa isa, const float* input, float* output, size_t rows, size_t channels, float beta) {
  if (input == NULL || output == NULL || channels == 0) return;
  const onexn_softmax_ukernel fn = select_softmax(isa)->fn;
  for (size_t r = 0; r < rows; r++) fn(channels, input + r * channels, output + r * channels, beta);
}

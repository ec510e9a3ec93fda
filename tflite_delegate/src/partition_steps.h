// The steps a partition runs, one per claimed node, tagged by operator. Each step kind owns its packed
// kernel and knows how to size itself for the current input shapes, run, and name its microkernel.
#ifndef ONEXN_DELEGATE_PARTITION_STEPS_H_
#define ONEXN_DELEGATE_PARTITION_STEPS_H_

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "glue_ops.h"
#include "node_plan.h"
#include "onexn_kernels.h"
#include "onexn_tflite_abi.h"

namespace onexn {

struct ConvDeleter {
  void operator()(onexn_conv* p) const { onexn_conv_destroy(p); }
};
struct QConvDeleter {
  void operator()(onexn_qconv* p) const { onexn_qconv_destroy(p); }
};
struct DwconvDeleter {
  void operator()(onexn_dwconv* p) const { onexn_dwconv_destroy(p); }
};
struct QDwconvDeleter {
  void operator()(onexn_qdwconv* p) const { onexn_qdwconv_destroy(p); }
};
struct PoolDeleter {
  void operator()(onexn_pool* p) const { onexn_pool_destroy(p); }
};

// The dims of each activation input of a step, in the order of its inputs.
using InputDims = std::vector<Dims>;

// The node a step runs and the activation tensors it reads and writes.
struct StepNode {
  int node = -1;
  int builtin_code = 0;
  std::vector<int> inputs;
  int output = -1;
};

inline StepNode GlueNode(const GluePlan& plan) { return {plan.node, plan.builtin_code, plan.inputs, plan.output}; }

// 1xN CONV_2D / FULLY_CONNECTED, and dense ones as 1xN layers with every block kept.
struct ConvStep {
  NodePlan plan;
  onexn_dense_policy dense = ONEXN_DENSE_AUTO;    // option dense: may it run every block instead
  std::unique_ptr<onexn_conv, ConvDeleter> conv;  // packed for `shape`
  onexn_conv_shape shape{};
  std::string every_block;  // why it runs every block instead of the kept ones ("" when it does not)
  onexn_conv_choice choice{};  // the cost model's estimates for `shape`, and what it chose

  // Packs the weights for `for_shape`: "" or the kernel library's reason (the old kernel then stays).
  std::string Pack(const TfLiteContext* context, const onexn_conv_shape& for_shape, onexn_isa isa);
  // The weights packed for another shape of the same layer (a PAD folded into its padding), or nullptr with
  // the kernel library's reason in *err.
  onexn_conv* PackedFor(const TfLiteContext* context, const onexn_conv_shape& for_shape, onexn_isa isa,
                        std::string* err) const;
  // Output dims for these input dims; packs again when the shape changed. "" or the reason.
  std::string Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in, std::vector<int>* out);
  StepNode Node() const { return {plan.node, plan.builtin_code, {plan.input}, plan.output}; }
  bool Ready() const { return conv != nullptr; }
  void Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* pool) const;
  // Run, then out = clamp(out + addend) with the ADD after it (a residual block), pixels added as they finish.
  void RunAdd(const float* in, const float* addend, float* out, float out_min, float out_max,
              onexn_threadpool* pool) const;
  const char* KernelName(onexn_isa isa) const;
};

// int8 1xN CONV_2D / FULLY_CONNECTED (a record of weight type int8): int8 tensors behind the step's float
// pointers.
struct QConvStep {
  NodePlan plan;
  bool amx = false;  // option amx=1: the 16-channel blocks on AMX tiles (ONEXN_ISA_AVX512AMX)
  std::unique_ptr<onexn_qconv, QConvDeleter> conv;  // packed for `shape`
  onexn_conv_shape shape{};

  std::string Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in, std::vector<int>* out);
  StepNode Node() const { return {plan.node, plan.builtin_code, {plan.input}, plan.output}; }
  bool Ready() const { return conv != nullptr; }
  void Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* pool) const;
  // Run, then the int8 ADD after it (its params; this step's output is the ADD's input conv_operand).
  void RunAdd(const int8_t* in, const int8_t* addend, int8_t* out, const onexn_qadd_params& add, int conv_operand,
              onexn_isa isa, onexn_threadpool* pool) const;
  const char* KernelName(onexn_isa isa) const;
};

// DEPTHWISE_CONV_2D with depth multiplier 1.
struct DepthwiseStep {
  GluePlan plan;
  std::unique_ptr<onexn_dwconv, DwconvDeleter> dw;  // packed for `shape`
  onexn_dwconv_shape shape{};

  std::string Pack(const TfLiteContext* context, const onexn_dwconv_shape& for_shape, onexn_isa isa);
  std::string Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in, std::vector<int>* out);
  StepNode Node() const { return GlueNode(plan); }
  bool Ready() const { return dw != nullptr; }
  void Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* pool) const;
  const char* KernelName(onexn_isa isa) const;
};

// int8 DEPTHWISE_CONV_2D with depth multiplier 1 and per-channel weight scales: int8 tensors behind the
// step's float pointers.
struct QDepthwiseStep {
  GluePlan plan;
  std::unique_ptr<onexn_qdwconv, QDwconvDeleter> dw;  // made for `shape`
  onexn_dwconv_shape shape{};

  std::string Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in, std::vector<int>* out);
  StepNode Node() const { return GlueNode(plan); }
  bool Ready() const { return dw != nullptr; }
  void Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* pool) const;
  const char* KernelName(onexn_isa isa) const;
};

// ADD of two tensors of the same shape.
struct AddStep {
  GluePlan plan;
  size_t count = 0;
  float out_min = 0, out_max = 0;

  std::string Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in, std::vector<int>* out);
  StepNode Node() const { return GlueNode(plan); }
  bool Ready() const { return true; }
  void Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* pool) const;
  const char* KernelName(onexn_isa isa) const;
};

// int8 ADD of two tensors of the same shape, each with its own scale and zero point.
struct QAddStep {
  GluePlan plan;
  size_t count = 0;
  onexn_qadd_params params{};

  std::string Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in, std::vector<int>* out);
  StepNode Node() const { return GlueNode(plan); }
  bool Ready() const { return true; }
  void Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* pool) const;
  const char* KernelName(onexn_isa isa) const;
};

// int8 MEAN over height and width.
struct QMeanStep {
  GluePlan plan;
  size_t batch = 0, channels = 0;
  onexn_qgavgpool_params params{};

  std::string Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in, std::vector<int>* out);
  StepNode Node() const { return GlueNode(plan); }
  bool Ready() const { return true; }
  void Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* pool) const;
  const char* KernelName(onexn_isa isa) const;
};

// MEAN over height and width (global average pooling): an average pooling whose window is the whole image,
// so it runs the f32-pool kernels (four vector chains per channel tile).
struct MeanStep {
  GluePlan plan;
  std::unique_ptr<onexn_pool, PoolDeleter> pool;  // made for `shape`
  onexn_pool_shape shape{};

  std::string Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in, std::vector<int>* out);
  StepNode Node() const { return GlueNode(plan); }
  bool Ready() const { return pool != nullptr; }
  void Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* threads) const;
  const char* KernelName(onexn_isa isa) const;
};

// MAX_POOL_2D / AVERAGE_POOL_2D.
struct PoolStep {
  GluePlan plan;
  std::unique_ptr<onexn_pool, PoolDeleter> pool;  // made for `shape`
  onexn_pool_shape shape{};

  std::string Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in, std::vector<int>* out);
  StepNode Node() const { return GlueNode(plan); }
  bool Ready() const { return pool != nullptr; }
  void Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* threads) const;
  const char* KernelName(onexn_isa isa) const;
};

// int8 MAX_POOL_2D (the same quantization in and out).
struct QMaxPoolStep {
  GluePlan plan;
  onexn_pool_shape shape{};

  std::string Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in, std::vector<int>* out);
  StepNode Node() const { return GlueNode(plan); }
  bool Ready() const { return shape.batch > 0; }
  void Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* threads) const;
  const char* KernelName(onexn_isa isa) const;
};

// PAD / PADV2 with zeros (float32), PAD with the zero point (int8).
struct PadStep {
  GluePlan plan;
  std::vector<size_t> in_dims, before, after;

  std::string Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in, std::vector<int>* out);
  StepNode Node() const { return GlueNode(plan); }
  bool Ready() const { return !in_dims.empty(); }
  void Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* pool) const;
  const char* KernelName(onexn_isa isa) const;
};

// CONCATENATION: each input as [outer][its size along the axis][inner].
struct ConcatStep {
  GluePlan plan;
  std::vector<size_t> sizes;
  size_t outer = 0, inner = 0;

  std::string Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in, std::vector<int>* out);
  StepNode Node() const { return GlueNode(plan); }
  bool Ready() const { return !sizes.empty(); }
  void Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* pool) const;
  const char* KernelName(onexn_isa isa) const;
};

// RESHAPE: a copy into the output tensor (small in the networks that have one: a classifier's output).
struct ReshapeStep {
  GluePlan plan;
  size_t bytes = 0;

  std::string Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in, std::vector<int>* out);
  StepNode Node() const { return GlueNode(plan); }
  bool Ready() const { return true; }
  void Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* pool) const;
  const char* KernelName(onexn_isa isa) const;
};

// SOFTMAX over the last axis.
struct SoftmaxStep {
  GluePlan plan;
  size_t rows = 0, channels = 0;

  std::string Prepare(const TfLiteContext* context, onexn_isa isa, const InputDims& in, std::vector<int>* out);
  StepNode Node() const { return GlueNode(plan); }
  bool Ready() const { return true; }
  void Run(const float* const* in, float* out, onexn_isa isa, onexn_threadpool* pool) const;
  const char* KernelName(onexn_isa isa) const;
};

using StepKernel = std::variant<ConvStep, QConvStep, DepthwiseStep, QDepthwiseStep, AddStep, QAddStep, MeanStep,
                                QMeanStep, PoolStep, QMaxPoolStep, PadStep, ConcatStep, ReshapeStep, SoftmaxStep>;

// A verified glue node as the step that runs it (made for its shapes by its Prepare).
StepKernel GlueStep(GluePlan plan);

const char* StepKernelName(const StepKernel& kernel, onexn_isa isa);

struct DwblockDeleter {
  void operator()(onexn_dwblock* p) const { onexn_dwblock_destroy(p); }
};

// Steps run as one (option fuse). A depthwise block: [1x1 expansion ->] depthwise [-> 1x1 projection], each
// intermediate read by the next step alone; it borrows the kernels of the steps it covers. A residual block:
// a CONV_2D (no `block`), or a depthwise block ending in its projection, and the ADD that alone reads its
// output, float or int8 (residual_fusion.h).
struct DwblockSplitDeleter {
  void operator()(onexn_dwblock_split* p) const { onexn_dwblock_split_destroy(p); }
};

struct DwblockChainDeleter {
  void operator()(onexn_dwblock_chain* p) const { onexn_dwblock_chain_destroy(p); }
};

struct FusedBlock {
  std::unique_ptr<onexn_dwblock, DwblockDeleter> block;
  // The first block of a chain at two threads (block_chain.h) also holds the chain, which runs it and the
  // blocks after it (declared after `block`: destroyed before the blocks it borrows).
  std::unique_ptr<onexn_dwblock_chain, DwblockChainDeleter> chain;
  int chain_steps = 0;             // steps the chain covers, starting at this one
  std::vector<int> chain_starts;   // the step that starts each of its blocks
  std::vector<int8_t*> chain_int8;  // an int8 chain's outputs at Invoke (filled there)
  // At several threads a float block of few rows may run cut by channels instead (channel_split.h): then
  // `split` runs it, on slices of the layers it owns (declared first: destroyed after the split).
  std::vector<std::unique_ptr<onexn_conv, ConvDeleter>> slice_convs;
  std::vector<std::unique_ptr<onexn_dwconv, DwconvDeleter>> slice_dws;
  std::unique_ptr<onexn_dwblock_split, DwblockSplitDeleter> split;
  // A float PAD of zeros around the image and the CONV_2D or MAX_POOL_2D after it (pad_fusion.h): that
  // layer made for the PAD's input, the padding folded into its own.
  std::unique_ptr<onexn_conv, ConvDeleter> padded_conv;
  std::unique_ptr<onexn_pool, PoolDeleter> padded_pool;
  bool int8 = false;              // a block of int8 layers (onexn_qdwblock_run)
  int residual = -1;              // a residual block: which input of its last step, the ADD, is added
  int steps = 0;                  // steps it covers, starting at the one that holds it
  ptrdiff_t scratch_offset = -1;  // its scratch in the arena (reusing space other steps used: warm)
  size_t scratch_floats = 0;      // planned for the pool of Prepare time; a bigger pool later gets none
};

// One node of a partition, where its tensors live, and what it cost (ONEXN_PROFILE=1).
struct Step {
  explicit Step(StepKernel k);

  StepKernel kernel;
  int node = -1;
  int code = 0;
  std::vector<int> inputs;  // activation tensors read
  int output = -1;
  // Arena offsets (floats) of inputs / output, set by Prepare; -1: a tensor the runtime owns.
  std::vector<ptrdiff_t> input_offsets;
  std::vector<const float*> input_data;  // where the inputs are at Invoke (filled there, sized by Prepare)
  ptrdiff_t output_offset = -1;
  FusedBlock fused;  // set on the first step of a block; the block's other steps do not run
  double seconds = 0;  // time spent in this step (or its block) over all invokes
  double ends_apart_seconds = 0;  // of which the pool's threads finished apart (onexn_threadpool_time_ends)
  long runs = 0;

  int Span() const { return fused.steps > 1 ? fused.steps : 1; }
};

// How many times the steps read each tensor (the fusions' test that only the next step reads an output).
std::map<int, int> ReaderCounts(const std::vector<Step>& steps);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_PARTITION_STEPS_H_

#include "partition_kernel.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "block_chain.h"
#include "delegate_state.h"
#include "depthwise_fusion.h"
#include "pad_fusion.h"
#include "partition_arena.h"
#include "partition_profile.h"
#include "partition_steps.h"
#include "residual_fusion.h"

namespace onexn {
namespace {

constexpr char kKernelName[] = "onexn_1xn";

struct Partition {
  DelegateState* state = nullptr;
  std::vector<Step> steps;
  std::set<int> outer;  // tensors the runtime owns: the partition's inputs and outputs
  float* arena = nullptr;
  size_t arena_floats = 0;
  std::string label;  // profiling string

  ~Partition() {
    for (Step& s : steps) s.fused = FusedBlock();  // blocks borrow the kernels: they go first
    std::free(arena);
  }
};

void* Init(TfLiteContext* context, const char* buffer, size_t /*length*/) {
  const auto* params = reinterpret_cast<const TfLiteDelegateParams*>(buffer);
  if (params == nullptr || params->delegate == nullptr || params->nodes_to_replace == nullptr) return nullptr;
  auto* state = static_cast<DelegateState*>(params->delegate->data_);
  const bool verbose = state->options.verbose;
  auto part = std::make_unique<Partition>();
  part->state = state;
  for (const TfLiteIntArray* a : {params->input_tensors, params->output_tensors}) {
    for (int i = 0; a != nullptr && i < a->size; ++i) part->outer.insert(a->data[i]);
  }
  std::set<int> produced;
  bool ok = true;
  for (int i = 0; i < params->nodes_to_replace->size && ok; ++i) {
    const int node = params->nodes_to_replace->data[i];
    const auto key = std::make_pair(static_cast<const TfLiteContext*>(context), node);
    if (state->pending_densify.erase(key) != 0) continue;  // its 1xN node reads the compact weight itself
    auto it = state->pending.find(key);
    if (it == state->pending.end()) {  // not a node this delegate verified
      if (verbose) std::fprintf(stderr, "onexn: partition holds unverified node %d\n", node);
      return nullptr;
    }
    Step s(std::move(it->second));
    state->pending.erase(it);
    // Execution order: every input must come from outside or from an earlier step.
    for (int t : s.inputs) {
      if (part->outer.count(t) != 0 || produced.count(t) != 0) continue;
      ok = false;
      if (verbose) std::fprintf(stderr, "onexn: node %d reads tensor %d before the partition produced it\n", node, t);
    }
    produced.insert(s.output);
    part->steps.push_back(std::move(s));
  }
  if (!ok || part->steps.empty()) return nullptr;
  part->label = part->steps.size() == 1 ? "" : std::to_string(part->steps.size()) + " nodes";
  state->live_kernels++;
  state->refs++;
  return part.release();
}

void Free(TfLiteContext* /*context*/, void* buffer) {
  auto* part = static_cast<Partition*>(buffer);
  if (part == nullptr) return;
  if (ProfilingEnabled()) {
    PrintProfile(part->steps, part->state->options.isa, onexn_threadpool_size(part->state->pool));
  }
  DelegateState* state = part->state;
  delete part;
  state->live_kernels--;
  ReleaseState(state);
}

std::vector<int> TensorDims(const TfLiteContext* context, int t) {
  const TfLiteIntArray* d = context->tensors[t].dims;
  return d == nullptr ? std::vector<int>() : std::vector<int>(d->data, d->data + d->size);
}

TfLiteStatus ResizeOutput(TfLiteContext* context, TfLiteTensor* output, const std::vector<int>& dims) {
  const TfLiteIntArray* have = output->dims;
  if (have != nullptr && size_t(have->size) == dims.size() && std::equal(dims.begin(), dims.end(), have->data)) {
    return kTfLiteOk;
  }
  // ResizeTensor takes ownership of the array and frees it with free(), as TfLiteIntArrayFree does.
  // (ResizeTensorExplicit, which would copy, is NULL in the TFLite runtimes: it exists for TFLM.)
  auto* arr = static_cast<TfLiteIntArray*>(std::malloc(sizeof(int) * (dims.size() + 1)));
  if (arr == nullptr) return kTfLiteError;
  arr->size = int(dims.size());
  std::copy(dims.begin(), dims.end(), arr->data);
  return context->ResizeTensor(context, output, arr);
}

// Grows the arena to `floats` (its contents are not kept). "" or the reason.
std::string ReserveArena(Partition* part, size_t floats) {
  if (floats > SIZE_MAX / sizeof(float)) {
    return "intermediate tensors of " + std::to_string(floats) + " floats overflow the address space";
  }
  if (floats <= part->arena_floats) return "";
  void* arena = nullptr;
  if (posix_memalign(&arena, 64, floats * sizeof(float)) != 0) {
    return "out of memory for " + std::to_string(floats) + " intermediate floats";
  }
  std::free(part->arena);
  part->arena = static_cast<float*>(arena);
  part->arena_floats = floats;
  return "";
}

void UpdateReport(const Partition& part, GraphReport* report) {
  for (size_t i = 0; i < part.steps.size(); ++i) {
    const Step& s = part.steps[i];
    report->kernel_names[s.node] = StepKernelName(s.kernel, part.state->options.isa);
    const ConvStep* conv = std::get_if<ConvStep>(&s.kernel);
    if (conv != nullptr && !conv->every_block.empty()) {
      report->every_block[s.node] = conv->every_block;
    } else {
      report->every_block.erase(s.node);
    }
    if (conv != nullptr && conv->choice.sparse_ns >= 0.0 && conv->choice.dense_ns >= 0.0) {
      report->estimates[s.node] = conv->choice;
    } else {
      report->estimates.erase(s.node);
    }
    report->fused.erase(s.node);
    report->residual.erase(s.node);
    report->channel_slices.erase(s.node);
    report->folded_pads.erase(s.node);
    report->chains.erase(s.node);
    if (s.fused.chain != nullptr) {
      for (int start : s.fused.chain_starts) report->chains[s.node].push_back(part.steps[size_t(start)].node);
    }
    if (s.fused.padded_conv != nullptr || s.fused.padded_pool != nullptr) {
      report->folded_pads[s.node] = part.steps[i + 1].node;
    }
    if (s.fused.split != nullptr) {
      report->channel_slices[s.node] = int(onexn_dwblock_split_slices(s.fused.split.get()));
    }
    if (s.fused.steps < 2) continue;
    if (s.fused.block != nullptr) {
      for (int j = 0; j < s.fused.steps; ++j) report->fused[s.node].push_back(part.steps[i + j].node);
    }
    if (s.fused.residual >= 0) {  // [the convolution that adds, the ADD]
      const size_t add = i + size_t(s.fused.steps) - 1;
      report->residual[s.node] = {part.steps[add - 1].node, part.steps[add].node};
    }
  }
}

// Shapes for the current input dims (steps pack their kernels again where a shape changed), the
// outputs resized, the depthwise blocks, then the arena.
TfLiteStatus Prepare(TfLiteContext* context, TfLiteNode* node) {
  auto* part = static_cast<Partition*>(node->user_data);
  if (part == nullptr) {
    context->ReportError(context, "onexn: delegate kernel was not initialized");
    return kTfLiteError;
  }
  const DelegateOptions& options = part->state->options;
  for (Step& s : part->steps) s.fused = FusedBlock();  // made again below, for the kernels of these shapes
  std::map<int, std::vector<int>> dims;
  for (int t : part->outer) dims[t] = TensorDims(context, t);
  for (Step& s : part->steps) {
    InputDims in;
    for (int t : s.inputs) in.push_back(dims[t]);
    std::vector<int> out;
    const std::string err = std::visit([&](auto& k) { return k.Prepare(context, options.isa, in, &out); }, s.kernel);
    if (!err.empty()) {
      context->ReportError(context, "onexn: node %d: %s", s.node, err.c_str());
      return kTfLiteError;
    }
    dims[s.output] = std::move(out);
  }
  for (int i = 0; i < node->outputs->size; ++i) {
    const int t = node->outputs->data[i];
    if (ResizeOutput(context, &context->tensors[t], dims[t]) != kTfLiteOk) return kTfLiteError;
  }
  const int threads = onexn_threadpool_size(part->state->pool);
  if (options.fuse) {
    PlanFusion(context, options.isa, &part->steps, part->outer, threads, options.channel_slices, options.verbose);
    PlanResidualFusion(&part->steps, part->outer);
    PlanPadFusion(context, options.isa, &part->steps, part->outer);
    if (options.pipeline) PlanBlockChains(&part->steps, threads, options.isa, options.verbose);
  }
  const ArenaLayout layout = PlanPartitionArena(&part->steps, part->outer, dims, threads);
  const std::string err = ReserveArena(part, layout.floats);
  if (!err.empty()) {
    context->ReportError(context, "onexn: %s", err.c_str());
    return kTfLiteError;
  }
  UseArenaLayout(layout, &part->steps);
  if (GraphReport* report = part->state->ReportFor(context)) UpdateReport(*part, report);
  return kTfLiteOk;
}

float* TensorData(const Partition& part, TfLiteContext* context, int t, ptrdiff_t arena_offset) {
  return arena_offset >= 0 ? part.arena + arena_offset : context->tensors[t].data.f;
}

// Runs the chain of blocks that starts at step i: each block's output where its last step's output lives.
TfLiteStatus RunChain(TfLiteContext* context, Partition& part, size_t i) {
  Step& s = part.steps[i];
  std::vector<const float*>& in = s.input_data;
  in.resize(1 + s.fused.chain_starts.size());  // the input, then the blocks' outputs (first invoke allocates)
  in[0] = TensorData(part, context, s.inputs[0], s.input_offsets[0]);
  for (size_t k = 0; k < s.fused.chain_starts.size(); ++k) {
    const size_t start = size_t(s.fused.chain_starts[k]);
    const Step& last = part.steps[start + size_t(part.steps[start].Span()) - 1];
    in[k + 1] = TensorData(part, context, last.output, last.output_offset);
  }
  if (std::find(in.begin(), in.end(), nullptr) != in.end()) {
    context->ReportError(context, "onexn: node %d invoked before it was prepared", s.node);
    return kTfLiteError;
  }
  int status;
  if (s.fused.int8) {
    std::vector<int8_t*>& outs = s.fused.chain_int8;
    outs.resize(in.size() - 1);
    for (size_t k = 1; k < in.size(); ++k) outs[k - 1] = reinterpret_cast<int8_t*>(const_cast<float*>(in[k]));
    status = onexn_qdwblock_chain_run(s.fused.chain.get(), reinterpret_cast<const int8_t*>(in[0]), outs.data(),
                                      part.state->pool);
  } else {
    status = onexn_dwblock_chain_run(s.fused.chain.get(), in[0], const_cast<float* const*>(in.data() + 1),
                                     part.state->pool);
  }
  if (status != 0) {
    context->ReportError(context, "onexn: node %d: out of memory for the chained blocks' buffers", s.node);
    return kTfLiteError;
  }
  return kTfLiteOk;
}

// Runs step i, or the block that starts there (reading the step's input, writing its last step's output).
TfLiteStatus RunStep(TfLiteContext* context, Partition& part, size_t i) {
  if (part.steps[i].fused.chain != nullptr) return RunChain(context, part, i);
  Step& s = part.steps[i];
  const Step& last = part.steps[i + s.Span() - 1];
  std::vector<const float*>& in = s.input_data;
  in.resize(s.inputs.size());  // allocates on the first invoke only
  for (size_t k = 0; k < s.inputs.size(); ++k) in[k] = TensorData(part, context, s.inputs[k], s.input_offsets[k]);
  float* out = TensorData(part, context, last.output, last.output_offset);
  const bool ready = std::visit([](const auto& k) { return k.Ready(); }, s.kernel);
  if (out == nullptr || !ready || std::find(in.begin(), in.end(), nullptr) != in.end()) {
    context->ReportError(context, "onexn: node %d invoked before it was prepared", s.node);
    return kTfLiteError;
  }
  onexn_threadpool* pool = part.state->pool;
  const onexn_isa isa = part.state->options.isa;
  const float* addend = nullptr;  // a residual block's other operand: its ADD, the block's last step
  const int r = s.fused.residual;
  if (r >= 0) {
    addend = TensorData(part, context, last.inputs[r], last.input_offsets[r]);
    if (addend == nullptr) {
      context->ReportError(context, "onexn: node %d invoked before it was prepared", last.node);
      return kTfLiteError;
    }
  }
  if (s.fused.padded_conv != nullptr) {
    onexn_conv_run(s.fused.padded_conv.get(), in[0], out, pool);
    return kTfLiteOk;
  }
  if (s.fused.padded_pool != nullptr) {
    onexn_pool_run(s.fused.padded_pool.get(), in[0], out, pool);
    return kTfLiteOk;
  }
  if (s.fused.block != nullptr) {
    float* scratch = s.fused.scratch_offset >= 0 ? part.arena + s.fused.scratch_offset : nullptr;
    onexn_dwblock* b = s.fused.block.get();
    const size_t floats = s.fused.scratch_floats;
    const auto* in8 = reinterpret_cast<const int8_t*>(in[0]);
    auto* out8 = reinterpret_cast<int8_t*>(out);
    int status;
    if (s.fused.int8 && addend != nullptr) {
      const QAddStep& add = std::get<QAddStep>(last.kernel);
      status = onexn_qdwblock_run_add(b, in8, reinterpret_cast<const int8_t*>(addend), out8, &add.params, 1 - r, isa,
                                      scratch, floats, pool);
    } else if (s.fused.int8) {
      status = onexn_qdwblock_run(b, in8, out8, scratch, floats, pool);
    } else if (s.fused.split != nullptr && addend != nullptr) {
      const AddStep& add = std::get<AddStep>(last.kernel);
      status = onexn_dwblock_split_run_add(s.fused.split.get(), in[0], addend, out, add.out_min, add.out_max, scratch,
                                           floats, pool);
    } else if (s.fused.split != nullptr) {
      status = onexn_dwblock_split_run(s.fused.split.get(), in[0], out, scratch, floats, pool);
    } else if (addend != nullptr) {
      const AddStep& add = std::get<AddStep>(last.kernel);
      status = onexn_dwblock_run_add(b, in[0], addend, out, add.out_min, add.out_max, scratch, floats, pool);
    } else {
      status = onexn_dwblock_run(b, in[0], out, scratch, floats, pool);
    }
    if (status != 0) {
      context->ReportError(context, "onexn: node %d: out of memory for the fused block's buffers", s.node);
      return kTfLiteError;
    }
    return kTfLiteOk;
  }
  if (const QConvStep* q = std::get_if<QConvStep>(&s.kernel); q != nullptr && addend != nullptr) {
    q->RunAdd(reinterpret_cast<const int8_t*>(in[0]), reinterpret_cast<const int8_t*>(addend),
              reinterpret_cast<int8_t*>(out), std::get<QAddStep>(last.kernel).params, 1 - r, isa, pool);
    return kTfLiteOk;
  }
  if (addend != nullptr) {
    const AddStep& add = std::get<AddStep>(last.kernel);
    std::get<ConvStep>(s.kernel).RunAdd(in[0], addend, out, add.out_min, add.out_max, pool);
    return kTfLiteOk;
  }
  std::visit([&](const auto& k) { k.Run(in.data(), out, isa, pool); }, s.kernel);
  return kTfLiteOk;
}

TfLiteStatus Invoke(TfLiteContext* context, TfLiteNode* node) {
  auto* part = static_cast<Partition*>(node->user_data);
  const bool profile = ProfilingEnabled();
  if (profile) onexn_threadpool_time_ends(part->state->pool, 1);
  const onexn_fpu_state fpu = onexn_fpu_flush_denormals();  // as XNNPACK does (kernels/common/fpu.c)
  TfLiteStatus status = kTfLiteOk;
  for (size_t i = 0; i < part->steps.size() && status == kTfLiteOk;
       i += part->steps[i].fused.chain != nullptr ? part->steps[i].fused.chain_steps : part->steps[i].Span()) {
    const double start = profile ? NowSeconds() : 0.0;
    status = RunStep(context, *part, i);
    if (profile) {
      part->steps[i].seconds += NowSeconds() - start;
      part->steps[i].ends_apart_seconds += onexn_threadpool_take_end_spread(part->state->pool);
      part->steps[i].runs++;
    }
  }
  onexn_fpu_restore(fpu);
  return status;
}

const char* ProfilingString(const TfLiteContext* /*context*/, const TfLiteNode* node) {
  const auto* part = static_cast<const Partition*>(node->user_data);
  if (part == nullptr) return kKernelName;
  if (part->steps.size() == 1) return StepKernelName(part->steps[0].kernel, part->state->options.isa);
  return part->label.c_str();
}

}  // namespace

TfLiteRegistration KernelRegistration() {
  TfLiteRegistration r;
  std::memset(&r, 0, sizeof(r));
  r.init = Init;
  r.free = Free;
  r.prepare = Prepare;
  r.invoke = Invoke;
  r.profiling_string = ProfilingString;
  r.builtin_code = kTfLiteBuiltinDelegate;
  r.custom_name = kKernelName;
  r.version = 1;
  return r;
}

}  // namespace onexn

// The delegate kernel: one partition of claimed nodes (1xN CONV_2D / FULLY_CONNECTED, and the
// DEPTHWISE_CONV_2D / ADD glue between them) run in execution order on the onexn kernels.
//
// Tensors produced and consumed inside the partition are not allocated by the runtime (no node of its
// execution plan touches them any more): they live in the kernel's own arena, planned by lifetime.
#include <algorithm>
#include <cstdio>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "arena_plan.h"
#include "conv_geometry.h"
#include "delegate_state.h"

namespace onexn {
namespace {

constexpr char kKernelName[] = "onexn_1xn";

struct Step {
  int node = -1;
  int code = 0;
  std::vector<int> inputs;  // activation tensors read
  int output = -1;
  // Arena offsets (floats) of inputs / output, resolved in Prepare; -1: a tensor the runtime owns.
  std::vector<ptrdiff_t> input_offsets;
  ptrdiff_t output_offset = -1;
  // 1xN CONV_2D / FULLY_CONNECTED
  bool is_conv = false;
  NodePlan plan;
  onexn_conv* conv = nullptr;
  onexn_conv_shape conv_shape{};
  // Glue
  GluePlan glue;
  onexn_dwconv* dw = nullptr;
  onexn_dwconv_shape dw_shape{};
  size_t add_count = 0;
  float add_min = 0, add_max = 0;
  size_t mean_batch = 0, mean_pixels = 0, mean_channels = 0;
  // The first step of a depthwise block (option fuse): [1x1 expansion ->] depthwise [-> 1x1 projection],
  // each intermediate read by the next step alone, run as one by onexn_dwblock. The block's other steps
  // are skipped and its intermediate tensors get no arena space.
  onexn_dwblock* block = nullptr;
  int block_steps = 0;            // steps the block covers, this one included
  ptrdiff_t scratch_offset = -1;  // its scratch in the arena (reusing space other steps used: warm)
  size_t scratch_floats = 0;      // planned for the pool of Prepare time; a bigger pool later gets none
  // ONEXN_PROFILE=1: time spent in this step over all invokes, printed when the kernel is freed.
  double seconds = 0;
  long runs = 0;
};

bool ProfilingEnabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("ONEXN_PROFILE");
    return v != nullptr && v[0] != '\0' && v[0] != '0';
  }();
  return enabled;
}

double NowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Partition {
  DelegateState* state = nullptr;
  const TfLiteContext* context = nullptr;
  std::vector<Step> steps;
  std::set<int> outer;            // tensors the runtime owns: the partition's inputs and outputs
  float* arena = nullptr;
  size_t arena_floats = 0;
  std::string label;              // profiling string
};

void FreeStep(Step* s) {
  if (s->block != nullptr) onexn_dwblock_destroy(s->block);
  s->block = nullptr;
  if (s->conv != nullptr) onexn_conv_destroy(s->conv);
  if (s->dw != nullptr) onexn_dwconv_destroy(s->dw);
  s->conv = nullptr;
  s->dw = nullptr;
}

void* Init(TfLiteContext* context, const char* buffer, size_t /*length*/) {
  const auto* params = reinterpret_cast<const TfLiteDelegateParams*>(buffer);
  if (params == nullptr || params->delegate == nullptr || params->nodes_to_replace == nullptr) return nullptr;
  auto* state = static_cast<DelegateState*>(params->delegate->data_);
  auto* part = new Partition;
  part->state = state;
  part->context = context;
  for (int i = 0; params->input_tensors != nullptr && i < params->input_tensors->size; ++i) {
    part->outer.insert(params->input_tensors->data[i]);
  }
  for (int i = 0; params->output_tensors != nullptr && i < params->output_tensors->size; ++i) {
    part->outer.insert(params->output_tensors->data[i]);
  }
  std::set<int> produced;
  bool ok = true;
  for (int i = 0; i < params->nodes_to_replace->size && ok; ++i) {
    const int node = params->nodes_to_replace->data[i];
    const auto key = std::make_pair(static_cast<const TfLiteContext*>(context), node);
    if (state->pending_densify.erase(key) != 0) continue;  // its 1xN node reads the compact weight itself
    Step s;
    s.node = node;
    if (auto it = state->pending.find(key); it != state->pending.end()) {
      s.is_conv = true;
      s.code = it->second.plan.builtin_code;
      s.plan = std::move(it->second.plan);
      s.conv = it->second.conv;
      s.conv_shape = it->second.shape;
      s.inputs = {s.plan.input};
      s.output = s.plan.output;
      state->pending.erase(it);
    } else if (auto g = state->pending_glue.find(key); g != state->pending_glue.end()) {
      s.code = g->second.plan.builtin_code;
      s.glue = std::move(g->second.plan);
      s.dw = g->second.dw;
      s.dw_shape = g->second.shape;
      s.inputs = s.glue.inputs;
      s.output = s.glue.output;
      state->pending_glue.erase(g);
    } else {
      ok = false;  // not a node this delegate verified
      if (state->options.verbose) std::fprintf(stderr, "onexn: partition holds unverified node %d\n", node);
      break;
    }
    // Execution order: every input must come from outside or from an earlier step.
    for (int t : s.inputs) {
      if (part->outer.count(t) == 0 && produced.count(t) == 0) {
        ok = false;
        if (state->options.verbose) {
          std::fprintf(stderr, "onexn: node %d reads tensor %d before the partition produced it\n", node, t);
        }
      }
    }
    produced.insert(s.output);
    part->steps.push_back(std::move(s));
  }
  if (!ok || part->steps.empty()) {
    for (Step& s : part->steps) FreeStep(&s);
    delete part;
    return nullptr;
  }
  part->label = part->steps.size() == 1 ? "" : std::to_string(part->steps.size()) + " nodes";
  state->live_kernels++;
  state->refs++;
  return part;
}

const char* StepKernelName(const Step& s, onexn_isa isa);

// Mean time per invoke of every step (ONEXN_PROFILE=1), on stderr.
void PrintProfile(const Partition& part) {
  double total = 0;
  for (const Step& s : part.steps) total += s.runs ? s.seconds / double(s.runs) : 0.0;
  std::fprintf(stderr, "onexn profile: partition of %zu nodes, %.3f ms per invoke in its steps\n", part.steps.size(),
               1e3 * total);
  for (size_t i = 0; i < part.steps.size(); ++i) {
    const Step& s = part.steps[i];
    if (s.runs == 0) continue;
    std::fprintf(stderr, "onexn profile: node %4d %-18s %-34s %8.3f ms%s\n", s.node, BuiltinOpName(s.code),
                 StepKernelName(s, part.state->options.isa), 1e3 * s.seconds / double(s.runs),
                 s.block != nullptr ? (" (fused block of " + std::to_string(s.block_steps) + " nodes)").c_str() : "");
  }
}

void Free(TfLiteContext* /*context*/, void* buffer) {
  auto* part = static_cast<Partition*>(buffer);
  if (part == nullptr) return;
  if (ProfilingEnabled()) PrintProfile(*part);
  for (Step& s : part->steps) FreeStep(&s);
  std::free(part->arena);
  part->state->live_kernels--;
  ReleaseState(part->state);
  delete part;
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

// Shapes for the current input dims; packs kernels again where a shape changed. "" or the reason.
std::string PrepareStep(TfLiteContext* context, const DelegateState& state, Step* s,
                        std::map<int, std::vector<int>>* dims) {
  const std::vector<int>& in = (*dims)[s->inputs[0]];
  char msg[256] = {0};
  if (s->is_conv) {
    std::vector<int> storage(in.size() + 1);  // a TfLiteIntArray: size, then the dims
    storage[0] = int(in.size());
    std::copy(in.begin(), in.end(), storage.begin() + 1);
    Geometry g;
    std::string err = ComputeGeometry(s->plan, reinterpret_cast<const TfLiteIntArray*>(storage.data()), &g);
    if (!err.empty()) return err;
    (*dims)[s->output] = g.output_dims;
    if (s->conv != nullptr && SameShape(s->conv_shape, g.shape)) return "";
    const NodePlan& p = s->plan;
    const onexn_block_index index = {p.n, int(p.group_ptr.size()) - 1, p.group_ptr.data(), p.kept_cin.data()};
    const float* bias = p.bias >= 0 ? context->tensors[p.bias].data.f : nullptr;
    std::vector<float> scratch;
    const float* weights = PlanWeights(context, p, &scratch);
    onexn_conv* conv = onexn_conv_create(&g.shape, &index, weights, bias, state.options.isa, msg, sizeof(msg));
    if (conv == nullptr) return msg;
    if (s->conv != nullptr) onexn_conv_destroy(s->conv);
    s->conv = conv;
    s->conv_shape = g.shape;
    return "";
  }
  if (s->code == kTfLiteBuiltinAdd) {
    if ((*dims)[s->inputs[1]] != in) return "ADD inputs differ in shape after a resize";
    size_t count = 1;
    for (int v : in) count *= size_t(v);
    s->add_count = count;
    if (!ActivationRange(s->glue.activation, &s->add_min, &s->add_max)) return "unsupported fused activation";
    (*dims)[s->output] = in;
    return "";
  }
  if (s->code == kTfLiteBuiltinMean) {
    if (in.size() != 4) return "MEAN input is not 4-D after a resize";
    s->mean_batch = size_t(in[0]);
    s->mean_pixels = size_t(in[1]) * size_t(in[2]);
    s->mean_channels = size_t(in[3]);
    (*dims)[s->output] = MeanOutputDims(in, s->glue.keep_dims);
    return "";
  }
  onexn_dwconv_shape shape;
  std::vector<int> out_dims;
  std::string err = DepthwiseGeometry(s->glue, in, &shape, &out_dims);
  if (!err.empty()) return err;
  (*dims)[s->output] = out_dims;
  if (s->dw != nullptr && SameDwShape(s->dw_shape, shape)) return "";
  const float* bias = s->glue.bias >= 0 ? context->tensors[s->glue.bias].data.f : nullptr;
  onexn_dwconv* dw = onexn_dwconv_create(&shape, context->tensors[s->glue.weights].data.f, bias, state.options.isa,
                                         msg, sizeof(msg));
  if (dw == nullptr) return msg;
  if (s->dw != nullptr) onexn_dwconv_destroy(s->dw);
  s->dw = dw;
  s->dw_shape = shape;
  return "";
}

const char* StepKernelName(const Step& s, onexn_isa isa) {
  return s.is_conv ? onexn_conv_kernel_name(s.conv) : GlueKernelName(s.code, s.dw, isa);
}

// At several threads each run of rows recomputes the expansion rows it shares with the previous run. On
// short images that is much of the expansion (7x7 at 2 threads: 9 rows for 7), more than the memory
// traffic fusing saves (MobileNetV2's 7x7 blocks ran 10% slower fused at 2 threads, 14x14 ones faster).
constexpr int kMaxRecomputePercent = 20;

bool ExpansionFusionPays(const onexn_dwblock* block, const onexn_dwconv_shape& d, int threads) {
  const size_t runs = onexn_dwblock_runs(block, size_t(threads));
  const int shared = std::max(0, (d.kh - 1) * d.dilation_h + 1 - d.stride_h);
  return (runs - 1) * size_t(shared) * 100 <= size_t(kMaxRecomputePercent) * size_t(d.in_h);
}

// Depthwise blocks: a DEPTHWISE_CONV_2D with the 1x1 CONV_2D before it (whose output only the depthwise
// reads) and/or the 1x1 CONV_2D after it (reading only the depthwise's output); intermediates must not
// leave the partition. onexn_dwblock_create checks the shapes; a block it refuses is tried smaller.
void PlanFusion(Partition* part) {
  std::map<int, int> readers;
  for (const Step& s : part->steps) {
    for (int t : s.inputs) readers[t]++;
  }
  const int n = int(part->steps.size());
  auto pointwise = [&](int i) {
    return i >= 0 && i < n && part->steps[i].is_conv && part->steps[i].code == kTfLiteBuiltinConv2d &&
           part->steps[i].conv != nullptr && part->steps[i].conv_shape.kh == 1 && part->steps[i].conv_shape.kw == 1;
  };
  auto depthwise = [&](int i) {
    return i >= 0 && i < n && part->steps[i].code == kTfLiteBuiltinDepthwiseConv2d && part->steps[i].dw != nullptr;
  };
  // Step `to` reads step `from`'s output, which nothing else reads and which stays inside.
  auto feeds = [&](int from, int to) {
    const Step& a = part->steps[from];
    return part->steps[to].inputs[0] == a.output && readers[a.output] == 1 && part->outer.count(a.output) == 0;
  };
  if (!part->state->options.fuse) return;  // (Prepare destroyed the previous blocks)
  const int threads = onexn_threadpool_size(part->state->pool);
  for (int i = 0; i < n; ++i) {
    const bool expand = pointwise(i) && depthwise(i + 1) && feeds(i, i + 1);
    const int d = expand ? i + 1 : i;
    if (!depthwise(d)) continue;
    const bool project = pointwise(d + 1) && feeds(d, d + 1);
    if (!expand && !project) continue;
    // The largest block first; if it is refused, with the expansion or the projection left apart.
    std::vector<std::pair<bool, bool>> tries = {{expand, project}};
    if (expand && project) tries.insert(tries.end(), {{true, false}, {false, true}});
    std::string refused;  // why the largest block was not made
    for (const auto& [e, p] : tries) {
      Step& start = part->steps[e ? i : d];
      char msg[256] = {0};
      start.block = onexn_dwblock_create(e ? part->steps[i].conv : nullptr, part->steps[d].dw,
                                         p ? part->steps[d + 1].conv : nullptr, msg, sizeof(msg));
      if (start.block != nullptr && e && !ExpansionFusionPays(start.block, part->steps[d].dw_shape, threads)) {
        std::snprintf(msg, sizeof(msg), "at %d threads the runs of rows would recompute over %d%% of the expansion",
                      threads, kMaxRecomputePercent);
        onexn_dwblock_destroy(start.block);
        start.block = nullptr;
      }
      if (refused.empty()) refused = msg;
      if (start.block == nullptr) continue;
      start.block_steps = 1 + int(e) + int(p);
      i = (e ? i : d) + start.block_steps - 1;  // continue after the block
      break;
    }
    if (!refused.empty() && part->state->options.verbose) {
      std::fprintf(stderr, "onexn: depthwise node %d: a 1x1 convolution next to it runs apart: %s\n",
                   part->steps[d].node, refused.c_str());
    }
  }
}

TfLiteStatus Prepare(TfLiteContext* context, TfLiteNode* node) {
  auto* part = static_cast<Partition*>(node->user_data);
  if (part == nullptr) {
    context->ReportError(context, "onexn: delegate kernel was not initialized");
    return kTfLiteError;
  }
  // Blocks borrow the steps' kernels, which PrepareStep may replace: they are made again by PlanFusion.
  for (Step& s : part->steps) {
    if (s.block != nullptr) onexn_dwblock_destroy(s.block);
    s.block = nullptr;
    s.block_steps = 0;
  }
  std::map<int, std::vector<int>> dims;
  for (int t : part->outer) dims[t] = TensorDims(context, t);
  for (Step& s : part->steps) {
    const std::string err = PrepareStep(context, *part->state, &s, &dims);
    if (!err.empty()) {
      context->ReportError(context, "onexn: node %d: %s", s.node, err.c_str());
      return kTfLiteError;
    }
  }
  for (int i = 0; i < node->outputs->size; ++i) {
    const int t = node->outputs->data[i];
    if (ResizeOutput(context, &context->tensors[t], dims[t]) != kTfLiteOk) return kTfLiteError;
  }
  PlanFusion(part);
  // Internal tensors: lifetimes over the steps, then offsets in one arena. Inside a block only its last
  // step's output exists, from the block's first step on.
  std::vector<bool> inside_block(part->steps.size(), false);
  std::vector<int> block_start(part->steps.size());
  for (int i = 0; i < int(part->steps.size()); ++i) block_start[i] = i;
  for (int i = 0; i < int(part->steps.size()); ++i) {
    const int k = part->steps[i].block_steps;
    for (int j = i; j < i + k - 1; ++j) inside_block[j] = true;
    if (k > 0) block_start[i + k - 1] = i;
  }
  std::map<int, ArenaRequest> requests;
  for (int i = 0; i < int(part->steps.size()); ++i) {
    const Step& s = part->steps[i];
    for (int t : s.inputs) {
      if (requests.count(t) != 0) requests[t].last = i;
    }
    if (part->outer.count(s.output) == 0 && !inside_block[i]) {
      size_t floats = 1;
      for (int v : dims[s.output]) floats *= size_t(v);
      // A block writes its last step's output while it still reads its first step's input.
      const int first = block_start[i];
      requests[s.output] = ArenaRequest{floats, first, i};
    }
  }
  // Scratch of blocks: arena space for the block's first step, keyed below every tensor index.
  const int threads = onexn_threadpool_size(part->state->pool);
  for (int i = 0; i < int(part->steps.size()); ++i) {
    Step& s = part->steps[i];
    s.scratch_floats = s.block != nullptr ? onexn_dwblock_scratch_floats(s.block, size_t(threads)) : 0;
    if (s.scratch_floats != 0) requests[-2 - i] = ArenaRequest{s.scratch_floats, i, i};
  }
  std::vector<int> tensors;
  std::vector<ArenaRequest> list;
  for (const auto& r : requests) {
    tensors.push_back(r.first);
    list.push_back(r.second);
  }
  std::vector<size_t> offsets;
  const size_t total = PlanArena(list, &offsets);
  if (total > SIZE_MAX / sizeof(float)) {
    context->ReportError(context, "onexn: intermediate tensors of %zu floats overflow the address space", total);
    return kTfLiteError;
  }
  if (total > part->arena_floats) {
    void* arena = nullptr;
    if (posix_memalign(&arena, 64, total * sizeof(float)) != 0) {
      context->ReportError(context, "onexn: out of memory for %zu intermediate floats", total);
      return kTfLiteError;
    }
    std::free(part->arena);
    part->arena = static_cast<float*>(arena);
    part->arena_floats = total;
  }
  std::map<int, ptrdiff_t> offset;  // internal tensor -> its place in the arena
  for (size_t i = 0; i < tensors.size(); ++i) offset[tensors[i]] = ptrdiff_t(offsets[i]);
  auto arena_offset = [&](int t) {
    auto it = offset.find(t);
    return it != offset.end() ? it->second : ptrdiff_t(-1);
  };
  for (int i = 0; i < int(part->steps.size()); ++i) part->steps[i].scratch_offset = arena_offset(-2 - i);
  for (Step& s : part->steps) {
    s.input_offsets.clear();
    for (int t : s.inputs) s.input_offsets.push_back(arena_offset(t));
    s.output_offset = arena_offset(s.output);
  }
  if (GraphReport* report = part->state->ReportFor(context)) {
    for (size_t i = 0; i < part->steps.size(); ++i) {
      const Step& s = part->steps[i];
      report->kernel_names[s.node] = StepKernelName(s, part->state->options.isa);
      report->fused.erase(s.node);
      if (s.block == nullptr) continue;
      std::vector<int>& nodes = report->fused[s.node];
      for (int j = 0; j < s.block_steps; ++j) nodes.push_back(part->steps[i + j].node);
    }
  }
  return kTfLiteOk;
}

float* TensorData(const Partition* part, TfLiteContext* context, int t, ptrdiff_t arena_offset) {
  return arena_offset >= 0 ? part->arena + arena_offset : context->tensors[t].data.f;
}

TfLiteStatus Invoke(TfLiteContext* context, TfLiteNode* node) {
  auto* part = static_cast<Partition*>(node->user_data);
  onexn_threadpool* pool = part->state->pool;
  const bool profile = ProfilingEnabled();
  for (size_t i = 0; i < part->steps.size(); ++i) {
    Step& s = part->steps[i];
    const double start = profile ? NowSeconds() : 0.0;
    // A block writes its last step's output, and its other steps are skipped.
    const Step& last = s.block != nullptr ? part->steps[i + s.block_steps - 1] : s;
    const float* in = TensorData(part, context, s.inputs[0], s.input_offsets[0]);
    float* out = TensorData(part, context, last.output, last.output_offset);
    if (in == nullptr || out == nullptr || (s.is_conv && s.conv == nullptr) ||
        (s.code == kTfLiteBuiltinDepthwiseConv2d && s.dw == nullptr)) {
      context->ReportError(context, "onexn: node %d invoked before it was prepared", s.node);
      return kTfLiteError;
    }
    if (s.block != nullptr) {
      float* scratch = s.scratch_offset >= 0 ? part->arena + s.scratch_offset : nullptr;
      if (onexn_dwblock_run(s.block, in, out, scratch, s.scratch_floats, pool) != 0) {
        context->ReportError(context, "onexn: node %d: out of memory for the fused block's buffers", s.node);
        return kTfLiteError;
      }
    } else if (s.is_conv) {
      onexn_conv_run(s.conv, in, out, pool);
    } else if (s.code == kTfLiteBuiltinAdd) {
      const float* in1 = TensorData(part, context, s.inputs[1], s.input_offsets[1]);
      if (in1 == nullptr) return kTfLiteError;
      onexn_add_run(part->state->options.isa, in, in1, out, s.add_count, s.add_min, s.add_max, pool);
    } else if (s.code == kTfLiteBuiltinMean) {
      onexn_gavgpool_run(in, out, s.mean_batch, s.mean_pixels, s.mean_channels);
    } else {
      onexn_dwconv_run(s.dw, in, out, pool);
    }
    if (profile) {
      s.seconds += NowSeconds() - start;
      s.runs++;
    }
    if (s.block != nullptr) i += size_t(s.block_steps - 1);
  }
  return kTfLiteOk;
}

const char* ProfilingString(const TfLiteContext* /*context*/, const TfLiteNode* node) {
  const auto* part = static_cast<const Partition*>(node->user_data);
  if (part == nullptr) return kKernelName;
  if (part->steps.size() == 1) return StepKernelName(part->steps[0], part->state->options.isa);
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

// Tests of onexn_dwblock (expansion 1x1 -> depthwise -> projection 1x1 run as one, either 1x1 optional)
// against the layers run one after the other, float and int8 (onexn_qdwblock): bit-identical outputs for
// every ISA here, random block indices and widths (int8: zero points and scales), depthwise strides /
// dilations / padding, batches, bands from one row to many, thread counts, the object's own scratch and a
// caller's; nothing written outside the output; layers that do not chain are refused with a message, and
// a block runs only as its kind.
//   bazel test //tflite_delegate:dwblock_test
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "onexn_kernels.h"
#include "test_util.h"

namespace {

using onexn_test::AvailableIsas;
using onexn_test::Axis;
using onexn_test::Check;
using onexn_test::Pad;
using onexn_test::PointwiseShape;
using onexn_test::RandomCaseCount;

// 64-byte aligned floats, NaN-filled so a read of scratch before it is written would show.
float* AlignedFloats(size_t floats) {
  void* p = std::aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
  std::fill_n(static_cast<float*>(p), floats, std::numeric_limits<float>::quiet_NaN());
  return static_cast<float*>(p);
}

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr size_t kGuard = 64;
constexpr float kSentinel = -12345.0f;

enum Layers { kDepthwise = 0, kExpand = 1, kProject = 2, kBoth = 3 };  // kDepthwise: alone

struct Case {
  int layers = kBoth;
  int batch = 1, h = 9, w = 9, cin = 8, mid = 24, cout = 12, n = 4;
  double sparsity = 0.5;
  int kh = 3, kw = 3, stride = 1, dilation = 1;
  bool same = true;  // SAME padding, else VALID
  bool relu6 = true;
  unsigned seed = 1;
  std::string Describe() const {
    char buf[240];
    std::snprintf(buf, sizeof(buf), "%s b%d %dx%dx%d->%d->%d n%d sp%.2f dw k%dx%d s%d d%d %s%s seed=%u",
                  layers == kBoth      ? "expand+dw+project"
                  : layers == kExpand  ? "expand+dw"
                  : layers == kProject ? "dw+project"
                                       : "dw",
                  batch, h,
                  w, cin, mid, cout, n, sparsity, kh, kw, stride, dilation, same ? "same" : "valid",
                  relu6 ? " relu6" : "", seed);
    return buf;
  }
};

// The case's depthwise shape; false when its window does not fit (VALID padding).
bool DepthwiseShape(const Case& c, onexn_dwconv_shape* d) {
  *d = onexn_dwconv_shape{};
  d->batch = c.batch;
  d->in_h = c.h;
  d->in_w = c.w;
  d->channels = c.mid;
  d->kh = c.kh;
  d->kw = c.kw;
  d->stride_h = d->stride_w = c.stride;
  d->dilation_h = d->dilation_w = c.dilation;
  const Pad pad = c.same ? Pad::kSame : Pad::kValid;
  d->out_min = c.relu6 ? 0.0f : -kInf;
  d->out_max = c.relu6 ? 6.0f : kInf;
  return Axis(pad, c.h, c.kh, c.stride, c.dilation, 0, 0, &d->out_h, &d->pad_top) &&
         Axis(pad, c.w, c.kw, c.stride, c.dilation, 0, 0, &d->out_w, &d->pad_left);
}

// A pointwise 1xN convolution with its weights.
struct Pointwise {
  onexn_conv_shape s{};
  std::vector<uint32_t> group_ptr, kept;
  std::vector<float> w, bias;
  onexn_block_index Index() const { return {n, int(group_ptr.size()) - 1, group_ptr.data(), kept.data()}; }
  int n = 1;
};

Pointwise MakePointwise(std::mt19937* rng, int batch, int h, int w, int cin, int cout, int n, double sparsity,
                        bool relu6) {
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Pointwise p;
  p.n = n;
  p.s = PointwiseShape(batch, h, w, cin, cout, relu6);
  p.group_ptr.push_back(0);
  for (int g = 0; g < (cout + n - 1) / n; g++) {
    for (int k = 0; k < cin; k++)
      if (u(*rng) >= sparsity) p.kept.push_back(uint32_t(k));
    p.group_ptr.push_back(uint32_t(p.kept.size()));
  }
  p.w.resize(size_t(cout) * cin);
  for (float& x : p.w) x = val(*rng);
  p.bias.resize(cout);
  for (float& x : p.bias) x = val(*rng);
  return p;
}

struct Problem {
  Pointwise expand, project;
  onexn_dwconv_shape ds{};
  std::vector<float> dww, dwb, input;
  bool ok = false;
};

Problem Build(const Case& c) {
  Problem p;
  std::mt19937 rng(c.seed);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  onexn_dwconv_shape& d = p.ds;
  if (!DepthwiseShape(c, &d)) return p;
  p.expand = MakePointwise(&rng, c.batch, c.h, c.w, c.cin, c.mid, c.n, c.sparsity, c.relu6);
  p.project = MakePointwise(&rng, c.batch, d.out_h, d.out_w, c.mid, c.cout, c.n, c.sparsity, false);
  p.dww.resize(size_t(c.kh) * c.kw * c.mid);
  for (float& x : p.dww) x = val(rng);
  p.dwb.resize(c.mid);
  for (float& x : p.dwb) x = val(rng);
  const int channels_in = c.layers & kExpand ? c.cin : c.mid;
  p.input.resize(size_t(c.batch) * c.h * c.w * channels_in);
  for (float& x : p.input) x = 3.0f * val(rng);
  p.ok = true;
  return p;
}

onexn_conv* CreateConv(const Pointwise& p, onexn_isa isa, std::string* err) {
  char buf[256] = "";
  const onexn_block_index index = p.Index();
  onexn_conv* conv = onexn_conv_create(&p.s, &index, p.w.data(), p.bias.data(), isa, buf, sizeof(buf));
  *err = buf;
  return conv;
}

// onexn_dwblock_run_add against the block's output plus an addend, clamped: bit for bit, at several thread
// counts (each task adds the rows it projected). A block without a projection refuses it.
void TestRunAdd(onexn_dwblock* b, const Problem& p, const std::vector<float>& block_out, bool has_project,
                const std::string& what) {
  std::mt19937 rng(uint32_t(block_out.size()));
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> addend(block_out.size());
  for (float& v : addend) v = normal(rng);
  std::vector<float> out(block_out.size() + 2 * kGuard, kSentinel);
  if (!has_project) {
    Check(onexn_dwblock_run_add(b, p.input.data(), addend.data(), out.data() + kGuard, -1.0f, 1.0f, nullptr, 0,
                                nullptr) == -1,
          what + ": run_add without a projection: -1");
    return;
  }
  const float lo = -1.5f, hi = 2.0f;
  std::vector<float> want(block_out.size());
  for (size_t i = 0; i < want.size(); i++) want[i] = std::min(std::max(block_out[i] + addend[i], lo), hi);
  Check(onexn_dwblock_run_add(b, p.input.data(), nullptr, out.data() + kGuard, lo, hi, nullptr, 0, nullptr) == -1,
        what + ": run_add without an addend: -1");
  for (int threads : {1, 2, 3}) {
    onexn_threadpool* pool = threads > 1 ? onexn_threadpool_create(threads) : nullptr;
    std::fill(out.begin(), out.end(), kSentinel);
    const int rc = onexn_dwblock_run_add(b, p.input.data(), addend.data(), out.data() + kGuard, lo, hi, nullptr, 0, pool);
    Check(rc == 0, what + ": run_add returned " + std::to_string(rc));
    bool guards = true;
    for (size_t i = 0; i < kGuard; i++) guards &= out[i] == kSentinel && out[kGuard + want.size() + i] == kSentinel;
    size_t first = 0;
    while (first < want.size() && std::memcmp(&out[kGuard + first], &want[first], sizeof(float)) == 0) first++;
    Check(first == want.size(), what + ": run_add at " + std::to_string(threads) +
                                    " threads differs from the block plus the addend" +
                                    (first == want.size() ? "" : " at " + std::to_string(first)));
    Check(guards, what + ": run_add wrote outside the output tensor");
    onexn_threadpool_destroy(pool);
  }
}

// onexn_dwblock_split: the case's block cut into `count` slices of the expansion's groups (the last slice
// may hold fewer), each a block of its own; the layers each slice borrows.
struct Sliced {
  std::vector<onexn_conv*> convs;
  std::vector<onexn_dwconv*> dws;
  std::vector<onexn_dwblock*> blocks;
  ~Sliced() {
    for (onexn_conv* c : convs) onexn_conv_destroy(c);
    for (onexn_dwconv* d : dws) onexn_dwconv_destroy(d);
  }
};

// Slices of the expansion's output channels [c0, c1), the depthwise's channels and the projection's input
// channels; the projection's bias in slice 0, its clamp in none unless clamp_slices.
bool MakeSlices(const Problem& p, int count, onexn_isa isa, bool clamp_slices, Sliced* out, std::string* err) {
  const int n = p.expand.n, groups = int(p.expand.group_ptr.size()) - 1, mid = p.expand.s.cout;
  const int cin = p.expand.s.cin, cout = p.project.s.cout, taps = p.ds.kh * p.ds.kw;
  char buf[256] = "";
  for (int t = 0; t < count; t++) {
    const int g0 = t * groups / count, g1 = (t + 1) * groups / count;
    const int c0 = g0 * n, c1 = std::min(g1 * n, mid), width = c1 - c0;
    Pointwise e;
    e.n = n;
    e.s = p.expand.s;
    e.s.cout = width;
    for (int g = g0; g <= g1; g++) e.group_ptr.push_back(p.expand.group_ptr[g] - p.expand.group_ptr[g0]);
    e.kept.assign(p.expand.kept.begin() + p.expand.group_ptr[g0], p.expand.kept.begin() + p.expand.group_ptr[g1]);
    e.w.assign(p.expand.w.begin() + size_t(c0) * cin, p.expand.w.begin() + size_t(c1) * cin);
    e.bias.assign(p.expand.bias.begin() + c0, p.expand.bias.begin() + c1);
    Pointwise pr;
    pr.n = p.project.n;
    pr.s = p.project.s;
    pr.s.cin = width;
    if (clamp_slices) pr.s.out_min = -1.0f;
    pr.group_ptr.push_back(0);
    for (size_t g = 0; g + 1 < p.project.group_ptr.size(); g++) {
      for (uint32_t k = p.project.group_ptr[g]; k < p.project.group_ptr[g + 1]; k++) {
        const uint32_t ci = p.project.kept[k];
        if (ci >= uint32_t(c0) && ci < uint32_t(c1)) pr.kept.push_back(ci - uint32_t(c0));
      }
      pr.group_ptr.push_back(uint32_t(pr.kept.size()));
    }
    for (int o = 0; o < cout; o++) {
      for (int c = c0; c < c1; c++) pr.w.push_back(p.project.w[size_t(o) * mid + c]);
    }
    pr.bias.assign(cout, 0.0f);
    if (t == 0) pr.bias = p.project.bias;
    onexn_dwconv_shape ds = p.ds;
    ds.channels = width;
    std::vector<float> dww;
    for (int k = 0; k < taps; k++) {
      for (int c = c0; c < c1; c++) dww.push_back(p.dww[size_t(k) * mid + c]);
    }
    onexn_conv* ec = CreateConv(e, isa, err);
    if (ec == nullptr) return false;
    out->convs.push_back(ec);
    onexn_conv* pc = CreateConv(pr, isa, err);
    if (pc == nullptr) return false;
    out->convs.push_back(pc);
    onexn_dwconv* d = onexn_dwconv_create(&ds, dww.data(), p.dwb.data() + c0, isa, buf, sizeof(buf));
    if (d == nullptr) return (*err = buf, false);
    out->dws.push_back(d);
    onexn_dwblock* b = onexn_dwblock_create(ec, d, pc, buf, sizeof(buf));
    if (b == nullptr) return (*err = buf, false);
    out->blocks.push_back(b);
  }
  return true;
}

// Differences from adding the slices' partial sums in another order than one accumulation: a few ulps.
size_t FirstFarFrom(const std::vector<float>& out, size_t offset, const std::vector<float>& want) {
  for (size_t i = 0; i < want.size(); i++) {
    const float got = out[offset + i];
    if (!(std::fabs(got - want[i]) <= 1e-5f * (4.0f + std::fabs(want[i])))) return i;
  }
  return want.size();
}

// The block cut into 2 and 3 slices against the layers apart (`want`, clamped with the projection's
// clamp `lo` / `hi` given to the split), at 1-3 threads, with its own and a caller's scratch, and with a
// residual ADD; nothing written outside the output.
void TestSplit(const Case& c, const Problem& p, onexn_isa isa, const std::vector<float>& want_unclamped,
               const std::string& what) {
  for (int count : {2, 3}) {
    if ((int(p.expand.group_ptr.size()) - 1) < count) continue;
    const std::string w = what + " split in " + std::to_string(count);
    Sliced sl;
    std::string err;
    if (!MakeSlices(p, count, isa, false, &sl, &err)) {
      // As for whole blocks: only a few-pixel kernel's tile path is refused.
      Check(err.find("differently by tile") != std::string::npos, w + ": slices: " + err);
      for (onexn_dwblock* b : sl.blocks) onexn_dwblock_destroy(b);
      continue;
    }
    const float lo = -2.0f, hi = 3.0f;  // a clamp on the sum the slices must not apply each
    char buf[256] = "";
    onexn_dwblock_split* s = onexn_dwblock_split_create(sl.blocks.data(), sl.blocks.size(), lo, hi, buf, sizeof(buf));
    Check(s != nullptr && onexn_dwblock_split_slices(s) == size_t(count), w + ": create: " + buf);
    if (s == nullptr) continue;
    std::vector<float> want(want_unclamped.size());
    for (size_t i = 0; i < want.size(); i++) want[i] = std::min(std::max(want_unclamped[i], lo), hi);
    for (int threads : {1, 2, 3}) {
      onexn_threadpool* pool = threads > 1 ? onexn_threadpool_create(threads) : nullptr;
      for (int rep = 0; rep < 3; rep++) {
        // rep 0: own scratch; 1: a caller's of the size asked; 2: a caller's one float short (not used).
        const size_t floats = onexn_dwblock_split_scratch_floats(s) - (rep == 2 ? 1 : 0);
        float* scratch = rep > 0 ? AlignedFloats(floats) : nullptr;
        std::vector<float> out(want.size() + 2 * kGuard, kSentinel);
        Check(onexn_dwblock_split_run(s, p.input.data(), out.data() + kGuard, scratch, floats, pool) == 0,
              w + ": run");
        std::free(scratch);
        bool guards = true;
        for (size_t i = 0; i < kGuard; i++) guards &= out[i] == kSentinel && out[kGuard + want.size() + i] == kSentinel;
        const size_t first = FirstFarFrom(out, kGuard, want);
        Check(first == want.size(), w + ": " + std::to_string(threads) + " threads, rep " + std::to_string(rep) +
                                        ": differs from the layers apart" +
                                        (first == want.size() ? "" : " at " + std::to_string(first)));
        Check(guards, w + ": wrote outside the output tensor");
      }
      onexn_threadpool_destroy(pool);
    }
    // The clamp given is the projection's: a residual ADD would read the clamped values, so it is refused.
    std::vector<float> addend(want.size());
    std::mt19937 rng(c.seed);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    for (float& v : addend) v = normal(rng);
    std::vector<float> out(want.size() + 2 * kGuard, kSentinel);
    Check(onexn_dwblock_split_run_add(s, p.input.data(), addend.data(), out.data() + kGuard, -1.0f, 1.0f, nullptr, 0,
                                      nullptr) == -1 &&
              out[kGuard] == kSentinel,
          w + ": run_add refused when the projection clamps");
    onexn_dwblock_split_destroy(s);
    // Without a clamp on the projection: the ADD, then the ADD's clamp.
    Sliced sl2;
    Check(MakeSlices(p, count, isa, false, &sl2, &err), w + ": slices again: " + err);
    s = onexn_dwblock_split_create(sl2.blocks.data(), sl2.blocks.size(), -kInf, kInf, buf, sizeof(buf));
    Check(s != nullptr, w + ": create without a clamp: " + buf);
    const float alo = -1.5f, ahi = 2.5f;
    for (size_t i = 0; i < want.size(); i++) want[i] = std::min(std::max(want_unclamped[i] + addend[i], alo), ahi);
    for (int threads : {1, 2, 3}) {
      onexn_threadpool* pool = threads > 1 ? onexn_threadpool_create(threads) : nullptr;
      std::fill(out.begin(), out.end(), kSentinel);
      Check(onexn_dwblock_split_run_add(s, p.input.data(), addend.data(), out.data() + kGuard, alo, ahi, nullptr, 0,
                                        pool) == 0,
            w + ": run_add");
      const size_t first = FirstFarFrom(out, kGuard, want);
      Check(first == want.size(), w + ": run_add at " + std::to_string(threads) +
                                      " threads differs from the layers apart plus the addend" +
                                      (first == want.size() ? "" : " at " + std::to_string(first)));
      bool guards = true;
      for (size_t i = 0; i < kGuard; i++) guards &= out[i] == kSentinel && out[kGuard + want.size() + i] == kSentinel;
      Check(guards, w + ": run_add wrote outside the output tensor");
      onexn_threadpool_destroy(pool);
    }
    onexn_dwblock_split_destroy(s);
    if (count != 2) continue;
    // Refused, with the slices left to the caller: a projection that clamps its partial sum, one slice.
    Sliced clamped;
    Check(MakeSlices(p, count, isa, true, &clamped, &err), w + ": clamped slices: " + err);
    buf[0] = '\0';
    s = onexn_dwblock_split_create(clamped.blocks.data(), clamped.blocks.size(), lo, hi, buf, sizeof(buf));
    Check(s == nullptr && std::strstr(buf, "clamps its partial sum") != nullptr,
          w + ": a clamped projection is refused, got '" + buf + "'");
    s = onexn_dwblock_split_create(clamped.blocks.data(), 1, lo, hi, buf, sizeof(buf));
    Check(s == nullptr && std::strstr(buf, "at least 2 slices") != nullptr, w + ": one slice is refused");
    for (onexn_dwblock* b : clamped.blocks) onexn_dwblock_destroy(b);
  }
}

void TestCase(const Case& c, const std::vector<onexn_isa>& isas) {
  const Problem p = Build(c);
  if (!p.ok) return;
  for (onexn_isa isa : isas) {
    const std::string what = std::string(onexn_isa_name(isa)) + " " + c.Describe();
    std::string err;
    onexn_conv* expand = c.layers & kExpand ? CreateConv(p.expand, isa, &err) : nullptr;
    Check(!(c.layers & kExpand) || expand != nullptr, what + ": expand create: " + err);
    onexn_conv* project = c.layers & kProject ? CreateConv(p.project, isa, &err) : nullptr;
    Check(!(c.layers & kProject) || project != nullptr, what + ": project create: " + err);
    char buf[256] = "";
    onexn_dwconv* dw = onexn_dwconv_create(&p.ds, p.dww.data(), p.dwb.data(), isa, buf, sizeof(buf));
    Check(dw != nullptr, what + ": dw create: " + buf);
    onexn_dwblock* b = dw != nullptr ? onexn_dwblock_create(expand, dw, project, buf, sizeof(buf)) : nullptr;
    if (b == nullptr && std::strstr(buf, "differently by tile") != nullptr) {
      // Only the x86 few-pixel kernel has a separate short-tile path; such a block is refused, not wrong.
      const bool few = (expand && std::strcmp(onexn_conv_kernel_name(expand), "f32-spconv-8x4-avx2") == 0) ||
                       (project && std::strcmp(onexn_conv_kernel_name(project), "f32-spconv-8x4-avx2") == 0);
      Check(few, what + ": refused for its tile path: " + buf);
    } else {
      Check(b != nullptr, what + ": block create: " + buf);
    }
    if (b != nullptr) {
      // The reference: the layers one after the other through full intermediate tensors.
      const size_t mid_in = size_t(c.batch) * c.h * c.w * c.mid;
      const size_t mid_out = size_t(c.batch) * p.ds.out_h * p.ds.out_w * c.mid;
      std::vector<float> expanded(mid_in), dwout(mid_out);
      const float* dw_in = p.input.data();
      if (expand != nullptr) {
        onexn_conv_run(expand, p.input.data(), expanded.data(), nullptr);
        dw_in = expanded.data();
      }
      onexn_dwconv_run(dw, dw_in, dwout.data(), nullptr);
      std::vector<float> want = dwout;
      if (project != nullptr) {
        want.resize(size_t(c.batch) * p.ds.out_h * p.ds.out_w * c.cout);
        onexn_conv_run(project, dwout.data(), want.data(), nullptr);
      }
      for (int threads : {1, 2, 3, 5}) {
        onexn_threadpool* pool = threads > 1 ? onexn_threadpool_create(threads) : nullptr;
        for (int rep = 0; rep < 3; rep++) {
          std::vector<float> out(want.size() + 2 * kGuard, kSentinel);
          // rep 0: the object's own scratch; 1: a caller's, of the size it asks for; 2: a caller's sized
          // for one thread only, which a run on more threads must not use (it takes its own instead).
          const size_t floats = onexn_dwblock_scratch_floats(b, rep == 2 ? 1 : size_t(threads));
          float* scratch = rep > 0 ? AlignedFloats(floats) : nullptr;
          const int rc = onexn_dwblock_run(b, p.input.data(), out.data() + kGuard, scratch, floats, pool);
          Check(rc == 0, what + ": run returned " + std::to_string(rc));
          std::free(scratch);
          bool guards = true;
          for (size_t i = 0; i < kGuard; i++) guards &= out[i] == kSentinel && out[kGuard + want.size() + i] == kSentinel;
          size_t first = 0;
          while (first < want.size() && std::memcmp(&out[kGuard + first], &want[first], sizeof(float)) == 0) first++;
          Check(first == want.size(), what + ": " + std::to_string(threads) + " threads, " +
                                          (rep == 0 ? "own" : rep == 1 ? "caller's" : "small caller's") +
                                          " scratch: differs from the layers apart" +
                                          (first == want.size() ? "" : " at " + std::to_string(first)));
          Check(guards, what + ": wrote outside the output tensor");
        }
        onexn_threadpool_destroy(pool);
      }
      TestRunAdd(b, p, want, project != nullptr, what);
      if (expand != nullptr && project != nullptr) TestSplit(c, p, isa, want, what);
    }
    onexn_dwblock_destroy(b);
    onexn_conv_destroy(expand);
    onexn_conv_destroy(project);
    onexn_dwconv_destroy(dw);
  }
}

// Layers that do not chain are refused, with a message naming the reason.
void TestRefused() {
  Case c;
  const Problem p = Build(c);
  std::string err;
  char buf[256] = "";
  onexn_dwconv* dw = onexn_dwconv_create(&p.ds, p.dww.data(), p.dwb.data(), ONEXN_ISA_SCALAR, buf, sizeof(buf));
  onexn_conv* expand = CreateConv(p.expand, ONEXN_ISA_SCALAR, &err);
  onexn_conv* project = CreateConv(p.project, ONEXN_ISA_SCALAR, &err);
  struct Bad {
    const char* what;
    onexn_conv_shape s;
    bool as_project;
    const char* msg;
  };
  std::vector<Bad> bad;
  onexn_conv_shape s3 = p.expand.s;  // a 3x3 expansion
  s3.kh = s3.kw = 3;
  s3.pad_top = s3.pad_left = 1;
  bad.push_back({"3x3 expansion", s3, false, "expansion is not a 1x1"});
  onexn_conv_shape s2 = p.expand.s;  // stride 2 changes the output size
  s2.stride_h = s2.stride_w = 2;
  s2.out_h = s2.out_w = (c.h + 1) / 2;
  bad.push_back({"stride-2 expansion", s2, false, "expansion is not a 1x1"});
  onexn_conv_shape tall = p.expand.s;  // another height than the depthwise input
  tall.in_h = tall.out_h = c.h + 1;
  bad.push_back({"expansion height", tall, false, "is not the expansion's output"});
  onexn_conv_shape wide = p.project.s;  // another width than the depthwise output
  wide.in_w = wide.out_w = p.ds.out_w + 2;
  bad.push_back({"projection width", wide, true, "is not the projection's input"});
  onexn_conv_shape deep = p.project.s;  // channels the depthwise does not have
  deep.cin = c.mid + 1;
  bad.push_back({"projection channels", deep, true, "is not the projection's input"});
  for (const Bad& b : bad) {
    std::vector<float> w(size_t(b.s.cout) * b.s.kh * b.s.kw * b.s.cin, 0.5f);
    const onexn_block_index index = b.as_project ? p.project.Index() : p.expand.Index();
    onexn_conv* conv = onexn_conv_create(&b.s, &index, w.data(), nullptr, ONEXN_ISA_SCALAR, buf, sizeof(buf));
    Check(conv != nullptr, std::string(b.what) + ": conv create: " + buf);
    buf[0] = '\0';
    onexn_dwblock* f = b.as_project ? onexn_dwblock_create(expand, dw, conv, buf, sizeof(buf))
                                    : onexn_dwblock_create(conv, dw, project, buf, sizeof(buf));
    Check(f == nullptr && std::strstr(buf, b.msg) != nullptr,
          std::string(b.what) + ": refused with '" + b.msg + "', got '" + buf + "'");
    onexn_dwblock_destroy(f);
    onexn_conv_destroy(conv);
  }
  onexn_dwblock* f = onexn_dwblock_create(expand, nullptr, project, buf, sizeof(buf));
  Check(f == nullptr && std::strstr(buf, "needs a depthwise") != nullptr, "no depthwise is refused");
  Check(onexn_dwblock_run(nullptr, p.input.data(), nullptr, nullptr, 0, nullptr) == -1, "NULL block: -1, no crash");
  Check(onexn_dwblock_scratch_floats(nullptr, 2) == 0, "no scratch for a NULL object");
  onexn_conv_destroy(expand);
  onexn_conv_destroy(project);
  onexn_dwconv_destroy(dw);
}

// int8 layers (onexn_qdwblock).

constexpr int8_t kQSentinel = 0x5A;

// The quantization of one tensor.
struct Tensor {
  float scale = 0.05f;
  int32_t zero_point = 0;
};

Tensor RandomTensor(std::mt19937* rng) {
  std::uniform_real_distribution<float> scale(0.01f, 0.1f);
  return {scale(*rng), int32_t(std::uniform_int_distribution<int>(-128, 127)(*rng))};
}

// A pointwise int8 1xN convolution with its weights.
struct QPointwise {
  onexn_conv_shape s{};
  std::vector<uint32_t> group_ptr, kept;
  std::vector<int8_t> w;
  std::vector<int32_t> bias;
  std::vector<float> scales;
  onexn_qconv_quant q{};
  int n = 1;
  onexn_block_index Index() const { return {n, int(group_ptr.size()) - 1, group_ptr.data(), kept.data()}; }
};

QPointwise MakeQPointwise(std::mt19937* rng, int batch, int h, int w, int cin, int cout, int n, double sparsity,
                        bool relu6, Tensor in, Tensor out) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  QPointwise p;
  p.n = n;
  p.s = PointwiseShape(batch, h, w, cin, cout, relu6);
  p.group_ptr.push_back(0);
  std::vector<bool> keep(size_t((cout + n - 1) / n) * cin, false);
  for (int g = 0; g < (cout + n - 1) / n; g++) {
    for (int k = 0; k < cin; k++) {
      if (u(*rng) < sparsity) continue;
      keep[size_t(g) * cin + k] = true;
      p.kept.push_back(uint32_t(k));
    }
    p.group_ptr.push_back(uint32_t(p.kept.size()));
  }
  p.w.assign(size_t(cout) * cin, 0);
  std::uniform_int_distribution<int> weight(-127, 127);
  for (int o = 0; o < cout; o++) {
    for (int k = 0; k < cin; k++) {
      if (keep[size_t(o / n) * cin + k]) p.w[size_t(o) * cin + k] = int8_t(weight(*rng));
    }
  }
  for (int o = 0; o < cout; o++) {
    p.bias.push_back(std::uniform_int_distribution<int>(-5000, 5000)(*rng));
    p.scales.push_back(float(0.002 + 0.01 * u(*rng)));
  }
  p.q = {in.scale, in.zero_point, out.scale, out.zero_point, nullptr};
  return p;
}

struct QProblem {
  QPointwise expand, project;
  onexn_dwconv_shape ds{};
  std::vector<int8_t> dww, input;
  std::vector<int32_t> dwb;
  std::vector<float> dws;
  onexn_qconv_quant dq{};
  bool ok = false;
};

QProblem QBuild(const Case& c) {
  QProblem p;
  std::mt19937 rng(c.seed);
  onexn_dwconv_shape& d = p.ds;
  if (!DepthwiseShape(c, &d)) return p;
  // The tensors chain: the expansion writes what the depthwise reads, the depthwise what the projection reads.
  const Tensor x = RandomTensor(&rng), e = RandomTensor(&rng), dwo = RandomTensor(&rng), y = RandomTensor(&rng);
  p.expand = MakeQPointwise(&rng, c.batch, c.h, c.w, c.cin, c.mid, c.n, c.sparsity, c.relu6, x, e);
  p.project = MakeQPointwise(&rng, c.batch, d.out_h, d.out_w, c.mid, c.cout, c.n, c.sparsity, false, dwo, y);
  std::uniform_int_distribution<int> byte(-128, 127);
  p.dww.resize(size_t(c.kh) * c.kw * c.mid);
  for (int8_t& v : p.dww) v = int8_t(byte(rng) | 1);  // never -128: symmetric weights
  for (int ch = 0; ch < c.mid; ch++) {
    p.dwb.push_back(std::uniform_int_distribution<int>(-3000, 3000)(rng));
    p.dws.push_back(float(0.003 + 0.01 * std::uniform_real_distribution<double>(0.0, 1.0)(rng)));
  }
  const Tensor dw_in = c.layers & kExpand ? e : x;
  p.dq = {dw_in.scale, dw_in.zero_point, dwo.scale, dwo.zero_point, nullptr};
  const int channels_in = c.layers & kExpand ? c.cin : c.mid;
  p.input.resize(size_t(c.batch) * c.h * c.w * channels_in);
  for (int8_t& v : p.input) v = int8_t(byte(rng));
  p.ok = true;
  return p;
}

onexn_qconv* CreateQConv(const QPointwise& p, onexn_isa isa, std::string* err) {
  char buf[256] = "";
  const onexn_block_index index = p.Index();
  onexn_qconv_quant q = p.q;
  q.weight_scales = p.scales.data();
  onexn_qconv* conv = onexn_qconv_create(&p.s, &index, p.w.data(), p.bias.data(), &q, isa, buf, sizeof(buf));
  *err = buf;
  return conv;
}

// onexn_qdwblock_run_add against the block's output then onexn_qadd_run, with the block's output as either
// operand of the ADD, bit for bit at several thread counts. A block without a projection refuses it.
void TestQRunAdd(onexn_dwblock* b, const QProblem& p, const std::vector<int8_t>& block_out, bool has_project,
                 onexn_isa isa, const std::string& what) {
  std::mt19937 rng(uint32_t(block_out.size()) + 7);
  std::uniform_int_distribution<int> byte(-128, 127);
  std::vector<int8_t> addend(block_out.size());
  for (int8_t& v : addend) v = int8_t(byte(rng));
  onexn_qadd_params params;
  char err[256];
  Check(onexn_qadd_init(&params, 0.05f, 3, 0.08f, -11, 0.09f, -4, 0.0f, 8.0f, err, sizeof(err)) == 0, err);
  std::vector<int8_t> out(block_out.size() + 2 * kGuard, kQSentinel);
  if (!has_project) {
    Check(onexn_qdwblock_run_add(b, p.input.data(), addend.data(), out.data() + kGuard, &params, 0, isa, nullptr, 0,
                                 nullptr) == -1,
          what + ": run_add without a projection: -1");
    return;
  }
  Check(onexn_qdwblock_run_add(b, p.input.data(), addend.data(), out.data() + kGuard, &params, 2, isa, nullptr, 0,
                               nullptr) == -1,
        what + ": run_add with operand 2: -1");
  for (int operand : {0, 1}) {
    std::vector<int8_t> want(block_out.size());
    const int8_t* a = operand == 0 ? block_out.data() : addend.data();
    const int8_t* c = operand == 0 ? addend.data() : block_out.data();
    onexn_qadd_run(isa, &params, a, c, want.data(), want.size(), nullptr);
    for (int threads : {1, 2, 3}) {
      onexn_threadpool* pool = threads > 1 ? onexn_threadpool_create(threads) : nullptr;
      std::fill(out.begin(), out.end(), kQSentinel);
      const int rc = onexn_qdwblock_run_add(b, p.input.data(), addend.data(), out.data() + kGuard, &params, operand,
                                            isa, nullptr, 0, pool);
      Check(rc == 0, what + ": run_add returned " + std::to_string(rc));
      bool guards = true;
      for (size_t i = 0; i < kGuard; i++) guards &= out[i] == kQSentinel && out[kGuard + want.size() + i] == kQSentinel;
      size_t first = 0;
      while (first < want.size() && out[kGuard + first] == want[first]) first++;
      Check(first == want.size(), what + ": run_add, block as operand " + std::to_string(operand) + ", " +
                                      std::to_string(threads) + " threads: differs from the block then the ADD" +
                                      (first == want.size() ? "" : " at " + std::to_string(first)));
      Check(guards, what + ": run_add wrote outside the output tensor");
      onexn_threadpool_destroy(pool);
    }
  }
}

// conv_isa: the 1x1 layers' ISA where it differs from the depthwise's (ONEXN_ISA_AVX512AMX).
void TestQCase(const Case& c, const std::vector<onexn_isa>& isas, onexn_isa conv_isa = ONEXN_ISA_AUTO) {
  const QProblem p = QBuild(c);
  if (!p.ok) return;
  for (onexn_isa isa : isas) {
    const onexn_isa pointwise = conv_isa != ONEXN_ISA_AUTO ? conv_isa : isa;
    const std::string what = std::string(onexn_isa_name(pointwise)) + " " + c.Describe();
    std::string err;
    onexn_qconv* expand = c.layers & kExpand ? CreateQConv(p.expand, pointwise, &err) : nullptr;
    Check(!(c.layers & kExpand) || expand != nullptr, what + ": expand create: " + err);
    onexn_qconv* project = c.layers & kProject ? CreateQConv(p.project, pointwise, &err) : nullptr;
    Check(!(c.layers & kProject) || project != nullptr, what + ": project create: " + err);
    char buf[256] = "";
    onexn_qconv_quant dq = p.dq;
    dq.weight_scales = p.dws.data();
    onexn_qdwconv* dw = onexn_qdwconv_create(&p.ds, p.dww.data(), p.dwb.data(), &dq, isa, buf, sizeof(buf));
    Check(dw != nullptr, what + ": dw create: " + buf);
    onexn_dwblock* b = dw != nullptr ? onexn_qdwblock_create(expand, dw, project, buf, sizeof(buf)) : nullptr;
    Check(b != nullptr, what + ": block create: " + buf);
    if (b != nullptr) {
      // The reference: the layers one after the other through full intermediate tensors.
      const size_t mid_in = size_t(c.batch) * c.h * c.w * c.mid;
      const size_t mid_out = size_t(c.batch) * p.ds.out_h * p.ds.out_w * c.mid;
      std::vector<int8_t> expanded(mid_in), dwout(mid_out);
      const int8_t* dw_in = p.input.data();
      if (expand != nullptr) {
        onexn_qconv_run(expand, p.input.data(), expanded.data(), nullptr);
        dw_in = expanded.data();
      }
      onexn_qdwconv_run(dw, dw_in, dwout.data(), nullptr);
      std::vector<int8_t> want = dwout;
      if (project != nullptr) {
        want.resize(size_t(c.batch) * p.ds.out_h * p.ds.out_w * c.cout);
        onexn_qconv_run(project, dwout.data(), want.data(), nullptr);
      }
      Check(onexn_dwblock_run(b, nullptr, nullptr, nullptr, 0, nullptr) == -1, what + ": a float run of it: -1");
      for (int threads : {1, 2, 3}) {
        onexn_threadpool* pool = threads > 1 ? onexn_threadpool_create(threads) : nullptr;
        for (int rep = 0; rep < 2; rep++) {
          std::vector<int8_t> out(want.size() + 2 * kGuard, kQSentinel);
          // rep 0: the object's own scratch; 1: a caller's, of the size it asks for.
          const size_t floats = onexn_dwblock_scratch_floats(b, size_t(threads));
          float* scratch = nullptr;
          if (rep > 0) {
            scratch = static_cast<float*>(std::aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64));
            std::memset(scratch, 0x7F, floats * sizeof(float));  // a read before a write would show
          }
          const int rc = onexn_qdwblock_run(b, p.input.data(), out.data() + kGuard, scratch, floats, pool);
          Check(rc == 0, what + ": run returned " + std::to_string(rc));
          std::free(scratch);
          bool guards = true;
          for (size_t i = 0; i < kGuard; i++) {
            guards &= out[i] == kQSentinel && out[kGuard + want.size() + i] == kQSentinel;
          }
          size_t first = 0;
          while (first < want.size() && out[kGuard + first] == want[first]) first++;
          Check(first == want.size(), what + ": " + std::to_string(threads) + " threads, " +
                                          (rep == 0 ? "own" : "caller's") + " scratch: differs from the layers apart" +
                                          (first == want.size() ? "" : " at " + std::to_string(first)));
          Check(guards, what + ": wrote outside the output tensor");
        }
        onexn_threadpool_destroy(pool);
      }
      TestQRunAdd(b, p, want, project != nullptr, isa, what);
    }
    onexn_dwblock_destroy(b);
    onexn_qconv_destroy(expand);
    onexn_qconv_destroy(project);
    onexn_qdwconv_destroy(dw);
  }
}

// A 3x3 expansion, no depthwise and a float run of an int8 block are refused.
void TestQRefused() {
  Case c;
  QProblem p = QBuild(c);
  std::string err;
  char buf[256] = "";
  onexn_qconv_quant dq = p.dq;
  dq.weight_scales = p.dws.data();
  onexn_qdwconv* dw = onexn_qdwconv_create(&p.ds, p.dww.data(), p.dwb.data(), &dq, ONEXN_ISA_SCALAR, buf, sizeof(buf));
  QPointwise k3 = p.expand;
  k3.s.kh = k3.s.kw = 3;
  k3.s.pad_top = k3.s.pad_left = 1;
  k3.w.assign(size_t(k3.s.cout) * 9 * k3.s.cin, 1);
  onexn_qconv* expand3 = CreateQConv(k3, ONEXN_ISA_SCALAR, &err);
  Check(expand3 != nullptr, "3x3 conv create: " + err);
  onexn_dwblock* f = onexn_qdwblock_create(expand3, dw, nullptr, buf, sizeof(buf));
  Check(f == nullptr && std::strstr(buf, "is not a 1x1") != nullptr, std::string("3x3 expansion refused: ") + buf);
  f = onexn_qdwblock_create(expand3, nullptr, nullptr, buf, sizeof(buf));
  Check(f == nullptr && std::strstr(buf, "needs a depthwise") != nullptr, "no depthwise is refused");
  Check(onexn_qdwblock_run(nullptr, p.input.data(), nullptr, nullptr, 0, nullptr) == -1, "NULL block: -1, no crash");
  onexn_qconv_destroy(expand3);
  onexn_qdwconv_destroy(dw);
}

// MobileNetV2-like shapes (the 112x112x96 band holds few rows), padding and stride variants.
std::vector<Case> FixedCases() {
  std::vector<Case> fixed;
  {
    Case c;
    c.h = c.w = 112; c.cin = 16; c.mid = 96; c.cout = 24; c.n = 16; c.stride = 2;
    fixed.push_back(c);
    c.n = 4; c.sparsity = 0.75; c.seed = 2; c.layers = kExpand;
    fixed.push_back(c);
    Case d;  // MobileNetV2's first block: no expansion
    d.layers = kProject; d.h = d.w = 112; d.mid = 32; d.cout = 16; d.n = 8; d.seed = 3;
    fixed.push_back(d);
    Case e;  // a batch, VALID padding, a 5x5 window with dilation
    e.batch = 3; e.h = 13; e.w = 11; e.kh = e.kw = 5; e.dilation = 2; e.same = false; e.seed = 4;
    fixed.push_back(e);
    Case f;  // one row tall; fully sparse groups
    f.h = 1; f.w = 40; f.sparsity = 1.0; f.seed = 5;
    fixed.push_back(f);
    Case g;  // rows of 288 KB: the band holds only the 5x5 dilated window plus a stride, rows move every row
    g.h = 20; g.w = 120; g.cin = 4; g.mid = 600; g.cout = 8; g.n = 8; g.kh = g.kw = 5; g.dilation = 2; g.seed = 6;
    fixed.push_back(g);
    Case h;  // a depthwise alone, stride 2 (MobileNetV1's, a link of a chain at 2 threads)
    h.layers = kDepthwise; h.h = h.w = 28; h.mid = 64; h.stride = 2; h.seed = 7;
    fixed.push_back(h);
    h.batch = 2; h.stride = 1; h.h = 14; h.w = 15; h.seed = 8;
    fixed.push_back(h);
  }
  return fixed;
}

std::vector<Case> RandomCases(int count) {
  std::vector<Case> cases;
  std::mt19937 rng(20261123);
  auto pick = [&](std::initializer_list<int> v) { return *(v.begin() + rng() % v.size()); };
  for (int i = 0; i < count; i++) {
    Case c;
    c.layers = pick({kDepthwise, kExpand, kProject, kBoth, kBoth});
    c.batch = pick({1, 1, 2, 3});
    c.h = 1 + int(rng() % 40);
    c.w = 1 + int(rng() % 40);
    c.cin = 1 + int(rng() % 40);
    c.n = pick({1, 2, 4, 8, 16});
    c.mid = 1 + int(rng() % 70);
    c.cout = 1 + int(rng() % 40);
    c.sparsity = pick({0, 50, 75, 90}) / 100.0;
    c.kh = pick({1, 3, 3, 5});
    c.kw = pick({1, 3, 3, 5});
    c.stride = pick({1, 1, 2, 3});
    c.dilation = pick({1, 1, 2});
    c.same = rng() % 4 != 0;
    c.relu6 = rng() % 2 == 0;
    c.seed = unsigned(100 + i);
    cases.push_back(c);
  }
  return cases;
}

}  // namespace

TEST_CASE("dwblock: fixed cases, bit-identical to the layers apart") {
  for (const Case& c : FixedCases()) TestCase(c, AvailableIsas());
}

TEST_CASE("dwblock: random cases, bit-identical to the layers apart") {
  for (const Case& c : RandomCases(RandomCaseCount(150))) TestCase(c, AvailableIsas());
}

TEST_CASE("dwblock: layers that do not chain are refused with a message") { TestRefused(); }

TEST_CASE("qdwblock: fixed cases, int8, bit-identical to the layers apart") {
  for (const Case& c : FixedCases()) TestQCase(c, AvailableIsas());
}

TEST_CASE("qdwblock: random cases, int8, bit-identical to the layers apart") {
  for (const Case& c : RandomCases(RandomCaseCount(120))) TestQCase(c, AvailableIsas());
}

// On a CPU with AMX-INT8 the blocks' 1x1 layers on the tiles (the delegate's amx=1), the depthwise on AVX-512.
TEST_CASE("qdwblock: fixed cases with AMX 1x1 layers, bit-identical to the layers apart") {
  if (!onexn_test::Runs(ONEXN_ISA_AVX512AMX, "qs8-qc8w-spconv-16x16-avx512amx")) return;
  for (const Case& c : FixedCases()) TestQCase(c, {ONEXN_ISA_AVX512}, ONEXN_ISA_AVX512AMX);
}

TEST_CASE("qdwblock: layers that are not 1x1 are refused with a message") { TestQRefused(); }

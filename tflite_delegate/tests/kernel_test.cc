// Tests of the onexn 1xN convolution against a naive dense convolution: the kernel each ISA available on
// this CPU dispatches to, and every microkernel of the kernel lists (f32-spconv.inc, f32-spconv-pixelvec.inc,
// f32-pixelvec-gather.inc) directly, one test case each; many shapes/block widths/sparsities, thread-count
// determinism, tile invariance, argument validation.
//   bazel test //tflite_delegate:kernel_test [--test_filter='f32-spconv-8x16*']
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "onexn_kernels.h"
#include "operators/operators.h"
#include "test_util.h"

namespace {

using onexn_test::AvailableIsas;
using onexn_test::Check;
using onexn_test::Pad;
using onexn_test::RandomCaseCount;
using onexn_test::Runs;
using onexn_test::UnevenTilesCase;

using Kernel = onexn_test::Kernel<onexn_ukernel_config>;

constexpr auto Dispatched = &onexn_test::Dispatched<onexn_ukernel_config>;

// How a dispatched kernel is created: onexn_conv_create's kept blocks (NEVER), or as the cost model or an
// "always dense" policy says (onexn_conv_create_planned); the planned test cases set it.
onexn_dense_policy g_dense_policy = ONEXN_DENSE_NEVER;

onexn_conv* Create(const Kernel& k, const onexn_conv_shape* shape, const onexn_block_index* index,
                   const float* weights, const float* bias, char* err, size_t err_len) {
  if (k.uk != nullptr) return onexn_conv_create_with_ukernel(shape, index, weights, bias, k.uk, err, err_len);
  return g_dense_policy == ONEXN_DENSE_NEVER
             ? onexn_conv_create(shape, index, weights, bias, k.isa, err, err_len)
             : onexn_conv_create_planned(shape, index, weights, bias, k.isa, g_dense_policy, err, err_len);
}

struct Case {
  int batch = 1, in_h = 5, in_w = 5, cin = 8, cout = 8;
  int kh = 1, kw = 1, stride = 1, dilation = 1;
  Pad pad = Pad::kSame;
  int pad_top = 0, pad_left = 0;  // kExplicit only
  int n = 4;
  double sparsity = 0.5;          // probability a block is pruned
  bool empty_group = false;       // force group 0 to keep nothing
  bool full_group = false;        // force the last group to keep everything
  bool relu6 = false;
  bool null_bias = false;
  bool garbage_in_pruned = false; // non-zero values in pruned blocks must be ignored
  bool nan_input = false;         // one input value is NaN: it must reach the outputs that use it
  unsigned seed = 1;

  std::string Describe() const {
    char buf[320];
    std::snprintf(buf, sizeof(buf),
                  "b%d %dx%dx%d->%d k%dx%d s%d d%d pad=%s(%d,%d) n=%d sp=%.2f%s%s%s%s%s%s seed=%u", batch, in_h,
                  in_w, cin, cout, kh, kw, stride, dilation,
                  pad == Pad::kSame ? "same" : pad == Pad::kValid ? "valid" : "explicit", pad_top, pad_left, n,
                  sparsity, empty_group ? " empty-group" : "", full_group ? " full-group" : "",
                  relu6 ? " relu6" : "", null_bias ? " no-bias" : "", garbage_in_pruned ? " garbage" : "",
                  nan_input ? " nan" : "", seed);
    return buf;
  }
};

// Everything derived from a Case: shape, block index, weights (masked and as passed), bias, input.
struct Problem {
  onexn_conv_shape shape{};
  int num_groups = 0;
  std::vector<uint32_t> group_ptr, kept_cin;
  std::vector<float> w_masked, w_passed, bias, input;
  bool ok = false;
};

Problem Build(const Case& c) {
  Problem p;
  onexn_conv_shape& s = p.shape;
  s.batch = c.batch;
  s.in_h = c.in_h;
  s.in_w = c.in_w;
  s.cin = c.cin;
  s.cout = c.cout;
  s.kh = c.kh;
  s.kw = c.kw;
  s.stride_h = s.stride_w = c.stride;
  s.dilation_h = s.dilation_w = c.dilation;
  const int ekh = (c.kh - 1) * c.dilation + 1, ekw = (c.kw - 1) * c.dilation + 1;
  if (c.pad == Pad::kSame) {
    s.out_h = (c.in_h + c.stride - 1) / c.stride;
    s.out_w = (c.in_w + c.stride - 1) / c.stride;
    s.pad_top = std::max(0, (s.out_h - 1) * c.stride + ekh - c.in_h) / 2;
    s.pad_left = std::max(0, (s.out_w - 1) * c.stride + ekw - c.in_w) / 2;
  } else if (c.pad == Pad::kValid) {
    if (c.in_h < ekh || c.in_w < ekw) return p;
    s.out_h = (c.in_h - ekh) / c.stride + 1;
    s.out_w = (c.in_w - ekw) / c.stride + 1;
    s.pad_top = s.pad_left = 0;
  } else {
    s.pad_top = c.pad_top;
    s.pad_left = c.pad_left;
    s.out_h = (c.in_h + 2 * c.pad_top - ekh) / c.stride + 1;
    s.out_w = (c.in_w + 2 * c.pad_left - ekw) / c.stride + 1;
    if (s.out_h < 1 || s.out_w < 1) return p;
  }
  s.out_min = c.relu6 ? 0.0f : -std::numeric_limits<float>::infinity();
  s.out_max = c.relu6 ? 6.0f : std::numeric_limits<float>::infinity();

  std::mt19937 rng(c.seed);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  p.num_groups = (c.cout + c.n - 1) / c.n;
  p.group_ptr.push_back(0);
  std::vector<std::vector<bool>> keep(p.num_groups, std::vector<bool>(c.cin, false));
  for (int g = 0; g < p.num_groups; g++) {
    for (int ci = 0; ci < c.cin; ci++) {
      bool k = coin(rng) >= c.sparsity;
      if (c.empty_group && g == 0) k = false;
      if (c.full_group && g == p.num_groups - 1) k = true;
      keep[g][ci] = k;
      if (k) p.kept_cin.push_back(static_cast<uint32_t>(ci));
    }
    p.group_ptr.push_back(static_cast<uint32_t>(p.kept_cin.size()));
  }
  const size_t wsize = static_cast<size_t>(c.cout) * c.kh * c.kw * c.cin;
  p.w_masked.assign(wsize, 0.0f);
  p.w_passed.assign(wsize, 0.0f);
  for (int o = 0; o < c.cout; o++) {
    for (int t = 0; t < c.kh * c.kw; t++) {
      for (int ci = 0; ci < c.cin; ci++) {
        const size_t i = (static_cast<size_t>(o) * c.kh * c.kw + t) * c.cin + ci;
        const float v = val(rng);
        if (keep[o / c.n][ci]) {
          p.w_masked[i] = v;
          p.w_passed[i] = v;
        } else if (c.garbage_in_pruned) {
          p.w_passed[i] = 1000.0f + v;
        }
      }
    }
  }
  if (!c.null_bias) {
    p.bias.resize(c.cout);
    for (float& b : p.bias) b = val(rng);
  }
  p.input.resize(static_cast<size_t>(c.batch) * c.in_h * c.in_w * c.cin);
  // Scale so relu6 actually clips some values.
  for (float& x : p.input) x = 3.0f * val(rng);
  if (c.nan_input) p.input[p.input.size() / 2] = std::numeric_limits<float>::quiet_NaN();
  p.ok = true;
  return p;
}

// Naive dense convolution in double on the masked weights; also returns sum of |terms| per output.
void Reference(const Problem& p, std::vector<double>* out, std::vector<double>* mag) {
  const onexn_conv_shape& s = p.shape;
  const size_t total = static_cast<size_t>(s.batch) * s.out_h * s.out_w * s.cout;
  out->assign(total, 0.0);
  mag->assign(total, 0.0);
  for (int b = 0; b < s.batch; b++)
    for (int oy = 0; oy < s.out_h; oy++)
      for (int ox = 0; ox < s.out_w; ox++)
        for (int o = 0; o < s.cout; o++) {
          double acc = p.bias.empty() ? 0.0 : p.bias[o];
          double m = std::fabs(acc);
          for (int ky = 0; ky < s.kh; ky++)
            for (int kx = 0; kx < s.kw; kx++) {
              const int iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
              const int ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
              if (iy < 0 || iy >= s.in_h || ix < 0 || ix >= s.in_w) continue;
              for (int ci = 0; ci < s.cin; ci++) {
                const double x = p.input[((static_cast<size_t>(b) * s.in_h + iy) * s.in_w + ix) * s.cin + ci];
                const double w = p.w_masked[((static_cast<size_t>(o) * s.kh + ky) * s.kw + kx) * s.cin + ci];
                acc += x * w;
                m += std::fabs(x * w);
              }
            }
          acc = std::min(std::max(acc, static_cast<double>(s.out_min)), static_cast<double>(s.out_max));
          const size_t i = ((static_cast<size_t>(b) * s.out_h + oy) * s.out_w + ox) * s.cout + o;
          (*out)[i] = acc;
          (*mag)[i] = m;
        }
}

constexpr size_t kGuard = 64;
constexpr float kSentinel = -12345.0f;

// Runs the conv into a guarded, NaN-filled buffer; returns false if a guard was overwritten.
bool RunGuarded(onexn_conv* conv, const Problem& p, onexn_threadpool* pool, std::vector<float>* out) {
  const onexn_conv_shape& s = p.shape;
  const size_t total = static_cast<size_t>(s.batch) * s.out_h * s.out_w * s.cout;
  std::vector<float> buf(total + 2 * kGuard, kSentinel);
  std::fill(buf.begin() + kGuard, buf.begin() + kGuard + total, std::numeric_limits<float>::quiet_NaN());
  onexn_conv_run(conv, p.input.data(), buf.data() + kGuard, pool);
  bool guards_ok = true;
  for (size_t i = 0; i < kGuard; i++) {
    guards_ok &= buf[i] == kSentinel && buf[kGuard + total + i] == kSentinel;
  }
  out->assign(buf.begin() + kGuard, buf.begin() + kGuard + total);
  return guards_ok;
}

void TestCase(const Case& c, const std::vector<Kernel>& kernels) {
  const Problem p = Build(c);
  if (!p.ok) return;
  std::vector<double> ref, mag;
  Reference(p, &ref, &mag);
  const onexn_block_index index = {c.n, p.num_groups, p.group_ptr.data(),
                                   p.kept_cin.empty() ? nullptr : p.kept_cin.data()};
  for (const Kernel& k : kernels) {
    const std::string what = k.label + " " + c.Describe();
    char err[256];
    onexn_conv* conv = Create(k, &p.shape, &index, p.w_passed.data(), p.bias.empty() ? nullptr : p.bias.data(),
                              err, sizeof(err));
    Check(conv != nullptr, what + ": create failed: " + err);
    if (conv == nullptr) continue;
    if (k.uk != nullptr) Check(onexn_conv_kernel_name(conv) == k.label, what + ": runs " + onexn_conv_kernel_name(conv));
    std::vector<float> out;
    const bool guards = RunGuarded(conv, p, nullptr, &out);
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < out.size(); i++) {
      const double tol = 1e-4 * std::max(1.0, mag[i]);
      const bool ok = std::isnan(ref[i]) ? std::isnan(out[i]) : std::fabs(out[i] - ref[i]) <= tol;
      if (!ok) {
        if (bad++ == 0) first_bad = i;
      }
    }
    char detail[160] = "";
    if (bad != 0) {
      std::snprintf(detail, sizeof(detail), ": %zu/%zu wrong, first at %zu got %g want %g", bad, out.size(),
                    first_bad, out[first_bad], ref[first_bad]);
    }
    Check(bad == 0, what + " [" + onexn_conv_kernel_name(conv) + "]" + detail);
    Check(guards, what + ": wrote outside the output tensor");
    // A second run from a different input buffer must give the same result (no cached pointers).
    std::vector<float> input2(p.input);
    std::vector<float> out2(out.size());
    onexn_conv_run(conv, input2.data(), out2.data(), nullptr);
    Check(std::memcmp(out.data(), out2.data(), out.size() * sizeof(float)) == 0, what + ": rerun differs");
    onexn_conv_destroy(conv);
  }
}

void TestThreads(const Case& c, const std::vector<Kernel>& kernels) {
  const Problem p = Build(c);
  if (!p.ok) return;
  const onexn_block_index index = {c.n, p.num_groups, p.group_ptr.data(),
                                   p.kept_cin.empty() ? nullptr : p.kept_cin.data()};
  for (const Kernel& k : kernels) {
    const std::string what = "threads " + k.label + " " + c.Describe();
    char err[256];
    onexn_conv* conv = Create(k, &p.shape, &index, p.w_passed.data(), p.bias.empty() ? nullptr : p.bias.data(),
                              err, sizeof(err));
    Check(conv != nullptr, what + ": create failed: " + err);
    if (conv == nullptr) continue;
    std::vector<float> single;
    RunGuarded(conv, p, nullptr, &single);
    for (int threads : {1, 2, 3, 8}) {
      onexn_threadpool* pool = onexn_threadpool_create(threads);
      Check(pool != nullptr && onexn_threadpool_size(pool) == threads, what + ": pool size");
      if (pool == nullptr) continue;
      for (int rep = 0; rep < 2; rep++) {
        std::vector<float> out;
        const bool guards = RunGuarded(conv, p, pool, &out);
        Check(guards && std::memcmp(out.data(), single.data(), out.size() * sizeof(float)) == 0,
              what + ": " + std::to_string(threads) + " threads not bit-identical to 1");
      }
      onexn_threadpool_destroy(pool);
    }
    onexn_conv_destroy(conv);
  }
}

// onexn_conv_run_add gives onexn_conv_run's output plus the addend, clamped, bit for bit (a float add and
// clamp have one result), whether each task adds its own pixels or, when the tasks split the channels, its
// own channels of every pixel; and writes nothing outside the output.
void TestRunAdd(const Case& c, const std::vector<Kernel>& kernels) {
  const Problem p = Build(c);
  if (!p.ok) return;
  const onexn_block_index index = {c.n, p.num_groups, p.group_ptr.data(),
                                   p.kept_cin.empty() ? nullptr : p.kept_cin.data()};
  const float lo = -0.25f, hi = 0.75f;
  for (const Kernel& k : kernels) {
    const std::string what = "run_add " + k.label + " " + c.Describe();
    onexn_conv* conv = Create(k, &p.shape, &index, p.w_passed.data(), p.bias.empty() ? nullptr : p.bias.data(),
                              nullptr, 0);
    Check(conv != nullptr, what + ": create failed");
    if (conv == nullptr) continue;
    std::vector<float> plain;
    RunGuarded(conv, p, nullptr, &plain);
    std::mt19937 rng(c.seed + 17);
    std::uniform_real_distribution<float> val(-1.0f, 1.0f);
    std::vector<float> addend(plain.size()), want(plain.size());
    for (size_t i = 0; i < plain.size(); i++) {
      addend[i] = val(rng);
      const float sum = plain[i] + addend[i];
      want[i] = std::min(std::max(sum, lo), hi);
    }
    for (int threads : {1, 2, 3}) {
      onexn_threadpool* pool = threads > 1 ? onexn_threadpool_create(threads) : nullptr;
      std::vector<float> buf(plain.size() + 2 * kGuard, kSentinel);
      onexn_conv_run_add(conv, p.input.data(), addend.data(), buf.data() + kGuard, lo, hi, pool);
      bool guards = true;
      for (size_t i = 0; i < kGuard; i++) guards &= buf[i] == kSentinel && buf[kGuard + plain.size() + i] == kSentinel;
      Check(guards && std::memcmp(buf.data() + kGuard, want.data(), want.size() * sizeof(float)) == 0,
            what + ": " + std::to_string(threads) + " threads: not the convolution plus the clamped addend");
      onexn_threadpool_destroy(pool);
    }
    onexn_conv_destroy(conv);
  }
}

// Layers with fewer output pixels than a pixel-vector tile must not run a pixel-vector kernel (it would
// waste up to 15 of 16 lanes); wider layers keep it.
void TestKernelChoice(const std::vector<onexn_isa>& isas) {
  for (onexn_isa isa : isas) {
    if (isa == ONEXN_ISA_SCALAR) continue;
    for (int n : {1, 2, 4}) {
      for (int rows : {1, 40}) {
        Case c;
        c.in_h = 1;
        c.in_w = rows;
        c.cin = 32;
        c.cout = 4 * n;
        c.n = n;
        c.seed = 77;
        const Problem p = Build(c);
        const onexn_block_index ix = {c.n, p.num_groups, p.group_ptr.data(), p.kept_cin.data()};
        onexn_conv* conv = onexn_conv_create(&p.shape, &ix, p.w_passed.data(), nullptr, isa, nullptr, 0);
        Check(conv != nullptr, "kernel choice: create");
        if (conv == nullptr) continue;
        const std::string name = onexn_conv_kernel_name(conv);
        const bool pixelvec = name.find("pixelvec") != std::string::npos;
        // On x86 every n < 5 runs a pixel-vector kernel over enough pixels (NEON has 8x4 for n >= 3).
        const bool want_pixelvec = rows > 1 && (isa != ONEXN_ISA_NEON || n < 3);
        Check(pixelvec == want_pixelvec, std::string("kernel choice: ") + onexn_isa_name(isa) + " n=" +
                                             std::to_string(n) + " rows=" + std::to_string(rows) + " runs " + name);
        onexn_conv_destroy(conv);
      }
    }
  }
}

// Two caller threads share one pool, each running its own conv: results must match single-threaded runs.
void TestSharedPool() {
  Case a, b;
  a.in_h = 9;
  a.in_w = 9;
  a.cin = 16;
  a.cout = 32;
  a.n = 4;
  a.seed = 4001;
  b = a;
  b.n = 16;
  b.kh = b.kw = 3;
  b.seed = 4002;
  const Problem pa = Build(a), pb = Build(b);
  const onexn_block_index ia = {a.n, pa.num_groups, pa.group_ptr.data(), pa.kept_cin.data()};
  const onexn_block_index ib = {b.n, pb.num_groups, pb.group_ptr.data(), pb.kept_cin.data()};
  onexn_conv* ca = onexn_conv_create(&pa.shape, &ia, pa.w_passed.data(), pa.bias.data(), ONEXN_ISA_AUTO, nullptr, 0);
  onexn_conv* cb = onexn_conv_create(&pb.shape, &ib, pb.w_passed.data(), pb.bias.data(), ONEXN_ISA_AUTO, nullptr, 0);
  onexn_threadpool* pool = onexn_threadpool_create(3);
  Check(ca != nullptr && cb != nullptr && pool != nullptr, "shared pool setup");
  if (ca != nullptr && cb != nullptr && pool != nullptr) {
    std::vector<float> ref_a, ref_b;
    RunGuarded(ca, pa, nullptr, &ref_a);
    RunGuarded(cb, pb, nullptr, &ref_b);
    bool ok_a = true, ok_b = true;
    auto loop = [pool](onexn_conv* conv, const Problem& p, const std::vector<float>& ref, bool* ok) {
      for (int i = 0; i < 30; i++) {
        std::vector<float> out;
        *ok &= RunGuarded(conv, p, pool, &out) && out == ref;
      }
    };
    std::thread ta(loop, ca, std::cref(pa), std::cref(ref_a), &ok_a);
    std::thread tb(loop, cb, std::cref(pb), std::cref(ref_b), &ok_b);
    ta.join();
    tb.join();
    Check(ok_a && ok_b, "two callers sharing a pool");
  }
  onexn_threadpool_destroy(pool);
  onexn_conv_destroy(ca);
  onexn_conv_destroy(cb);
}

void TestBadArguments() {
  Case c;
  c.cout = 10;
  c.n = 4;
  const Problem p = Build(c);
  const onexn_block_index good = {c.n, p.num_groups, p.group_ptr.data(), p.kept_cin.data()};
  char err[256];
  auto expect_fail = [&](const onexn_conv_shape& s, const onexn_block_index& ix, const float* w, onexn_isa isa,
                         const char* what) {
    std::strcpy(err, "");
    onexn_conv* conv = onexn_conv_create(&s, &ix, w, p.bias.data(), isa, err, sizeof(err));
    Check(conv == nullptr && std::strlen(err) > 0, std::string("bad argument accepted: ") + what);
    if (conv != nullptr) onexn_conv_destroy(conv);
  };
  // The good case must work, or the failures below prove nothing.
  onexn_conv* conv = onexn_conv_create(&p.shape, &good, p.w_passed.data(), p.bias.data(), ONEXN_ISA_AUTO, err,
                                       sizeof(err));
  Check(conv != nullptr, std::string("baseline create: ") + err);
  onexn_conv_destroy(conv);

  onexn_conv_shape s = p.shape;
  for (int field = 0; field < 13; field++) {
    s = p.shape;
    int* f[] = {&s.batch, &s.in_h, &s.in_w, &s.cin, &s.out_h, &s.out_w, &s.cout,
                &s.kh, &s.kw, &s.stride_h, &s.stride_w, &s.dilation_h, &s.dilation_w};
    *f[field] = field % 2 == 0 ? 0 : -3;
    expect_fail(s, good, p.w_passed.data(), ONEXN_ISA_AUTO, ("dimension field " + std::to_string(field)).c_str());
  }
  s = p.shape;
  s.pad_top = -1;
  expect_fail(s, good, p.w_passed.data(), ONEXN_ISA_AUTO, "negative pad_top");
  s = p.shape;
  s.out_min = 6.0f;
  s.out_max = 0.0f;
  expect_fail(s, good, p.w_passed.data(), ONEXN_ISA_AUTO, "out_min > out_max");
  s = p.shape;
  s.out_min = std::nanf("");
  expect_fail(s, good, p.w_passed.data(), ONEXN_ISA_AUTO, "NaN out_min");
  s = p.shape;
  s.in_h = s.in_w = 1 << 20;
  s.cin = s.batch = 1 << 20;  // 2^80 input floats
  expect_fail(s, good, p.w_passed.data(), ONEXN_ISA_AUTO, "overflowing input size");

  onexn_block_index ix = good;
  ix.n = 0;
  expect_fail(p.shape, ix, p.w_passed.data(), ONEXN_ISA_AUTO, "n = 0");
  ix = good;
  ix.num_groups = good.num_groups + 1;
  expect_fail(p.shape, ix, p.w_passed.data(), ONEXN_ISA_AUTO, "wrong num_groups");
  ix = good;
  ix.group_ptr = nullptr;
  expect_fail(p.shape, ix, p.w_passed.data(), ONEXN_ISA_AUTO, "NULL group_ptr");
  ix = good;
  ix.kept_cin = nullptr;
  expect_fail(p.shape, ix, p.w_passed.data(), ONEXN_ISA_AUTO, "NULL kept_cin");
  std::vector<uint32_t> gp = p.group_ptr;
  gp[1] = gp[2] + 1;  // decreasing
  ix = good;
  ix.group_ptr = gp.data();
  expect_fail(p.shape, ix, p.w_passed.data(), ONEXN_ISA_AUTO, "group_ptr not monotone");
  gp = p.group_ptr;
  gp[0] = 1;
  ix.group_ptr = gp.data();
  expect_fail(p.shape, ix, p.w_passed.data(), ONEXN_ISA_AUTO, "group_ptr[0] != 0");
  std::vector<uint32_t> kc = p.kept_cin;
  ix = good;
  ix.kept_cin = kc.data();
  kc[0] = static_cast<uint32_t>(c.cin);
  expect_fail(p.shape, ix, p.w_passed.data(), ONEXN_ISA_AUTO, "kept_cin >= cin");
  kc = p.kept_cin;
  ix.kept_cin = kc.data();
  if (p.group_ptr[1] >= 2) {
    kc[1] = kc[0];
    expect_fail(p.shape, ix, p.w_passed.data(), ONEXN_ISA_AUTO, "kept_cin repeated");
  }
  expect_fail(p.shape, good, nullptr, ONEXN_ISA_AUTO, "NULL weights");
  std::strcpy(err, "");
  Check(onexn_conv_create(nullptr, &good, p.w_passed.data(), nullptr, ONEXN_ISA_AUTO, err, sizeof(err)) == nullptr &&
            std::strlen(err) > 0,
        "NULL shape accepted");
  // Too many kept blocks for a group (more than cin).
  {
    Case small;
    small.cin = 2;
    small.cout = 4;
    small.n = 4;
    const Problem q = Build(small);
    std::vector<uint32_t> gp2 = {0, 3};
    std::vector<uint32_t> kc2 = {0, 1, 1};
    const onexn_block_index bad = {4, 1, gp2.data(), kc2.data()};
    expect_fail(q.shape, bad, q.w_passed.data(), ONEXN_ISA_AUTO, "more kept blocks than cin");
  }
  for (onexn_isa isa : {ONEXN_ISA_SCALAR, ONEXN_ISA_AVX2, ONEXN_ISA_AVX512, ONEXN_ISA_NEON}) {
    if (!onexn_isa_supported(isa)) {
      expect_fail(p.shape, good, p.w_passed.data(), isa, "unsupported ISA");
    }
  }
  expect_fail(p.shape, good, p.w_passed.data(), static_cast<onexn_isa>(7), "unknown ISA value");
  // err may be NULL / zero-length.
  Check(onexn_conv_create(&p.shape, &ix, nullptr, nullptr, ONEXN_ISA_AUTO, nullptr, 0) == nullptr,
        "NULL err buffer");
}

void TestIsaApi() {
  for (onexn_isa isa : {ONEXN_ISA_AUTO, ONEXN_ISA_SCALAR, ONEXN_ISA_AVX2, ONEXN_ISA_AVX512, ONEXN_ISA_NEON}) {
    onexn_isa back;
    Check(onexn_isa_from_name(onexn_isa_name(isa), &back) == 0 && back == isa,
          std::string("isa name round trip ") + onexn_isa_name(isa));
  }
  onexn_isa dummy;
  Check(onexn_isa_from_name("avx1024", &dummy) == -1, "unknown ISA name accepted");
  Check(onexn_isa_from_name(nullptr, &dummy) == -1, "NULL ISA name accepted");
  const onexn_isa best = onexn_isa_resolve(ONEXN_ISA_AUTO);
  Check(best != ONEXN_ISA_AUTO && onexn_isa_supported(best), "auto resolves to a supported ISA");
  Check(onexn_isa_supported(ONEXN_ISA_SCALAR), "scalar always supported");
#if defined(__x86_64__)
  Check(!onexn_isa_supported(ONEXN_ISA_NEON), "NEON reported on x86");
#endif
#if defined(__aarch64__)
  Check(onexn_isa_supported(ONEXN_ISA_NEON) && best == ONEXN_ISA_NEON, "NEON on aarch64");
  Check(!onexn_isa_supported(ONEXN_ISA_AVX2), "AVX2 reported on aarch64");
#endif
  onexn_threadpool* pool = onexn_threadpool_create(0);
  Check(pool != nullptr && onexn_threadpool_size(pool) == 1, "pool of 0 threads runs inline");
  onexn_threadpool_destroy(pool);
  Check(onexn_threadpool_size(nullptr) == 1, "NULL pool size");
}

std::vector<Case> FixedCases() {
  std::vector<Case> cases;
  const int ns[] = {1, 2, 3, 4, 8, 16, 32};
  // 1x1, every n, sparsity 0/50/90, tails in pixels (7x5 = 35 pixels) and channels.
  for (int n : ns) {
    for (double sp : {0.0, 0.5, 0.9}) {
      Case c;
      c.in_h = 7;
      c.in_w = 5;
      c.cin = 19;
      c.cout = n * 3;
      c.n = n;
      c.sparsity = sp;
      c.seed = static_cast<unsigned>(n * 100 + sp * 10);
      cases.push_back(c);
    }
  }
  // Ragged last group.
  for (int n : {3, 4, 8, 16, 32}) {
    Case c;
    c.cout = 20;
    c.n = n;
    c.cin = 13;
    c.in_h = 6;
    c.in_w = 7;
    c.seed = 7 + n;
    cases.push_back(c);
  }
  {  // n = 16, cout = 24 on 7x7: a last panel of exactly 8 channels (MobileNetV2's projections to 24),
     // 49 pixels in 7 tiles of 7
    Case c;
    c.cout = 24;
    c.n = 16;
    c.cin = 21;
    c.in_h = c.in_w = 7;
    c.seed = 73;
    cases.push_back(c);
  }
  // 1x1 over rows a multiple of 4 KB apart (cin 1024 and 2048, ResNet-50's projections): the 16-pixel
  // direct tiles of 8x16-avx512f run as tiles of 8 there; 21 pixels give tiles of 7 and 8 rows.
  for (int cin : {1024, 2048}) {
    Case c;
    c.cin = cin;
    c.cout = 32;
    c.n = 16;
    c.in_h = 3;
    c.in_w = 7;
    c.seed = static_cast<unsigned>(cin + 5);
    cases.push_back(c);
  }
  // Weights past 512 KB over at least two tiles of pixels that read little input: the panels run in blocks,
  // each over every tile (conv.c, weight_blocking; ResNet-50's 7x7 stage). 1x1 and 3x3.
  {
    Case c;
    c.in_h = c.in_w = 3;
    c.cin = c.cout = 512;
    c.n = 16;
    c.seed = 81;
    cases.push_back(c);
    Case d;
    d.in_h = d.in_w = 4;
    d.cin = d.cout = 160;
    d.kh = d.kw = 3;
    d.n = 8;
    d.sparsity = 0.25;
    d.seed = 82;
    cases.push_back(d);
  }
  {  // cout smaller than one block
    Case c;
    c.cout = 5;
    c.n = 16;
    c.seed = 71;
    cases.push_back(c);
  }
  // KxK with stride, dilation, padding modes.
  struct K { int kh, kw, stride, dilation; Pad pad; };
  const K ks[] = {{3, 3, 1, 1, Pad::kSame}, {3, 3, 2, 1, Pad::kSame},  {3, 3, 1, 1, Pad::kValid},
                  {3, 3, 2, 1, Pad::kValid}, {3, 3, 1, 2, Pad::kSame}, {5, 5, 1, 1, Pad::kSame},
                  {5, 5, 2, 1, Pad::kValid}, {1, 3, 1, 1, Pad::kSame}, {3, 1, 2, 1, Pad::kSame},
                  {1, 1, 2, 1, Pad::kValid}};
  unsigned seed = 1000;
  for (const K& k : ks) {
    for (int n : {1, 2, 4, 8, 16}) {
      Case c;
      c.in_h = 9;
      c.in_w = 11;
      c.cin = 7;
      c.cout = 2 * n + (n > 2 ? 1 : 0);
      c.kh = k.kh;
      c.kw = k.kw;
      c.stride = k.stride;
      c.dilation = k.dilation;
      c.pad = k.pad;
      c.n = n;
      c.seed = seed++;
      cases.push_back(c);
    }
  }
  {  // Asymmetric explicit padding.
    Case c;
    c.kh = c.kw = 3;
    c.pad = Pad::kExplicit;
    c.pad_top = 2;
    c.pad_left = 1;
    c.n = 4;
    c.seed = 77;
    cases.push_back(c);
  }
  // Empty and full groups (100% / 0% sparsity of a group), whole layer pruned, clamps, NULL bias,
  // garbage in pruned blocks, batch > 1.
  for (int n : {1, 2, 4, 8, 16}) {
    Case c;
    c.n = n;
    c.cout = 2 * n;
    c.cin = 9;
    c.kh = c.kw = 3;
    c.empty_group = true;
    c.full_group = true;
    c.relu6 = true;
    c.garbage_in_pruned = true;
    c.batch = 3;
    c.in_h = 4;
    c.in_w = 6;
    c.seed = 300 + n;
    cases.push_back(c);
    Case d = c;
    d.sparsity = 1.0;
    d.empty_group = d.full_group = false;
    d.null_bias = true;
    d.seed = 400 + n;
    cases.push_back(d);
    Case e = c;
    e.kh = e.kw = 1;
    e.null_bias = true;
    e.relu6 = false;
    e.in_h = 1;
    e.in_w = 1;  // single pixel per image
    e.seed = 500 + n;
    cases.push_back(e);
  }
  // NaN inputs propagate through bias and clamp like TFLite's min(max(x, lo), hi); all blocks kept so the
  // dense reference sees the same products.
  for (int n : {1, 2, 4, 8, 16}) {
    for (bool relu6 : {false, true}) {
      Case c;
      c.n = n;
      c.cout = 2 * n;
      c.cin = 20;
      c.kh = c.kw = 3;
      c.sparsity = 0.0;
      c.nan_input = true;
      c.relu6 = relu6;
      c.in_h = 5;
      c.in_w = 7;
      c.seed = 600 + n;
      cases.push_back(c);
    }
  }
  // FULLY_CONNECTED at batch 1 (one output pixel) and a few rows, every n: the few-pixel kernels.
  for (int n : {1, 2, 3, 4, 5, 8, 16}) {
    for (int rows : {1, 3, 15}) {
      Case c;
      c.in_h = 1;
      c.in_w = rows;
      c.cin = 70;
      c.cout = 4 * n + 1;
      c.n = n;
      c.relu6 = rows == 3;
      c.seed = 950 + 10 * n + rows;
      cases.push_back(c);
    }
  }
  {  // FULLY_CONNECTED as 1 x rows.
    Case c;
    c.in_h = 1;
    c.in_w = 37;
    c.cin = 50;
    c.cout = 24;
    c.n = 8;
    c.seed = 900;
    cases.push_back(c);
  }
  return cases;
}

std::vector<Case> RandomCases(int count) {
  std::vector<Case> cases;
  std::mt19937 rng(12345);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int ns[] = {1, 2, 3, 4, 5, 8, 12, 16, 24, 32};
  const int kdims[] = {1, 1, 2, 3, 5};
  for (int i = 0; i < count; i++) {
    Case c;
    c.batch = pick(1, 2);
    c.in_h = pick(1, 10);
    c.in_w = pick(1, 13);
    c.cin = pick(1, 40);
    c.n = ns[pick(0, 9)];
    c.cout = pick(1, 3 * c.n + 3);
    c.kh = kdims[pick(0, 4)];
    c.kw = kdims[pick(0, 4)];
    c.stride = pick(1, 2);
    c.dilation = pick(1, 3) == 3 ? 2 : 1;
    c.pad = pick(0, 1) ? Pad::kSame : Pad::kValid;
    c.sparsity = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    c.relu6 = pick(0, 1);
    c.null_bias = pick(0, 3) == 0;
    c.garbage_in_pruned = pick(0, 1);
    c.seed = 2000 + i;
    cases.push_back(c);
  }
  return cases;
}

// Weights in blocks of panels (conv.c, weight_blocking: about 1 MB kept, twice the limit for every kernel)
// over two 5x5 images: at several threads tasks of half an image over a chunk of the panels (25 pixels:
// 2 + 2 tiles of 8, 4 + 3 tiles of 4). A 512 -> 512 layer sat at the limit and blocked only with the scalar
// kernel.
Case BlockedWeightsCase(unsigned seed) {
  Case w;
  w.in_h = w.in_w = 5;
  w.cin = 512;
  w.cout = 1024;
  w.n = 16;
  w.batch = 2;
  w.seed = seed;
  return w;
}

// The cases of TestThreads: enough tiles for every thread, then few tiles (channel chunks split across
// threads).
void TestThreadCases(const std::vector<Kernel>& kernels) {
  Case c;
  c.in_h = 13;
  c.in_w = 11;
  c.cin = 24;
  c.cout = 40;
  c.batch = 2;
  for (int n : {1, 4, 8, 16}) {
    c.n = n;
    c.seed = 3000 + n;
    TestThreads(c, kernels);
  }
  c.kh = c.kw = 3;
  c.in_h = 3;
  c.in_w = 3;
  c.batch = 1;
  for (int n : {2, 4, 16}) {
    c.n = n;
    c.seed = 3100 + n;
    TestThreads(c, kernels);
  }
  // Tiles the threads cannot share evenly (the 4-pixel kernels' 49 only at 8 threads): the panels split too.
  for (int n : {4, 16}) TestThreads(UnevenTilesCase<Case>(n, 3150 + n), kernels);
  TestThreads(BlockedWeightsCase(3200), kernels);
}

// onexn_conv_plan_tasks: the tasks cover every (image, tile, panel) exactly once, whatever the sizes; one
// thread runs each image as one task; weights in blocks run two tasks of half an image per chunk. With 4-16 one-tile tasks per thread and panels that split into one
// chunk per thread, equal tasks come in a number the threads share evenly; where the tiles alone would not
// be, each thread's contiguous share (the pool's) is one chunk, and no plan splits the panels into chunks
// that the threads cannot each take one of.
void TestPlanTasks() {
  for (size_t threads : {1, 2, 3, 4, 8}) {
    for (size_t batch : {1, 2, 3}) {
      for (size_t tiles : {1, 2, 3, 7, 13, 25, 31, 32, 33, 98, 392}) {
        for (size_t panels : {1, 2, 3, 5, 16, 64}) {
          for (int blocked : {0, 1}) {
            for (size_t min_tiles : {1, 3}) {
              onexn_conv_tasks t = onexn_conv_plan_tasks(threads, batch, tiles, panels, blocked, min_tiles);
              const std::string what = "plan threads " + std::to_string(threads) + " batch " +
                                       std::to_string(batch) + " tiles " + std::to_string(tiles) + " panels " +
                                       std::to_string(panels) + " blocked " + std::to_string(blocked) + " min " +
                                       std::to_string(min_tiles);
              auto covered_once = [&] {
                std::vector<int> seen(batch * tiles * panels, 0);
                bool in_range = t.tasks == batch * t.tile_runs * t.chunks;
                for (size_t i = 0; i < t.tasks && in_range; i++) {
                  const onexn_conv_task k = onexn_conv_task_of(&t, i);
                  in_range = k.img < batch && k.run < t.tile_runs && k.chunk < t.chunks;
                  for (size_t tile = k.run * t.tiles_per_task;
                       in_range && tile < (k.run + 1) * t.tiles_per_task && tile < tiles; tile++) {
                    for (size_t p = k.chunk * t.panels_per_chunk; p < (k.chunk + 1) * t.panels_per_chunk && p < panels;
                         p++) {
                      seen[(k.img * tiles + tile) * panels + p]++;
                    }
                  }
                }
                return in_range && std::all_of(seen.begin(), seen.end(), [](int v) { return v == 1; });
              };
              Check(t.chunk_order == nullptr && covered_once(), what + ": not every (image, tile, panel) exactly once");
              // The chunks reordered to balance the threads' work (panels of unequal kept blocks).
              std::vector<onexn_panel> kept(panels);
              for (size_t p = 0; p < panels; p++) kept[p].kept = uint32_t(1 + (p * 7919 + tiles) % 13);
              std::vector<uint32_t> order(t.chunks);
              if (onexn_conv_balance_chunks(kept.data(), panels, t.panels_per_chunk, t.chunks, threads, order.data())) {
                t.chunk_order = order.data();
                Check(covered_once(), what + ": with the chunks balanced, not every (image, tile, panel) exactly once");
              }
              if (threads == 1) Check(t.tasks == batch && t.chunks == 1, what + ": one thread, one task per image");
              const size_t pixel_tasks = batch * tiles;
              if (threads > 1 && blocked) {
                // Weights in blocks: each chunk in two runs of an image's tiles (one if it has one tile), so
                // that a thread done first takes tasks of half an image from the other's share.
                Check(t.tile_runs == (tiles < 2 ? 1 : 2), what + ": not two runs of tiles per image");
              }
              if (threads > 1 && !blocked && pixel_tasks >= 4 * threads && pixel_tasks <= 16 * threads) {
                if (panels % threads == 0) {
                  Check(t.tasks % threads == 0, what + ": tasks of equal size that the threads cannot share evenly");
                }
                Check(t.chunks == 1 || t.chunks == threads, what + ": chunks the threads cannot each take one of");
                // The pool's share of thread k is tasks [k n / threads, (k + 1) n / threads); chunks only grow
                // with the task's index, so its first and last task name its chunks.
                for (size_t k = 0; t.chunks == threads && k < threads; k++) {
                  const size_t first = k * t.tasks / threads, last = (k + 1) * t.tasks / threads - 1;
                  Check(onexn_conv_task_of(&t, first).chunk == onexn_conv_task_of(&t, last).chunk,
                        what + ": a thread's share of the tasks spans two chunks");
                }
              }
            }
          }
        }
      }
    }
  }
}

// Work of each thread's share (chunks / threads consecutive chunks of `order`, or in order when empty).
std::vector<uint64_t> ShareWork(const std::vector<uint32_t>& kept, size_t per_chunk, size_t chunks, size_t threads,
                                const std::vector<uint32_t>& order) {
  std::vector<uint64_t> work(threads, 0);
  for (size_t k = 0; k < chunks; k++) {
    const size_t c = order.empty() ? k : order[k];
    for (size_t p = c * per_chunk; p < (c + 1) * per_chunk && p < kept.size(); p++) work[k / (chunks / threads)] += kept[p];
  }
  return work;
}

uint64_t Spread(const std::vector<uint64_t>& w) {
  return *std::max_element(w.begin(), w.end()) - *std::min_element(w.begin(), w.end());
}

// onexn_conv_balance_chunks: the order is a permutation of the chunks whose shares spread their work at most
// half as much as the chunks in order; none where in order the shares are within 1% of the work, or there
// is nothing to choose.
void TestBalanceChunks() {
  auto balance = [](const std::vector<uint32_t>& kept, size_t per_chunk, size_t chunks, size_t threads,
                    std::vector<uint32_t>* order) {
    std::vector<onexn_panel> panels(kept.size());
    for (size_t p = 0; p < kept.size(); p++) panels[p].kept = kept[p];
    order->assign(chunks, UINT32_MAX);
    return onexn_conv_balance_chunks(panels.data(), panels.size(), per_chunk, chunks, threads, order->data());
  };
  std::vector<uint32_t> order;
  // Heavy chunks first: in order one thread gets all four; balanced, two each.
  const std::vector<uint32_t> heavy = {10, 10, 10, 10, 1, 1, 1, 1};
  Check(balance(heavy, 1, 8, 2, &order) == 1, "heavy chunks first: balanced");
  Check(Spread(ShareWork(heavy, 1, 8, 2, order)) == 0, "heavy chunks first: the shares' work equal");
  Check(balance(std::vector<uint32_t>(8, 5), 1, 8, 2, &order) == 0, "equal chunks: in order already");
  Check(balance({100, 100, 100, 101, 100, 100, 100, 100}, 1, 8, 2, &order) == 0, "in order within 1%: kept");
  Check(balance(heavy, 1, 8, 3, &order) == 0, "8 chunks over 3 threads: none");
  Check(balance(heavy, 2, 4, 4, &order) == 0, "one chunk per thread: none");
  std::mt19937 rng(77);
  int balanced = 0;
  for (int rep = 0; rep < 2000; rep++) {
    const size_t threads = 2 + rng() % 3, chunks = threads * (2 + rng() % 3), per_chunk = 1 + rng() % 3;
    std::vector<uint32_t> kept(chunks * per_chunk - rng() % per_chunk);  // the last chunk may be short
    for (uint32_t& k : kept) k = 600 + rng() % 800;
    const std::string what = std::to_string(chunks) + " chunks of " + std::to_string(per_chunk) + " panels, " +
                             std::to_string(threads) + " threads";
    const uint64_t total = std::accumulate(kept.begin(), kept.end(), uint64_t{0});
    const uint64_t in_order = Spread(ShareWork(kept, per_chunk, chunks, threads, {}));
    if (!balance(kept, per_chunk, chunks, threads, &order)) {
      Check(in_order * 100 >= total || std::all_of(order.begin(), order.end(), [](uint32_t c) { return c == UINT32_MAX; }),
            what + ": not balanced, yet the order was written");
      continue;
    }
    balanced++;
    Check(in_order * 100 >= total, what + ": balanced though in order the shares were within 1% of the work");
    std::vector<uint32_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    bool permutation = true;
    for (size_t c = 0; c < chunks; c++) permutation &= sorted[c] == c;
    Check(permutation, what + ": the order is not a permutation of the chunks");
    Check(Spread(ShareWork(kept, per_chunk, chunks, threads, order)) * 2 <= in_order,
          what + ": balanced, the shares' work spreads more than half as much as in order");
  }
  Check(balanced > 500, "random kept blocks: many plans balanced (" + std::to_string(balanced) + " of 2000)");
}

// A stem whose input rows are widened (cin < 16, padding on the right; conv.c, widen_rows): each thread
// copies only the rows it has not copied yet in this run. A second run of new values from the same buffer
// must not reuse the first run's rows, whatever the thread count; two images must not share them.
void TestWidenedRowsRerun(const std::vector<Kernel>& kernels) {
  Case c;
  c.batch = 2;
  c.in_h = c.in_w = 50;
  c.cin = 3;
  c.cout = 16;
  c.kh = c.kw = 3;
  c.stride = 2;
  c.n = 16;
  c.seed = 3300;
  const Problem p = Build(c);
  Check(p.ok, "widened rows: case builds");
  if (!p.ok) return;
  const onexn_block_index index = {c.n, p.num_groups, p.group_ptr.data(), p.kept_cin.data()};
  const onexn_conv_shape& s = p.shape;
  const size_t total = static_cast<size_t>(s.batch) * s.out_h * s.out_w * s.cout;
  for (const Kernel& k : kernels) {
    char err[256];
    onexn_conv* conv = Create(k, &s, &index, p.w_passed.data(), p.bias.data(), err, sizeof(err));
    Check(conv != nullptr, "widened rows " + k.label + ": create failed: " + std::string(err));
    if (conv == nullptr) continue;
    for (int threads : {2, 3}) {
      onexn_threadpool* pool = onexn_threadpool_create(threads);
      std::vector<float> input(p.input), out(total), expect(total);
      for (int rep = 0; rep < 3; rep++) {
        if (rep > 0) {
          for (float& v : input) v = 1.0f - 0.5f * v;  // new values, same buffer
        }
        std::vector<float> copy(input);  // another buffer: the reference run shares no rows with it
        onexn_conv_run(conv, copy.data(), expect.data(), nullptr);
        onexn_conv_run(conv, input.data(), out.data(), pool);
        Check(std::memcmp(out.data(), expect.data(), total * sizeof(float)) == 0,
              "widened rows " + k.label + ": run " + std::to_string(rep) + " at " + std::to_string(threads) +
                  " threads differs from a fresh run");
      }
      onexn_threadpool_destroy(pool);
    }
    onexn_conv_destroy(conv);
  }
}

// A tile-invariant microkernel (the list's claim, which onexn_dwblock relies on) gives every pixel the same
// bits whichever range of pixels a call covers.
void TestTileInvariance(const Kernel& k) {
  std::mt19937 rng(8000);
  for (const Case& base : FixedCases()) {
    if (base.batch != 1) continue;
    const Problem p = Build(base);
    if (!p.ok) continue;
    const onexn_block_index index = {base.n, p.num_groups, p.group_ptr.data(),
                                     p.kept_cin.empty() ? nullptr : p.kept_cin.data()};
    onexn_conv* conv = Create(k, &p.shape, &index, p.w_passed.data(), p.bias.empty() ? nullptr : p.bias.data(),
                              nullptr, 0);
    Check(conv != nullptr, k.label + " tile invariance: create " + base.Describe());
    if (conv == nullptr) continue;
    std::vector<float> whole;
    RunGuarded(conv, p, nullptr, &whole);
    const size_t pixels = static_cast<size_t>(p.shape.out_h) * p.shape.out_w, cout = p.shape.cout;
    std::vector<float> pieces(whole.size(), 0.0f);
    for (size_t p0 = 0; p0 < pixels;) {
      const size_t p1 = std::min(pixels, p0 + 1 + rng() % 11);
      onexn_conv_run_pixels(conv, p.input.data(), p0, p1, pieces.data() + p0 * cout, 0, onexn_conv_num_panels(conv),
                            0);
      p0 = p1;
    }
    Check(std::memcmp(whole.data(), pieces.data(), whole.size() * sizeof(float)) == 0,
          k.label + " tile invariance: pixel ranges change the bits, " + base.Describe());
    onexn_conv_destroy(conv);
  }
}

// A pixel-vector kernel whose weights and gathered tiles do not fit in L2 together, over 4 tiles of pixels
// (7x7, 64 KB of tiles): its panels run in blocks over the tiles, all gathered first (conv.c,
// weight_blocking; a CPU whose L2 size is unknown blocks weights past 512 KB). The results
// are the reference's, at every thread count the same bits, and the same bits as runs of a few pixels
// each (one tile, gathered and run alone).
void TestGatheredOnce(const Kernel& k) {
  Case c;
  c.in_h = c.in_w = 7;
  c.cin = 256;
  c.n = static_cast<int>(k.uk->nr);
  c.seed = 8100;
  // Kept weights of about cout * cin / 2 floats: 1.2 times the L2, or 512 KB.
  const size_t l2 = std::max<size_t>(onexn_cpu_l2_bytes(), 512 * 1024);
  c.cout = static_cast<int>((12 * l2 / 10 / (static_cast<size_t>(c.cin) / 2 * sizeof(float)) + 63) / 64 * 64);
  const Problem p = Build(c);
  Check(p.ok, k.label + " gathered once: build " + c.Describe());
  if (!p.ok) return;
  const onexn_block_index index = {c.n, p.num_groups, p.group_ptr.data(),
                                   p.kept_cin.empty() ? nullptr : p.kept_cin.data()};
  onexn_conv* conv = Create(k, &p.shape, &index, p.w_passed.data(), p.bias.data(), nullptr, 0);
  Check(conv != nullptr, k.label + " gathered once: create " + c.Describe());
  if (conv == nullptr) return;
  Check(onexn_conv_panel_block(conv) < onexn_conv_num_panels(conv),
        k.label + " gathered once: the panels do not run in blocks, " + c.Describe());
  std::vector<float> whole;
  RunGuarded(conv, p, nullptr, &whole);
  const size_t pixels = 49, cout = static_cast<size_t>(c.cout);
  std::vector<float> pieces(whole.size(), 0.0f);
  for (size_t p0 = 0; p0 < pixels; p0 += 5) {
    onexn_conv_run_pixels(conv, p.input.data(), p0, std::min(pixels, p0 + 5), pieces.data() + p0 * cout, 0,
                          onexn_conv_num_panels(conv), 0);
  }
  Check(std::memcmp(whole.data(), pieces.data(), whole.size() * sizeof(float)) == 0,
        k.label + " gathered once: runs of 5 pixels change the bits, " + c.Describe());
  onexn_conv_destroy(conv);
  TestCase(c, {k});
  TestThreads(c, {k});
}

// One microkernel of the lists, forced on every fixed case and a share of the random ones.
void TestUkernel(onexn_isa isa, const char* name) {
  if (!Runs(isa, name)) return;
  const onexn_ukernel_config* uk = onexn_conv_ukernel(name);
  Check(uk != nullptr && uk->isa == isa, std::string(name) + ": in this build's kernel table");
  if (uk == nullptr) return;
  const std::vector<Kernel> kernel = {{name, isa, uk}};
  for (const Case& c : FixedCases()) TestCase(c, kernel);
  for (const Case& c : RandomCases(RandomCaseCount(150) / 3)) TestCase(c, kernel);
  TestThreadCases(kernel);
  if (uk->tile_invariant) TestTileInvariance(kernel[0]);
  if (uk->kind == ONEXN_KIND_XT) TestGatheredOnce(kernel[0]);
}

// xt[t][c][m] must be pixel m's input row at tap t, channel c (zero for padding taps and pixels past mr).
void TestGather(onexn_isa isa, const char* name, onexn_xt_gather gather) {
  if (!Runs(isa, name)) return;
  std::mt19937 rng(9000);
  for (int iter = 0; iter < 200; iter++) {
    const size_t taps = 1 + rng() % 9, cin = 1 + rng() % 40, mr = 1 + rng() % ONEXN_XT_PIXELS, rows = 30;
    std::vector<float> input(rows * cin), zero(cin, 0.0f);
    for (float& x : input) x = static_cast<float>(rng() % 1000) - 500.0f;
    std::vector<ptrdiff_t> ind(ONEXN_XT_PIXELS * taps);
    for (ptrdiff_t& o : ind) o = rng() % 5 == 0 ? -1 : static_cast<ptrdiff_t>((rng() % rows) * cin);
    // 64-byte aligned, as the operator's scratch is (the vector gathers use aligned stores).
    std::vector<float> storage(taps * cin * ONEXN_XT_PIXELS + 16, kSentinel);
    float* xt = storage.data() + (16 - reinterpret_cast<uintptr_t>(storage.data()) / sizeof(float) % 16) % 16;
    gather(xt, input.data(), zero.data(), ind.data(), taps, cin, mr);
    bool ok = true;
    for (size_t t = 0; t < taps; t++) {
      for (size_t m = 0; m < ONEXN_XT_PIXELS; m++) {
        const ptrdiff_t o = m < mr ? ind[m * taps + t] : -1;
        for (size_t c = 0; c < cin; c++) {
          ok &= xt[(t * cin + c) * ONEXN_XT_PIXELS + m] == (o < 0 ? 0.0f : input[o + c]);
        }
      }
    }
    Check(ok, std::string(name) + ": taps " + std::to_string(taps) + " cin " + std::to_string(cin) + " mr " +
                  std::to_string(mr));
  }
}

// "onexn_f32_spconv_8x16_avx512f" -> "f32-spconv-8x16-avx512f".
std::string NameOf(std::string function) {
  function.erase(0, std::strlen("onexn_"));
  std::replace(function.begin(), function.end(), '_', '-');
  return function;
}

}  // namespace

TEST_CASE("isa names, detection and the pool's size") {
  std::string tested;
  for (onexn_isa isa : AvailableIsas()) tested += std::string(" ") + onexn_isa_name(isa);
  MESSAGE(("ISAs tested:" + tested + " (auto = " + onexn_isa_name(onexn_isa_resolve(ONEXN_ISA_AUTO)) + ")"));
  TestIsaApi();
}

TEST_CASE("conv: fixed cases, the kernel each ISA dispatches to") {
  for (const Case& c : FixedCases()) TestCase(c, Dispatched(AvailableIsas()));
}

TEST_CASE("conv: random cases, the kernel each ISA dispatches to") {
  for (const Case& c : RandomCases(RandomCaseCount(150))) TestCase(c, Dispatched(AvailableIsas()));
}

TEST_CASE("conv: results do not depend on the thread count") { TestThreadCases(Dispatched(AvailableIsas())); }

TEST_CASE("conv: two callers share a pool") { TestSharedPool(); }

TEST_CASE("conv: the threads' tasks cover every tile and panel once") { TestPlanTasks(); }

TEST_CASE("conv: chunks of panels ordered to even out the threads' work") { TestBalanceChunks(); }

TEST_CASE("conv: a stem's widened rows are copied afresh for each run and image") {
  TestWidenedRowsRerun(Dispatched(AvailableIsas()));
}

TEST_CASE("conv: run_add adds a residual to the convolution's output") {
  Case c;  // pixel tasks: each adds its pixels
  c.in_h = 13;
  c.in_w = 11;
  c.cin = 24;
  c.cout = 40;
  c.batch = 2;
  c.n = 8;
  c.seed = 3300;
  TestRunAdd(c, Dispatched(AvailableIsas()));
  c.kh = c.kw = 3;  // 9 pixels: the tasks split the channels, the add runs after them
  c.in_h = c.in_w = 3;
  c.batch = 1;
  c.n = 4;
  c.seed = 3301;
  TestRunAdd(c, Dispatched(AvailableIsas()));
  TestRunAdd(BlockedWeightsCase(3302), Dispatched(AvailableIsas()));
  // Tiles the threads cannot share evenly: a chunk of the channels per thread, each adds its own.
  TestRunAdd(UnevenTilesCase<Case>(16, 3303), Dispatched(AvailableIsas()));
}

// Running every block (the zeros multiplied) or another kernel for the block width computes the same
// convolution; the choice is reported.
void TestPlannedChoice(const std::vector<onexn_isa>& isas) {
  Case c;
  c.in_h = c.in_w = 12;
  c.cin = 32;
  c.cout = 48;
  for (onexn_isa isa : isas) {
    for (int n : {1, 4, 16}) {
      c.n = n;
      const Problem p = Build(c);
      const onexn_block_index ix = {c.n, p.num_groups, p.group_ptr.data(), p.kept_cin.data()};
      onexn_conv_choice choice[3];
      for (onexn_dense_policy policy : {ONEXN_DENSE_AUTO, ONEXN_DENSE_NEVER, ONEXN_DENSE_ALWAYS}) {
        onexn_conv* conv = onexn_conv_create_planned(&p.shape, &ix, p.w_passed.data(), nullptr, isa, policy, nullptr, 0);
        Check(conv != nullptr, "planned: create");
        if (conv == nullptr) return;
        onexn_conv_get_choice(conv, &choice[policy]);
        onexn_conv_destroy(conv);
      }
      const std::string what = std::string("planned ") + onexn_isa_name(isa) + " n=" + std::to_string(n);
      Check(choice[ONEXN_DENSE_NEVER].dense == 0, what + ": never runs the kept blocks");
      Check(choice[ONEXN_DENSE_ALWAYS].dense == 1, what + ": always runs every block");
      if (isa == ONEXN_ISA_SCALAR) continue;  // no cost model for the scalar kernel: it keeps the kept blocks
      Check(choice[ONEXN_DENSE_AUTO].cost_ns > 0 && choice[ONEXN_DENSE_AUTO].cost_ns <= choice[ONEXN_DENSE_AUTO].sparse_ns &&
                choice[ONEXN_DENSE_AUTO].cost_ns <= choice[ONEXN_DENSE_AUTO].dense_ns,
            what + ": the cost model takes the cheapest estimate");
    }
  }
}

// What the cost model (policy auto) chose for a case: the kernel's name ("" if create failed) and the estimates.
struct Planned {
  std::string kernel;
  onexn_conv_choice choice{};
};

Planned PlanCase(const Case& c, onexn_isa isa) {
  Planned r;
  const Problem p = Build(c);
  const onexn_block_index ix = {c.n, p.num_groups, p.group_ptr.data(), p.kept_cin.data()};
  onexn_conv* conv =
      onexn_conv_create_planned(&p.shape, &ix, p.w_passed.data(), nullptr, isa, ONEXN_DENSE_AUTO, nullptr, 0);
  Check(conv != nullptr, "planned " + c.Describe() + ": create");
  if (conv == nullptr) return r;
  r.kernel = onexn_conv_kernel_name(conv);
  onexn_conv_get_choice(conv, &r.choice);
  onexn_conv_destroy(conv);
  return r;
}

// A classifier head (FULLY_CONNECTED at batch 1: one pixel) waits on the weights it streams: the cost model
// keeps the blocks where that streams half of them in 1xN blocks of 4 (measured 0.71 of the dense time on
// AVX-512 on Zen 4, 0.54 on an Intel Xeon, 0.65 on AVX2, 1280->1000), and runs every block where N = 2 at
// 50% would be slower (1.4, 1.17 and 1.3). The coefficients deciding this were fitted on x86 only.
void TestHeadChoice(const std::vector<onexn_isa>& isas) {
  Case c;
  c.in_h = c.in_w = 1;
  c.cin = 1280;
  c.cout = 1000;
  c.sparsity = 0.5;
  for (onexn_isa isa : isas) {
    if (isa != ONEXN_ISA_AVX512 && isa != ONEXN_ISA_AVX2) continue;
    for (int n : {2, 4}) {
      c.n = n;
      const Planned r = PlanCase(c, isa);
      if (r.kernel.empty()) continue;
      Check(r.choice.dense == (n == 2), std::string("head choice ") + onexn_isa_name(isa) + " n=" +
                                            std::to_string(n) +
                                            (r.choice.dense ? ": runs every block" : ": runs the kept blocks"));
    }
  }
}

TEST_CASE("conv: a classifier head keeps its 1x4 blocks, runs every 1x2 block") { TestHeadChoice(AvailableIsas()); }

// ResNet-50's 7x7x512->2048 at N = 16 50% has 2 MB of kept weights and 49 pixels: a 32-pixel kernel reads
// them from beyond L2 once per tile, the 8x16 kernel once (its panels run in blocks). The cost model counts
// that (0.73 -> 0.61 ms in the graph on the Xeon); before, it picked the 32-pixel kernel on its warm timings.
void TestStreamedWeightsChoice(const std::vector<onexn_isa>& isas) {
  Case c;
  c.in_h = c.in_w = 7;
  c.cin = 512;
  c.cout = 2048;
  c.n = 16;
  for (onexn_isa isa : isas) {
    if (isa != ONEXN_ISA_AVX512) continue;
    const Planned r = PlanCase(c, isa);
    Check(r.kernel == "f32-spconv-8x16-avx512f", "7x7x512->2048 N=16 50% runs " + r.kernel);
  }
}

// A dense layer (every block kept) on full-width AVX-512 units runs on the 8x32 kernel: two FMAs per
// broadcast (0.75-0.92 of the 8x16 kernel's time on the Xeon). Zen 4's table has no row for it: 8x16 there.
// A classifier head (one pixel) keeps its few-pixel kernel. stock_ns stays the 8x16 estimate.
void TestDense32Choice(const std::vector<onexn_isa>& isas) {
  for (onexn_isa isa : isas) {
    if (isa != ONEXN_ISA_AVX512) continue;
    for (int rows : {1, 28}) {
      Case c;
      c.in_h = c.in_w = rows;
      c.cin = 48;
      c.cout = 64;
      c.n = 16;
      c.sparsity = 0.0;
      const Planned r = PlanCase(c, isa);
      if (r.kernel.empty()) continue;
      const bool want32 = rows > 1 && !onexn_cpu_avx512_on_256bit_units();
      Check((r.kernel == "f32-spconv-8x32-avx512f") == want32,
            "dense " + std::to_string(rows) + "x" + std::to_string(rows) + "x48->64 runs " + r.kernel);
      if (want32) {
        Check(r.choice.dense == 1 && r.choice.cost_ns == r.choice.dense_ns && r.choice.dense_ns < r.choice.stock_ns,
              "dense 8x32 choice: estimates");
      }
    }
  }
}

TEST_CASE("conv: dense layers run two FMAs per broadcast on full-width AVX-512") { TestDense32Choice(AvailableIsas()); }

TEST_CASE("conv: weights past L2 over few pixels run on the kernel that reads them once") {
  TestStreamedWeightsChoice(AvailableIsas());
}

TEST_CASE("conv: planned (cost model, every block) computes the same convolution") {
  TestPlannedChoice(AvailableIsas());
  for (onexn_dense_policy policy : {ONEXN_DENSE_AUTO, ONEXN_DENSE_ALWAYS}) {
    g_dense_policy = policy;
    for (const Case& c : FixedCases()) TestCase(c, Dispatched(AvailableIsas()));
    for (const Case& c : RandomCases(RandomCaseCount(150) / 3)) TestCase(c, Dispatched(AvailableIsas()));
    TestThreadCases(Dispatched(AvailableIsas()));
  }
  g_dense_policy = ONEXN_DENSE_NEVER;
}

TEST_CASE("conv: layers with few pixels do not run pixel-vector kernels") { TestKernelChoice(AvailableIsas()); }

TEST_CASE("conv: which layers run their weights in blocks of panels") {
  auto shape = [](int h, int cin, int cout, int k, int stride) {
    onexn_conv_shape s{};
    s.batch = 1;
    s.in_h = s.in_w = h;
    s.out_h = s.out_w = (h + stride - 1) / stride;
    s.cin = cin;
    s.cout = cout;
    s.kh = s.kw = k;
    s.stride_h = s.stride_w = stride;
    return s;
  };
  // The input a run reads: the image for a 3x3 layer (not taps times channels per pixel), a quarter of it
  // at stride 2.
  const onexn_conv_shape r50_3x3 = shape(7, 512, 512, 3, 1), r50_proj = shape(14, 1024, 2048, 1, 2);
  CHECK(onexn_conv_input_bytes(&r50_3x3) == 7u * 7 * 512 * 4);
  CHECK(onexn_conv_input_bytes(&r50_proj) == 7u * 7 * 1024 * 4);
  // ResNet-50's 7x7 3x3 layer at 50% (4.7 MB of weights, 7 tiles) blocks; a layer whose weights fit, or
  // with one tile, or whose input is past 512 KB (56x56x64), does not.
  CHECK(onexn_conv_blocks_weights(4700000, onexn_conv_input_bytes(&r50_3x3), 7));
  CHECK(onexn_conv_blocks_weights(4200000, onexn_conv_input_bytes(&r50_proj), 7));
  CHECK_FALSE(onexn_conv_blocks_weights(400000, onexn_conv_input_bytes(&r50_3x3), 7));
  CHECK_FALSE(onexn_conv_blocks_weights(4700000, onexn_conv_input_bytes(&r50_3x3), 1));
  const onexn_conv_shape r50_56 = shape(56, 64, 64, 3, 1);
  CHECK_FALSE(onexn_conv_blocks_weights(600000, onexn_conv_input_bytes(&r50_56), 392));
  // A pixel-vector kernel's gathered tiles (4 tiles of 16 pixels at 7x7), with 1 MB of L2: blocks where the
  // weights and the tiles do not fit in it together and the tiles fit in a quarter of it, or the weights
  // exceed it one and a half times.
  const size_t mb = 1 << 20;
  size_t tiles_1024 = 0, tiles_2048 = 0, overflowed = 0;
  CHECK(onexn_conv_gathered_bytes(4, 16, 1, 1024, &tiles_1024) == 0);
  CHECK(onexn_conv_gathered_bytes(4, 16, 1, 2048, &tiles_2048) == 0);
  CHECK(tiles_1024 == 256u * 1024);
  CHECK(tiles_2048 == 512u * 1024);
  CHECK(onexn_conv_gathered_bytes(SIZE_MAX / 8, 16, 9, 512, &overflowed) != 0);
  CHECK(onexn_conv_xt_blocks_weights(2100000, tiles_1024, 4, mb));      // MobileNetV1's 1024 -> 1024, N = 4 50%
  CHECK(onexn_conv_xt_blocks_weights(1050000, 128u * 1024, 4, mb));     // its 512 -> 1024
  CHECK(onexn_conv_xt_blocks_weights(2100000, tiles_2048, 4, mb));      // ResNet-50's 2048 -> 512, 50%
  CHECK_FALSE(onexn_conv_xt_blocks_weights(1050000, tiles_2048, 4, mb));  // at 75%: the tiles would not stay
  CHECK_FALSE(onexn_conv_xt_blocks_weights(820000, 80u * 1024, 4, mb));   // MobileNetV2's 320 -> 1280: they fit
  CHECK_FALSE(onexn_conv_xt_blocks_weights(2100000, tiles_1024, 1, mb));  // one tile
  CHECK_FALSE(onexn_conv_xt_blocks_weights(1500000, tiles_1024, 4, 2 * mb));  // they fit in a Xeon's 2 MB
}

TEST_CASE("conv: bad arguments are refused with a message") { TestBadArguments(); }

TEST_CASE("conv dispatch: every ISA has a listed kernel for every block width") {
  for (onexn_isa isa : AvailableIsas()) {
    for (int n = 1; n <= 70; n++) {
      for (size_t pixels : {1, 15, 16, 200}) {
        const onexn_ukernel_config* uk = nullptr;
        const bool found = onexn_select_ukernel(isa, n, pixels, &uk) == 0;
        Check(found && uk != nullptr && onexn_isa_supported(uk->isa),
              std::string("dispatch ") + onexn_isa_name(isa) + " n=" + std::to_string(n) + " pixels=" +
                  std::to_string(pixels));
      }
    }
  }
}

TEST_CASE("kernel lists: names are the function names") {
#define ONEXN_SPCONV_UKERNEL(isa, name, ukernel, mr, nr, nr_fits_block, tile_invariant) \
  Check(NameOf(#ukernel) == name, #ukernel);
#include "f32-spconv/f32-spconv.inc"
#undef ONEXN_SPCONV_UKERNEL
#define ONEXN_PIXELVEC_UKERNEL(isa, name, ukernel, mr, nr, gather) Check(NameOf(#ukernel) == name, #ukernel);
#include "f32-spconv-pixelvec/f32-spconv-pixelvec.inc"
#undef ONEXN_PIXELVEC_UKERNEL
#define ONEXN_GATHER_UKERNEL(isa, name, ukernel) Check(NameOf(#ukernel) == name, #ukernel);
#include "f32-pixelvec-gather/f32-pixelvec-gather.inc"
#undef ONEXN_GATHER_UKERNEL
#define ONEXN_DWCONV_UKERNEL(isa, name, ukernel, channel_tile) Check(NameOf(#ukernel) == name, #ukernel);
#include "f32-dwconv/f32-dwconv.inc"
#undef ONEXN_DWCONV_UKERNEL
#define ONEXN_VADD_UKERNEL(isa, name, ukernel, batch_tile) Check(NameOf(#ukernel) == name, #ukernel);
#include "f32-vadd/f32-vadd.inc"
#undef ONEXN_VADD_UKERNEL
}

// One test case per microkernel of the lists, named like it.
#define ONEXN_SPCONV_UKERNEL(isa, name, ukernel, mr, nr, nr_fits_block, tile_invariant) \
  TEST_CASE(name) { TestUkernel(isa, name); }
#include "f32-spconv/f32-spconv.inc"
#undef ONEXN_SPCONV_UKERNEL
#define ONEXN_PIXELVEC_UKERNEL(isa, name, ukernel, mr, nr, gather) \
  TEST_CASE(name) { TestUkernel(isa, name); }
#include "f32-spconv-pixelvec/f32-spconv-pixelvec.inc"
#undef ONEXN_PIXELVEC_UKERNEL
#define ONEXN_GATHER_UKERNEL(isa, name, ukernel) \
  TEST_CASE(name) { TestGather(isa, name, ukernel); }
#include "f32-pixelvec-gather/f32-pixelvec-gather.inc"
#undef ONEXN_GATHER_UKERNEL

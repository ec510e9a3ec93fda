// Tests of the onexn max and average pooling against a naive double reference: the kernel of every ISA
// available here, and every microkernel of f32-pool.inc directly (one test case each); fixed and random
// shapes (window sizes, strides, SAME / VALID / explicit padding, windows cut on both sides, channel tails,
// batches), clamps, guarded outputs, thread-count determinism, argument validation.
//   bazel test //tflite_delegate:pool_test [--test_filter='f32-maxpool*']
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "onexn_kernels.h"
#include "operators/operators.h"
#include "test_util.h"

namespace {

using onexn_test::AvailableIsas;
using onexn_test::Axis;
using onexn_test::Check;
using onexn_test::Pad;
using onexn_test::RandomCaseCount;
using onexn_test::Runs;

using Kernel = onexn_test::Kernel<onexn_pool_ukernel_config>;

constexpr auto Dispatched = &onexn_test::Dispatched<onexn_pool_ukernel_config>;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Case {
  int batch = 1, in_h = 7, in_w = 7, channels = 16;
  int kh = 3, kw = 3, stride_h = 2, stride_w = 2;
  Pad pad = Pad::kSame;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;  // kExplicit only
  bool relu6 = false;
  unsigned seed = 1;

  std::string Describe() const {
    char buf[256];
    std::snprintf(buf, sizeof(buf), "b%d %dx%dx%d k%dx%d s%d,%d pad=%s(%d,%d,%d,%d)%s seed=%u", batch, in_h, in_w,
                  channels, kh, kw, stride_h, stride_w,
                  pad == Pad::kSame ? "same" : pad == Pad::kValid ? "valid" : "explicit", pad_top, pad_left,
                  pad_bottom, pad_right, relu6 ? " relu6" : "", seed);
    return buf;
  }
};

struct Problem {
  onexn_pool_shape shape{};
  std::vector<float> input;
  bool ok = false;
};

Problem Build(const Case& c) {
  Problem p;
  onexn_pool_shape& s = p.shape;
  s.batch = c.batch;
  s.in_h = c.in_h;
  s.in_w = c.in_w;
  s.channels = c.channels;
  s.kh = c.kh;
  s.kw = c.kw;
  s.stride_h = c.stride_h;
  s.stride_w = c.stride_w;
  if (!Axis(c.pad, c.in_h, c.kh, c.stride_h, 1, c.pad_top, c.pad_bottom, &s.out_h, &s.pad_top) ||
      !Axis(c.pad, c.in_w, c.kw, c.stride_w, 1, c.pad_left, c.pad_right, &s.out_w, &s.pad_left)) {
    return p;
  }
  s.out_min = c.relu6 ? 0.0f : -kInf;
  s.out_max = c.relu6 ? 6.0f : kInf;
  std::mt19937 rng(c.seed);
  std::uniform_real_distribution<float> val(-8.0f, 8.0f);  // relu6 clips some outputs at both ends
  p.input.resize(static_cast<size_t>(c.batch) * c.in_h * c.in_w * c.channels);
  for (float& x : p.input) x = val(rng);
  p.ok = true;
  return p;
}

// An output window that lies entirely in the padding (only explicit padding makes one): create refuses it.
bool HasEmptyWindow(const onexn_pool_shape& s) {
  for (int oy = 0; oy < s.out_h; oy++) {
    const int y = oy * s.stride_h - s.pad_top;
    if (y + s.kh <= 0 || y >= s.in_h) return true;
  }
  for (int ox = 0; ox < s.out_w; ox++) {
    const int x = ox * s.stride_w - s.pad_left;
    if (x + s.kw <= 0 || x >= s.in_w) return true;
  }
  return false;
}

// Naive pooling in double over the valid taps, TFLite's clamp.
std::vector<double> Reference(const Problem& p, onexn_pool_kind kind) {
  const onexn_pool_shape& s = p.shape;
  std::vector<double> out(static_cast<size_t>(s.batch) * s.out_h * s.out_w * s.channels);
  size_t i = 0;
  for (int b = 0; b < s.batch; b++)
    for (int oy = 0; oy < s.out_h; oy++)
      for (int ox = 0; ox < s.out_w; ox++)
        for (int c = 0; c < s.channels; c++) {
          double acc = kind == ONEXN_POOL_MAX ? -kInf : 0.0;
          int taps = 0;
          for (int ky = 0; ky < s.kh; ky++)
            for (int kx = 0; kx < s.kw; kx++) {
              const int iy = oy * s.stride_h - s.pad_top + ky, ix = ox * s.stride_w - s.pad_left + kx;
              if (iy < 0 || iy >= s.in_h || ix < 0 || ix >= s.in_w) continue;
              const double x = p.input[((static_cast<size_t>(b) * s.in_h + iy) * s.in_w + ix) * s.channels + c];
              acc = kind == ONEXN_POOL_MAX ? std::max(acc, x) : acc + x;
              taps++;
            }
          if (kind == ONEXN_POOL_AVERAGE) acc /= taps;
          out[i++] = std::min(std::max(acc, double{s.out_min}), double{s.out_max});
        }
  return out;
}

size_t OutSize(const onexn_pool_shape& s) { return static_cast<size_t>(s.batch) * s.out_h * s.out_w * s.channels; }

// Runs into a guarded, NaN-filled buffer; returns false if a guard was overwritten.
bool RunGuarded(onexn_pool* op, const Problem& p, onexn_threadpool* pool, std::vector<float>* out) {
  return onexn_test::RunGuarded(
      OutSize(p.shape), [&](float* o) { onexn_pool_run(op, p.input.data(), o, pool); }, out);
}

onexn_pool* Create(const Problem& p, onexn_pool_kind kind, const Kernel& k, std::string* err_out) {
  char err[256] = "";
  onexn_pool* op = k.uk == nullptr ? onexn_pool_create(kind, &p.shape, k.isa, err, sizeof(err))
                                   : onexn_pool_create_with_ukernel(&p.shape, k.uk, err, sizeof(err));
  *err_out = err;
  return op;
}

// The kinds a kernel list serves: the row's own, or both for the dispatched kernel of an ISA.
std::vector<onexn_pool_kind> Kinds(const Kernel& k) {
  if (k.uk != nullptr) return {k.uk->kind};
  return {ONEXN_POOL_MAX, ONEXN_POOL_AVERAGE};
}

// Every output equals the reference: max exactly, the average to float rounding of a sum of taps. Also
// bit-identical to the scalar kernel, whose arithmetic every vector kernel repeats lane by lane.
void TestCase(const Case& c, const std::vector<Kernel>& kernels) {
  const Problem p = Build(c);
  if (!p.ok) return;
  const bool empty_window = HasEmptyWindow(p.shape);
  for (const Kernel& k : kernels) {
    for (onexn_pool_kind kind : Kinds(k)) {
      const std::string what = k.label + (kind == ONEXN_POOL_MAX ? " max " : " avg ") + c.Describe();
      std::string err;
      onexn_pool* op = Create(p, kind, k, &err);
      if (empty_window) {
        Check(op == nullptr && err.find("padding") != std::string::npos, what + ": a window without taps accepted");
        onexn_pool_destroy(op);
        continue;
      }
      Check(op != nullptr, what + ": create failed: " + err);
      if (op == nullptr) continue;
      if (k.uk != nullptr) Check(onexn_pool_kernel_name(op) == k.label, what + ": runs " + onexn_pool_kernel_name(op));
      std::vector<float> out;
      const bool guards = RunGuarded(op, p, nullptr, &out);
      Check(guards, what + ": wrote outside the output tensor");
      const std::vector<double> ref = Reference(p, kind);
      size_t bad = 0, first = 0;
      for (size_t i = 0; i < out.size(); i++) {
        const double tol = kind == ONEXN_POOL_MAX ? 0.0 : 1e-5 * std::max(1.0, std::fabs(ref[i]));
        if (!(std::fabs(out[i] - ref[i]) <= tol) && bad++ == 0) first = i;
      }
      Check(bad == 0, what + " [" + onexn_pool_kernel_name(op) + "]: " + std::to_string(bad) + " wrong, first at " +
                          std::to_string(first) + " got " + std::to_string(out[first]) + " want " +
                          std::to_string(ref[first]));
      onexn_pool* scalar = onexn_pool_create(kind, &p.shape, ONEXN_ISA_SCALAR, nullptr, 0);
      std::vector<float> want;
      RunGuarded(scalar, p, nullptr, &want);
      Check(std::memcmp(out.data(), want.data(), out.size() * sizeof(float)) == 0,
            what + ": not bit-identical to the scalar kernel");
      onexn_pool_destroy(scalar);
      onexn_pool_destroy(op);
    }
  }
}

void TestThreads(const Case& c, const std::vector<Kernel>& kernels) {
  const Problem p = Build(c);
  if (!p.ok) return;
  for (const Kernel& k : kernels) {
    for (onexn_pool_kind kind : Kinds(k)) {
      const std::string what = "threads " + k.label + " " + c.Describe();
      std::string err;
      onexn_pool* op = Create(p, kind, k, &err);
      Check(op != nullptr, what + ": create failed: " + err);
      if (op == nullptr) continue;
      std::vector<float> single;
      RunGuarded(op, p, nullptr, &single);
      for (int threads : {2, 3, 8}) {
        onexn_threadpool* pool = onexn_threadpool_create(threads);
        std::vector<float> out;
        const bool guards = RunGuarded(op, p, pool, &out);
        Check(guards && std::memcmp(out.data(), single.data(), out.size() * sizeof(float)) == 0,
              what + ": " + std::to_string(threads) + " threads not bit-identical to 1");
        onexn_threadpool_destroy(pool);
      }
      onexn_pool_destroy(op);
    }
  }
}

std::vector<Case> FixedCases() {
  std::vector<Case> cases;
  unsigned seed = 100;
  // Every window 1..4 x stride 1..3 x SAME / VALID, channel tail 17.
  for (int k = 1; k <= 4; k++)
    for (int stride = 1; stride <= 3; stride++)
      for (Pad pad : {Pad::kSame, Pad::kValid}) {
        Case c;
        c.in_h = 11;
        c.in_w = 10;
        c.channels = 17;
        c.kh = c.kw = k;
        c.stride_h = c.stride_w = stride;
        c.pad = pad;
        c.relu6 = k == 2;
        c.seed = seed++;
        cases.push_back(c);
      }
  // Channel counts around every vector width.
  for (int ch : {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100}) {
    Case c;
    c.in_h = 9;
    c.in_w = 13;
    c.channels = ch;
    c.seed = seed++;
    cases.push_back(c);
  }
  // Non-square windows and strides; a window larger than the image (SAME cuts it on both sides).
  const int shapes[][4] = {{1, 5, 2, 1}, {4, 2, 1, 3}, {2, 3, 2, 2}, {9, 9, 1, 1}, {5, 5, 3, 3}};
  for (const auto& sh : shapes) {
    for (Pad pad : {Pad::kSame, Pad::kValid}) {
      Case c;
      c.in_h = 6;
      c.in_w = 8;
      c.channels = 20;
      c.kh = sh[0];
      c.kw = sh[1];
      c.stride_h = sh[2];
      c.stride_w = sh[3];
      c.pad = pad;
      c.seed = seed++;
      cases.push_back(c);
    }
  }
  // Explicit padding as a PAD before a VALID pool gives it (ResNet's max pool: 1 on every side), and
  // asymmetric; the last two make windows that lie in the padding, which create refuses.
  const int pads[][4] = {{1, 1, 1, 1}, {0, 1, 1, 0}, {2, 0, 0, 2}, {3, 0, 0, 0}, {0, 0, 0, 4}};
  for (const auto& pd : pads) {
    Case c;
    c.in_h = 8;
    c.in_w = 9;
    c.channels = 24;
    c.pad = Pad::kExplicit;
    c.pad_top = pd[0];
    c.pad_left = pd[1];
    c.pad_bottom = pd[2];
    c.pad_right = pd[3];
    c.seed = seed++;
    cases.push_back(c);
  }
  // Global pooling (the window is the image), batches, 1x1 and 1-wide images.
  {
    Case c;
    c.batch = 3;
    c.in_h = c.kh = 5;
    c.in_w = c.kw = 6;
    c.channels = 40;
    c.pad = Pad::kValid;
    c.seed = seed++;
    cases.push_back(c);
  }
  for (int hw : {1, 2}) {
    Case c;
    c.batch = 2;
    c.in_h = hw;
    c.in_w = 1;
    c.channels = 33;
    c.seed = seed++;
    cases.push_back(c);
  }
  // ResNet-50's max pool at 64x64 input: 32x32x64 -> 16x16 (after a PAD of 1: explicit here).
  {
    Case c;
    c.in_h = c.in_w = 32;
    c.channels = 64;
    c.pad = Pad::kExplicit;
    c.pad_top = c.pad_left = c.pad_bottom = c.pad_right = 1;
    c.seed = seed++;
    cases.push_back(c);
  }
  return cases;
}

std::vector<Case> RandomCases(int count) {
  std::vector<Case> cases;
  std::mt19937 rng(4242);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int i = 0; i < count; i++) {
    Case c;
    c.batch = uni(1, 2);
    c.in_h = uni(1, 12);
    c.in_w = uni(1, 12);
    c.channels = uni(1, 40);
    c.kh = uni(1, 5);
    c.kw = uni(1, 5);
    c.stride_h = uni(1, 3);
    c.stride_w = uni(1, 3);
    c.pad = uni(0, 1) ? Pad::kSame : Pad::kValid;
    c.relu6 = uni(0, 3) == 0;
    c.seed = 5000 + i;
    cases.push_back(c);
  }
  return cases;
}

void TestThreadCases(const std::vector<Kernel>& kernels) {
  Case c;
  c.batch = 2;
  c.in_h = 40;
  c.in_w = 33;
  c.channels = 37;
  c.seed = 77;
  TestThreads(c, kernels);  // above the size that runs on the caller
  c.batch = 1;
  c.in_h = 3;
  c.kh = c.kw = 2;
  c.stride_h = c.stride_w = 1;
  TestThreads(c, kernels);  // 3 output rows for 8 threads
}

void TestBadArguments() {
  Case c;
  const Problem p = Build(c);
  char buf[256];
  onexn_pool* ok = onexn_pool_create(ONEXN_POOL_MAX, &p.shape, ONEXN_ISA_AUTO, buf, sizeof(buf));
  Check(ok != nullptr, std::string("baseline create: ") + buf);  // or the failures below prove nothing
  onexn_pool_destroy(ok);
  auto expect_fail = [&](onexn_pool_kind kind, const onexn_pool_shape* s, onexn_isa isa, const std::string& what) {
    std::strcpy(buf, "");
    onexn_pool* bad = onexn_pool_create(kind, s, isa, buf, sizeof(buf));
    Check(bad == nullptr && std::strlen(buf) > 0, "bad argument accepted: " + what);
    onexn_pool_destroy(bad);
  };
  for (int field = 0; field < 10; field++) {
    onexn_pool_shape s = p.shape;
    int* f[] = {&s.batch, &s.in_h, &s.in_w, &s.channels, &s.out_h, &s.out_w, &s.kh, &s.kw, &s.stride_h, &s.stride_w};
    *f[field] = field % 2 == 0 ? 0 : -3;
    expect_fail(ONEXN_POOL_MAX, &s, ONEXN_ISA_AUTO, "dimension field " + std::to_string(field));
  }
  onexn_pool_shape s = p.shape;
  s.pad_top = -1;
  expect_fail(ONEXN_POOL_AVERAGE, &s, ONEXN_ISA_AUTO, "negative pad_top");
  s = p.shape;
  s.pad_left = s.kw;  // output column 0's window is all padding
  expect_fail(ONEXN_POOL_AVERAGE, &s, ONEXN_ISA_AUTO, "window in the padding");
  s = p.shape;
  s.out_h = s.in_h + 3;  // the last output rows' windows start below the image
  expect_fail(ONEXN_POOL_MAX, &s, ONEXN_ISA_AUTO, "window below the image");
  s = p.shape;
  s.out_min = 6.0f;
  s.out_max = 0.0f;
  expect_fail(ONEXN_POOL_MAX, &s, ONEXN_ISA_AUTO, "out_min > out_max");
  s = p.shape;
  s.out_min = kNaN;
  expect_fail(ONEXN_POOL_MAX, &s, ONEXN_ISA_AUTO, "NaN out_min");
  s = p.shape;
  s.in_h = s.in_w = s.channels = s.batch = 1 << 20;
  expect_fail(ONEXN_POOL_MAX, &s, ONEXN_ISA_AUTO, "overflowing input size");
  expect_fail(ONEXN_POOL_MAX, nullptr, ONEXN_ISA_AUTO, "NULL shape");
  expect_fail(static_cast<onexn_pool_kind>(3), &p.shape, ONEXN_ISA_AUTO, "unknown kind");
  for (onexn_isa isa : {ONEXN_ISA_SCALAR, ONEXN_ISA_AVX2, ONEXN_ISA_AVX512, ONEXN_ISA_NEON}) {
    if (!onexn_isa_supported(isa)) expect_fail(ONEXN_POOL_MAX, &p.shape, isa, "unsupported ISA");
  }
  expect_fail(ONEXN_POOL_MAX, &p.shape, static_cast<onexn_isa>(7), "unknown ISA value");
  Check(onexn_pool_create_with_ukernel(&p.shape, nullptr, buf, sizeof(buf)) == nullptr, "NULL microkernel");
  Check(std::string(onexn_pool_kernel_name(nullptr)).empty(), "kernel name of NULL");
  onexn_pool_destroy(nullptr);
}

void TestKernelNames(const std::vector<onexn_isa>& isas) {
  const Problem p = Build(Case());
  for (onexn_isa isa : isas) {
    for (onexn_pool_kind kind : {ONEXN_POOL_MAX, ONEXN_POOL_AVERAGE}) {
      onexn_pool* op = onexn_pool_create(kind, &p.shape, isa, nullptr, 0);
      const std::string name = onexn_pool_kernel_name(op);
      const std::string prefix = kind == ONEXN_POOL_MAX ? "f32-maxpool-minmax-" : "f32-avgpool-minmax-";
      const char* tail = isa == ONEXN_ISA_AVX512 ? "16c-avx512f"
                         : isa == ONEXN_ISA_AVX2 ? "8c-avx2"
                         : isa == ONEXN_ISA_NEON ? "4c-neon"
                                                 : "scalar";
      Check(name == prefix + tail, std::string("pool kernel for ") + onexn_isa_name(isa) + " is " + name);
      onexn_pool_destroy(op);
    }
  }
}

// One pooling microkernel of the list, forced: every fixed case, a share of the random ones, and channel
// counts around its tile.
void TestPoolUkernel(onexn_isa isa, const char* name, onexn_pool_kind kind, int channel_tile) {
  if (!Runs(isa, name)) return;
  const onexn_pool_ukernel_config* uk = onexn_pool_ukernel(name);
  Check(uk != nullptr && uk->isa == isa && uk->kind == kind, std::string(name) + ": in this build's kernel table");
  if (uk == nullptr) return;
  const std::vector<Kernel> kernel = {{name, isa, uk}};
  for (const Case& c : FixedCases()) TestCase(c, kernel);
  for (const Case& c : RandomCases(RandomCaseCount(200) / 4)) TestCase(c, kernel);
  for (int channels = 1; channels <= 2 * channel_tile + 1; channels++) {
    Case c;
    c.channels = channels;
    c.in_h = 5;
    c.in_w = 11;
    c.seed = 7100 + channels;
    TestCase(c, kernel);
  }
  TestThreadCases(kernel);
}

}  // namespace

TEST_CASE("pool: fixed cases, the kernels of each ISA") {
  for (const Case& c : FixedCases()) TestCase(c, Dispatched(AvailableIsas()));
}

TEST_CASE("pool: random cases, the kernels of each ISA") {
  for (const Case& c : RandomCases(RandomCaseCount(200))) TestCase(c, Dispatched(AvailableIsas()));
}

TEST_CASE("pool: results do not depend on the thread count") { TestThreadCases(Dispatched(AvailableIsas())); }

TEST_CASE("pool: kernel names per ISA") { TestKernelNames(AvailableIsas()); }

TEST_CASE("pool: bad arguments are refused with a message") { TestBadArguments(); }

// One test case per microkernel of the list, named like it.
#define ONEXN_POOL_UKERNEL(isa, name, ukernel, kind, channel_tile) \
  TEST_CASE(name) { TestPoolUkernel(isa, name, kind, channel_tile); }
#include "f32-pool/f32-pool.inc"
#undef ONEXN_POOL_UKERNEL

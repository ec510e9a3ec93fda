// Tests of the onexn depthwise convolution and elementwise add against naive double references: the kernel
// of every ISA available here, and every microkernel of f32-dwconv.inc and f32-vadd.inc directly (one test
// case each); fixed and random shapes (kernel sizes, strides, dilations, padding modes, channel tails,
// batches), NaN propagation, clamps, guarded outputs, thread-count determinism, argument validation.
//   bazel test //tflite_delegate:dwconv_test [--test_filter='f32-dwconv*']
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
#include "operators/operators.h"
#include "test_util.h"

namespace {

using onexn_test::AvailableIsas;
using onexn_test::Axis;
using onexn_test::Check;
using onexn_test::Pad;
using onexn_test::RandomCaseCount;
using onexn_test::Runs;

using Kernel = onexn_test::Kernel<onexn_dwconv_ukernel_config>;

constexpr auto Dispatched = &onexn_test::Dispatched<onexn_dwconv_ukernel_config>;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Case {
  int batch = 1, in_h = 7, in_w = 7, channels = 16;
  int kh = 3, kw = 3, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  Pad pad = Pad::kSame;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;  // kExplicit only
  bool relu6 = false;
  bool null_bias = false;
  bool nan_input = false;  // one input value is NaN: exactly the outputs whose window holds it are NaN
  bool nan_reaches = false;  // the NaN is known to reach some outputs but not all (checked on the reference)
  unsigned seed = 1;

  std::string Describe() const {
    char buf[320];
    std::snprintf(buf, sizeof(buf), "b%d %dx%dx%d k%dx%d s%d,%d d%d,%d pad=%s(%d,%d,%d,%d)%s%s%s seed=%u", batch,
                  in_h, in_w, channels, kh, kw, stride_h, stride_w, dilation_h, dilation_w,
                  pad == Pad::kSame ? "same" : pad == Pad::kValid ? "valid" : "explicit", pad_top, pad_left,
                  pad_bottom, pad_right, relu6 ? " relu6" : "", null_bias ? " no-bias" : "",
                  nan_input ? " nan" : "", seed);
    return buf;
  }
};

struct Problem {
  onexn_dwconv_shape shape{};
  std::vector<float> w, bias, input;
  bool ok = false;
};

Problem Build(const Case& c) {
  Problem p;
  onexn_dwconv_shape& s = p.shape;
  s.batch = c.batch;
  s.in_h = c.in_h;
  s.in_w = c.in_w;
  s.channels = c.channels;
  s.kh = c.kh;
  s.kw = c.kw;
  s.stride_h = c.stride_h;
  s.stride_w = c.stride_w;
  s.dilation_h = c.dilation_h;
  s.dilation_w = c.dilation_w;
  if (!Axis(c.pad, c.in_h, c.kh, c.stride_h, c.dilation_h, c.pad_top, c.pad_bottom, &s.out_h, &s.pad_top) ||
      !Axis(c.pad, c.in_w, c.kw, c.stride_w, c.dilation_w, c.pad_left, c.pad_right, &s.out_w, &s.pad_left)) {
    return p;
  }
  s.out_min = c.relu6 ? 0.0f : -kInf;
  s.out_max = c.relu6 ? 6.0f : kInf;
  std::mt19937 rng(c.seed);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  p.w.resize(static_cast<size_t>(c.kh) * c.kw * c.channels);
  for (float& x : p.w) x = val(rng);
  if (!c.null_bias) {
    p.bias.resize(c.channels);
    for (float& x : p.bias) x = 2.0f * val(rng);
  }
  p.input.resize(static_cast<size_t>(c.batch) * c.in_h * c.in_w * c.channels);
  for (float& x : p.input) x = 4.0f * val(rng);  // relu6 clips some sums
  if (c.nan_input) p.input[p.input.size() / 2 + 1] = kNaN;
  p.ok = true;
  return p;
}

// Naive depthwise convolution in double; padding taps contribute nothing. mag = sum of |terms|.
void Reference(const Problem& p, std::vector<double>* out, std::vector<double>* mag) {
  const onexn_dwconv_shape& s = p.shape;
  const size_t total = static_cast<size_t>(s.batch) * s.out_h * s.out_w * s.channels;
  out->assign(total, 0.0);
  mag->assign(total, 0.0);
  for (int b = 0; b < s.batch; b++)
    for (int oy = 0; oy < s.out_h; oy++)
      for (int ox = 0; ox < s.out_w; ox++)
        for (int c = 0; c < s.channels; c++) {
          double acc = p.bias.empty() ? 0.0 : p.bias[c];
          double m = std::fabs(acc);
          for (int ky = 0; ky < s.kh; ky++)
            for (int kx = 0; kx < s.kw; kx++) {
              const int iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
              const int ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
              if (iy < 0 || iy >= s.in_h || ix < 0 || ix >= s.in_w) continue;
              const double x = p.input[((static_cast<size_t>(b) * s.in_h + iy) * s.in_w + ix) * s.channels + c];
              const double w = p.w[(static_cast<size_t>(ky) * s.kw + kx) * s.channels + c];
              acc += x * w;
              m += std::fabs(x * w);
            }
          // TFLite's clamp min(max(x, lo), hi) keeps NaN (std::max/min with NaN first would not).
          if (!std::isnan(acc)) acc = std::min(std::max(acc, double{s.out_min}), double{s.out_max});
          const size_t i = ((static_cast<size_t>(b) * s.out_h + oy) * s.out_w + ox) * s.channels + c;
          (*out)[i] = acc;
          (*mag)[i] = m;
        }
}

constexpr size_t kGuard = 64;
constexpr float kSentinel = -12345.0f;

size_t OutSize(const onexn_dwconv_shape& s) { return static_cast<size_t>(s.batch) * s.out_h * s.out_w * s.channels; }

// Runs into a guarded, NaN-filled buffer; returns false if a guard was overwritten.
bool RunGuarded(onexn_dwconv* dw, const Problem& p, onexn_threadpool* pool, std::vector<float>* out) {
  const size_t total = OutSize(p.shape);
  std::vector<float> buf(total + 2 * kGuard, kSentinel);
  std::fill(buf.begin() + kGuard, buf.begin() + kGuard + total, kNaN);
  onexn_dwconv_run(dw, p.input.data(), buf.data() + kGuard, pool);
  bool guards_ok = true;
  for (size_t i = 0; i < kGuard; i++) guards_ok &= buf[i] == kSentinel && buf[kGuard + total + i] == kSentinel;
  out->assign(buf.begin() + kGuard, buf.begin() + kGuard + total);
  return guards_ok;
}

onexn_dwconv* Create(const Problem& p, const Kernel& k, std::string* err_out) {
  char err[256] = "";
  const float* bias = p.bias.empty() ? nullptr : p.bias.data();
  onexn_dwconv* dw = k.uk == nullptr
                         ? onexn_dwconv_create(&p.shape, p.w.data(), bias, k.isa, err, sizeof(err))
                         : onexn_dwconv_create_with_ukernel(&p.shape, p.w.data(), bias, k.uk, err, sizeof(err));
  *err_out = err;
  return dw;
}

onexn_dwconv* Create(const Problem& p, onexn_isa isa, std::string* err_out) {
  return Create(p, Kernel{onexn_isa_name(isa), isa, nullptr}, err_out);
}

// Compares out with the reference; returns the number of wrong elements and fills detail.
size_t CountWrong(const std::vector<float>& out, const std::vector<double>& ref, const std::vector<double>& mag,
                  std::string* detail) {
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < out.size(); i++) {
    const double tol = 1e-5 * std::max(1.0, mag[i]);
    const bool ok = std::isnan(ref[i]) ? std::isnan(out[i]) : std::fabs(out[i] - ref[i]) <= tol;
    if (!ok && bad++ == 0) first = i;
  }
  if (bad != 0) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), ": %zu/%zu wrong, first at %zu got %g want %g", bad, out.size(), first,
                  out[first], ref[first]);
    *detail = buf;
  }
  return bad;
}

void TestCase(const Case& c, const std::vector<Kernel>& kernels) {
  const Problem p = Build(c);
  if (!p.ok) return;
  std::vector<double> ref, mag;
  Reference(p, &ref, &mag);
  size_t nans = 0;
  for (double r : ref) nans += std::isnan(r);
  if (c.nan_reaches) Check(nans > 0 && nans < ref.size(), "NaN case reaches some outputs, not all: " + c.Describe());
  for (const Kernel& k : kernels) {
    const std::string what = k.label + " " + c.Describe();
    std::string err;
    onexn_dwconv* dw = Create(p, k, &err);
    Check(dw != nullptr, what + ": create failed: " + err);
    if (dw == nullptr) continue;
    if (k.uk != nullptr) Check(onexn_dwconv_kernel_name(dw) == k.label, what + ": runs " + onexn_dwconv_kernel_name(dw));
    std::vector<float> out;
    const bool guards = RunGuarded(dw, p, nullptr, &out);
    std::string detail;
    Check(CountWrong(out, ref, mag, &detail) == 0, what + " [" + onexn_dwconv_kernel_name(dw) + "]" + detail);
    Check(guards, what + ": wrote outside the output tensor");
    // A rerun from another input buffer gives the same bits (nothing cached from the first input).
    std::vector<float> input2(p.input), out2(out.size());
    onexn_dwconv_run(dw, input2.data(), out2.data(), nullptr);
    Check(std::memcmp(out.data(), out2.data(), out.size() * sizeof(float)) == 0, what + ": rerun differs");
    onexn_dwconv_destroy(dw);
  }
}

void TestThreads(const Case& c, const std::vector<Kernel>& kernels) {
  const Problem p = Build(c);
  if (!p.ok) return;
  for (const Kernel& k : kernels) {
    const std::string what = "threads " + k.label + " " + c.Describe();
    std::string err;
    onexn_dwconv* dw = Create(p, k, &err);
    Check(dw != nullptr, what + ": create failed: " + err);
    if (dw == nullptr) continue;
    std::vector<float> single;
    RunGuarded(dw, p, nullptr, &single);
    for (int threads : {1, 2, 3, 8}) {
      onexn_threadpool* pool = onexn_threadpool_create(threads);
      Check(pool != nullptr, what + ": pool");
      if (pool == nullptr) continue;
      for (int rep = 0; rep < 2; rep++) {
        std::vector<float> out;
        const bool guards = RunGuarded(dw, p, pool, &out);
        Check(guards && std::memcmp(out.data(), single.data(), out.size() * sizeof(float)) == 0,
              what + ": " + std::to_string(threads) + " threads not bit-identical to 1");
      }
      onexn_threadpool_destroy(pool);
    }
    onexn_dwconv_destroy(dw);
  }
}

void TestBadArguments() {
  Case c;
  const Problem p = Build(c);
  std::string err;
  onexn_dwconv* dw = Create(p, ONEXN_ISA_AUTO, &err);
  Check(dw != nullptr, "baseline create: " + err);  // or the failures below prove nothing
  onexn_dwconv_destroy(dw);
  char buf[256];
  auto expect_fail = [&](const onexn_dwconv_shape* s, const float* w, onexn_isa isa, const std::string& what) {
    std::strcpy(buf, "");
    onexn_dwconv* bad = onexn_dwconv_create(s, w, p.bias.data(), isa, buf, sizeof(buf));
    Check(bad == nullptr && std::strlen(buf) > 0, "bad argument accepted: " + what);
    if (bad != nullptr) onexn_dwconv_destroy(bad);
  };
  for (int field = 0; field < 12; field++) {
    onexn_dwconv_shape s = p.shape;
    int* f[] = {&s.batch, &s.in_h,     &s.in_w,     &s.channels,   &s.out_h,      &s.out_w,
                &s.kh,    &s.kw,       &s.stride_h, &s.stride_w,   &s.dilation_h, &s.dilation_w};
    *f[field] = field % 2 == 0 ? 0 : -3;
    expect_fail(&s, p.w.data(), ONEXN_ISA_AUTO, "dimension field " + std::to_string(field));
  }
  onexn_dwconv_shape s = p.shape;
  s.pad_top = -1;
  expect_fail(&s, p.w.data(), ONEXN_ISA_AUTO, "negative pad_top");
  s = p.shape;
  s.pad_left = -2;
  expect_fail(&s, p.w.data(), ONEXN_ISA_AUTO, "negative pad_left");
  s = p.shape;
  s.out_min = 6.0f;
  s.out_max = 0.0f;
  expect_fail(&s, p.w.data(), ONEXN_ISA_AUTO, "out_min > out_max");
  s = p.shape;
  s.out_max = kNaN;
  expect_fail(&s, p.w.data(), ONEXN_ISA_AUTO, "NaN out_max");
  s = p.shape;
  s.in_h = s.in_w = 1 << 20;
  s.channels = s.batch = 1 << 20;  // 2^80 input floats
  expect_fail(&s, p.w.data(), ONEXN_ISA_AUTO, "overflowing input size");
  s = p.shape;
  s.out_h = s.out_w = 1 << 30;
  s.channels = 1 << 30;  // 2^90 output floats
  expect_fail(&s, p.w.data(), ONEXN_ISA_AUTO, "overflowing output size");
  expect_fail(&p.shape, nullptr, ONEXN_ISA_AUTO, "NULL weights");
  expect_fail(nullptr, p.w.data(), ONEXN_ISA_AUTO, "NULL shape");
  for (onexn_isa isa : {ONEXN_ISA_SCALAR, ONEXN_ISA_AVX2, ONEXN_ISA_AVX512, ONEXN_ISA_NEON}) {
    if (!onexn_isa_supported(isa)) expect_fail(&p.shape, p.w.data(), isa, "unsupported ISA");
  }
  expect_fail(&p.shape, p.w.data(), static_cast<onexn_isa>(7), "unknown ISA value");
  Check(onexn_dwconv_create(&p.shape, nullptr, nullptr, ONEXN_ISA_AUTO, nullptr, 0) == nullptr, "NULL err buffer");
  Check(std::string(onexn_dwconv_kernel_name(nullptr)).empty(), "kernel name of NULL");
  onexn_dwconv_destroy(nullptr);
}

// Weights and bias are copied at create: changing the caller's buffers afterwards changes nothing.
void TestCopiesWeights(const std::vector<onexn_isa>& isas) {
  Case c;
  c.channels = 17;
  c.seed = 808;
  const Problem p = Build(c);
  for (onexn_isa isa : isas) {
    Problem q = p;  // q's buffers are the ones passed to create
    std::string err;
    onexn_dwconv* dw = Create(q, isa, &err);
    Check(dw != nullptr, "copy test create: " + err);
    if (dw == nullptr) continue;
    std::vector<float> before, after;
    RunGuarded(dw, p, nullptr, &before);
    std::fill(q.w.begin(), q.w.end(), 100.0f);
    std::fill(q.bias.begin(), q.bias.end(), 100.0f);
    RunGuarded(dw, p, nullptr, &after);
    Check(before == after, std::string("weights not copied: ") + onexn_isa_name(isa));
    onexn_dwconv_destroy(dw);
  }
}

void TestKernelNames(const std::vector<onexn_isa>& isas) {
  for (onexn_isa isa : isas) {
    const Problem p = Build(Case());
    std::string err;
    onexn_dwconv* dw = Create(p, isa, &err);
    if (dw == nullptr) continue;
    const std::string name = onexn_dwconv_kernel_name(dw);
    const char* want = isa == ONEXN_ISA_AVX512 ? "f32-dwconv-minmax-16c-avx512f"
                       : isa == ONEXN_ISA_AVX2 ? "f32-dwconv-minmax-8c-avx2"
                       : isa == ONEXN_ISA_NEON ? "f32-dwconv-minmax-4c-neon"
                                               : "f32-dwconv-minmax-scalar";
    Check(name == want, std::string("dwconv kernel for ") + onexn_isa_name(isa) + " is " + name);
    onexn_dwconv_destroy(dw);
  }
  const onexn_dwconv_shape s = Build(Case()).shape;
  char err[64];
  onexn_dwconv* dw = onexn_dwconv_create(&s, Build(Case()).w.data(), nullptr, ONEXN_ISA_AUTO, err, sizeof(err));
  const onexn_isa best = onexn_isa_resolve(ONEXN_ISA_AUTO);
  onexn_dwconv* dw_best = onexn_dwconv_create(&s, Build(Case()).w.data(), nullptr, best, err, sizeof(err));
  Check(dw != nullptr && dw_best != nullptr &&
            std::string(onexn_dwconv_kernel_name(dw)) == onexn_dwconv_kernel_name(dw_best),
        "ONEXN_ISA_AUTO picks the best ISA's kernel");
  onexn_dwconv_destroy(dw);
  onexn_dwconv_destroy(dw_best);
}

// ---- elementwise add ----

void TestAdd(const std::vector<onexn_isa>& isas) {
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> val(-8.0f, 8.0f);
  const size_t counts[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 1000, 4096 + 17, 65536 + 17, 300001};
  std::vector<onexn_isa> all(isas);
  all.push_back(ONEXN_ISA_AUTO);
  onexn_threadpool* pool3 = onexn_threadpool_create(3);
  for (onexn_isa isa : all) {
    for (size_t n : counts) {
      for (int clamp = 0; clamp < 2; clamp++) {
        const float lo = clamp ? 0.0f : -kInf, hi = clamp ? 6.0f : kInf;
        std::vector<float> a(n), b(n);
        for (float& x : a) x = val(rng);
        for (float& x : b) x = val(rng);
        a[n / 2] = kNaN;
        if (n > 2) b[n - 1] = kNaN;  // the last element is in the vector tail for most n
        std::vector<float> want(n);
        for (size_t i = 0; i < n; i++) {
          const float s = a[i] + b[i];
          want[i] = std::isnan(s) ? s : std::min(std::max(s, lo), hi);
        }
        auto same = [&](const std::vector<float>& got) {
          for (size_t i = 0; i < n; i++) {
            if (std::isnan(want[i]) != std::isnan(got[i])) return false;
            if (!std::isnan(want[i]) && want[i] != got[i]) return false;
          }
          return true;
        };
        const std::string what = std::string("add ") + onexn_isa_name(isa) + " n=" + std::to_string(n) +
                                 (clamp ? " relu6" : "") + " [" + onexn_add_kernel_name(isa) + "]";
        // Guarded separate output.
        std::vector<float> buf(n + 2 * kGuard, kSentinel);
        onexn_add_run(isa, a.data(), b.data(), buf.data() + kGuard, n, lo, hi, nullptr);
        bool guards = true;
        for (size_t i = 0; i < kGuard; i++) guards &= buf[i] == kSentinel && buf[kGuard + n + i] == kSentinel;
        const std::vector<float> got(buf.begin() + kGuard, buf.begin() + kGuard + n);
        Check(same(got) && guards, what);
        // In place into a, then into b, with a pool.
        std::vector<float> ia(a), ib(b);
        onexn_add_run(isa, ia.data(), b.data(), ia.data(), n, lo, hi, pool3);
        Check(same(ia), what + " out aliases a (3 threads)");
        onexn_add_run(isa, a.data(), ib.data(), ib.data(), n, lo, hi, nullptr);
        Check(same(ib), what + " out aliases b");
        onexn_add_run(isa, a.data(), a.data(), ia.data(), n, lo, hi, pool3);
        bool doubled = true;
        for (size_t i = 0; i < n; i++) {
          const float s = a[i] + a[i];
          const float w = std::isnan(s) ? s : std::min(std::max(s, lo), hi);
          doubled &= std::isnan(w) ? std::isnan(ia[i]) : ia[i] == w;
        }
        Check(doubled, what + " a == b");
      }
    }
  }
  onexn_threadpool_destroy(pool3);
  // Names: the best ISA's own kernel; unsupported ISAs fall back to scalar.
  Check(std::string(onexn_add_kernel_name(ONEXN_ISA_SCALAR)) == "f32-vadd-minmax-scalar", "scalar add name");
  Check(std::string(onexn_add_kernel_name(ONEXN_ISA_AUTO)) ==
            onexn_add_kernel_name(onexn_isa_resolve(ONEXN_ISA_AUTO)),
        "auto add kernel");
  for (onexn_isa isa : {ONEXN_ISA_AVX2, ONEXN_ISA_AVX512, ONEXN_ISA_NEON}) {
    const std::string name = onexn_add_kernel_name(isa);
    if (onexn_isa_supported(isa)) {
      Check(name != "f32-vadd-minmax-scalar", "SIMD add kernel for " + std::string(onexn_isa_name(isa)));
    } else {
      Check(name == "f32-vadd-minmax-scalar", "unsupported ISA add falls back to scalar: " + name);
    }
  }
  Check(std::string(onexn_add_kernel_name(static_cast<onexn_isa>(9))) == "f32-vadd-minmax-scalar",
        "unknown ISA add falls back to scalar");
  float one = 1.0f;
  onexn_add_run(ONEXN_ISA_AUTO, &one, &one, &one, 0, -kInf, kInf, nullptr);  // count 0: no-op
  Check(one == 1.0f, "add of 0 elements writes nothing");
}

std::vector<Case> FixedCases() {
  std::vector<Case> cases;
  unsigned seed = 100;
  // Every kernel size 1..5 x stride x dilation x padding mode, channel tail 17.
  for (int k = 1; k <= 5; k++)
    for (int stride : {1, 2})
      for (int dilation : {1, 2})
        for (Pad pad : {Pad::kSame, Pad::kValid}) {
          Case c;
          c.in_h = 11;
          c.in_w = 10;
          c.channels = 17;
          c.kh = c.kw = k;
          c.stride_h = c.stride_w = stride;
          c.dilation_h = c.dilation_w = dilation;
          c.pad = pad;
          c.seed = seed++;
          cases.push_back(c);
        }
  // Channel tails on MobileNet-like 3x3 layers, with and without relu6 / bias. Complete windows per row:
  // 13 wide, 11 at stride 1 (runs of 8 + 1 + 1 + 1) and 5 at stride 2 (4 + 1); 16 wide, 14 at stride 1 (a
  // run of 8, then one overlapping it) and 7 at stride 2 (4 + 1 + 1 + 1). Rows of 40 and 59 are cut into
  // chunks of 16 pixels, the last one taking what is left under 24 (38 = 16 + 22, 57 = 16 + 16 + 16 + 9).
  for (int ch : {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100}) {
    for (int stride : {1, 2}) {
      for (int width : {13, 16, 40, 59}) {
        Case c;
        c.in_h = 9;
        c.in_w = width;
        c.channels = ch;
        c.stride_h = c.stride_w = stride;
        c.relu6 = stride == 1;
        c.null_bias = ch % 2 == 1;
        c.seed = seed++;
        cases.push_back(c);
      }
    }
  }
  // Non-square kernels, strides, dilations.
  Case r;
  r.in_h = 8;
  r.in_w = 12;
  r.channels = 20;
  r.kh = 1;
  r.kw = 5;
  r.stride_h = 2;
  r.seed = seed++;
  cases.push_back(r);
  r.kh = 4;
  r.kw = 2;
  r.stride_h = 1;
  r.stride_w = 3;
  r.dilation_h = 2;
  r.seed = seed++;
  cases.push_back(r);
  r.kh = 3;
  r.kw = 5;
  r.dilation_h = 1;
  r.dilation_w = 2;
  r.pad = Pad::kValid;
  r.seed = seed++;
  cases.push_back(r);
  // Explicit asymmetric padding, including padding larger than the kernel (rows/columns with no taps).
  const int pads[][4] = {{1, 0, 0, 1}, {0, 2, 1, 0}, {2, 1, 2, 3}, {4, 0, 0, 5}, {0, 0, 3, 3}};
  for (const auto& pd : pads) {
    for (int stride : {1, 2}) {
      Case c;
      c.in_h = 6;
      c.in_w = 9;
      c.channels = 19;
      c.stride_h = c.stride_w = stride;
      c.pad = Pad::kExplicit;
      c.pad_top = pd[0];
      c.pad_left = pd[1];
      c.pad_bottom = pd[2];
      c.pad_right = pd[3];
      c.relu6 = pd[0] == 2;
      c.seed = seed++;
      cases.push_back(c);
    }
  }
  // Tiny images: every pixel is an edge pixel (windows cut on both sides), 1x1 images, 1-wide rows.
  for (int hw : {1, 2, 3}) {
    for (int k : {3, 5}) {
      Case c;
      c.in_h = hw;
      c.in_w = hw;
      c.kh = c.kw = k;
      c.channels = 33;
      c.seed = seed++;
      cases.push_back(c);
    }
  }
  {
    Case c;
    c.in_h = 20;
    c.in_w = 1;
    c.channels = 24;
    c.dilation_h = 2;
    c.seed = seed++;
    cases.push_back(c);
  }
  // Batches.
  for (int batch : {2, 3}) {
    Case c;
    c.batch = batch;
    c.in_h = 6;
    c.in_w = 7;
    c.channels = 35;
    c.stride_h = c.stride_w = batch - 1;
    c.seed = seed++;
    cases.push_back(c);
  }
  // NaN input: reaches exactly the outputs whose window covers it, through bias and relu6.
  for (int ch : {1, 16, 17, 33}) {
    for (bool relu6 : {false, true}) {
      Case c;
      c.in_h = 6;
      c.in_w = 11;
      c.channels = ch;
      c.relu6 = relu6;
      c.nan_input = true;
      c.nan_reaches = true;
      c.seed = seed++;
      cases.push_back(c);
    }
  }
  // MobileNetV2-sized layer with a long row (runs of 8 pixels) and 2 channel tiles.
  {
    Case c;
    c.in_h = 28;
    c.in_w = 28;
    c.channels = 32;
    c.relu6 = true;
    c.seed = seed++;
    cases.push_back(c);
    c.stride_h = c.stride_w = 2;
    c.channels = 48;
    c.seed = seed++;
    cases.push_back(c);
  }
  return cases;
}

std::vector<Case> RandomCases(int count) {
  std::vector<Case> cases;
  std::mt19937 rng(54321);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int channels[] = {1, 3, 15, 16, 17, 33, 100};
  for (int i = 0; i < count; i++) {
    Case c;
    c.batch = pick(1, 2);
    c.in_h = pick(1, 12);
    c.in_w = pick(1, 14);
    c.channels = channels[pick(0, 6)];
    c.kh = pick(1, 5);
    c.kw = pick(1, 5);
    c.stride_h = pick(1, 2);
    c.stride_w = pick(1, 2);
    c.dilation_h = pick(0, 3) == 0 ? 2 : 1;
    c.dilation_w = pick(0, 3) == 0 ? 2 : 1;
    const int mode = pick(0, 2);
    c.pad = mode == 0 ? Pad::kSame : mode == 1 ? Pad::kValid : Pad::kExplicit;
    c.pad_top = pick(0, 3);
    c.pad_left = pick(0, 3);
    c.pad_bottom = pick(0, 3);
    c.pad_right = pick(0, 3);
    c.relu6 = pick(0, 1);
    c.null_bias = pick(0, 3) == 0;
    c.nan_input = pick(0, 7) == 0;
    c.seed = 5000 + i;
    cases.push_back(c);
  }
  return cases;
}

// The cases of TestThreads: many rows (tasks are runs of rows), then few rows and many channels (tasks
// split the channels too).
void TestThreadCases(const std::vector<Kernel>& kernels) {
  Case c;
  c.batch = 2;
  c.in_h = 30;
  c.in_w = 17;
  c.channels = 33;
  c.seed = 7001;
  TestThreads(c, kernels);
  c.batch = 1;
  c.in_h = c.in_w = 8;
  c.channels = 500;
  c.stride_h = c.stride_w = 2;
  c.relu6 = true;
  c.seed = 7002;
  TestThreads(c, kernels);
}

// One depthwise microkernel of the list, forced: every fixed case, a share of the random ones, and channel
// counts around its tile (a ragged last tile of every width).
void TestDwconvUkernel(onexn_isa isa, const char* name, int channel_tile) {
  if (!Runs(isa, name)) return;
  const onexn_dwconv_ukernel_config* uk = onexn_dwconv_ukernel(name);
  Check(uk != nullptr && uk->isa == isa, std::string(name) + ": in this build's kernel table");
  if (uk == nullptr) return;
  const std::vector<Kernel> kernel = {{name, isa, uk}};
  for (const Case& c : FixedCases()) TestCase(c, kernel);
  for (const Case& c : RandomCases(RandomCaseCount(200) / 4)) TestCase(c, kernel);
  for (int channels = 1; channels <= 2 * channel_tile + 1; channels++) {
    Case c;
    c.channels = channels;
    c.kh = c.kw = 3;
    c.in_h = 5;
    c.in_w = 19;  // runs of 8, 4 and 1 pixels
    c.seed = 7100 + channels;
    TestCase(c, kernel);
  }
  TestThreadCases(kernel);
}

// One add microkernel of the list, called directly: lengths around its batch tile, NaN, clamps, out
// aliasing an input.
void TestVaddUkernel(onexn_isa isa, const char* name, onexn_vadd_ukernel vadd, size_t batch_tile) {
  if (!Runs(isa, name)) return;
  std::mt19937 rng(98);
  std::uniform_real_distribution<float> val(-8.0f, 8.0f);
  for (size_t n = 1; n <= 3 * batch_tile + 17; n++) {
    const float lo = n % 2 ? 0.0f : -kInf, hi = n % 2 ? 6.0f : kInf;
    std::vector<float> a(n), b(n);
    for (float& x : a) x = val(rng);
    for (float& x : b) x = val(rng);
    a[n / 2] = kNaN;
    std::vector<float> want(n);
    for (size_t i = 0; i < n; i++) {
      const float s = a[i] + b[i];
      want[i] = std::isnan(s) ? s : std::min(std::max(s, lo), hi);
    }
    std::vector<float> buf(n + 2 * kGuard, kSentinel);
    vadd(n, a.data(), b.data(), buf.data() + kGuard, lo, hi);
    std::vector<float> in_place(a);
    vadd(n, in_place.data(), b.data(), in_place.data(), lo, hi);
    bool ok = true;
    for (size_t i = 0; i < kGuard; i++) ok &= buf[i] == kSentinel && buf[kGuard + n + i] == kSentinel;
    for (size_t i = 0; i < n; i++) {
      const float got = buf[kGuard + i];
      ok &= std::isnan(want[i]) ? std::isnan(got) && std::isnan(in_place[i])
                                : got == want[i] && in_place[i] == want[i];
    }
    Check(ok, std::string(name) + " n=" + std::to_string(n));
  }
}

}  // namespace

TEST_CASE("dwconv: fixed cases, the kernel of each ISA") {
  std::string tested;
  for (onexn_isa isa : AvailableIsas()) tested += std::string(" ") + onexn_isa_name(isa);
  MESSAGE(("dwconv/add ISAs tested:" + tested + " (auto = " +
           onexn_isa_name(onexn_isa_resolve(ONEXN_ISA_AUTO)) + ")"));
  for (const Case& c : FixedCases()) TestCase(c, Dispatched(AvailableIsas()));
}

TEST_CASE("dwconv: random cases, the kernel of each ISA") {
  for (const Case& c : RandomCases(RandomCaseCount(200))) TestCase(c, Dispatched(AvailableIsas()));
}

TEST_CASE("dwconv: results do not depend on the thread count") { TestThreadCases(Dispatched(AvailableIsas())); }

TEST_CASE("dwconv: weights are copied") { TestCopiesWeights(AvailableIsas()); }

TEST_CASE("dwconv: kernel names per ISA") { TestKernelNames(AvailableIsas()); }

TEST_CASE("dwconv: bad arguments are refused with a message") { TestBadArguments(); }

TEST_CASE("add: every ISA, lengths, clamps, aliasing, threads") { TestAdd(AvailableIsas()); }

// One test case per microkernel of the lists, named like it.
#define ONEXN_DWCONV_UKERNEL(isa, name, ukernel, channel_tile) \
  TEST_CASE(name) { TestDwconvUkernel(isa, name, channel_tile); }
#include "f32-dwconv/f32-dwconv.inc"
#undef ONEXN_DWCONV_UKERNEL
#define ONEXN_VADD_UKERNEL(isa, name, ukernel, batch_tile) \
  TEST_CASE(name) { TestVaddUkernel(isa, name, ukernel, batch_tile); }
#include "f32-vadd/f32-vadd.inc"
#undef ONEXN_VADD_UKERNEL

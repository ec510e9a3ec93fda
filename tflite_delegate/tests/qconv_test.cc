// Tests of the int8 1xN convolution (onexn_qconv) against a naive dense int8 convolution with XNNPACK's fp32
// requantization, bit for bit: the kernel each ISA available on this CPU dispatches to, and every microkernel
// of the kernel lists (qs8-qc8w-spconv.inc, x8-pixelvec-gather.inc) directly, one test case each, also
// against the scalar microkernel. Random shapes, block widths, sparsities, zero points and scales, saturating
// inputs and weights, int32 accumulators that wrap, thread-count determinism, argument validation.
//   bazel test //tflite_delegate:qconv_test [--test_filter='qs8-qc8w-spconv-16x16*']
#include <algorithm>
#include <cmath>
#include <cstdint>
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
using onexn_test::Check;
using onexn_test::Pad;
using onexn_test::RandomCaseCount;
using onexn_test::Runs;
using onexn_test::UnevenTilesCase;

using Kernel = onexn_test::Kernel<onexn_qs8_ukernel_config>;

constexpr auto Dispatched = &onexn_test::Dispatched<onexn_qs8_ukernel_config>;
constexpr float kInf = std::numeric_limits<float>::infinity();

enum class Act { kNone, kRelu, kRelu6 };

struct Case {
  int batch = 1, in_h = 5, in_w = 5, cin = 8, cout = 8;
  int kh = 1, kw = 1, stride = 1, dilation = 1;
  Pad pad = Pad::kSame;
  int n = 4;
  double sparsity = 0.5;       // probability a block is pruned
  Act act = Act::kNone;
  bool null_bias = false;
  bool extremes = false;       // inputs and weights mostly at -128 / 127: saturating outputs, large sums
  bool all_min = false;        // every input and kept weight -128: sums past 2^31 in large layers
  int input_zero_point = 3, output_zero_point = -5;
  float input_scale = 0.02f, output_scale = 0.05f;
  float weight_scale_max = 0.01f;
  unsigned seed = 1;

  std::string Describe() const {
    char buf[320];
    std::snprintf(buf, sizeof(buf),
                  "b%d %dx%dx%d->%d k%dx%d s%d d%d %s n=%d sp=%.2f act=%d%s%s zp=%d/%d scale=%g/%g/%g seed=%u",
                  batch, in_h, in_w, cin, cout, kh, kw, stride, dilation, pad == Pad::kSame ? "same" : "valid", n,
                  sparsity, static_cast<int>(act), null_bias ? " no-bias" : "", extremes ? " extremes" : "",
                  input_zero_point, output_zero_point, input_scale, weight_scale_max, output_scale, seed);
    return buf;
  }
};

struct Problem {
  onexn_conv_shape shape{};
  int num_groups = 0;
  std::vector<uint32_t> group_ptr, kept_cin;
  std::vector<int8_t> weights, input;
  std::vector<int32_t> bias;
  std::vector<float> weight_scales;
  onexn_qconv_quant quant{};
  bool ok = false;

  int n = 1;

  onexn_block_index Index() const {
    return {n, num_groups, group_ptr.data(), kept_cin.empty() ? nullptr : kept_cin.data()};
  }
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
  if (!onexn_test::Axis(c.pad, c.in_h, c.kh, c.stride, c.dilation, 0, 0, &s.out_h, &s.pad_top) ||
      !onexn_test::Axis(c.pad, c.in_w, c.kw, c.stride, c.dilation, 0, 0, &s.out_w, &s.pad_left)) {
    return p;
  }
  s.out_min = c.act == Act::kNone ? -kInf : 0.0f;
  s.out_max = c.act == Act::kRelu6 ? 6.0f : kInf;

  std::mt19937 rng(c.seed);
  auto byte = [&](int lo, int hi) { return static_cast<int8_t>(std::uniform_int_distribution<int>(lo, hi)(rng)); };
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  p.n = c.n;
  p.num_groups = (c.cout + c.n - 1) / c.n;
  p.group_ptr.push_back(0);
  std::vector<std::vector<bool>> keep(p.num_groups, std::vector<bool>(c.cin, false));
  for (int g = 0; g < p.num_groups; g++) {
    for (int ci = 0; ci < c.cin; ci++) {
      keep[g][ci] = coin(rng) >= c.sparsity;
      if (keep[g][ci]) p.kept_cin.push_back(static_cast<uint32_t>(ci));
    }
    p.group_ptr.push_back(static_cast<uint32_t>(p.kept_cin.size()));
  }
  const size_t taps = static_cast<size_t>(c.kh) * c.kw;
  p.weights.assign(static_cast<size_t>(c.cout) * taps * c.cin, 0);
  for (int o = 0; o < c.cout; o++) {
    for (size_t t = 0; t < taps; t++) {
      for (int ci = 0; ci < c.cin; ci++) {
        if (!keep[o / c.n][ci]) continue;
        int8_t v = byte(-127, 127);
        if (c.extremes && coin(rng) < 0.7) v = coin(rng) < 0.5 ? -128 : 127;
        p.weights[(o * taps + t) * c.cin + ci] = c.all_min ? -128 : v;
      }
    }
  }
  if (!c.null_bias) {
    const int range = c.extremes ? (1 << 30) : (1 << 16);
    for (int o = 0; o < c.cout; o++) p.bias.push_back(std::uniform_int_distribution<int>(-range, range)(rng));
  }
  p.input.resize(static_cast<size_t>(c.batch) * c.in_h * c.in_w * c.cin);
  for (int8_t& x : p.input) {
    x = byte(-128, 127);
    if (c.extremes && coin(rng) < 0.7) x = coin(rng) < 0.5 ? -128 : 127;
    if (c.all_min) x = -128;
  }
  for (int o = 0; o < c.cout; o++) {
    p.weight_scales.push_back(static_cast<float>(c.weight_scale_max * (0.05 + 0.95 * coin(rng))));
  }
  p.quant = {c.input_scale, c.input_zero_point, c.output_scale, c.output_zero_point, p.weight_scales.data()};
  p.ok = true;
  return p;
}

// XNNPACK's arithmetic, written from its definition: int32 sums (modulo 2^32) of (x - input zero point) * w
// over the taps inside the image, the requantization scale (input_scale * weight_scale) / output_scale in
// float, one float multiply, clamp to the activation's int8 range, round half to even, add the zero point.
std::vector<int8_t> Reference(const Problem& p) {
  const onexn_conv_shape& s = p.shape;
  const onexn_qconv_quant& q = p.quant;
  auto bound = [&](float v) {
    return static_cast<int32_t>(std::lrintf(std::fmin(std::fmax(v / q.output_scale + q.output_zero_point, -128.0f),
                                                      127.0f)));
  };
  const int32_t qmin = bound(s.out_min), qmax = bound(s.out_max);
  std::vector<int8_t> out(static_cast<size_t>(s.batch) * s.out_h * s.out_w * s.cout);
  size_t i = 0;
  for (int b = 0; b < s.batch; b++)
    for (int oy = 0; oy < s.out_h; oy++)
      for (int ox = 0; ox < s.out_w; ox++)
        for (int o = 0; o < s.cout; o++) {
          uint32_t acc = p.bias.empty() ? 0u : static_cast<uint32_t>(p.bias[o]);
          for (int ky = 0; ky < s.kh; ky++)
            for (int kx = 0; kx < s.kw; kx++) {
              const int iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
              const int ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
              if (iy < 0 || iy >= s.in_h || ix < 0 || ix >= s.in_w) continue;
              for (int ci = 0; ci < s.cin; ci++) {
                const int32_t x = p.input[((static_cast<size_t>(b) * s.in_h + iy) * s.in_w + ix) * s.cin + ci];
                const int32_t w = p.weights[((static_cast<size_t>(o) * s.kh + ky) * s.kw + kx) * s.cin + ci];
                acc += static_cast<uint32_t>((x - q.input_zero_point) * w);
              }
            }
          const float product = q.input_scale * q.weight_scales[o];
          const float scale = product / q.output_scale;
          float f = static_cast<float>(static_cast<int32_t>(acc)) * scale;
          f = std::fmin(std::fmax(f, static_cast<float>(qmin - q.output_zero_point)),
                        static_cast<float>(qmax - q.output_zero_point));
          out[i++] = static_cast<int8_t>(std::lrintf(f) + q.output_zero_point);
        }
  return out;
}

onexn_qconv* Create(const Kernel& k, const Problem& p, char* err, size_t err_len) {
  const onexn_block_index index = p.Index();
  const int32_t* bias = p.bias.empty() ? nullptr : p.bias.data();
  return k.uk == nullptr
             ? onexn_qconv_create(&p.shape, &index, p.weights.data(), bias, &p.quant, k.isa, err, err_len)
             : onexn_qconv_create_with_ukernel(&p.shape, &index, p.weights.data(), bias, &p.quant, k.uk, err,
                                               err_len);
}

constexpr size_t kGuard = 64;
constexpr int8_t kSentinel = 0x5A;

// Runs into a buffer with guard bytes on both sides; false if a guard was overwritten.
bool RunGuarded(onexn_qconv* conv, const Problem& p, onexn_threadpool* pool, std::vector<int8_t>* out) {
  const size_t total = static_cast<size_t>(p.shape.batch) * p.shape.out_h * p.shape.out_w * p.shape.cout;
  std::vector<int8_t> buf(total + 2 * kGuard, kSentinel);
  onexn_qconv_run(conv, p.input.data(), buf.data() + kGuard, pool);
  bool ok = true;
  for (size_t i = 0; i < kGuard; i++) ok &= buf[i] == kSentinel && buf[kGuard + total + i] == kSentinel;
  out->assign(buf.begin() + kGuard, buf.begin() + kGuard + total);
  return ok;
}

std::string FirstDifference(const std::vector<int8_t>& got, const std::vector<int8_t>& want) {
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); i++) {
    if (got[i] != want[i] && bad++ == 0) first = i;
  }
  if (bad == 0) return "";
  char buf[128];
  std::snprintf(buf, sizeof(buf), ": %zu/%zu differ, first at %zu got %d want %d", bad, got.size(), first,
                got[first], want[first]);
  return buf;
}

// The kernel's output equals the naive reference (and `also`, e.g. the scalar microkernel's, when given).
void TestCase(const Case& c, const std::vector<Kernel>& kernels, const Kernel* also = nullptr) {
  const Problem p = Build(c);
  if (!p.ok) return;
  const std::vector<int8_t> ref = Reference(p);
  std::vector<int8_t> other;
  if (also != nullptr) {
    onexn_qconv* conv = Create(*also, p, nullptr, 0);
    Check(conv != nullptr, also->label + ": create failed " + c.Describe());
    if (conv == nullptr) return;
    RunGuarded(conv, p, nullptr, &other);
    onexn_qconv_destroy(conv);
  }
  for (const Kernel& k : kernels) {
    const std::string what = k.label + " " + c.Describe();
    char err[256];
    onexn_qconv* conv = Create(k, p, err, sizeof(err));
    Check(conv != nullptr, what + ": create failed: " + err);
    if (conv == nullptr) continue;
    if (k.uk != nullptr) Check(onexn_qconv_kernel_name(conv) == k.label, what + ": runs " + onexn_qconv_kernel_name(conv));
    std::vector<int8_t> out;
    const bool guards = RunGuarded(conv, p, nullptr, &out);
    const std::string diff = FirstDifference(out, ref);
    Check(diff.empty(), what + " [" + onexn_qconv_kernel_name(conv) + "] vs reference" + diff);
    if (also != nullptr) {
      const std::string d = FirstDifference(out, other);
      Check(d.empty(), what + " vs " + also->label + d);
    }
    Check(guards, what + ": wrote outside the output tensor");
    std::vector<int8_t> again;
    RunGuarded(conv, p, nullptr, &again);
    Check(again == out, what + ": rerun differs");
    onexn_qconv_destroy(conv);
  }
}

void TestThreads(const Case& c, const std::vector<Kernel>& kernels) {
  const Problem p = Build(c);
  if (!p.ok) return;
  for (const Kernel& k : kernels) {
    const std::string what = "threads " + k.label + " " + c.Describe();
    onexn_qconv* conv = Create(k, p, nullptr, 0);
    Check(conv != nullptr, what + ": create failed");
    if (conv == nullptr) continue;
    std::vector<int8_t> single;
    RunGuarded(conv, p, nullptr, &single);
    for (int threads : {2, 3, 8}) {
      onexn_threadpool* pool = onexn_threadpool_create(threads);
      for (int rep = 0; rep < 2; rep++) {
        std::vector<int8_t> out;
        Check(RunGuarded(conv, p, pool, &out) && out == single,
              what + ": " + std::to_string(threads) + " threads not bit-identical to 1");
      }
      onexn_threadpool_destroy(pool);
    }
    onexn_qconv_destroy(conv);
  }
}

std::vector<Case> FixedCases() {
  std::vector<Case> cases;
  unsigned seed = 100;
  // 1x1, every block width, sparsities 0 / 50 / 90 %; 7x5 = 35 pixels: two full tiles and a ragged one.
  for (int n : {1, 2, 3, 4, 5, 8, 12, 16, 24, 32}) {
    for (double sp : {0.0, 0.5, 0.9}) {
      Case c;
      c.in_h = 7;
      c.in_w = 5;
      c.cin = 37;  // two 16-channel gather blocks and a tail
      c.cout = 2 * n + 3;
      c.n = n;
      c.sparsity = sp;
      c.seed = seed++;
      cases.push_back(c);
    }
  }
  // KxK with strides, dilation and padding, activations, zero points at the ends of int8.
  struct K { int kh, kw, stride, dilation; Pad pad; };
  const K ks[] = {{3, 3, 1, 1, Pad::kSame}, {3, 3, 2, 1, Pad::kSame}, {3, 3, 1, 1, Pad::kValid},
                  {3, 3, 1, 2, Pad::kSame}, {5, 5, 2, 1, Pad::kSame}, {1, 3, 1, 1, Pad::kSame}};
  for (const K& k : ks) {
    for (int n : {1, 4, 8, 16}) {
      Case c;
      c.in_h = 9;
      c.in_w = 11;
      c.cin = 19;
      c.cout = 2 * n + 1;
      c.kh = k.kh;
      c.kw = k.kw;
      c.stride = k.stride;
      c.dilation = k.dilation;
      c.pad = k.pad;
      c.n = n;
      c.act = static_cast<Act>(seed % 3);
      c.input_zero_point = seed % 2 ? -128 : 127;
      c.output_zero_point = seed % 2 ? 127 : -128;
      c.seed = seed++;
      cases.push_back(c);
    }
  }
  // 16-channel groups of one panel interleave their kept channels 32 at a time, just before their
  // multiply-adds (the 16x16 VNNI kernel): 150 inputs, 7x7 pixels (tiles of 16, 16, 16 and 1), 1x1 and a
  // strided 3x3 (several taps), kept lists of several chunks and a ragged last one.
  for (int k : {1, 3}) {
    for (double sp : {0.0, 0.5, 0.8}) {
      Case c;
      c.in_h = c.in_w = k == 1 ? 7 : 13;
      c.cin = 150;
      c.cout = 48;
      c.kh = c.kw = k;
      c.stride = k == 1 ? 1 : 2;
      c.pad = Pad::kSame;
      c.n = 16;
      c.sparsity = sp;
      c.seed = seed++;
      cases.push_back(c);
    }
  }
  // Stems of 1-4 input channels (the narrow gather, one 4-byte read a pixel, on the tiles where every row has
  // 4 readable bytes; the full gather on the rest), batch 2 so rows of the first image end at the second.
  for (int cin : {1, 2, 3, 4}) {
    for (int n : {4, 16}) {
      Case c;
      c.batch = 2;
      c.in_h = 23;
      c.in_w = 21;
      c.cin = cin;
      c.cout = 2 * n;
      c.kh = c.kw = 3;
      c.stride = 2;
      c.pad = Pad::kSame;
      c.n = n;
      c.act = Act::kRelu6;
      c.input_zero_point = seed % 2 ? -128 : 5;
      c.seed = seed++;
      cases.push_back(c);
    }
  }
  // Saturation: extreme inputs, weights and biases, small output scales: most outputs clamp.
  for (int n : {1, 4, 16}) {
    for (Act act : {Act::kNone, Act::kRelu, Act::kRelu6}) {
      Case c;
      c.cin = 48;
      c.cout = 3 * n;
      c.kh = c.kw = 3;
      c.n = n;
      c.extremes = true;
      c.act = act;
      c.output_scale = 0.002f;
      c.input_zero_point = -128;
      c.seed = seed++;
      cases.push_back(c);
      if (act != Act::kNone || n == 1) continue;
      // Products past 2^31: a requantization scale up to 200 on int8's whole range. Converting such products
      // overflows, so the kernels must clamp first although the bounds are int8's own.
      c.input_scale = 1.0f;
      c.weight_scale_max = 1.0f;
      c.output_scale = 0.005f;
      c.input_zero_point = 3;
      c.seed = 5000 + n;
      cases.push_back(c);
    }
  }
  // Empty layer (everything pruned), no bias, batch 3, a single pixel, fully connected rows.
  for (int n : {1, 8, 16}) {
    Case c;
    c.n = n;
    c.cout = 2 * n;
    c.sparsity = 1.0;
    c.null_bias = true;
    c.batch = 3;
    c.seed = seed++;
    cases.push_back(c);
    Case d = c;
    d.sparsity = 0.3;
    d.in_h = d.in_w = 1;
    d.cin = 200;
    d.seed = seed++;
    cases.push_back(d);
    Case e = d;
    e.in_w = 37;
    e.act = Act::kRelu;
    e.seed = seed++;
    cases.push_back(e);
  }
  // Kept channels spread over 9 and 17 input chunks of 64: the VBMI twin compacts them in rounds of 8 chunks,
  // the last round holding a single chunk (MobileNetV2's 576->96 and wider layers at high sparsity).
  for (int cin : {576, 1088}) {
    for (double sparsity : {0.9, 0.99}) {
      Case c;
      c.n = 16;
      c.cout = 32;
      c.cin = cin;
      c.in_h = 4;
      c.in_w = 5;
      c.sparsity = sparsity;
      c.seed = seed++;
      cases.push_back(c);
    }
  }
  // Stems of at most 4 input channels run rows (qconv.c, plan_rows): a 7x7/2 over rows of 23 and 21 pixels
  // (SAME, uneven padding), a 5x5 VALID one at stride 1, a 7x7/2 of one channel, two images.
  struct R { int k, stride, cin, in_w; Pad pad; };
  const R rs[] = {{7, 2, 3, 23, Pad::kSame}, {5, 1, 4, 21, Pad::kValid}, {7, 2, 1, 37, Pad::kSame}};
  for (const R& k : rs) {
    Case c;
    c.batch = 2;
    c.in_h = 13;
    c.in_w = k.in_w;
    c.cin = k.cin;
    c.cout = 40;
    c.kh = c.kw = k.k;
    c.stride = k.stride;
    c.pad = k.pad;
    c.n = 16;
    c.sparsity = 0.0;
    c.act = Act::kRelu;
    c.input_zero_point = -128;
    c.seed = seed++;
    cases.push_back(c);
  }
  // Stride-1 KxK layers run from strips (qconv.c, plan_strip): rows of 37 and 33 output pixels (tiles of 16,
  // 16 and a short one), even and one-sided kernels whose SAME padding is uneven, two images.
  struct S { int kh, kw, in_w; Pad pad; int batch; };
  const S ss[] = {{3, 3, 37, Pad::kSame, 2}, {5, 5, 37, Pad::kValid, 1}, {2, 2, 33, Pad::kSame, 1},
                  {3, 1, 33, Pad::kSame, 1}, {1, 3, 33, Pad::kValid, 2}};
  for (const S& k : ss) {
    Case c;
    c.batch = k.batch;
    c.in_h = 6;
    c.in_w = k.in_w;
    c.cin = 24;
    c.cout = 20;
    c.kh = k.kh;
    c.kw = k.kw;
    c.pad = k.pad;
    c.n = 16;
    c.act = Act::kRelu;
    c.input_zero_point = -100;
    c.seed = seed++;
    cases.push_back(c);
  }
  return cases;
}

std::vector<Case> RandomCases(int count) {
  std::vector<Case> cases;
  std::mt19937 rng(12345);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto uniform = [&](double lo, double hi) { return static_cast<float>(std::uniform_real_distribution<double>(lo, hi)(rng)); };
  const int ns[] = {1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 64};
  const int kdims[] = {1, 1, 2, 3, 5};
  for (int i = 0; i < count; i++) {
    Case c;
    c.batch = pick(1, 2);
    c.in_h = pick(1, 9);
    c.in_w = pick(1, 12);
    c.cin = pick(1, 150);
    c.n = ns[pick(0, 11)];
    c.cout = pick(1, 2 * c.n + 5);
    c.kh = kdims[pick(0, 4)];
    c.kw = kdims[pick(0, 4)];
    c.stride = pick(1, 2);
    c.dilation = pick(1, 3) == 3 ? 2 : 1;
    c.pad = pick(0, 1) ? Pad::kSame : Pad::kValid;
    c.sparsity = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    c.act = static_cast<Act>(pick(0, 2));
    c.null_bias = pick(0, 3) == 0;
    c.extremes = pick(0, 3) == 0;
    c.input_zero_point = pick(-128, 127);
    c.output_zero_point = pick(-128, 127);
    c.input_scale = uniform(0.001, 0.1);
    c.output_scale = uniform(0.001, 0.5);
    c.weight_scale_max = uniform(0.0005, 0.02);
    c.seed = 2000 + i;
    cases.push_back(c);
  }
  return cases;
}

// Sums past 2^31 (70000 products of (-128 - 127) * -128): every kernel wraps like the reference (and
// XNNPACK's int32 arithmetic).
Case WrappingCase(int n) {
  Case c;
  c.in_h = 2;
  c.in_w = 9;  // 18 pixels: a full tile and two more
  c.cin = 70000;
  c.cout = n;
  c.n = n;
  c.sparsity = 0.0;
  c.all_min = true;
  c.null_bias = true;
  c.input_zero_point = 127;
  c.output_scale = 1.0f;
  c.seed = 77;
  return c;
}

// input_scale * weight_scale / output_scale rounds differently with the other association; find an
// accumulator whose output the two scales round apart, and check every kernel gives XNNPACK's.
void TestScaleOrder(const std::vector<Kernel>& kernels) {
  const float sx = 0.0001f, so = 3.7f;  // scales near 127 / 2^24: the largest exact float accumulators
  float sw = 0.3f, xnnpack = 0.0f, other = 0.0f;
  for (int i = 0; i < 1000 && xnnpack == other; i++) {
    sw = 0.3f + 0.001f * static_cast<float>(i);
    xnnpack = (sx * sw) / so;
    other = sx * (sw / so);
  }
  Check(xnnpack != other, "the two associations round apart");
  int32_t acc = 0;  // large (the scales' difference grows with it), with an output inside int8
  for (int32_t a = (1 << 24) - 1; a > 0 && acc == 0; a--) {
    const float f = static_cast<float>(a) * xnnpack;
    if (f < 127.0f && std::lrintf(f) != std::lrintf(static_cast<float>(a) * other)) acc = a;
  }
  Check(acc != 0, "an accumulator the two scales round apart");
  // One pixel, one input channel at the zero point: the output is requantize(bias) alone.
  Problem p;
  p.shape = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, -kInf, kInf};
  p.num_groups = 1;
  p.n = 1;
  p.group_ptr = {0, 1};
  p.kept_cin = {0};
  p.weights = {1};
  p.input = {5};
  p.bias = {acc};
  p.weight_scales = {sw};
  p.quant = {sx, 5, so, 0, p.weight_scales.data()};
  p.ok = true;
  const std::vector<int8_t> ref = Reference(p);
  Check(ref[0] == static_cast<int8_t>(std::lrintf(std::fmin(static_cast<float>(acc) * xnnpack, 127.0f))) &&
            ref[0] != static_cast<int8_t>(std::lrintf(std::fmin(static_cast<float>(acc) * other, 127.0f))),
        "the reference takes XNNPACK's association");
  for (const Kernel& k : kernels) {
    onexn_qconv* conv = Create(k, p, nullptr, 0);
    Check(conv != nullptr, k.label + ": scale order create");
    if (conv == nullptr) continue;
    std::vector<int8_t> out;
    RunGuarded(conv, p, nullptr, &out);
    Check(out == ref, k.label + ": requantization scale computed as (input_scale * weight_scale) / output_scale");
    onexn_qconv_destroy(conv);
  }
}

void TestBadArguments() {
  Case c;
  c.cout = 10;
  const Problem good = Build(c);
  const onexn_block_index index = good.Index();
  char err[256];
  auto expect_fail = [&](const onexn_conv_shape& s, const onexn_qconv_quant* q, const int8_t* w, onexn_isa isa,
                         const std::string& what) {
    std::strcpy(err, "");
    onexn_qconv* conv = onexn_qconv_create(&s, &index, w, good.bias.data(), q, isa, err, sizeof(err));
    Check(conv == nullptr && std::strlen(err) > 0, "bad argument accepted: " + what);
    onexn_qconv_destroy(conv);
  };
  onexn_qconv* conv = onexn_qconv_create(&good.shape, &index, good.weights.data(), good.bias.data(), &good.quant,
                                         ONEXN_ISA_AUTO, err, sizeof(err));
  Check(conv != nullptr, std::string("baseline create: ") + err);
  onexn_qconv_destroy(conv);
  const float denormal = std::numeric_limits<float>::denorm_min();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (float bad : {0.0f, -0.5f, nan, kInf, denormal}) {
    onexn_qconv_quant q = good.quant;
    q.input_scale = bad;
    expect_fail(good.shape, &q, good.weights.data(), ONEXN_ISA_AUTO, "input scale " + std::to_string(bad));
    q = good.quant;
    q.output_scale = bad;
    expect_fail(good.shape, &q, good.weights.data(), ONEXN_ISA_AUTO, "output scale " + std::to_string(bad));
    std::vector<float> scales = good.weight_scales;
    scales[7] = bad;
    q = good.quant;
    q.weight_scales = scales.data();
    expect_fail(good.shape, &q, good.weights.data(), ONEXN_ISA_AUTO, "weight scale " + std::to_string(bad));
  }
  for (int zp : {-129, 128}) {
    onexn_qconv_quant q = good.quant;
    q.input_zero_point = zp;
    expect_fail(good.shape, &q, good.weights.data(), ONEXN_ISA_AUTO, "input zero point " + std::to_string(zp));
    q = good.quant;
    q.output_zero_point = zp;
    expect_fail(good.shape, &q, good.weights.data(), ONEXN_ISA_AUTO, "output zero point " + std::to_string(zp));
  }
  onexn_qconv_quant q = good.quant;
  q.output_scale = good.quant.input_scale * good.weight_scales[0] / 300.0f;  // requantization scale ~300
  expect_fail(good.shape, &q, good.weights.data(), ONEXN_ISA_AUTO, "requantization scale >= 256");
  q = good.quant;
  q.weight_scales = nullptr;
  expect_fail(good.shape, &q, good.weights.data(), ONEXN_ISA_AUTO, "NULL weight scales");
  expect_fail(good.shape, nullptr, good.weights.data(), ONEXN_ISA_AUTO, "NULL quantization");
  expect_fail(good.shape, &good.quant, nullptr, ONEXN_ISA_AUTO, "NULL weights");
  onexn_conv_shape s = good.shape;
  s.out_min = 1.0f;
  s.out_max = 0.0f;
  expect_fail(s, &good.quant, good.weights.data(), ONEXN_ISA_AUTO, "empty activation range");
  s = good.shape;
  s.kh = 0;
  expect_fail(s, &good.quant, good.weights.data(), ONEXN_ISA_AUTO, "kh = 0");
  for (onexn_isa isa : {ONEXN_ISA_AVX2, ONEXN_ISA_AVX512, ONEXN_ISA_NEON, ONEXN_ISA_AVX512VNNI, ONEXN_ISA_NEONDOT}) {
    if (!onexn_isa_supported(isa)) {
      expect_fail(good.shape, &good.quant, good.weights.data(), isa, std::string("unsupported ") + onexn_isa_name(isa));
    }
  }
}

// xt[t][c][m] must be pixel m's input row at tap t, channel c, xor flip (the zero row for padding taps and
// pixels past mr); a narrow gather (max_cin) gets layers of at most max_cin channels and rows with 4
// readable bytes, and must not store past the tile.
void TestGather(onexn_isa isa, const char* name, onexn_x8_gather gather, int blocked, int max_cin) {
  if (!Runs(isa, name)) return;
  std::mt19937 rng(9000);
  bool ok = true;
  for (int iter = 0; iter < 300; iter++) {
    const size_t cin = 1 + rng() % (max_cin != 0 ? max_cin : 200);
    const size_t taps = 1 + rng() % 9, mr = 1 + rng() % ONEXN_XT_PIXELS, rows = 30;
    const uint8_t flip = iter % 2 ? 0x80 : 0x00;
    std::vector<int8_t> input(rows * cin + 4), zero(cin + 4, static_cast<int8_t>(rng() % 256));
    for (int8_t& x : input) x = static_cast<int8_t>(rng() % 256);
    std::vector<ptrdiff_t> ind(ONEXN_XT_PIXELS * taps);
    for (ptrdiff_t& o : ind) o = rng() % 5 == 0 ? -1 : static_cast<ptrdiff_t>((rng() % rows) * cin);
    std::vector<uint8_t> storage(taps * cin * ONEXN_XT_PIXELS + 64, 0xEE);
    uint8_t* xt = storage.data() + (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64) % 64;
    gather(xt, input.data(), zero.data(), ind.data(), taps, cin, mr, flip);
    for (size_t t = 0; t < taps; t++) {
      for (size_t m = 0; m < ONEXN_XT_PIXELS; m++) {
        const ptrdiff_t o = m < mr ? ind[m * taps + t] : -1;
        for (size_t c = 0; c < cin; c++) {
          const int8_t want = o < 0 ? zero[c] : input[o + c];
          const size_t row = onexn_x8_gather_row(c, cin, blocked);
          ok &= xt[(t * cin + row) * ONEXN_XT_PIXELS + m] == (static_cast<uint8_t>(want) ^ flip);
        }
      }
    }
    uint8_t* end = xt + taps * cin * ONEXN_XT_PIXELS;
    ok &= std::all_of(end, storage.data() + storage.size(), [](uint8_t b) { return b == 0xEE; });
  }
  Check(ok, std::string(name) + ": gathered tile");
}

const Kernel* Scalar() {
  static const Kernel k = {"qs8-qc8w-spconv-16x8-scalar", ONEXN_ISA_SCALAR,
                           onexn_qconv_ukernel("qs8-qc8w-spconv-16x8-scalar")};
  return &k;
}

// One microkernel of the list, forced on every fixed case and a share of the random ones, against the
// reference and the scalar microkernel.
void TestUkernelConfig(const onexn_qs8_ukernel_config* uk) {
  const std::vector<Kernel> kernel = {{uk->name, uk->isa, uk}};
  for (const Case& c : FixedCases()) TestCase(c, kernel, Scalar());
  for (const Case& c : RandomCases(RandomCaseCount(150) / 3)) TestCase(c, kernel, Scalar());
  for (int n : {1, 16}) TestCase(WrappingCase(n), kernel, Scalar());
  TestScaleOrder(kernel);
  Case t;
  t.in_h = 13;
  t.in_w = 11;
  t.cin = 24;
  t.cout = 40;
  t.batch = 2;
  t.n = 8;
  TestThreads(t, kernel);
}

void TestUkernel(onexn_isa isa, const char* name) {
  if (!Runs(isa, name)) return;
  const onexn_qs8_ukernel_config* uk = onexn_qconv_ukernel(name);
  Check(uk != nullptr && uk->isa == isa, std::string(name) + ": in this build's kernel table");
  if (uk != nullptr) TestUkernelConfig(uk);
}

// "onexn_qs8_qc8w_spconv_16x8_avx2" -> "qs8-qc8w-spconv-16x8-avx2".
std::string NameOf(std::string function) {
  function.erase(0, std::strlen("onexn_"));
  std::replace(function.begin(), function.end(), '_', '-');
  return function;
}

}  // namespace

TEST_CASE("qconv: fixed cases, the kernel each ISA dispatches to") {
  for (const Case& c : FixedCases()) TestCase(c, Dispatched(AvailableIsas()));
}

TEST_CASE("qconv: random cases, the kernel each ISA dispatches to") {
  for (const Case& c : RandomCases(RandomCaseCount(150))) TestCase(c, Dispatched(AvailableIsas()));
}

TEST_CASE("qconv: results do not depend on the thread count") {
  Case c;
  c.in_h = 13;
  c.in_w = 11;
  c.cin = 24;
  c.cout = 40;
  c.batch = 2;
  for (int n : {1, 4, 16}) {
    c.n = n;
    c.seed = 3000 + n;
    TestThreads(c, Dispatched(AvailableIsas()));
  }
  c.in_h = c.in_w = 3;  // few tiles: output channels split across threads
  c.batch = 1;
  c.kh = c.kw = 3;
  c.n = 4;
  TestThreads(c, Dispatched(AvailableIsas()));
  // Tiles the threads cannot share evenly: the panels split too.
  for (int n : {4, 16}) TestThreads(UnevenTilesCase<Case>(n, 3050 + n), Dispatched(AvailableIsas()));
}

// Stride-1 3x3 layers run from strips (plan_strip). At several threads they split into bands of output rows,
// each gathering only the rows it reads (20x17 SAME and 21x18 VALID: bands at 2, 3 and 8 threads, whose
// boundaries fall inside strip tiles), or into chunks of the panels where a band of rows would hold more of
// the work (7x7: 4 rows of 7 at 2 threads against 4 of 8 panels). Two images; each run twice, so that a
// thread's strips hold another band's rows from before.
TEST_CASE("qconv: strips split their rows or their channels across threads, bit for bit") {
  Case c;
  c.batch = 2;
  c.kh = c.kw = 3;
  c.cin = 32;
  c.n = 16;
  for (int shape = 0; shape < 3; shape++) {
    c.in_h = shape == 0 ? 20 : shape == 1 ? 21 : 7;
    c.in_w = shape == 0 ? 17 : shape == 1 ? 18 : 7;
    c.pad = shape == 1 ? Pad::kValid : Pad::kSame;
    c.cout = shape == 2 ? 128 : 64;
    c.seed = 3400 + shape;
    TestThreads(c, Dispatched(AvailableIsas()));
  }
}

// onexn_qconv_run_add against the convolution then onexn_qadd_run, the convolution's output as either operand,
// at 1-3 threads: pixel tasks, channel-chunk tasks, strips (bands of rows or chunks of channels) and rows
// (stems), each adding to its own outputs as it finishes them. Bit for bit; nothing outside the output.
void TestRunAdd(const Case& c, const std::string& label) {
  const Problem p = Build(c);
  if (!p.ok) return;
  const std::vector<int8_t> conv_out = Reference(p);
  std::mt19937 rng(uint32_t(c.seed) + 1);
  std::uniform_int_distribution<int> byte(-128, 127);
  std::vector<int8_t> addend(conv_out.size());
  for (int8_t& v : addend) v = int8_t(byte(rng));
  onexn_qadd_params params;
  char err[256];
  Check(onexn_qadd_init(&params, 0.04f, -7, 0.06f, 12, 0.05f, 2, -2.0f, 3.0f, err, sizeof(err)) == 0, err);
  for (const Kernel& k : Dispatched(AvailableIsas())) {
    onexn_qconv* conv = Create(k, p, err, sizeof(err));
    Check(conv != nullptr, label + " " + k.label + ": create failed: " + err);
    if (conv == nullptr) continue;
    for (int operand : {0, 1}) {
      std::vector<int8_t> want(conv_out.size());
      onexn_qadd_run(k.isa, &params, operand == 0 ? conv_out.data() : addend.data(),
                     operand == 0 ? addend.data() : conv_out.data(), want.data(), want.size(), nullptr);
      for (int threads : {1, 2, 3}) {
        onexn_threadpool* pool = threads > 1 ? onexn_threadpool_create(threads) : nullptr;
        std::vector<int8_t> buf(want.size() + 2 * kGuard, kSentinel);
        onexn_qconv_run_add(conv, p.input.data(), addend.data(), buf.data() + kGuard, &params, operand, k.isa, pool);
        bool guards = true;
        for (size_t i = 0; i < kGuard; i++) guards &= buf[i] == kSentinel && buf[kGuard + want.size() + i] == kSentinel;
        const std::vector<int8_t> got(buf.begin() + kGuard, buf.begin() + kGuard + long(want.size()));
        Check(guards && FirstDifference(got, want).empty(),
              label + " " + k.label + " [" + onexn_qconv_kernel_name(conv) + "], conv as operand " +
                  std::to_string(operand) + ", " + std::to_string(threads) + " threads" + FirstDifference(got, want));
        onexn_threadpool_destroy(pool);
      }
    }
    onexn_qconv_destroy(conv);
  }
}

TEST_CASE("qconv: run_add equals the convolution then the int8 ADD, bit for bit") {
  Case c;  // pixel tasks: 1x1 over 13x11, two images
  c.in_h = 13;
  c.in_w = 11;
  c.cin = 24;
  c.cout = 40;
  c.batch = 2;
  c.n = 16;
  c.seed = 3300;
  TestRunAdd(c, "1x1 13x11");
  c.in_h = c.in_w = 3;  // few tiles: channel chunks at several threads
  c.batch = 1;
  c.kh = c.kw = 3;
  c.pad = Pad::kSame;
  c.n = 4;
  c.seed = 3301;
  TestRunAdd(c, "3x3 over 3x3");
  c.in_h = 20;  // stride-1 3x3: strips where the ISA has them
  c.in_w = 17;
  c.cin = 32;
  c.cout = 32;
  c.n = 16;
  c.seed = 3302;
  TestRunAdd(c, "3x3 over 20x17");
  c.in_h = c.in_w = 7;  // strips in chunks of channels at 2 and 3 threads
  c.cout = 128;
  c.seed = 3304;
  TestRunAdd(c, "3x3 over 7x7");
  c.in_h = 29;  // a 7x7/2 stem: rows
  c.in_w = 40;
  c.cin = 3;
  c.kh = c.kw = 7;
  c.stride = 2;
  c.sparsity = 0.0;
  c.input_zero_point = -128;
  c.seed = 3303;
  TestRunAdd(c, "7x7/2 stem");
}

// Stems run rows (plan_rows), the output rows split across the threads, each copying the padded rows it
// reads: 7x7/2 SAME stems over 13x11 (7x6 outputs: fewer pixel tiles than rows) and 29x40 images, two of them,
// against the reference at 1, 2, 3 and 8 threads.
TEST_CASE("qconv: stems split their rows across threads, bit for bit") {
  for (int in_h : {13, 29}) {
    Case c;
    c.batch = 2;
    c.in_h = in_h;
    c.in_w = in_h == 13 ? 11 : 40;
    c.cin = 3;
    c.cout = 40;
    c.kh = c.kw = 7;
    c.stride = 2;
    c.pad = Pad::kSame;
    c.n = 16;
    c.sparsity = 0.0;
    c.input_zero_point = -128;
    c.seed = 3200 + in_h;
    const Problem p = Build(c);
    const std::vector<int8_t> ref = Reference(p);
    for (const Kernel& k : Dispatched(AvailableIsas())) {
      onexn_qconv* conv = Create(k, p, nullptr, 0);
      Check(conv != nullptr, k.label + ": create failed " + c.Describe());
      if (conv == nullptr) continue;
      for (int threads : {1, 2, 3, 8}) {
        onexn_threadpool* pool = threads > 1 ? onexn_threadpool_create(threads) : nullptr;
        std::vector<int8_t> out;
        const bool guards = RunGuarded(conv, p, pool, &out);
        Check(guards && FirstDifference(out, ref).empty(),
              k.label + " " + c.Describe() + ", " + std::to_string(threads) + " threads" + FirstDifference(out, ref));
        onexn_threadpool_destroy(pool);
      }
      onexn_qconv_destroy(conv);
    }
  }
}

TEST_CASE("qconv: the requantization scale is XNNPACK's float association") { TestScaleOrder(Dispatched(AvailableIsas())); }

TEST_CASE("qconv: bad arguments are refused with a message") { TestBadArguments(); }

TEST_CASE("qconv dispatch: every ISA has a listed kernel for every block width, with its extension") {
  for (onexn_isa isa : AvailableIsas()) {
    for (int n = 1; n <= 70; n++) {
      const onexn_qs8_ukernel_config* uk = nullptr;
      const bool found = onexn_qconv_select_ukernel(isa, n, &uk) == 0;
      Check(found && uk != nullptr && onexn_isa_supported(uk->isa),
            std::string("dispatch ") + onexn_isa_name(isa) + " n=" + std::to_string(n));
      if (!found || uk == nullptr) continue;
      if (isa == ONEXN_ISA_AVX512) {
        Check(uk->isa == (onexn_isa_supported(ONEXN_ISA_AVX512VNNI) ? ONEXN_ISA_AVX512VNNI : ONEXN_ISA_AVX2),
              std::string("AVX512 runs ") + uk->name);
      }
      if (isa == ONEXN_ISA_NEON) {
        Check(uk->isa == (onexn_isa_supported(ONEXN_ISA_NEONDOT) ? ONEXN_ISA_NEONDOT : ONEXN_ISA_NEON),
              std::string("NEON runs ") + uk->name);
      }
    }
  }
  MESSAGE((std::string("avx512vnni ") + (onexn_isa_supported(ONEXN_ISA_AVX512VNNI) ? "present" : "absent") +
           ", neondot " + (onexn_isa_supported(ONEXN_ISA_NEONDOT) ? "present" : "absent")));
}

TEST_CASE("qconv dispatch: VBMI's twin takes the 16-channel layers where the gather is not shared") {
  if (!onexn_isa_supported(ONEXN_ISA_AVX512VNNIVBMI)) {
    MESSAGE("avx512vnnivbmi absent: nothing to choose");
    return;
  }
  auto chosen = [](int cin, int cout, int k = 1, int stride = 1) {
    Case c;
    c.cin = cin;
    c.cout = cout;
    c.kh = c.kw = k;
    c.stride = stride;
    c.n = 16;
    const Problem p = Build(c);
    const onexn_block_index index = p.Index();
    const onexn_qs8_ukernel_config* uk = nullptr;
    Check(onexn_qconv_choose_ukernel(ONEXN_ISA_AVX512, &p.shape, &index, &uk) == 0 && uk != nullptr, "choose");
    return std::string(uk != nullptr ? uk->name : "");
  };
  Check(chosen(32, 16) == "qs8-qc8w-spconv-16x16-avx512vnnivbmi", "one group: " + chosen(32, 16));
  Check(chosen(16, 96) == "qs8-qc8w-spconv-16x16-avx512vnni", "six groups of 16 channels: " + chosen(16, 96));
  // A stride-1 3x3 layer runs from strips with the VNNI kernel; at stride 2 the twin still takes one group.
  Check(chosen(32, 16, 3) == "qs8-qc8w-spconv-16x16-avx512vnni", "3x3 from strips: " + chosen(32, 16, 3));
  Check(chosen(32, 16, 3, 2) == "qs8-qc8w-spconv-16x16-avx512vnnivbmi", "3x3/2, one group: " + chosen(32, 16, 3, 2));
}

#if ONEXN_ARCH_X86_64
TEST_CASE("qconv dispatch: AMX takes the 16-channel blocks; narrower blocks and the stems keep VNNI's kernels") {
  auto selected = [](int n) {
    const onexn_qs8_ukernel_config* uk = nullptr;
    return std::string(onexn_qconv_select_ukernel(ONEXN_ISA_AVX512AMX, n, &uk) == 0 && uk != nullptr ? uk->name : "");
  };
  for (int n : {9, 16, 32}) Check(selected(n) == "qs8-qc8w-spconv-16x16-avx512amx", "n=" + std::to_string(n));
  Check(selected(8) == "qs8-qc8w-spconv-16x8-avx512vnni", "n=8: " + selected(8));
  Check(selected(4) == "qs8-qc8w-spconv-16x4-avx512vnni", "n=4: " + selected(4));
  Case stem;
  stem.cin = 3;
  stem.cout = 32;
  stem.kh = stem.kw = 3;
  stem.stride = 2;
  stem.n = 16;
  const Problem p = Build(stem);
  const onexn_block_index index = p.Index();
  const onexn_qs8_ukernel_config* uk = nullptr;
  Check(onexn_qconv_choose_ukernel(ONEXN_ISA_AVX512AMX, &p.shape, &index, &uk) == 0 && uk != nullptr &&
            std::string(uk->name) == "qs8-qc8w-spconv-16x16-avx512vnni",
        "a stem runs rows");
}
#endif

TEST_CASE("qconv kernel lists: names are the function names") {
#define ONEXN_QS8_SPCONV_UKERNEL(isa, name, ukernel, nr, kr, w_int16, input_offset, x_bytes, gather, strip) \
  Check(NameOf(#ukernel) == name, #ukernel);
#include "qs8-qc8w-spconv/qs8-qc8w-spconv.inc"
#undef ONEXN_QS8_SPCONV_UKERNEL
#define ONEXN_X8_GATHER_UKERNEL(isa, name, ukernel, blocked, max_cin) \
  Check(NameOf(#ukernel) == name && onexn_x8_gather_blocked(ukernel) == blocked, #ukernel);
#include "x8-pixelvec-gather/x8-pixelvec-gather.inc"
#undef ONEXN_X8_GATHER_UKERNEL
}

TEST_CASE("qconv dispatch: a narrow gather stands in for its ISA's full gather up to its max_cin only") {
  struct Row { onexn_isa isa; onexn_x8_gather fn; int max_cin; };
  const Row rows[] = {
#define ONEXN_X8_GATHER_UKERNEL(isa, name, ukernel, blocked, max_cin) {isa, ukernel, max_cin},
#include "x8-pixelvec-gather/x8-pixelvec-gather.inc"
#undef ONEXN_X8_GATHER_UKERNEL
  };
  for (const Row& full : rows) {
    if (full.max_cin != 0) {
      Check(onexn_x8_gather_narrow(full.fn, 1) == nullptr, "a narrow gather has no narrow twin");
      continue;
    }
    const Row* narrow = nullptr;
    for (const Row& r : rows) {
      if (r.isa == full.isa && r.max_cin != 0) narrow = &r;
    }
    for (size_t cin : {1, 3, 4, 5, 64}) {
      const bool fits = narrow != nullptr && cin <= static_cast<size_t>(narrow->max_cin);
      Check(onexn_x8_gather_narrow(full.fn, cin) == (fits ? narrow->fn : nullptr),
            "narrow twin for cin " + std::to_string(cin));
    }
  }
}

#if ONEXN_ARCH_X86_64
// The AMX kernel compiled against the C model of the tiles (common/amx-tiles.h; tests/qconv_amx_model.c), so
// that its logic is checked wherever VBMI runs; on a CPU with AMX the test case named like the kernel runs
// the real one.
extern "C" void onexn_qs8_qc8w_spconv_16x16_avx512amx_model(const onexn_qs8_args* args);

TEST_CASE("qs8-qc8w-spconv-16x16-avx512amx on the model of the tiles") {
  if (!Runs(ONEXN_ISA_AVX512VNNIVBMI, "qs8-qc8w-spconv-16x16-avx512amx (model)")) return;
  const onexn_qs8_ukernel_config* uk = onexn_qconv_ukernel("qs8-qc8w-spconv-16x16-avx512amx");
  Check(uk != nullptr, "qs8-qc8w-spconv-16x16-avx512amx: in this build's kernel table");
  if (uk == nullptr) return;
  onexn_qs8_ukernel_config model = *uk;
  model.isa = ONEXN_ISA_AVX512VNNIVBMI;
  model.fn = onexn_qs8_qc8w_spconv_16x16_avx512amx_model;
  TestUkernelConfig(&model);
}
#endif

// One test case per microkernel of the lists, named like it.
#define ONEXN_QS8_SPCONV_UKERNEL(isa, name, ukernel, nr, kr, w_int16, input_offset, x_bytes, gather, strip) \
  TEST_CASE(name) { TestUkernel(isa, name); }
#include "qs8-qc8w-spconv/qs8-qc8w-spconv.inc"
#undef ONEXN_QS8_SPCONV_UKERNEL
#define ONEXN_X8_GATHER_UKERNEL(isa, name, ukernel, blocked, max_cin) \
  TEST_CASE(name) { TestGather(isa, name, ukernel, blocked, max_cin); }
#include "x8-pixelvec-gather/x8-pixelvec-gather.inc"
#undef ONEXN_X8_GATHER_UKERNEL

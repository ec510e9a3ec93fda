// Tests of the int8 glue operators against naive references: depthwise convolution (random shapes, strides,
// dilations, padding, zero points, saturating values; bit for bit against XNNPACK's fp32 requantization
// written out directly, and the same bits for any thread count), ADD with rescaling and the int8 mean (within
// 1 step of the exact real-number result), max pooling and padding (exact), bad arguments refused.
//   bazel test //tflite_delegate:qglue_test
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "onexn_kernels.h"
#include "operators/operators.h"
#include "test_util.h"

namespace {

using onexn_test::Check;

constexpr float kInf = std::numeric_limits<float>::infinity();

int8_t Saturate(double v) { return int8_t(std::fmin(std::fmax(v, -128.0), 127.0)); }

// An activation bound in real units -> int8, as TFLite's XNNPACK delegate quantizes it.
int Bound(float v, float scale, int zero_point) {
  return int(std::nearbyint(std::fmin(std::fmax(v / scale + float(zero_point), -128.0f), 127.0f)));
}

struct DwCase {
  onexn_dwconv_shape s;
  std::vector<int8_t> x, w;
  std::vector<int32_t> bias;
  std::vector<float> weight_scales;
  onexn_qconv_quant q;
};

// The reference: every output from its definition (int64 sums over the taps inside the image).
std::vector<int8_t> ReferenceDw(const DwCase& c) {
  const onexn_dwconv_shape& s = c.s;
  const int lo = Bound(s.out_min, c.q.output_scale, c.q.output_zero_point);
  const int hi = Bound(s.out_max, c.q.output_scale, c.q.output_zero_point);
  std::vector<int8_t> out(size_t(s.batch) * s.out_h * s.out_w * s.channels);
  size_t i = 0;
  for (int n = 0; n < s.batch; n++)
    for (int oy = 0; oy < s.out_h; oy++)
      for (int ox = 0; ox < s.out_w; ox++)
        for (int ch = 0; ch < s.channels; ch++) {
          int64_t acc = c.bias[ch];
          for (int ky = 0; ky < s.kh; ky++)
            for (int kx = 0; kx < s.kw; kx++) {
              const int iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
              const int ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
              if (iy < 0 || iy >= s.in_h || ix < 0 || ix >= s.in_w) continue;
              const int xv = c.x[((size_t(n) * s.in_h + iy) * s.in_w + ix) * s.channels + ch];
              acc += int64_t(xv - c.q.input_zero_point) * c.w[(size_t(ky) * s.kw + kx) * s.channels + ch];
            }
          const float scale = c.q.input_scale * c.weight_scales[ch] / c.q.output_scale;
          float f = float(int32_t(acc)) * scale;
          f = std::fmin(std::fmax(f, float(lo - c.q.output_zero_point)), float(hi - c.q.output_zero_point));
          out[i++] = int8_t(int(std::nearbyint(f)) + c.q.output_zero_point);
        }
  return out;
}

// window3: a 3x3 window of dilation 1 on images up to 20 wide and strides up to 3 (the complete-window
// kernels' runs, with their borders).
DwCase RandomDwCase(std::mt19937* rng, bool saturate, bool window3 = false) {
  auto pick = [rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(*rng); };
  DwCase c;
  onexn_dwconv_shape& s = c.s;
  s.batch = pick(1, 2);
  s.in_h = pick(1, 9);
  s.in_w = pick(1, window3 ? 20 : 9);
  s.channels = pick(1, 70);
  s.kh = window3 ? 3 : pick(1, 5);
  s.kw = window3 ? 3 : pick(1, 5);
  s.stride_h = pick(1, 2);
  s.stride_w = pick(1, window3 ? 3 : 2);
  s.dilation_h = window3 ? 1 : pick(1, 2);
  s.dilation_w = window3 ? 1 : pick(1, 2);
  s.pad_top = pick(0, (s.kh - 1) * s.dilation_h);
  s.pad_left = pick(0, (s.kw - 1) * s.dilation_w);
  const int pad_bottom = pick(0, (s.kh - 1) * s.dilation_h), pad_right = pick(0, (s.kw - 1) * s.dilation_w);
  if (!onexn_test::Axis(onexn_test::Pad::kExplicit, s.in_h, s.kh, s.stride_h, s.dilation_h, s.pad_top, pad_bottom,
                        &s.out_h, &s.pad_top) ||
      !onexn_test::Axis(onexn_test::Pad::kExplicit, s.in_w, s.kw, s.stride_w, s.dilation_w, s.pad_left, pad_right,
                        &s.out_w, &s.pad_left)) {
    return RandomDwCase(rng, saturate, window3);  // an empty output: draw again
  }
  const float bounds[][2] = {{-kInf, kInf}, {0.0f, kInf}, {0.0f, 6.0f}, {-1.0f, 1.0f}};
  const int b = pick(0, 3);
  s.out_min = bounds[b][0];
  s.out_max = bounds[b][1];
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  c.x.resize(size_t(s.batch) * s.in_h * s.in_w * s.channels);
  for (int8_t& v : c.x) v = saturate ? int8_t(pick(0, 1) ? 127 : -128) : int8_t(pick(-128, 127));
  c.w.resize(size_t(s.kh) * s.kw * s.channels);
  for (int8_t& v : c.w) v = saturate ? int8_t(pick(0, 1) ? 127 : -127) : int8_t(pick(-128, 127));
  c.bias.resize(size_t(s.channels));
  for (int32_t& v : c.bias) v = pick(-100000, 100000);
  c.weight_scales.resize(size_t(s.channels));
  for (float& v : c.weight_scales) v = 0.001f + 0.02f * unit(*rng);
  c.q = {0.01f + 0.1f * unit(*rng), pick(-128, 127), saturate ? 0.001f : 0.05f + unit(*rng), pick(-128, 127),
         c.weight_scales.data()};
  return c;
}

// Every microkernel of the list this CPU runs.
std::vector<const onexn_qdwconv_ukernel_config*> DwUkernels() {
  std::vector<const onexn_qdwconv_ukernel_config*> list;
  for (const char* name : {
#define ONEXN_QS8_DWCONV_UKERNEL(isa, name, ukernel, channel_tile) name,
#include "qs8-qc8w-dwconv/qs8-qc8w-dwconv.inc"
#undef ONEXN_QS8_DWCONV_UKERNEL
       }) {
    const onexn_qdwconv_ukernel_config* uk = onexn_qdwconv_ukernel(name);
    Check(uk != nullptr, std::string("kernel list row ") + name);
    if (uk != nullptr && onexn_test::Runs(uk->isa, name)) list.push_back(uk);
  }
  return list;
}

void TestDwCase(const DwCase& c, const std::string& what, onexn_threadpool* pool,
                const onexn_qdwconv_ukernel_config* uk) {
  char err[256];
  onexn_qdwconv* dw =
      onexn_qdwconv_create_with_ukernel(&c.s, c.w.data(), c.bias.data(), &c.q, uk, err, sizeof(err));
  Check(dw != nullptr, what + ": " + err);
  if (dw == nullptr) return;
  const std::vector<int8_t> want = ReferenceDw(c);
  std::vector<int8_t> got(want.size() + 64, 0x55);  // a guard band after the output
  onexn_qdwconv_run(dw, c.x.data(), got.data(), pool);
  bool guard = true;
  for (size_t i = want.size(); i < got.size(); i++) guard &= got[i] == 0x55;
  got.resize(want.size());
  Check(got == want, what + ", " + uk->name + ": output differs from the reference");
  Check(guard, what + ", " + uk->name + ": wrote past the output");
  onexn_qdwconv_destroy(dw);
}

TEST_CASE("qdwconv: random shapes, zero points and activations, bit for bit, 1 and 2 threads") {
  std::mt19937 rng(17);
  onexn_threadpool* pool = onexn_threadpool_create(2);
  const int cases = onexn_test::RandomCaseCount(300);
  const auto kernels = DwUkernels();
  for (int i = 0; i < cases; i++) {
    const DwCase c = RandomDwCase(&rng, false);
    for (const onexn_qdwconv_ukernel_config* uk : kernels) {
      TestDwCase(c, "case " + std::to_string(i), nullptr, uk);
      TestDwCase(c, "case " + std::to_string(i) + ", 2 threads", pool, uk);
    }
  }
  onexn_threadpool_destroy(pool);
}

TEST_CASE("qdwconv: 3x3 windows of dilation 1, strides 1-3, bit for bit") {
  std::mt19937 rng(23);
  const auto kernels = DwUkernels();
  for (int i = 0; i < onexn_test::RandomCaseCount(300); i++) {
    const DwCase c = RandomDwCase(&rng, i % 4 == 0, true);
    for (const onexn_qdwconv_ukernel_config* uk : kernels) {
      TestDwCase(c, "3x3 case " + std::to_string(i), nullptr, uk);
    }
  }
}

TEST_CASE("qdwconv: a 3x3 layer of dilation 1 takes the 3x3 row where the CPU has it") {
  std::mt19937 rng(29);
  DwCase c = RandomDwCase(&rng, false, true);
  char err[256];
  onexn_qdwconv* dw =
      onexn_qdwconv_create(&c.s, c.w.data(), c.bias.data(), &c.q, ONEXN_ISA_AVX512, err, sizeof(err));
  Check(dw != nullptr, std::string("3x3 layer: ") + err);
  const std::string name = onexn_qdwconv_kernel_name(dw);
  if (onexn_isa_supported(ONEXN_ISA_AVX512VNNIVBMI)) {
    Check(name == "qs8-qc8w-dwconv-minmax-fp32-3x3-16c-avx512vnnivbmi", "3x3 layer: " + name);
  } else {
    Check(name.find("3x3") == std::string::npos, "3x3 layer without VBMI: " + name);
  }
  onexn_qdwconv_destroy(dw);
  c.s.dilation_w = 2;
  c.s.pad_left = 0;
  c.s.out_w = (c.s.in_w - 5) / c.s.stride_w + 1;
  if (c.s.out_w >= 1) {
    dw = onexn_qdwconv_create(&c.s, c.w.data(), c.bias.data(), &c.q, ONEXN_ISA_AVX512, err, sizeof(err));
    Check(dw != nullptr && std::string(onexn_qdwconv_kernel_name(dw)).find("3x3") == std::string::npos,
          std::string("dilation 2 keeps the generic row ") + err);
    onexn_qdwconv_destroy(dw);
  }
}

TEST_CASE("qdwconv: saturating inputs and weights clamp to int8") {
  std::mt19937 rng(5);
  const auto kernels = DwUkernels();
  for (int i = 0; i < onexn_test::RandomCaseCount(100); i++) {
    const DwCase c = RandomDwCase(&rng, true);
    for (const onexn_qdwconv_ukernel_config* uk : kernels) {
      TestDwCase(c, "saturating case " + std::to_string(i), nullptr, uk);
    }
  }
}

// A requantization scale of 200 and biases of 2^28 on int8's whole range: the products pass 2^31, where the
// float-to-int conversion overflows, so the kernels must clamp first although the bounds are int8's own.
TEST_CASE("qdwconv: products past 2^31 clamp before the conversion") {
  std::mt19937 rng(31);
  const auto kernels = DwUkernels();
  for (int i = 0; i < 8; i++) {
    DwCase c = RandomDwCase(&rng, true, i % 2 == 0);
    c.s.out_min = -kInf;
    c.s.out_max = kInf;
    for (size_t ch = 0; ch < c.bias.size(); ch++) c.bias[ch] = ch % 2 ? (1 << 28) : -(1 << 28);
    for (float& v : c.weight_scales) v = 1.0f;
    c.q.input_scale = 1.0f;
    c.q.output_scale = 0.005f;
    c.q.weight_scales = c.weight_scales.data();
    for (const onexn_qdwconv_ukernel_config* uk : kernels) {
      TestDwCase(c, "overflowing case " + std::to_string(i), nullptr, uk);
    }
  }
}

TEST_CASE("qdwconv: bad arguments are refused with a message") {
  std::mt19937 rng(3);
  DwCase c = RandomDwCase(&rng, false);
  char err[256];
  auto refused = [&](const std::string& what) {
    err[0] = '\0';
    onexn_qdwconv* dw =
        onexn_qdwconv_create(&c.s, c.w.data(), c.bias.data(), &c.q, ONEXN_ISA_AUTO, err, sizeof(err));
    Check(dw == nullptr && std::string(err).find("onexn_qdwconv_create") == 0, what + ": " + err);
    onexn_qdwconv_destroy(dw);
  };
  const onexn_qconv_quant good = c.q;
  c.q.input_zero_point = 128;
  refused("input zero point 128");
  c.q = good;
  c.q.output_scale = 0.0f;
  refused("output scale 0");
  c.q = good;
  c.weight_scales[0] = std::numeric_limits<float>::quiet_NaN();
  refused("NaN weight scale");
  c.weight_scales[0] = 1e6f;
  refused("requantization scale >= 256");
  c.weight_scales[0] = 0.01f;
  const onexn_dwconv_shape shape = c.s;
  const std::vector<int8_t> weights = c.w;
  c.s.kh = 1;  // a window of one tap more than the run's tap table holds; as many is taken
  for (int kw : {ONEXN_QDW_MAX_TAPS + 1, ONEXN_QDW_MAX_TAPS}) {
    c.s.kw = kw;
    c.w.assign(size_t(kw) * c.s.channels, 1);
    if (kw > ONEXN_QDW_MAX_TAPS) {
      refused("1x" + std::to_string(kw) + " window");
    } else {
      onexn_qdwconv* dw = onexn_qdwconv_create(&c.s, c.w.data(), c.bias.data(), &good, ONEXN_ISA_AUTO, err, sizeof(err));
      Check(dw != nullptr, std::string("1x1024 window: ") + err);
      onexn_qdwconv_destroy(dw);
    }
  }
  c.s = shape;
  c.w = weights;
  c.s.kh = 0;
  refused("kh = 0");
  Check(onexn_qdwconv_create(&c.s, nullptr, nullptr, &good, ONEXN_ISA_AUTO, err, sizeof(err)) == nullptr,
        "NULL weights");
}

TEST_CASE("qadd: within 1 step of the real sum, for random scales, zero points and activations") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const float bounds[][2] = {{-kInf, kInf}, {0.0f, kInf}, {0.0f, 6.0f}};
  for (int i = 0; i < onexn_test::RandomCaseCount(300); i++) {
    const float sa = 0.01f + unit(rng), sb = 0.01f + unit(rng), so = 0.02f + 2.0f * unit(rng);
    const int za = pick(-128, 127), zb = pick(-128, 127), zo = pick(-128, 127), b = pick(0, 2);
    onexn_qadd_params p;
    char err[256];
    Check(onexn_qadd_init(&p, sa, za, sb, zb, so, zo, bounds[b][0], bounds[b][1], err, sizeof(err)) == 0, err);
    std::vector<int8_t> x(300), y(300), out(300);
    for (size_t k = 0; k < x.size(); k++) {  // the first values are the extremes
      x[k] = int8_t(k < 4 ? (k & 1 ? 127 : -128) : pick(-128, 127));
      y[k] = int8_t(k < 4 ? (k & 2 ? 127 : -128) : pick(-128, 127));
    }
    const size_t count = size_t(pick(1, int(x.size())));  // the kernels' tails too
    std::vector<int8_t> scalar(count);
    onexn_qadd_run(ONEXN_ISA_SCALAR, &p, x.data(), y.data(), scalar.data(), count, nullptr);
    const int lo = Bound(bounds[b][0], so, zo), hi = Bound(bounds[b][1], so, zo);
    bool ok = true;
    for (size_t k = 0; k < count; k++) {
      const double real = (double(x[k]) - za) * sa + (double(y[k]) - zb) * sb;
      const double want = std::fmin(std::fmax(real / so + zo, lo), hi);
      ok &= std::fabs(double(scalar[k]) - want) <= 1.0 && scalar[k] >= lo && scalar[k] <= hi;
    }
    Check(ok, "qadd case " + std::to_string(i));
    for (onexn_isa isa : onexn_test::AvailableIsas()) {  // every kernel: the scalar reference's bits
      std::fill(out.begin(), out.end(), int8_t(0x55));
      onexn_qadd_run(isa, &p, x.data(), y.data(), out.data(), count, nullptr);
      Check(std::vector<int8_t>(out.begin(), out.begin() + count) == scalar &&
                (count == out.size() || out[count] == 0x55),
            "qadd case " + std::to_string(i) + ", " + onexn_qadd_kernel_name(isa));
    }
  }
  {
    // Over a pool: chunks of the tensor on every thread, the caller's bits, nothing past the end.
    onexn_qadd_params p;
    char err[256];
    Check(onexn_qadd_init(&p, 0.3f, 5, 0.7f, -9, 0.5f, 3, -kInf, 6.0f, err, sizeof(err)) == 0, err);
    for (size_t count : {size_t(16384), size_t(16385), size_t(100003), size_t(250000)}) {
      std::vector<int8_t> x(count), y(count), want(count);
      for (size_t k = 0; k < count; k++) {
        x[k] = int8_t(pick(-128, 127));
        y[k] = int8_t(pick(-128, 127));
      }
      onexn_qadd_run(ONEXN_ISA_AUTO, &p, x.data(), y.data(), want.data(), count, nullptr);
      for (int threads : {2, 3, 4}) {
        onexn_threadpool* pool = onexn_threadpool_create(threads);
        std::vector<int8_t> out(count + 64, int8_t(0x55));
        onexn_qadd_run(ONEXN_ISA_AUTO, &p, x.data(), y.data(), out.data(), count, pool);
        bool tail = true;
        for (size_t k = count; k < out.size(); k++) tail &= out[k] == 0x55;
        Check(std::vector<int8_t>(out.begin(), out.begin() + count) == want && tail,
              "qadd of " + std::to_string(count) + " over " + std::to_string(threads) + " threads");
        onexn_threadpool_destroy(pool);
      }
    }
  }
  onexn_qadd_params p;
  char err[256];
  Check(onexn_qadd_init(&p, 1.0f, 0, 1.0f, 0, 1e-4f, 0, -kInf, kInf, err, sizeof(err)) != 0 &&
            std::string(err).find("2^8") != std::string::npos,
        std::string("ratio 10^4 refused: ") + err);
  Check(onexn_qadd_init(&p, 1.0f, 300, 1.0f, 0, 1.0f, 0, -kInf, kInf, err, sizeof(err)) != 0, "zero point 300");
}

TEST_CASE("qgavgpool: within 1 step of the real mean") {
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int i = 0; i < onexn_test::RandomCaseCount(200); i++) {
    const size_t batch = size_t(pick(1, 2)), pixels = size_t(pick(1, i % 8 == 4 ? 700 : 60)), channels = size_t(pick(1, 160));
    const float si = 0.01f + unit(rng), so = 0.005f + unit(rng);
    const int zi = pick(-128, 127), zo = pick(-128, 127);
    const bool saturate = i % 4 == 0;
    std::vector<int8_t> x(batch * pixels * channels), out(batch * channels);
    // Every 16th case one extreme throughout: the largest sums the kernel's int16 partial sums must hold.
    const int same = i % 16 == 4 ? (i % 32 == 4 ? -128 : 127) : 0;
    for (int8_t& v : x) v = int8_t(same != 0 ? same : saturate ? (pick(0, 1) ? 127 : -128) : pick(-128, 127));
    onexn_qgavgpool_params p;
    char err[256];
    Check(onexn_qgavgpool_init(&p, si, zi, so, zo, pixels, err, sizeof(err)) == 0, err);
    onexn_qgavgpool_run(&p, x.data(), out.data(), batch, channels);
    bool ok = true;
    for (size_t n = 0; n < batch; n++)
      for (size_t ch = 0; ch < channels; ch++) {
        double sum = 0;
        for (size_t q = 0; q < pixels; q++) sum += double(x[(n * pixels + q) * channels + ch]) - zi;
        const double want = std::fmin(std::fmax(sum / double(pixels) * si / so + zo, -128.0), 127.0);
        ok &= std::fabs(double(out[n * channels + ch]) - want) <= 1.0;
      }
    Check(ok, "qgavgpool case " + std::to_string(i));
  }
  onexn_qgavgpool_params p;
  char err[256];
  Check(onexn_qgavgpool_init(&p, 1.0f, 0, 1.0f, 0, 0, err, sizeof(err)) != 0, "no pixels refused");
  Check(onexn_qgavgpool_init(&p, 0.0f, 0, 1.0f, 0, 4, err, sizeof(err)) != 0, "scale 0 refused");
}

// Every s8-maxpool microkernel this CPU runs (one per ISA: onexn_maxpool_x8_run runs the row of the ISA asked for).
TEST_CASE("maxpool_x8: the max of the valid taps, clamped, for random windows, on every microkernel") {
  std::vector<onexn_isa> isas;
#define ONEXN_S8_MAXPOOL_UKERNEL(isa, name, ukernel, channel_tile) \
  if (onexn_isa_supported(isa)) {                                  \
    isas.push_back(isa);                                           \
    Check(std::string(onexn_maxpool_x8_kernel_name(isa)) == name, name);  \
  }
#include "s8-maxpool/s8-maxpool.inc"
#undef ONEXN_S8_MAXPOOL_UKERNEL
  for (const onexn_isa isa : isas) {
  std::mt19937 rng(19);
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  // The first 48 cases: every narrow row (1-4 pixels) with every window width, stride and padding, where
  // neighbouring border windows can have as many valid taps at different offsets; then random shapes.
  for (int i = 0; i < 48 + onexn_test::RandomCaseCount(200); i++) {
    const bool fixed = i < 48;
    onexn_pool_shape s{};
    s.batch = pick(1, 2);
    s.in_h = pick(1, 9);
    s.in_w = fixed ? 1 + i % 4 : pick(1, 9);
    s.channels = pick(1, 150);  // whole and ragged vectors of 16, 32 and 64 channels
    s.kh = pick(1, 3);
    s.kw = fixed ? 1 + i / 4 % 3 : pick(1, 3);
    s.stride_h = pick(1, 2);
    s.stride_w = fixed ? 1 + i / 12 % 2 : pick(1, 2);
    const onexn_test::Pad pad = (fixed ? i / 24 % 2 : pick(0, 1)) ? onexn_test::Pad::kSame : onexn_test::Pad::kValid;
    if (!onexn_test::Axis(pad, s.in_h, s.kh, s.stride_h, 1, 0, 0, &s.out_h, &s.pad_top) ||
        !onexn_test::Axis(pad, s.in_w, s.kw, s.stride_w, 1, 0, 0, &s.out_w, &s.pad_left)) {
      continue;
    }
    const bool relu6 = pick(0, 1);
    s.out_min = relu6 ? 0.0f : -kInf;
    s.out_max = relu6 ? 6.0f : kInf;
    const float scale = 0.05f;
    const int zp = pick(-128, 100);
    std::vector<int8_t> x(size_t(s.batch) * s.in_h * s.in_w * s.channels);
    for (int8_t& v : x) v = int8_t(pick(-128, 127));
    std::vector<int8_t> out(size_t(s.batch) * s.out_h * s.out_w * s.channels);
    onexn_maxpool_x8_run(&s, scale, zp, x.data(), out.data(), isa);
    const int lo = Bound(s.out_min, scale, zp), hi = Bound(s.out_max, scale, zp);
    bool ok = true;
    size_t k = 0;
    for (int n = 0; n < s.batch; n++)
      for (int oy = 0; oy < s.out_h; oy++)
        for (int ox = 0; ox < s.out_w; ox++)
          for (int ch = 0; ch < s.channels; ch++) {
            int m = -129;
            for (int ky = 0; ky < s.kh; ky++)
              for (int kx = 0; kx < s.kw; kx++) {
                const int iy = oy * s.stride_h - s.pad_top + ky, ix = ox * s.stride_w - s.pad_left + kx;
                if (iy >= 0 && iy < s.in_h && ix >= 0 && ix < s.in_w) {
                  m = std::max<int>(m, x[((size_t(n) * s.in_h + iy) * s.in_w + ix) * s.channels + ch]);
                }
              }
            ok &= out[k++] == Saturate(std::min(std::max(m, lo), hi));
          }
    Check(ok, std::string(onexn_maxpool_x8_kernel_name(isa)) + " case " + std::to_string(i));
  }
  }
}

TEST_CASE("pad_x8: the input in place, the value around it") {
  const std::vector<size_t> in_dims = {2, 3, 4, 5}, before = {0, 1, 2, 0}, after = {1, 0, 1, 3};
  std::vector<size_t> out_dims(4);
  size_t in_total = 1, out_total = 1;
  for (size_t k = 0; k < 4; k++) {
    out_dims[k] = before[k] + in_dims[k] + after[k];
    in_total *= in_dims[k];
    out_total *= out_dims[k];
  }
  std::vector<int8_t> x(in_total), out(out_total, 0);
  for (size_t i = 0; i < in_total; i++) x[i] = int8_t(i % 200 - 100 == -7 ? 1 : i % 200 - 100);  // never -7
  onexn_pad_x8_run(x.data(), out.data(), 4, in_dims.data(), before.data(), after.data(), -7, nullptr);
  bool ok = true;
  size_t i = 0;
  for (size_t a = 0; a < out_dims[0]; a++)
    for (size_t b = 0; b < out_dims[1]; b++)
      for (size_t c = 0; c < out_dims[2]; c++)
        for (size_t d = 0; d < out_dims[3]; d++) {
          const size_t idx[] = {a, b, c, d};
          bool inside = true;
          size_t flat = 0;
          for (size_t k = 0; k < 4; k++) {
            inside &= idx[k] >= before[k] && idx[k] < before[k] + in_dims[k];
            flat = flat * in_dims[k] + (idx[k] - std::min(idx[k], before[k]));
          }
          ok &= out[i++] == (inside ? x[flat] : int8_t(-7));
        }
  Check(ok, "pad_x8 output");
}

TEST_CASE("pad_x8 over the pool: the caller's bytes, whatever the split") {
  const std::vector<size_t> in_dims = {1, 61, 57, 24}, before = {0, 3, 1, 0}, after = {0, 2, 4, 0};
  size_t in_total = 1, out_total = 1;
  for (size_t k = 0; k < 4; k++) {
    in_total *= in_dims[k];
    out_total *= before[k] + in_dims[k] + after[k];
  }
  std::vector<int8_t> x(in_total), want(out_total, 0);
  for (size_t i = 0; i < in_total; i++) x[i] = int8_t(i * 37 % 251 - 125);
  onexn_pad_x8_run(x.data(), want.data(), 4, in_dims.data(), before.data(), after.data(), 5, nullptr);
  for (int threads : {2, 3}) {
    onexn_threadpool* pool = onexn_threadpool_create(threads);
    std::vector<int8_t> got(out_total, 0);
    onexn_pad_x8_run(x.data(), got.data(), 4, in_dims.data(), before.data(), after.data(), 5, pool);
    Check(got == want, "pad_x8 at " + std::to_string(threads) + " threads");
    onexn_threadpool_destroy(pool);
  }
}

}  // namespace

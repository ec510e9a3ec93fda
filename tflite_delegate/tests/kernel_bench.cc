// Throughput of the onexn 1xN kernels on MobileNetV2 1x1 shapes, one thread, next to a plain dense
// 1x1 GEMM-style loop (AVX-512 / AVX2, written here only as a sanity baseline); then the depthwise 3x3
// layers of MobileNetV2 next to stock TFLite/XNNPACK times measured once on the project machine.
// Build and run: bazel run //tflite_delegate:kernel_bench -- [--isa=NAME] [--quick] [--dwconv-only]
// effective GFLOP/s = dense FLOPs / time; actual GFLOP/s = FLOPs of kept blocks / time.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "onexn_kernels.h"

namespace {

struct Shape {
  int h, w, cin, cout;
};

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Fastest single call seen during about total_s seconds: a call is shorter than a scheduler time slice,
// so the minimum is robust against other processes sharing the cores.
template <typename F>
double TimeIt(F&& f, double total_s) {
  f();  // warm up
  double best = std::numeric_limits<double>::infinity();
  const double start = Now();
  int calls = 0;
  while (calls < 20 || Now() - start < total_s) {
    const double t0 = Now();
    f();
    best = std::min(best, Now() - t0);
    calls++;
  }
  return best;
}

#if defined(__x86_64__)
// Dense 1x1 conv: 8 pixels x 16 channels of zmm accumulators, weights packed [cout/16][cin][16].
__attribute__((target("avx512f,fma"))) void DenseAvx512(const float* in, const float* wp, float* out, int pixels,
                                                        int cin, int cout) {
  for (int p0 = 0; p0 < pixels; p0 += 8) {
    const int mr = std::min(8, pixels - p0);
    const float* r[8];
    for (int m = 0; m < 8; m++) r[m] = in + static_cast<size_t>(p0 + std::min(m, mr - 1)) * cin;
    for (int o = 0; o < cout; o += 16) {
      const float* w = wp + static_cast<size_t>(o) * cin;
      __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
      for (int c = 0; c < cin; c++) {
        const __m512 vw = _mm512_loadu_ps(w + c * 16);
        a0 = _mm512_fmadd_ps(_mm512_set1_ps(r[0][c]), vw, a0);
        a1 = _mm512_fmadd_ps(_mm512_set1_ps(r[1][c]), vw, a1);
        a2 = _mm512_fmadd_ps(_mm512_set1_ps(r[2][c]), vw, a2);
        a3 = _mm512_fmadd_ps(_mm512_set1_ps(r[3][c]), vw, a3);
        a4 = _mm512_fmadd_ps(_mm512_set1_ps(r[4][c]), vw, a4);
        a5 = _mm512_fmadd_ps(_mm512_set1_ps(r[5][c]), vw, a5);
        a6 = _mm512_fmadd_ps(_mm512_set1_ps(r[6][c]), vw, a6);
        a7 = _mm512_fmadd_ps(_mm512_set1_ps(r[7][c]), vw, a7);
      }
      const __m512 acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
      for (int m = 0; m < mr; m++) _mm512_storeu_ps(out + static_cast<size_t>(p0 + m) * cout + o, acc[m]);
    }
  }
}

// Dense 1x1 conv: 4 pixels x 16 channels in 8 ymm accumulators.
__attribute__((target("avx2,fma"))) void DenseAvx2(const float* in, const float* wp, float* out, int pixels, int cin,
                                                   int cout) {
  for (int p0 = 0; p0 < pixels; p0 += 4) {
    const int mr = std::min(4, pixels - p0);
    const float* r[4];
    for (int m = 0; m < 4; m++) r[m] = in + static_cast<size_t>(p0 + std::min(m, mr - 1)) * cin;
    for (int o = 0; o < cout; o += 16) {
      const float* w = wp + static_cast<size_t>(o) * cin;
      __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
      for (int c = 0; c < cin; c++) {
        const __m256 w0 = _mm256_loadu_ps(w + c * 16), w1 = _mm256_loadu_ps(w + c * 16 + 8);
        __m256 x = _mm256_broadcast_ss(r[0] + c);
        a0 = _mm256_fmadd_ps(x, w0, a0);
        b0 = _mm256_fmadd_ps(x, w1, b0);
        x = _mm256_broadcast_ss(r[1] + c);
        a1 = _mm256_fmadd_ps(x, w0, a1);
        b1 = _mm256_fmadd_ps(x, w1, b1);
        x = _mm256_broadcast_ss(r[2] + c);
        a2 = _mm256_fmadd_ps(x, w0, a2);
        b2 = _mm256_fmadd_ps(x, w1, b2);
        x = _mm256_broadcast_ss(r[3] + c);
        a3 = _mm256_fmadd_ps(x, w0, a3);
        b3 = _mm256_fmadd_ps(x, w1, b3);
      }
      const __m256 lo[4] = {a0, a1, a2, a3}, hi[4] = {b0, b1, b2, b3};
      for (int m = 0; m < mr; m++) {
        _mm256_storeu_ps(out + static_cast<size_t>(p0 + m) * cout + o, lo[m]);
        _mm256_storeu_ps(out + static_cast<size_t>(p0 + m) * cout + o + 8, hi[m]);
      }
    }
  }
}
#endif

// MobileNetV2's depthwise 3x3 layers (input size, channels, stride; SAME padding, relu6) and the time of
// the same op alone in stock TFLite with XNNPACK, 1 thread, on the project's Zen 4 machine (reference
// only: other machines differ).
class AlignedFloats {
 public:
  explicit AlignedFloats(size_t n) : n_(n), p_(static_cast<float*>(std::aligned_alloc(64, (n * 4 + 63) / 64 * 64))) {}
  ~AlignedFloats() { std::free(p_); }
  AlignedFloats(const AlignedFloats&) = delete;
  AlignedFloats& operator=(const AlignedFloats&) = delete;
  float* data() { return p_; }
  size_t size() const { return n_; }

 private:
  size_t n_;
  float* p_;
};

struct DwShape {
  int hw, channels, stride;
  double stock_ms;
};

int BenchDwconv(onexn_isa isa, double min_round_s) {
  const DwShape shapes[] = {{112, 32, 1, 0.180}, {112, 96, 2, 0.124}, {56, 144, 1, 0.207}, {56, 144, 2, 0.058},
                            {28, 192, 1, 0.067}, {28, 192, 2, 0.020}, {14, 384, 1, 0.036}, {14, 576, 1, 0.072},
                            {14, 576, 2, 0.019}, {7, 960, 1, 0.031}};
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  std::printf("\ndepthwise 3x3 SAME relu6, isa=%s, 1 thread\n", onexn_isa_name(onexn_isa_resolve(isa)));
  std::printf("%-18s %-30s %9s %9s %12s %9s\n", "shape", "kernel", "ms", "GFLOP/s", "stock ms", "speedup");
  double total = 0.0, total_stock = 0.0;
  for (const DwShape& d : shapes) {
    onexn_dwconv_shape s = {};
    s.batch = 1;
    s.in_h = s.in_w = d.hw;
    s.channels = d.channels;
    s.out_h = s.out_w = (d.hw + d.stride - 1) / d.stride;
    s.kh = s.kw = 3;
    s.stride_h = s.stride_w = d.stride;
    s.dilation_h = s.dilation_w = 1;
    const int pad = std::max(0, (s.out_h - 1) * d.stride + 3 - d.hw);
    s.pad_top = s.pad_left = pad / 2;
    s.out_min = 0.0f;
    s.out_max = 6.0f;
    std::vector<float> w(9 * static_cast<size_t>(d.channels)), bias(d.channels);
    // 64-byte aligned tensors, like TFLite's arena (a std::vector's 16-byte alignment would split every
    // vector load across two cache lines).
    AlignedFloats input(static_cast<size_t>(d.hw) * d.hw * d.channels);
    AlignedFloats output(static_cast<size_t>(s.out_h) * s.out_w * d.channels);
    for (float& x : w) x = val(rng);
    for (float& x : bias) x = val(rng);
    for (size_t i = 0; i < input.size(); i++) input.data()[i] = val(rng);
    char err[256];
    onexn_dwconv* dw = onexn_dwconv_create(&s, w.data(), bias.data(), isa, err, sizeof(err));
    if (dw == nullptr) {
      std::fprintf(stderr, "dwconv create failed: %s\n", err);
      return 1;
    }
    const double t = TimeIt([&] { onexn_dwconv_run(dw, input.data(), output.data(), nullptr); }, min_round_s);
    const double flops = 2.0 * 9 * output.size();
    char name[48];
    std::snprintf(name, sizeof(name), "%dx%dx%d s%d", d.hw, d.hw, d.channels, d.stride);
    std::printf("%-18s %-30s %9.4f %9.1f %12.3f %8.2fx\n", name, onexn_dwconv_kernel_name(dw), t * 1e3,
                flops / t * 1e-9, d.stock_ms, d.stock_ms / (t * 1e3));
    total += t * 1e3;
    total_stock += d.stock_ms;
    onexn_dwconv_destroy(dw);
  }
  std::printf("%-18s %-30s %9.4f %9s %12.3f %8.2fx\n", "sum", "", total, "", total_stock, total_stock / total);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  double min_round_s = 0.3;
  onexn_isa isa = ONEXN_ISA_AUTO;
  bool dwconv_only = false;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--quick") == 0) min_round_s = 0.02;
    if (std::strcmp(argv[i], "--dwconv-only") == 0) dwconv_only = true;
    if (std::strncmp(argv[i], "--isa=", 6) == 0 && onexn_isa_from_name(argv[i] + 6, &isa) != 0) {
      std::fprintf(stderr, "unknown ISA %s\n", argv[i] + 6);
      return 2;
    }
  }
  if (!onexn_isa_supported(isa)) {
    std::fprintf(stderr, "ISA %s not supported here\n", onexn_isa_name(isa));
    return 2;
  }
  if (dwconv_only) return BenchDwconv(isa, min_round_s);
  const Shape shapes[] = {{56, 56, 24, 144}, {28, 28, 32, 192}, {14, 14, 96, 576}, {7, 7, 160, 960}};
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  std::printf("isa=%s, 1 thread; GFLOP/s eff = dense FLOPs/time, act = kept FLOPs/time\n",
              onexn_isa_name(onexn_isa_resolve(isa)));
  std::printf("%-16s %-5s %-3s %-34s %9s %9s %9s | %-18s %9s %9s %9s\n", "shape", "spars", "N", "kernel", "ms", "eff",
              "act", "dense baseline", "ms", "GFLOP/s", "speedup");
  for (const Shape& s : shapes) {
    const int pixels = s.h * s.w;
    std::vector<float> input(static_cast<size_t>(pixels) * s.cin), output(static_cast<size_t>(pixels) * s.cout);
    for (float& x : input) x = val(rng);
    std::vector<float> dense_w(static_cast<size_t>(s.cout) * s.cin);
    for (float& x : dense_w) x = val(rng);
    const double dense_flops = 2.0 * pixels * s.cin * s.cout;
    // Dense baseline, timed again next to every sparse row so that both see the same machine load.
    std::string dense_name = "-";
    std::vector<float> packed(static_cast<size_t>(s.cout) * s.cin);
    for (int o = 0; o < s.cout; o++)
      for (int c = 0; c < s.cin; c++)
        packed[(static_cast<size_t>(o / 16) * s.cin + c) * 16 + o % 16] = dense_w[static_cast<size_t>(o) * s.cin + c];
    auto time_dense = [&]() -> double {
#if defined(__x86_64__)
      const onexn_isa r = onexn_isa_resolve(isa);
      if (r == ONEXN_ISA_AVX512) {
        dense_name = "dense-8x16-avx512";
        return TimeIt([&] { DenseAvx512(input.data(), packed.data(), output.data(), pixels, s.cin, s.cout); },
                      min_round_s);
      }
      if (onexn_isa_supported(ONEXN_ISA_AVX2)) {
        dense_name = "dense-4x16-avx2";
        return TimeIt([&] { DenseAvx2(input.data(), packed.data(), output.data(), pixels, s.cin, s.cout); },
                      min_round_s);
      }
#endif
      return 0.0;
    };
    for (double sparsity : {0.5, 0.75}) {
      for (int n : {4, 8, 16}) {
        const int groups = (s.cout + n - 1) / n;
        std::vector<uint32_t> group_ptr = {0}, kept_cin;
        double kept_flops = 0.0;
        for (int g = 0; g < groups; g++) {
          // Exactly round(cin * (1 - sparsity)) kept channels per group, chosen at random.
          std::vector<uint32_t> chans(s.cin);
          for (int c = 0; c < s.cin; c++) chans[c] = static_cast<uint32_t>(c);
          std::shuffle(chans.begin(), chans.end(), rng);
          const int keep = static_cast<int>(std::lround(s.cin * (1.0 - sparsity)));
          std::sort(chans.begin(), chans.begin() + keep);
          kept_cin.insert(kept_cin.end(), chans.begin(), chans.begin() + keep);
          group_ptr.push_back(static_cast<uint32_t>(kept_cin.size()));
          kept_flops += 2.0 * pixels * keep * std::min(n, s.cout - g * n);
        }
        onexn_conv_shape shape = {};
        shape.batch = 1;
        shape.in_h = shape.out_h = s.h;
        shape.in_w = shape.out_w = s.w;
        shape.cin = s.cin;
        shape.cout = s.cout;
        shape.kh = shape.kw = shape.stride_h = shape.stride_w = shape.dilation_h = shape.dilation_w = 1;
        shape.out_min = 0.0f;
        shape.out_max = 6.0f;
        const onexn_block_index index = {n, groups, group_ptr.data(), kept_cin.data()};
        char err[256];
        onexn_conv* conv = onexn_conv_create(&shape, &index, dense_w.data(), nullptr, isa, err, sizeof(err));
        if (conv == nullptr) {
          std::fprintf(stderr, "create failed: %s\n", err);
          return 1;
        }
        const double t =
            TimeIt([&] { onexn_conv_run(conv, input.data(), output.data(), nullptr); }, min_round_s);
        const double dense_t = time_dense();
        char shape_name[32];
        std::snprintf(shape_name, sizeof(shape_name), "%dx%dx%d>%d", s.h, s.w, s.cin, s.cout);
        std::printf("%-16s %-5.2f %-3d %-34s %9.4f %9.1f %9.1f | %-18s %9.4f %9.1f %8.2fx\n", shape_name, sparsity,
                    n, onexn_conv_kernel_name(conv), t * 1e3, dense_flops / t * 1e-9, kept_flops / t * 1e-9,
                    dense_name.c_str(), dense_t * 1e3, dense_t > 0 ? dense_flops / dense_t * 1e-9 : 0.0,
                    dense_t > 0 ? dense_t / t : 0.0);
        onexn_conv_destroy(conv);
      }
    }
  }
  return BenchDwconv(isa, min_round_s);
}

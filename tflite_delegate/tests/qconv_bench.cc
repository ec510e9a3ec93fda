// Times the int8 1xN microkernels against each other on MobileNetV2's 1x1 layers and ResNet-50's 3x3 and
// widest 1x1 layers (224x224 input), 1 thread:
// every microkernel of qs8-qc8w-spconv.inc this CPU runs, at the given block width and sparsities, the kernel
// the operator dispatches to, and that kernel on the dense layer (every block kept) as a yardstick. A tool for kernel design, not a
// test: timings mean something only on a quiet machine, and against the stock runtime only in the benchmark.
//   bazel run //tflite_delegate:qconv_bench -- [--n=16] [--reps=20] [--kernel=SUBSTRING] [--layer=SUBSTRING]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "onexn_kernels.h"
#include "operators/operators.h"

namespace {

struct Layer {
  int hw, cin, cout, k = 1, stride = 1;  // hw: output size; a k x k kernel, SAME padding
};

// MobileNetV2 1.0 at 224: expansions and projections of each resolution.
const Layer kLayers[] = {{112, 32, 16}, {112, 16, 96}, {56, 24, 144}, {56, 144, 24}, {28, 32, 192}, {28, 192, 32}, {14, 64, 384},
                         {14, 384, 64}, {14, 96, 576}, {14, 576, 96}, {7, 160, 960}, {7, 960, 160},
                         // ResNet-50's 3x3 layers and its widest 1x1 layers of each stage
                         {56, 64, 64, 3}, {56, 64, 256}, {56, 256, 64}, {28, 128, 128, 3}, {28, 512, 128},
                         {14, 256, 256, 3}, {14, 1024, 256}, {7, 512, 512, 3}, {7, 2048, 512},
                         // the stems, dense in the models (every block kept): MobileNetV2's, ResNet-50's
                         {112, 3, 32, 3, 2}, {112, 3, 64, 7, 2}};

struct Setup {
  onexn_conv_shape shape{};
  std::vector<uint32_t> group_ptr, kept_cin;
  std::vector<int8_t> weights, input, output;
  std::vector<int32_t> bias;
  std::vector<float> scales;
  onexn_qconv_quant quant{};
  onexn_block_index index{};
};

Setup Make(const Layer& l, int n, double sparsity) {
  Setup s;
  const int in = l.hw * l.stride, pad = ((l.hw - 1) * l.stride + l.k - in) / 2;  // SAME: the smaller half first
  s.shape = {1, in, in, l.cin, l.hw, l.hw, l.cout, l.k, l.k, l.stride, l.stride, 1, 1, pad, pad, 0.0f, 6.0f};
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  const int groups = (l.cout + n - 1) / n;
  s.group_ptr.push_back(0);
  const size_t taps = static_cast<size_t>(l.k) * l.k;
  s.weights.assign(static_cast<size_t>(l.cout) * taps * l.cin, 0);
  for (int g = 0; g < groups; g++) {
    for (int c = 0; c < l.cin; c++) {
      if (coin(rng) < sparsity) continue;
      s.kept_cin.push_back(static_cast<uint32_t>(c));
      for (int o = g * n; o < std::min(l.cout, (g + 1) * n); o++) {
        for (size_t t = 0; t < taps; t++) {
          s.weights[(static_cast<size_t>(o) * taps + t) * l.cin + c] = static_cast<int8_t>(rng() % 255 - 127);
        }
      }
    }
    s.group_ptr.push_back(static_cast<uint32_t>(s.kept_cin.size()));
  }
  s.bias.assign(l.cout, 100);
  s.scales.assign(l.cout, 0.002f);
  s.input.resize(static_cast<size_t>(in) * in * l.cin);
  for (int8_t& x : s.input) x = static_cast<int8_t>(rng() % 256);
  s.output.resize(static_cast<size_t>(l.hw) * l.hw * l.cout);
  s.quant = {0.02f, -3, 0.05f, -128, s.scales.data()};
  s.index = {n, groups, s.group_ptr.data(), s.kept_cin.empty() ? nullptr : s.kept_cin.data()};
  return s;
}

// Median microseconds of `reps` runs (after one warm-up), or -1 if create fails.
double Time(Setup& s, const onexn_qs8_ukernel_config* uk, int reps) {
  onexn_qconv* conv = uk != nullptr ? onexn_qconv_create_with_ukernel(&s.shape, &s.index, s.weights.data(),
                                                                      s.bias.data(), &s.quant, uk, nullptr, 0)
                                    : onexn_qconv_create(&s.shape, &s.index, s.weights.data(), s.bias.data(),
                                                         &s.quant, ONEXN_ISA_AUTO, nullptr, 0);
  if (conv == nullptr) return -1.0;
  onexn_qconv_run(conv, s.input.data(), s.output.data(), nullptr);
  std::vector<double> times;
  for (int r = 0; r < reps; r++) {
    const auto t0 = std::chrono::steady_clock::now();
    onexn_qconv_run(conv, s.input.data(), s.output.data(), nullptr);
    times.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  onexn_qconv_destroy(conv);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int n = 16, reps = 20;
  std::string kernel_filter, layer_filter;  // substrings of the microkernel names and layer labels to run
  for (int i = 1; i < argc; i++) {
    if (std::strncmp(argv[i], "--n=", 4) == 0) n = std::atoi(argv[i] + 4);
    if (std::strncmp(argv[i], "--reps=", 7) == 0) reps = std::atoi(argv[i] + 7);
    if (std::strncmp(argv[i], "--kernel=", 9) == 0) kernel_filter = argv[i] + 9;
    if (std::strncmp(argv[i], "--layer=", 8) == 0) layer_filter = argv[i] + 8;
  }
  std::vector<const onexn_qs8_ukernel_config*> kernels;
#define ONEXN_QS8_SPCONV_UKERNEL(isa, name, ukernel, nr, kr, w_int16, input_offset, x_bytes, gather, strip) \
  if (onexn_isa_supported(isa) && std::string(name).find(kernel_filter) != std::string::npos) \
    kernels.push_back(onexn_qconv_ukernel(name));
#include "qs8-qc8w-spconv/qs8-qc8w-spconv.inc"
#undef ONEXN_QS8_SPCONV_UKERNEL
  std::printf("int8 1xN, n=%d, 1 thread, median of %d runs, microseconds (dense-equivalent GMAC/s)\n", n, reps);
  std::printf("%-16s %-8s", "layer", "sparsity");
  for (const auto* uk : kernels) std::printf(" %24s", uk->name + std::strlen("qs8-qc8w-spconv-"));
  std::printf(" %24s %24s\n", "dispatched", "dispatched, dense");
  for (const Layer& l : kLayers) {
    char name[32];
    std::snprintf(name, sizeof(name), "%s%dx%dx%d->%d", l.k == 1 ? "" : l.k == 3 ? "3x3 " : "7x7 ",
                  l.hw * l.stride, l.hw * l.stride, l.cin, l.cout);
    if (std::string(name).find(layer_filter) == std::string::npos) continue;
    const double macs = static_cast<double>(l.hw) * l.hw * l.cin * l.cout * l.k * l.k;
    Setup dense = Make(l, n, 0.0);
    const double dense_us = Time(dense, nullptr, reps);
    for (double sparsity : {0.5, 0.75}) {
      Setup s = Make(l, n, sparsity);
      std::printf("%-16s %-8.2f", name, sparsity);
      for (const auto* uk : kernels) {
        const double us = Time(s, uk, reps);
        std::printf(" %12.1f (%8.1f)", us, macs / us / 1e3);
      }
      const double us = Time(s, nullptr, reps);
      std::printf(" %12.1f (%8.1f)", us, macs / us / 1e3);
      std::printf(" %12.1f (%8.1f)\n", dense_us, macs / dense_us / 1e3);
    }
  }
  return 0;
}

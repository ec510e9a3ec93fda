// The timings the conv cost model (kernels/operators/conv-cost.c) is fitted to: every 1xN microkernel
// that can serve a block width, on MobileNetV2 and ResNet-50 layer shapes, N 1-16 at 50/75/90% sparsity,
// next to the dense kernel with every block kept. Fastest of many calls (robust against other processes
// sharing the machine), on one thread or on a pool of --threads. benchmarks/fit_conv_cost.py fits the
// coefficients from its output.
//   bazel run //tflite_delegate:conv_cost_bench -- [--isa=avx2] [--seconds=0.05] [--threads=2] > timings.txt
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "onexn_kernels.h"
#include "operators/operators.h"

namespace {

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

template <typename F>
double Fastest(F&& f, double seconds) {
  f();
  double best = 1e9;
  const double start = Now();
  for (int calls = 0; calls < 15 || Now() - start < seconds; calls++) {
    const double t0 = Now();
    f();
    best = std::min(best, Now() - t0);
  }
  return best;
}

struct Layer {
  int h, w, cin, cout, k;
};

const Layer kLayers[] = {
    {112, 112, 16, 96, 1}, {112, 112, 32, 16, 1}, {56, 56, 24, 144, 1}, {56, 56, 144, 24, 1}, {28, 28, 32, 192, 1},
    {28, 28, 192, 32, 1},  {14, 14, 64, 384, 1},  {14, 14, 384, 64, 1}, {14, 14, 96, 576, 1}, {14, 14, 576, 96, 1},
    {7, 7, 160, 960, 1},   {7, 7, 960, 160, 1},   {56, 56, 64, 64, 3},  {28, 28, 128, 128, 3}, {7, 7, 2048, 512, 1},
    {1, 1, 1280, 1000, 1}, {1, 1, 2048, 1000, 1},  // the classifier heads (FULLY_CONNECTED as a 1x1 image)
};

// A random kept-block index of width n at `sparsity`, and the weights with the other blocks zeroed.
struct Pruned {
  std::vector<uint32_t> group_ptr, kept_cin;
  std::vector<float> weights;
  onexn_block_index index;
  double kept_fraction;
};

Pruned Prune(const Layer& l, int n, double sparsity, const std::vector<float>& dense, std::mt19937& rng) {
  Pruned p;
  const int groups = (l.cout + n - 1) / n;
  std::uniform_real_distribution<double> coin(0, 1);
  std::vector<char> keep(static_cast<size_t>(groups) * l.cin);
  p.group_ptr.push_back(0);
  for (int g = 0; g < groups; g++) {
    for (int c = 0; c < l.cin; c++) {
      keep[static_cast<size_t>(g) * l.cin + c] = coin(rng) >= sparsity;
      if (keep[static_cast<size_t>(g) * l.cin + c]) p.kept_cin.push_back(c);
    }
    p.group_ptr.push_back(static_cast<uint32_t>(p.kept_cin.size()));
  }
  p.weights = dense;
  const int taps = l.k * l.k;
  for (int o = 0; o < l.cout; o++)
    for (int t = 0; t < taps; t++)
      for (int c = 0; c < l.cin; c++)
        if (!keep[static_cast<size_t>(o / n) * l.cin + c]) p.weights[(static_cast<size_t>(o) * taps + t) * l.cin + c] = 0;
  p.index = {n, groups, p.group_ptr.data(), p.kept_cin.empty() ? nullptr : p.kept_cin.data()};
  p.kept_fraction = static_cast<double>(p.kept_cin.size()) / (static_cast<double>(groups) * l.cin);
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  onexn_isa isa = ONEXN_ISA_AUTO;
  double seconds = 0.05;
  int threads = 1;
  for (int i = 1; i < argc; i++) {
    if (std::strncmp(argv[i], "--isa=", 6) == 0 && onexn_isa_from_name(argv[i] + 6, &isa) != 0) return 2;
    if (std::strncmp(argv[i], "--seconds=", 10) == 0) seconds = std::atof(argv[i] + 10);
    if (std::strncmp(argv[i], "--threads=", 10) == 0) threads = std::atoi(argv[i] + 10);
  }
  onexn_threadpool* pool = threads > 1 ? onexn_threadpool_create(threads) : nullptr;
  isa = onexn_isa_resolve(isa);
  const char* candidates[] = {"f32-spconv-8x16-avx512f",          "f32-spconv-4x16-avx2",
                              "f32-spconv-8x8-avx2",              "f32-spconv-8x4-avx2",
                              "f32-spconv-32x8-pixelvec-avx512f", "f32-spconv-32x4-pixelvec-avx512f",
                              "f32-spconv-8x8-neon",              "f32-spconv-8x4-neon"};
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> val(-1, 1);
  std::printf("# isa=%s threads=%d; columns: h w cin cout k n sparsity kernel ms dense_ms kept_fraction\n",
              onexn_isa_name(isa), onexn_threadpool_size(pool));
  for (const Layer& l : kLayers) {
    onexn_conv_shape s = {};
    s.batch = 1;
    s.in_h = s.out_h = l.h;
    s.in_w = s.out_w = l.w;
    s.cin = l.cin;
    s.cout = l.cout;
    s.kh = s.kw = l.k;
    s.stride_h = s.stride_w = s.dilation_h = s.dilation_w = 1;
    s.pad_top = s.pad_left = l.k / 2;
    s.out_min = 0;
    s.out_max = 6;
    std::vector<float> w(static_cast<size_t>(l.cout) * l.k * l.k * l.cin), bias(l.cout);
    std::vector<float> in(static_cast<size_t>(l.h) * l.w * l.cin), out(static_cast<size_t>(l.h) * l.w * l.cout);
    for (float& x : w) x = val(rng);
    for (float& x : bias) x = val(rng);
    for (float& x : in) x = val(rng);
    const Pruned all = Prune(l, onexn_dense_block_width(isa), 0.0, w, rng);
    onexn_conv* dense = onexn_conv_create(&s, &all.index, all.weights.data(), bias.data(), isa, nullptr, 0);
    const double dense_s = Fastest([&] { onexn_conv_run(dense, in.data(), out.data(), pool); }, seconds);
    onexn_conv_destroy(dense);
    for (int n : {1, 2, 4, 8, 16}) {
      for (double sparsity : {0.5, 0.75, 0.9}) {
        const Pruned p = Prune(l, n, sparsity, w, rng);
        std::vector<const onexn_ukernel_config*> kernels;
        const onexn_ukernel_config* dispatched = nullptr;
        if (onexn_select_ukernel(isa, n, static_cast<size_t>(l.h) * l.w, &dispatched) == 0) kernels.push_back(dispatched);
        for (const char* name : candidates) {
          const onexn_ukernel_config* uk = onexn_conv_ukernel(name);
          if (uk != nullptr && uk != dispatched && onexn_isa_supported(uk->isa) &&
              (uk->isa == isa || (isa == ONEXN_ISA_AVX512 && uk->isa == ONEXN_ISA_AVX2))) {
            kernels.push_back(uk);
          }
        }
        for (const onexn_ukernel_config* uk : kernels) {
          onexn_conv* conv = onexn_conv_create_with_ukernel(&s, &p.index, p.weights.data(), bias.data(), uk, nullptr, 0);
          if (conv == nullptr) continue;
          const double t = Fastest([&] { onexn_conv_run(conv, in.data(), out.data(), pool); }, seconds);
          std::printf("%d %d %d %d %d %d %.2f %s %.4f %.4f %.3f\n", l.h, l.w, l.cin, l.cout, l.k, n, sparsity, uk->name,
                      t * 1e3, dense_s * 1e3, p.kept_fraction);
          onexn_conv_destroy(conv);
        }
      }
    }
  }
  onexn_threadpool_destroy(pool);
  return 0;
}

// Tests of the portable operators the delegate runs between its convolutions, against naive references:
// zero padding (ranks 1..5, padding on every side, empty dims), concatenation (any axis, many inputs),
// softmax (every ISA's microkernel: beta, rows, ragged tails, large and equal values, in place), and the
// dense block width.
//   bazel test //tflite_delegate:tensor_ops_test
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "onexn_kernels.h"
#include "test_util.h"

namespace {

using onexn_test::Check;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

size_t Product(const std::vector<size_t>& d) {
  size_t n = 1;
  for (size_t v : d) n *= v;
  return n;
}

// Row-major index of a multi-index.
size_t Flat(const std::vector<size_t>& idx, const std::vector<size_t>& dims) {
  size_t f = 0;
  for (size_t k = 0; k < dims.size(); k++) f = f * dims[k] + idx[k];
  return f;
}

// Advances a multi-index over dims; false after the last one.
bool Next(std::vector<size_t>* idx, const std::vector<size_t>& dims) {
  for (size_t k = dims.size(); k-- > 0;) {
    if (++(*idx)[k] < dims[k]) return true;
    (*idx)[k] = 0;
  }
  return false;
}

void TestPad(const std::vector<size_t>& in_dims, const std::vector<size_t>& before, const std::vector<size_t>& after,
             unsigned seed, onexn_threadpool* pool = nullptr) {
  std::string what = "pad (" + std::to_string(onexn_threadpool_size(pool)) + " threads) [";
  for (size_t k = 0; k < in_dims.size(); k++) {
    what += std::to_string(before[k]) + "+" + std::to_string(in_dims[k]) + "+" + std::to_string(after[k]) + " ";
  }
  what += "]";
  std::vector<size_t> out_dims(in_dims.size());
  for (size_t k = 0; k < in_dims.size(); k++) out_dims[k] = before[k] + in_dims[k] + after[k];
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  std::vector<float> in(std::max<size_t>(Product(in_dims), 1));  // one float at least: a valid pointer
  for (float& x : in) x = val(rng) + 2.0f;  // never 0: a copied value cannot pass for padding
  const size_t total = Product(out_dims);
  std::vector<float> out;
  const bool guards = onexn_test::RunGuarded(
      total,
      [&](float* o) { onexn_pad_run(in.data(), o, in_dims.size(), in_dims.data(), before.data(), after.data(), pool); },
      &out);
  Check(guards, what + ": wrote outside the output");
  if (total == 0) return;
  std::vector<size_t> idx(out_dims.size(), 0);
  size_t wrong = 0;
  do {
    bool inside = true;
    std::vector<size_t> src(idx.size());
    for (size_t k = 0; k < idx.size(); k++) {
      inside &= idx[k] >= before[k] && idx[k] < before[k] + in_dims[k];
      src[k] = idx[k] - before[k];
    }
    const float want = inside ? in[Flat(src, in_dims)] : 0.0f;
    wrong += out[Flat(idx, out_dims)] != want;
  } while (Next(&idx, out_dims));
  Check(wrong == 0, what + ": " + std::to_string(wrong) + " wrong values");
}

void TestConcat(size_t outer, const std::vector<size_t>& sizes, size_t inner, unsigned seed) {
  const std::string what = "concat outer=" + std::to_string(outer) + " inputs=" + std::to_string(sizes.size()) +
                           " inner=" + std::to_string(inner);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> val(-8.0f, 8.0f);
  std::vector<std::vector<float>> inputs;
  std::vector<const float*> ptrs;
  size_t axis = 0;
  for (size_t s : sizes) {
    inputs.emplace_back(outer * s * inner);
    for (float& x : inputs.back()) x = val(rng);
    axis += s;
  }
  for (const auto& v : inputs) ptrs.push_back(v.data());
  std::vector<float> out;
  const bool ok = onexn_test::RunGuarded(
      outer * axis * inner,
      [&](float* o) { onexn_concat_run(sizes.size(), ptrs.data(), sizes.data(), outer, inner, o); }, &out);
  size_t wrong = 0;
  for (size_t o = 0; o < outer; o++) {
    size_t at = 0;
    for (size_t i = 0; i < sizes.size(); i++) {
      for (size_t k = 0; k < sizes[i] * inner; k++) {
        wrong += out[(o * axis + at) * inner + k] != inputs[i][o * sizes[i] * inner + k];
      }
      at += sizes[i];
    }
  }
  Check(ok && wrong == 0, what + ": " + std::to_string(wrong) + " wrong values" + (ok ? "" : ", wrote outside"));
}

void TestSoftmax(onexn_isa isa, size_t rows, size_t channels, float beta, float spread, unsigned seed) {
  const std::string what = std::string(onexn_softmax_kernel_name(isa)) + " rows=" + std::to_string(rows) +
                           " channels=" + std::to_string(channels) + " beta=" + std::to_string(beta) +
                           " spread=" + std::to_string(spread);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> val(-spread, spread);
  std::vector<float> in(rows * channels);
  for (float& x : in) x = val(rng) + 50.0f;  // far from 0: exp without the max would overflow at spread 100
  std::vector<float> out(in.size()), in_place(in);
  onexn_softmax_run(isa, in.data(), out.data(), rows, channels, beta);
  onexn_softmax_run(isa, in_place.data(), in_place.data(), rows, channels, beta);
  size_t wrong = 0;
  for (size_t r = 0; r < rows; r++) {
    double max = -kInf, sum = 0;
    for (size_t c = 0; c < channels; c++) max = std::max(max, double{in[r * channels + c]});
    for (size_t c = 0; c < channels; c++) sum += std::exp(beta * (in[r * channels + c] - max));
    for (size_t c = 0; c < channels; c++) {
      const double want = std::exp(beta * (in[r * channels + c] - max)) / sum;
      const float got = out[r * channels + c];
      wrong += !(std::fabs(got - want) <= 1e-6 + 1e-5 * want) || got != in_place[r * channels + c];
    }
  }
  Check(wrong == 0, what + ": " + std::to_string(wrong) + " wrong values");
}

}  // namespace

TEST_CASE("pad: ranks 1 to 5, padding before and after every dimension") {
  TestPad({7}, {2}, {3}, 1);
  TestPad({7}, {0}, {0}, 2);
  TestPad({3, 5}, {1, 0}, {0, 2}, 3);
  TestPad({2, 4, 3}, {0, 1, 1}, {1, 2, 0}, 4);
  TestPad({1, 6, 5, 3}, {0, 3, 3, 0}, {0, 3, 3, 0}, 5);  // ResNet's stem: 3 on each side of H and W
  TestPad({2, 5, 4, 16}, {0, 1, 0, 0}, {0, 1, 1, 0}, 6);
  TestPad({2, 3, 4, 5}, {1, 0, 2, 1}, {1, 1, 0, 2}, 7);  // batch and channels too
  TestPad({2, 2, 3, 2, 3}, {1, 0, 1, 0, 2}, {0, 1, 0, 2, 1}, 8);
  TestPad({1, 0, 3, 2}, {0, 1, 0, 0}, {0, 1, 1, 0}, 9);  // an empty input dim: all zeros
}

TEST_CASE("pad over the pool: tensors above 64 KB split by their first dimension longer than 1") {
  for (int threads : {2, 3, 4}) {
    onexn_threadpool* pool = onexn_threadpool_create(threads);
    TestPad({1, 224, 224, 3}, {0, 3, 3, 0}, {0, 3, 3, 0}, 10, pool);  // ResNet-50's stem
    TestPad({1, 112, 112, 16}, {0, 1, 1, 0}, {0, 1, 1, 0}, 11, pool);  // its max pool's (fewer channels)
    TestPad({1, 7, 150, 40}, {0, 2, 0, 0}, {0, 3, 1, 0}, 12, pool);    // fewer rows than tasks
    TestPad({3, 50, 40, 8}, {0, 2, 1, 0}, {0, 0, 1, 0}, 13, pool);     // the batch split
    TestPad({1, 40, 40, 40}, {2, 1, 0, 0}, {1, 0, 1, 0}, 14, pool);    // a padded batch of one
    TestPad({1, 1, 90, 200}, {0, 0, 0, 1}, {0, 0, 0, 7}, 15, pool);    // a single row: columns split
    TestPad({1, 0, 100, 100}, {0, 1, 0, 0}, {0, 200, 0, 0}, 16, pool);  // all padding
    onexn_threadpool_destroy(pool);
  }
}

TEST_CASE("concat: axes, many inputs, an empty one") {
  TestConcat(1, {5, 3}, 1, 1);
  TestConcat(4, {2, 7, 1}, 3, 2);            // a middle axis
  TestConcat(6, {16, 24, 8, 32}, 1, 3);      // channels (the last axis) of NHWC
  TestConcat(1, {2, 3}, 40, 4);              // the first axis
  TestConcat(5, {3, 4, 5, 6, 7, 8, 9, 10, 11}, 2, 5);
  TestConcat(2, {0, 4}, 3, 6);               // an empty input
}

TEST_CASE("softmax: beta, rows, channel counts, in place, every ISA's microkernel") {
  for (onexn_isa isa : {ONEXN_ISA_SCALAR, ONEXN_ISA_AVX2, ONEXN_ISA_AVX512, ONEXN_ISA_NEON}) {
    const std::string name = onexn_softmax_kernel_name(isa);
    Check((name == "f32-softmax-scalar") == (isa == ONEXN_ISA_SCALAR || !onexn_isa_supported(isa)),
          "the ISA's own softmax kernel, or scalar where it is missing: " + name);
    if (!onexn_isa_supported(isa)) continue;
    // Ragged tails of every vector width (4, 8, 16 lanes) and whole vectors only.
    for (size_t channels : {1, 2, 3, 5, 7, 10, 15, 16, 17, 33, 1000, 1001}) {
      TestSoftmax(isa, 3, channels, 1.0f, 4.0f, unsigned(channels));
    }
    TestSoftmax(isa, 1, 64, 0.5f, 10.0f, 11);
    TestSoftmax(isa, 2, 100, 2.5f, 100.0f, 12);  // exp(x) alone would overflow; most exps flush to 0
    TestSoftmax(isa, 4, 16, 1.0f, 0.0f, 13);     // all equal: 1/16 each
  }
  Check(std::string(onexn_softmax_kernel_name(ONEXN_ISA_AUTO)) ==
            onexn_softmax_kernel_name(onexn_isa_resolve(ONEXN_ISA_AUTO)),
        "auto softmax kernel");
}

TEST_CASE("dense block width: a whole vector of output channels per panel, every ISA") {
  Check(onexn_dense_block_width(ONEXN_ISA_SCALAR) == 8, "scalar");
  Check(onexn_dense_block_width(ONEXN_ISA_AVX2) == 16, "avx2");
  Check(onexn_dense_block_width(ONEXN_ISA_AVX512) == 16, "avx512");
  Check(onexn_dense_block_width(ONEXN_ISA_NEON) == 8, "neon");
  Check(onexn_dense_block_width(ONEXN_ISA_AUTO) == onexn_dense_block_width(onexn_isa_resolve(ONEXN_ISA_AUTO)),
        "auto is the best ISA's");
}

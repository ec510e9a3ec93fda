// Tests of onexn_dwblock_chain (consecutive depthwise blocks run at two threads as one job) against the
// blocks run one after the other on one thread: bit-identical outputs of every block for random float and
// int8 chains (with and without expansions and projections, depthwise layers alone, strides 1 and 2, 1x1,
// 3x3 and 5x5 windows, dilation, residual ADDs (int8: the block's output either operand, each tensor its own
// quantization), images of 1 to 40 rows), many runs at 2 threads (the threads meet at other rows each
// time), with the worker held back (the caller then runs both sides), and at 1 and 3 threads (block by
// block); chains that do not chain are refused with a message.
//   bazel test //tflite_delegate:dwblock_chain_test
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "common/threadpool.h"
#include "onexn_kernels.h"
#include "operators/operators.h"
#include "test_util.h"

namespace {

using onexn_test::AvailableIsas;
using onexn_test::Check;
using onexn_test::RandomCaseCount;


// One block of a chain: its layers (any of them may be absent but the depthwise), made for the ISA.
struct Block {
  onexn_conv* expand = nullptr;
  onexn_dwconv* dw = nullptr;
  onexn_conv* project = nullptr;
  onexn_dwblock* block = nullptr;
  onexn_dwblock_link link{};
  int out_h = 0, out_w = 0, out_c = 0;
  ~Block() {
    onexn_dwblock_destroy(block);
    onexn_conv_destroy(expand);
    onexn_conv_destroy(project);
    onexn_dwconv_destroy(dw);
  }
};

// A pointwise 1xN layer of random kept blocks and weights.
onexn_conv* Pointwise(std::mt19937* rng, int batch, int h, int w, int cin, int cout, bool relu6, onexn_isa isa) {
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  const int n = int(1u << ((*rng)() % 5));  // 1 .. 16
  const onexn_conv_shape s = onexn_test::PointwiseShape(batch, h, w, cin, cout, relu6);
  std::vector<uint32_t> group_ptr{0}, kept;
  for (int g = 0; g < (cout + n - 1) / n; g++) {
    for (int k = 0; k < cin; k++) {
      if ((*rng)() % 2 == 0) kept.push_back(uint32_t(k));
    }
    group_ptr.push_back(uint32_t(kept.size()));
  }
  std::vector<float> weights(size_t(cout) * cin), bias(static_cast<size_t>(cout));
  for (float& x : weights) x = val(*rng);
  for (float& x : bias) x = val(*rng);
  const onexn_block_index index{n, int(group_ptr.size()) - 1, group_ptr.data(), kept.data()};
  char err[256] = "";
  onexn_conv* conv = onexn_conv_create(&s, &index, weights.data(), bias.data(), isa, err, sizeof(err));
  Check(conv != nullptr, std::string("pointwise create: ") + err);
  return conv;
}

// One block's random layout on an h x w x c input: which 1x1 layers it has, its depthwise, a residual ADD.
struct Layout {
  bool expand = false, project = false, residual = false;
  int mid = 0, cout = 0;
  onexn_dwconv_shape d{};
};

Layout RandomLayout(std::mt19937* rng, int batch, int h, int w, int c, std::string* what) {
  Layout l;
  const int r = int((*rng)() % 9);  // 0: no expansion, 1: no projection, 2: the depthwise alone
  l.expand = r != 0 && r != 2;
  l.project = r != 1 && r != 2;
  l.mid = l.expand ? 8 + int((*rng)() % 5) * 8 : c;
  const int window = int((*rng)() % 8);  // 1x1 windows of stride 2 leave rows of their input unread
  const int kh = window == 0 ? 5 : window == 1 ? 1 : 3;
  const int stride = h >= 4 && (*rng)() % 4 == 0 ? 2 : 1;
  const int dilation = stride == 1 && (*rng)() % 6 == 0 ? 2 : 1;
  onexn_dwconv_shape& d = l.d;
  d.batch = batch;
  d.in_h = h;
  d.in_w = w;
  d.channels = l.mid;
  d.kh = d.kw = kh;
  d.stride_h = d.stride_w = stride;
  d.dilation_h = d.dilation_w = dilation;
  d.out_h = (h + stride - 1) / stride;  // SAME
  d.out_w = (w + stride - 1) / stride;
  const int span = (kh - 1) * dilation + 1;
  d.pad_top = std::max(0, (d.out_h - 1) * stride + span - h) / 2;
  d.pad_left = std::max(0, (d.out_w - 1) * stride + span - w) / 2;
  d.out_min = 0.0f;
  d.out_max = 6.0f;
  l.residual = l.project && stride == 1 && (*rng)() % 2 == 0;
  l.cout = l.residual ? c : 8 + int((*rng)() % 4) * 4;
  char line[160];
  std::snprintf(line, sizeof(line), "[%dx%dx%d %s%s k%d s%d d%d%s] ", h, w, c, l.expand ? "e" : "",
                l.project ? "p" : "", kh, stride, dilation, l.residual ? " +add" : "");
  *what += line;
  return l;
}

// A random chain of `count` blocks on an h x w x c input; nullptr-free blocks, or empty when a layer's
// kernel cannot run pixel range by pixel range (the block is then refused, as onexn_dwblock_create says).
std::vector<std::unique_ptr<Block>> RandomChain(std::mt19937* rng, int count, int h, int w, int c, onexn_isa isa,
                                                std::string* what, int batch = 1) {
  std::vector<std::unique_ptr<Block>> chain;
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  for (int k = 0; k < count; k++) {
    auto b = std::make_unique<Block>();
    const Layout l = RandomLayout(rng, batch, h, w, c, what);
    if (l.expand) b->expand = Pointwise(rng, batch, h, w, c, l.mid, true, isa);
    std::vector<float> dww(size_t(l.d.kh) * l.d.kw * l.mid), dwb(static_cast<size_t>(l.mid));
    for (float& x : dww) x = val(*rng);
    for (float& x : dwb) x = val(*rng);
    char err[256] = "";
    b->dw = onexn_dwconv_create(&l.d, dww.data(), dwb.data(), isa, err, sizeof(err));
    Check(b->dw != nullptr, *what + ": dw create: " + err);
    if (l.project) b->project = Pointwise(rng, batch, l.d.out_h, l.d.out_w, l.mid, l.cout, false, isa);
    if (b->dw == nullptr || (l.expand && b->expand == nullptr) || (l.project && b->project == nullptr)) return {};
    b->block = onexn_dwblock_create(b->expand, b->dw, b->project, err, sizeof(err));
    if (b->block == nullptr) {
      Check(std::strstr(err, "differently by tile") != nullptr, *what + ": block create: " + err);
      return {};
    }
    b->link = {b->block, l.residual ? 1 : 0, -2.5f, 3.0f, nullptr, 0, isa};
    b->out_h = l.d.out_h;
    b->out_w = l.d.out_w;
    b->out_c = l.project ? l.cout : l.mid;
    h = l.d.out_h;
    w = l.d.out_w;
    c = b->out_c;
    chain.push_back(std::move(b));
  }
  return chain;
}

// The quantization of one int8 tensor.
struct Quant {
  float scale;
  int32_t zero_point;
};

Quant RandomQuant(std::mt19937* rng) {
  return {std::uniform_real_distribution<float>(0.01f, 0.1f)(*rng),
          int32_t(std::uniform_int_distribution<int>(-128, 127)(*rng))};
}

// One int8 block of a chain and its ADD's parameters.
struct QBlock {
  onexn_qconv* expand = nullptr;
  onexn_qdwconv* dw = nullptr;
  onexn_qconv* project = nullptr;
  onexn_dwblock* block = nullptr;
  onexn_qadd_params add{};
  onexn_dwblock_link link{};
  size_t elements = 0;
  ~QBlock() {
    onexn_dwblock_destroy(block);
    onexn_qconv_destroy(expand);
    onexn_qconv_destroy(project);
    onexn_qdwconv_destroy(dw);
  }
};

// A pointwise int8 1xN layer of random kept blocks, weights, bias and per-channel scales.
onexn_qconv* QPointwise(std::mt19937* rng, int h, int w, int cin, int cout, bool relu6, Quant in, Quant out,
                        onexn_isa isa) {
  const int n = int(1u << ((*rng)() % 5));  // 1 .. 16
  const onexn_conv_shape s = onexn_test::PointwiseShape(1, h, w, cin, cout, relu6);
  std::vector<uint32_t> group_ptr{0}, kept;
  std::vector<int8_t> weights(size_t(cout) * cin, 0);
  std::uniform_int_distribution<int> weight(-127, 127);
  for (int g = 0; g < (cout + n - 1) / n; g++) {
    for (int k = 0; k < cin; k++) {
      if ((*rng)() % 2 != 0) continue;
      kept.push_back(uint32_t(k));
      for (int o = g * n; o < std::min(cout, (g + 1) * n); o++) weights[size_t(o) * cin + k] = int8_t(weight(*rng));
    }
    group_ptr.push_back(uint32_t(kept.size()));
  }
  std::vector<int32_t> bias;
  std::vector<float> scales;
  for (int o = 0; o < cout; o++) {
    bias.push_back(std::uniform_int_distribution<int>(-5000, 5000)(*rng));
    scales.push_back(std::uniform_real_distribution<float>(0.002f, 0.012f)(*rng));
  }
  const onexn_block_index index{n, int(group_ptr.size()) - 1, group_ptr.data(), kept.data()};
  const onexn_qconv_quant q{in.scale, in.zero_point, out.scale, out.zero_point, scales.data()};
  char err[256] = "";
  onexn_qconv* conv = onexn_qconv_create(&s, &index, weights.data(), bias.data(), &q, isa, err, sizeof(err));
  Check(conv != nullptr, std::string("int8 pointwise create: ") + err);
  return conv;
}

// The int8 counterpart of RandomChain, one image: each block's output quantization is the next one's input's.
std::vector<std::unique_ptr<QBlock>> RandomQChain(std::mt19937* rng, int count, int h, int w, int c, onexn_isa isa,
                                                  std::string* what) {
  std::vector<std::unique_ptr<QBlock>> chain;
  Quant x = RandomQuant(rng);
  for (int k = 0; k < count; k++) {
    auto b = std::make_unique<QBlock>();
    const Layout l = RandomLayout(rng, 1, h, w, c, what);
    const Quant e = l.expand ? RandomQuant(rng) : x, dwo = RandomQuant(rng);
    const Quant p = l.project ? RandomQuant(rng) : dwo, y = l.residual ? RandomQuant(rng) : p;
    if (l.expand) b->expand = QPointwise(rng, h, w, c, l.mid, true, x, e, isa);
    std::vector<int8_t> dww(size_t(l.d.kh) * l.d.kw * l.mid);
    for (int8_t& v : dww) v = int8_t(std::uniform_int_distribution<int>(-127, 127)(*rng));
    std::vector<int32_t> dwb;
    std::vector<float> dws;
    for (int ch = 0; ch < l.mid; ch++) {
      dwb.push_back(std::uniform_int_distribution<int>(-3000, 3000)(*rng));
      dws.push_back(std::uniform_real_distribution<float>(0.003f, 0.013f)(*rng));
    }
    const onexn_qconv_quant dq{e.scale, e.zero_point, dwo.scale, dwo.zero_point, dws.data()};
    char err[256] = "";
    b->dw = onexn_qdwconv_create(&l.d, dww.data(), dwb.data(), &dq, isa, err, sizeof(err));
    Check(b->dw != nullptr, *what + ": int8 dw create: " + err);
    if (l.project) b->project = QPointwise(rng, l.d.out_h, l.d.out_w, l.mid, l.cout, false, dwo, p, isa);
    if (b->dw == nullptr || (l.expand && b->expand == nullptr) || (l.project && b->project == nullptr)) return {};
    b->block = onexn_qdwblock_create(b->expand, b->dw, b->project, err, sizeof(err));
    Check(b->block != nullptr, *what + ": int8 block create: " + err);
    if (b->block == nullptr) return {};
    const int operand = int((*rng)() % 2);  // the block's output as either input of its ADD
    if (l.residual) {
      const Quant a = operand == 0 ? p : x, c2 = operand == 0 ? x : p;
      const int rc = onexn_qadd_init(&b->add, a.scale, a.zero_point, c2.scale, c2.zero_point, y.scale, y.zero_point,
                                     -INFINITY, INFINITY, err, sizeof(err));
      Check(rc == 0, *what + ": ADD init: " + err);
      if (rc != 0) return {};
    }
    b->link = {b->block, l.residual ? 1 : 0, 0.0f, 0.0f, l.residual ? &b->add : nullptr, operand, isa};
    b->elements = size_t(l.d.out_h) * l.d.out_w * (l.project ? l.cout : l.mid);
    x = y;
    h = l.d.out_h;
    w = l.d.out_w;
    c = l.project ? l.cout : l.mid;
    chain.push_back(std::move(b));
  }
  return chain;
}

size_t Elements(const Block& b) { return size_t(b.out_h) * b.out_w * b.out_c; }

// Makes the chain of these links and runs it at 2 threads many times (the sides meet elsewhere), then with
// the worker held back, then at 1 and 3 threads (block by block), each time against `want`, each block's
// output bit for bit; then at 2 threads with the outputs in a ring of three buffers, the input in the third
// (as much sharing as onexn_dwblock_chain_run allows), against the last three blocks' outputs.
// run_chain(chain, input, outputs, pool): onexn_dwblock_chain_run or onexn_qdwblock_chain_run;
// run_other_kind(chain, pool): the other, which must refuse the chain.
template <typename T, typename RunChain, typename RunOtherKind>
void CheckChain(const std::vector<onexn_dwblock_link>& links, const std::vector<T>& input,
                const std::vector<std::vector<T>>& want, RunChain run_chain, RunOtherKind run_other_kind,
                onexn_threadpool* pool2, onexn_threadpool* pool3, const std::string& what, bool profile) {
  char err[256] = "";
  onexn_dwblock_chain* ch = onexn_dwblock_chain_create(links.data(), links.size(), err, sizeof(err));
  Check(ch != nullptr, what + ": chain create: " + err);
  if (ch == nullptr) return;
  onexn_dwblock_chain_side side{};
  size_t runs = 0;
  Check(onexn_dwblock_chain_stats(ch, 0, 0, &side, &runs) == -1, what + ": no stats before profiling is on");
  if (profile) Check(onexn_dwblock_chain_profile(ch, 1) == 0, what + ": profiling on");
  std::vector<std::vector<T>> got;
  for (const auto& v : want) got.emplace_back(v.size());
  std::vector<T*> outs;
  for (auto& g : got) outs.push_back(g.data());
  struct Run {
    onexn_threadpool* pool;
    bool hold;
    int reps;
    const char* name;
  };
  for (const Run& r : {Run{pool2, false, 12, "2 threads"}, Run{pool2, true, 1, "2 threads, the caller alone"},
                       Run{nullptr, false, 1, "1 thread"}, Run{pool3, false, 2, "3 threads"}}) {
    onexn_threadpool_hold_workers(r.pool, r.hold);
    for (int rep = 0; rep < r.reps; rep++) {
      for (auto& g : got) std::fill(g.begin(), g.end(), std::is_same<T, float>::value ? T(NAN) : T(0x5A));
      Check(run_chain(ch, input.data(), outs.data(), r.pool) == 0, what + ": chain run");
      for (size_t k = 0; k < want.size(); k++) {
        const bool same = std::memcmp(got[k].data(), want[k].data(), want[k].size() * sizeof(T)) == 0;
        Check(same, what + ": " + r.name + ", run " + std::to_string(rep) + ": block " + std::to_string(k) +
                        " differs from the blocks apart");
      }
    }
    onexn_threadpool_hold_workers(r.pool, 0);
  }
  size_t largest = input.size();
  for (const auto& v : want) largest = std::max(largest, v.size());
  std::vector<std::vector<T>> ring(3, std::vector<T>(largest));
  std::vector<T*> ring_outs;
  for (size_t k = 0; k < want.size(); k++) ring_outs.push_back(ring[k % 3].data());
  for (bool hold : {false, true}) {
    onexn_threadpool_hold_workers(pool2, hold);
    for (int rep = 0; rep < (hold ? 1 : 8); rep++) {
      std::copy(input.begin(), input.end(), ring[2].begin());
      Check(run_chain(ch, ring[2].data(), ring_outs.data(), pool2) == 0, what + ": chain run in a ring");
      for (size_t k = want.size() > 3 ? want.size() - 3 : 0; k < want.size(); k++) {
        const bool same = std::memcmp(ring_outs[k], want[k].data(), want[k].size() * sizeof(T)) == 0;
        Check(same, what + ": 2 threads" + (hold ? ", the caller alone" : "") + ", outputs in a ring, run " +
                        std::to_string(rep) + ": block " + std::to_string(k) + " differs from the blocks apart");
      }
    }
    onexn_threadpool_hold_workers(pool2, 0);
  }
  Check(run_other_kind(ch, pool2) == -1, what + ": a run of the other kind: -1");
  if (profile) {
    // 22 runs on the pool of two (12 and 8, and 2 with the caller alone); those at 1 and 3 threads run block by
    // block.
    for (size_t k = 0; k < links.size(); k++) {
      onexn_dwblock_chain_side top{}, bottom{};
      Check(onexn_dwblock_chain_stats(ch, k, 0, &top, &runs) == 0 && onexn_dwblock_chain_stats(ch, k, 1, &bottom, &runs) == 0,
            what + ": stats of block " + std::to_string(k));
      const double rows = double(onexn_dwblock_out_rows(links[k].block));
      Check(runs == 22 && top.rows + bottom.rows == 22 * rows,
            what + ": block " + std::to_string(k) + ": " + std::to_string(runs) + " runs of " +
                std::to_string(top.rows + bottom.rows) + " rows, want 22 of " + std::to_string(22 * rows));
      Check(top.wait_seconds >= 0 && bottom.wait_seconds >= 0 && (top.rows > 0) == (top.compute_seconds > 0) &&
                (bottom.rows > 0) == (bottom.compute_seconds > 0),
            what + ": block " + std::to_string(k) + ": seconds");
    }
    Check(onexn_dwblock_chain_stats(ch, links.size(), 0, &side, &runs) == -1 &&
              onexn_dwblock_chain_stats(ch, 0, 2, &side, &runs) == -1,
          what + ": stats of a block or side that does not exist: -1");
    Check(onexn_dwblock_chain_profile(ch, 0) == 0 && onexn_dwblock_chain_stats(ch, 0, 0, &side, &runs) == -1,
          what + ": no stats once profiling is off");
  }
  onexn_dwblock_chain_destroy(ch);
}

template <typename B>
std::vector<onexn_dwblock_link> Links(const std::vector<std::unique_ptr<B>>& chain) {
  std::vector<onexn_dwblock_link> links;
  for (const auto& b : chain) links.push_back(b->link);
  return links;
}

void TestRandomChain(unsigned seed, onexn_isa isa, onexn_threadpool* pool2, onexn_threadpool* pool3) {
  std::mt19937 rng(seed);
  const int count = 2 + int(rng() % 6), h = 1 + int(rng() % 40), w = 1 + int(rng() % 24), c = 4 + int(rng() % 4) * 4;
  std::string what = std::string(onexn_isa_name(isa)) + " seed " + std::to_string(seed) + ": ";
  const auto chain = RandomChain(&rng, count, h, w, c, isa, &what);
  if (chain.empty()) return;
  std::vector<float> input(size_t(h) * w * c);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (float& x : input) x = normal(rng);
  // The reference: each block on its own, one thread.
  std::vector<std::vector<float>> want;
  const float* in = input.data();
  for (const auto& b : chain) {
    want.emplace_back(Elements(*b));
    const int rc = b->link.residual ? onexn_dwblock_run_add(b->block, in, in, want.back().data(), b->link.add_min,
                                                            b->link.add_max, nullptr, 0, nullptr)
                                    : onexn_dwblock_run(b->block, in, want.back().data(), nullptr, 0, nullptr);
    Check(rc == 0, what + ": block run");
    in = want.back().data();
  }
  std::vector<int8_t> other(input.size());
  std::vector<int8_t*> others(chain.size(), other.data());
  CheckChain(
      Links(chain), input, want,
      [&](onexn_dwblock_chain* ch, const float* in, float* const* outs, onexn_threadpool* pool) {
        return onexn_dwblock_chain_run(ch, in, outs, pool);
      },
      [&](onexn_dwblock_chain* ch, onexn_threadpool* pool) {
        return onexn_qdwblock_chain_run(ch, other.data(), others.data(), pool);
      },
      pool2, pool3, what, seed % 2 == 1);
}

void TestRandomQChain(unsigned seed, onexn_isa isa, onexn_threadpool* pool2, onexn_threadpool* pool3) {
  std::mt19937 rng(seed);
  const int count = 2 + int(rng() % 6), h = 1 + int(rng() % 40), w = 1 + int(rng() % 24), c = 4 + int(rng() % 4) * 4;
  std::string what = std::string("int8 ") + onexn_isa_name(isa) + " seed " + std::to_string(seed) + ": ";
  const auto chain = RandomQChain(&rng, count, h, w, c, isa, &what);
  if (chain.empty()) return;
  std::vector<int8_t> input(size_t(h) * w * c);
  for (int8_t& v : input) v = int8_t(std::uniform_int_distribution<int>(-128, 127)(rng));
  std::vector<std::vector<int8_t>> want;
  const int8_t* in = input.data();
  for (const auto& b : chain) {
    want.emplace_back(b->elements);
    const onexn_dwblock_link& l = b->link;
    const int rc = l.residual ? onexn_qdwblock_run_add(b->block, in, in, want.back().data(), l.qadd, l.block_operand,
                                                       isa, nullptr, 0, nullptr)
                              : onexn_qdwblock_run(b->block, in, want.back().data(), nullptr, 0, nullptr);
    Check(rc == 0, what + ": block run");
    in = want.back().data();
  }
  std::vector<float> other(input.size());
  std::vector<float*> others(chain.size(), other.data());
  CheckChain(
      Links(chain), input, want,
      [&](onexn_dwblock_chain* ch, const int8_t* in, int8_t* const* outs, onexn_threadpool* pool) {
        return onexn_qdwblock_chain_run(ch, in, outs, pool);
      },
      [&](onexn_dwblock_chain* ch, onexn_threadpool* pool) {
        return onexn_dwblock_chain_run(ch, other.data(), others.data(), pool);
      },
      pool2, pool3, what, seed % 2 == 1);
}

}  // namespace

TEST_CASE("dwblock_chain: random chains, bit-identical to the blocks one after the other") {
  onexn_threadpool* pool2 = onexn_threadpool_create(2);
  onexn_threadpool* pool3 = onexn_threadpool_create(3);
  for (onexn_isa isa : AvailableIsas()) {
    for (int i = 0; i < RandomCaseCount(40); i++) TestRandomChain(unsigned(1000 + i), isa, pool2, pool3);
  }
  onexn_threadpool_destroy(pool3);
  onexn_threadpool_destroy(pool2);
}

TEST_CASE("dwblock_chain: random int8 chains, bit-identical to the blocks one after the other") {
  onexn_threadpool* pool2 = onexn_threadpool_create(2);
  onexn_threadpool* pool3 = onexn_threadpool_create(3);
  for (onexn_isa isa : AvailableIsas()) {
    for (int i = 0; i < RandomCaseCount(30); i++) TestRandomQChain(unsigned(2000 + i), isa, pool2, pool3);
  }
  onexn_threadpool_destroy(pool3);
  onexn_threadpool_destroy(pool2);
}

TEST_CASE("dwblock_chain: blocks that do not chain are refused with a message") {
  std::mt19937 rng(7);
  std::string what;
  const auto a = RandomChain(&rng, 3, 12, 10, 8, ONEXN_ISA_SCALAR, &what);
  REQUIRE(a.size() == 3);
  struct Bad {
    const char* what;
    std::vector<onexn_dwblock_link> links;
    const char* msg;
  };
  std::vector<Bad> bad = {
      {"one block", {a[0]->link}, "needs 2 or more blocks"},
      {"a missing block", {a[0]->link, onexn_dwblock_link{nullptr, 0, 0.0f, 0.0f, nullptr, 0, ONEXN_ISA_AUTO}},
       "block 1 is missing"},
      {"out of order", {a[1]->link, a[0]->link}, "does not read block 0's output"},
      {"a block twice", {a[0]->link, a[0]->link}, "does not read block 0's output"},
  };
  // A residual ADD on a block without a projection or whose output has another shape than its input.
  size_t in_elements = 12 * 10 * 8;
  for (const auto& b : a) {
    if (b->project == nullptr || Elements(*b) != in_elements) {
      onexn_dwblock_link l = b->link;
      l.residual = 1;
      bad.push_back({"a residual of another shape", {l, a[2]->link}, "adds its input but"});
      break;
    }
    in_elements = Elements(*b);
  }
  CHECK(bad.size() == 5);
  const auto two = RandomChain(&rng, 2, 6, 6, 8, ONEXN_ISA_SCALAR, &what, 2);
  REQUIRE(two.size() == 2);
  bad.push_back({"a batch of two", {two[0]->link, two[1]->link}, "runs a batch of 2 images"});
  // int8: with a float block; an ADD without its parameters or with an operand other than 0 or 1 (on the
  // first block of a chain that adds its input: one with a projection and an output of its input's size).
  std::vector<std::unique_ptr<QBlock>> q;
  for (unsigned seed = 1; q.empty() && seed < 100; seed++) {
    std::mt19937 qrng(seed);
    q = RandomQChain(&qrng, 2, 8, 8, 16, ONEXN_ISA_SCALAR, &what);
    if (!q.empty() && (q[0]->project == nullptr || q[0]->elements != 8 * 8 * 16)) q.clear();
  }
  REQUIRE(q.size() == 2);
  bad.push_back({"float then int8", {a[0]->link, q[1]->link}, "block 1 is int8, block 0 float"});
  bad.push_back({"int8 then float", {q[0]->link, a[1]->link}, "block 1 is float, block 0 int8"});
  onexn_dwblock_link no_params = q[0]->link, operand2 = q[0]->link;
  no_params.residual = operand2.residual = 1;
  no_params.qadd = nullptr;
  operand2.qadd = &q[0]->add;
  operand2.block_operand = 2;
  bad.push_back({"an int8 ADD without parameters", {no_params, q[1]->link}, "the ADD's parameters are missing"});
  bad.push_back({"an int8 ADD's operand 2", {operand2, q[1]->link}, "the operand is not 0 or 1"});
  for (const Bad& b : bad) {
    char err[256] = "";
    onexn_dwblock_chain* c = onexn_dwblock_chain_create(b.links.data(), b.links.size(), err, sizeof(err));
    Check(c == nullptr, std::string(b.what) + ": refused");
    Check(std::strstr(err, b.msg) != nullptr, std::string(b.what) + ": message \"" + err + "\" names the reason");
    onexn_dwblock_chain_destroy(c);
  }
  Check(onexn_dwblock_chain_run(nullptr, nullptr, nullptr, nullptr) == -1, "a NULL chain: -1");
}

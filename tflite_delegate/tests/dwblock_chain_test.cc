// Tests of onexn_dwblock_chain (consecutive depthwise blocks run at two threads as one job) against the
// blocks run one after the other on one thread: bit-identical outputs of every block for random chains
// (with and without expansions and projections, strides 1 and 2, 3x3 and 5x5 windows, dilation, residual
// ADDs, images of 1 to 40 rows), many runs at 2 threads (the threads meet at other rows each time), with the
// worker held back (the caller then runs both sides), and at 1 and 3 threads (block by block); chains that
// do not chain are refused with a message.
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
#include <vector>

#include "common/threadpool.h"
#include "onexn_kernels.h"
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

// A random chain of `count` blocks on an h x w x c input; nullptr-free blocks, or empty when a layer's
// kernel cannot run pixel range by pixel range (the block is then refused, as onexn_dwblock_create says).
std::vector<std::unique_ptr<Block>> RandomChain(std::mt19937* rng, int count, int h, int w, int c, onexn_isa isa,
                                                std::string* what, int batch = 1) {
  std::vector<std::unique_ptr<Block>> chain;
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  char line[160];
  for (int k = 0; k < count; k++) {
    auto b = std::make_unique<Block>();
    const int r = int((*rng)() % 8);
    const bool expand = r != 0, project = r != 1;
    const int mid = expand ? 8 + int((*rng)() % 5) * 8 : c;
    const int kh = (*rng)() % 4 == 0 ? 5 : 3;
    const int stride = h >= 4 && (*rng)() % 4 == 0 ? 2 : 1;
    const int dilation = stride == 1 && (*rng)() % 6 == 0 ? 2 : 1;
    onexn_dwconv_shape d{};
    d.batch = batch;
    d.in_h = h;
    d.in_w = w;
    d.channels = mid;
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
    const bool residual = project && stride == 1 && (*rng)() % 2 == 0;
    const int cout = residual ? c : 8 + int((*rng)() % 4) * 4;
    std::snprintf(line, sizeof(line), "[%dx%dx%d %s%s k%d s%d d%d%s] ", h, w, c, expand ? "e" : "",
                  project ? "p" : "", kh, stride, dilation, residual ? " +add" : "");
    *what += line;
    if (expand) b->expand = Pointwise(rng, batch, h, w, c, mid, true, isa);
    std::vector<float> dww(size_t(kh) * kh * mid), dwb(static_cast<size_t>(mid));
    for (float& x : dww) x = val(*rng);
    for (float& x : dwb) x = val(*rng);
    char err[256] = "";
    b->dw = onexn_dwconv_create(&d, dww.data(), dwb.data(), isa, err, sizeof(err));
    Check(b->dw != nullptr, *what + ": dw create: " + err);
    if (project) b->project = Pointwise(rng, batch, d.out_h, d.out_w, mid, cout, false, isa);
    if (b->dw == nullptr || (expand && b->expand == nullptr) || (project && b->project == nullptr)) return {};
    b->block = onexn_dwblock_create(b->expand, b->dw, b->project, err, sizeof(err));
    if (b->block == nullptr) {
      Check(std::strstr(err, "differently by tile") != nullptr, *what + ": block create: " + err);
      return {};
    }
    b->link = {b->block, residual ? 1 : 0, -2.5f, 3.0f};
    b->out_h = d.out_h;
    b->out_w = d.out_w;
    b->out_c = project ? cout : mid;
    h = d.out_h;
    w = d.out_w;
    c = b->out_c;
    chain.push_back(std::move(b));
  }
  return chain;
}

size_t Elements(const Block& b) { return size_t(b.out_h) * b.out_w * b.out_c; }

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
  std::vector<onexn_dwblock_link> links;
  for (const auto& b : chain) links.push_back(b->link);
  char err[256] = "";
  onexn_dwblock_chain* ch = onexn_dwblock_chain_create(links.data(), links.size(), err, sizeof(err));
  Check(ch != nullptr, what + ": chain create: " + err);
  if (ch == nullptr) return;
  std::vector<std::vector<float>> got;
  for (const auto& b : chain) got.emplace_back(Elements(*b));
  std::vector<float*> outs;
  for (auto& g : got) outs.push_back(g.data());
  // 2 threads many times (the sides meet elsewhere), then the worker held back, then 1 and 3 threads.
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
      for (auto& g : got) std::fill(g.begin(), g.end(), std::numeric_limits<float>::quiet_NaN());
      Check(onexn_dwblock_chain_run(ch, input.data(), outs.data(), r.pool) == 0, what + ": chain run");
      for (size_t k = 0; k < chain.size(); k++) {
        const bool same = std::memcmp(got[k].data(), want[k].data(), want[k].size() * sizeof(float)) == 0;
        Check(same, what + ": " + r.name + ", run " + std::to_string(rep) + ": block " + std::to_string(k) +
                        " differs from the blocks apart");
      }
    }
    onexn_threadpool_hold_workers(r.pool, 0);
  }
  onexn_dwblock_chain_destroy(ch);
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
  onexn_dwblock_link residual_without_projection = a[0]->link;
  residual_without_projection.residual = 1;
  std::vector<Bad> bad = {
      {"one block", {a[0]->link}, "needs 2 or more blocks"},
      {"a missing block", {a[0]->link, onexn_dwblock_link{nullptr, 0, 0.0f, 0.0f}}, "is not a float block"},
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
  for (const Bad& b : bad) {
    char err[256] = "";
    onexn_dwblock_chain* c = onexn_dwblock_chain_create(b.links.data(), b.links.size(), err, sizeof(err));
    Check(c == nullptr, std::string(b.what) + ": refused");
    Check(std::strstr(err, b.msg) != nullptr, std::string(b.what) + ": message \"" + err + "\" names the reason");
    onexn_dwblock_chain_destroy(c);
  }
  Check(onexn_dwblock_chain_run(nullptr, nullptr, nullptr, nullptr) == -1, "a NULL chain: -1");
}

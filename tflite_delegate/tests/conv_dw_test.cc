// Tests of onexn_conv_dw (expansion 1x1 + depthwise run as one) against onexn_conv_run followed by
// onexn_dwconv_run: bit-identical outputs for every ISA here, random block indices, block widths,
// depthwise strides / dilations / padding, batches, band sizes from one row to many, thread counts, reruns;
// nothing written outside the output; shapes that do not chain are refused with a message.
// Build: scripts/test_kernels.sh (which runs it after dwconv_test). Prints "N passed, M failed" last.
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

namespace {

int g_passed = 0;
int g_failed = 0;

void Check(bool ok, const std::string& what) {
  if (ok) {
    g_passed++;
  } else {
    g_failed++;
    std::printf("FAIL: %s\n", what.c_str());
  }
}

// 64-byte aligned floats, NaN-filled so a read of scratch before it is written would show.
void* AlignedFloats(size_t floats) {
  void* p = std::aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
  std::fill_n(static_cast<float*>(p), floats, std::numeric_limits<float>::quiet_NaN());
  return p;
}

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr size_t kGuard = 64;
constexpr float kSentinel = -12345.0f;

struct Case {
  int batch = 1, h = 9, w = 9, cin = 8, cout = 24, n = 4;
  double sparsity = 0.5;
  int kh = 3, kw = 3, stride = 1, dilation = 1;
  bool same = true;   // SAME padding, else VALID
  bool relu6 = true;
  unsigned seed = 1;
  std::string Describe() const {
    char buf[200];
    std::snprintf(buf, sizeof(buf), "b%d %dx%dx%d->%d n%d sp%.2f dw k%dx%d s%d d%d %s%s seed=%u", batch, h, w, cin,
                  cout, n, sparsity, kh, kw, stride, dilation, same ? "same" : "valid", relu6 ? " relu6" : "", seed);
    return buf;
  }
};

struct Problem {
  onexn_conv_shape cs{};
  onexn_dwconv_shape ds{};
  std::vector<uint32_t> group_ptr, kept;
  std::vector<float> cw, cb, dww, dwb, input;
  bool ok = false;
};

int Out(bool same, int in, int k, int stride, int dilation, int* lead) {
  const int ek = (k - 1) * dilation + 1;
  if (same) {
    const int out = (in + stride - 1) / stride;
    *lead = std::max(0, (out - 1) * stride + ek - in) / 2;
    return out;
  }
  *lead = 0;
  return in >= ek ? (in - ek) / stride + 1 : 0;
}

Problem Build(const Case& c) {
  Problem p;
  std::mt19937 rng(c.seed);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  onexn_conv_shape& s = p.cs;
  s.batch = c.batch;
  s.in_h = s.out_h = c.h;
  s.in_w = s.out_w = c.w;
  s.cin = c.cin;
  s.cout = c.cout;
  s.kh = s.kw = s.stride_h = s.stride_w = s.dilation_h = s.dilation_w = 1;
  s.out_min = c.relu6 ? 0.0f : -kInf;
  s.out_max = c.relu6 ? 6.0f : kInf;
  const int groups = (c.cout + c.n - 1) / c.n;
  p.group_ptr.push_back(0);
  for (int g = 0; g < groups; g++) {
    for (int k = 0; k < c.cin; k++)
      if (u(rng) >= c.sparsity) p.kept.push_back(uint32_t(k));
    p.group_ptr.push_back(uint32_t(p.kept.size()));
  }
  p.cw.resize(size_t(c.cout) * c.cin);
  for (float& x : p.cw) x = val(rng);
  p.cb.resize(c.cout);
  for (float& x : p.cb) x = val(rng);
  onexn_dwconv_shape& d = p.ds;
  d.batch = c.batch;
  d.in_h = c.h;
  d.in_w = c.w;
  d.channels = c.cout;
  d.kh = c.kh;
  d.kw = c.kw;
  d.stride_h = d.stride_w = c.stride;
  d.dilation_h = d.dilation_w = c.dilation;
  d.out_h = Out(c.same, c.h, c.kh, c.stride, c.dilation, &d.pad_top);
  d.out_w = Out(c.same, c.w, c.kw, c.stride, c.dilation, &d.pad_left);
  if (d.out_h < 1 || d.out_w < 1) return p;
  d.out_min = c.relu6 ? 0.0f : -kInf;
  d.out_max = c.relu6 ? 6.0f : kInf;
  p.dww.resize(size_t(c.kh) * c.kw * c.cout);
  for (float& x : p.dww) x = val(rng);
  p.dwb.resize(c.cout);
  for (float& x : p.dwb) x = val(rng);
  p.input.resize(size_t(c.batch) * c.h * c.w * c.cin);
  for (float& x : p.input) x = 3.0f * val(rng);
  p.ok = true;
  return p;
}

size_t OutSize(const onexn_dwconv_shape& d) { return size_t(d.batch) * d.out_h * d.out_w * d.channels; }

std::vector<onexn_isa> AvailableIsas() {
  std::vector<onexn_isa> isas;
  for (onexn_isa isa : {ONEXN_ISA_SCALAR, ONEXN_ISA_AVX2, ONEXN_ISA_AVX512, ONEXN_ISA_NEON}) {
    if (onexn_isa_supported(isa)) isas.push_back(isa);
  }
  return isas;
}

void TestCase(const Case& c, const std::vector<onexn_isa>& isas) {
  const Problem p = Build(c);
  if (!p.ok) return;
  const onexn_block_index index = {c.n, int(p.group_ptr.size()) - 1, p.group_ptr.data(), p.kept.data()};
  for (onexn_isa isa : isas) {
    const std::string what = std::string(onexn_isa_name(isa)) + " " + c.Describe();
    char err[256] = "";
    onexn_conv* conv = onexn_conv_create(&p.cs, &index, p.cw.data(), p.cb.data(), isa, err, sizeof(err));
    Check(conv != nullptr, what + ": conv create: " + err);
    onexn_dwconv* dw = onexn_dwconv_create(&p.ds, p.dww.data(), p.dwb.data(), isa, err, sizeof(err));
    Check(dw != nullptr, what + ": dw create: " + err);
    onexn_conv_dw* f = conv && dw ? onexn_conv_dw_create(conv, dw, err, sizeof(err)) : nullptr;
    if (f == nullptr && std::strstr(err, "depending on its tile") != nullptr) {
      // Only the x86 few-pixel kernel has a separate short-tile path; such a pair is refused, not wrong.
      Check(std::strcmp(onexn_conv_kernel_name(conv), "f32-spconv-8x4-avx2") == 0 && c.h * c.w < 16,
            what + ": refused for its tile path: " + err);
    } else {
      Check(f != nullptr, what + ": fused create: " + err);
    }
    if (f != nullptr) {
      // The reference: the two layers one after the other through the full intermediate tensor.
      std::vector<float> mid(size_t(c.batch) * c.h * c.w * c.cout), want(OutSize(p.ds));
      onexn_conv_run(conv, p.input.data(), mid.data(), nullptr);
      onexn_dwconv_run(dw, mid.data(), want.data(), nullptr);
      for (int threads : {1, 2, 3, 5}) {
        onexn_threadpool* pool = threads > 1 ? onexn_threadpool_create(threads) : nullptr;
        for (int rep = 0; rep < 2; rep++) {
          std::vector<float> buf(want.size() + 2 * kGuard, kSentinel);
          // rep 0: the object's own band buffers; rep 1: a caller's scratch of the size it asks for.
          const size_t scratch_floats = onexn_conv_dw_scratch_floats(f, threads);
          float* scratch = rep == 1 ? static_cast<float*>(AlignedFloats(scratch_floats)) : nullptr;
          onexn_conv_dw_run(f, p.input.data(), buf.data() + kGuard, scratch, pool);
          std::free(scratch);
          bool guards = true;
          for (size_t i = 0; i < kGuard; i++) guards &= buf[i] == kSentinel && buf[kGuard + want.size() + i] == kSentinel;
          const bool same = std::memcmp(buf.data() + kGuard, want.data(), want.size() * sizeof(float)) == 0;
          size_t first = 0;
          while (!same && first < want.size() && std::memcmp(&buf[kGuard + first], &want[first], sizeof(float)) == 0) first++;
          Check(same, what + ": " + std::to_string(threads) + " threads differ from conv then dwconv" +
                          (same ? "" : " at " + std::to_string(first)));
          Check(guards, what + ": wrote outside the output tensor");
        }
        onexn_threadpool_destroy(pool);
      }
    }
    onexn_conv_dw_destroy(f);
    onexn_conv_destroy(conv);
    onexn_dwconv_destroy(dw);
  }
}

// Pairs that do not chain are refused, with a message naming the reason.
void TestRefused() {
  Case c;
  Problem p = Build(c);
  const onexn_block_index index = {c.n, int(p.group_ptr.size()) - 1, p.group_ptr.data(), p.kept.data()};
  char err[256] = "";
  onexn_dwconv* dw = onexn_dwconv_create(&p.ds, p.dww.data(), p.dwb.data(), ONEXN_ISA_SCALAR, err, sizeof(err));
  struct Bad { const char* what; onexn_conv_shape s; const char* msg; };
  std::vector<Bad> bad;
  onexn_conv_shape s3 = p.cs;  // a 3x3 expansion
  s3.kh = s3.kw = 3;
  s3.pad_top = s3.pad_left = 1;
  bad.push_back({"3x3 conv", s3, "not a 1x1"});
  onexn_conv_shape s2 = p.cs;  // stride 2 changes the output size
  s2.stride_h = s2.stride_w = 2;
  s2.out_h = s2.out_w = (c.h + 1) / 2;
  bad.push_back({"stride-2 conv", s2, "not a 1x1"});
  onexn_conv_shape wide = p.cs;  // another height than the depthwise input
  wide.in_h = wide.out_h = c.h + 1;
  bad.push_back({"height mismatch", wide, "is not the convolution's output"});
  for (const Bad& b : bad) {
    std::vector<float> w(size_t(b.s.cout) * b.s.kh * b.s.kw * b.s.cin, 0.5f);
    onexn_conv* conv = onexn_conv_create(&b.s, &index, w.data(), nullptr, ONEXN_ISA_SCALAR, err, sizeof(err));
    Check(conv != nullptr, std::string(b.what) + ": conv create: " + err);
    err[0] = '\0';
    onexn_conv_dw* f = onexn_conv_dw_create(conv, dw, err, sizeof(err));
    Check(f == nullptr && std::strstr(err, b.msg) != nullptr,
          std::string(b.what) + ": refused with '" + b.msg + "', got '" + err + "'");
    onexn_conv_dw_destroy(f);
    onexn_conv_destroy(conv);
  }
  onexn_conv_dw* f = onexn_conv_dw_create(nullptr, dw, err, sizeof(err));
  Check(f == nullptr && std::strstr(err, "must not be NULL") != nullptr, "NULL conv refused");
  onexn_conv_dw_run(nullptr, p.input.data(), nullptr, nullptr, nullptr);
  Check(onexn_conv_dw_scratch_floats(nullptr, 2) == 0, "no scratch for a NULL object");  // no-op, must not crash
  onexn_dwconv_destroy(dw);
}

}  // namespace

int main(int argc, char** argv) {
  const int random_cases = argc > 1 ? std::atoi(argv[1]) : 150;
  const std::vector<onexn_isa> isas = AvailableIsas();
  // Fixed cases: MobileNetV2-like shapes (the 112x112x96 band holds few rows), padding and stride variants.
  std::vector<Case> fixed;
  {
    Case c;
    c.h = c.w = 112; c.cin = 16; c.cout = 96; c.n = 16; c.stride = 2;
    fixed.push_back(c);
    c.n = 4; c.sparsity = 0.75; c.seed = 2;
    fixed.push_back(c);
    Case d;
    d.h = d.w = 56; d.cin = 24; d.cout = 144; d.n = 8; d.stride = 1; d.seed = 3;
    fixed.push_back(d);
    Case e;  // a batch, VALID padding, a 5x5 window with dilation
    e.batch = 3; e.h = 13; e.w = 11; e.kh = e.kw = 5; e.dilation = 2; e.same = false; e.seed = 4;
    fixed.push_back(e);
    Case f;  // one row tall; fully sparse groups
    f.h = 1; f.w = 40; f.kh = 3; f.kw = 3; f.sparsity = 1.0; f.seed = 5;
    fixed.push_back(f);
  }
  for (const Case& c : fixed) TestCase(c, isas);
  std::mt19937 rng(20261123);
  auto pick = [&](std::initializer_list<int> v) { return *(v.begin() + rng() % v.size()); };
  for (int i = 0; i < random_cases; i++) {
    Case c;
    c.batch = pick({1, 1, 2, 3});
    c.h = 1 + int(rng() % 40);
    c.w = 1 + int(rng() % 40);
    c.cin = 1 + int(rng() % 40);
    c.n = pick({1, 2, 4, 8, 16});
    c.cout = 1 + int(rng() % 70);
    c.sparsity = pick({0, 50, 75, 90}) / 100.0;
    c.kh = pick({1, 3, 3, 5});
    c.kw = pick({1, 3, 3, 5});
    c.stride = pick({1, 1, 2, 3});
    c.dilation = pick({1, 1, 2});
    c.same = rng() % 4 != 0;
    c.relu6 = rng() % 2 == 0;
    c.seed = unsigned(100 + i);
    TestCase(c, isas);
  }
  TestRefused();
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}

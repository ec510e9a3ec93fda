// Tests of the delegate's C++ reader of the onexn_1xn metadata entry (docs/FORMAT.md) and its CRC-32:
// valid entries of versions 1 and 2 parse, every broken rule is reported as damaged, and no truncation or
// random corruption can make it crash or read out of bounds (bazel test --config=asan runs it under
// ASan + UBSan).
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "crc32.h"
#include "doctest/doctest.h"
#include "metadata_reader.h"

namespace {

void Check(bool ok, const std::string& what) { CHECK_MESSAGE(ok, what); }

struct RecordSpec {
  uint32_t op, builtin, tensor, encoding, n, cout, kh, kw, cin;
  std::vector<std::vector<uint32_t>> kept;  // per group
  uint32_t weight_type = onexn::kWeightFloat32;  // written in version 2 only
};

void Put(std::vector<uint8_t>* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(uint8_t(v >> (8 * i)));
}

void Set(std::vector<uint8_t>* out, size_t offset, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*out)[offset + i] = uint8_t(v >> (8 * i));
}

void FixCrc(std::vector<uint8_t>* e) { Set(e, 24, onexn::Crc32(e->data() + 32, e->size() - 32)); }

std::vector<uint8_t> Encode(const std::vector<RecordSpec>& records, uint32_t version = 1) {
  const uint32_t fixed = version >= 2 ? 60 : 56;
  std::vector<uint8_t> body;
  for (const RecordSpec& r : records) {
    uint32_t kept = 0;
    for (const auto& g : r.kept) kept += uint32_t(g.size());
    const uint32_t groups = uint32_t(r.kept.size());
    Put(&body, fixed + 4 * (groups + 1) + 4 * kept);
    for (uint32_t v : {0u, r.op, r.builtin, r.tensor, r.encoding, r.n, r.cout, r.kh, r.kw, r.cin, groups, kept,
                       0x12345678u}) {
      Put(&body, v);
    }
    if (version >= 2) Put(&body, r.weight_type);
    uint32_t ptr = 0;
    Put(&body, 0);
    for (const auto& g : r.kept) Put(&body, ptr += uint32_t(g.size()));
    for (const auto& g : r.kept) {
      for (uint32_t c : g) Put(&body, c);
    }
  }
  std::vector<uint8_t> e;
  for (uint32_t v : {0x4E584E4Fu, version, 32u, uint32_t(32 + body.size()), uint32_t(records.size()), 0u, 0u, 0u}) {
    Put(&e, v);
  }
  e.insert(e.end(), body.begin(), body.end());
  FixCrc(&e);
  return e;
}

std::vector<RecordSpec> Valid() {
  return {
      {0, 3, 1, 0, 4, 10, 3, 3, 5, {{0, 2, 4}, {}, {1}}},  // cout 10, n 4: 3 groups, the last one short
      {4, 9, 7, 0, 2, 4, 1, 1, 6, {{5}, {0, 1, 2, 3, 4, 5}}},
  };
}

bool Damaged(const std::vector<uint8_t>& e, const char* why) {
  const onexn::Metadata m = onexn::ParseMetadata(e.data(), e.size());
  return m.status == onexn::MetadataStatus::kDamaged && m.error.find(why) != std::string::npos &&
         m.records.empty();
}

void TestCrc32() {
  const char* s = "123456789";
  Check(onexn::Crc32(s, 9) == 0xCBF43926u, "crc32 check value");
  Check(onexn::Crc32(s, 0) == 0, "crc32 of nothing");
  std::vector<uint8_t> big(1000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = uint8_t(i * 7 + 3);
  for (size_t size : {size_t(1), size_t(7), size_t(8), size_t(9), size_t(15), size_t(997), size_t(1000)}) {
    uint32_t c = 0xFFFFFFFFu;  // bytewise reference
    for (size_t i = 0; i < size; ++i) {
      c ^= big[i];
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    Check(onexn::Crc32(big.data(), size) == (c ^ 0xFFFFFFFFu), "crc32 slicing == bytewise, " + std::to_string(size) +
                                                                    " bytes");
  }
}

void TestValid() {
  const std::vector<uint8_t> e = Encode(Valid());
  const onexn::Metadata m = onexn::ParseMetadata(e.data(), e.size());
  Check(m.status == onexn::MetadataStatus::kOk, "valid entry parses: " + m.error);
  Check(m.records.size() == 2, "two records");
  if (m.records.size() != 2) return;
  const onexn::BlockRecord& r = m.records[0];
  Check(r.op == 0 && r.builtin_op == 3 && r.weight_tensor == 1 && r.n == 4 && r.cout == 10 && r.kh == 3 &&
            r.cin == 5 && r.num_groups == 3 && r.num_kept == 4 && r.weight_crc32 == 0x12345678u,
        "record 0 fields");
  Check((r.group_ptr == std::vector<uint32_t>{0, 3, 3, 4}), "record 0 group_ptr");
  Check((r.kept_cin == std::vector<uint32_t>{0, 2, 4, 1}), "record 0 kept_cin");
  Check(r.unusable.empty() && m.records[1].unusable.empty(), "records usable");
  // Unaligned buffer: the reader must not assume 4-byte alignment.
  std::vector<uint8_t> shifted(e.size() + 1);
  std::memcpy(shifted.data() + 1, e.data(), e.size());
  Check(onexn::ParseMetadata(shifted.data() + 1, e.size()).status == onexn::MetadataStatus::kOk, "unaligned");
  // flags and reserved are ignored.
  std::vector<uint8_t> f = e;
  Set(&f, 20, 5);
  Set(&f, 28, 6);
  Check(onexn::ParseMetadata(f.data(), f.size()).status == onexn::MetadataStatus::kOk, "flags ignored");
  // No records at all is valid.
  const std::vector<uint8_t> empty = Encode({});
  Check(onexn::ParseMetadata(empty.data(), empty.size()).status == onexn::MetadataStatus::kOk, "no records");
}

void TestRules() {
  const std::vector<uint8_t> good = Encode(Valid());
  const size_t r0 = 32;
  auto patched = [&](size_t offset, uint32_t v, bool fix = true) {
    std::vector<uint8_t> e = good;
    Set(&e, offset, v);
    if (fix) FixCrc(&e);
    return e;
  };
  Check(Damaged(std::vector<uint8_t>(good.begin(), good.begin() + 31), "truncated"), "shorter than header");
  Check(Damaged(std::vector<uint8_t>(good.begin(), good.end() - 4), "total_bytes"), "truncated body");
  Check(Damaged(patched(0, 0x4E584E50u, false), "magic"), "magic");
  Check(Damaged(patched(4, 0, false), "version 0"), "version 0");
  Check(Damaged(patched(8, 36, false), "header_bytes"), "header_bytes");
  Check(Damaged(patched(r0 + 100, 1, false), "CRC"), "body corrupted");
  Check(Damaged(patched(r0 + 24, 0), "dimension is 0"), "n = 0");
  Check(Damaged(patched(r0 + 24, 65), "> 64"), "n > 64");
  Check(Damaged(patched(r0 + 24, 11), "> cout"), "n > cout");
  Check(Damaged(patched(r0 + 44, 2), "record_bytes"), "num_groups changed");
  Check(Damaged(patched(r0 + 56, 1), "group_ptr[0]"), "group_ptr[0] != 0");
  Check(Damaged(patched(r0 + 56 + 8, 5), "non-decreasing"), "group_ptr decreasing");
  Check(Damaged(patched(r0 + 56 + 16 + 4, 9), "kept_cin >= cin"), "kept_cin out of range");
  Check(Damaged(patched(r0 + 56 + 16 + 4, 0), "strictly increasing"), "kept_cin not increasing");
  Check(Damaged(patched(r0 + 8, 7), "not sorted"), "unsorted records");
  Check(Damaged(patched(r0 + 40, 0x7FFFFFFF), "too large"), "huge weight");
  Check(Damaged(patched(16, 3), "truncated"), "more records than bytes");
  Check(Damaged(patched(16, 1), "trailing bytes"), "fewer records than bytes");
  Check(Damaged(patched(r0, 0xFFFFFFF0u), "record_bytes"), "record_bytes huge");
  Check(Damaged(patched(r0 + 44, 0xFFFFFFFFu), "record_bytes"), "num_groups huge (no huge allocation)");
  std::vector<uint8_t> fc = good;  // record 1 is FULLY_CONNECTED: kh must be 1
  Set(&fc, r0 + 56 + 4 * 4 + 4 * 4 + 32, 3);
  FixCrc(&fc);
  Check(Damaged(fc, "FULLY_CONNECTED"), "FC with kh = 3");
  const std::vector<uint8_t> v3 = patched(4, 3, false);
  const onexn::Metadata m3 = onexn::ParseMetadata(v3.data(), v3.size());
  Check(m3.status == onexn::MetadataStatus::kUnknownVersion && m3.records.empty() &&
            m3.error.find("unknown format version 3") != std::string::npos,
        "version 3 is unknown");
  Check(Damaged(patched(4, 2, false), "record_bytes"), "a version 1 body read as version 2 is damaged");
  const onexn::Metadata op = onexn::ParseMetadata(patched(r0 + 12, 42).data(), good.size());
  Check(op.status == onexn::MetadataStatus::kOk && op.records[0].unusable.find("builtin_op 42") != std::string::npos &&
            op.records[1].unusable.empty(),
        "unknown builtin_op: record unusable, others kept");
  const onexn::Metadata enc = onexn::ParseMetadata(patched(r0 + 20, 9).data(), good.size());
  Check(enc.status == onexn::MetadataStatus::kOk && enc.records[0].unusable.find("encoding 9") != std::string::npos,
        "unknown encoding: record unusable");
  Check(onexn::ParseMetadata(nullptr, 0).status == onexn::MetadataStatus::kDamaged, "null buffer");
}

// Version 2: the weight type after weight_crc32; int8 records are usable, unknown weight types and int8 in
// the compact encoding are not, and the rules of version 1 still apply.
void TestVersion2() {
  std::vector<RecordSpec> specs = Valid();
  specs[1].weight_type = onexn::kWeightInt8;
  const std::vector<uint8_t> e = Encode(specs, 2);
  const onexn::Metadata m = onexn::ParseMetadata(e.data(), e.size());
  Check(m.status == onexn::MetadataStatus::kOk && m.version == 2 && m.records.size() == 2, "v2 parses: " + m.error);
  if (m.records.size() != 2) return;
  Check(m.records[0].weight_type == onexn::kWeightFloat32 && m.records[0].unusable.empty(), "v2 float32 record");
  Check(m.records[1].weight_type == onexn::kWeightInt8 && m.records[1].unusable.empty(), "v2 int8 record");
  Check((m.records[1].kept_cin == std::vector<uint32_t>{5, 0, 1, 2, 3, 4, 5}), "v2 arrays after weight_type");
  const size_t r0 = 32;
  auto patched = [&](size_t offset, uint32_t v) {
    std::vector<uint8_t> p = e;
    Set(&p, offset, v);
    FixCrc(&p);
    return onexn::ParseMetadata(p.data(), p.size());
  };
  const onexn::Metadata odd = patched(r0 + 56, 7);
  Check(odd.status == onexn::MetadataStatus::kOk && odd.records[0].unusable.find("weight type 7") != std::string::npos &&
            odd.records[1].weight_type == onexn::kWeightInt8,
        "unknown weight type: record unusable, others kept");
  const size_t r1 = r0 + 60 + 4 * 4 + 4 * 4;
  const onexn::Metadata compact = patched(r1 + 20, onexn::kEncodingSparsityParameters);
  Check(compact.status == onexn::MetadataStatus::kOk &&
            compact.records[1].unusable.find("compact encoding") != std::string::npos,
        "int8 in the compact encoding: unusable");
  Check(patched(r0 + 24, 65).error.find("> 64") != std::string::npos, "v2 record rules: n > 64");
  Check(patched(r0 + 44, 2).error.find("record_bytes") != std::string::npos, "v2 record rules: counts");
  // The same records in a version 1 entry: 4 bytes shorter each, all float32.
  const std::vector<uint8_t> v1 = Encode(Valid(), 1);
  const onexn::Metadata m1 = onexn::ParseMetadata(v1.data(), v1.size());
  Check(m1.status == onexn::MetadataStatus::kOk && v1.size() + 8 == e.size() &&
            m1.records[1].weight_type == onexn::kWeightFloat32 && m1.records[1].unusable.empty(),
        "v1 still parses, as float32");
}

// Every truncation and many random corruptions: never a crash, never records from a damaged entry.
void TestCorruption(uint32_t version) {
  std::vector<RecordSpec> specs = Valid();
  specs[0].weight_type = onexn::kWeightInt8;  // ignored in version 1
  const std::vector<uint8_t> good = Encode(specs, version);
  bool ok = true;
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> e(good.begin(), good.begin() + n);  // exact-size copy: ASan sees overreads
    ok &= onexn::ParseMetadata(e.data(), e.size()).status == onexn::MetadataStatus::kDamaged;
  }
  Check(ok, "every truncation is damaged");
  std::mt19937 rng(1234);
  int parsed = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> e = good;
    const int flips = 1 + int(rng() % 4);
    for (int f = 0; f < flips; ++f) e[rng() % e.size()] ^= uint8_t(1u << (rng() % 8));
    if (rng() % 2) FixCrc(&e);  // half the time get past the CRC to reach the record rules
    const onexn::Metadata m = onexn::ParseMetadata(e.data(), e.size());
    if (m.status == onexn::MetadataStatus::kOk) {
      ++parsed;
      for (const onexn::BlockRecord& r : m.records) {
        bool sane = r.group_ptr.size() == r.num_groups + 1 && r.kept_cin.size() == r.num_kept;
        for (uint32_t c : r.kept_cin) sane &= c < r.cin;
        ok &= sane;
      }
    } else {
      ok &= m.records.empty() && !m.error.empty();
    }
  }
  Check(ok, "random corruption: damaged entries carry no records, parsed ones are consistent");
  Check(parsed > 0, "some corruptions (e.g. of flags) still parse");
}

}  // namespace

TEST_CASE("metadata: CRC-32") { TestCrc32(); }

TEST_CASE("metadata: valid entries parse") { TestValid(); }

TEST_CASE("metadata: every broken rule is reported as damaged") { TestRules(); }

TEST_CASE("metadata: version 2 adds the weight type") { TestVersion2(); }

TEST_CASE("metadata: truncations and random corruptions never crash") {
  TestCorruption(1);
  TestCorruption(2);
}

// libFuzzer target for the delegate's C++ reader of the onexn_1xn metadata entry (metadata_reader.cc).
//
// Each input is parsed twice: as given (header checks, CRC), and as a copy whose header is made
// consistent (magic, the input's version when it is 2, else 1, header_bytes, total_bytes = size, a correct
// CRC) so that mutations reach the record rules of both versions instead of dying at the CRC. Besides ASan/UBSan findings, the target traps
// when a result breaks the reader's contract:
//   - a damaged or unknown entry carries an error and no records;
//   - an accepted entry re-encodes to exactly the bytes it was parsed from, and every record obeys
//     docs/FORMAT.md (so the delegate can index weights with it without further bounds checks).
// Build and run: scripts/fuzz.sh (see tflite_delegate/fuzz/README.md).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "crc32.h"
#include "metadata_reader.h"

namespace {

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) __builtin_trap(); \
  } while (0)

uint32_t Load(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

void Put(std::vector<uint8_t>* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(uint8_t(v >> (8 * i)));
}

void Store(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}

// Every rule of docs/FORMAT.md that the delegate relies on when it indexes weights with a record.
void CheckRecord(const onexn::BlockRecord& r) {
  FUZZ_CHECK(r.n >= 1 && r.n <= 64 && r.n <= r.cout);
  FUZZ_CHECK(r.kh >= 1 && r.kw >= 1 && r.cin >= 1);
  FUZZ_CHECK(uint64_t(r.cout) * r.kh * r.kw * r.cin < (uint64_t(1) << 31));
  FUZZ_CHECK(r.num_groups == (r.cout + r.n - 1) / r.n);
  FUZZ_CHECK(r.group_ptr.size() == size_t(r.num_groups) + 1 && r.kept_cin.size() == r.num_kept);
  FUZZ_CHECK(r.group_ptr.front() == 0 && r.group_ptr.back() == r.num_kept);
  for (uint32_t g = 0; g < r.num_groups; ++g) {
    FUZZ_CHECK(r.group_ptr[g] <= r.group_ptr[g + 1]);
    for (uint32_t k = r.group_ptr[g]; k < r.group_ptr[g + 1]; ++k) {
      FUZZ_CHECK(r.kept_cin[k] < r.cin);
      FUZZ_CHECK(k == r.group_ptr[g] || r.kept_cin[k] > r.kept_cin[k - 1]);
    }
  }
  // Usable: a known op, encoding and weight type, and no int8 weight in the compact encoding.
  const bool usable = (r.builtin_op == 3 || r.builtin_op == 9) &&
                      ((r.weight_type == onexn::kWeightFloat32 && (r.encoding == 0 || r.encoding == 1)) ||
                       (r.weight_type == onexn::kWeightInt8 && r.encoding == 0));
  FUZZ_CHECK(usable == r.unusable.empty());
  FUZZ_CHECK(r.builtin_op != 9 || (r.kh == 1 && r.kw == 1));
}

// The records body exactly as a writer of that version would encode it.
std::vector<uint8_t> EncodeBody(const std::vector<onexn::BlockRecord>& records, uint32_t version) {
  std::vector<uint8_t> body;
  for (const onexn::BlockRecord& r : records) {
    Put(&body, uint32_t((version >= 2 ? 60 : 56) + 4 * (r.group_ptr.size() + r.kept_cin.size())));
    for (uint32_t v : {r.subgraph, r.op, r.builtin_op, r.weight_tensor, r.encoding, r.n, r.cout, r.kh, r.kw, r.cin,
                       r.num_groups, r.num_kept, r.weight_crc32}) {
      Put(&body, v);
    }
    if (version >= 2) Put(&body, r.weight_type);
    for (uint32_t v : r.group_ptr) Put(&body, v);
    for (uint32_t v : r.kept_cin) Put(&body, v);
  }
  return body;
}

void ParseAndCheck(const uint8_t* data, size_t size) {
  const onexn::Metadata m = onexn::ParseMetadata(data, size);
  if (m.status != onexn::MetadataStatus::kOk) {
    FUZZ_CHECK(!m.error.empty() && m.records.empty());
    FUZZ_CHECK(m.status != onexn::MetadataStatus::kUnknownVersion ||
               (size >= 8 && Load(data + 4) > onexn::kMetadataVersion));
    return;
  }
  FUZZ_CHECK(m.error.empty() && (m.version == 1 || m.version == 2) && m.version == Load(data + 4));
  FUZZ_CHECK(size >= 32 && Load(data + 12) == size);
  FUZZ_CHECK(m.records.size() == Load(data + 16));
  for (size_t i = 0; i < m.records.size(); ++i) {
    CheckRecord(m.records[i]);
    FUZZ_CHECK(m.version >= 2 || m.records[i].weight_type == onexn::kWeightFloat32);
    if (i > 0) {
      const onexn::BlockRecord& a = m.records[i - 1];
      const onexn::BlockRecord& b = m.records[i];
      FUZZ_CHECK(a.subgraph < b.subgraph || (a.subgraph == b.subgraph && a.op < b.op));
    }
  }
  const std::vector<uint8_t> body = EncodeBody(m.records, m.version);
  FUZZ_CHECK(body.size() == size - 32);
  FUZZ_CHECK(body.empty() || std::memcmp(body.data(), data + 32, body.size()) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // libFuzzer's buffer is an exact-size heap copy, and so is `fixed`: ASan sees any read past the end.
  ParseAndCheck(data, size);
  if (size < 32) return 0;
  std::vector<uint8_t> fixed(data, data + size);
  std::memcpy(fixed.data(), "ONXN", 4);
  Store(fixed.data() + 4, Load(data + 4) == 2 ? 2 : 1);
  Store(fixed.data() + 8, 32);
  Store(fixed.data() + 12, uint32_t(size));
  Store(fixed.data() + 24, onexn::Crc32(fixed.data() + 32, size - 32));
  ParseAndCheck(fixed.data(), fixed.size());
  return 0;
}

#include "metadata_reader.h"

#include <cstring>
#include <string>
#include <utility>

#include "crc32.h"

namespace onexn {
namespace {

constexpr uint32_t kHeaderBytes = 32;
// The fixed part of a record: version 2 adds weight_type after weight_crc32.
uint32_t RecordFixedBytes(uint32_t version) { return version >= 2 ? 60 : 56; }
constexpr uint32_t kMaxN = 64;
constexpr uint64_t kLimit = uint64_t(1) << 31;

uint32_t LoadU32(const unsigned char* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

Metadata Damaged(std::string why) {
  Metadata m;
  m.status = MetadataStatus::kDamaged;
  m.error = std::move(why);
  return m;
}

std::string RecordPrefix(size_t index) { return "record " + std::to_string(index) + ": "; }

// Why a well-formed record cannot be used, or "".
std::string Unusable(const BlockRecord& r) {
  if (r.builtin_op != 3 && r.builtin_op != 9) {
    return "unknown builtin_op " + std::to_string(r.builtin_op) + " in the metadata record";
  }
  if (r.encoding != kEncodingDense && r.encoding != kEncodingSparsityParameters) {
    return "unknown weight encoding " + std::to_string(r.encoding) + " in the metadata record";
  }
  if (r.weight_type != kWeightFloat32 && r.weight_type != kWeightInt8) {
    return "unknown weight type " + std::to_string(r.weight_type) + " in the metadata record";
  }
  if (r.weight_type == kWeightInt8 && r.encoding != kEncodingDense) {
    return "an int8 weight in the compact encoding, which the format does not define";
  }
  return "";
}

// Checks the record's own rules; returns "" when it is well formed.
std::string CheckRecord(const BlockRecord& r) {
  if (r.n < 1 || r.cout < 1 || r.kh < 1 || r.kw < 1 || r.cin < 1) return "a dimension is 0";
  if (r.n > kMaxN) return "n = " + std::to_string(r.n) + " > 64";
  if (r.n > r.cout) return "n = " + std::to_string(r.n) + " > cout = " + std::to_string(r.cout);
  if (uint64_t(r.cout) * r.kh * r.kw * r.cin >= kLimit) return "weight tensor too large";
  if (r.builtin_op == 9 && (r.kh != 1 || r.kw != 1)) return "a FULLY_CONNECTED record needs kh = kw = 1";
  if (r.num_groups != (r.cout + r.n - 1) / r.n) return "num_groups != ceil(cout / n)";
  if (uint64_t(r.num_kept) > uint64_t(r.num_groups) * r.cin) return "num_kept > num_groups * cin";
  if (r.group_ptr.front() != 0) return "group_ptr[0] != 0";
  if (r.group_ptr.back() != r.num_kept) return "group_ptr[num_groups] != num_kept";
  for (uint32_t g = 0; g < r.num_groups; ++g) {
    const uint32_t begin = r.group_ptr[g], end = r.group_ptr[g + 1];
    if (end < begin || end > r.num_kept) return "group_ptr is not non-decreasing";
    for (uint32_t k = begin; k < end; ++k) {
      if (r.kept_cin[k] >= r.cin) return "kept_cin >= cin in group " + std::to_string(g);
      if (k > begin && r.kept_cin[k] <= r.kept_cin[k - 1]) {
        return "kept_cin not strictly increasing in group " + std::to_string(g);
      }
    }
  }
  return "";
}

}  // namespace

Metadata ParseMetadata(const void* data, size_t size) {
  const unsigned char* base = static_cast<const unsigned char*>(data);
  if (data == nullptr || size < kHeaderBytes) {
    return Damaged("truncated: " + std::to_string(size) + " bytes, the header alone is 32");
  }
  if (std::memcmp(base, "ONXN", 4) != 0) return Damaged("bad magic (not an onexn entry)");
  const uint32_t version = LoadU32(base + 4);
  if (version > kMetadataVersion) {
    Metadata m;
    m.status = MetadataStatus::kUnknownVersion;
    m.version = version;
    m.error = "unknown format version " + std::to_string(version) + " (this delegate reads versions 1 to " +
              std::to_string(kMetadataVersion) + ")";
    return m;
  }
  if (version == 0) return Damaged("format version 0");
  if (LoadU32(base + 8) != kHeaderBytes) return Damaged("header_bytes != 32");
  const uint32_t total = LoadU32(base + 12);
  if (total != size) {
    return Damaged("total_bytes = " + std::to_string(total) + " but the entry has " + std::to_string(size) +
                   " bytes");
  }
  if (uint64_t(total) >= kLimit) return Damaged("total_bytes >= 2^31");
  // flags (20) and reserved (28): writers write 0, readers ignore them.
  const uint32_t crc = LoadU32(base + 24);
  if (Crc32(base + kHeaderBytes, size - kHeaderBytes) != crc) return Damaged("header CRC-32 mismatch");

  const uint32_t num_records = LoadU32(base + 16);
  const uint32_t fixed_bytes = RecordFixedBytes(version);
  Metadata m;
  m.version = version;
  size_t offset = kHeaderBytes;
  for (uint32_t i = 0; i < num_records; ++i) {
    const std::string where = RecordPrefix(i);
    if (size - offset < fixed_bytes) return Damaged(where + "truncated");
    const unsigned char* p = base + offset;
    BlockRecord r;
    const uint32_t record_bytes = LoadU32(p);
    r.subgraph = LoadU32(p + 4);
    r.op = LoadU32(p + 8);
    r.builtin_op = LoadU32(p + 12);
    r.weight_tensor = LoadU32(p + 16);
    r.encoding = LoadU32(p + 20);
    r.n = LoadU32(p + 24);
    r.cout = LoadU32(p + 28);
    r.kh = LoadU32(p + 32);
    r.kw = LoadU32(p + 36);
    r.cin = LoadU32(p + 40);
    r.num_groups = LoadU32(p + 44);
    r.num_kept = LoadU32(p + 48);
    r.weight_crc32 = LoadU32(p + 52);
    if (version >= 2) r.weight_type = LoadU32(p + 56);
    const uint64_t expected = fixed_bytes + 4 * (uint64_t(r.num_groups) + 1) + 4 * uint64_t(r.num_kept);
    if (record_bytes != expected) return Damaged(where + "record_bytes does not match its counts");
    if (record_bytes > size - offset) return Damaged(where + "runs past the end of the entry");
    r.group_ptr.resize(size_t(r.num_groups) + 1);
    r.kept_cin.resize(r.num_kept);
    const unsigned char* q = p + fixed_bytes;
    for (auto& v : r.group_ptr) v = LoadU32(q), q += 4;
    for (auto& v : r.kept_cin) v = LoadU32(q), q += 4;
    const std::string bad = CheckRecord(r);
    if (!bad.empty()) return Damaged(where + bad);
    if (!m.records.empty()) {
      const BlockRecord& prev = m.records.back();
      if (r.subgraph < prev.subgraph || (r.subgraph == prev.subgraph && r.op <= prev.op)) {
        return Damaged(where + "records not sorted by (subgraph, operator) or operator repeated");
      }
    }
    r.unusable = Unusable(r);
    m.records.push_back(std::move(r));
    offset += record_bytes;
  }
  if (offset != size) return Damaged("trailing bytes after the last record");
  m.status = MetadataStatus::kOk;
  return m;
}

}  // namespace onexn

// Reader of the onexn_1xn model metadata entry (docs/FORMAT.md, versions 1 and 2).
//
// Parsing only checks the entry against its own rules; whether a record tells the truth about the model
// is checked later against the real node and weights (node_check.h).
#ifndef ONEXN_DELEGATE_METADATA_READER_H_
#define ONEXN_DELEGATE_METADATA_READER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace onexn {

constexpr const char* kMetadataName = "onexn_1xn";
constexpr uint32_t kMetadataVersion = 2;  // the newest version this reader knows
constexpr uint32_t kEncodingDense = 0;
constexpr uint32_t kEncodingSparsityParameters = 1;
// Weight types: TFLite's TensorType codes. Version 1 records are float32.
constexpr uint32_t kWeightFloat32 = 0;
constexpr uint32_t kWeightInt8 = 9;

struct BlockRecord {
  uint32_t subgraph = 0;
  uint32_t op = 0;  // operator index = node index
  uint32_t builtin_op = 0;
  uint32_t weight_tensor = 0;
  uint32_t encoding = 0;
  uint32_t n = 0;
  uint32_t cout = 0, kh = 0, kw = 0, cin = 0;
  uint32_t num_groups = 0;
  uint32_t num_kept = 0;
  uint32_t weight_crc32 = 0;
  uint32_t weight_type = kWeightFloat32;
  std::vector<uint32_t> group_ptr;  // num_groups + 1
  std::vector<uint32_t> kept_cin;   // num_kept
  // Non-empty when the record is well formed but unusable: an unknown builtin_op, encoding or weight type,
  // or an int8 weight in the compact encoding.
  std::string unusable;
};

enum class MetadataStatus {
  kOk,
  kDamaged,         // breaks a rule of the format: nothing in it may be used
  kUnknownVersion,  // newer than this reader: nothing in it may be used
};

struct Metadata {
  MetadataStatus status = MetadataStatus::kDamaged;
  std::string error;  // why the entry is damaged or unknown
  uint32_t version = 0;
  std::vector<BlockRecord> records;  // empty unless status == kOk
};

// Parses `size` bytes (no alignment needed). Never throws on bad input; reports through status.
Metadata ParseMetadata(const void* data, size_t size);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_METADATA_READER_H_

#include "crc32.h"

namespace onexn {
namespace {

// Slicing-by-8 tables for the reflected polynomial 0xEDB88320: every record's weights are hashed when the
// delegate checks a model, ResNet-50's 100 MB of float weights 41% of its setup with slicing-by-4 (Zen 4),
// about half that with 8 bytes a step.
struct Tables {
  uint32_t t[8][256];
  Tables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
  }
};

const Tables& GetTables() {
  static const Tables tables;
  return tables;
}

}  // namespace

uint32_t Crc32(const void* data, size_t size) {
  const Tables& tb = GetTables();
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (; size >= 8; size -= 8, p += 8) {
    c ^= uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    c = tb.t[7][c & 0xFF] ^ tb.t[6][(c >> 8) & 0xFF] ^ tb.t[5][(c >> 16) & 0xFF] ^ tb.t[4][c >> 24] ^
        tb.t[3][p[4]] ^ tb.t[2][p[5]] ^ tb.t[1][p[6]] ^ tb.t[0][p[7]];
  }
  for (; size > 0; --size, ++p) c = tb.t[0][(c ^ *p) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

}  // namespace onexn

// CRC-32 (IEEE 802.3, the polynomial of zlib's crc32) used by the onexn metadata format.
#ifndef ONEXN_DELEGATE_CRC32_H_
#define ONEXN_DELEGATE_CRC32_H_

#include <cstddef>
#include <cstdint>

namespace onexn {

// Same result as Python's zlib.crc32(data) (initial value 0).
uint32_t Crc32(const void* data, size_t size);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_CRC32_H_

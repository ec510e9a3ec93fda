"""The ``onexn_1xn`` metadata entry (docs/FORMAT.md, versions 1 and 2): records <-> bytes (numpy only).

Version 2 adds the weight type (float32 or int8) to each record; the writer writes version 1 when every
record is float32, so that delegates that only read version 1 keep running float models.
Checking records against a model's real weights is ``onexn_tf.tflite.verify``.
"""

import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np

from onexn_tf import blocks

ENTRY_NAME = "onexn_1xn"
MAGIC = b"ONXN"
VERSION = 2  # the newest version this reader knows
HEADER_BYTES = 32
RECORD_FIXED_BYTES = {1: 56, 2: 60}  # per version
MAX_N = blocks.MAX_N
CONV_2D = 3
FULLY_CONNECTED = 9
KNOWN_OPS = {CONV_2D: "CONV_2D", FULLY_CONNECTED: "FULLY_CONNECTED"}
ENCODING_DENSE = 0
ENCODING_SPARSE = 1
KNOWN_ENCODINGS = {ENCODING_DENSE: "dense", ENCODING_SPARSE: "sparse"}
# Weight types: TFLite's TensorType codes (version 1 records are all float32).
WEIGHT_FLOAT32 = 0
WEIGHT_INT8 = 9
KNOWN_WEIGHT_TYPES = {WEIGHT_FLOAT32: "float32", WEIGHT_INT8: "int8"}
_LIMIT = 2 ** 31


class MetadataError(ValueError):
    """The onexn metadata entry is damaged or has a version this reader does not know."""


@dataclass(eq=False)
class Record:
    """One 1xN-sparse weight: field names and meaning as in docs/FORMAT.md.

    ``group_ptr`` is the CSR row-pointer array; ``kept_cin[g]`` is the array of kept input channels of
    group g (the entry stores them back to back as one array).
    """

    subgraph: int
    operator: int
    builtin_op: int
    weight_tensor: int
    encoding: int
    n: int
    cout: int
    kh: int
    kw: int
    cin: int
    num_groups: int
    num_kept: int
    weight_crc32: int
    group_ptr: np.ndarray = field(repr=False)
    kept_cin: tuple = field(repr=False)
    weight_type: int = WEIGHT_FLOAT32

    def record_bytes_in(self, version):
        """The record's size in an entry of that format version."""
        return RECORD_FIXED_BYTES[version] + 4 * (self.num_groups + 1) + 4 * self.num_kept

    @property
    def record_bytes(self):
        """The record's size in an entry of the lowest version that holds it (1 for float32, 2 for int8):
        what ``encode_entry`` writes when the other records share its weight type."""
        return self.record_bytes_in(lowest_version([self]))

    @property
    def block_sparsity(self):
        """Fraction of the num_groups x cin blocks that are not kept."""
        return 1.0 - self.num_kept / (self.num_groups * self.cin)

    @property
    def known(self):
        """False when builtin_op, encoding or weight_type is one this reader does not know, or the weight is
        int8 in the compact encoding, which the format does not define (readers skip the record)."""
        return (self.builtin_op in KNOWN_OPS and self.encoding in KNOWN_ENCODINGS
                and self.weight_type in KNOWN_WEIGHT_TYPES
                and not (self.weight_type == WEIGHT_INT8 and self.encoding == ENCODING_SPARSE))

    def unknown_reason(self):
        """Why ``known`` is False, for messages."""
        return (f"builtin_op {self.builtin_op}, encoding {self.encoding} and weight_type {self.weight_type}: "
                "an unknown value or combination")

    def kept_blocks(self):
        """(cin, num_groups) boolean map, the layout of ``onexn_tf.blocks.kept_blocks``."""
        keep = np.zeros((self.cin, self.num_groups), dtype=bool)
        for g, channels in enumerate(self.kept_cin):
            keep[channels, g] = True
        return keep

    def weight_shape(self):
        """The TFLite weight tensor shape the record describes."""
        if self.builtin_op == FULLY_CONNECTED:
            return [self.cout, self.cin]
        return [self.cout, self.kh, self.kw, self.cin]

    def __eq__(self, other):
        if not isinstance(other, Record):
            return NotImplemented
        return (_scalars(self) == _scalars(other) and np.array_equal(self.group_ptr, other.group_ptr)
                and len(self.kept_cin) == len(other.kept_cin)
                and all(np.array_equal(a, b) for a, b in zip(self.kept_cin, other.kept_cin)))


_SCALAR_FIELDS = ("subgraph", "operator", "builtin_op", "weight_tensor", "encoding", "n", "cout", "kh", "kw",
                  "cin", "num_groups", "num_kept", "weight_crc32", "weight_type")


def _scalars(record):
    return tuple(int(getattr(record, name)) for name in _SCALAR_FIELDS)


def weight_type_of(weight):
    """WEIGHT_INT8 for an int8 array, WEIGHT_FLOAT32 for anything else (stored as float32)."""
    return WEIGHT_INT8 if np.asarray(weight).dtype == np.int8 else WEIGHT_FLOAT32


def weight_crc32(weight):
    """CRC-32 of the dense weight bytes in the tensor's own (OHWI) order: an int8 array's bytes as they are,
    anything else as little-endian float32."""
    dtype = np.int8 if weight_type_of(weight) == WEIGHT_INT8 else "<f4"
    return zlib.crc32(np.ascontiguousarray(weight, dtype=dtype).tobytes()) & 0xFFFFFFFF


def record_for_weight(weight, n, *, subgraph, operator, builtin_op, weight_tensor, encoding=ENCODING_DENSE):
    """Builds the record of a dense TFLite weight (OHWI filter or (cout, cin)) at block width n: an int8
    array gets an int8 record, anything else a float32 one.

    The kept blocks are the blocks holding a non-zero weight.
    """
    weight_type = weight_type_of(weight)
    weight = np.asarray(weight, dtype=np.int8 if weight_type == WEIGHT_INT8 else np.float32)
    cout, kh, kw, cin = blocks.to_ohwi(weight).shape
    keep = blocks.kept_map(weight, n)
    group_ptr, flat = blocks.csr_index(keep)
    kept = tuple(flat[group_ptr[g]:group_ptr[g + 1]] for g in range(keep.shape[0]))
    return Record(subgraph=subgraph, operator=operator, builtin_op=builtin_op, weight_tensor=weight_tensor,
                  encoding=encoding, n=n, cout=cout, kh=kh, kw=kw, cin=cin, num_groups=keep.shape[0],
                  num_kept=int(flat.size), weight_crc32=weight_crc32(weight), group_ptr=group_ptr,
                  kept_cin=kept, weight_type=weight_type)


def lowest_version(records):
    """The lowest format version that describes the records: 1 when all are float32, else 2."""
    return 1 if all(r.weight_type == WEIGHT_FLOAT32 for r in records) else 2


def encode_entry(records, version=None):
    """Records -> the entry's bytes (header + records). Sorts by (subgraph, operator).

    ``version`` None writes ``lowest_version(records)``: a model with only float32 weights stays readable by
    delegates that know version 1 only. ValueError if the given version cannot hold the records.
    """
    records = sorted(records, key=lambda r: (r.subgraph, r.operator))
    version = lowest_version(records) if version is None else version
    if version not in RECORD_FIXED_BYTES or version < lowest_version(records):
        raise ValueError(f"format version {version} cannot describe these records (it needs version "
                         f"{lowest_version(records)} or higher, up to {VERSION})")
    body = b"".join(_encode_record(r, version) for r in records)
    header = np.array([int.from_bytes(MAGIC, "little"), version, HEADER_BYTES, HEADER_BYTES + len(body),
                       len(records), 0, zlib.crc32(body) & 0xFFFFFFFF, 0], dtype="<u4")
    data = header.tobytes() + body
    parse_entry(data, keep_unknown=True)  # never write what a reader would reject
    return data


def _encode_record(r, version):
    fixed = [r.record_bytes_in(version), r.subgraph, r.operator, r.builtin_op, r.weight_tensor, r.encoding, r.n,
             r.cout, r.kh, r.kw, r.cin, r.num_groups, r.num_kept, r.weight_crc32]
    if version >= 2:
        fixed.append(r.weight_type)
    flat = np.concatenate([np.asarray(k, np.int64) for k in r.kept_cin]) if r.kept_cin else np.zeros(0)
    for name, values in (("record", fixed), ("group_ptr", r.group_ptr), ("kept_cin", flat)):
        if np.size(values) and (np.min(values) < 0 or np.max(values) >= 2 ** 32):
            raise ValueError(f"record for operator {r.operator}: a {name} value does not fit in uint32")
    return b"".join(np.asarray(v, dtype=np.int64).astype("<u4").tobytes() for v in (fixed, r.group_ptr, flat))


def parse_entry(data, *, keep_unknown=False):
    """The entry's bytes -> list of Record. Raises MetadataError naming the first broken rule.

    Records with an unknown builtin_op, encoding or weight_type are structurally checked, then skipped with a
    warning (``keep_unknown=True`` returns them instead). Version 1 records are float32.
    """
    data = bytes(data)
    if len(data) < HEADER_BYTES:
        raise MetadataError(f"onexn metadata is truncated: {len(data)} bytes, the header alone is {HEADER_BYTES}")
    if data[:4] != MAGIC:
        raise MetadataError(f"onexn metadata has bad magic {data[:4]!r}, expected {MAGIC!r}")
    _, version, header_bytes, total, count, _flags, crc, _reserved = np.frombuffer(data[:HEADER_BYTES], "<u4")
    if version > VERSION:
        raise MetadataError(f"onexn metadata version {version} is unknown (this reader knows version {VERSION}); "
                            "the entry must not be used")
    if version not in RECORD_FIXED_BYTES:
        raise MetadataError(f"onexn metadata version {version} is invalid (expected 1..{VERSION})")
    if header_bytes != HEADER_BYTES:
        raise MetadataError(f"onexn metadata header_bytes is {header_bytes}, expected {HEADER_BYTES}")
    if total != len(data):
        raise MetadataError(f"onexn metadata total_bytes is {total} but the entry holds {len(data)} bytes "
                            "(truncated or padded)")
    if zlib.crc32(data[HEADER_BYTES:]) & 0xFFFFFFFF != crc:
        raise MetadataError("onexn metadata CRC-32 does not match its records (the entry is corrupted)")
    records, offset = [], HEADER_BYTES
    for i in range(int(count)):
        record, offset = _parse_record(data, offset, i, int(version))
        if records and (record.subgraph, record.operator) <= (records[-1].subgraph, records[-1].operator):
            raise MetadataError(f"onexn metadata record {i}: records are not sorted by (subgraph, operator) "
                                "or an operator appears twice")
        records.append(record)
    if offset != len(data):
        raise MetadataError(f"onexn metadata has {len(data) - offset} bytes after its {count} records")
    if keep_unknown:
        return records
    for r in records:
        if not r.known:
            warnings.warn(f"onexn metadata: skipping the record of operator {r.operator} ({r.unknown_reason()})",
                          stacklevel=3)
    return [r for r in records if r.known]


def _parse_record(data, offset, index, version):
    where = f"onexn metadata record {index}"
    fixed_bytes = RECORD_FIXED_BYTES[version]
    if offset + fixed_bytes > len(data):
        raise MetadataError(f"{where} is truncated")
    fixed = [int(v) for v in np.frombuffer(data, "<u4", fixed_bytes // 4, offset)]
    size, sub, op, builtin, tensor, encoding, n, cout, kh, kw, cin, groups, kept, crc = fixed[:14]
    weight_type = fixed[14] if version >= 2 else WEIGHT_FLOAT32
    if size != fixed_bytes + 4 * (groups + 1) + 4 * kept:
        raise MetadataError(f"{where}: record_bytes {size} does not match num_groups {groups} and num_kept {kept}")
    if offset + size > len(data):
        raise MetadataError(f"{where} runs past the end of the entry")
    if min(cout, kh, kw, cin) < 1 or cout * kh * kw * cin >= _LIMIT:
        raise MetadataError(f"{where}: bad weight shape cout={cout} kh={kh} kw={kw} cin={cin}")
    if not 1 <= n <= min(MAX_N, cout):
        raise MetadataError(f"{where}: n={n} is outside 1..min({MAX_N}, cout={cout})")
    if builtin == FULLY_CONNECTED and (kh, kw) != (1, 1):
        raise MetadataError(f"{where}: a FULLY_CONNECTED record needs kh = kw = 1, got {kh}x{kw}")
    if groups != -(-cout // n):
        raise MetadataError(f"{where}: num_groups {groups} is not ceil(cout / n) = {-(-cout // n)}")
    if kept > groups * cin:
        raise MetadataError(f"{where}: num_kept {kept} exceeds num_groups * cin = {groups * cin}")
    arrays = np.frombuffer(data, "<u4", groups + 1 + kept, offset + fixed_bytes).astype(np.int64)
    group_ptr, flat = arrays[:groups + 1], arrays[groups + 1:]
    if group_ptr[0] != 0 or group_ptr[-1] != kept or np.any(np.diff(group_ptr) < 0):
        raise MetadataError(f"{where}: group_ptr is not monotone from 0 to num_kept")
    kept_cin = tuple(flat[group_ptr[g]:group_ptr[g + 1]] for g in range(groups))
    for g, channels in enumerate(kept_cin):
        if channels.size and (channels[-1] >= cin or np.any(np.diff(channels) <= 0)):
            raise MetadataError(f"{where}: kept_cin of group {g} is not strictly increasing below cin={cin}")
    record = Record(subgraph=sub, operator=op, builtin_op=builtin, weight_tensor=tensor, encoding=encoding, n=n,
                    cout=cout, kh=kh, kw=kw, cin=cin, num_groups=groups, num_kept=kept, weight_crc32=crc,
                    group_ptr=group_ptr, kept_cin=kept_cin, weight_type=weight_type)
    return record, offset + size

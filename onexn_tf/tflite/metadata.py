"""The ``onexn_1xn`` metadata entry (docs/FORMAT.md, version 1): records <-> bytes (numpy only).

Checking records against a model's real weights is ``onexn_tf.tflite.verify``.
"""

import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np

from onexn_tf import blocks

ENTRY_NAME = "onexn_1xn"
MAGIC = b"ONXN"
VERSION = 1
HEADER_BYTES = 32
RECORD_FIXED_BYTES = 56
MAX_N = blocks.MAX_N
CONV_2D = 3
FULLY_CONNECTED = 9
KNOWN_OPS = {CONV_2D: "CONV_2D", FULLY_CONNECTED: "FULLY_CONNECTED"}
ENCODING_DENSE = 0
ENCODING_SPARSE = 1
KNOWN_ENCODINGS = {ENCODING_DENSE: "dense", ENCODING_SPARSE: "sparse"}
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

    @property
    def record_bytes(self):
        return RECORD_FIXED_BYTES + 4 * (self.num_groups + 1) + 4 * self.num_kept

    @property
    def block_sparsity(self):
        """Fraction of the num_groups x cin blocks that are not kept."""
        return 1.0 - self.num_kept / (self.num_groups * self.cin)

    @property
    def known(self):
        """False when builtin_op or encoding is one this reader does not know (readers skip the record)."""
        return self.builtin_op in KNOWN_OPS and self.encoding in KNOWN_ENCODINGS

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
                  "cin", "num_groups", "num_kept", "weight_crc32")


def _scalars(record):
    return tuple(int(getattr(record, name)) for name in _SCALAR_FIELDS)


def weight_crc32(weight):
    """CRC-32 of the dense float32 weight bytes, little-endian, in the tensor's own (OHWI) order."""
    return zlib.crc32(np.ascontiguousarray(weight, dtype="<f4").tobytes()) & 0xFFFFFFFF


def record_for_weight(weight, n, *, subgraph, operator, builtin_op, weight_tensor, encoding=ENCODING_DENSE):
    """Builds the record of a dense float32 TFLite weight (OHWI filter or (cout, cin)) at block width n.

    The kept blocks are the blocks holding a non-zero weight.
    """
    weight = np.asarray(weight, dtype=np.float32)
    cout, kh, kw, cin = blocks.to_ohwi(weight).shape
    keep = blocks.kept_map(weight, n)
    group_ptr, flat = blocks.csr_index(keep)
    kept = tuple(flat[group_ptr[g]:group_ptr[g + 1]] for g in range(keep.shape[0]))
    return Record(subgraph=subgraph, operator=operator, builtin_op=builtin_op, weight_tensor=weight_tensor,
                  encoding=encoding, n=n, cout=cout, kh=kh, kw=kw, cin=cin, num_groups=keep.shape[0],
                  num_kept=int(flat.size), weight_crc32=weight_crc32(weight), group_ptr=group_ptr,
                  kept_cin=kept)


def encode_entry(records):
    """Records -> the entry's bytes (header + records). Sorts by (subgraph, operator)."""
    records = sorted(records, key=lambda r: (r.subgraph, r.operator))
    body = b"".join(_encode_record(r) for r in records)
    header = np.array([int.from_bytes(MAGIC, "little"), VERSION, HEADER_BYTES, HEADER_BYTES + len(body),
                       len(records), 0, zlib.crc32(body) & 0xFFFFFFFF, 0], dtype="<u4")
    data = header.tobytes() + body
    parse_entry(data, keep_unknown=True)  # never write what a reader would reject
    return data


def _encode_record(r):
    fixed = [r.record_bytes, r.subgraph, r.operator, r.builtin_op, r.weight_tensor, r.encoding, r.n, r.cout,
             r.kh, r.kw, r.cin, r.num_groups, r.num_kept, r.weight_crc32]
    flat = np.concatenate([np.asarray(k, np.int64) for k in r.kept_cin]) if r.kept_cin else np.zeros(0)
    for name, values in (("record", fixed), ("group_ptr", r.group_ptr), ("kept_cin", flat)):
        if np.size(values) and (np.min(values) < 0 or np.max(values) >= 2 ** 32):
            raise ValueError(f"record for operator {r.operator}: a {name} value does not fit in uint32")
    return b"".join(np.asarray(v, dtype=np.int64).astype("<u4").tobytes() for v in (fixed, r.group_ptr, flat))


def parse_entry(data, *, keep_unknown=False):
    """The entry's bytes -> list of Record. Raises MetadataError naming the first broken rule.

    Records with an unknown builtin_op or encoding are structurally checked, then skipped with a warning
    (``keep_unknown=True`` returns them instead).
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
    if version != VERSION:
        raise MetadataError(f"onexn metadata version {version} is invalid (expected {VERSION})")
    if header_bytes != HEADER_BYTES:
        raise MetadataError(f"onexn metadata header_bytes is {header_bytes}, expected {HEADER_BYTES}")
    if total != len(data):
        raise MetadataError(f"onexn metadata total_bytes is {total} but the entry holds {len(data)} bytes "
                            "(truncated or padded)")
    if zlib.crc32(data[HEADER_BYTES:]) & 0xFFFFFFFF != crc:
        raise MetadataError("onexn metadata CRC-32 does not match its records (the entry is corrupted)")
    records, offset = [], HEADER_BYTES
    for i in range(int(count)):
        record, offset = _parse_record(data, offset, i)
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
            warnings.warn(f"onexn metadata: skipping the record of operator {r.operator} (unknown builtin_op "
                          f"{r.builtin_op} or encoding {r.encoding})", stacklevel=3)
    return [r for r in records if r.known]


def _parse_record(data, offset, index):
    where = f"onexn metadata record {index}"
    if offset + RECORD_FIXED_BYTES > len(data):
        raise MetadataError(f"{where} is truncated")
    fixed = [int(v) for v in np.frombuffer(data, "<u4", RECORD_FIXED_BYTES // 4, offset)]
    size, sub, op, builtin, tensor, encoding, n, cout, kh, kw, cin, groups, kept, crc = fixed
    if size != RECORD_FIXED_BYTES + 4 * (groups + 1) + 4 * kept:
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
    arrays = np.frombuffer(data, "<u4", groups + 1 + kept, offset + RECORD_FIXED_BYTES).astype(np.int64)
    group_ptr, flat = arrays[:groups + 1], arrays[groups + 1:]
    if group_ptr[0] != 0 or group_ptr[-1] != kept or np.any(np.diff(group_ptr) < 0):
        raise MetadataError(f"{where}: group_ptr is not monotone from 0 to num_kept")
    kept_cin = tuple(flat[group_ptr[g]:group_ptr[g + 1]] for g in range(groups))
    for g, channels in enumerate(kept_cin):
        if channels.size and (channels[-1] >= cin or np.any(np.diff(channels) <= 0)):
            raise MetadataError(f"{where}: kept_cin of group {g} is not strictly increasing below cin={cin}")
    record = Record(subgraph=sub, operator=op, builtin_op=builtin, weight_tensor=tensor, encoding=encoding, n=n,
                    cout=cout, kh=kh, kw=kw, cin=cin, num_groups=groups, num_kept=kept, weight_crc32=crc,
                    group_ptr=group_ptr, kept_cin=kept_cin)
    return record, offset + size

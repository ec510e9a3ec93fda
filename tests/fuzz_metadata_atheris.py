"""atheris (libFuzzer for Python) target for the Python reader of the onexn_1xn entry (onexn_tf.tflite.metadata).

Each input is parsed twice, as given and as a copy whose header is made consistent (magic, the input's
version when it is 2, else 1, header_bytes, total_bytes, CRC-32) so that mutations reach the record rules of
both versions. The contract checked:

- the only exception ``parse_entry`` may raise is ``MetadataError`` (a ValueError with a message);
- an accepted entry re-encodes (``encode_entry`` at its version) to the same records bytes, and the records
  obey docs/FORMAT.md (version 1 records are float32); ``keep_unknown=False`` returns exactly the known
  records.

Run (not collected by pytest; tests/test_reliability_fuzz.py runs it briefly):

    python tests/fuzz_metadata_atheris.py -max_total_time=60          # corpus: build/fuzz/atheris_corpus
    python tests/fuzz_metadata_atheris.py -atheris_runs=5000 CORPUS_DIR

Without a corpus directory argument the run starts from a copy of tflite_delegate/fuzz/seed_corpus.
atheris 3.0 itself grows the process by about 1 KB per run here (its hooks on the instrumented numpy
comparisons; the reader alone stays flat), so libFuzzer's default 2 GB RSS limit ends a run after about
3 minutes: run longer campaigns as repeated runs on the same corpus directory.
"""

import os
import shutil
import struct
import sys
import warnings
import zlib
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["onexn_tf.tflite.metadata"]):
    from onexn_tf.tflite import metadata

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "tflite_delegate" / "fuzz" / "seed_corpus"
DICT = ROOT / "tflite_delegate" / "fuzz" / "metadata.dict"
WORK_CORPUS = ROOT / "build" / "fuzz" / "atheris_corpus"


def consistent_header(data):
    """A copy of `data` (>= 32 bytes) whose header passes every header check."""
    fixed = bytearray(data)
    version = 2 if struct.unpack_from("<I", data, 4)[0] == 2 else 1
    fixed[0:16] = metadata.MAGIC + struct.pack("<III", version, metadata.HEADER_BYTES, len(data))
    fixed[24:28] = struct.pack("<I", zlib.crc32(bytes(fixed[32:])) & 0xFFFFFFFF)
    return bytes(fixed)


def check_record(r):
    assert 1 <= r.n <= min(metadata.MAX_N, r.cout), r
    assert min(r.kh, r.kw, r.cin) >= 1 and r.cout * r.kh * r.kw * r.cin < 2 ** 31, r
    assert r.num_groups == -(-r.cout // r.n) and len(r.group_ptr) == r.num_groups + 1, r
    assert len(r.kept_cin) == r.num_groups and sum(len(k) for k in r.kept_cin) == r.num_kept, r
    for channels in r.kept_cin:
        assert all(0 <= a < b for a, b in zip(channels[:-1], channels[1:])), r
        assert all(c < r.cin for c in channels), r
    assert r.builtin_op != metadata.FULLY_CONNECTED or (r.kh, r.kw) == (1, 1), r


def parse_and_check(data):
    try:
        records = metadata.parse_entry(data, keep_unknown=True)
    except metadata.MetadataError as e:
        assert str(e), "MetadataError without a message"
        return
    header = struct.unpack_from("<8I", data)
    assert header[3] == len(data) and header[4] == len(records)
    for r in records:
        check_record(r)
        assert header[1] >= 2 or r.weight_type == metadata.WEIGHT_FLOAT32, r
    keys = [(r.subgraph, r.operator) for r in records]
    assert keys == sorted(set(keys)), keys
    again = metadata.encode_entry(records, version=header[1])
    assert again[32:] == data[32:], "accepted entry does not re-encode to the same records"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        known = metadata.parse_entry(data)
    assert known == [r for r in records if r.known]


def test_one_input(data):
    parse_and_check(data)
    if len(data) >= metadata.HEADER_BYTES:
        parse_and_check(consistent_header(data))


def main():
    argv = list(sys.argv)
    if not any(os.path.isdir(a) for a in argv[1:]):
        if not WORK_CORPUS.is_dir():
            WORK_CORPUS.mkdir(parents=True)
            for seed in SEEDS.iterdir():
                shutil.copy(seed, WORK_CORPUS / seed.name)
        argv.append(str(WORK_CORPUS))
    if not any(a.startswith("-dict=") for a in argv):
        argv.insert(1, f"-dict={DICT}")
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

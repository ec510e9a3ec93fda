"""benchmarks/thread_profile.py: a model's delegate steps at 1 and 2 threads side by side, a chain's 1-thread
blocks summed under its one 2-thread step, and the chain's two sides per block (dwblock-chain.c's timing)."""

import os
import subprocess
import sys

import pytest

from benchmarks import thread_profile
from onexn_tf.runtime import bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DELEGATE_OK, DELEGATE_WHY = bench.delegate_status()

ONE = """\
onexn profile: partition of 5 nodes, 3.000 ms per invoke in its steps
onexn profile: node    0 CONV_2D            f32-spconv-8x16-avx512f               0.400 ms
onexn profile: node    1 DEPTHWISE_CONV_2D  f32-dwconv-minmax-16c-avx512f         1.000 ms (fused block of 2 nodes)
onexn profile: node    3 CONV_2D            f32-spconv-16x4-pixelvec-avx512f      1.200 ms (fused block of 3 nodes)
onexn profile: node    6 FULLY_CONNECTED    f32-spconv-8x4-avx2                   0.400 ms
"""
TWO = """\
onexn profile: partition of 5 nodes, 1.700 ms per invoke in its steps
onexn profile: node    0 CONV_2D            f32-spconv-8x16-avx512f               0.250 ms, ends  0.004 ms apart
onexn profile: node    1 DEPTHWISE_CONV_2D  f32-dwconv-minmax-16c-avx512f         1.200 ms, ends  0.020 ms apart (chain of 2 fused blocks, nodes 1-5)
onexn profile:      block  0 (nodes 1-2, 112 rows): from the top  57.0 rows   0.500 ms, waited  0.010 ms; from the bottom  55.0 rows   0.510 ms, waited  0.000 ms
onexn profile:      block  1 (nodes 3-5,  56 rows): from the top  28.0 rows   0.600 ms, waited  0.000 ms; from the bottom  28.0 rows   0.650 ms, waited  0.020 ms
onexn profile: node    6 FULLY_CONNECTED    f32-spconv-8x4-avx2                   0.250 ms, ends  0.000 ms apart
"""


def test_the_chain_step_gets_the_one_thread_blocks_it_covers():
    one, blocks_one = thread_profile.parse_profile(ONE)
    two, blocks = thread_profile.parse_profile(TWO)
    assert [s[0] for s in one] == [0, 1, 3, 6] and blocks_one == []
    assert [s[0] for s in two] == [0, 1, 6] and two[1][4].startswith("(chain of 2")
    assert [s[5] for s in two] == [0.004, 0.02, 0.0] and [s[5] for s in one] == [0.0] * 4
    assert [(s[0], ms) for s, ms in thread_profile.join(one, two)] == [(0, 0.4), (1, pytest.approx(2.2)), (6, 0.4)]
    assert [b["rows"] for b in blocks] == [112, 56] and blocks[0]["top"] == {"rows": 57.0, "ms": 0.5, "wait_ms": 0.01}
    assert blocks[1]["bottom"] == {"rows": 28.0, "ms": 0.65, "wait_ms": 0.02} and (blocks[1]["first"], blocks[1]["last"]) == (3, 5)
    text = thread_profile.report({1: 3.1, 2: 1.8}, {1: (one, []), 2: (two, blocks)})
    lines = text.splitlines()
    chain = next(line for line in lines if "(chain of 2" in line)
    assert chain.split()[:5] == ["2.200", "1.200", "1.83", "0.100", "0.020"]  # 1T, 2T, speedup, 2T - 1T / 2, apart
    assert next(line for line in lines if line.endswith("the steps")).split()[:5] == ["3.000", "1.700", "1.76", "0.200",
                                                                                      "0.024"]
    block1 = next(line for line in lines if line.startswith("block  1"))
    assert "1T/2   0.600" in block1 and "bottom  28.0 rows   0.650 (+0.020)" in block1


def test_a_step_that_starts_inside_a_one_thread_step_is_marked():
    one, _ = thread_profile.parse_profile(ONE)
    two, blocks = thread_profile.parse_profile(TWO)
    text = thread_profile.report({1: 3.0, 2: 1.7}, {1: (one, []), 2: (two, blocks)})
    assert " *" not in text and "no 1-thread step starts" not in text
    # At 2 threads node 3 runs apart and nodes 4-5 fuse: no 1-thread step starts at node 4.
    split = TWO.replace("chain of 2 fused blocks, nodes 1-5", "chain of 2 fused blocks, nodes 1-3").replace(
        "onexn profile: node    6", "onexn profile: node    4 CONV_2D            f32-spconv-8x16-avx512f"
        "               0.300 ms, ends  0.010 ms apart (fused block of 2 nodes)\nonexn profile: node    6")
    two, blocks = thread_profile.parse_profile(split)
    lines = thread_profile.report({1: 3.0, 2: 2.0}, {1: (one, []), 2: (two, blocks)}).splitlines()
    marked = [line for line in lines if line.endswith(" *")]
    assert len(marked) == 1 and "node 4 CONV_2D" in marked[0] and marked[0].split()[0] == "0.000"
    assert any(line.startswith("* no 1-thread step starts at this node") for line in lines)


def test_no_profile_is_said_so():
    assert "printed no profile" in thread_profile.report({1: 1.0, 2: 1.0}, {1: ([], []), 2: ([], [])})


def test_bad_arguments_are_refused(tmp_path):
    for argv in (["m.tflite", "--turns", "0"], ["m.tflite", "--option", "num_threads=4"], ["m.tflite", "--option", "x"]):
        with pytest.raises(SystemExit) as e:
            thread_profile.main(argv)
        assert e.value.code == 2


@pytest.mark.skipif(not DELEGATE_OK, reason=f"onexn delegate not built: {DELEGATE_WHY}")
def test_a_chain_of_blocks_is_profiled_at_both_thread_counts(tmp_path):
    from test_delegate_chains import _blocks

    path = tmp_path / "blocks.tflite"
    path.write_bytes(_blocks())
    # Its own process: the delegate reads ONEXN_PROFILE once per process.
    out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "thread_profile.py"), str(path), "--turns",
                          "2", "--turn", "3", "--option", "dense=never"], capture_output=True, text=True, cwd=ROOT,
                         env={k: v for k, v in os.environ.items() if k != "ONEXN_PROFILE"}, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any("(chain of 4 fused blocks" in line for line in lines), out.stdout
    blocks = [line for line in lines if line.startswith("block ")]
    assert len(blocks) == 4, out.stdout
    for line in blocks:  # the two sides' rows add up to the block's
        words = line.replace("|", " ").split()
        rows, top, bottom = float(words[4]), float(words[words.index("top") + 1]), float(words[words.index("bottom") + 1])
        assert top + bottom == pytest.approx(rows), line
    steps = next(line for line in lines if line.endswith("the steps")).split()
    assert float(steps[0]) > 0 and float(steps[1]) > 0
    rows = [line.split() for line in lines if line.split()[5:6] == ["node"]]
    assert rows, out.stdout
    for words in rows:  # the threads end apart within the step's own time (the pool's timing, at 2 threads)
        assert 0 <= float(words[4]) <= float(words[1]), words

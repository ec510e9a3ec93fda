#!/usr/bin/env python3
"""Writes the generated microkernels, tflite_delegate/kernels/<family>/gen/*.c, from the families' Jinja2
templates (<family>/*.c.in). The register-tiled loops are spelled out so that every compiler keeps the
accumulators in registers; the templates say once what the copies have in common.

    python3 tflite_delegate/tools/generate_kernels.py           rewrites the files
    python3 tflite_delegate/tools/generate_kernels.py --check   writes nothing; exits 1 naming every file
                                                                that differs, is missing or is left over

A new generated kernel: add a row to its family's function below (and to the family's kernel list,
<family>/<family>.inc, and tflite_delegate/sources.json), then run this tool.
"""
import argparse
import sys
from pathlib import Path

import jinja2

KERNELS = Path(__file__).resolve().parents[1] / "kernels"
TOOL = "tflite_delegate/tools/generate_kernels.py"


# Most pixels of one tile of the 8x16 AVX-512 kernel where rows are at a fixed stride (direct addressing).
DIRECT_MR = 16


def f32_spconv():
    """Indirection kernels: (output, template, variables) per file."""
    yield "f32-spconv-8x16-avx512f.c", "8x16-avx512f.c.in", dict(rows=(4, 5, 6, 7, 8), direct_mr=DIRECT_MR)
    yield "f32-spconv-8x32-avx512f.c", "8x32-avx512f.c.in", dict(mr=8)
    yield "f32-spconv-8x8-avx2.c", "avx2.c.in", dict(mr=8, nr=8, tiles=(8,))
    yield "f32-spconv-8x4-avx2.c", "avx2.c.in", dict(mr=8, nr=4, tiles=(4, 8))  # plus a 1-pixel tail
    yield "f32-spconv-4x16-avx2.c", "avx2.c.in", dict(mr=4, nr=16, tiles=(4,))
    for nr in (4, 8):
        yield f"f32-spconv-8x{nr}-neon.c", "neon.c.in", dict(mr=8, nr=nr)


def f32_spconv_pixelvec():
    """Pixel-vector kernels (16 or 32 output pixels x nr channels)."""
    for isa, widths in (("avx512f", (1, 2, 4, 8)), ("avx2", (1, 2, 4)), ("neon", (1, 2))):
        for nr in widths:
            yield f"f32-spconv-16x{nr}-pixelvec-{isa}.c", "pixelvec.c.in", dict(isa=isa, nr=nr)
    # Two 16-pixel tiles per call: each broadcast weight feeds two FMAs (see the template).
    for nr in (4, 8):
        yield f"f32-spconv-32x{nr}-pixelvec-avx512f.c", "pixelvec.c.in", dict(isa="avx512f", nr=nr, tiles=2)


# Output pixels per chunk in the depthwise kernels (dwconv.c.in): 8, 16 and 32 measured the same on an Intel
# Xeon (MobileNetV1/V2 1-2% faster than whole rows per channel tile).
DW_CHUNK = 16


def f32_dwconv():
    """Depthwise kernels, one per vector ISA (the scalar one is written by hand)."""
    for isa, channels in (("avx512f", 16), ("avx2", 8), ("neon", 4)):
        yield f"f32-dwconv-minmax-{channels}c-{isa}.c", "dwconv.c.in", dict(isa=isa, chunk=DW_CHUNK)


def f32_vadd():
    """Elementwise add kernels, one per vector ISA (the scalar one is written by hand)."""
    for isa in ("avx512f", "avx2", "neon"):
        yield f"f32-vadd-minmax-{isa}.c", "vadd.c.in", dict(isa=isa)


def f32_softmax():
    """Softmax row kernels, one per vector ISA (the scalar one, with libm's expf, is written by hand)."""
    for isa, channels in (("avx512f", 16), ("avx2", 8), ("neon", 4)):
        yield f"f32-softmax-{channels}c-{isa}.c", "softmax.c.in", dict(isa=isa)


def qs8_qc8w_spconv():
    """int8 1xN kernels: AVX512-VNNI at three vector widths (at 16 also reading the input rows directly with
    VBMI's vpermb, and that one's multiply-adds on AMX tiles), NEON dot product at two (the AVX2, NEON and
    scalar ones are written by hand)."""
    for nr in (16, 8, 4):
        yield f"qs8-qc8w-spconv-16x{nr}-avx512vnni.c", "avx512vnni.c.in", dict(nr=nr, isa="avx512vnni", direct=False,
                                                                                     amx=False)
    for isa, amx in (("avx512vnnivbmi", False), ("avx512amx", True)):  # the direct kernel on vectors, on tiles
        yield f"qs8-qc8w-spconv-16x16-{isa}.c", "avx512vnni.c.in", dict(nr=16, isa=isa, direct=True, amx=amx)
    for nr in (8, 4):
        yield f"qs8-qc8w-spconv-16x{nr}-neondot.c", "neondot.c.in", dict(nr=nr)


def qs8_qc8w_dwconv():
    for isa, channels in (("avx512vnni", 16), ("avx512", 16), ("avx2", 8), ("neon", 8)):
        yield f"qs8-qc8w-dwconv-minmax-fp32-{channels}c-{isa}.c", "dwconv.c.in", dict(isa=isa)


def x8_pixelvec_gather():
    """int8 tile gathers with an in-register byte transpose (the scalar one is written by hand)."""
    for isa in ("avx512bw", "avx2", "neon"):
        yield f"x8-pixelvec-gather-16-{isa}.c", "gather.c.in", dict(isa=isa)


def f32_pool():
    """Max and average pooling kernels, one of each per ISA (the scalar ones too: they share the template)."""
    for isa, channels in (("avx512f", 16), ("avx2", 8), ("neon", 4), ("scalar", 1)):
        tile = f"{channels}c-" if channels > 1 else ""
        for kind in ("max", "avg"):
            yield f"f32-{kind}pool-minmax-{tile}{isa}.c", "pool.c.in", dict(isa=isa, kind=kind)


def s8_maxpool():
    """int8 max pooling kernels, one per ISA (the scalar one too: they share the template)."""
    for isa, channels in (("avx512bw", 64), ("avx2", 32), ("neon", 16), ("scalar", 1)):
        tile = f"{channels}c-" if channels > 1 else ""
        yield f"s8-maxpool-minmax-{tile}{isa}.c", "maxpool.c.in", dict(isa=isa)


FAMILIES = {
    "f32-spconv": f32_spconv,
    "f32-spconv-pixelvec": f32_spconv_pixelvec,
    "f32-dwconv": f32_dwconv,
    "f32-vadd": f32_vadd,
    "f32-softmax": f32_softmax,
    "qs8-qc8w-spconv": qs8_qc8w_spconv,
    "qs8-qc8w-dwconv": qs8_qc8w_dwconv,
    "x8-pixelvec-gather": x8_pixelvec_gather,
    "f32-pool": f32_pool,
    "s8-maxpool": s8_maxpool,
}


def generate():
    """{path under kernels/: text} of every generated file."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(KERNELS)), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    files = {}
    for family, rows in FAMILIES.items():
        for output, template, variables in rows():
            name = f"{family}/{template}"
            text = env.get_template(name).render(**variables)
            files[f"{family}/gen/{output}"] = f"// Generated by {TOOL} from {name}: do not edit.\n" + text
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; fail if a checked-in file differs from what would be written")
    args = parser.parse_args(argv)
    files = generate()
    on_disk = {str(p.relative_to(KERNELS)) for family in FAMILIES for p in (KERNELS / family / "gen").glob("*")}
    stale = sorted(on_disk - set(files))
    if args.check:
        wrong = [path for path, text in files.items()
                 if not (KERNELS / path).is_file() or (KERNELS / path).read_text() != text]
        for path in wrong:
            print(f"{KERNELS / path}: differs from its template (run {TOOL})")
        for path in stale:
            print(f"{KERNELS / path}: not generated by any template (remove it)")
        if wrong or stale:
            return 1
        print(f"generate_kernels: {len(files)} generated kernels are current")
        return 0
    for path, text in files.items():
        target = KERNELS / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
            print(f"wrote {target}")
    for path in stale:
        (KERNELS / path).unlink()
        print(f"removed {KERNELS / path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

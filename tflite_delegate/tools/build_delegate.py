#!/usr/bin/env python3
"""The delegate's build outside Bazel, from the one description of it (tflite_delegate/sources.json).
Standard library only: setup.py imports it before anything is installed.

    build_delegate.py library --out DIR [--testing] [--cc CC] [--cxx CXX] [--arch ARCH] [--jobs N] [-- FLAGS...]
        builds DIR/libonexn_delegate.so, or with --testing the testing variant DIR/libonexn_delegate_testing.so
        (sources.json's delegate.testing: the test hooks, compiled in with their defines); FLAGS go to every
        compile and the link, e.g. sanitizers. Prints the library's path. Skipped when the library is newer
        than every input and was built with the same command.
    build_delegate.py sources fuzzers.NAME | kernels.public_hdrs | ...
        prints the paths of one list of sources.json, one per line
    build_delegate.py bzl [--check]
        writes tflite_delegate/sources.bzl (the same description for Bazel, which cannot read JSON);
        --check fails if the checked-in file differs, or if a kernel source is missing from the lists

Examples: the sanitized library the Python tests load (tflite_delegate/fuzz/build_delegate.sh), an aarch64
library: `build_delegate.py library --out build/aarch64 --arch aarch64 --cc aarch64-linux-gnu-gcc
--cxx aarch64-linux-gnu-g++`.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # tflite_delegate/
SOURCES_JSON = ROOT / "sources.json"
SOURCES_BZL = ROOT / "sources.bzl"
LIBRARY = "libonexn_delegate.so"
# Outside Bazel (which adds its own): position-independent objects for a shared library, no debug info.
PLAIN_COPTS = ["-fPIC", "-g0"]


def load():
    with open(SOURCES_JSON) as f:
        return json.load(f)


def machine_arch(machine=None):
    """sources.json's name for a machine's architecture (x86_64, aarch64); other names pass through."""
    machine = (machine or platform.machine()).lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def compile_units(arch, sources=None, testing=False):
    """(absolute path, flags) of every source of the library on `arch`: the kernels of each ISA built there,
    then the delegate (with `testing`, also its test hooks, and every delegate source gets their defines).
    The flags are the ones sources.json gives plus PLAIN_COPTS."""
    sources = sources or load()
    kernels, delegate = sources["kernels"], sources["delegate"]
    units = []
    for isa, spec in sources["isas"].items():
        if arch in spec["arches"]:
            flags = kernels["copts"] + PLAIN_COPTS + spec["copts"]
            units += [(ROOT / path, flags) for path in kernels["srcs"][isa]]
    glue, flags = delegate["srcs"], delegate["copts"] + PLAIN_COPTS
    if testing:
        glue = glue + delegate["testing"]["srcs"]
        flags = flags + [f"-D{d}" for d in delegate["testing"]["defines"]]
    units += [(ROOT / path, flags) for path in glue]
    return units


def include_dirs(sources=None):
    sources = sources or load()
    return [ROOT / d for d in sources["kernels"]["include_dirs"] + sources["delegate"]["include_dirs"]]


def link_flags(sources=None):
    """Linker flags of the library: its libraries (sources.json's kernels.linkopts) and the export list (only
    the plugin entry points are visible)."""
    sources = sources or load()
    return sources["kernels"]["linkopts"] + [f"-Wl,--version-script={ROOT / sources['delegate']['linker_script']}"]


def inputs():
    """Every file the library's build reads: the staleness check's list, and what an sdist must carry."""
    names = [p for p in ("kernels", "src", "include") if (ROOT / p).is_dir()]
    files = [f for name in names for f in (ROOT / name).rglob("*") if f.is_file()]
    return files + [SOURCES_JSON, Path(__file__)]


def build_library(out, cc="cc", cxx="c++", arch=None, extra=(), jobs=2, testing=False):
    """Compiles and links out/libonexn_delegate.so (or, with `testing`, the testing variant); returns its
    path. The two variants keep their objects apart, so both can live in one directory."""
    sources = load()
    arch = arch or machine_arch()
    out = Path(out)
    library = out / (sources["delegate"]["testing"]["library"] if testing else LIBRARY)
    stamp = out / (library.stem + ".command.json")
    objdir = out / ("obj_testing" if testing else "obj")
    command = {"cc": cc, "cxx": cxx, "arch": arch, "extra": list(extra)}
    if (library.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == command
            and all(f.stat().st_mtime <= library.stat().st_mtime for f in inputs())):
        return library
    objdir.mkdir(parents=True, exist_ok=True)
    includes = [f"-I{d}" for d in include_dirs(sources)]

    def compile_one(unit):
        path, flags = unit
        obj = objdir / (str(path.relative_to(ROOT)).replace("/", "_") + ".o")
        compiler = cc if path.suffix == ".c" else cxx
        subprocess.run([compiler, *flags, *extra, *includes, "-c", str(path), "-o", str(obj)], check=True)
        return str(obj)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        objects = list(pool.map(compile_one, compile_units(arch, sources, testing)))
    subprocess.run([cxx, "-shared", *extra, *objects, "-o", str(library), *link_flags(sources)], check=True)
    stamp.write_text(json.dumps(command))
    return library


def source_list(key, sources=None):
    """The list at a dotted key of sources.json (e.g. fuzzers.metadata_reader_fuzzer), as absolute paths."""
    node = sources or load()
    for part in key.split("."):
        node = node[part]
    if not isinstance(node, list):
        raise KeyError(f"{key} is not a list of files in {SOURCES_JSON}")
    return [ROOT / p for p in node]


def bzl_text(sources=None):
    sources = sources or load()
    return ("# Generated by tflite_delegate/tools/build_delegate.py from tflite_delegate/sources.json: do not edit.\n"
            "# Bazel 4 cannot read JSON while loading BUILD files; this is the same description as Starlark.\n\n"
            f"SOURCES = {json.dumps(sources, indent=4)}\n")


def unlisted_kernels(sources=None):
    """Kernel C files that no ISA list of sources.json names, or that it names twice."""
    sources = sources or load()
    listed = [p for srcs in sources["kernels"]["srcs"].values() for p in srcs]
    on_disk = {str(p.relative_to(ROOT)) for p in (ROOT / "kernels").rglob("*.c")}
    missing = sorted(on_disk - set(listed))
    twice = sorted({p for p in listed if listed.count(p) > 1})
    gone = sorted(set(listed) - on_disk)
    return ([f"{p}: not in any kernels.srcs list" for p in missing] + [f"{p}: listed twice" for p in twice]
            + [f"{p}: listed but missing" for p in gone])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    lib = commands.add_parser("library", help="build libonexn_delegate.so")
    lib.add_argument("--out", required=True)
    lib.add_argument("--testing", action="store_true", help="the testing variant (test hooks compiled in)")
    lib.add_argument("--cc", default=os.environ.get("CC", "cc"))
    lib.add_argument("--cxx", default=os.environ.get("CXX", "c++"))
    lib.add_argument("--arch", default=machine_arch())
    lib.add_argument("--jobs", type=int, default=2)
    lib.add_argument("flags", nargs="*", help="extra flags for every compile and the link (after --)")
    lst = commands.add_parser("sources", help="print one list of sources.json")
    lst.add_argument("key")
    bzl = commands.add_parser("bzl", help="write sources.bzl")
    bzl.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)

    if args.command == "library":
        print(build_library(args.out, args.cc, args.cxx, args.arch, args.flags, args.jobs, args.testing))
    elif args.command == "sources":
        print("\n".join(str(p) for p in source_list(args.key)))
    elif args.check:
        problems = unlisted_kernels()
        if not SOURCES_BZL.is_file() or SOURCES_BZL.read_text() != bzl_text():
            problems.append(f"{SOURCES_BZL}: differs from sources.json (run {Path(__file__).name} bzl)")
        for problem in problems:
            print(problem)
        if problems:
            return 1
        print("build_delegate: sources.bzl matches sources.json, every kernel source is listed once")
    else:
        SOURCES_BZL.write_text(bzl_text())
        print(f"wrote {SOURCES_BZL}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

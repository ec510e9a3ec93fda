"""Builds the onexn_tf package and the TFLite delegate library onexn_tf/libonexn_delegate.so.

The delegate is a plain shared library (not a Python extension), compiled with the machine's C/C++
compiler (CC/CXX are honoured) on every `pip install .` / `pip install -e .`. Kernel sources take their
ISA flags from the file name (`*-avx512f.c`, `*-avx2.c`, `*-sse2.c`, `*-neon.c`; see
tflite_delegate/kernels/build_kernels.sh), so one library dispatches at run time between the ISAs the
machine's architecture has.
"""

import glob
import os
import platform

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

DELEGATE_MODULE = "onexn_tf.libonexn_delegate"
DELEGATE_FILE = os.path.join("onexn_tf", "libonexn_delegate.so")
KERNEL_DIR = os.path.join("tflite_delegate", "kernels")
GLUE_DIR = os.path.join("tflite_delegate", "src")
ABI_DIR = os.path.join("tflite_delegate", "include")

AVX512_FLAGS = ["-mavx512f", "-mavx512vl", "-mavx512dq", "-mavx512bw", "-mfma", "-mavx2"]


def _arch():
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return "x86_64"
    if machine in ("aarch64", "arm64"):
        return "aarch64"
    return machine


def kernel_flags(path, arch):
    """ISA flags for one kernel source, or None when the file is not built for `arch`."""
    name = os.path.basename(path)
    if name.endswith("-avx512f.c"):
        return AVX512_FLAGS if arch == "x86_64" else None
    if name.endswith("-avx2.c"):
        return ["-mavx2", "-mfma"] if arch == "x86_64" else None
    if name.endswith("-sse2.c"):
        return ["-msse2"] if arch in ("x86_64", "i686", "i386", "x86") else None
    if name.endswith("-neon.c"):
        return [] if arch == "aarch64" else None
    return []


class SharedLibrary(Extension):
    """A plain shared library built from C kernels and C++ delegate glue (no Python module init)."""


class BuildDelegate(build_ext):
    """build_ext that also knows how to build SharedLibrary targets with per-file flags."""

    def get_ext_filename(self, fullname):
        # Called with the dotted name and, by get_ext_fullpath, with the last component alone.
        if fullname == DELEGATE_MODULE:
            return DELEGATE_FILE
        if fullname == DELEGATE_MODULE.rsplit(".", 1)[1]:
            return os.path.basename(DELEGATE_FILE)
        return super().get_ext_filename(fullname)

    def build_extension(self, ext):
        if not isinstance(ext, SharedLibrary):
            return super().build_extension(ext)
        root = os.path.dirname(os.path.abspath(__file__))
        arch = _arch()
        common = ["-O2", "-g0", "-fPIC", "-fvisibility=hidden", "-Wall"]
        includes = [os.path.join(root, d) for d in (KERNEL_DIR, GLUE_DIR, ABI_DIR)]
        objects = []
        for src in sorted(glob.glob(os.path.join(root, KERNEL_DIR, "*.c"))):
            flags = kernel_flags(src, arch)
            if flags is None:
                continue
            objects += self.compiler.compile(
                [src], output_dir=self.build_temp, include_dirs=includes,
                extra_postargs=["-std=c11"] + common + flags)
        for src in sorted(glob.glob(os.path.join(root, GLUE_DIR, "*.cc"))):
            objects += self.compiler.compile(
                [src], output_dir=self.build_temp, include_dirs=includes,
                extra_postargs=["-std=c++17", "-fvisibility-inlines-hidden"] + common)
        output = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(output), exist_ok=True)
        self.compiler.link_shared_object(
            objects, output, libraries=["pthread", "m"], target_lang="c++",
            extra_postargs=["-Wl,--no-undefined",
                            "-Wl,--version-script=" + os.path.join(root, GLUE_DIR, "onexn_delegate.lds")])


# The runtime: load the delegate, read and check .tflite files, benchmark (`onexn inspect`, `onexn bench`).
INSTALL_REQUIRES = [
    "numpy>=1.26",
    "ai-edge-litert>=2.3,<2.4",
    "flatbuffers>=24.3.25",  # .tflite files read and written through ai-edge-litert's generated schema
    "tqdm>=4.60",
]

TRAIN = [
    # The Keras side and the converter. TensorFlow and tf-keras are released together and must match.
    "tensorflow-cpu==2.21.*",
    "tf-keras==2.21.*",
    "tensorflow-model-optimization>=0.8.1,<0.9",
    "absl-py>=1.4",
]

DEMO = TRAIN + ["scikit-learn>=1.3"]  # the digits set behind `onexn demo` and the examples (ships in the wheel)

EXTRAS = {
    "train": TRAIN,
    "demo": DEMO,
    "dev": DEMO + ["pytest>=8", "matplotlib>=3.7", "tensorboard", "atheris>=2.3"],
}

setup(
    name="onexn",
    version="0.1.0",
    description="1xN block pruning for Keras and a block-sparse TensorFlow Lite delegate",
    packages=find_packages(include=["onexn_tf", "onexn_tf.*"]),
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["onexn = onexn_tf.cli:main"]},
    ext_modules=[SharedLibrary(DELEGATE_MODULE, sources=[])],
    cmdclass={"build_ext": BuildDelegate},
)

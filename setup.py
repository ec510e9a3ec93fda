"""Builds the onexn_tf package and the TFLite delegate library onexn_tf/libonexn_delegate.so.

The delegate is a plain shared library (not a Python extension), compiled with the machine's C/C++
compiler (CC/CXX are honoured) on every `pip install .` / `pip install -e .`. Its sources and the flags of
each kernel ISA come from tflite_delegate/sources.json (read through tflite_delegate/tools/build_delegate.py,
as Bazel and the sanitizer, fuzzer and cross builds do), so one library dispatches at run time between the
ISAs the machine's architecture has.
"""

import os
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tflite_delegate", "tools"))
import build_delegate  # noqa: E402  (the build description's reader, standard library only)

DELEGATE_MODULE = "onexn_tf.libonexn_delegate"
DELEGATE_FILE = os.path.join("onexn_tf", build_delegate.LIBRARY)


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
        sources = build_delegate.load()
        includes = [str(d) for d in build_delegate.include_dirs(sources)]
        objects = []
        for src, flags in build_delegate.compile_units(build_delegate.machine_arch(), sources):
            objects += self.compiler.compile([str(src)], output_dir=self.build_temp, include_dirs=includes,
                                             extra_postargs=flags)
        output = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(output), exist_ok=True)
        self.compiler.link_shared_object(
            objects, output, target_lang="c++",
            extra_postargs=["-Wl,--no-undefined"] + build_delegate.link_flags(sources))


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
    "dev": DEMO + ["pytest>=8", "matplotlib>=3.7", "tensorboard", "atheris>=2.3",
                   "jinja2>=3.1"],  # jinja2: tflite_delegate/tools/generate_kernels.py
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

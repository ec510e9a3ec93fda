"""The testing variant of the delegate library, libonexn_delegate_testing.so: the production delegate plus
test hooks (the ``abi_probe`` option), which the production library rejects as an unknown option.

Bazel builds it (``bazel build //tflite_delegate:libonexn_delegate_testing.so``), scripts/test.sh does that
and names it in ``ONEXN_TESTING_DELEGATE_PATH``; the sanitized runs name their own instrumented build.
"""

import contextlib
import os
from pathlib import Path

from onexn_tf.runtime.delegate import PATH_ENV

TESTING_PATH_ENV = "ONEXN_TESTING_DELEGATE_PATH"
BUILD_HINT = (f"set {TESTING_PATH_ENV} to the library built by "
              "`bazel build //tflite_delegate:libonexn_delegate_testing.so` (scripts/test.sh does both)")


def path():
    """The testing library's path (str), or None when the variable is unset or names no file."""
    value = os.environ.get(TESTING_PATH_ENV)
    return value if value and Path(value).is_file() else None


@contextlib.contextmanager
def in_use():
    """Points onexn_tf.runtime.delegate (``ONEXN_DELEGATE_PATH``) at the testing library while the block runs."""
    library = path()
    if library is None:
        raise FileNotFoundError(f"no testing library of the delegate: {BUILD_HINT}")
    saved = os.environ.get(PATH_ENV)
    os.environ[PATH_ENV] = library
    try:
        yield library
    finally:
        if saved is None:
            del os.environ[PATH_ENV]
        else:
            os.environ[PATH_ENV] = saved

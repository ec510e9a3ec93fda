"""Bazel's native C/C++ rules under the names rules_cc exports (offline stand-in, see ../WORKSPACE)."""

cc_binary = native.cc_binary
cc_import = native.cc_import
cc_library = native.cc_library
cc_test = native.cc_test
cc_toolchain = native.cc_toolchain
cc_toolchain_suite = native.cc_toolchain_suite

# Present in some Bazel versions only.
cc_proto_library = getattr(native, "cc_proto_library", None)
cc_shared_library = getattr(native, "cc_shared_library", None)
fdo_prefetch_hints = getattr(native, "fdo_prefetch_hints", None)
fdo_profile = getattr(native, "fdo_profile", None)
objc_import = getattr(native, "objc_import", None)
objc_library = getattr(native, "objc_library", None)

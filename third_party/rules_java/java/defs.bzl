"""Bazel's native Java rules under the names rules_java exports (offline stand-in, see ../WORKSPACE)."""

java_binary = native.java_binary
java_import = native.java_import
java_library = native.java_library
java_plugin = native.java_plugin
java_runtime = native.java_runtime
java_test = native.java_test
java_toolchain = native.java_toolchain
java_package_configuration = native.java_package_configuration

# Present in some Bazel versions only.
java_lite_proto_library = getattr(native, "java_lite_proto_library", None)
java_proto_library = getattr(native, "java_proto_library", None)

#!/bin/sh
# Stand-in for Bazel's coverage tools (see WORKSPACE): `bazel coverage` is not supported offline.
echo "bazel coverage is not available: remote_coverage_tools is an offline stand-in (third_party/)" >&2
exit 1

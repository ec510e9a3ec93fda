#include "options.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace onexn {
namespace {

#ifdef ONEXN_TESTING
constexpr char kKnownOptions[] =
    "num_threads, kernel, verbose, glue, fuse, channel_slices, pipeline, dense, amx, abi_probe";
#else
constexpr char kKnownOptions[] = "num_threads, kernel, verbose, glue, fuse, channel_slices, pipeline, dense, amx";
#endif

// Strict base-10 integer: no empty string, no trailing characters, no overflow.
bool ParseInt(const char* s, long* out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') return false;
  *out = v;
  return true;
}

std::string Quote(const char* s) { return s == nullptr ? "(null)" : "'" + std::string(s) + "'"; }

std::string ParseBool(const char* key, const char* value, bool* out) {
  if (value != nullptr && (std::strcmp(value, "1") == 0 || std::strcmp(value, "true") == 0)) {
    *out = true;
  } else if (value != nullptr && (std::strcmp(value, "0") == 0 || std::strcmp(value, "false") == 0)) {
    *out = false;
  } else {
    return std::string("option ") + key + "=" + Quote(value) + " must be 0 or 1";
  }
  return "";
}

std::string ParseKernel(const char* value, onexn_isa* out) {
  onexn_isa isa;
  if (value == nullptr || onexn_isa_from_name(value, &isa) != 0) {
    return "option kernel=" + Quote(value) + " is unknown; use auto, scalar, avx2, avx512 or neon";
  }
  if (isa != ONEXN_ISA_AUTO && !onexn_isa_supported(isa)) {
    return "option kernel=" + Quote(value) + " is not supported on this CPU or was not built into " +
           "this library (best available: " + onexn_isa_name(onexn_isa_resolve(ONEXN_ISA_AUTO)) + ")";
  }
  *out = onexn_isa_resolve(isa);
  return "";
}

}  // namespace

std::string ParseOptions(const char* const* keys, const char* const* values, int count,
                         DelegateOptions* out) {
  DelegateOptions opts;
  for (int i = 0; i < count; ++i) {
    const char* key = keys[i];
    const char* value = values[i];
    if (key == nullptr) return "option key is NULL";
    std::string err;
    if (std::strcmp(key, "num_threads") == 0) {
      long v = 0;
      if (!ParseInt(value, &v) || v < -1 || v > kMaxThreads) {
        return "option num_threads=" + Quote(value) + " must be an integer in [1, " +
               std::to_string(kMaxThreads) + "], or -1/0 to follow the interpreter's num_threads";
      }
      opts.num_threads = v <= 0 ? 0 : int(v);
    } else if (std::strcmp(key, "kernel") == 0) {
      err = ParseKernel(value, &opts.isa);
    } else if (std::strcmp(key, "verbose") == 0) {
      err = ParseBool(key, value, &opts.verbose);
    } else if (std::strcmp(key, "amx") == 0) {
      err = ParseBool(key, value, &opts.amx);
    } else if (std::strcmp(key, "fuse") == 0) {
      err = ParseBool(key, value, &opts.fuse);
    } else if (std::strcmp(key, "channel_slices") == 0) {
      err = ParseBool(key, value, &opts.channel_slices);
    } else if (std::strcmp(key, "pipeline") == 0) {
      err = ParseBool(key, value, &opts.pipeline);
    } else if (std::strcmp(key, "dense") == 0) {
      if (value != nullptr && std::strcmp(value, "auto") == 0) {
        opts.dense = ONEXN_DENSE_AUTO;
      } else if (value != nullptr && std::strcmp(value, "never") == 0) {
        opts.dense = ONEXN_DENSE_NEVER;
      } else if (value != nullptr && std::strcmp(value, "always") == 0) {
        opts.dense = ONEXN_DENSE_ALWAYS;
      } else {
        return "option dense=" + Quote(value) + " must be auto, never or always";
      }
    } else if (std::strcmp(key, "glue") == 0) {
      if (value != nullptr && std::strcmp(value, "auto") == 0) {
        opts.glue = GlueOps::kAuto;
      } else if (value != nullptr && std::strcmp(value, "off") == 0) {
        opts.glue = GlueOps::kOff;
      } else if (value != nullptr && std::strcmp(value, "all") == 0) {
        opts.glue = GlueOps::kAll;
      } else {
        return "option glue=" + Quote(value) + " must be auto, off or all";
      }
#ifdef ONEXN_TESTING
    } else if (std::strcmp(key, "abi_probe") == 0) {
      long v = -1;
      if (!ParseInt(value, &v) || v < 0 || v > 2) {
        return "option abi_probe=" + Quote(value) + " must be 0, 1 or 2";
      }
      opts.abi_probe = int(v);
#endif
    } else {
      return "unknown option " + Quote(key) + " (known: " + kKnownOptions + ")";
    }
    if (!err.empty()) return err;
  }
  if (opts.isa == ONEXN_ISA_AUTO) opts.isa = onexn_isa_resolve(ONEXN_ISA_AUTO);
  if (opts.amx && !onexn_isa_supported(ONEXN_ISA_AVX512AMX)) {
    return onexn_cpu_has_amx_int8() && onexn_isa_supported(ONEXN_ISA_AVX512VNNIVBMI)
               ? "option amx=1 needs AMX-INT8 tiles that Linux lets this process use: it refused the tile state "
                 "(arch_prctl ARCH_REQ_XCOMP_PERM; e.g. an alternate signal stack too small for it)"
               : "option amx=1 needs AMX-INT8 tiles that Linux lets this process use, with AVX512-VNNI and VBMI; "
                 "this CPU or system has none";
  }
  if (opts.amx && opts.isa != ONEXN_ISA_AVX512) {
    return std::string("option amx=1 runs beside the AVX-512 kernels; kernel=") + onexn_isa_name(opts.isa) +
           " excludes it";
  }
  *out = opts;
  return "";
}

}  // namespace onexn

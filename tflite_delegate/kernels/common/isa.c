// ISA names and runtime CPU detection. Compiled without ISA flags on every architecture.
#define _GNU_SOURCE  // syscall (Linux's permission for the AMX tiles)
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "onexn_kernels.h"
#include "operators/operators.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)  // the kernel's bit for the dot product instructions (asm/hwcap.h)
#endif
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// __builtin_cpu_supports also checks that the OS saves the AVX/AVX-512 register state (XCR0).
static int cpu_has_avx2(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
static int cpu_has_avx512(void) {
  __builtin_cpu_init();
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
}
static int cpu_has_avx512vnni(void) { return cpu_has_avx512() && __builtin_cpu_supports("avx512vnni"); }
static int cpu_has_avx512vnnivbmi(void) { return cpu_has_avx512vnni() && __builtin_cpu_supports("avx512vbmi"); }
static int amx_tiles_granted(void);
#endif

int onexn_isa_supported(onexn_isa isa) {
  switch (isa) {
    case ONEXN_ISA_AUTO:
    case ONEXN_ISA_SCALAR:
      return 1;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    case ONEXN_ISA_AVX2:
      return cpu_has_avx2();
    case ONEXN_ISA_AVX512:
      return cpu_has_avx512();
    case ONEXN_ISA_AVX512VNNI:
      return cpu_has_avx512vnni();
    case ONEXN_ISA_AVX512VNNIVBMI:
      return cpu_has_avx512vnnivbmi();
    case ONEXN_ISA_AVX512AMX:
      return cpu_has_avx512vnnivbmi() && amx_tiles_granted();
#endif
#if defined(__aarch64__)
    case ONEXN_ISA_NEON:
      return 1;  // Advanced SIMD is mandatory on aarch64
#if defined(__linux__)
    case ONEXN_ISA_NEONDOT:
      return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
#endif
    default:
      return 0;
  }
}

onexn_isa onexn_isa_resolve(onexn_isa isa) {
  if (isa != ONEXN_ISA_AUTO) return isa;
  if (onexn_isa_supported(ONEXN_ISA_AVX512)) return ONEXN_ISA_AVX512;
  if (onexn_isa_supported(ONEXN_ISA_AVX2)) return ONEXN_ISA_AVX2;
  if (onexn_isa_supported(ONEXN_ISA_NEON)) return ONEXN_ISA_NEON;
  return ONEXN_ISA_SCALAR;
}

// The CPU facts below are asked once per process: cpuid (and glibc's cache sizes, which come from it) traps
// to the hypervisor in a virtual machine, and the cost model asks for every layer and candidate kernel: asked
// each time, they were three quarters of a float MobileNetV2's delegate setup on a cloud Zen 4 (114 -> 30 ms).
typedef int (*cpu_fact)(void);
static int cached(atomic_int* slot, cpu_fact fact) {
  int v = atomic_load_explicit(slot, memory_order_relaxed);
  if (v < 0) {  // racing threads compute the same value
    v = fact();
    atomic_store_explicit(slot, v, memory_order_relaxed);
  }
  return v;
}

static int avx512_on_256bit_units(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return 0;
  const int amd = ebx == 0x68747541 && edx == 0x69746e65 && ecx == 0x444d4163;  // "AuthenticAMD"
  if (!amd || !__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  const unsigned int base = (eax >> 8) & 0xf, extended = (eax >> 20) & 0xff;
  // Family 19h: Zen 4 executes 512-bit operations on 256-bit units (Zen 5, family 1Ah, has full width).
  return base + (base == 0xf ? extended : 0) == 0x19 && onexn_isa_supported(ONEXN_ISA_AVX512);
#else
  return 0;
#endif
}

int onexn_cpu_avx512_on_256bit_units(void) {
  static atomic_int slot = -1;
  return cached(&slot, avx512_on_256bit_units);
}

static int has_amx_int8(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return 0;  // OSXSAVE: xgetbv works
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
  if (!(edx & (1u << 24)) || !(edx & (1u << 25))) return 0;  // AMX-TILE, AMX-INT8
  unsigned int xcr0_lo, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  (void)xcr0_hi;
  return (xcr0_lo & (3u << 17)) == (3u << 17);  // the OS has the tile state on (XTILECFG, XTILEDATA)
#else
  return 0;
#endif
}

int onexn_cpu_has_amx_int8(void) {
  static atomic_int slot = -1;
  return cached(&slot, has_amx_int8);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// Linux hands out the 8 KB tile data state per process, on request (ARCH_REQ_XCOMP_PERM for
// XFEATURE_XTILEDATA); a tile instruction before that raises SIGILL. Granting it twice is harmless: XNNPACK
// asks for it too in the same process.
static int request_amx_tiles(void) {
#if defined(__linux__)
  if (!onexn_cpu_has_amx_int8()) return 0;
  return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
#else
  return 0;
#endif
}

static int amx_tiles_granted(void) {
  static atomic_int slot = -1;
  return cached(&slot, request_amx_tiles);
}
#endif

static int l2_kilobytes(void) {
#if defined(_SC_LEVEL2_CACHE_SIZE)
  const long bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
  return bytes > 0 && bytes / 1024 < (1L << 30) ? (int)(bytes / 1024) : 0;
#else
  return 0;
#endif
}

size_t onexn_cpu_l2_bytes(void) {
  static atomic_int slot = -1;
  return (size_t)cached(&slot, l2_kilobytes) * 1024;
}

static const char* const kIsaNames[] = {"auto", "scalar", "avx2", "avx512", "neon", "avx512vnni", "neondot",
                                         "avx512vnnivbmi", "avx512amx"};
// Names onexn_isa_from_name parses: the levels every operator has kernels for.
#define NUM_LEVELS 5

const char* onexn_isa_name(onexn_isa isa) {
  if ((int)isa < 0 || (size_t)isa >= sizeof(kIsaNames) / sizeof(kIsaNames[0])) return "unknown";
  return kIsaNames[isa];
}

int onexn_isa_from_name(const char* name, onexn_isa* out) {
  if (name == NULL || out == NULL) return -1;
  for (size_t i = 0; i < NUM_LEVELS; i++) {
    if (strcmp(name, kIsaNames[i]) == 0) {
      *out = (onexn_isa)i;
      return 0;
    }
  }
  return -1;
}

// The AMX-INT8 instructions an AMX microkernel uses, as macros: the intrinsics, or with ONEXN_AMX_MODEL a C
// model of them written from Intel's descriptions (ldtilecfg, tilezero, tileloadd, tdpbusd, tilestored,
// tilerelease), so that qconv_test runs the kernel's logic on CPUs without tiles. The model also checks what
// the hardware would fault on (a configuration it rejects, tdpbusd on shapes that do not chain, a tile
// used unconfigured) and aborts there. Tile numbers are literals: the intrinsics encode them.
#ifndef ONEXN_KERNELS_COMMON_AMX_TILES_H_
#define ONEXN_KERNELS_COMMON_AMX_TILES_H_

#include <stdint.h>

// ldtilecfg's 64-byte operand, palette 1: tile t has rows[t] rows of colsb[t] bytes (at most 16 x 64).
typedef struct {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved0[14];
  uint16_t colsb[8];
  uint16_t reserved1[8];
  uint8_t rows[8];
  uint8_t reserved2[8];
} __attribute__((aligned(64))) onexn_amx_config;

#if defined(ONEXN_AMX_MODEL)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local struct {
  onexn_amx_config cfg;
  int configured;
  uint8_t t[8][16][64];
} onexn_amx;

static void onexn_amx_fault(const char* what) {
  fprintf(stderr, "AMX model: %s (the hardware would fault)\n", what);
  abort();
}

static void onexn_amx_check(int t) {
  if (!onexn_amx.configured || onexn_amx.cfg.rows[t] == 0 || onexn_amx.cfg.colsb[t] == 0) {
    onexn_amx_fault("tile used without a configuration");
  }
}

static void onexn_amx_loadconfig(const onexn_amx_config* c) {
  const uint8_t* raw = (const uint8_t*)c;
  for (int i = 2; i < 16; i++) {
    if (raw[i] != 0) onexn_amx_fault("reserved configuration bytes set");
  }
  for (int t = 0; t < 8; t++) {
    if (c->reserved1[t] != 0 || c->reserved2[t] != 0) onexn_amx_fault("tiles 8-15 configured");
    if (c->rows[t] > 16 || c->colsb[t] > 64 || (c->rows[t] == 0) != (c->colsb[t] == 0)) {
      onexn_amx_fault("tile shape out of range");
    }
  }
  if (c->palette_id != 1 || c->start_row != 0) onexn_amx_fault("palette is not 1");
  onexn_amx.cfg = *c;
  onexn_amx.configured = 1;
  memset(onexn_amx.t, 0, sizeof(onexn_amx.t));  // ldtilecfg zeroes every tile
}

static void onexn_amx_zero(int t) {
  onexn_amx_check(t);
  memset(onexn_amx.t[t], 0, sizeof(onexn_amx.t[t]));
}

// Row r of tile t from base + r * stride; the bytes past the configured shape read as zero.
static void onexn_amx_loadd(int t, const void* base, size_t stride) {
  onexn_amx_check(t);
  memset(onexn_amx.t[t], 0, sizeof(onexn_amx.t[t]));
  for (int r = 0; r < onexn_amx.cfg.rows[t]; r++) {
    memcpy(onexn_amx.t[t][r], (const uint8_t*)base + (size_t)r * stride, onexn_amx.cfg.colsb[t]);
  }
}

static void onexn_amx_stored(int t, void* base, size_t stride) {
  onexn_amx_check(t);
  for (int r = 0; r < onexn_amx.cfg.rows[t]; r++) {
    memcpy((uint8_t*)base + (size_t)r * stride, onexn_amx.t[t][r], onexn_amx.cfg.colsb[t]);
  }
}

// c[m][n] += sum over k, i of (uint8) a[m][4k + i] * (int8) b[k][4n + i], int32 lanes wrapping (no saturation).
static void onexn_amx_dpbusd(int c, int a, int b) {
  onexn_amx_check(c);
  onexn_amx_check(a);
  onexn_amx_check(b);
  const onexn_amx_config* g = &onexn_amx.cfg;
  if (c == a || c == b || a == b) onexn_amx_fault("tdpbusd names a tile twice");
  if (g->rows[c] != g->rows[a] || g->colsb[c] != g->colsb[b] || g->rows[b] != g->colsb[a] / 4 ||
      g->colsb[a] % 4 != 0 || g->colsb[c] % 4 != 0) {
    onexn_amx_fault("tdpbusd on tiles whose shapes do not chain");
  }
  for (int m = 0; m < g->rows[c]; m++) {
    for (int n = 0; n < g->colsb[c] / 4; n++) {
      uint32_t acc;
      memcpy(&acc, &onexn_amx.t[c][m][4 * n], 4);
      for (int k = 0; k < g->colsb[a] / 4; k++) {
        for (int i = 0; i < 4; i++) {
          acc += (uint32_t)((int32_t)onexn_amx.t[a][m][4 * k + i] * (int32_t)(int8_t)onexn_amx.t[b][k][4 * n + i]);
        }
      }
      memcpy(&onexn_amx.t[c][m][4 * n], &acc, 4);
    }
  }
}

static void onexn_amx_release(void) {
  memset(&onexn_amx, 0, sizeof(onexn_amx));
}

#define ONEXN_TILE_LOADCONFIG(cfg) onexn_amx_loadconfig(cfg)
#define ONEXN_TILE_ZERO(t) onexn_amx_zero(t)
#define ONEXN_TILE_LOADD(t, base, stride) onexn_amx_loadd(t, base, stride)
#define ONEXN_TILE_DPBUSD(c, a, b) onexn_amx_dpbusd(c, a, b)
#define ONEXN_TILE_STORED(t, base, stride) onexn_amx_stored(t, base, stride)
#define ONEXN_TILE_RELEASE() onexn_amx_release()
#else
#include <immintrin.h>

// GCC's ldtilecfg and tileloadd tell the compiler they read no memory (8 bytes for ldtilecfg): a compiler
// barrier first keeps the stores that filled the configuration or the tile's rows before them.
#define ONEXN_TILE_LOADCONFIG(cfg)           \
  do {                                       \
    __asm__ volatile("" ::: "memory");       \
    _tile_loadconfig(cfg);                   \
  } while (0)
#define ONEXN_TILE_ZERO(t) _tile_zero(t)
#define ONEXN_TILE_LOADD(t, base, stride)    \
  do {                                       \
    __asm__ volatile("" ::: "memory");       \
    _tile_loadd(t, base, stride);            \
  } while (0)
#define ONEXN_TILE_DPBUSD(c, a, b) _tile_dpbusd(c, a, b)
#define ONEXN_TILE_STORED(t, base, stride) _tile_stored(t, base, stride)
#define ONEXN_TILE_RELEASE() _tile_release()
#endif

#endif  // ONEXN_KERNELS_COMMON_AMX_TILES_H_

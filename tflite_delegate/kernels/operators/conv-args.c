// The argument checks of a 1xN convolution (its shape and block index) and its indirection buffer, shared
// by onexn_conv (float32) and onexn_qconv (int8).
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "operators/operators.h"

int onexn_conv_check_args(const char* fn, const onexn_conv_shape* s, const onexn_block_index* ix,
                          const void* weights, char* err, size_t err_len) {
  if (s == NULL || ix == NULL || weights == NULL) {
    onexn_set_err(err, err_len, "%s: shape, index and weights must not be NULL", fn);
    return -1;
  }
  const struct { const char* name; int v; int min; } dims[] = {
      {"batch", s->batch, 1},           {"in_h", s->in_h, 1},           {"in_w", s->in_w, 1},
      {"cin", s->cin, 1},               {"out_h", s->out_h, 1},         {"out_w", s->out_w, 1},
      {"cout", s->cout, 1},             {"kh", s->kh, 1},               {"kw", s->kw, 1},
      {"stride_h", s->stride_h, 1},     {"stride_w", s->stride_w, 1},   {"dilation_h", s->dilation_h, 1},
      {"dilation_w", s->dilation_w, 1}, {"pad_top", s->pad_top, 0},     {"pad_left", s->pad_left, 0},
  };
  for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++) {
    if (dims[i].v < dims[i].min) {
      onexn_set_err(err, err_len, "%s: %s = %d, must be >= %d", fn, dims[i].name, dims[i].v, dims[i].min);
      return -1;
    }
  }
  if (isnan(s->out_min) || isnan(s->out_max) || s->out_min > s->out_max) {
    onexn_set_err(err, err_len, "%s: activation range [%g, %g] is empty or NaN", fn, (double)s->out_min,
                  (double)s->out_max);
    return -1;
  }
  if (ix->n < 1) {
    onexn_set_err(err, err_len, "%s: block width n = %d, must be >= 1", fn, ix->n);
    return -1;
  }
  const int groups = s->cout / ix->n + (s->cout % ix->n != 0);
  if (ix->num_groups != groups) {
    onexn_set_err(err, err_len, "%s: num_groups = %d, expected ceil(cout %d / n %d) = %d", fn, ix->num_groups,
                  s->cout, ix->n, groups);
    return -1;
  }
  if (ix->group_ptr == NULL) {
    onexn_set_err(err, err_len, "%s: group_ptr is NULL", fn);
    return -1;
  }
  if (ix->group_ptr[0] != 0) {
    onexn_set_err(err, err_len, "%s: group_ptr[0] = %u, must be 0", fn, ix->group_ptr[0]);
    return -1;
  }
  for (int g = 0; g < groups; g++) {
    const uint32_t b = ix->group_ptr[g], e = ix->group_ptr[g + 1];
    if (e < b) {
      onexn_set_err(err, err_len, "%s: group_ptr decreases at group %d (%u -> %u)", fn, g, b, e);
      return -1;
    }
    if (e - b > (uint32_t)s->cin) {
      onexn_set_err(err, err_len, "%s: group %d keeps %u blocks, more than cin = %d", fn, g, e - b, s->cin);
      return -1;
    }
  }
  if (ix->group_ptr[groups] != 0 && ix->kept_cin == NULL) {
    onexn_set_err(err, err_len, "%s: kept_cin is NULL but %u blocks are kept", fn, ix->group_ptr[groups]);
    return -1;
  }
  for (int g = 0; g < groups; g++) {
    for (uint32_t k = ix->group_ptr[g]; k < ix->group_ptr[g + 1]; k++) {
      const uint32_t c = ix->kept_cin[k];
      if (c >= (uint32_t)s->cin) {
        onexn_set_err(err, err_len, "%s: kept_cin[%u] = %u, must be < cin = %d", fn, k, c, s->cin);
        return -1;
      }
      if (k > ix->group_ptr[g] && c <= ix->kept_cin[k - 1]) {
        onexn_set_err(err, err_len, "%s: kept_cin of group %d not strictly increasing at %u", fn, g, k);
        return -1;
      }
    }
  }
  return 0;
}

void onexn_conv_build_indirection(const onexn_conv_shape* s, int row_taps, ptrdiff_t* ind) {
  for (ptrdiff_t oy = 0; oy < s->out_h; oy++) {
    for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
      for (ptrdiff_t ky = 0; ky < s->kh; ky++) {
        const ptrdiff_t iy = oy * s->stride_h - s->pad_top + ky * s->dilation_h;
        for (ptrdiff_t kx = 0; kx < row_taps; kx++) {
          const ptrdiff_t ix = ox * s->stride_w - s->pad_left + kx * s->dilation_w;
          const int inside = iy >= 0 && iy < s->in_h && ix >= 0 && ix < s->in_w;
          *ind++ = inside ? (iy * s->in_w + ix) * s->cin : -1;
        }
      }
    }
  }
}

// 1 if chunks of ceil(panels / threads) panels, as the plan rounds them, are exactly `threads` chunks.
static int one_chunk_each(size_t panels, size_t threads) {
  return (panels + threads - 1) / threads * (threads - 1) < panels;
}

onexn_conv_tasks onexn_conv_plan_tasks(size_t threads, size_t batch, size_t tiles, size_t num_panels,
                                       int weights_in_blocks, size_t min_tiles) {
  onexn_conv_tasks r;
  r.chunk_order = NULL;
  r.chunks = 1;
  r.tiles_per_task = 1;
  const size_t pixel_tasks = batch * tiles;
  if (threads > 1 && weights_in_blocks) {
    // Each task half the pixels of an image over a chunk of the panels: the threads read their shares of
    // the weights twice per image, where tasks of a few tiles would each read every block of them again
    // (conv.c, weight_blocking; ResNet-50 N=1 50% at 2 threads: 1.17x stock before). Halves, not whole
    // images: a thread that ends its share first takes tasks of half an image from the other's, so a
    // slower thread (the host's slow mode) holds the layer up by less. ResNet-50 N=16 50% at 2 threads with
    // one thread made 25% slower: those layers in 0.87-0.92 of their time with whole images; with both
    // threads at full speed the same time (Zen 4).
    r.tiles_per_task = (tiles + 1) / 2;
    r.chunks = num_panels < 4 * threads ? num_panels : 4 * threads;
  } else if (threads > 1 && pixel_tasks > 16 * threads) {
    // About 64 tasks per thread, each of at least min_tiles, yet at least 16: a thread claims its own share's
    // tasks on its own cache line, so tasks of a few tiles cost little, and the threads end less apart than
    // with 16 (ResNet-50 N=16 50% at 2 threads 1.5-2% faster, Zen 4); tasks of a tile or two of a cheap layer
    // cost more to run than they balance (MobileNetV2's stem, 0.2 us a tile: 0.5% slower at 64 a thread).
    size_t per = pixel_tasks / (64 * threads);
    if (per < min_tiles) per = min_tiles;
    if (per > pixel_tasks / (16 * threads)) per = pixel_tasks / (16 * threads);
    r.tiles_per_task = per > 0 ? per : 1;
  } else if (threads > 1 && pixel_tasks < 4 * threads) {
    // Too few pixel tiles to keep every thread busy: split the output channels as well.
    r.chunks = (4 * threads + pixel_tasks - 1) / pixel_tasks;
    if (r.chunks > num_panels) r.chunks = num_panels;
  } else if (threads > 1 && pixel_tasks % threads != 0 && one_chunk_each(num_panels, threads)) {
    // One-tile tasks that the threads cannot share evenly (ResNet-50's 14x14 layers: 25 tiles, 13 for one
    // thread, 12 for the other): the panels split into exactly one chunk per thread too (where the panels
    // allow it), so that each thread's share is its own chunk (chunk-major tasks), 1/threads of the weights.
    // Float ResNet-50 N=16 50% at 2 threads: its 14x14 1x1 layers to 256 channels 0.85-0.96 of the time per
    // layer, the model within the noise; int8 ResNet-50 (13 tiles of 16) the same within the noise (Zen 4).
    r.chunks = threads;
  }
  r.panels_per_chunk = (num_panels + r.chunks - 1) / r.chunks;
  r.chunks = (num_panels + r.panels_per_chunk - 1) / r.panels_per_chunk;
  if (threads <= 1) r.tiles_per_task = tiles;  // one task per image: no per-tile dispatch
  r.tile_runs = (tiles + r.tiles_per_task - 1) / r.tiles_per_task;
  r.tasks = batch * r.tile_runs * r.chunks;
  return r;
}

// The spread (largest minus smallest) of the threads' work when thread b gets the chunks with bin[c] == b.
static uint64_t share_spread(const uint64_t* work, const uint32_t* bin, size_t chunks, size_t threads,
                             uint64_t* load) {
  for (size_t b = 0; b < threads; b++) load[b] = 0;
  for (size_t c = 0; c < chunks; c++) load[bin[c]] += work[c];
  uint64_t lo = load[0], hi = load[0];
  for (size_t b = 1; b < threads; b++) {
    if (load[b] < lo) lo = load[b];
    if (load[b] > hi) hi = load[b];
  }
  return hi - lo;
}

int onexn_conv_balance_chunks(const onexn_panel* panels, size_t num_panels, size_t panels_per_chunk,
                              size_t chunks, size_t threads, uint32_t* order) {
  if (panels == NULL || order == NULL || threads < 2 || panels_per_chunk == 0 || chunks % threads != 0 ||
      chunks / threads < 2 || chunks > UINT32_MAX) {
    return 0;
  }
  const size_t per = chunks / threads;
  uint64_t* work = (uint64_t*)calloc(chunks + threads, sizeof(uint64_t));
  uint32_t* bin = (uint32_t*)malloc(2 * chunks * sizeof(uint32_t));
  size_t* count = (size_t*)calloc(threads, sizeof(size_t));
  int better = 0;
  if (work != NULL && bin != NULL && count != NULL) {
    uint64_t* load = work + chunks;
    uint32_t* by_work = bin + chunks;
    for (size_t p = 0; p < num_panels && p / panels_per_chunk < chunks; p++) {
      work[p / panels_per_chunk] += panels[p].kept;
    }
    // In order: chunk c to thread c / per.
    for (size_t c = 0; c < chunks; c++) bin[c] = (uint32_t)(c / per);
    const uint64_t in_order = share_spread(work, bin, chunks, threads, load);
    // Largest first, each to the thread with the least work so far that has room (insertion sort: a
    // plan has a few chunks per thread).
    for (size_t c = 0; c < chunks; c++) {
      size_t k = c;
      for (; k > 0 && work[by_work[k - 1]] < work[c]; k--) by_work[k] = by_work[k - 1];
      by_work[k] = (uint32_t)c;
    }
    for (size_t b = 0; b < threads; b++) load[b] = 0;
    for (size_t k = 0; k < chunks; k++) {
      size_t best = threads;
      for (size_t b = 0; b < threads; b++) {
        if (count[b] < per && (best == threads || load[b] < load[best])) best = b;
      }
      bin[by_work[k]] = (uint32_t)best;
      load[best] += work[by_work[k]];
      count[best]++;
    }
    // Only where the shares in order differ by 1% of the work or more, and balanced by half that at most:
    // a thread's chunks then lie apart in the weights, which costs the memory streams a little.
    uint64_t total = 0;
    for (size_t c = 0; c < chunks; c++) total += work[c];
    if (in_order * 100 >= total && in_order > 0 && share_spread(work, bin, chunks, threads, load) * 2 <= in_order) {
      size_t k = 0;
      for (size_t b = 0; b < threads; b++) {
        for (size_t c = 0; c < chunks; c++) {
          if (bin[c] == b) order[k++] = (uint32_t)c;
        }
      }
      better = 1;
    }
  }
  free(work);
  free(bin);
  free(count);
  return better;
}

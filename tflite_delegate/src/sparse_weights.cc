#include "sparse_weights.h"

#include <cstdint>
#include <string>
#include <vector>

namespace onexn {
namespace {

bool Equals(const TfLiteIntArray* a, const std::vector<int>& want) {
  if (a == nullptr || size_t(a->size) != want.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (a->data[i] != want[i]) return false;
  }
  return true;
}

bool Equals(const TfLiteIntArray* a, const std::vector<uint32_t>& want) {
  if (a == nullptr || size_t(a->size) != want.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (a->data[i] < 0 || uint32_t(a->data[i]) != want[i]) return false;
  }
  return true;
}

bool IsDense(const TfLiteDimensionMetadata& d, uint32_t size) {
  return d.format == kTfLiteDimDense && d.dense_size >= 0 && uint32_t(d.dense_size) == size;
}

}  // namespace

std::string CheckSparseWeights(const TfLiteTensor& s, const BlockRecord& r, bool fully_connected) {
  const std::string bad = "compact weight: ";
  if (s.type != kTfLiteFloat32) return bad + "the sparse constant is not float32";
  if (s.allocation_type != kTfLiteMmapRo || s.data.raw == nullptr) return bad + "DENSIFY input is not a constant";
  const TfLiteSparsity* sp = s.sparsity;
  if (sp == nullptr) return bad + "DENSIFY input has no SparsityParameters";
  if (r.cout % r.n != 0) return bad + "cout is not a multiple of n";
  const std::vector<int> order = fully_connected ? std::vector<int>{0, 1, 2} : std::vector<int>{0, 3, 1, 2, 4};
  if (!Equals(sp->traversal_order, order)) return bad + "unexpected traversal_order";
  if (!Equals(sp->block_map, std::vector<int>{0})) return bad + "unexpected block_map";
  if (sp->dim_metadata == nullptr || size_t(sp->dim_metadata_size) != order.size()) {
    return bad + "unexpected number of dimension metadata";
  }
  const TfLiteDimensionMetadata* dm = sp->dim_metadata;
  if (!IsDense(dm[0], r.num_groups)) return bad + "dimension 0 is not DENSE(cout / n)";
  if (dm[1].format != kTfLiteDimSparseCSR) return bad + "dimension 1 is not SPARSE_CSR";
  if (!Equals(dm[1].array_segments, r.group_ptr)) return bad + "CSR segments differ from the record's group_ptr";
  if (!Equals(dm[1].array_indices, r.kept_cin)) return bad + "CSR indices differ from the record's kept_cin";
  if (!fully_connected && (!IsDense(dm[2], r.kh) || !IsDense(dm[3], r.kw))) {
    return bad + "dimensions 2, 3 are not DENSE(kh), DENSE(kw)";
  }
  if (!IsDense(dm[order.size() - 1], r.n)) return bad + "the last dimension is not DENSE(n)";
  const uint64_t values = uint64_t(r.num_kept) * r.kh * r.kw * r.n;
  if (s.bytes != values * sizeof(float)) return bad + "the sparse constant's size does not match num_kept";
  return "";
}

void DensifyBlocks(const float* values, const NodePlan& p, float* dense) {
  const size_t block = size_t(p.kh) * p.kw * p.n;
  const size_t groups = p.group_ptr.size() - 1;
  for (size_t g = 0; g < groups; ++g) {
    for (uint32_t k = p.group_ptr[g]; k < p.group_ptr[g + 1]; ++k) {
      const size_t c = p.kept_cin[k];
      const float* src = values + k * block;  // [kh][kw][n]
      for (int y = 0; y < p.kh; ++y) {
        for (int x = 0; x < p.kw; ++x) {
          for (int j = 0; j < p.n; ++j) {
            const size_t o = g * p.n + j;
            dense[((o * p.kh + y) * p.kw + x) * p.cin + c] = src[(size_t(y) * p.kw + x) * p.n + j];
          }
        }
      }
    }
  }
}

const float* PlanWeights(const TfLiteContext* context, const NodePlan& plan, std::vector<float>* scratch) {
  if (plan.sparse_weights < 0) return context->tensors[plan.weights].data.f;
  scratch->assign(size_t(plan.cout) * plan.kh * plan.kw * plan.cin, 0.0f);
  DensifyBlocks(context->tensors[plan.sparse_weights].data.f, plan, scratch->data());
  return scratch->data();
}

}  // namespace onexn

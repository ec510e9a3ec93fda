// Weights stored with TFLite's own block sparsity (metadata encoding 1, docs/FORMAT.md): a DENSIFY
// operator turns a block-sparse constant into the dense weight the CONV_2D / FULLY_CONNECTED reads. The
// delegate reads the constant directly, since DENSIFY fills its output only on the first Invoke.
#ifndef ONEXN_DELEGATE_SPARSE_WEIGHTS_H_
#define ONEXN_DELEGATE_SPARSE_WEIGHTS_H_

#include <string>

#include "metadata_reader.h"
#include "node_plan.h"
#include "onexn_tflite_abi.h"

namespace onexn {

// "" when the constant's SparsityParameters are exactly the record's 1xN blocks in the layout the
// format prescribes (traversal order, block map, CSR arrays = group_ptr / kept_cin, value count).
std::string CheckSparseWeights(const TfLiteTensor& sparse, const BlockRecord& record, bool fully_connected);

// Writes the dense OHWI weights (cout * kh * kw * cin floats, zero-filled by the caller) from the checked
// constant's values.
void DensifyBlocks(const float* values, const NodePlan& plan, float* dense);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_SPARSE_WEIGHTS_H_

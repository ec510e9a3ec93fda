// Partition planning: which claimed nodes go into which ReplaceNodeSubsetsWithDelegateKernels call, and
// which DENSIFY nodes join the 1xN node that reads their output.
//
// The runtime groups the nodes of one replacement call into partitions (connected nodes that can run
// without a hand-off), each run by one delegate kernel. A compact weight's DENSIFY (docs/FORMAT.md,
// encoding 1) joins when its only reader is claimed and the runtime puts both into the same partition:
// the kernel then reads the compact constant itself, and the dense weight is never allocated. DENSIFYs
// run first, so unclaimed nodes may separate the two; a 1xN node that would be a partition of its own
// then gets a replacement call with its DENSIFY instead. An unjoined DENSIFY stays with the stock
// runtime, which is correct too.
#ifndef ONEXN_DELEGATE_PARTITION_PLAN_H_
#define ONEXN_DELEGATE_PARTITION_PLAN_H_

#include <functional>
#include <map>
#include <vector>

namespace onexn {

// The partitions (node lists) the runtime would form from these nodes; empty if it cannot say.
using PreviewPartitions = std::function<std::vector<std::vector<int>>(const std::vector<int>& nodes)>;

struct PartitionPlan {
  std::vector<std::vector<int>> calls;  // one replacement call per node list, in this order
  std::map<int, int> joined_densify;    // DENSIFY node -> the 1xN node whose kernel replaces it too
};

// claimed: 1xN nodes; others: the other nodes taken (dense layers, glue); densify_candidates: DENSIFY node
// -> the claimed node that alone reads its output.
PartitionPlan PlanPartitions(const std::vector<int>& claimed, const std::vector<int>& others,
                             const std::map<int, int>& densify_candidates, const PreviewPartitions& preview);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_PARTITION_PLAN_H_

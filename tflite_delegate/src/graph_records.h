// The onexn_1xn metadata records that describe the graph being prepared.
#ifndef ONEXN_DELEGATE_GRAPH_RECORDS_H_
#define ONEXN_DELEGATE_GRAPH_RECORDS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "metadata_reader.h"
#include "onexn_tflite_abi.h"

namespace onexn {

struct GraphRecords {
  std::string status;          // "ok", "absent", or why the entry was rejected (the report's "metadata")
  std::string missing_reason;  // why a CONV_2D / FULLY_CONNECTED without a record is declined
  int64_t subgraph = 0;        // the metadata subgraph whose records these are
  std::map<uint32_t, BlockRecord> by_node;  // node index -> its record
};

// Reads the model's entry and picks the records of this graph (the execution plan `plan`).
//
// The runtime prepares an interpreter's subgraphs in index order, so `ordinal`, the graph's place among
// those this delegate has seen, is its index, unless an earlier interpreter on the same delegate is
// still alive: then the ordinal continues after that one's graphs. So when the ordinal's records do not
// fit this graph, it may take the subgraph of an earlier graph (`earlier_subgraphs`) whose records fit
// it: the same model in another interpreter. Only subgraphs an earlier graph took are candidates, so a
// record naming a subgraph the model does not have is never used (tests/test_reliability_inputs.py
// mutates records); CheckNode still verifies every record against the node and its weights.
GraphRecords ReadGraphRecords(TfLiteContext* context, const std::vector<int>& plan, int ordinal,
                              const std::vector<int64_t>& earlier_subgraphs);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_GRAPH_RECORDS_H_

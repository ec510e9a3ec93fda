// Options of the onexn external delegate, as passed by load_delegate(library, {key: value}).
#ifndef ONEXN_DELEGATE_OPTIONS_H_
#define ONEXN_DELEGATE_OPTIONS_H_

#include <string>

#include "onexn_kernels.h"

namespace onexn {

// Which other operators the delegate runs next to its 1xN nodes (option glue=...).
enum class GlueOps {
  kAuto,  // the glue operators (glue_ops.h), in graphs where at least one 1xN node was claimed
  kOff,   // only the 1xN nodes
  kAll,   // the glue operators in any graph (to time them alone), and the int8 glue
};

struct DelegateOptions {
  // >= 1: exactly that many threads. 0 (the default, also given as -1 or 0): follow the interpreter's
  // num_threads (TfLiteContext::recommended_num_threads), 1 when the interpreter leaves it unset.
  int num_threads = 0;
  onexn_isa isa = ONEXN_ISA_AUTO;  // resolved to a supported ISA by ParseOptions
  bool verbose = false;
  GlueOps glue = GlueOps::kAuto;
  // Run a DEPTHWISE_CONV_2D with the 1x1 expansion before it and the 1x1 projection after it as one step
  // (onexn_dwblock), so their intermediate tensors never go to memory; likewise a CONV_2D and its residual
  // ADD, and a PAD and the layer whose padding it becomes. Off (fuse=0) for A/B measurements.
  bool fuse = true;
  // At several threads, run a fused block whose rows split unevenly over the threads cut by channels
  // (channel_split.h). Its partial sums add up in another order than one thread's: channel_slices=0 keeps
  // the results of every thread count equal to one thread's, bit for bit.
  bool channel_slices = true;
  // At two threads, run consecutive fused blocks as one parallel job, the threads walking them from either
  // end (block_chain.h). Same results; pipeline=0 runs a job per block (and profiles each block apart).
  bool pipeline = true;
  // Whether a 1xN node may run every block instead of its kept ones where the kernel library's cost model
  // finds that faster (option dense=auto, the default); never (the kept blocks always) or always.
  onexn_dense_policy dense = ONEXN_DENSE_AUTO;
  // Run the int8 layers of 16-channel blocks on AMX tiles (amx=1; a CPU with AMX-INT8 only). Off by default
  // until measured on such a CPU: which layers it wins on is not in the cost model yet.
  bool amx = false;
#ifdef ONEXN_TESTING
  int abi_probe = 0;  // 0, 1 or 2 (testing/probed_prepare.h)
#endif
};

constexpr int kMaxThreads = 256;

// Parses key/value strings. Returns "" on success, else a message naming the bad option.
std::string ParseOptions(const char* const* keys, const char* const* values, int count,
                         DelegateOptions* out);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_OPTIONS_H_

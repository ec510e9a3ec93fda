// ONEXN_PROFILE=1: the time of every step, measured inside the real graph (caches and all), printed on
// stderr when the partition is freed.
#ifndef ONEXN_DELEGATE_PARTITION_PROFILE_H_
#define ONEXN_DELEGATE_PARTITION_PROFILE_H_

#include <vector>

#include "partition_steps.h"

namespace onexn {

bool ProfilingEnabled();

double NowSeconds();

// Mean time per invoke of every step that ran; at several threads also how far apart the threads finished
// its parallel-fors (summed over them).
void PrintProfile(const std::vector<Step>& steps, onexn_isa isa, int threads);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_PARTITION_PROFILE_H_

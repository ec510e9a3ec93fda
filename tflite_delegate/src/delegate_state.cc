#include "delegate_state.h"

#include <iterator>

namespace onexn {

DelegateState::~DelegateState() {
  pending.clear();  // the kernels, before the pool they were made for
  if (pool != nullptr) onexn_threadpool_destroy(pool);
}

GraphReport* DelegateState::ReportFor(const TfLiteContext* context) {
  for (GraphReport& g : graphs) {
    if (g.context == context) return &g;
  }
  return nullptr;
}

void ReleaseState(DelegateState* state) {
  if (state->refs.fetch_sub(1) == 1) delete state;
}

GraphReport& BeginGraphReport(DelegateState* state, const TfLiteContext* context, int* ordinal) {
  for (size_t i = 0; i < state->graphs.size(); ++i) {
    if (state->graphs[i].context == context) {
      state->graphs[i] = GraphReport();
      state->graphs[i].context = context;
      *ordinal = int(i);
      return state->graphs[i];
    }
  }
  // A new graph while no kernel of the earlier ones is alive: the delegate is being reused for another
  // interpreter, so the report starts over.
  if (state->live_kernels == 0) state->graphs.clear();
  state->graphs.emplace_back();
  state->graphs.back().context = context;
  *ordinal = int(state->graphs.size()) - 1;
  return state->graphs.back();
}

void ResolveThreads(DelegateState* state, const TfLiteContext* context) {
  int n = state->options.num_threads;
  if (n <= 0) n = context->recommended_num_threads > 0 ? context->recommended_num_threads : 1;
  if (n > kMaxThreads) n = kMaxThreads;
  if (state->pool != nullptr && n == state->num_threads) return;
  if (state->pool != nullptr) onexn_threadpool_destroy(state->pool);
  state->pool = n > 1 ? onexn_threadpool_create(n) : nullptr;
  state->num_threads = state->pool != nullptr ? onexn_threadpool_size(state->pool) : 1;
}

void ReleasePending(DelegateState* state, const TfLiteContext* context) {
  auto erase = [context](auto* map) {
    for (auto it = map->begin(); it != map->end();) {
      it = it->first.first == context ? map->erase(it) : std::next(it);
    }
  };
  erase(&state->pending);
  erase(&state->pending_densify);
}

}  // namespace onexn

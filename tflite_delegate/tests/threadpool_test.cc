// Tests of the thread pool's parallel-for (kernels/common/threadpool.c): every task of a job runs once, on a
// thread of the pool; a job finishes without workers that have not joined it (on a virtual machine a
// worker that slept can take milliseconds to run again); a worker that joins late never touches a job that
// has returned.
//   bazel test //tflite_delegate:threadpool_test
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/threadpool.h"
#include "onexn_kernels.h"
#include "test_util.h"

namespace {

using onexn_test::Check;

// One job's record: how often each task ran, the largest thread index seen, whether the job had returned
// when a task ran.
struct Job {
  std::vector<std::atomic<int>> runs;
  std::atomic<size_t> max_thread{0};
  std::atomic<int> returned{0};
  std::atomic<int> ran_after_return{0};
  explicit Job(size_t n) : runs(n) {}
};

void RecordTask(void* p, size_t task, size_t thread) {
  Job* job = static_cast<Job*>(p);
  if (job->returned.load()) job->ran_after_return++;
  job->runs[task]++;
  size_t seen = job->max_thread.load();
  while (thread > seen && !job->max_thread.compare_exchange_weak(seen, thread)) {
  }
}

// Runs a job of n tasks; true if every task ran exactly once, on a thread below max_threads.
bool RunJob(onexn_threadpool* pool, size_t n, size_t max_threads, Job* job) {
  onexn_threadpool_parallelize(pool, n, RecordTask, job);
  job->returned = 1;
  bool ok = job->max_thread.load() < max_threads;
  for (const auto& r : job->runs) ok &= r.load() == 1;
  return ok;
}

void TestEveryTaskOnce() {
  for (int threads : {1, 2, 3, 4}) {
    onexn_threadpool* pool = onexn_threadpool_create(threads);
    Check(pool != nullptr && onexn_threadpool_size(pool) == threads, "pool of " + std::to_string(threads));
    for (size_t n : {1, 2, 3, 7, 64, 1000}) {
      bool ok = true;
      for (int rep = 0; rep < 20; rep++) {
        Job job(n);
        ok &= RunJob(pool, n, static_cast<size_t>(threads), &job);
      }
      Check(ok, std::to_string(threads) + " threads, " + std::to_string(n) + " tasks: each once, on a pool thread");
    }
    onexn_threadpool_destroy(pool);
  }
}

// With the workers held, jobs must finish on the caller alone. A watchdog releases the workers after 20 s;
// the jobs must have returned before it did (a pool that waits for every worker to check in returns only
// after the release).
void TestJobsFinishWithoutWorkers() {
  onexn_threadpool* pool = onexn_threadpool_create(3);
  Check(pool != nullptr, "pool of 3");
  if (pool == nullptr) return;
  onexn_threadpool_hold_workers(pool, 1);
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::atomic<int> released{0};
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(20), [&] { return finished; })) {
      released = 1;
      onexn_threadpool_hold_workers(pool, 0);
    }
  });
  bool ok = true;
  for (int rep = 0; rep < 200; rep++) {
    Job job(16);
    ok &= RunJob(pool, 16, 1, &job);  // thread 0 only: no worker joined
  }
  const bool in_time = released.load() == 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
  }
  cv.notify_all();
  watchdog.join();
  Check(in_time, "jobs finished while the workers were held (not only after the watchdog released them)");
  Check(ok, "held workers: every task once, all on the caller");
  onexn_threadpool_hold_workers(pool, 0);
  bool after = true;
  for (int rep = 0; rep < 50; rep++) {
    Job job(64);
    after &= RunJob(pool, 64, 3, &job);
  }
  Check(after, "released workers: every task once");
  onexn_threadpool_destroy(pool);
}

// Workers held and released at random while jobs run: each job's tasks run once, and never after the job
// returned (a worker that joins late must find the job closed). Under ASan a late worker touching a job
// would also read freed memory: each job is freed when its parallel-for returns.
void TestLateWorkersTouchNoClosedJob() {
  onexn_threadpool* pool = onexn_threadpool_create(3);
  Check(pool != nullptr, "pool of 3");
  if (pool == nullptr) return;
  std::atomic<int> stop{0};
  std::thread toggler([&] {
    std::mt19937 rng(5);
    while (!stop.load()) {
      onexn_threadpool_hold_workers(pool, static_cast<int>(rng() & 1));
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
    }
  });
  std::mt19937 rng(6);
  bool ok = true;
  int late = 0;
  for (int rep = 0; rep < 200000; rep++) {
    const size_t n = 1 + rng() % 12;
    auto job = std::make_unique<Job>(n);
    ok &= RunJob(pool, n, 3, job.get());
    late += job->ran_after_return.load();
  }
  stop = 1;
  toggler.join();
  Check(ok, "held and released at random: every task of every job once");
  Check(late == 0, "no task ran after its job returned (" + std::to_string(late) + ")");
  onexn_threadpool_destroy(pool);
}

}  // namespace

void RecordOrder(void* p, size_t task, size_t thread) {
  (void)thread;
  static_cast<std::vector<size_t>*>(p)->push_back(task);  // one thread only: the workers are held
}

// With the workers held the caller runs every task: its own share first, in order, then each other
// thread's share from its end, so that an owner that joins late still finds its first tasks in a row.
void TestStealsFromTheEnd() {
  for (int threads : {2, 3}) {
    onexn_threadpool* pool = onexn_threadpool_create(threads);
    Check(pool != nullptr, "pool of " + std::to_string(threads));
    if (pool == nullptr) continue;
    onexn_threadpool_hold_workers(pool, 1);
    for (size_t n : {2, 5, 12}) {
      std::vector<size_t> order;
      onexn_threadpool_parallelize(pool, n, RecordOrder, &order);
      std::vector<size_t> want;
      for (size_t i = 0; i < n / size_t(threads); i++) want.push_back(i);
      for (size_t t = 1; t < size_t(threads); t++) {
        for (size_t i = (t + 1) * n / size_t(threads); i > t * n / size_t(threads); i--) want.push_back(i - 1);
      }
      Check(order == want, std::to_string(threads) + " threads, " + std::to_string(n) +
                               " tasks: the caller's share in order, then the others' from their ends");
    }
    onexn_threadpool_hold_workers(pool, 0);
    onexn_threadpool_destroy(pool);
  }
}

void SleepTask(void* p, size_t task, size_t thread) {
  (void)task;
  (void)thread;
  std::this_thread::sleep_for(std::chrono::milliseconds(*static_cast<int*>(p)));
}

// The profile's timing of the threads' ends (onexn_threadpool_time_ends): with the workers held the caller
// runs every task and a worker that ran none counts as done when the job began, so the spread is at least
// the tasks' sleep; it adds up over jobs, a take resets it, and it stays 0 while timing is off.
void TestEndSpread() {
  onexn_threadpool_time_ends(nullptr, 1);
  Check(onexn_threadpool_take_end_spread(nullptr) == 0.0, "no pool: no spread");
  onexn_threadpool* pool = onexn_threadpool_create(2);
  Check(pool != nullptr, "pool of 2");
  if (pool == nullptr) return;
  int ms = 10;
  onexn_threadpool_hold_workers(pool, 1);
  onexn_threadpool_parallelize(pool, 2, SleepTask, &ms);
  Check(onexn_threadpool_take_end_spread(pool) == 0.0, "timing off: no spread");
  onexn_threadpool_time_ends(pool, 1);
  onexn_threadpool_parallelize(pool, 2, SleepTask, &ms);  // 20 ms on the caller, none on the worker
  onexn_threadpool_parallelize(pool, 1, SleepTask, &ms);  // one task: the caller alone, nothing apart
  const double one = onexn_threadpool_take_end_spread(pool);
  Check(one >= 0.019, "held worker: its end counts from the job's start (" + std::to_string(one) + " s)");
  Check(onexn_threadpool_take_end_spread(pool) == 0.0, "a take resets the sum");
  onexn_threadpool_parallelize(pool, 2, SleepTask, &ms);
  onexn_threadpool_parallelize(pool, 2, SleepTask, &ms);
  const double two = onexn_threadpool_take_end_spread(pool);
  Check(two >= 0.039, "two jobs add up (" + std::to_string(two) + " s)");
  onexn_threadpool_hold_workers(pool, 0);
  ms = 0;
  bool bounded = true;
  for (int rep = 0; rep < 200; rep++) {  // workers free: every task still once, the spread within the job
    Job job(64);
    const auto start = std::chrono::steady_clock::now();
    bounded &= RunJob(pool, 64, 2, &job);
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bounded &= onexn_threadpool_take_end_spread(pool) <= took;
  }
  Check(bounded, "timed jobs: every task once, the threads' ends apart by no more than the job took");
  onexn_threadpool_time_ends(pool, 0);
  onexn_threadpool_parallelize(pool, 2, SleepTask, &ms);
  Check(onexn_threadpool_take_end_spread(pool) == 0.0, "timing off again: no spread");
  onexn_threadpool_destroy(pool);
}

TEST_CASE("pool: every task once, 1-4 threads") { TestEveryTaskOnce(); }
TEST_CASE("pool: the profile's spread of the threads' ends") { TestEndSpread(); }
TEST_CASE("pool: a thread steals from the end of another's share") { TestStealsFromTheEnd(); }
TEST_CASE("pool: jobs finish without workers that have not joined") { TestJobsFinishWithoutWorkers(); }
TEST_CASE("pool: late workers touch no closed job") { TestLateWorkersTouchNoClosedJob(); }

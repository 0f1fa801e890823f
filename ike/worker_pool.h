// A small pool of threads for the costly steps of IKE (Diffie-Hellman, AUTH). A job runs on a
// worker and returns a completion; completions run on the event loop's thread, which an eventfd
// wakes. Nothing in a job may touch the loop's state: it gets copies and returns values.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/result.h"

namespace sedge::ike {

class WorkerPool {
 public:
  using Completion = std::function<void()>;
  using Job = std::function<Completion()>;

  // `threads` workers (0: one per core).
  static Result<std::unique_ptr<WorkerPool>> start(unsigned threads);
  ~WorkerPool();  // stops and joins the workers; queued jobs and unrun completions are dropped
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void submit(Job job);
  // Readable (an eventfd) while completions wait to run.
  int fd() const { return event_fd_; }
  // On the loop's thread: clears the eventfd and runs the completions that are ready; how many.
  size_t run_completions();
  unsigned size() const { return static_cast<unsigned>(threads_.size()); }
  size_t queued() const;

 private:
  WorkerPool() = default;
  void work();
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  std::deque<Completion> done_;
  bool stopping_ = false;
  int event_fd_ = -1;
  std::vector<std::thread> threads_;
};

}  // namespace sedge::ike

#include "ike/worker_pool.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace sedge::ike {

Result<std::unique_ptr<WorkerPool>> WorkerPool::start(unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  std::unique_ptr<WorkerPool> pool(new WorkerPool());
  pool->event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (pool->event_fd_ < 0) return Error::sys("creating the worker pool's eventfd");
  for (unsigned i = 0; i < threads; ++i) pool->threads_.emplace_back([p = pool.get()] { p->work(); });
  return pool;
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
  if (event_fd_ >= 0) close(event_fd_);
}

void WorkerPool::submit(Job job) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

size_t WorkerPool::queued() const {
  std::lock_guard lock(mutex_);
  return jobs_.size();
}

void WorkerPool::work() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    Completion done = job();
    {
      std::lock_guard lock(mutex_);
      done_.push_back(std::move(done));
    }
    const uint64_t one = 1;
    while (write(event_fd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
  }
}

size_t WorkerPool::run_completions() {
  uint64_t count = 0;
  (void)!read(event_fd_, &count, sizeof count);
  std::deque<Completion> ready;
  {
    std::lock_guard lock(mutex_);
    ready.swap(done_);
  }
  for (auto& c : ready) {
    if (c) c();
  }
  return ready.size();
}

}  // namespace sedge::ike

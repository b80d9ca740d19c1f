#include "core/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace vt {

namespace {

int32_t default_threads() {
    if (const char* env = std::getenv("VTPRUNE_NUM_THREADS")) {
        const long v = std::strtol(env, nullptr, 10);
        if (v > 0) return static_cast<int32_t>(std::min<long>(v, kMaxThreads));
    }
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : static_cast<int32_t>(std::min<unsigned>(hw, kMaxThreads));
}

thread_local bool inside_pool_work = false;

class Pool {
public:
    ~Pool() { stop_workers(); }

    int32_t threads() {
        std::lock_guard<std::mutex> lock(config_mutex_);
        return threads_;
    }

    void set_threads(int32_t threads) {
        std::lock_guard<std::mutex> busy(run_mutex_);  // never resize under a running job
        std::lock_guard<std::mutex> lock(config_mutex_);
        if (threads == threads_) return;
        stop_workers();
        threads_ = threads;
    }

    void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
        grain = std::max<int64_t>(grain, 1);
        int32_t threads = this->threads();
        if (n < 2 * grain || threads <= 1 || inside_pool_work) {
            if (n > 0) fn(0, n);
            return;
        }
        std::unique_lock<std::mutex> busy(run_mutex_, std::try_to_lock);
        if (!busy.owns_lock()) {  // another host thread is using the pool: do our share alone
            fn(0, n);
            return;
        }
        ensure_workers(threads);
        int64_t chunks = std::min<int64_t>(n / grain, int64_t(threads) * 4);
        int64_t chunk = (n + chunks - 1) / chunks;
        {
            std::lock_guard<std::mutex> lock(job_mutex_);
            job_ = &fn;
            job_n_ = n;
            job_chunk_ = chunk;
            next_.store(0);
            pending_workers_ = static_cast<int32_t>(workers_.size());
            ++generation_;
        }
        job_ready_.notify_all();
        work();
        std::unique_lock<std::mutex> lock(job_mutex_);
        job_done_.wait(lock, [&] { return pending_workers_ == 0; });
        job_ = nullptr;
        if (error_) {
            std::exception_ptr e = error_;
            error_ = nullptr;
            std::rethrow_exception(e);
        }
    }

private:
    void work() {
        inside_pool_work = true;
        for (;;) {
            int64_t begin = next_.fetch_add(job_chunk_);
            if (begin >= job_n_) break;
            int64_t end = std::min(begin + job_chunk_, job_n_);
            try {
                (*job_)(begin, end);
            } catch (...) {
                std::lock_guard<std::mutex> lock(job_mutex_);
                if (!error_) error_ = std::current_exception();
            }
        }
        inside_pool_work = false;
    }

    // `seen` is the generation the worker was started at: it takes part in later jobs only.
    // (Starting from 0 after a resize made a new worker run a pass for a job that was not
    // announced to it and decrement pending_workers_ of the next one: run() then hung or
    // returned while a worker still ran.)
    void worker_loop(uint64_t seen) {
        for (;;) {
            {
                std::unique_lock<std::mutex> lock(job_mutex_);
                job_ready_.wait(lock, [&] { return stopping_ || generation_ != seen; });
                if (stopping_) return;
                seen = generation_;
            }
            work();
            {
                std::lock_guard<std::mutex> lock(job_mutex_);
                if (--pending_workers_ == 0) job_done_.notify_all();
            }
        }
    }

    void ensure_workers(int32_t threads) {
        if (static_cast<int32_t>(workers_.size()) == threads - 1) return;
        stop_workers();
        // No job runs here (run_mutex_ is held), so the generation is stable.
        uint64_t now;
        {
            std::lock_guard<std::mutex> lock(job_mutex_);
            now = generation_;
        }
        for (int32_t i = 0; i + 1 < threads; ++i) workers_.emplace_back([this, now] { worker_loop(now); });
    }

    void stop_workers() {
        {
            std::lock_guard<std::mutex> lock(job_mutex_);
            stopping_ = true;
        }
        job_ready_.notify_all();
        for (auto& w : workers_) w.join();
        workers_.clear();
        std::lock_guard<std::mutex> lock(job_mutex_);
        stopping_ = false;
    }

    std::mutex config_mutex_;
    int32_t threads_ = default_threads();

    std::mutex run_mutex_;  // held for the length of one parallel job
    std::mutex job_mutex_;
    std::condition_variable job_ready_, job_done_;
    std::vector<std::thread> workers_;
    bool stopping_ = false;
    uint64_t generation_ = 0;
    int32_t pending_workers_ = 0;
    const std::function<void(int64_t, int64_t)>* job_ = nullptr;
    int64_t job_n_ = 0, job_chunk_ = 1;
    std::atomic<int64_t> next_{0};
    std::exception_ptr error_;
};

Pool& pool() {
    // Leaked on purpose: joining worker threads from a static destructor at JVM exit can hang.
    static Pool* instance = new Pool();
    return *instance;
}

}  // namespace

int32_t num_threads() { return pool().threads(); }
void set_num_threads(int32_t threads) { pool().set_threads(threads); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    pool().run(n, grain, fn);
}

}  // namespace vt

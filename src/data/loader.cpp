// Deterministic batching: the order and every sample's RNG depend only on (seed, epoch, position),
// so any number of worker threads produces bitwise the same batches as decoding inline.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include "data/dataset.h"
#include "data/io.h"

namespace ds::data {

namespace {

using detail::splitmix64;

// Distinct constants keep the shuffle stream and the per-sample streams unrelated.
constexpr uint64_t kShuffleSalt = 0x53485546464c4531ULL;
constexpr uint64_t kSampleSalt = 0x53414d504c453031ULL;

uint64_t epoch_key(uint64_t seed, int epoch, uint64_t salt) {
  return splitmix64(splitmix64(seed ^ salt) ^ uint64_t(uint32_t(epoch)));
}

// Unbiased draw in [0, n) by rejection; written out because std distributions are not
// portable across standard libraries.
uint64_t bounded(std::mt19937_64& rng, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;
  uint64_t r = rng();
  while (r < threshold) r = rng();
  return r % n;
}

// Fisher-Yates, our own so the permutation is identical on every platform.
void shuffle_indices(std::vector<size_t>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[bounded(rng, i)]);
}

}  // namespace

struct Loader::Impl {
  const Dataset& ds;
  int batch_size;
  bool shuffle, drop_last;
  uint64_t seed;
  int workers;
  Shape shape;
  int rank = 0, world = 1;  // shard() of a data-parallel run

  int epoch = -1;
  std::vector<size_t> order;  // dataset index of each epoch position
  size_t num_batches = 0;
  size_t next_deliver = 0;

  // Worker state: batch b is claimed only while b < next_deliver + capacity, so it can
  // always be parked in ring[b % capacity] without overwriting an undelivered batch.
  struct Slot {
    bool ready = false;
    Batch batch;
    std::exception_ptr error;
  };
  std::mutex mu;
  std::condition_variable work_cv, ready_cv;
  std::vector<Slot> ring;
  size_t next_claim = 0;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;

  Impl(const Dataset& d, int bs, bool sh, bool dl, uint64_t s, int w)
      : ds(d), batch_size(bs), shuffle(sh), drop_last(dl), seed(s), workers(w),
        shape(d.sample_shape()) {
    if (bs <= 0) throw std::invalid_argument("Loader: batch_size must be > 0");
    if (w < 0) throw std::invalid_argument("Loader: workers must be >= 0");
  }

  ~Impl() { stop_workers(); }

  size_t count() const { return ds.size(); }

  size_t batches() const {
    const size_t n = count(), bs = size_t(batch_size);
    return drop_last ? n / bs : (n + bs - 1) / bs;
  }

  // Decodes batch `b` of the current epoch. Reads only immutable epoch state, so workers may
  // call it concurrently.
  void fill(size_t b, Batch& out) const {
    size_t begin = b * size_t(batch_size);
    size_t n = std::min(size_t(batch_size), count() - begin);
    if (world > 1) {
      n = (n + size_t(world) - 1) / size_t(world);  // this rank's part, padded up
      begin += size_t(rank) * n;
    }
    const size_t numel = shape.numel();
    out.n = int(n);
    out.shape = shape;
    out.x.resize(n * numel);
    out.y.resize(n);
    out.keys.resize(n);
    const uint64_t key = epoch_key(seed, epoch, kSampleSalt);
    for (size_t k = 0; k < n; ++k) {
      if (stop.load(std::memory_order_relaxed)) return;  // abandoned epoch: result unused
      const size_t pos = begin + k;
      const uint64_t h = splitmix64(key ^ pos);
      out.keys[k] = h;
      std::mt19937 rng(uint32_t(h >> 32) ^ uint32_t(h));
      // Positions past the end pad the last batch with the epoch's first samples.
      const size_t index = order[pos < count() ? pos : (pos - count()) % count()];
      const int label = ds.load(index, out.x.data() + k * numel, rng);
      if (label < 0 || label >= ds.num_classes()) {
        throw DataError(ds.describe() + ": sample " + std::to_string(index) + " has label " +
                        std::to_string(label) + ", outside [0, " +
                        std::to_string(ds.num_classes()) + ")");
      }
      out.y[k] = label;
    }
  }

  void worker_loop() {
    const size_t capacity = ring.size();
    while (true) {
      size_t b;
      {
        std::unique_lock<std::mutex> lk(mu);
        work_cv.wait(lk, [&] {
          return stop || next_claim >= num_batches || next_claim < next_deliver + capacity;
        });
        if (stop || next_claim >= num_batches) return;
        b = next_claim++;
      }
      Slot s;
      try {
        fill(b, s.batch);
      } catch (...) {
        s.error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lk(mu);
        if (stop) return;
        s.ready = true;
        ring[b % capacity] = std::move(s);
      }
      ready_cv.notify_all();
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stop = true;
    }
    work_cv.notify_all();
    for (std::thread& t : threads) t.join();
    threads.clear();
    stop = false;
  }

  void start(int e) {
    stop_workers();
    epoch = e;
    order.resize(count());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    if (shuffle) {
      std::mt19937_64 rng(epoch_key(seed, e, kShuffleSalt));
      shuffle_indices(order, rng);
    }
    num_batches = batches();
    next_deliver = 0;
    next_claim = 0;
    if (workers > 0) {
      ring.assign(2 * size_t(workers), Slot{});
      for (int i = 0; i < workers; ++i) threads.emplace_back([this] { worker_loop(); });
    }
  }

  bool next(Batch& b) {
    if (epoch < 0) throw std::logic_error("Loader::next() called before start_epoch()");
    if (next_deliver >= num_batches) return false;
    if (workers == 0) {
      const size_t i = next_deliver++;
      fill(i, b);
      return true;
    }
    Slot s;
    {
      std::unique_lock<std::mutex> lk(mu);
      Slot& slot = ring[next_deliver % ring.size()];
      ready_cv.wait(lk, [&] { return slot.ready; });
      s = std::move(slot);
      slot = Slot{};
      ++next_deliver;
    }
    work_cv.notify_all();
    if (s.error) std::rethrow_exception(s.error);
    b = std::move(s.batch);
    return true;
  }
};

Loader::Loader(const Dataset& ds, int batch_size, bool shuffle, bool drop_last, uint64_t seed,
               int workers)
    : impl_(std::make_unique<Impl>(ds, batch_size, shuffle, drop_last, seed, workers)) {}

Loader::~Loader() = default;

void Loader::shard(int rank, int world) {
  if (world < 1 || rank < 0 || rank >= world)
    throw std::invalid_argument("Loader::shard: rank " + std::to_string(rank) + " of " + std::to_string(world));
  if (impl_->batch_size % world != 0)
    throw std::invalid_argument("the batch of " + std::to_string(impl_->batch_size) + " cannot be split evenly over " +
                                std::to_string(world) + " ranks (--batch-size is the global batch)");
  impl_->rank = rank, impl_->world = world;
}

void Loader::start_epoch(int epoch) { impl_->start(epoch); }

bool Loader::next(Batch& b) { return impl_->next(b); }

size_t Loader::batches_per_epoch() const { return impl_->batches(); }

}  // namespace ds::data

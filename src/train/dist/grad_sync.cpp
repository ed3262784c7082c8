#include "train/dist/grad_sync.h"

#include <chrono>
#include <mutex>

namespace ds::dist {

struct GradSync::Impl {
  struct Slot {
    torch::Tensor param;
    size_t bucket = 0;
    int64_t offset = 0;  // in the bucket's flat buffer
    bool ready = false;
  };
  struct Bucket {
    torch::Tensor flat;
    size_t members = 0, pending = 0;
    c10::intrusive_ptr<c10d::Work> work;
  };
  Comm& comm;
  std::vector<Slot> slots;
  std::vector<Bucket> buckets;
  std::mutex mu;  // hooks may run on autograd worker threads (CUDA)

  explicit Impl(Comm& c) : comm(c) {}

  void launch(Bucket& b) { b.work = comm.allreduce_sum_async(b.flat); }

  void on_grad(size_t i, const torch::Tensor& g) {
    std::lock_guard<std::mutex> lk(mu);
    Slot& s = slots[i];
    Bucket& b = buckets[s.bucket];
    b.flat.narrow(0, s.offset, s.param.numel()).copy_(g.reshape({-1}));
    if (!s.ready) {
      s.ready = true;
      if (--b.pending == 0) launch(b);
    }
  }
};

GradSync::GradSync(Comm& comm, const std::vector<std::pair<std::string, torch::Tensor>>& params,
                   size_t first_bucket_bytes, size_t bucket_bytes)
    : impl_(std::make_unique<Impl>(comm)) {
  Impl& m = *impl_;
  // Reverse registration order approximates the order in which backward finishes gradients.
  std::vector<torch::Tensor> order;
  for (auto it = params.rbegin(); it != params.rend(); ++it)
    if (it->second.requires_grad()) order.push_back(it->second);
  size_t cap = first_bucket_bytes, used = 0;
  std::vector<int64_t> sizes;
  for (const torch::Tensor& p : order) {
    const size_t bytes = size_t(p.numel()) * p.element_size();
    if (sizes.empty() || (used > 0 && used + bytes > cap)) {
      if (!sizes.empty()) cap = bucket_bytes;
      sizes.push_back(0);
      used = 0;
    }
    m.slots.push_back(Impl::Slot{p, sizes.size() - 1, sizes.back(), false});
    sizes.back() += p.numel();
    used += bytes;
  }
  for (size_t b = 0; b < sizes.size(); ++b) {
    Impl::Bucket bk;
    bk.flat = torch::zeros({sizes[b]}, order.front().options().requires_grad(false));
    m.buckets.push_back(std::move(bk));
  }
  for (const auto& s : m.slots) ++m.buckets[s.bucket].members;
  for (size_t i = 0; i < m.slots.size(); ++i) {
    Impl* impl = impl_.get();
    m.slots[i].param.register_hook([impl, i](torch::Tensor g) { impl->on_grad(i, g); });
  }
  prepare();
}

GradSync::~GradSync() = default;

size_t GradSync::buckets() const { return impl_->buckets.size(); }

void GradSync::prepare() {
  for (auto& s : impl_->slots) s.ready = false;
  for (auto& b : impl_->buckets) b.pending = b.members, b.work.reset();
}

void GradSync::finish() {
  Impl& m = *impl_;
  const auto t0 = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lk(m.mu);
    for (auto& s : m.slots)
      if (!s.ready) m.buckets[s.bucket].flat.narrow(0, s.offset, s.param.numel()).zero_();
    for (auto& b : m.buckets)
      if (!b.work) m.launch(b);
  }
  for (auto& b : m.buckets) m.comm.wait(*b.work, "gradient all-reduce");
  wait_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  torch::NoGradGuard ng;
  const double inv = 1.0 / m.comm.size();
  for (auto& s : m.slots) {
    torch::Tensor avg = m.buckets[s.bucket].flat.narrow(0, s.offset, s.param.numel()).view(s.param.sizes()) * inv;
    s.param.mutable_grad() = avg;
  }
}

}  // namespace ds::dist

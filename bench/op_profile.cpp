#include "op_profile.h"

#include <ATen/record_function.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>

namespace sdxlw::bench {

namespace {

using Clock = std::chrono::steady_clock;

struct Totals {
  std::mutex mutex;
  std::map<std::string, OpStat> by_name;
};

Totals& totals() {
  static Totals t;
  return t;
}

thread_local int depth = 0;

struct Started : at::ObserverContext {
  Clock::time_point start;
  bool top = false;
};

std::unique_ptr<at::ObserverContext> on_enter(const at::RecordFunction&) {
  auto ctx = std::make_unique<Started>();
  ctx->top = depth++ == 0;
  ctx->start = Clock::now();
  return ctx;
}

void on_exit(const at::RecordFunction& fn, at::ObserverContext* raw) {
  --depth;
  auto* ctx = static_cast<Started*>(raw);
  if (!ctx || !ctx->top) return;
  const double s = std::chrono::duration<double>(Clock::now() - ctx->start).count();
  std::lock_guard<std::mutex> lock(totals().mutex);
  OpStat& stat = totals().by_name[fn.name()];
  stat.name = fn.name();
  ++stat.calls;
  stat.seconds += s;
}

}  // namespace

OpProfile::OpProfile() {
  {
    std::lock_guard<std::mutex> lock(totals().mutex);
    totals().by_name.clear();
  }
  handle_ = at::addThreadLocalCallback(
      at::RecordFunctionCallback(on_enter, on_exit).scopes({at::RecordScope::FUNCTION}));
}

OpProfile::~OpProfile() { at::removeCallback(handle_); }

std::vector<OpStat> OpProfile::stats() const {
  std::vector<OpStat> out;
  {
    std::lock_guard<std::mutex> lock(totals().mutex);
    for (const auto& [name, stat] : totals().by_name) out.push_back(stat);
  }
  std::sort(out.begin(), out.end(), [](const OpStat& a, const OpStat& b) { return a.seconds > b.seconds; });
  return out;
}

}  // namespace sdxlw::bench

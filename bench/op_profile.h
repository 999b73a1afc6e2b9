#pragma once
// Time per ATen operator as our code calls it (top-level calls only, so a conv2d's inner
// mkldnn_convolution is not counted twice), for `sdxl-bench --profile`.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sdxlw::bench {

struct OpStat {
  std::string name;
  int64_t calls = 0;
  double seconds = 0;
};

// Records while alive (on the calling thread), then stats() sorted by time, longest first.
class OpProfile {
 public:
  OpProfile();
  ~OpProfile();
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  std::vector<OpStat> stats() const;

 private:
  uint64_t handle_;
};

}  // namespace sdxlw::bench

#pragma once
// Exception types that carry meaning across layers. Everything else is a std::exception whose
// what() is the readable message that becomes a job's "error".

#include <stdexcept>
#include <string>

namespace sdxlw {

// The job's input is invalid; what() lists every problem found.
class InvalidRequest : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The engine cannot serve further jobs in this process (e.g. a CUDA context error): the job's
// result carries "refresh_worker": true so RunPod restarts the worker.
class EngineUnusable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace sdxlw

#pragma once
// This process as the kernel sees it (/proc/self), for benchmarks and the start-up log: resident
// memory and its high-water mark, and the time since the process started.

#include <cstdint>
#include <string>

namespace sdxlw {

struct ProcessMemory {
  int64_t rss_bytes = -1;       // VmRSS: resident now
  int64_t peak_rss_bytes = -1;  // VmHWM: the most ever resident (max of this and getrusage's ru_maxrss)
};

// -1 fields where the kernel does not say (no /proc).
ProcessMemory process_memory();

// Seconds since the kernel started this process (/proc/self/stat start time against
// /proc/uptime), so start-up before main() (dynamic loading of libtorch) counts too; −1 when unknown.
double process_age_seconds();

// "7.12 GB" (decimal units, as file sizes are usually quoted)
std::string format_bytes(int64_t bytes);

}  // namespace sdxlw

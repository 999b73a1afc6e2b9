#include "util/process_info.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace sdxlw {

namespace {

// "VmRSS:	  123456 kB" → bytes; -1 when the line is absent or malformed.
int64_t status_kb_field(const std::string& text, const std::string& field) {
  const size_t at = text.find(field + ":");
  if (at == std::string::npos) return -1;
  long long kb = -1;
  if (std::sscanf(text.c_str() + at + field.size() + 1, "%lld", &kb) != 1 || kb < 0) return -1;
  return static_cast<int64_t>(kb) * 1024;
}

}  // namespace

ProcessMemory process_memory() {
  ProcessMemory m;
  std::ifstream in("/proc/self/status");
  if (in) {
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    m.rss_bytes = status_kb_field(text, "VmRSS");
    m.peak_rss_bytes = status_kb_field(text, "VmHWM");
  }
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) == 0 && usage.ru_maxrss > 0) {
    m.peak_rss_bytes = std::max<int64_t>(m.peak_rss_bytes, static_cast<int64_t>(usage.ru_maxrss) * 1024);
  }
  return m;
}

double process_age_seconds() {
  std::ifstream stat("/proc/self/stat"), uptime("/proc/uptime");
  std::string text;
  double up = -1;
  if (!std::getline(stat, text) || !(uptime >> up)) return -1;
  // Field 2 (the command name) may hold spaces and parentheses: count fields after its last ')'.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(text.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
    if (i == 22) {
      const long ticks = ::sysconf(_SC_CLK_TCK);
      if (ticks <= 0) return -1;
      char* end = nullptr;
      const double started = std::strtod(field.c_str(), &end);
      if (end == field.c_str()) return -1;
      return up - started / static_cast<double>(ticks);
    }
  }
  return -1;
}

std::string format_bytes(int64_t bytes) {
  if (bytes < 0) return "n/a";
  char buf[32];
  if (bytes >= 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.2f GB", static_cast<double>(bytes) / 1e9);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  }
  return buf;
}

}  // namespace sdxlw

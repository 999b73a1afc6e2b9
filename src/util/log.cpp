#include "util/log.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <cctype>
#include <memory>

namespace sdxlw {

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name) {
  std::string n(name);
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  if (n == "notset" || n == "trace") return spdlog::level::trace;
  if (n == "debug") return spdlog::level::debug;
  if (n == "info") return spdlog::level::info;
  if (n == "warn" || n == "warning") return spdlog::level::warn;
  if (n == "error") return spdlog::level::err;
  if (n == "critical") return spdlog::level::critical;
  if (n == "off") return spdlog::level::off;
  return std::nullopt;
}

void init_logging(const std::string& level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("sdxl-worker", sink);
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %-5l %v");
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::trace);
  auto parsed = parse_log_level(level);
  spdlog::set_level(parsed.value_or(spdlog::level::info));
  if (!parsed && !level.empty()) spdlog::warn("log: unknown level \"{}\", using info", level);
}

}  // namespace sdxlw

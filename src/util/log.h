#pragma once
// Logging setup: every line goes to stderr (stdout is reserved for local mode's JSON document).
// Messages start with their component: "store: downloading ...", "engine: unet ...".

#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace sdxlw {

// Accepts spdlog names (trace debug info warn error critical off) and RunPod's
// (NOTSET TRACE DEBUG INFO WARN WARNING ERROR), case-insensitive; nullopt when unknown.
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name);

// Installs the stderr logger at `level` (a name accepted by parse_log_level; unknown → info,
// with a warning).
void init_logging(const std::string& level);

}  // namespace sdxlw

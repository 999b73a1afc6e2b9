#pragma once
// Locating read-only data files shipped with the executable (the tokenizer vocabulary).

#include <string>

namespace sdxlw {

// The first existing regular file among: $SDXLW_ASSETS_DIR/name, <exe dir>/assets/name,
// <exe dir>/../assets/name, <exe dir>/../share/sdxl-worker/name, ./assets/name (exe dir from
// /proc/self/exe). Throws std::runtime_error listing every place it looked.
std::string find_asset(const std::string& name);

}  // namespace sdxlw

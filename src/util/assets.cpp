#include "util/assets.h"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace sdxlw {

std::string find_asset(const std::string& name) {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates;
  if (const char* dir = std::getenv("SDXLW_ASSETS_DIR"); dir && *dir) candidates.push_back(fs::path(dir) / name);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path exe_dir = exe.parent_path();
    candidates.push_back(exe_dir / "assets" / name);
    candidates.push_back(exe_dir / ".." / "assets" / name);
    candidates.push_back(exe_dir / ".." / "share" / "sdxl-worker" / name);
  }
  candidates.push_back(fs::path("assets") / name);

  std::string looked;
  for (const fs::path& p : candidates) {
    if (fs::is_regular_file(p, ec)) return p.lexically_normal().string();
    looked += (looked.empty() ? "" : ", ") + p.lexically_normal().string();
  }
  throw std::runtime_error("asset \"" + name + "\" not found; looked in: " + looked +
                           " (set SDXLW_ASSETS_DIR to the directory holding it)");
}

}  // namespace sdxlw

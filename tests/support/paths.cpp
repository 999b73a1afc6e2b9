#include "support/paths.h"

#include <stdlib.h>

#include <stdexcept>
#include <system_error>

namespace sdxlw::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sdxlw-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace sdxlw::test

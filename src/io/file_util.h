#pragma once
// Whole-file reads and writes for small files (JSON documents, PNGs, test data).

#include <string>
#include <string_view>

namespace sdxlw {

// The file's bytes. Throws std::runtime_error naming the path and the errno text.
std::string read_file(const std::string& path);

// Creates or truncates `path` and writes `bytes`. Throws std::runtime_error naming the path.
void write_file(const std::string& path, std::string_view bytes);

}  // namespace sdxlw

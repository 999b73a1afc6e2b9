#pragma once
// A checkpoint's tensor names and shapes, without any data: what architecture detection, family
// checks and the strict name/shape comparison work on.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sdxlw {
class SafetensorsFile;
}

namespace sdxlw::nn {

using Shape = std::vector<int64_t>;
using ShapeMap = std::map<std::string, Shape>;

// Every tensor of an opened safetensors file.
ShapeMap shape_map(const SafetensorsFile& file);

// A key list in the text format of tests/fixtures/sdxl_base_keys_with_shapes.txt: one tensor per
// line, "name (d0, d1, ...)" with "()" for a scalar and "(n,)" for a vector. Blank lines are skipped.
// Throws std::runtime_error naming the file and line of a malformed entry.
ShapeMap read_key_list(const std::string& path);
ShapeMap parse_key_list(std::string_view text, const std::string& origin = "key list");

// "[320, 4, 3, 3]"
std::string shape_str(const Shape& shape);

// Read-only queries on a shape map used by the detectors.
class ShapeQuery {
 public:
  explicit ShapeQuery(const ShapeMap& shapes) : shapes_(shapes) {}
  const ShapeMap& map() const { return shapes_; }

  bool has(const std::string& name) const { return shapes_.count(name) != 0; }
  bool has_prefix(std::string_view prefix) const;
  size_t count_prefix(std::string_view prefix) const;
  // The shape of `name`; throws std::runtime_error("... <what> needs tensor <name> ...").
  const Shape& shape(const std::string& name, std::string_view what) const;
  // shape(name)[dim], also checking the rank.
  int64_t dim(const std::string& name, size_t rank, size_t dim, std::string_view what) const;
  // Largest N+1 such that some key starts with "<prefix>N." for every N in 0..N (contiguous from
  // 0); 0 when "<prefix>0." is absent.
  int64_t count_indexed(const std::string& prefix) const;

 private:
  const ShapeMap& shapes_;
};

}  // namespace sdxlw::nn

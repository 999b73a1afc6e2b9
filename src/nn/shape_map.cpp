#include "nn/shape_map.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "io/safetensors.h"

namespace sdxlw::nn {

ShapeMap shape_map(const SafetensorsFile& file) {
  ShapeMap out;
  for (const auto& t : file.tensors()) out.emplace(t.name, t.shape);
  return out;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool parse_dims(std::string_view inside, Shape& out) {
  out.clear();
  inside = trim(inside);
  while (!inside.empty()) {
    const size_t comma = inside.find(',');
    const std::string_view item = trim(inside.substr(0, comma));
    if (item.empty()) return false;
    int64_t v = 0;
    for (char c : item) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    out.push_back(v);
    if (comma == std::string_view::npos) break;
    inside = trim(inside.substr(comma + 1));  // "(n,)" ends here with an empty rest
  }
  return true;
}

}  // namespace

ShapeMap parse_key_list(std::string_view text, const std::string& origin) {
  ShapeMap out;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty()) continue;
    const size_t open = line.rfind(" (");
    Shape shape;
    if (open == std::string_view::npos || line.back() != ')' ||
        !parse_dims(line.substr(open + 2, line.size() - open - 3), shape)) {
      throw std::runtime_error(origin + " line " + std::to_string(line_no) +
                               ": expected \"name (d0, d1, ...)\", got \"" + std::string(line) + "\"");
    }
    const std::string name(trim(line.substr(0, open)));
    if (!out.emplace(name, std::move(shape)).second) {
      throw std::runtime_error(origin + " line " + std::to_string(line_no) + ": tensor " + name +
                               " is listed twice");
    }
  }
  return out;
}

ShapeMap read_key_list(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open key list " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_key_list(ss.str(), path);
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

bool ShapeQuery::has_prefix(std::string_view prefix) const {
  auto it = shapes_.lower_bound(std::string(prefix));
  return it != shapes_.end() && std::string_view(it->first).substr(0, prefix.size()) == prefix;
}

size_t ShapeQuery::count_prefix(std::string_view prefix) const {
  size_t n = 0;
  for (auto it = shapes_.lower_bound(std::string(prefix));
       it != shapes_.end() && std::string_view(it->first).substr(0, prefix.size()) == prefix; ++it) {
    ++n;
  }
  return n;
}

const Shape& ShapeQuery::shape(const std::string& name, std::string_view what) const {
  auto it = shapes_.find(name);
  if (it == shapes_.end()) {
    throw std::runtime_error("cannot detect the " + std::string(what) + " architecture: tensor " +
                             name + " is missing");
  }
  return it->second;
}

int64_t ShapeQuery::dim(const std::string& name, size_t rank, size_t d, std::string_view what) const {
  const Shape& s = shape(name, what);
  if (s.size() != rank) {
    throw std::runtime_error("cannot detect the " + std::string(what) + " architecture: tensor " +
                             name + " has shape " + shape_str(s) + ", expected " +
                             std::to_string(rank) + " dimensions");
  }
  return s[d];
}

int64_t ShapeQuery::count_indexed(const std::string& prefix) const {
  int64_t n = 0;
  while (has_prefix(prefix + std::to_string(n) + ".")) ++n;
  return n;
}

}  // namespace sdxlw::nn

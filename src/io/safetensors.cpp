#include "io/safetensors.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "io/mapped_file.h"

namespace sdxlw {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

struct DTypeRow {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeRow kDTypes[] = {
    {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2}, {DType::F32, "F32", 4},
    {DType::F64, "F64", 8}, {DType::I64, "I64", 8},   {DType::I32, "I32", 4},
    {DType::I16, "I16", 2}, {DType::I8, "I8", 1},     {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
};

// A JSON-quoted string, so names with odd characters stay readable in a message.
std::string quote(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string file_prefix(const std::string& path) { return "safetensors file \"" + path + "\": "; }

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw SafetensorsError(file_prefix(path) + problem);
}

[[noreturn]] void fail_tensor(const std::string& path, std::string_view tensor,
                              const std::string& problem) {
  throw SafetensorsError(file_prefix(path) + "tensor " + quote(tensor) + ": " + problem);
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string span_text(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// numel × element size, or nullopt when it does not fit in 64 bits.
std::optional<uint64_t> byte_count(const std::vector<int64_t>& shape, DType dtype) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return std::nullopt;
  }
  if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(n, static_cast<uint64_t>(dtype_size(dtype)), &bytes)) {
    return std::nullopt;
  }
  return bytes;
}

// A JSON number that is a whole number ≥ 0 (1.0 and "1" are not).
std::optional<uint64_t> as_index(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

std::string strip_json_exception_id(const char* what) {
  std::string s = what;
  if (!s.empty() && s[0] == '[') {
    const auto close = s.find("] ");
    if (close != std::string::npos) s.erase(0, close + 2);
  }
  return s;
}

// Parses the header, rejecting a key repeated within one object (nlohmann would keep only one).
json parse_header(const std::string& path, const char* begin, const char* end) {
  std::vector<std::set<std::string>> open_objects;
  std::string current_entry;
  std::optional<std::string> duplicate;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key: {
        const std::string& key = parsed.get_ref<const std::string&>();
        if (depth == 1) current_entry = key;
        if (!open_objects.empty() && !open_objects.back().insert(key).second && !duplicate) {
          if (depth == 1) {
            duplicate = key == "__metadata__"
                            ? std::string("\"__metadata__\" appears more than once in the header")
                            : "tensor " + quote(key) + " appears more than once in the header";
          } else {
            duplicate = "entry " + quote(current_entry) + ": key " + quote(key) +
                        " appears more than once";
          }
        }
        break;
      }
      default:
        break;
    }
    return true;
  };
  json root;
  try {
    root = json::parse(begin, end, callback);
  } catch (const json::exception& e) {
    fail(path, "the header is not valid JSON: " + strip_json_exception_id(e.what()));
  }
  if (duplicate) fail(path, *duplicate);
  return root;
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const json& value) {
  if (!value.is_object()) {
    fail(path, std::string("\"__metadata__\" is not a JSON object (it is ") + value.type_name() +
                   ")");
  }
  std::map<std::string, std::string> out;
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string()) {
      fail(path, "\"__metadata__\" entry " + quote(key) + " is not a string (it is " +
                     v.type_name() + ")");
    }
    out.emplace(key, v.get<std::string>());
  }
  return out;
}

TensorInfo parse_entry(const std::string& path, const std::string& name, const json& entry,
                       uint64_t data_size) {
  if (!entry.is_object()) {
    fail_tensor(path, name,
                std::string("the entry is not a JSON object (it is ") + entry.type_name() + ")");
  }
  TensorInfo t;
  t.name = name;

  const auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end()) fail_tensor(path, name, "missing \"dtype\"");
  if (!dtype_it->is_string()) {
    fail_tensor(path, name,
                std::string("\"dtype\" is not a string (it is ") + dtype_it->type_name() + ")");
  }
  const auto& dtype_str = dtype_it->get_ref<const std::string&>();
  const auto dtype = parse_dtype(dtype_str);
  if (!dtype) {
    std::string known;
    for (const auto& row : kDTypes) known += std::string(known.empty() ? "" : ", ") + row.name;
    fail_tensor(path, name, "unsupported dtype " + quote(dtype_str) + " (supported: " + known + ")");
  }
  t.dtype = *dtype;

  const auto shape_it = entry.find("shape");
  if (shape_it == entry.end()) fail_tensor(path, name, "missing \"shape\"");
  if (!shape_it->is_array()) {
    fail_tensor(path, name,
                std::string("\"shape\" is not an array (it is ") + shape_it->type_name() + ")");
  }
  t.shape.reserve(shape_it->size());
  for (size_t i = 0; i < shape_it->size(); ++i) {
    const auto dim = as_index((*shape_it)[i]);
    if (!dim || *dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail_tensor(path, name,
                  "shape entry " + std::to_string(i) + " is not a non-negative integer: " +
                      (*shape_it)[i].dump(-1, ' ', false, json::error_handler_t::replace));
    }
    t.shape.push_back(static_cast<int64_t>(*dim));
  }
  const auto nbytes = byte_count(t.shape, t.dtype);
  if (!nbytes) {
    fail_tensor(path, name, "shape " + shape_text(t.shape) + " of " + dtype_name(t.dtype) +
                                " is too large (its byte size overflows 64 bits)");
  }
  t.nbytes = *nbytes;

  const auto offsets_it = entry.find("data_offsets");
  if (offsets_it == entry.end()) fail_tensor(path, name, "missing \"data_offsets\"");
  if (!offsets_it->is_array() || offsets_it->size() != 2) {
    fail_tensor(path, name, "\"data_offsets\" is not an array of two integers: " +
                                offsets_it->dump(-1, ' ', false, json::error_handler_t::replace));
  }
  uint64_t span[2];
  for (size_t i = 0; i < 2; ++i) {
    const auto v = as_index((*offsets_it)[i]);
    if (!v) {
      fail_tensor(path, name,
                  "data_offsets entry " + std::to_string(i) + " is not a non-negative integer: " +
                      (*offsets_it)[i].dump(-1, ' ', false, json::error_handler_t::replace));
    }
    span[i] = *v;
  }
  const uint64_t begin = span[0], end = span[1];
  if (begin > end) {
    fail_tensor(path, name, "data_offsets " + span_text(begin, end) + " are reversed (begin > end)");
  }
  if (end > data_size) {
    fail_tensor(path, name,
                "data_offsets " + span_text(begin, end) + " run past the end of the data section (" +
                    std::to_string(data_size) + " bytes): the file is truncated or corrupt");
  }
  if (end - begin != t.nbytes) {
    fail_tensor(path, name,
                "shape " + shape_text(t.shape) + " of " + dtype_name(t.dtype) + " needs " +
                    std::to_string(t.nbytes) + " bytes but data_offsets " + span_text(begin, end) +
                    " span " + std::to_string(end - begin));
  }
  t.offset = begin;
  return t;
}

}  // namespace

const char* dtype_name(DType dtype) {
  for (const auto& row : kDTypes) {
    if (row.dtype == dtype) return row.name;
  }
  return "?";
}

size_t dtype_size(DType dtype) {
  for (const auto& row : kDTypes) {
    if (row.dtype == dtype) return row.size;
  }
  return 0;
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& row : kDTypes) {
    if (name == row.name) return row.dtype;
  }
  return std::nullopt;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  try {
    f.map_ = std::make_unique<MappedFile>(path, MappedFile::Access::CopyOnWrite);
  } catch (const std::runtime_error& e) {
    throw SafetensorsError(std::string("safetensors: ") + e.what());
  }
  const uint64_t size = f.map_->size();
  const uint8_t* bytes = f.map_->data();
  if (size == 0) fail(path, "the file is empty (0 bytes)");
  if (size < 8) {
    fail(path, "the file is truncated: " + std::to_string(size) +
                   " bytes, too short for the 8-byte header length");
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeaderBytes) {
    fail(path, "absurd header length " + std::to_string(header_len) +
                   " (more than 100 MB): not a safetensors file, or a corrupt one");
  }
  if (header_len < 2) {
    fail(path, "header length " + std::to_string(header_len) +
                   " is too small to hold a JSON object");
  }
  if (header_len > size - 8) {
    fail(path, "the file is truncated: the header length " + std::to_string(header_len) +
                   " runs past the end of the file (" + std::to_string(size) + " bytes)");
  }
  f.data_start_ = 8 + header_len;
  const uint64_t data_size = size - f.data_start_;

  const char* header = reinterpret_cast<const char*>(bytes + 8);
  const json root = parse_header(path, header, header + header_len);
  if (!root.is_object()) {
    fail(path, std::string("the header is not a JSON object (it is ") + root.type_name() + ")");
  }

  f.tensors_.reserve(root.size());
  for (const auto& [name, entry] : root.items()) {
    if (name == "__metadata__") {
      f.metadata_ = parse_metadata(path, entry);
    } else {
      f.tensors_.push_back(parse_entry(path, name, entry, data_size));
    }
  }

  std::sort(f.tensors_.begin(), f.tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.offset, a.nbytes, a.name) < std::tie(b.offset, b.nbytes, b.name);
  });
  // Sorted by start, a tensor overlaps an earlier one exactly when it starts before the
  // furthest end seen so far. Empty tensors occupy no bytes and overlap nothing.
  const TensorInfo* furthest = nullptr;
  for (const auto& t : f.tensors_) {
    if (t.nbytes == 0) continue;
    if (furthest && t.offset < furthest->offset + furthest->nbytes) {
      fail(path, "tensor " + quote(t.name) + " (data_offsets " +
                     span_text(t.offset, t.offset + t.nbytes) + ") overlaps tensor " +
                     quote(furthest->name) + " (data_offsets " +
                     span_text(furthest->offset, furthest->offset + furthest->nbytes) + ")");
    }
    if (!furthest || t.offset + t.nbytes > furthest->offset + furthest->nbytes) furthest = &t;
  }
  for (size_t i = 0; i < f.tensors_.size(); ++i) f.index_.emplace(f.tensors_[i].name, i);
  return f;
}

uint64_t SafetensorsFile::file_size() const { return map_->size(); }

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& SafetensorsFile::at(std::string_view name) const {
  if (const TensorInfo* t = find(name)) return *t;
  fail(path_, "no tensor named " + quote(name));
}

uint8_t* SafetensorsFile::data(const TensorInfo& tensor) const {
  const uint64_t data_size = map_->size() - data_start_;
  if (tensor.offset > data_size || tensor.nbytes > data_size - tensor.offset) {
    fail_tensor(path_, tensor.name, "its span lies outside this file's data section");
  }
  return map_->data() + data_start_ + tensor.offset;
}

void SafetensorsFile::release(const TensorInfo& tensor) const {
  if (tensor.nbytes == 0) return;
  if (!map_->dont_need(data_start_ + tensor.offset, tensor.nbytes)) {
    spdlog::warn("io: releasing tensor {} of {} failed: {}", tensor.name, path_,
                 std::strerror(errno));
  }
}

void SafetensorsFile::prefetch() const {
  if (!map_->will_need(0, map_->size())) {
    spdlog::warn("io: read-ahead of {} failed: {}", path_, std::strerror(errno));
  }
}

// ---------------------------------------------------------------------------------------------

void SafetensorsWriter::FileCloser::operator()(std::FILE* f) const {
  if (f) std::fclose(f);
}

SafetensorsWriter::SafetensorsWriter(const std::string& path, std::vector<Entry> entries,
                                     const std::map<std::string, std::string>& metadata)
    : path_(path), entries_(std::move(entries)) {
  std::string header = "{";
  try {
    if (!metadata.empty()) header += "\"__metadata__\":" + json(metadata).dump();
    std::set<std::string_view> seen;
    uint64_t offset = 0;
    for (const auto& e : entries_) {
      if (e.name.empty()) fail(path, "a tensor has an empty name");
      if (e.name == "__metadata__") fail(path, "\"__metadata__\" cannot name a tensor");
      if (!seen.insert(e.name).second) fail_tensor(path, e.name, "listed more than once");
      const auto nbytes = byte_count(e.shape, e.dtype);
      if (!nbytes) {
        fail_tensor(path, e.name,
                    "shape " + shape_text(e.shape) + " has a negative dimension or too many bytes");
      }
      if (dtype_size(e.dtype) == 0) fail_tensor(path, e.name, "invalid dtype");
      if (header.size() > 1) header += ',';
      header += json(e.name).dump();
      header += ":{\"dtype\":\"";
      header += dtype_name(e.dtype);
      header += "\",\"shape\":";
      header += json(e.shape).dump();
      header += ",\"data_offsets\":[" + std::to_string(offset) + ",";
      if (__builtin_add_overflow(offset, *nbytes, &offset)) {
        fail_tensor(path, e.name, "the data section would exceed 64 bits");
      }
      header += std::to_string(offset) + "]}";
    }
  } catch (const json::type_error& e) {
    fail(path, "a tensor name or metadata string is not valid UTF-8");
  }
  header += '}';
  while ((8 + header.size()) % 8 != 0) header += ' ';

  file_.reset(std::fopen(path.c_str(), "wb"));
  if (!file_) fail(path, std::string("cannot create the file: ") + std::strerror(errno));
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(uint64_t{header.size()} >> (8 * i));
  if (std::fwrite(len, 1, 8, file_.get()) != 8 ||
      std::fwrite(header.data(), 1, header.size(), file_.get()) != header.size()) {
    const int err = errno;
    file_.reset();
    std::remove(path.c_str());
    fail(path, std::string("writing the header failed: ") + std::strerror(err));
  }
}

SafetensorsWriter::~SafetensorsWriter() {
  if (file_) {
    file_.reset();
    std::remove(path_.c_str());
  }
}

void SafetensorsWriter::write(const void* data, size_t nbytes) {
  if (!file_) fail(path_, "write() after finish()");
  if (next_ >= entries_.size()) {
    fail(path_, "write() called again after all " + std::to_string(entries_.size()) +
                    " tensors were written");
  }
  const Entry& e = entries_[next_];
  const uint64_t expected = *byte_count(e.shape, e.dtype);
  if (nbytes != expected) {
    fail_tensor(path_, e.name,
                "write() got " + std::to_string(nbytes) + " bytes but shape " + shape_text(e.shape) +
                    " of " + dtype_name(e.dtype) + " needs " + std::to_string(expected));
  }
  if (nbytes > 0 && std::fwrite(data, 1, nbytes, file_.get()) != nbytes) {
    fail_tensor(path_, e.name, std::string("writing failed: ") + std::strerror(errno));
  }
  ++next_;
}

void SafetensorsWriter::finish() {
  if (!file_) fail(path_, "finish() called twice");
  if (next_ != entries_.size()) {
    fail_tensor(path_, entries_[next_].name,
                "never written (finish() after " + std::to_string(next_) + " of " +
                    std::to_string(entries_.size()) + " tensors)");
  }
  if (std::fflush(file_.get()) != 0) {
    fail(path_, std::string("flushing failed: ") + std::strerror(errno));
  }
  if (::fsync(fileno(file_.get())) != 0) {
    fail(path_, std::string("fsync failed: ") + std::strerror(errno));
  }
  if (std::fclose(file_.release()) != 0) {
    const int err = errno;
    std::remove(path_.c_str());
    fail(path_, std::string("closing failed: ") + std::strerror(err));
  }
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<SafetensorsWriter::Entry, const void*>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsWriter::Entry> entries;
  entries.reserve(tensors.size());
  for (const auto& t : tensors) entries.push_back(t.first);
  SafetensorsWriter writer(path, std::move(entries), metadata);
  for (const auto& [entry, data] : tensors) {
    writer.write(data, static_cast<size_t>(*byte_count(entry.shape, entry.dtype)));
  }
  writer.finish();
}

}  // namespace sdxlw

#include "nn/checkpoint_recipe.h"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "io/sha256.h"
#include "nn/tensor_io.h"

namespace sdxlw::nn {

namespace {

using nlohmann::json;

[[noreturn]] void bad_entry(const std::string& path, size_t index, const std::string& name, const std::string& msg) {
  throw std::runtime_error("recipe \"" + path + "\": tensor #" + std::to_string(index) +
                           (name.empty() ? "" : " (" + name + ")") + ": " + msg);
}

}  // namespace

uint64_t RecipeTensor::nbytes() const {
  uint64_t n = dtype_size(dtype);
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

at::Tensor RecipeTensor::make() const {
  const auto target = scalar_type_of(dtype);
  switch (init) {
    case Init::Arange:
      return at::arange(arange, at::TensorOptions().dtype(at::kLong)).reshape(shape).to(target).contiguous();
    case Init::Fill:
      return at::full(shape, fill, at::TensorOptions().dtype(at::kFloat)).to(target);
    case Init::Randn: break;
  }
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor x = at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat));
  for (const auto& [op, k] : ops) {
    if (op == "mul") {
      x = x * k;
    } else if (op == "div") {
      x = x / k;
    } else {
      x = x + k;
    }
  }
  return x.to(target).contiguous();
}

CheckpointRecipe CheckpointRecipe::read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open recipe \"" + path + "\"");
  json doc;
  try {
    doc = json::parse(in);
  } catch (const json::exception& e) {
    throw std::runtime_error("recipe \"" + path + "\" is not valid JSON: " + e.what());
  }
  if (!doc.is_object() || doc.value("format", "") != "sdxl-random-checkpoint-recipe/1" ||
      !doc.contains("tensors") || !doc["tensors"].is_array()) {
    throw std::runtime_error("recipe \"" + path +
                             "\" is not an sdxl-random-checkpoint-recipe/1 document with a \"tensors\" array");
  }
  CheckpointRecipe r;
  r.config = doc.value("config", "");
  size_t index = 0;
  for (const auto& e : doc["tensors"]) {
    RecipeTensor t;
    try {
      t.name = e.at("name").get<std::string>();
      const auto dtype = parse_dtype(e.at("dtype").get<std::string>());
      if (!dtype) bad_entry(path, index, t.name, "unsupported dtype " + e.at("dtype").dump());
      t.dtype = *dtype;
      for (const auto& d : e.at("shape")) {
        if (!d.is_number_integer() || d.get<int64_t>() < 0) bad_entry(path, index, t.name, "bad shape " + e.at("shape").dump());
        t.shape.push_back(d.get<int64_t>());
      }
      t.sha256 = e.at("sha256").get<std::string>();
      const auto& init = e.at("init");
      if (init.contains("arange")) {
        t.init = RecipeTensor::Init::Arange;
        t.arange = init.at("arange").get<int64_t>();
        int64_t numel = 1;
        for (int64_t d : t.shape) numel *= d;
        if (numel != t.arange) bad_entry(path, index, t.name, "arange count does not match the shape");
      } else if (init.contains("fill")) {
        t.init = RecipeTensor::Init::Fill;
        t.fill = init.at("fill").get<double>();
      } else if (init.contains("randn_seed")) {
        t.init = RecipeTensor::Init::Randn;
        t.seed = init.at("randn_seed").get<uint64_t>();
        for (const auto& op : init.value("ops", json::array())) {
          const std::string name = op.at(0).get<std::string>();
          if (name != "mul" && name != "div" && name != "add") bad_entry(path, index, t.name, "unknown op \"" + name + "\"");
          t.ops.emplace_back(name, op.at(1).get<double>());
        }
      } else {
        bad_entry(path, index, t.name, "init has none of arange, fill, randn_seed");
      }
    } catch (const json::exception& ex) {
      bad_entry(path, index, t.name, std::string("malformed entry: ") + ex.what());
    }
    r.tensors.push_back(std::move(t));
    ++index;
  }
  return r;
}

ShapeMap CheckpointRecipe::shapes() const {
  ShapeMap out;
  for (const auto& t : tensors) out.emplace(t.name, t.shape);
  return out;
}

uint64_t CheckpointRecipe::data_bytes() const {
  uint64_t n = 0;
  for (const auto& t : tensors) n += t.nbytes();
  return n;
}

bool checkpoint_matches_recipe(const std::string& path, const CheckpointRecipe& recipe) {
  try {
    const SafetensorsFile file = SafetensorsFile::open(path);
    if (file.tensors().size() != recipe.tensors.size()) return false;
    for (const auto& t : recipe.tensors) {
      const TensorInfo* info = file.find(t.name);
      if (!info || info->dtype != t.dtype || info->shape != t.shape) return false;
    }
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void write_recipe_checkpoint(const CheckpointRecipe& recipe, const std::string& out) {
  const std::string tmp = out + ".tmp";
  const auto parent = std::filesystem::path(out).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  const uint64_t total = recipe.data_bytes();
  spdlog::info("nn: rebuilding checkpoint \"{}\" from recipe \"{}\": {} tensors, {:.2f} GB", out, recipe.config,
               recipe.tensors.size(), static_cast<double>(total) / 1e9);
  const auto start = std::chrono::steady_clock::now();
  try {
    std::vector<SafetensorsWriter::Entry> entries;
    for (const auto& t : recipe.tensors) entries.push_back({t.name, t.dtype, t.shape});
    SafetensorsWriter writer(tmp, std::move(entries), {{"format", "pt"}, {"recipe", recipe.config}});
    uint64_t done = 0;
    int last_decile = 0;
    for (const auto& t : recipe.tensors) {
      const at::Tensor x = t.make();
      const size_t nbytes = static_cast<size_t>(x.numel()) * x.element_size();
      const std::string digest =
          sha256_hex(std::string_view(static_cast<const char*>(x.data_ptr()), nbytes));
      if (digest != t.sha256) {
        throw std::runtime_error("tensor " + t.name + " rebuilt with sha256 " + digest + ", the recipe says " +
                                 t.sha256 + " (this libtorch's CPU randn differs from the one that made the recipe)");
      }
      writer.write(x.data_ptr(), nbytes);
      done += nbytes;
      const int decile = total ? static_cast<int>(done * 10 / total) : 10;
      if (total > (uint64_t{1} << 30) && decile > last_decile) {
        last_decile = decile;
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        spdlog::info("nn: rebuilding \"{}\": {}% ({:.2f} of {:.2f} GB, {:.0f} s)", out, decile * 10,
                     static_cast<double>(done) / 1e9, static_cast<double>(total) / 1e9, secs);
      }
    }
    writer.finish();
    std::filesystem::rename(tmp, out);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("nn: wrote \"{}\" ({} tensors, every sha256 verified) in {:.1f} s", out, recipe.tensors.size(), secs);
}

}  // namespace sdxlw::nn

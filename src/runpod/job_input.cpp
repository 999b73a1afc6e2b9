#include "runpod/job_input.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <set>

#include "core/errors.h"
#include "core/schedulers.h"

namespace sdxlw {
namespace {

using nlohmann::json;
using Problems = std::vector<std::string>;

std::string type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::binary: return "binary data";
    case json::value_t::discarded: return "nothing";
    default: return "a number";
  }
}

size_t code_points(const std::string& s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// The value as it appears in a message: short, whole code points only.
std::string shown(const json& v) {
  constexpr size_t kMaxShown = 40;
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (code_points(s) <= kMaxShown) return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
    size_t cut = 0, seen = 0;
    while (cut < s.size() && seen < kMaxShown) {
      ++cut;
      while (cut < s.size() && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) ++cut;
      ++seen;
    }
    return json(s.substr(0, cut) + "...").dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return v.dump();
}

std::string wrong_type(const std::string& field, const std::string& expected, const json& v) {
  std::string msg = field + " must be " + expected + ", not " + type_name(v);
  if (!v.is_object() && !v.is_array() && !v.is_null()) msg += " (got " + shown(v) + ")";
  return msg;
}

struct IntegerValue {
  int64_t value = 0;
  bool overflow = false;  // outside int64: fails every range check
};

// An integer (or an integral float such as 1024.0); nullopt after recording a type problem.
std::optional<IntegerValue> read_integer(const json& v, const std::string& field, Problems& problems) {
  if (v.is_number_integer() && !v.is_number_unsigned()) return IntegerValue{v.get<int64_t>(), false};
  if (v.is_number_unsigned()) {
    auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return IntegerValue{0, true};
    return IntegerValue{static_cast<int64_t>(u), false};
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || std::floor(d) != d) {
      problems.push_back(field + " must be an integer (got " + shown(v) + ")");
      return std::nullopt;
    }
    if (d >= 9223372036854775808.0 || d < -9223372036854775808.0) return IntegerValue{0, true};
    return IntegerValue{static_cast<int64_t>(d), false};
  }
  problems.push_back(wrong_type(field, "an integer", v));
  return std::nullopt;
}

std::optional<int64_t> read_int_in_range(const json& v, const std::string& field, int64_t lo,
                                         int64_t hi, Problems& problems) {
  auto n = read_integer(v, field, problems);
  if (!n) return std::nullopt;
  if (n->overflow || n->value < lo || n->value > hi) {
    problems.push_back(field + " must be between " + std::to_string(lo) + " and " +
                       std::to_string(hi) + " (got " + shown(v) + ")");
    return std::nullopt;
  }
  return n->value;
}

std::optional<double> read_number(const json& v, const std::string& field, Problems& problems) {
  if (!v.is_number()) {
    problems.push_back(wrong_type(field, "a number", v));
    return std::nullopt;
  }
  double d = v.get<double>();
  if (!std::isfinite(d)) {
    problems.push_back(field + " must be a finite number (got " + shown(v) + ")");
    return std::nullopt;
  }
  return d;
}

std::string format_number(double d) {
  if (std::floor(d) == d && std::fabs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
  return json(d).dump();
}

std::string lower_ascii(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

// Names as JSON strings; user-supplied ones shortened like every shown value.
std::string quoted_list(const std::vector<std::string>& names, bool shorten) {
  constexpr size_t kMaxListed = 10;
  std::vector<std::string> q;
  for (const auto& n : names) {
    if (shorten && q.size() == kMaxListed) {
      q.push_back("and " + std::to_string(names.size() - kMaxListed) + " more");
      break;
    }
    q.push_back(shorten ? shown(json(n)) : json(n).dump(-1, ' ', false, json::error_handler_t::replace));
  }
  return join(q, ", ");
}

void check_side(const json& input, const std::string& field, int& out, Problems& problems) {
  auto it = input.find(field);
  if (it == input.end() || it->is_null()) return;
  auto n = read_integer(*it, field, problems);
  if (!n) return;
  if (n->overflow || n->value < kMinImageSide || n->value > kMaxImageSide) {
    problems.push_back(field + " must be between " + std::to_string(kMinImageSide) + " and " +
                       std::to_string(kMaxImageSide) + " (got " + shown(*it) + ")");
  } else if (n->value % kImageSideMultiple != 0) {
    problems.push_back(field + " must be a multiple of " + std::to_string(kImageSideMultiple) +
                       " (got " + shown(*it) + ")");
  } else {
    out = static_cast<int>(n->value);
  }
}

void check_prompt(const json& input, const std::string& field, bool required, std::string& out,
                  Problems& problems) {
  auto it = input.find(field);
  if (it == input.end() || it->is_null()) {
    if (required) problems.push_back(field + " is required");
    return;
  }
  if (!it->is_string()) {
    problems.push_back(wrong_type(field, "a string", *it));
    return;
  }
  const auto& s = it->get_ref<const std::string&>();
  size_t chars = code_points(s);
  if (required && s.empty()) {
    problems.push_back(field + " must not be empty");
  } else if (chars > kMaxPromptChars) {
    problems.push_back(field + " is too long: " + std::to_string(chars) + " characters (at most " +
                       std::to_string(kMaxPromptChars) + ")");
  } else {
    out = s;
  }
}

std::optional<LoraChoice> find_lora(const std::vector<LoraChoice>& known, const std::string& name) {
  for (const auto& l : known)
    if (l.name == name) return l;
  std::optional<LoraChoice> match;
  for (const auto& l : known) {
    if (lower_ascii(l.name) == lower_ascii(name)) {
      if (match) return std::nullopt;  // ambiguous without the exact case
      match = l;
    }
  }
  return match;
}

void check_loras(const json& input, const JobValidationContext& context,
                 std::optional<std::vector<LoraChoice>>& out, Problems& problems) {
  auto it = input.find("loras");
  if (it == input.end() || it->is_null()) return;
  if (!it->is_array()) {
    problems.push_back(wrong_type("loras", "an array of {\"name\", \"scale\"} objects", *it));
    return;
  }
  std::vector<std::string> known_names;
  for (const auto& l : context.known_loras) known_names.push_back(l.name);
  std::vector<LoraChoice> chosen;
  std::set<std::string> seen;
  bool ok = true;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& entry = (*it)[i];
    std::string at = "loras[" + std::to_string(i) + "]";
    if (!entry.is_object()) {
      problems.push_back(wrong_type(at, "an object with \"name\" and optional \"scale\"", entry));
      ok = false;
      continue;
    }
    std::vector<std::string> unknown;
    for (const auto& [key, value] : entry.items())
      if (key != "name" && key != "scale") unknown.push_back(key);
    if (!unknown.empty()) {
      problems.push_back(at + " has unknown field" + (unknown.size() > 1 ? "s " : " ") +
                         quoted_list(unknown, true) + " (accepted: name, scale)");
      ok = false;
    }
    std::optional<LoraChoice> lora;
    auto name = entry.find("name");
    if (name == entry.end() || name->is_null()) {
      problems.push_back(at + ".name is required");
    } else if (!name->is_string()) {
      problems.push_back(wrong_type(at + ".name", "a string", *name));
    } else {
      const auto& n = name->get_ref<const std::string&>();
      lora = find_lora(context.known_loras, n);
      if (!lora) {
        problems.push_back(at + ".name " + shown(*name) + " is unknown (" +
                           (known_names.empty() ? std::string("models.json lists no LoRAs")
                                                : "known: " + quoted_list(known_names, false)) +
                           ")");
      } else if (!seen.insert(lora->name).second) {
        problems.push_back(at + " repeats " + shown(json(lora->name)));
        lora.reset();
      }
    }
    auto scale = entry.find("scale");
    if (scale != entry.end() && !scale->is_null()) {
      auto s = read_number(*scale, at + ".scale", problems);
      if (!s) {
        ok = false;
      } else if (std::fabs(*s) > kMaxLoraScale) {
        problems.push_back(at + ".scale must be between " + format_number(-kMaxLoraScale) + " and " +
                           format_number(kMaxLoraScale) + " (got " + shown(*scale) + ")");
        ok = false;
      } else if (lora) {
        lora->scale = *s;
      }
    }
    if (!lora) ok = false;
    if (ok) chosen.push_back(*lora);
  }
  if (ok) out = std::move(chosen);
}

}  // namespace

const std::vector<std::string>& job_input_fields() {
  static const std::vector<std::string> fields = {
      "prompt",   "negative_prompt", "width", "height",     "num_inference_steps",
      "guidance_scale", "scheduler", "seed",  "num_images", "loras"};
  return fields;
}

uint64_t random_seed() {
  static std::mutex mutex;
  static std::mt19937_64 rng{[] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }()};
  std::lock_guard<std::mutex> lock(mutex);
  return std::uniform_int_distribution<uint64_t>(0, kRandomSeedLimit - 1)(rng);
}

GenerationRequest parse_job_input(const nlohmann::json& input, const JobValidationContext& context) {
  if (!input.is_object())
    throw InvalidRequest("invalid input: input must be a JSON object, not " + type_name(input));

  GenerationRequest request;
  Problems problems;

  check_prompt(input, "prompt", true, request.prompt, problems);
  check_prompt(input, "negative_prompt", false, request.negative_prompt, problems);
  check_side(input, "width", request.width, problems);
  check_side(input, "height", request.height, problems);

  if (auto it = input.find("num_inference_steps"); it != input.end() && !it->is_null())
    if (auto n = read_int_in_range(*it, "num_inference_steps", 1, kMaxSteps, problems))
      request.steps = static_cast<int>(*n);

  if (auto it = input.find("guidance_scale"); it != input.end() && !it->is_null()) {
    if (auto g = read_number(*it, "guidance_scale", problems)) {
      if (*g < 0 || *g > kMaxGuidanceScale) {
        problems.push_back("guidance_scale must be between 0 and " + format_number(kMaxGuidanceScale) +
                           " (got " + shown(*it) + ")");
      } else {
        request.guidance_scale = *g;
      }
    }
  }

  if (auto it = input.find("scheduler"); it != input.end() && !it->is_null()) {
    if (!it->is_string()) {
      problems.push_back(wrong_type("scheduler", "a string", *it));
    } else if (auto canonical = canonical_scheduler_name(it->get_ref<const std::string&>())) {
      request.scheduler = *canonical;
    } else {
      problems.push_back("scheduler " + shown(*it) + " is unknown (known: " +
                         join(scheduler_names(), ", ") + ")");
    }
  }

  bool random = true;
  if (auto it = input.find("seed"); it != input.end() && !it->is_null()) {
    if (auto n = read_integer(*it, "seed", problems)) {
      if (!n->overflow && n->value == -1) {
        // -1 asks for a random seed, like null
      } else if (n->overflow || n->value < 0) {
        problems.push_back("seed must be between 0 and 9223372036854775807, or -1 or null for a "
                           "random seed (got " + shown(*it) + ")");
        random = false;
      } else {
        request.seed = static_cast<uint64_t>(n->value);
        random = false;
      }
    } else {
      random = false;
    }
  }

  if (auto it = input.find("num_images"); it != input.end() && !it->is_null())
    if (auto n = read_int_in_range(*it, "num_images", 1, kMaxImages, problems))
      request.num_images = static_cast<int>(*n);

  check_loras(input, context, request.loras, problems);

  std::vector<std::string> unknown;
  const auto& fields = job_input_fields();
  for (const auto& [key, value] : input.items())
    if (std::find(fields.begin(), fields.end(), key) == fields.end()) unknown.push_back(key);
  if (!unknown.empty())
    problems.push_back(std::string("unknown field") + (unknown.size() > 1 ? "s " : " ") +
                       quoted_list(unknown, true) + " (accepted: " + join(fields, ", ") + ")");

  if (!problems.empty()) throw InvalidRequest("invalid input: " + join(problems, "; "));

  if (random) request.seed = context.random_seed ? context.random_seed() : random_seed();
  return request;
}

}  // namespace sdxlw

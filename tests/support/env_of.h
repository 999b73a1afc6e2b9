#pragma once

#include <map>
#include <optional>
#include <string>

#include "runpod/runpod_env.h"

namespace sdxlw::test {

// An environment holding exactly `values`, for code that reads variables through an EnvLookup.
inline EnvLookup env_of(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace sdxlw::test

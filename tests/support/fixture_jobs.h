#pragma once
// The golden fixture jobs (tests/fixtures/jobs/<name>) and a GoogleTest parameter name for each.

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

namespace sdxlw::test {

inline const std::vector<std::string>& fixture_job_names() {
  static const std::vector<std::string> names = {"01_euler_64",
                                                 "02_euler_a_128x64",
                                                 "03_dpmpp_2m_batch2",
                                                 "04_dpmpp_2m_karras_64x128",
                                                 "05_ddim_empty_negative",
                                                 "06_long_prompt_chunks",
                                                 "07_lora_a_0.8",
                                                 "08_euler_a_batch2_long_negative"};
  return names;
}

// "07_lora_a_0.8" → "07_lora_a_0_8": GoogleTest names allow letters, digits and '_' only.
inline std::string job_param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

}  // namespace sdxlw::test

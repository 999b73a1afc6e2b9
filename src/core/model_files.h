#pragma once
// The files of a model set after the store made them present and verified (DESIGN §5).

#include <string>
#include <vector>

namespace sdxlw {

struct LoraFile {
  std::string name;
  std::string path;
  double default_scale = 1.0;
};

struct ModelFiles {
  std::string checkpoint_name;
  std::string checkpoint_path;
  std::vector<LoraFile> loras;  // every LoRA of models.json; all of them form the default set
};

}  // namespace sdxlw

#include "lora/adapter.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string_view>
#include <tuple>

#include "nn/tensor_io.h"

namespace sdxlw::lora {
namespace {

struct SuffixRule {
  std::string_view suffix;
  Part part;
};

// Every spelling of every part; the longest matching suffix wins.
constexpr SuffixRule kSuffixes[] = {
    {".lora_up.weight", Part::Up},
    {".lora_down.weight", Part::Down},
    {".lora_mid.weight", Part::Mid},
    {".lora_B.weight", Part::Up},
    {".lora_A.weight", Part::Down},
    {".lora_B.default.weight", Part::Up},
    {".lora_A.default.weight", Part::Down},
    {".lora.up.weight", Part::Up},
    {".lora.down.weight", Part::Down},
    {"_lora.up.weight", Part::Up},
    {"_lora.down.weight", Part::Down},
    {".lora_linear_layer.up.weight", Part::Up},
    {".lora_linear_layer.down.weight", Part::Down},
    {".hada_w1_a", Part::HadaW1A},
    {".hada_w1_b", Part::HadaW1B},
    {".hada_w2_a", Part::HadaW2A},
    {".hada_w2_b", Part::HadaW2B},
    {".hada_t1", Part::HadaT1},
    {".hada_t2", Part::HadaT2},
    {".lokr_w1", Part::LokrW1},
    {".lokr_w1_a", Part::LokrW1A},
    {".lokr_w1_b", Part::LokrW1B},
    {".lokr_w2", Part::LokrW2},
    {".lokr_w2_a", Part::LokrW2A},
    {".lokr_w2_b", Part::LokrW2B},
    {".lokr_t2", Part::LokrT2},
    {".alpha", Part::Alpha},
    {".dora_scale", Part::DoraScale},
};

bool ends_with(std::string_view s, std::string_view p) {
  return s.size() > p.size() && s.substr(s.size() - p.size()) == p;
}

const SuffixRule* match_suffix(std::string_view key) {
  const SuffixRule* best = nullptr;
  for (const auto& rule : kSuffixes)
    if (ends_with(key, rule.suffix) && (!best || rule.suffix.size() > best->suffix.size()))
      best = &rule;
  return best;
}

bool is_lora_part(Part p) { return p == Part::Up || p == Part::Down || p == Part::Mid; }
bool is_loha_part(Part p) { return p >= Part::HadaW1A && p <= Part::HadaT2; }
bool is_lokr_part(Part p) { return p >= Part::LokrW1 && p <= Part::LokrT2; }

bool is_float(DType d) {
  return d == DType::F16 || d == DType::BF16 || d == DType::F32 || d == DType::F64;
}

[[noreturn]] void fail(const std::string& path, const std::string& message) {
  throw std::runtime_error("LoRA file \"" + path + "\": " + message);
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// The checks of one module's parts, with messages naming the file and the key.
class ShapeCheck {
 public:
  ShapeCheck(const AdapterFile& file, const AdapterModule& module) : file_(file), module_(module) {}

  const std::vector<int64_t>& shape(Part p) const { return module_.part(p)->shape; }
  int64_t dim(Part p, size_t i) const { return shape(p)[i]; }

  void rank_in(Part p, std::initializer_list<size_t> ranks) const {
    for (size_t r : ranks)
      if (shape(p).size() == r) return;
    std::string allowed;
    for (size_t r : ranks) allowed += (allowed.empty() ? "" : " or ") + std::to_string(r);
    bad(p, "should have " + allowed + " dimensions");
  }
  void trailing_ones(Part p, size_t from) const {
    for (size_t i = from; i < shape(p).size(); ++i)
      if (shape(p)[i] != 1)
        bad(p, "should be 1×1 beyond its first " + std::to_string(from) + " dimensions");
  }
  void same(Part a, size_t ia, Part b, size_t ib) const {
    if (dim(a, ia) != dim(b, ib)) {
      fail(file_.file.path(), "tensors " + quoted(module_.part(a)->name) + " " +
                                  shape_string(shape(a)) + " and " + quoted(module_.part(b)->name) +
                                  " " + shape_string(shape(b)) + " do not fit together");
    }
  }
  [[noreturn]] void bad(Part p, const std::string& what) const {
    fail(file_.file.path(),
         "tensor " + quoted(module_.part(p)->name) + " " + shape_string(shape(p)) + " " + what);
  }

 private:
  const AdapterFile& file_;
  const AdapterModule& module_;
};

// [a, b] of a LoKr factor given in full or as a product of two.
std::vector<int64_t> lokr_factor_shape(const ShapeCheck& c, const AdapterModule& m, Part full,
                                       Part a, Part b, Part tucker) {
  if (m.part(full)) {
    c.rank_in(full, {2, 4});
    return c.shape(full);
  }
  c.rank_in(a, {2});
  if (tucker != Part::Count && m.part(tucker)) {
    c.rank_in(b, {2});
    c.rank_in(tucker, {4});
    c.same(tucker, 0, a, 0);
    c.same(tucker, 1, b, 0);
    return {c.dim(a, 1), c.dim(b, 1), c.dim(tucker, 2), c.dim(tucker, 3)};
  }
  // a [out, r], b [r, in(,kh,kw)] (LyCORIS keeps a conv kernel on w2_b).
  if (full == Part::LokrW1) {
    c.rank_in(b, {2});
  } else {
    c.rank_in(b, {2, 4});
  }
  c.same(a, 1, b, 0);
  std::vector<int64_t> shape = c.shape(b);
  shape[0] = c.dim(a, 0);
  return shape;
}

at::Tensor load(const AdapterFile& file, const AdapterModule& m, Part p, at::Device device) {
  return nn::read_tensor(file.file, *m.part(p), device, at::kFloat);
}

double alpha_scale(const AdapterModule& m, int64_t rank) {
  if (!m.alpha || *m.alpha == 0.0 || rank <= 0) return 1.0;
  return *m.alpha / static_cast<double>(rank);
}

}  // namespace

const char* adapter_kind_name(AdapterKind kind) {
  switch (kind) {
    case AdapterKind::LoRA: return "LoRA";
    case AdapterKind::LoHa: return "LoHa";
    case AdapterKind::LoKr: return "LoKr";
  }
  return "?";
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

AdapterFile parse_adapter_file(const std::string& path) {
  AdapterFile out{SafetensorsFile::open(path), {}, {}};
  const std::string& p = out.file.path();

  std::map<std::string, AdapterModule> modules;
  for (const TensorInfo& t : out.file.tensors()) {
    const SuffixRule* rule = match_suffix(t.name);
    if (!rule) {
      out.other_keys.push_back(t.name);
      continue;
    }
    const std::string name = t.name.substr(0, t.name.size() - rule->suffix.size());
    AdapterModule& m = modules[name];
    m.name = name;
    auto& slot = m.parts[static_cast<size_t>(rule->part)];
    if (slot)
      fail(p, "tensors " + quoted(slot->name) + " and " + quoted(t.name) +
                  " are the same part of one module");
    if (!is_float(t.dtype)) {
      fail(p, "tensor " + quoted(t.name) + " has dtype " + dtype_name(t.dtype) +
                  "; LoRA tensors are floating point");
    }
    slot = &t;
    m.keys.push_back(t.name);
  }

  for (auto& [name, m] : modules) {
    bool lora = false, loha = false, lokr = false;
    for (size_t i = 0; i < m.parts.size(); ++i) {
      if (!m.parts[i]) continue;
      const Part part = static_cast<Part>(i);
      lora |= is_lora_part(part);
      loha |= is_loha_part(part);
      lokr |= is_lokr_part(part);
    }
    if (int(lora) + int(loha) + int(lokr) == 0) {
      // An alpha (or a dora_scale) without weights belongs to nothing.
      for (const auto& k : m.keys) out.other_keys.push_back(k);
      continue;
    }
    if (int(lora) + int(loha) + int(lokr) > 1) {
      fail(p, "module " + quoted(name) + " mixes LoRA, LoHa and LoKr tensors");
    }
    if (m.part(Part::DoraScale)) {
      fail(p, "module " + quoted(name) + " is DoRA (" + quoted(m.part(Part::DoraScale)->name) +
                  "), which is not supported; use a plain LoRA / LoCon / LoHa / LoKr file");
    }
    auto need = [&](Part part, const char* suffix) {
      if (!m.part(part)) fail(p, "module " + quoted(name) + " has no " + suffix + " tensor");
    };
    if (lora) {
      m.kind = AdapterKind::LoRA;
      need(Part::Up, "lora_up (lora_B)");
      need(Part::Down, "lora_down (lora_A)");
    } else if (loha) {
      m.kind = AdapterKind::LoHa;
      need(Part::HadaW1A, "hada_w1_a");
      need(Part::HadaW1B, "hada_w1_b");
      need(Part::HadaW2A, "hada_w2_a");
      need(Part::HadaW2B, "hada_w2_b");
      if (bool(m.part(Part::HadaT1)) != bool(m.part(Part::HadaT2))) {
        fail(p, "module " + quoted(name) + " has only one of hada_t1 and hada_t2");
      }
    } else {
      m.kind = AdapterKind::LoKr;
      for (auto [full, a, b, label] :
           {std::tuple{Part::LokrW1, Part::LokrW1A, Part::LokrW1B, "lokr_w1"},
            std::tuple{Part::LokrW2, Part::LokrW2A, Part::LokrW2B, "lokr_w2"}}) {
        const bool whole = m.part(full);
        const bool split = m.part(a) || m.part(b);
        if (whole == split || (split && !(m.part(a) && m.part(b)))) {
          fail(p, "module " + quoted(name) + " needs either " + label + " or both " + label +
                      "_a and " + label + "_b");
        }
      }
      if (m.part(Part::LokrT2) && !m.part(Part::LokrW2A)) {
        fail(p, "module " + quoted(name) + " has lokr_t2 without lokr_w2_a / lokr_w2_b");
      }
    }
    if (const TensorInfo* a = m.part(Part::Alpha)) {
      if (a->numel() != 1)
        fail(p, "tensor " + quoted(a->name) + " " + shape_string(a->shape) +
                    " should be a single number");
      const double alpha = nn::copy_tensor(out.file, *a).to(at::kDouble).item<double>();
      if (!std::isfinite(alpha)) fail(p, "tensor " + quoted(a->name) + " is not a finite number");
      m.alpha = alpha;
    }
    out.modules.push_back(std::move(m));
  }
  return out;
}

std::vector<int64_t> delta_shape(const AdapterFile& file, const AdapterModule& m) {
  const ShapeCheck c(file, m);
  switch (m.kind) {
    case AdapterKind::LoRA: {
      c.rank_in(Part::Up, {2, 4});
      c.trailing_ones(Part::Up, 2);
      c.rank_in(Part::Down, {2, 4});
      if (!m.part(Part::Mid)) {
        c.same(Part::Up, 1, Part::Down, 0);
        std::vector<int64_t> shape = c.shape(Part::Down);
        shape[0] = c.dim(Part::Up, 0);
        return shape;
      }
      c.rank_in(Part::Mid, {4});
      c.trailing_ones(Part::Down, 2);
      c.same(Part::Mid, 1, Part::Down, 0);
      c.same(Part::Up, 1, Part::Mid, 0);
      return {c.dim(Part::Up, 0), c.dim(Part::Down, 1), c.dim(Part::Mid, 2), c.dim(Part::Mid, 3)};
    }
    case AdapterKind::LoHa: {
      if (!m.part(Part::HadaT1)) {
        // Like two LoRAs: a [out, r(,1,1)], b [r, in(,kh,kw)].
        for (Part a : {Part::HadaW1A, Part::HadaW2A}) {
          c.rank_in(a, {2, 4});
          c.trailing_ones(a, 2);
        }
        c.rank_in(Part::HadaW1B, {2, 4});
        c.rank_in(Part::HadaW2B, {2, 4});
        c.same(Part::HadaW1A, 1, Part::HadaW1B, 0);
        c.same(Part::HadaW2A, 1, Part::HadaW2B, 0);
        c.same(Part::HadaW1A, 0, Part::HadaW2A, 0);
        const auto& b1 = c.shape(Part::HadaW1B);
        const auto& b2 = c.shape(Part::HadaW2B);
        if (!std::equal(b1.begin() + 1, b1.end(), b2.begin() + 1, b2.end())) {
          c.bad(Part::HadaW2B,
                "does not fit " + quoted(m.part(Part::HadaW1B)->name) + " " + shape_string(b1));
        }
        std::vector<int64_t> shape = c.shape(Part::HadaW1B);
        shape[0] = c.dim(Part::HadaW1A, 0);
        return shape;
      }
      for (Part p : {Part::HadaW1A, Part::HadaW1B, Part::HadaW2A, Part::HadaW2B}) c.rank_in(p, {2});
      c.rank_in(Part::HadaT1, {4});
      c.rank_in(Part::HadaT2, {4});
      c.same(Part::HadaT1, 0, Part::HadaW1A, 0);
      c.same(Part::HadaT1, 1, Part::HadaW1B, 0);
      c.same(Part::HadaT2, 0, Part::HadaW2A, 0);
      c.same(Part::HadaT2, 1, Part::HadaW2B, 0);
      c.same(Part::HadaW1A, 1, Part::HadaW2A, 1);
      c.same(Part::HadaW1B, 1, Part::HadaW2B, 1);
      c.same(Part::HadaT1, 2, Part::HadaT2, 2);
      c.same(Part::HadaT1, 3, Part::HadaT2, 3);
      return {c.dim(Part::HadaW1A, 1), c.dim(Part::HadaW1B, 1), c.dim(Part::HadaT1, 2),
              c.dim(Part::HadaT1, 3)};
    }
    case AdapterKind::LoKr: {
      const auto w1 =
          lokr_factor_shape(c, m, Part::LokrW1, Part::LokrW1A, Part::LokrW1B, Part::Count);
      const auto w2 =
          lokr_factor_shape(c, m, Part::LokrW2, Part::LokrW2A, Part::LokrW2B, Part::LokrT2);
      if (w1.size() != 2) c.bad(Part::LokrW1, "should have 2 dimensions");
      std::vector<int64_t> shape = w2;
      shape[0] *= w1[0];
      shape[1] *= w1[1];
      return shape;
    }
  }
  throw std::logic_error("lora: unknown adapter kind");
}

bool delta_fits(const std::vector<int64_t>& delta, const std::vector<int64_t>& target) {
  auto strip = [](std::vector<int64_t> s) {
    while (s.size() > 2 && s.back() == 1) s.pop_back();
    return s;
  };
  if (strip(delta) == strip(target)) return true;
  if (delta.size() == 2 && target.size() > 2 && delta[0] == target[0]) {
    int64_t flat = 1;
    for (size_t i = 1; i < target.size(); ++i) flat *= target[i];
    return delta[1] == flat;
  }
  return false;
}

Delta compute_delta(const AdapterFile& file, const AdapterModule& m,
                    const std::vector<int64_t>& target_shape, at::Device device) {
  Delta out;
  switch (m.kind) {
    case AdapterKind::LoRA: {
      const at::Tensor up = load(file, m, Part::Up, device);
      const at::Tensor down = load(file, m, Part::Down, device);
      const int64_t rank = down.size(0);
      at::Tensor right = down.reshape({rank, -1});
      if (m.part(Part::Mid)) {
        // [a, rank, kh, kw] ∘ [rank, in] -> [a, in, kh, kw]
        const at::Tensor mid = load(file, m, Part::Mid, device);
        right = at::einsum("abkl,bi->aikl", {mid, right}).reshape({mid.size(0), -1});
      }
      out.value = up.reshape({up.size(0), right.size(0)}).mm(right);
      out.scale = alpha_scale(m, rank);
      break;
    }
    case AdapterKind::LoHa: {
      const at::Tensor w1a = load(file, m, Part::HadaW1A, device);
      const at::Tensor w1b = load(file, m, Part::HadaW1B, device);
      const at::Tensor w2a = load(file, m, Part::HadaW2A, device);
      const at::Tensor w2b = load(file, m, Part::HadaW2B, device);
      if (m.part(Part::HadaT1)) {
        const at::Tensor t1 = load(file, m, Part::HadaT1, device);
        const at::Tensor t2 = load(file, m, Part::HadaT2, device);
        out.value = at::einsum("ijkl,jr,ip->prkl", {t1, w1b, w1a}) *
                    at::einsum("ijkl,jr,ip->prkl", {t2, w2b, w2a});
      } else {
        auto product = [](const at::Tensor& a, const at::Tensor& b) {
          return a.reshape({a.size(0), a.size(1)}).mm(b.reshape({b.size(0), -1}));
        };
        out.value = product(w1a, w1b) * product(w2a, w2b);
      }
      out.scale = alpha_scale(m, w1b.size(0));
      break;
    }
    case AdapterKind::LoKr: {
      int64_t rank = 0;  // 0: neither factor is decomposed, so alpha does not apply
      at::Tensor w1;
      if (m.part(Part::LokrW1)) {
        w1 = load(file, m, Part::LokrW1, device);
      } else {
        const at::Tensor b = load(file, m, Part::LokrW1B, device);
        w1 = load(file, m, Part::LokrW1A, device).mm(b);
        rank = b.size(0);
      }
      at::Tensor w2;
      if (m.part(Part::LokrW2)) {
        w2 = load(file, m, Part::LokrW2, device);
      } else {
        const at::Tensor a = load(file, m, Part::LokrW2A, device);
        const at::Tensor b = load(file, m, Part::LokrW2B, device);
        w2 = m.part(Part::LokrT2)
                 ? at::einsum("ijkl,jr,ip->prkl", {load(file, m, Part::LokrT2, device), b, a})
                 : a.mm(b.reshape({b.size(0), -1})).reshape([&] {
                     std::vector<int64_t> shape = b.sizes().vec();
                     shape[0] = a.size(0);
                     return shape;
                   }());
        rank = b.size(0);
      }
      if (w2.dim() == 4) w1 = w1.unsqueeze(2).unsqueeze(3);
      out.value =
          at::kron(w1.contiguous(), w2.contiguous());  // 1.13's kron needs contiguous inputs
      out.scale = rank > 0 ? alpha_scale(m, rank) : 1.0;
      break;
    }
  }
  out.value = out.value.reshape(target_shape);
  return out;
}

}  // namespace sdxlw::lora

#include "text/clip_tokenizer.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <queue>
#include <stdexcept>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "text/clip_normalize.h"
#include "text/clip_pre_tokenizer.h"
#include "text/utf8.h"

namespace sdxlw {

namespace {

class GzFile {
 public:
  explicit GzFile(const std::string& path) : f_(gzopen(path.c_str(), "rb")) {}
  ~GzFile() {
    if (f_) gzclose(f_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;
  gzFile get() const { return f_; }

 private:
  gzFile f_;
};

[[noreturn]] void vocab_error(const std::string& path, const std::string& problem) {
  throw std::runtime_error("tokenizer vocabulary \"" + path + "\" " + problem);
}

std::string read_gzip(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) vocab_error(path, "not found");
  if (!std::filesystem::is_regular_file(path, ec)) vocab_error(path, "is not a regular file");
  errno = 0;
  GzFile file(path);
  if (!file.get()) vocab_error(path, std::string("cannot be opened: ") + (errno ? std::strerror(errno) : "out of memory"));
  std::string data;
  char buf[1 << 16];
  for (;;) {
    const int n = gzread(file.get(), buf, sizeof(buf));
    if (n > 0) {
      data.append(buf, static_cast<size_t>(n));
      continue;
    }
    int err = Z_OK;
    std::string msg = gzerror(file.get(), &err);
    if (msg.rfind(path + ": ", 0) == 0) msg.erase(0, path.size() + 2);  // zlib prefixes the path
    if (n < 0 || (err != Z_OK && err != Z_STREAM_END)) vocab_error(path, "is corrupt: " + msg);
    break;
  }
  if (gzdirect(file.get())) vocab_error(path, "is not gzip-compressed");
  return data;
}

// GPT-2/CLIP bytes_to_unicode. Vocabulary ids 0..255 are the byte symbols in this order: first
// the 188 printable Latin-1 bytes, each standing for itself, then the other 68 bytes in increasing
// order, standing for U+0100, U+0101, ...
struct ByteSymbols {
  std::array<uint8_t, 256> byte_of_id{};
  std::array<char32_t, 256> symbol_of_id{};
};

ByteSymbols byte_symbols() {
  auto printable = [](int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
  ByteSymbols s;
  size_t k = 0;
  for (int b = 0; b < 256; ++b) {
    if (printable(b)) s.byte_of_id[k] = static_cast<uint8_t>(b), s.symbol_of_id[k++] = static_cast<char32_t>(b);
  }
  for (int b = 0, extra = 0; b < 256; ++b) {
    if (!printable(b)) s.byte_of_id[k] = static_cast<uint8_t>(b), s.symbol_of_id[k++] = static_cast<char32_t>(256 + extra++);
  }
  return s;
}

uint64_t pair_key(int32_t a, int32_t b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); }

constexpr size_t kCacheMaxEntries = 20000;
constexpr size_t kCacheMaxWordBytes = 128;

}  // namespace

struct ClipTokenizer::Data {
  std::vector<std::string> vocab;                // id -> symbol string (UTF-8)
  std::array<int32_t, 256> byte_id{};            // byte -> id of its symbol (add 256 for "</w>")
  std::unordered_map<uint64_t, int32_t> merges;  // (left id, right id) -> merged id; lower id = higher priority
  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;
};

ClipTokenizer::ClipTokenizer(std::shared_ptr<Data> data) : data_(std::move(data)) {}

ClipTokenizer ClipTokenizer::from_file(const std::string& bpe_gz_path) {
  const std::string text = read_gzip(bpe_gz_path);
  auto data = std::make_shared<Data>();
  data->vocab.reserve(kVocabSize);

  const ByteSymbols bytes = byte_symbols();
  for (size_t k = 0; k < 256; ++k) {
    data->byte_id[bytes.byte_of_id[k]] = static_cast<int32_t>(k);
    data->vocab.push_back(encode_utf8(std::u32string(1, bytes.symbol_of_id[k])));
  }
  for (size_t k = 0; k < 256; ++k) data->vocab.push_back(data->vocab[k] + "</w>");

  std::unordered_map<std::string, int32_t> ids;
  ids.reserve(kVocabSize);
  for (size_t id = 0; id < data->vocab.size(); ++id) ids.emplace(data->vocab[id], static_cast<int32_t>(id));
  data->merges.reserve(kMerges);

  size_t pos = text.find('\n');
  if (pos == std::string::npos || std::string_view(text).substr(0, pos).find("#version") == std::string_view::npos) {
    vocab_error(bpe_gz_path, "is corrupt: line 1 is not the \"#version\" header");
  }
  ++pos;
  for (int i = 0; i < kMerges; ++i) {
    const int line_no = i + 2;
    if (pos >= text.size()) {
      vocab_error(bpe_gz_path, "has " + std::to_string(i) + " merge lines, expected at least " + std::to_string(kMerges));
    }
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view line = std::string_view(text).substr(pos, end - pos);
    pos = end + 1;
    const size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
        line.find_first_of(" \t\r", space + 1) != std::string_view::npos) {
      vocab_error(bpe_gz_path, "is corrupt: line " + std::to_string(line_no) + " is not a merge \"a b\"");
    }
    const std::string left(line.substr(0, space)), right(line.substr(space + 1));
    const auto l = ids.find(left), r = ids.find(right);
    if (l == ids.end() || r == ids.end()) {
      vocab_error(bpe_gz_path, "is corrupt: line " + std::to_string(line_no) + " merges a symbol no earlier line defines");
    }
    const auto id = static_cast<int32_t>(data->vocab.size());
    if (!ids.emplace(left + right, id).second || !data->merges.emplace(pair_key(l->second, r->second), id).second) {
      vocab_error(bpe_gz_path, "is corrupt: line " + std::to_string(line_no) + " repeats an earlier merge");
    }
    data->vocab.push_back(left + right);
  }
  data->vocab.emplace_back("<|startoftext|>");
  data->vocab.emplace_back("<|endoftext|>");
  spdlog::debug("tokenizer: {} merges loaded from {}", kMerges, bpe_gz_path);
  return ClipTokenizer(std::move(data));
}

std::string ClipTokenizer::normalize(std::string_view text) { return clip_normalize(text); }

std::vector<std::string> ClipTokenizer::pre_tokenize(std::string_view normalized) { return clip_pre_tokenize(normalized); }

std::string ClipTokenizer::token_string(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= data_->vocab.size()) {
    throw std::out_of_range("token id " + std::to_string(id) + " is outside the CLIP vocabulary (0.." +
                            std::to_string(data_->vocab.size() - 1) + ")");
  }
  return data_->vocab[static_cast<size_t>(id)];
}

// Lowest-id merge first, leftmost first among equal ones: the same result as merging every
// occurrence of the best pair per round (a merge's parts always have lower ids than the merge, so
// no pair created by a merge can outrank it), in O(n log n) for long words.
std::vector<int32_t> ClipTokenizer::bpe(std::string_view word) const {
  const size_t n = word.size();
  std::vector<int32_t> id(n), next(n), prev(n);
  for (size_t i = 0; i < n; ++i) {
    id[i] = data_->byte_id[static_cast<uint8_t>(word[i])];
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
    prev[i] = static_cast<int32_t>(i) - 1;
  }
  if (n > 0) id[n - 1] += 256;

  struct Candidate {
    int32_t merged, pos, left, right;
    bool operator>(const Candidate& o) const { return merged != o.merged ? merged > o.merged : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto consider = [&](int32_t pos) {
    if (pos < 0 || next[pos] < 0) return;
    const auto it = data_->merges.find(pair_key(id[pos], id[next[pos]]));
    if (it != data_->merges.end()) heap.push({it->second, pos, id[pos], id[next[pos]]});
  };
  for (size_t i = 0; i + 1 < n; ++i) consider(static_cast<int32_t>(i));

  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    const int32_t right = next[c.pos];
    if (id[c.pos] != c.left || right < 0 || id[right] != c.right) continue;  // stale
    id[c.pos] = c.merged;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    id[right] = -1;
    consider(prev[c.pos]);
    consider(c.pos);
  }

  std::vector<int32_t> out;
  for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = next[i]) out.push_back(id[i]);
  return out;
}

std::vector<int32_t> ClipTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  for (const std::string& piece : pre_tokenize(normalize(text))) {
    if (piece == "<|startoftext|>") {
      ids.push_back(kBos);
      continue;
    }
    if (piece == "<|endoftext|>") {
      ids.push_back(kEos);
      continue;
    }
    const bool cacheable = piece.size() <= kCacheMaxWordBytes;
    if (cacheable) {
      std::lock_guard<std::mutex> lock(data_->cache_mutex);
      const auto it = data_->cache.find(piece);
      if (it != data_->cache.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        continue;
      }
    }
    std::vector<int32_t> word = bpe(piece);
    ids.insert(ids.end(), word.begin(), word.end());
    if (cacheable) {
      std::lock_guard<std::mutex> lock(data_->cache_mutex);
      if (data_->cache.size() >= kCacheMaxEntries) data_->cache.clear();
      data_->cache.emplace(piece, std::move(word));
    }
  }
  return ids;
}

std::vector<std::vector<int64_t>> make_chunks(const std::vector<int32_t>& ids, int32_t pad_id) {
  constexpr size_t kPiece = ClipTokenizer::kChunkTokens;
  std::vector<std::vector<int64_t>> chunks;
  size_t start = 0;
  do {
    const size_t len = std::min(kPiece, ids.size() - start);
    std::vector<int64_t> chunk;
    chunk.reserve(ClipTokenizer::kContextLength);
    chunk.push_back(ClipTokenizer::kBos);
    chunk.insert(chunk.end(), ids.begin() + static_cast<std::ptrdiff_t>(start),
                 ids.begin() + static_cast<std::ptrdiff_t>(start + len));
    chunk.push_back(ClipTokenizer::kEos);
    chunk.resize(ClipTokenizer::kContextLength, pad_id);
    chunks.push_back(std::move(chunk));
    start += len;
  } while (start < ids.size());
  return chunks;
}

}  // namespace sdxlw

#pragma once
// CLIP byte-level BPE tokenizer (openai CLIP `simple_tokenizer`, bpe_simple_vocab_16e6) shared by
// both SDXL text encoders, and the 75-token chunking of long prompts.
// Vocabulary: 256 byte symbols (bytes_to_unicode order), the same 256 with "</w>", one entry per
// merge (ids 512..49405), <|startoftext|> 49406, <|endoftext|> 49407.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sdxlw {

class ClipTokenizer {
 public:
  static constexpr int32_t kBos = 49406, kEos = 49407;
  static constexpr int32_t kVocabSize = 49408;
  static constexpr int kMerges = 48894;
  static constexpr int kChunkTokens = 75, kContextLength = 77;

  // Reads the gzip merge list. Throws std::runtime_error naming the file when it is missing,
  // not gzip, corrupt, has too few merge lines or a malformed one.
  static ClipTokenizer from_file(const std::string& bpe_gz_path);

  // BPE ids without BOS/EOS, untruncated. Throws std::invalid_argument on malformed UTF-8.
  // Safe to call from several threads at once; copies share the vocabulary and the word cache.
  std::vector<int32_t> encode(std::string_view text) const;

  static std::string normalize(std::string_view text);
  static std::vector<std::string> pre_tokenize(std::string_view normalized);
  // The vocabulary entry, e.g. "photo</w>"; throws std::out_of_range for an id outside the vocab.
  std::string token_string(int32_t id) const;

 private:
  struct Data;
  explicit ClipTokenizer(std::shared_ptr<Data> data);
  std::vector<int32_t> bpe(std::string_view pre_token) const;
  std::shared_ptr<Data> data_;
};

// Splits ids into consecutive chunks of 75 (an empty list gives one empty chunk); each becomes
// [BOS] + piece + [EOS] + pad*(75-len): 77 ids. SDXL pads text encoder 1 with 49407 (EOS) and
// text encoder 2 with 0.
std::vector<std::vector<int64_t>> make_chunks(const std::vector<int32_t>& ids, int32_t pad_id);

}  // namespace sdxlw

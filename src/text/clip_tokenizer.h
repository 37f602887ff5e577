// CLIP's byte-level BPE tokenizer, as transformers' CLIPTokenizer (the `tokenizers` pipeline) applies it for
// diffusers: NFC, whitespace runs -> " ", lower-case; split into letter runs, single digits, punctuation runs and
// English contractions; bytes mapped to printable characters; BPE with a `</w>` end-of-word marker; then
// <|startoftext|> ids <|endoftext|>, truncated to max_length keeping the end token, padded with the pad token.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

namespace sdpp {

class ClipTokenizer {
 public:
  struct Encoding {
    std::vector<int64_t> ids;           // bos + tokens + eos, truncated and padded to max_length
    std::vector<int64_t> unpadded_ids;  // bos + tokens + eos, neither truncated nor padded
  };

  // A tokenizer folder: vocab.json + merges.txt, optionally tokenizer_config.json / special_tokens_map.json
  // (bos/eos/unk/pad; a missing or null pad means eos). Throws NotFound for a missing file and BadFile naming
  // the file and the offending entry for anything unreadable.
  static ClipTokenizer load(const std::filesystem::path& folder);

  Encoding encode(const std::string& text, int max_length = 77) const;
  // The BPE token ids of `text`, without bos/eos (for prompt chunking).
  std::vector<int64_t> tokenize(const std::string& text) const;

  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }
  // Pads with `token` instead (SD 2.x / SDXL encoder 2 pad with "!"): for a vocabulary shared across encoders.
  // Throws BadFile when the vocabulary lacks the token.
  void set_pad_token(const std::string& token);
  int64_t unk_id() const { return unk_id_; }
  size_t vocab_size() const { return vocab_.size(); }
  int model_max_length() const { return model_max_length_; }

 private:
  struct Merge {
    int rank;
    int64_t merged_id;
  };
  void bpe(const std::string& word, std::vector<int64_t>& out) const;  // one pre-token, byte-mapped
  int64_t lookup(const std::string& token) const;                       // id or unk

  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;  // key: (left id << 32) | right id
  std::vector<std::pair<std::string, int64_t>> special_tokens_;  // matched verbatim before normalisation
  std::string byte_symbols_[256];  // bytes_to_unicode: each byte as a printable character, UTF-8
  int64_t bos_id_ = 0, eos_id_ = 0, pad_id_ = 0, unk_id_ = 0;
  int model_max_length_ = 77;
};

}  // namespace sdpp

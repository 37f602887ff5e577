#include "text/clip_tokenizer.h"

#include <fstream>
#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <queue>
#include <sstream>

#include "core/error.h"
#include "text/unicode.h"

namespace sdpp {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error(ErrorCode::NotFound, "tokenizer file not found: " + path.string());
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in && !in.eof()) throw Error(ErrorCode::BadFile, path.string() + ": cannot read");
  return ss.str();
}

nlohmann::json parse_json(const fs::path& path) {
  try {
    return nlohmann::json::parse(read_text(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::BadFile, path.string() + ": invalid JSON: " + e.what());
  }
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes are shifted to
// U+0100.. in byte order, so every byte of a UTF-8 string becomes one visible character.
void build_byte_symbols(std::string (&symbols)[256]) {
  int shifted = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const char32_t cp = printable ? char32_t(b) : char32_t(256 + shifted++);
    symbols[b].clear();
    unicode::append_utf8(cp, symbols[b]);
  }
}

// A special token's text from a tokenizer config: a string, an AddedToken object {"content": ...}, or null.
std::optional<std::string> token_text(const nlohmann::json& value, const fs::path& file, const char* key) {
  if (value.is_null()) return std::nullopt;
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string())
    return value["content"].get<std::string>();
  throw Error(ErrorCode::BadFile, file.string() + ": " + key + " must be a string or an object with \"content\"");
}

// The pre-tokenizer's split (the CLIP pattern
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// kept as matches, the unmatched whitespace dropped), by hand: alternatives in order, leftmost first.
// The byte-level step then re-splits each piece with GPT-2's pattern; that only changes the two literal
// special-token pieces, into "<|", the word and "|>".
std::vector<std::u32string> pre_tokenize(const std::u32string& text) {
  static const std::u32string kLiterals[] = {U"<|startoftext|>", U"<|endoftext|>", U"'s", U"'t", U"'re",
                                              U"'ve", U"'m", U"'ll", U"'d"};
  std::vector<std::u32string> pieces;
  size_t i = 0;
  while (i < text.size()) {
    bool matched = false;
    for (size_t k = 0; k < std::size(kLiterals); ++k) {
      const std::u32string& lit = kLiterals[k];
      if (text.compare(i, lit.size(), lit) != 0) continue;
      if (k < 2) {
        pieces.push_back(U"<|");
        pieces.push_back(lit.substr(2, lit.size() - 4));
        pieces.push_back(U"|>");
      } else {
        pieces.push_back(lit);
      }
      i += lit.size();
      matched = true;
      break;
    }
    if (matched) continue;
    const char32_t c = text[i];
    size_t j = i + 1;
    if (unicode::is_letter(c)) {
      while (j < text.size() && unicode::is_letter(text[j])) ++j;
    } else if (unicode::is_number(c)) {
      // a single digit
    } else if (!unicode::is_whitespace(c)) {
      while (j < text.size() && !unicode::is_whitespace(text[j]) && !unicode::is_letter(text[j]) &&
             !unicode::is_number(text[j]))
        ++j;
    } else {
      ++i;
      continue;
    }
    pieces.push_back(text.substr(i, j - i));
    i = j;
  }
  return pieces;
}

// The normaliser: NFC, every whitespace run -> one space, lower-case character by character.
std::u32string normalize(const std::string& text) {
  const std::u32string composed = unicode::nfc(unicode::utf8_decode(text));
  std::u32string out;
  out.reserve(composed.size());
  for (size_t i = 0; i < composed.size();) {
    if (unicode::is_whitespace(composed[i])) {
      out.push_back(U' ');
      while (i < composed.size() && unicode::is_whitespace(composed[i])) ++i;
      continue;
    }
    unicode::append_lower(composed[i++], out);
  }
  return out;
}

}  // namespace

ClipTokenizer ClipTokenizer::load(const fs::path& folder) {
  ClipTokenizer tok;
  build_byte_symbols(tok.byte_symbols_);

  const fs::path vocab_path = folder / "vocab.json";
  const nlohmann::json vocab = parse_json(vocab_path);
  if (!vocab.is_object()) throw Error(ErrorCode::BadFile, vocab_path.string() + ": expected an object {token: id}");
  if (vocab.empty()) throw Error(ErrorCode::BadFile, vocab_path.string() + ": empty vocabulary");
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > std::numeric_limits<int32_t>::max())
      throw Error(ErrorCode::BadFile, vocab_path.string() + ": token '" + token + "' has id " + id.dump() +
                                          ", expected a non-negative integer");
    tok.vocab_.emplace(token, id.get<int64_t>());
  }

  const fs::path merges_path = folder / "merges.txt";
  std::istringstream merges(read_text(merges_path));
  std::string line;
  int line_no = 0, rank = 0;
  while (std::getline(merges, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    const size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string::npos)
      throw Error(ErrorCode::BadFile, merges_path.string() + ":" + std::to_string(line_no) +
                                          ": expected two space-separated tokens, got '" + line + "'");
    const std::string left = line.substr(0, space), right = line.substr(space + 1);
    const auto l = tok.vocab_.find(left), r = tok.vocab_.find(right), m = tok.vocab_.find(left + right);
    if (l == tok.vocab_.end() || r == tok.vocab_.end() || m == tok.vocab_.end())
      throw Error(ErrorCode::BadFile, merges_path.string() + ":" + std::to_string(line_no) + ": merge '" + line +
                                          "' names a token missing from vocab.json");
    tok.merges_[(uint64_t(l->second) << 32) | uint64_t(r->second)] = {rank++, m->second};
  }

  // Special tokens: tokenizer_config.json, overridden by special_tokens_map.json, as transformers reads them.
  std::optional<std::string> bos = "<|startoftext|>", eos = "<|endoftext|>", unk = "<|endoftext|>", pad;
  bool pad_given = false;
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
    const fs::path path = folder / name;
    if (!fs::exists(path)) continue;
    const nlohmann::json config = parse_json(path);
    if (!config.is_object()) throw Error(ErrorCode::BadFile, path.string() + ": expected a JSON object");
    if (config.contains("bos_token")) bos = token_text(config["bos_token"], path, "bos_token");
    if (config.contains("eos_token")) eos = token_text(config["eos_token"], path, "eos_token");
    if (config.contains("unk_token")) unk = token_text(config["unk_token"], path, "unk_token");
    if (config.contains("pad_token")) pad = token_text(config["pad_token"], path, "pad_token"), pad_given = true;
    const auto length = config.find("model_max_length");
    // Configs without a limit store a huge sentinel (int(1e30)); CLIP's position table is 77 long.
    if (length != config.end() && length->is_number_integer() && length->get<int64_t>() >= 2 &&
        length->get<int64_t>() <= 4096)
      tok.model_max_length_ = int(length->get<int64_t>());
  }
  if (!pad_given || !pad) pad = eos;
  auto special_id = [&](const std::optional<std::string>& text, const char* key) -> int64_t {
    if (!text) throw Error(ErrorCode::BadFile, folder.string() + ": the tokenizer has no " + key);
    const auto it = tok.vocab_.find(*text);
    if (it == tok.vocab_.end())
      throw Error(ErrorCode::BadFile, vocab_path.string() + ": " + key + " '" + *text + "' is not in the vocabulary");
    for (const auto& [known, id] : tok.special_tokens_)
      if (known == *text) return it->second;
    tok.special_tokens_.emplace_back(*text, it->second);
    return it->second;
  };
  tok.bos_id_ = special_id(bos, "bos_token");
  tok.eos_id_ = special_id(eos, "eos_token");
  tok.unk_id_ = special_id(unk, "unk_token");
  tok.pad_id_ = special_id(pad, "pad_token");
  return tok;
}

int64_t ClipTokenizer::lookup(const std::string& token) const {
  const auto it = vocab_.find(token);
  return it != vocab_.end() ? it->second : unk_id_;
}

// BPE as `tokenizers` runs it: one symbol per character (the last one carrying "</w>"), then repeatedly the
// lowest-ranked adjacent pair merges, leftmost first among equal ranks.
void ClipTokenizer::bpe(const std::string& word, std::vector<int64_t>& out) const {
  struct Symbol {
    int64_t id;
    int prev, next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  for (size_t i = 0; i < word.size();) {
    size_t len = 1;
    while (i + len < word.size() && (uint8_t(word[i + len]) & 0xC0) == 0x80) ++len;
    std::string piece = word.substr(i, len);
    if (i + len == word.size()) piece += "</w>";
    symbols.push_back({lookup(piece), int(symbols.size()) - 1, int(symbols.size()) + 1, true});
    i += len;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Candidate {
    int rank, pos;
    int64_t merged_id;
    bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  auto find_merge = [&](int64_t left, int64_t right) -> const Merge* {
    const auto it = merges_.find((uint64_t(left) << 32) | uint64_t(right));
    return it != merges_.end() ? &it->second : nullptr;
  };
  std::priority_queue<Candidate> queue;
  for (int i = 0; i + 1 < int(symbols.size()); ++i)
    if (const Merge* m = find_merge(symbols[size_t(i)].id, symbols[size_t(i) + 1].id))
      queue.push({m->rank, i, m->merged_id});
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[size_t(top.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[size_t(left.next)];
    const Merge* current = find_merge(left.id, right.id);
    if (!current || current->merged_id != top.merged_id) continue;  // stale: a neighbour changed since
    left.id = top.merged_id;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) symbols[size_t(left.next)].prev = top.pos;
    if (left.prev >= 0)
      if (const Merge* m = find_merge(symbols[size_t(left.prev)].id, left.id)) queue.push({m->rank, left.prev, m->merged_id});
    if (left.next >= 0)
      if (const Merge* m = find_merge(left.id, symbols[size_t(left.next)].id)) queue.push({m->rank, top.pos, m->merged_id});
  }
  for (int i = 0; i >= 0; i = symbols[size_t(i)].next) out.push_back(symbols[size_t(i)].id);
}

std::vector<int64_t> ClipTokenizer::tokenize(const std::string& text) const {
  std::vector<int64_t> ids;
  // Special tokens are cut out of the raw text first (leftmost, longest match), then each stretch between
  // them is normalised, split and encoded.
  size_t start = 0, i = 0;
  auto encode_stretch = [&](size_t end) {
    if (end <= start) return;
    for (const std::u32string& piece : pre_tokenize(normalize(text.substr(start, end - start)))) {
      std::string word;
      for (unsigned char byte : unicode::utf8_encode(piece)) word += byte_symbols_[byte];
      bpe(word, ids);
    }
  };
  while (i < text.size()) {
    const std::pair<std::string, int64_t>* best = nullptr;
    for (const auto& special : special_tokens_)
      if (text.compare(i, special.first.size(), special.first) == 0 &&
          (!best || special.first.size() > best->first.size()))
        best = &special;
    if (!best) {
      ++i;
      continue;
    }
    encode_stretch(i);
    ids.push_back(best->second);
    i += best->first.size();
    start = i;
  }
  encode_stretch(text.size());
  return ids;
}

ClipTokenizer::Encoding ClipTokenizer::encode(const std::string& text, int max_length) const {
  if (max_length < 2) throw Error(ErrorCode::InvalidArgument, "tokenizer max_length must be >= 2, got " +
                                                                   std::to_string(max_length));
  Encoding enc;
  const std::vector<int64_t> tokens = tokenize(text);
  enc.unpadded_ids.reserve(tokens.size() + 2);
  enc.unpadded_ids.push_back(bos_id_);
  enc.unpadded_ids.insert(enc.unpadded_ids.end(), tokens.begin(), tokens.end());
  enc.unpadded_ids.push_back(eos_id_);

  const size_t keep = std::min(tokens.size(), size_t(max_length - 2));
  enc.ids.reserve(size_t(max_length));
  enc.ids.push_back(bos_id_);
  enc.ids.insert(enc.ids.end(), tokens.begin(), tokens.begin() + long(keep));
  enc.ids.push_back(eos_id_);
  enc.ids.resize(size_t(max_length), pad_id_);
  return enc;
}

}  // namespace sdpp

// The CLIP tokenizer against every `tokenize` case of the fixture manifest, plus its file errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "text/clip_tokenizer.h"
#include "../fixtures_dir.h"

namespace sdpp {
namespace {

namespace fs = std::filesystem;

using sdpp::test::fixtures_dir;

// Python's json writes -Infinity in scheduler configs; nlohmann rejects it and no tokenize case uses it.
nlohmann::json load_manifest() {
  std::ifstream in(fixtures_dir() / "manifest.json");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  for (size_t at; (at = text.find("-Infinity")) != std::string::npos;) text.replace(at, 9, "null");
  return nlohmann::json::parse(text);
}

fs::path tokenizer_dir(const std::string& spec) {
  return spec == "@clip-vocab" ? fixtures_dir() / ".." / "clip-vocab" : fixtures_dir() / spec;
}

TEST(ClipTokenizer, AllTokenizeFixtureCases) {
  const nlohmann::json manifest = load_manifest();
  int cases = 0;
  for (const auto& c : manifest.at("cases")) {
    if (c.at("kind").get<std::string>() != "tokenize") continue;
    ++cases;
    SCOPED_TRACE(c.at("name").get<std::string>());
    const ClipTokenizer tok = ClipTokenizer::load(tokenizer_dir(c.at("tokenizer").get<std::string>()));
    const auto enc = tok.encode(c.at("text").get<std::string>(), c.at("pad_to").get<int>());
    EXPECT_EQ(enc.ids, c.at("expect_ids").get<std::vector<int64_t>>());
    EXPECT_EQ(enc.unpadded_ids, c.at("unpadded_ids").get<std::vector<int64_t>>());
  }
  EXPECT_EQ(cases, 18);
}

TEST(ClipTokenizer, SpecialTokensOfTheRealVocab) {
  const ClipTokenizer tok = ClipTokenizer::load(tokenizer_dir("@clip-vocab"));
  EXPECT_EQ(tok.vocab_size(), 49408u);
  EXPECT_EQ(tok.bos_id(), 49406);
  EXPECT_EQ(tok.eos_id(), 49407);
  EXPECT_EQ(tok.pad_id(), 49407);
  EXPECT_EQ(tok.model_max_length(), 77);
}

TEST(ClipTokenizer, PadTokenBangAsInSd2IsASpecialToken) {
  // SD 2.x / SDXL encoder 2 pad with "!" (id 0); transformers registers it as a special token, so a "!" in the
  // prompt is cut out verbatim instead of joining a punctuation run.
  const ClipTokenizer tok = ClipTokenizer::load(fixtures_dir() / "models/sd21/tokenizer");
  EXPECT_EQ(tok.pad_id(), 0);
  std::vector<int64_t> expected = {tok.bos_id()};
  for (int64_t id : tok.tokenize("cat")) expected.push_back(id);
  for (int64_t id : {0, 0}) expected.push_back(id);  // "!!" as two special tokens, not the word "!!</w>"
  expected.push_back(tok.eos_id());
  EXPECT_EQ(tok.encode("cat!!", 16).unpadded_ids, expected);
  EXPECT_NE(tok.tokenize("!!"), tok.tokenize("..."));
}

TEST(ClipTokenizer, TruncationKeepsEosLast) {
  const ClipTokenizer tok = ClipTokenizer::load(tokenizer_dir("@clip-vocab"));
  std::string text;
  for (int i = 0; i < 100; ++i) text += "cat ";
  const auto enc = tok.encode(text);
  ASSERT_EQ(enc.ids.size(), 77u);
  EXPECT_EQ(enc.ids.front(), 49406);
  EXPECT_EQ(enc.ids.back(), 49407);
  EXPECT_EQ(enc.ids[75], enc.ids[1]);
  EXPECT_EQ(enc.unpadded_ids.size(), 102u);
}

TEST(ClipTokenizer, NormalisationComposesAndLowerCases) {
  const ClipTokenizer tok = ClipTokenizer::load(tokenizer_dir("@clip-vocab"));
  // "CAFE" + combining acute (decomposed) tokenizes as the precomposed lower-case word.
  EXPECT_EQ(tok.tokenize("CAFE\xCC\x81"), tok.tokenize("caf\xC3\xA9"));
  // Runs of any Unicode whitespace (here NBSP and an ideographic space) separate words like one space.
  EXPECT_EQ(tok.tokenize("red\xC2\xA0\xE3\x80\x80" "chair"), tok.tokenize("red chair"));
  // Invalid UTF-8 never throws; the bad byte becomes U+FFFD.
  EXPECT_NO_THROW(tok.encode("bad \xFF\xFE bytes \xE2\x82"));
}

class TokenizerFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sdpp_tok_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ / name, std::ios::binary) << content;
  }
  std::string load_error(ErrorCode expected_code) {
    try {
      ClipTokenizer::load(dir_);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), expected_code) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "load succeeded";
    return "";
  }
  fs::path dir_;
};

TEST_F(TokenizerFolder, EmptyVocabulary) {
  write("vocab.json", "{}");
  write("merges.txt", "#version: 0.2\n");
  const std::string msg = load_error(ErrorCode::BadFile);
  EXPECT_NE(msg.find("vocab.json: empty vocabulary"), std::string::npos) << msg;
}

TEST_F(TokenizerFolder, MalformedVocabJson) {
  write("vocab.json", "{\"a\": 0,");
  write("merges.txt", "#version: 0.2\n");
  const std::string msg = load_error(ErrorCode::BadFile);
  EXPECT_NE(msg.find("vocab.json: invalid JSON"), std::string::npos) << msg;
}

TEST_F(TokenizerFolder, NonIntegerId) {
  write("vocab.json", R"({"a": "zero"})");
  write("merges.txt", "#version: 0.2\n");
  const std::string msg = load_error(ErrorCode::BadFile);
  EXPECT_NE(msg.find("token 'a' has id \"zero\""), std::string::npos) << msg;
}

TEST_F(TokenizerFolder, MissingMerges) {
  write("vocab.json", R"({"a": 0, "<|startoftext|>": 1, "<|endoftext|>": 2})");
  const std::string msg = load_error(ErrorCode::NotFound);
  EXPECT_NE(msg.find("merges.txt"), std::string::npos) << msg;
}

TEST_F(TokenizerFolder, MalformedMergeLine) {
  write("vocab.json", R"({"a": 0, "b": 1, "ab": 2, "<|startoftext|>": 3, "<|endoftext|>": 4})");
  write("merges.txt", "#version: 0.2\na b\nab\n");
  const std::string msg = load_error(ErrorCode::BadFile);
  EXPECT_NE(msg.find("merges.txt:3: expected two space-separated tokens, got 'ab'"), std::string::npos) << msg;
}

TEST_F(TokenizerFolder, MergeOutsideVocabulary) {
  write("vocab.json", R"({"a": 0, "b": 1, "<|startoftext|>": 3, "<|endoftext|>": 4})");
  write("merges.txt", "#version: 0.2\na b\n");
  const std::string msg = load_error(ErrorCode::BadFile);
  EXPECT_NE(msg.find("merges.txt:2: merge 'a b' names a token missing from vocab.json"), std::string::npos) << msg;
}

TEST_F(TokenizerFolder, SpecialTokenOutsideVocabulary) {
  write("vocab.json", R"({"a": 0, "<|startoftext|>": 1, "<|endoftext|>": 2})");
  write("merges.txt", "#version: 0.2\n");
  write("special_tokens_map.json", R"({"pad_token": {"content": "<pad>", "lstrip": false}})");
  const std::string msg = load_error(ErrorCode::BadFile);
  EXPECT_NE(msg.find("pad_token '<pad>' is not in the vocabulary"), std::string::npos) << msg;
}

TEST_F(TokenizerFolder, MissingFolder) {
  fs::remove_all(dir_);
  const std::string msg = load_error(ErrorCode::NotFound);
  EXPECT_NE(msg.find("vocab.json"), std::string::npos) << msg;
}

}  // namespace
}  // namespace sdpp

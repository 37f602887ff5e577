// Kind `tokenize`: CLIP BPE ids of a text, padded to `pad_to` (truncated keeping EOS) and unpadded.
#include "parity/kinds.h"
#include "text/clip_tokenizer.h"

namespace sdpp::parity {
namespace {

Check compare_ids(const std::string& name, const std::vector<int64_t>& actual, const std::vector<int64_t>& expected) {
  Check check;
  check.name = name;
  check.metric = "mismatched_ids";
  size_t mismatches = actual.size() == expected.size() ? 0 : std::max(actual.size(), expected.size());
  for (size_t i = 0; i < std::min(actual.size(), expected.size()); ++i) mismatches += actual[i] != expected[i];
  check.error = double(mismatches);
  check.tolerance = 0;
  check.pass = mismatches == 0;
  return check;
}

}  // namespace

std::vector<Check> run_tokenize_case(const CaseContext& c) {
  const ClipTokenizer tokenizer = ClipTokenizer::load(c.resolve(c.spec.at("tokenizer").get<std::string>()));
  const auto encoding = tokenizer.encode(c.spec.at("text").get<std::string>(), c.spec.value("pad_to", 77));
  return {compare_ids("expect_ids", encoding.ids, c.spec.at("expect_ids").get<std::vector<int64_t>>()),
          compare_ids("unpadded_ids", encoding.unpadded_ids, c.spec.at("unpadded_ids").get<std::vector<int64_t>>())};
}

}  // namespace sdpp::parity

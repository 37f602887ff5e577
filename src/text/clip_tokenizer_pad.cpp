#include "core/error.h"
#include "text/clip_tokenizer.h"

namespace sdpp {

void ClipTokenizer::set_pad_token(const std::string& token) {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) throw Error(ErrorCode::BadFile, "pad token '" + token + "' is not in the vocabulary");
  pad_id_ = it->second;
}

}  // namespace sdpp

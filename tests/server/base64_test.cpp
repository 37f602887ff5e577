#include "server/base64.h"

#include <gtest/gtest.h>

namespace sdpp::server {
namespace {

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), plain);
  }
  const std::string binary("\x00\xff\x10\x80\x7f", 5);
  EXPECT_EQ(base64_decode(base64_encode(binary)), binary);
}

TEST(Base64, LenientOnWhitespaceAndMissingPaddingStrictOnGarbage) {
  EXPECT_EQ(base64_decode("Zm9v\nYmE="), "fooba");
  EXPECT_EQ(base64_decode("Zm9vYg"), "foob");  // padding stripped by the client
  EXPECT_FALSE(base64_decode("Zm9v!"));
  EXPECT_FALSE(base64_decode("Zg==Zg=="));  // data after padding
  EXPECT_FALSE(base64_decode("Z"));         // a lone symbol cannot encode a byte
  EXPECT_FALSE(base64_decode("Zm9vY==="));
}

}  // namespace
}  // namespace sdpp::server

// The few Unicode operations the CLIP tokenizer needs, on code points (char32_t), backed by generated tables
// (unicode_tables.cpp). UTF-8 decoding never fails: an invalid byte sequence becomes U+FFFD, as Python's
// errors="replace" and Rust's from_utf8_lossy do, so no prompt can make tokenization throw.
#pragma once
#include <string>
#include <string_view>

namespace sdpp::unicode {

std::u32string utf8_decode(std::string_view text);
std::string utf8_encode(std::u32string_view text);
void append_utf8(char32_t cp, std::string& out);

bool is_letter(char32_t cp);      // general category L* (regex \p{L})
bool is_number(char32_t cp);      // general category N* (regex \p{N})
bool is_whitespace(char32_t cp);  // the White_Space property (regex \s in Unicode mode)

// Unicode canonical composition (NFC).
std::u32string nfc(std::u32string_view text);
// Appends the full lower-case mapping of one code point (one to three code points; char::to_lowercase in Rust).
void append_lower(char32_t cp, std::u32string& out);

}  // namespace sdpp::unicode

#include "text/unicode.h"

#include <algorithm>

#include "text/unicode_tables.h"

namespace sdpp::unicode {
namespace {

using namespace unicode_data;

template <class Range>
const Range* find_range(const Range* table, size_t size, char32_t cp) {
  const Range* end = table + size;
  const Range* it = std::upper_bound(table, end, cp, [](char32_t c, const Range& r) { return c < r.first; });
  if (it == table) return nullptr;
  --it;
  return cp <= it->last ? it : nullptr;
}

uint8_t combining_class(char32_t cp) {
  const CombiningClassRange* r = find_range(kCombiningClasses, kCombiningClasses_size, cp);
  return r ? r->ccc : 0;
}

// Hangul syllables decompose and compose arithmetically (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

void decompose(char32_t cp, std::u32string& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  const Decomposition* end = kDecompositions + kDecompositions_size;
  const Decomposition* it =
      std::lower_bound(kDecompositions, end, cp, [](const Decomposition& d, char32_t c) { return d.cp < c; });
  if (it == end || it->cp != cp) {
    out.push_back(cp);
    return;
  }
  decompose(it->first, out);
  if (it->second != 0) decompose(it->second, out);
}

// The primary composite of (first, second), or 0.
char32_t compose(char32_t first, char32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount)
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount)
    return first + (second - kTBase);
  const Composition* end = kCompositions + kCompositions_size;
  const Composition* it = std::lower_bound(kCompositions, end, std::pair{first, second}, [](const Composition& c,
                                                                                            const auto& key) {
    return c.first != key.first ? c.first < key.first : c.second < key.second;
  });
  return it != end && it->first == first && it->second == second ? it->composite : 0;
}

}  // namespace

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

std::string utf8_encode(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) append_utf8(cp, out);
  return out;
}

std::u32string utf8_decode(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = uint8_t(text[i]);
    int extra;
    char32_t cp, min;
    if (lead < 0x80) {
      extra = 0, cp = lead, min = 0;
    } else if ((lead & 0xE0) == 0xC0) {
      extra = 1, cp = lead & 0x1F, min = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2, cp = lead & 0x0F, min = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3, cp = lead & 0x07, min = 0x10000;
    } else {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    int got = 0;
    while (got < extra && i + 1 + got < text.size() && (uint8_t(text[i + 1 + got]) & 0xC0) == 0x80) {
      cp = (cp << 6) | (uint8_t(text[i + 1 + got]) & 0x3F);
      ++got;
    }
    // Truncated, overlong, surrogate or out-of-range sequences are replaced; the bytes consumed so far are skipped.
    if (got < extra || cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      out.push_back(0xFFFD);
      i += 1 + got;
      continue;
    }
    out.push_back(cp);
    i += 1 + extra;
  }
  return out;
}

bool is_letter(char32_t cp) { return find_range(kLetterRanges, kLetterRanges_size, cp) != nullptr; }
bool is_number(char32_t cp) { return find_range(kNumberRanges, kNumberRanges_size, cp) != nullptr; }

bool is_whitespace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

void append_lower(char32_t cp, std::u32string& out) {
  if (cp < 0x80) {
    out.push_back(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    return;
  }
  const LowerMapping* end = kLowerSingle + kLowerSingle_size;
  const LowerMapping* it =
      std::lower_bound(kLowerSingle, end, cp, [](const LowerMapping& m, char32_t c) { return m.cp < c; });
  if (it != end && it->cp == cp) {
    out.push_back(it->lower);
    return;
  }
  for (size_t i = 0; i < kLowerMulti_size; ++i) {
    if (kLowerMulti[i].cp != cp) continue;
    for (char32_t c : kLowerMulti[i].lower)
      if (c != 0) out.push_back(c);
    return;
  }
  out.push_back(cp);
}

std::u32string nfc(std::u32string_view text) {
  // 1. Full canonical decomposition.
  std::u32string d;
  d.reserve(text.size());
  for (char32_t cp : text) decompose(cp, d);
  // 2. Canonical ordering: stable sort each run of non-starters by combining class.
  for (size_t i = 0; i < d.size();) {
    if (combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + long(i), d.begin() + long(j),
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
  // 3. Canonical composition: a character joins the last starter unless a character in between blocks it
  //    (a starter, or a non-starter of equal or higher class).
  std::u32string out;
  out.reserve(d.size());
  long starter = -1;
  uint8_t last_class = 0;
  for (char32_t cp : d) {
    const uint8_t cc = combining_class(cp);
    if (starter >= 0) {
      const bool adjacent = long(out.size()) - 1 == starter;
      if (adjacent || last_class < cc) {
        if (const char32_t composite = compose(out[size_t(starter)], cp)) {
          out[size_t(starter)] = composite;
          continue;
        }
      }
    }
    if (cc == 0) starter = long(out.size());
    last_class = cc;
    out.push_back(cp);
  }
  return out;
}

}  // namespace sdpp::unicode

#include "image/png.h"

#include <png.h>

#include <cstring>
#include <vector>

#include "core/error.h"
#include "image/image.h"

namespace sdpp {
namespace {

// libpng reports fatal errors by longjmp. The jumps land in the functions below, which hold only trivially
// destructible locals after their setjmp, so no C++ object is skipped; the caller turns the message into an Error.
struct PngContext {
  char message[256] = "unknown libpng error";
};

void on_error(png_structp png, png_const_charp message) {
  auto* ctx = static_cast<PngContext*>(png_get_error_ptr(png));
  std::snprintf(ctx->message, sizeof ctx->message, "%s", message);
  png_longjmp(png, 1);
}
void on_warning(png_structp, png_const_charp) {}

// UTF-8 -> Latin-1 when every character is U+0000..U+00FF; false otherwise (or for invalid UTF-8).
bool utf8_to_latin1(const std::string& utf8, std::string* latin1) {
  latin1->clear();
  for (size_t i = 0; i < utf8.size(); ++i) {
    const auto c = uint8_t(utf8[i]);
    if (c < 0x80) {
      latin1->push_back(char(c));
    } else if ((c == 0xC2 || c == 0xC3) && i + 1 < utf8.size() && (uint8_t(utf8[i + 1]) & 0xC0) == 0x80) {
      latin1->push_back(char(((c & 0x03) << 6) | (uint8_t(utf8[++i]) & 0x3F)));
    } else {
      return false;
    }
  }
  return true;
}

std::string latin1_to_utf8(const std::string& latin1) {
  std::string out;
  for (unsigned char c : latin1) {
    if (c < 0x80) {
      out.push_back(char(c));
    } else {
      out.push_back(char(0xC0 | (c >> 6)));
      out.push_back(char(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

struct Sink {
  std::string* out;
};
void write_bytes(png_structp png, png_bytep data, png_size_t size) {
  static_cast<Sink*>(png_get_io_ptr(png))->out->append(reinterpret_cast<const char*>(data), size);
}
void flush_bytes(png_structp) {}

struct Source {
  const uint8_t* data;
  size_t size, offset;
};
void read_bytes(png_structp png, png_bytep out, png_size_t size) {
  auto* src = static_cast<Source*>(png_get_io_ptr(png));
  if (size > src->size - src->offset) png_error(png, "unexpected end of data");
  std::memcpy(out, src->data + src->offset, size);
  src->offset += size;
}

bool encode_impl(const Image& image, png_text* text, int num_text, std::string* out, png_bytep* rows,
                 PngContext* ctx) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, ctx, on_error, on_warning);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    return false;
  }
  Sink sink{out};
  png_set_write_fn(png, &sink, write_bytes, flush_bytes);
  const int color = image.channels == 1 ? PNG_COLOR_TYPE_GRAY
                    : image.channels == 3 ? PNG_COLOR_TYPE_RGB
                                          : PNG_COLOR_TYPE_RGB_ALPHA;
  png_set_IHDR(png, info, png_uint_32(image.width), png_uint_32(image.height), 8, color, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (num_text > 0) png_set_text(png, info, text, num_text);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

struct Decoded {
  uint32_t width = 0, height = 0;
  int channels = 0;
  bool too_large = false;
};

struct TextChunk {
  std::string key, value;
  bool utf8;
};

// Reads the header, then, within the size limits, the pixels and (when `texts` is given) every text chunk.
bool decode_impl(Source* src, Decoded* out, std::vector<uint8_t>* pixels, std::vector<png_bytep>* rows,
                 std::vector<TextChunk>* texts, PngContext* ctx) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, on_error, on_warning);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  png_infop end_info = info ? png_create_info_struct(png) : nullptr;
  if (!end_info || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, info ? &info : nullptr, end_info ? &end_info : nullptr);
    return false;
  }
  png_set_read_fn(png, src, read_bytes);
  png_set_user_limits(png, kMaxImageSide, kMaxImageSide);
  png_read_info(png, info);
  out->width = png_get_image_width(png, info);
  out->height = png_get_image_height(png, info);
  if (int64_t(out->width) * out->height > kMaxImagePixels) {
    out->too_large = true;
    png_destroy_read_struct(&png, &info, &end_info);
    return true;
  }
  png_set_expand(png);  // palette -> RGB, low-bit gray -> 8 bits, tRNS -> alpha
  png_set_strip_16(png);
  if (png_get_color_type(png, info) == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  out->channels = png_get_channels(png, info);
  if (out->channels == 2) png_error(png, "unexpected gray+alpha layout");
  const size_t stride = size_t(out->width) * size_t(out->channels);
  pixels->resize(stride * out->height);
  rows->resize(out->height);
  for (uint32_t y = 0; y < out->height; ++y) (*rows)[y] = pixels->data() + y * stride;
  png_read_image(png, rows->data());
  png_read_end(png, end_info);
  for (png_infop where : {info, end_info}) {
    png_textp text = nullptr;
    int count = 0;
    png_get_text(png, where, &text, &count);
    for (int i = 0; i < count && texts; ++i) {
      const bool utf8 = text[i].compression >= PNG_ITXT_COMPRESSION_NONE;
      texts->push_back({text[i].key, std::string(text[i].text, utf8 ? text[i].itxt_length : text[i].text_length), utf8});
    }
  }
  png_destroy_read_struct(&png, &info, &end_info);
  return true;
}

}  // namespace

std::string encode_png(const Image& image, const std::map<std::string, std::string>& text) {
  check_image(image, "png image");
  std::vector<png_bytep> rows(size_t(image.height));
  const size_t stride = size_t(image.width) * size_t(image.channels);
  for (size_t y = 0; y < rows.size(); ++y) rows[y] = const_cast<png_bytep>(image.pixels.data() + y * stride);

  // PIL writes tEXt (Latin-1) when every character fits, iTXt (UTF-8) otherwise. libpng keeps pointers only
  // until png_set_text copies them, so the strings below outlive the call.
  std::vector<std::string> keys, values;
  std::vector<png_text> chunks(text.size());
  keys.reserve(text.size());
  values.reserve(text.size());
  static char empty[] = "";
  size_t i = 0;
  for (const auto& [key, value] : text) {
    std::string latin1_key;
    if (key.empty() || !utf8_to_latin1(key, &latin1_key) || latin1_key.size() > 79)
      throw Error(ErrorCode::InvalidArgument, "png text key '" + key + "' must be 1-79 Latin-1 characters");
    keys.push_back(latin1_key);
    std::string latin1;
    const bool is_latin1 = utf8_to_latin1(value, &latin1);
    values.push_back(is_latin1 ? latin1 : value);
    png_text& chunk = chunks[i++];
    chunk = png_text{};
    chunk.key = keys.back().data();
    chunk.text = values.back().data();
    if (is_latin1) {
      chunk.compression = PNG_TEXT_COMPRESSION_NONE;
      chunk.text_length = values.back().size();
    } else {
      chunk.compression = PNG_ITXT_COMPRESSION_NONE;
      chunk.itxt_length = values.back().size();
      chunk.lang = empty;
      chunk.lang_key = empty;
    }
  }
  std::string out;
  PngContext ctx;
  if (!encode_impl(image, chunks.data(), int(chunks.size()), &out, rows.data(), &ctx))
    throw Error(ErrorCode::Internal, std::string("png encode failed: ") + ctx.message);
  return out;
}

Image decode_png(std::string_view bytes, const std::string& field, std::map<std::string, std::string>* text) {
  Source src{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), 0};
  Decoded decoded;
  std::vector<uint8_t> pixels;
  std::vector<png_bytep> rows;
  std::vector<TextChunk> texts;
  PngContext ctx;
  if (!decode_impl(&src, &decoded, &pixels, &rows, text ? &texts : nullptr, &ctx))
    throw Error(ErrorCode::InvalidArgument, field + ": invalid PNG: " + ctx.message, field);
  if (decoded.too_large) check_decoded_size(decoded.width, decoded.height, field);
  if (text) {
    text->clear();
    for (TextChunk& chunk : texts)  // the first chunk of a key wins
      text->emplace(latin1_to_utf8(chunk.key), chunk.utf8 ? std::move(chunk.value) : latin1_to_utf8(chunk.value));
  }
  Image image;
  image.width = int(decoded.width);
  image.height = int(decoded.height);
  image.channels = decoded.channels;
  image.pixels = std::move(pixels);
  return image;
}

}  // namespace sdpp

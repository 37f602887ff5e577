#include <png.h>

#include <cstring>
#include <memory>

#include "core/error.h"
#include "image/image_io.h"

namespace sdpp {
namespace {

struct ReadCursor {
  std::string_view bytes;
  size_t offset = 0;
};

void read_from_memory(png_structp png, png_bytep out, png_size_t length) {
  auto* cursor = static_cast<ReadCursor*>(png_get_io_ptr(png));
  if (cursor->offset + length > cursor->bytes.size()) png_error(png, "truncated PNG data");
  std::memcpy(out, cursor->bytes.data() + cursor->offset, length);
  cursor->offset += length;
}

void write_to_string(png_structp png, png_bytep data, png_size_t length) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), length);
}

// libpng reports errors by longjmp; we turn them into a message and return through setjmp in the caller.
void on_error(png_structp png, png_const_charp message) {
  auto* text = static_cast<std::string*>(png_get_error_ptr(png));
  if (text) *text = message;
  png_longjmp(png, 1);
}
void on_warning(png_structp, png_const_charp) {}

bool latin1(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;  // plain ASCII stays tEXt; UTF-8 goes to iTXt
  return true;
}

}  // namespace

Image decode_png(std::string_view bytes, const std::string& field) {
  std::string error;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &error, on_error, on_warning);
  if (!png) throw Error(ErrorCode::OutOfMemory, "png_create_read_struct failed");
  png_infop info = png_create_info_struct(png);
  Image image;
  std::vector<png_bytep> rows;
  ReadCursor cursor{bytes, 0};
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw Error(ErrorCode::InvalidArgument, field + ": invalid PNG image (" + error + ")", field);
  }
  png_set_read_fn(png, &cursor, read_from_memory);
  png_set_user_limits(png, 16384, 16384);  // a bomb of a header must not make us allocate gigabytes
  png_read_info(png, info);
  png_set_strip_16(png);
  png_set_packing(png);
  png_set_palette_to_rgb(png);
  png_set_expand_gray_1_2_4_to_8(png);
  png_set_tRNS_to_alpha(png);
  png_read_update_info(png, info);
  image.width = int(png_get_image_width(png, info));
  image.height = int(png_get_image_height(png, info));
  image.channels = int(png_get_channels(png, info));
  if (image.channels == 2) {  // gray + alpha: drop alpha after reading
    png_set_strip_alpha(png);
    png_read_update_info(png, info);
    image.channels = 1;
  }
  image.pixels.resize(size_t(image.width) * size_t(image.height) * size_t(image.channels));
  rows.resize(size_t(image.height));
  for (int y = 0; y < image.height; ++y)
    rows[size_t(y)] = image.pixels.data() + size_t(y) * size_t(image.width) * size_t(image.channels);
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return image;
}

std::map<std::string, std::string> read_png_text(std::string_view bytes) {
  std::string error;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &error, on_error, on_warning);
  png_infop info = png_create_info_struct(png);
  std::map<std::string, std::string> text;
  ReadCursor cursor{bytes, 0};
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw Error(ErrorCode::InvalidArgument, "invalid PNG image (" + error + ")");
  }
  png_set_read_fn(png, &cursor, read_from_memory);
  png_read_info(png, info);
  png_textp chunks = nullptr;
  const int count = png_get_text(png, info, &chunks, nullptr);
  for (int i = 0; i < count; ++i)
    text[chunks[i].key] = std::string(chunks[i].text, chunks[i].itxt_length ? chunks[i].itxt_length : chunks[i].text_length);
  png_destroy_read_struct(&png, &info, nullptr);
  return text;
}

std::string encode_png(const Image& image, const std::map<std::string, std::string>& text) {
  if (image.width <= 0 || image.height <= 0 || image.channels < 1 || image.channels > 4 ||
      image.pixels.size() != size_t(image.width) * size_t(image.height) * size_t(image.channels))
    throw Error(ErrorCode::Internal, "encode_png: inconsistent image " + std::to_string(image.width) + "x" +
                                         std::to_string(image.height) + "x" + std::to_string(image.channels));
  std::string error, out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &error, on_error, on_warning);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw Error(ErrorCode::Internal, "PNG encoding failed: " + error);
  }
  png_set_write_fn(png, &out, write_to_string, nullptr);
  static const int color_types[] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                    PNG_COLOR_TYPE_RGB_ALPHA};
  png_set_IHDR(png, info, png_uint_32(image.width), png_uint_32(image.height), 8, color_types[image.channels],
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 6);
  std::vector<png_text> chunks;
  std::vector<std::string> storage;
  storage.reserve(text.size() * 2);
  for (const auto& [key, value] : text) {
    storage.push_back(key);
    char* k = storage.back().data();
    storage.push_back(value);
    char* v = storage.back().data();
    png_text chunk{};
    chunk.key = k;
    chunk.text = v;
    if (latin1(value)) {
      chunk.compression = PNG_TEXT_COMPRESSION_NONE;
      chunk.text_length = value.size();
    } else {
      chunk.compression = PNG_ITXT_COMPRESSION_NONE;
      chunk.itxt_length = value.size();
    }
    chunks.push_back(chunk);
  }
  if (!chunks.empty()) png_set_text(png, info, chunks.data(), int(chunks.size()));
  png_write_info(png, info);
  const size_t stride = size_t(image.width) * size_t(image.channels);
  for (int y = 0; y < image.height; ++y)
    png_write_row(png, const_cast<png_bytep>(image.pixels.data() + size_t(y) * stride));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return out;
}

}  // namespace sdpp

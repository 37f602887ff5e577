#include <csetjmp>
#include <cstdio>
// jpeglib.h needs FILE and size_t declared first
#include <jpeglib.h>

#include "core/error.h"
#include "image/image_io.h"

namespace sdpp {
namespace {

struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr info) {
  auto* manager = reinterpret_cast<ErrorManager*>(info->err);
  info->err->format_message(info, manager->message);
  std::longjmp(manager->jump, 1);
}

}  // namespace

Image decode_jpeg(std::string_view bytes, const std::string& field) {
  jpeg_decompress_struct info{};
  ErrorManager errors{};
  info.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = on_error;
  Image image;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&info);
    throw Error(ErrorCode::InvalidArgument, field + ": invalid JPEG image (" + std::string(errors.message) + ")", field);
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  if (info.image_width > 16384 || info.image_height > 16384) {
    jpeg_destroy_decompress(&info);
    throw Error(ErrorCode::InvalidArgument, field + ": JPEG of " + std::to_string(info.image_width) + "x" +
                                                std::to_string(info.image_height) + " exceeds 16384 pixels a side", field);
  }
  info.out_color_space = info.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&info);
  image.width = int(info.output_width);
  image.height = int(info.output_height);
  image.channels = int(info.output_components);
  image.pixels.resize(size_t(image.width) * size_t(image.height) * size_t(image.channels));
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = image.pixels.data() + size_t(info.output_scanline) * size_t(image.width) * size_t(image.channels);
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return image;
}

}  // namespace sdpp

#include "image/jpeg.h"

// jpeglib.h needs size_t and FILE declared first.
#include <csetjmp>
#include <cstdio>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>

#include "core/error.h"
#include "image/image.h"

namespace sdpp {
namespace {

// libjpeg's error_exit must not return; it longjmps back into decode_impl, whose locals after setjmp are all
// trivially destructible.
struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

void on_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}
// Warnings are not printed; a premature end of data is remembered, since libjpeg would pad the rest with gray
// where PIL refuses a truncated file.
void on_emit_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) reinterpret_cast<ErrorManager*>(cinfo->err)->truncated = true;
}

struct Decoded {
  uint32_t width = 0, height = 0;
  int channels = 0;
  bool too_large = false;
  bool cmyk = false;
};

// PIL's CMYK -> RGB: channel = (255 - k') - (c' * (255 - k') / 255), where c', k' are the un-inverted inks; libjpeg
// returns Adobe's inverted CMYK, so with c = 255 - c' and k = 255 - k' this is k - (255 - c) * k / 255.
uint8_t cmyk_channel(uint8_t c, uint8_t k) {
  const unsigned inverse = 255u - c;
  unsigned tmp = inverse * k + 128;
  const unsigned scaled = ((tmp >> 8) + tmp) >> 8;  // round(inverse * k / 255)
  return uint8_t(k - scaled);
}

bool decode_impl(const uint8_t* data, size_t size, Decoded* out, std::vector<uint8_t>* pixels, ErrorManager* err) {
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&err->base);
  err->base.error_exit = on_error_exit;
  err->base.emit_message = on_emit_message;
  if (setjmp(err->jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  out->width = cinfo.image_width;
  out->height = cinfo.image_height;
  if (out->width > uint32_t(kMaxImageSide) || out->height > uint32_t(kMaxImageSide) ||
      int64_t(out->width) * out->height > kMaxImagePixels) {
    out->too_large = true;
    jpeg_destroy_decompress(&cinfo);
    return true;
  }
  if (cinfo.jpeg_color_space == JCS_GRAYSCALE) {
    cinfo.out_color_space = JCS_GRAYSCALE;
  } else if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    cinfo.out_color_space = JCS_CMYK;
    out->cmyk = true;
  } else {
    cinfo.out_color_space = JCS_RGB;
  }
  jpeg_start_decompress(&cinfo);
  out->channels = cinfo.output_components;
  const size_t stride = size_t(cinfo.output_width) * size_t(cinfo.output_components);
  pixels->resize(stride * cinfo.output_height);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = pixels->data() + size_t(cinfo.output_scanline) * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

}  // namespace

Image decode_jpeg(std::string_view bytes, const std::string& field) {
  Decoded decoded;
  std::vector<uint8_t> pixels;
  ErrorManager err{};
  if (!decode_impl(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &decoded, &pixels, &err))
    throw Error(ErrorCode::InvalidArgument, field + ": invalid JPEG: " + err.message, field);
  if (err.truncated)
    throw Error(ErrorCode::InvalidArgument, field + ": invalid JPEG: data ends before the last scanline", field);
  if (decoded.too_large) check_decoded_size(decoded.width, decoded.height, field);
  Image image;
  image.width = int(decoded.width);
  image.height = int(decoded.height);
  if (decoded.cmyk) {
    image.channels = 3;
    image.pixels.resize(size_t(image.width) * size_t(image.height) * 3);
    for (size_t i = 0, n = image.pixels.size() / 3; i < n; ++i) {
      const uint8_t* px = pixels.data() + i * 4;
      for (int c = 0; c < 3; ++c) image.pixels[i * 3 + size_t(c)] = cmyk_channel(px[c], px[3]);
    }
  } else {
    image.channels = decoded.channels;
    image.pixels = std::move(pixels);
  }
  return image;
}

}  // namespace sdpp

// Image I/O, PIL-compatible resize / conversions, and diffusers' image <-> tensor processing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "image/convert.h"
#include "image/image_io.h"
#include "image/image_tensor.h"
#include "image/resize.h"
#include "io/safetensors.h"
#include "../fixtures_dir.h"

namespace sdpp {
namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(SDPP_SOURCE_DIR) / "tests/image/data";  // written by scripts/gen_image_test_data.py

using sdpp::test::fixtures_dir;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Image make_image(int width, int height, int channels) {
  Image image{width, height, channels, std::vector<uint8_t>(size_t(width * height * channels))};
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = uint8_t((i * 7919u) >> 3);
  return image;
}

template <class F>
std::string error_message(F&& f, ErrorCode code) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

int max_abs_diff(const Image& a, const Image& b) {
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  EXPECT_EQ(a.channels, b.channels);
  if (a.pixels.size() != b.pixels.size()) return 256;
  int worst = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) worst = std::max(worst, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return worst;
}

TEST(Png, RoundTripsEveryLayoutWithParameters) {
  for (int channels : {1, 3, 4}) {
    const Image image = make_image(19, 7, channels);
    const std::string text = "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 19x7";
    const std::string png = encode_png(image, {{"parameters", text}});
    const Image decoded = decode_image(png);
    EXPECT_EQ(decoded.channels, channels);
    EXPECT_EQ(max_abs_diff(decoded, image), 0);
    EXPECT_EQ(read_png_text(png), (std::map<std::string, std::string>{{"parameters", text}}));
  }
}

TEST(Png, ParametersChunkIsTextForLatin1AndItxtOtherwise) {
  const Image image = make_image(4, 4, 3);
  const std::string latin1 = "caf\xC3\xA9 au lait";  // UTF-8 "café", representable in Latin-1
  const std::string cjk = "\xE7\x8C\xAB, masterpiece";  // "猫": only iTXt can hold it
  const std::string a = encode_png(image, {{"parameters", latin1}}), b = encode_png(image, {{"parameters", cjk}});
  EXPECT_NE(a.find("tEXtparameters"), std::string::npos);
  EXPECT_NE(a.find("caf\xE9 au lait"), std::string::npos);  // stored as Latin-1 bytes, as PIL does
  EXPECT_NE(b.find("iTXtparameters"), std::string::npos);
  EXPECT_EQ(read_png_text(a).at("parameters"), latin1);
  EXPECT_EQ(read_png_text(b).at("parameters"), cjk);
  EXPECT_TRUE(read_png_text(encode_png(image)).empty());
  const auto two = read_png_text(encode_png(image, {{"parameters", "x"}, {"Software", "sdpp"}}));
  EXPECT_EQ(two.size(), 2u);
  error_message([&] { encode_png(image, {{"", "x"}}); }, ErrorCode::InvalidArgument);
  error_message([&] { encode_png(image, {{std::string(80, 'k'), "x"}}); }, ErrorCode::InvalidArgument);
  error_message([&] { read_png_text("not a png"); }, ErrorCode::InvalidArgument);
}

TEST(Png, WritesAndReadsFiles) {
  const fs::path path = fs::temp_directory_path() / "sdpp_image_test_write.png";
  const Image image = make_image(8, 3, 3);
  write_png_file(path, image, {{"parameters", "Steps: 1"}});
  EXPECT_EQ(max_abs_diff(read_image_file(path), image), 0);
  EXPECT_EQ(read_png_text(read_bytes(path)).at("parameters"), "Steps: 1");
  fs::remove(path);
  error_message([&] { read_image_file(path); }, ErrorCode::NotFound);
  error_message([&] { write_png_file("/nonexistent-dir/x.png", image); }, ErrorCode::BadFile);
}

TEST(Png, DecodesFixturePngs) {
  const Image init = read_image_file(fixtures_dir() / "cases/sd15_img2img_init.png");
  EXPECT_EQ(init.width, 128);
  EXPECT_EQ(init.height, 128);
  EXPECT_EQ(init.channels, 3);
  const Image mask = read_image_file(fixtures_dir() / "cases/sd15_inpaint_model_mask.png");
  EXPECT_EQ(mask.channels, 1);
}

TEST(Jpeg, DecodesAsPilDoes) {
  for (const char* name : {"rgb", "l", "cmyk"}) {
    SCOPED_TRACE(name);
    const std::string stem = std::string("photo_") + name;
    const Image decoded = decode_image(read_bytes(kData / (stem + ".jpg")));
    const Image expected = read_image_file(kData / (stem + "_decoded.png"));
    EXPECT_EQ(max_abs_diff(decoded, expected), 0);
  }
}

TEST(ImageIo, RejectsNonImagesAndCorruptData) {
  std::string msg = error_message([&] { decode_image("hello, this is not an image", "init_images[0]"); },
                                  ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("init_images[0]: not a PNG or JPEG image"), std::string::npos) << msg;
  error_message([&] { decode_image(""); }, ErrorCode::InvalidArgument);
  msg = error_message([&] { decode_image(std::string("GIF89a\x01\x00\x01\x00", 10)); }, ErrorCode::Unsupported);
  EXPECT_NE(msg.find("GIF images are not supported"), std::string::npos) << msg;

  const std::string png = encode_png(make_image(32, 32, 3), {{"parameters", "x"}});
  msg = error_message([&] { decode_image(png.substr(0, png.size() / 2), "mask"); }, ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("mask: invalid PNG"), std::string::npos) << msg;
  std::string flipped = png;
  flipped[60] = char(flipped[60] ^ 0x55);  // inside a chunk: CRC mismatch
  error_message([&] { decode_image(flipped); }, ErrorCode::InvalidArgument);

  const std::string jpeg = read_bytes(kData / "photo_rgb.jpg");
  msg = error_message([&] { decode_image(jpeg.substr(0, jpeg.size() / 2)); }, ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("invalid JPEG"), std::string::npos) << msg;
  error_message([&] { decode_image(jpeg.substr(0, 4)); }, ErrorCode::InvalidArgument);
}

TEST(ImageIo, RefusesHugeDimensionsBeforeAllocating) {
  std::string png = encode_png(make_image(2, 2, 3));
  // IHDR width/height (big-endian at offsets 16 and 20) -> 100000 x 100000; the CRC is not fixed, so libpng may
  // stop at either check.
  for (int at : {16, 20}) {
    png[size_t(at)] = 0;
    png[size_t(at) + 1] = 1;
    png[size_t(at) + 2] = char(0x86);
    png[size_t(at) + 3] = char(0xA0);
  }
  error_message([&] { decode_image(png); }, ErrorCode::InvalidArgument);
}

TEST(Resize, LanczosMatchesPilExactly) {
  for (const char* mode : {"rgb", "rgba", "l"}) {
    const Image src = read_image_file(kData / (std::string("src_") + mode + ".png"));
    for (auto [w, h] : {std::pair{16, 16}, {80, 48}, {37, 9}, {100, 23}, {5, 61}}) {
      SCOPED_TRACE(std::string(mode) + " " + std::to_string(w) + "x" + std::to_string(h));
      const Image expected = read_image_file(kData / ("lanczos_" + std::string(mode) + "_" + std::to_string(w) +
                                                      "x" + std::to_string(h) + ".png"));
      EXPECT_EQ(max_abs_diff(resize_image(src, w, h), expected), 0);
    }
  }
}

TEST(Resize, RejectsBadTargets) {
  const Image src = make_image(4, 4, 3);
  error_message([&] { resize_image(src, 0, 4); }, ErrorCode::InvalidArgument);
  error_message([&] { resize_image(src, 100000, 4); }, ErrorCode::InvalidArgument);
  Image broken = src;
  broken.pixels.pop_back();
  error_message([&] { resize_image(broken, 8, 8); }, ErrorCode::InvalidArgument);
}

TEST(Convert, GrayAndRgbAsPil) {
  const Image rgb = read_image_file(kData / "src_rgb.png");
  EXPECT_EQ(max_abs_diff(to_gray(rgb), read_image_file(kData / "gray_of_src_rgb.png")), 0);
  const Image gray = to_gray(rgb);
  const Image back = to_rgb(gray);
  ASSERT_EQ(back.channels, 3);
  EXPECT_EQ(back.pixels[3 * 5 + 2], gray.pixels[5]);
  const Image rgba = read_image_file(kData / "src_rgba.png");
  const Image dropped = to_rgb(rgba);
  EXPECT_EQ(dropped.pixels[3 * 7 + 1], rgba.pixels[4 * 7 + 1]);  // alpha dropped, colour untouched
}

TEST(ImageTensor, ImageScalesToMinusOneOne) {
  const Image image{2, 1, 3, {0, 128, 255, 255, 0, 64}};
  const Tensor t = image_to_tensor(image);
  ASSERT_EQ(t.shape(), (Shape{1, 3, 1, 2}));
  const std::vector<float> v = t.to_floats();  // planes R, G, B
  EXPECT_EQ(v[0], -1.0f);
  EXPECT_EQ(v[1], 1.0f);
  EXPECT_EQ(v[2], 2.0f * (128.0f / 255.0f) - 1.0f);
  EXPECT_EQ(v[5], 2.0f * (64.0f / 255.0f) - 1.0f);
  EXPECT_EQ(preprocess_image(make_image(10, 6, 4), 8, 16).shape(), (Shape{1, 3, 16, 8}));
  EXPECT_EQ(preprocess_image(make_image(3, 3, 1), 8, 8).shape(), (Shape{1, 3, 8, 8}));
}

TEST(ImageTensor, PreprocessResizesBeforeDroppingAlpha) {
  // diffusers resizes the RGBA upload (premultiplied by alpha, as PIL does), then converts to RGB. Expected bytes:
  // PIL 9.4, Image.frombytes("RGBA", (3, 1), ...).resize((5, 1), LANCZOS).convert("RGB").
  const Image rgba{3, 1, 4, {255, 0, 0, 255, 0, 255, 0, 0, 0, 0, 255, 128}};
  const Image rgb = to_rgb(resize_image(rgba, 5, 1));
  EXPECT_EQ(rgb.pixels, (std::vector<uint8_t>{255, 0, 4, 255, 0, 0, 0, 0, 0, 0, 0, 255, 13, 0, 241}));
  EXPECT_EQ(preprocess_image(rgba, 5, 1).to_floats(), image_to_tensor(rgb).to_floats());
  EXPECT_NE(preprocess_image(rgba, 5, 1).to_floats(), image_to_tensor(resize_image(to_rgb(rgba), 5, 1)).to_floats());
}

TEST(ImageTensor, MaskBinarisesAtHalf) {
  const Image mask{4, 1, 1, {0, 127, 128, 255}};
  EXPECT_EQ(mask_to_tensor(mask).to_floats(), (std::vector<float>{0, 0, 1, 1}));
  const Image rgb_mask{2, 1, 3, {255, 255, 255, 10, 10, 10}};  // white = repaint
  EXPECT_EQ(preprocess_mask(rgb_mask, 2, 1).to_floats(), (std::vector<float>{1, 0}));
  EXPECT_EQ(preprocess_mask(rgb_mask, 4, 2).shape(), (Shape{1, 1, 2, 4}));
}

TEST(ImageTensor, OutputRoundsHalfToEvenAndClamps) {
  // 0.5/255 * 255 rounds to 0 (half to even); 1.5/255 -> 2; out-of-range values clamp; NaN -> 0.
  const std::vector<float> values = {0.5f / 255.0f, 1.5f / 255.0f, -3.0f, 2.0f, 0.5f, NAN};
  const Image image = tensor_to_image(Tensor::from_floats(values, {1, 3, 1, 2}), 0);
  EXPECT_EQ(image.pixels, (std::vector<uint8_t>{0, 0, 128, 2, 255, 0}));  // planes -> interleaved RGB
  const std::vector<float> two(12, 0.25f);
  EXPECT_EQ(tensor_to_image(Tensor::from_floats(two, {2, 3, 1, 2}), 1).pixels[0], 64);
  error_message([&] { tensor_to_image(Tensor::from_floats(values, {6}), 0); }, ErrorCode::InvalidArgument);
  error_message([&] { tensor_to_image(Tensor::from_floats(values, {1, 3, 1, 2}), 1); }, ErrorCode::InvalidArgument);
}

// Every pipeline case's float image, rounded as numpy_to_pil does, is exactly its reference PNG.
TEST(ImageTensor, OutputReproducesFixturePngs) {
  std::ifstream in(fixtures_dir() / "manifest.json");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  for (size_t at; (at = text.find("-Infinity")) != std::string::npos;) text.replace(at, 9, "null");
  const nlohmann::json manifest = nlohmann::json::parse(text);
  int cases = 0;
  for (const auto& c : manifest.at("cases")) {
    if (c.at("kind").get<std::string>() != "pipeline") continue;
    SCOPED_TRACE(c.at("name").get<std::string>());
    ++cases;
    const auto file = SafetensorsFile::open(fixtures_dir() / c.at("file").get<std::string>());
    const Image image = tensor_to_image(file->read("image"), 0);
    EXPECT_EQ(max_abs_diff(image, read_image_file(fixtures_dir() / c.at("png").get<std::string>())), 0);
  }
  EXPECT_GT(cases, 10);
}

}  // namespace
}  // namespace sdpp

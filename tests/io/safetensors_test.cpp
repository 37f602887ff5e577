// The safetensors reader/writer on valid files, and on corrupt ones: every defect must become BadFile (or NotFound /
// Unsupported) with a message naming the file and the offending tensor or number, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "io_test_util.h"

namespace sdpp {
namespace {

using test::expect_error;
using test::safetensors_bytes;
using test::TempDir;
using test::write_bytes;

std::string zeros(size_t n) { return std::string(n, '\0'); }

TEST(Safetensors, RoundTripKeepsValuesDtypesAndMetadata) {
  TempDir dir;
  const std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -0.5f};
  Tensor half = Tensor::from_floats(std::vector<float>{1.0f, 0.5f, -3.0f}, {3}).to(DType::F16);
  const std::vector<int64_t> ids = {49406, 320, 49407};
  write_safetensors(dir / "m.safetensors",
                    {{"a", Tensor::from_floats(a, {2, 3})}, {"h", half}, {"ids", Tensor::from_ints(ids, {1, 3})}},
                    {{"format", "pt"}});

  auto file = SafetensorsFile::open(dir / "m.safetensors");
  EXPECT_EQ(file->metadata().at("format"), "pt");
  ASSERT_EQ(file->entries().size(), 3u);
  Tensor ra = file->read("a");
  EXPECT_EQ(ra.dtype(), DType::F32);
  EXPECT_EQ(ra.shape(), (Shape{2, 3}));
  EXPECT_EQ(ra.to_floats(), a);
  Tensor rh = file->read("h");
  EXPECT_EQ(rh.dtype(), DType::F16);
  EXPECT_EQ(rh.to_floats(), (std::vector<float>{1.0f, 0.5f, -3.0f}));
  Tensor ri = file->read("ids");
  EXPECT_EQ(ri.dtype(), DType::I64);
  EXPECT_EQ(std::vector<int64_t>(ri.i64(), ri.i64() + 3), ids);
}

TEST(Safetensors, ReadsAreZeroCopyViewsThatOutliveTheFileObject) {
  TempDir dir;
  write_safetensors(dir / "m.safetensors", {{"w", Tensor::from_floats(std::vector<float>{1, 2, 3, 4}, {4})}});
  Tensor first, second;
  {
    auto file = SafetensorsFile::open(dir / "m.safetensors");
    first = file->read("w");
    second = file->read("w");
  }
  EXPECT_EQ(first.raw(), second.raw());  // both views of the same mapped bytes
  EXPECT_EQ(first.to_floats(), (std::vector<float>{1, 2, 3, 4}));  // mapping kept alive by the tensor
}

TEST(Safetensors, WritingIntoAViewNeverChangesTheFile) {
  TempDir dir;
  write_safetensors(dir / "m.safetensors", {{"w", Tensor::from_floats(std::vector<float>{1, 2}, {2})}});
  {
    Tensor w = SafetensorsFile::open(dir / "m.safetensors")->read("w");
    w.f32()[0] = 99.0f;
  }
  EXPECT_EQ(SafetensorsFile::open(dir / "m.safetensors")->read("w").to_floats(), (std::vector<float>{1, 2}));
}

TEST(Safetensors, MisalignedDataIsCopiedNotMisread) {
  TempDir dir;
  // A 5-byte-longer header than needed puts the f32 data at an odd address.
  const std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  ASSERT_NE((8 + header.size()) % 4, 0u);
  float v[2] = {3.5f, -1.25f};
  std::string data(8, '\0');
  std::memcpy(data.data(), v, 8);
  write_bytes(dir / "odd.safetensors", safetensors_bytes(header, data));
  EXPECT_EQ(SafetensorsFile::open(dir / "odd.safetensors")->read("w").to_floats(), (std::vector<float>{3.5f, -1.25f}));
}

TEST(Safetensors, EmptyTensorsAndScalarsAreValid) {
  TempDir dir;
  const std::string header = R"({"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},)"
                             R"("s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})";
  write_bytes(dir / "m.safetensors", safetensors_bytes(header, zeros(4)));
  auto file = SafetensorsFile::open(dir / "m.safetensors");
  EXPECT_EQ(file->read("e").numel(), 0);
  EXPECT_EQ(file->read("s").numel(), 1);
}

TEST(Safetensors, Float8IsListedButReadingItIsUnsupported) {
  TempDir dir;
  const std::string header = R"({"q":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})";
  write_bytes(dir / "f8.safetensors", safetensors_bytes(header, zeros(4)));
  auto file = SafetensorsFile::open(dir / "f8.safetensors");
  ASSERT_NE(file->find("q"), nullptr);
  EXPECT_EQ(file->find("q")->dtype_name, "F8_E4M3");
  expect_error([&] { file->read("q"); }, ErrorCode::Unsupported, {"'q'", "F8_E4M3", "f8.safetensors"});
}

TEST(Safetensors, MissingFileIsNotFound) {
  TempDir dir;
  expect_error([&] { SafetensorsFile::open(dir / "nope.safetensors"); }, ErrorCode::NotFound, {"nope.safetensors"});
}

TEST(SafetensorsCorrupt, FileShorterThanTheLengthField) {
  TempDir dir;
  write_bytes(dir / "short.safetensors", "abc");
  expect_error([&] { SafetensorsFile::open(dir / "short.safetensors"); }, ErrorCode::BadFile,
               {"short.safetensors", "3 bytes", "8-byte"});
  write_bytes(dir / "empty.safetensors", "");
  expect_error([&] { SafetensorsFile::open(dir / "empty.safetensors"); }, ErrorCode::BadFile, {"0 bytes"});
}

TEST(SafetensorsCorrupt, TruncatedFile) {
  TempDir dir;
  write_safetensors(dir / "full.safetensors", {{"w", Tensor::from_floats(std::vector<float>(16, 1.0f), {4, 4})}});
  std::ifstream in(dir / "full.safetensors", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write_bytes(dir / "cut.safetensors", bytes.substr(0, bytes.size() - 10));
  expect_error([&] { SafetensorsFile::open(dir / "cut.safetensors"); }, ErrorCode::BadFile,
               {"cut.safetensors", "'w'", "data section"});
  write_bytes(dir / "cut_header.safetensors", bytes.substr(0, 20));
  expect_error([&] { SafetensorsFile::open(dir / "cut_header.safetensors"); }, ErrorCode::BadFile,
               {"cut_header.safetensors", "header length", "20 bytes"});
}

TEST(SafetensorsCorrupt, HeaderLengthBeyondTheFile) {
  TempDir dir;
  const std::string header = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  write_bytes(dir / "long.safetensors", safetensors_bytes(header, zeros(4), 5000));
  expect_error([&] { SafetensorsFile::open(dir / "long.safetensors"); }, ErrorCode::BadFile,
               {"long.safetensors", "5000", "end of the file"});
}

TEST(SafetensorsCorrupt, HeaderLengthAboveTheBound) {
  TempDir dir;
  write_bytes(dir / "huge.safetensors", safetensors_bytes("{}", "", 1ull << 40));
  expect_error([&] { SafetensorsFile::open(dir / "huge.safetensors"); }, ErrorCode::BadFile,
               {"huge.safetensors", std::to_string(1ull << 40), std::to_string(SafetensorsFile::kMaxHeaderBytes)});
}

TEST(SafetensorsCorrupt, HeaderNotJson) {
  TempDir dir;
  write_bytes(dir / "bad.safetensors", safetensors_bytes("{\"w\": {\"dtype\": ", ""));
  expect_error([&] { SafetensorsFile::open(dir / "bad.safetensors"); }, ErrorCode::BadFile,
               {"bad.safetensors", "not valid JSON"});
  write_bytes(dir / "array.safetensors", safetensors_bytes("[1, 2]", ""));
  expect_error([&] { SafetensorsFile::open(dir / "array.safetensors"); }, ErrorCode::BadFile,
               {"array.safetensors", "expected an object"});
}

TEST(SafetensorsCorrupt, EntryMissingAField) {
  TempDir dir;
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    nlohmann::json entry = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4}}};
    entry.erase(field);
    write_bytes(dir / "m.safetensors", safetensors_bytes(nlohmann::json{{"weight", entry}}.dump(), zeros(4)));
    expect_error([&] { SafetensorsFile::open(dir / "m.safetensors"); }, ErrorCode::BadFile,
                 {"m.safetensors", "'weight'", std::string("'") + field + "'"});
  }
}

TEST(SafetensorsCorrupt, UnknownDtype) {
  TempDir dir;
  write_bytes(dir / "m.safetensors",
              safetensors_bytes(R"({"w":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}})", zeros(4)));
  expect_error([&] { SafetensorsFile::open(dir / "m.safetensors"); }, ErrorCode::BadFile, {"'w'", "F17"});
}

TEST(SafetensorsCorrupt, NegativeDimension) {
  TempDir dir;
  write_bytes(dir / "m.safetensors",
              safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,4]}})", zeros(4)));
  expect_error([&] { SafetensorsFile::open(dir / "m.safetensors"); }, ErrorCode::BadFile, {"'w'", "negative", "-3"});
}

TEST(SafetensorsCorrupt, OffsetsOutsideTheDataSection) {
  TempDir dir;
  write_bytes(dir / "m.safetensors",
              safetensors_bytes(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", zeros(16)));
  expect_error([&] { SafetensorsFile::open(dir / "m.safetensors"); }, ErrorCode::BadFile,
               {"'w'", "[8, 24]", "16 bytes"});
}

TEST(SafetensorsCorrupt, EndBeforeBegin) {
  TempDir dir;
  write_bytes(dir / "m.safetensors",
              safetensors_bytes(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", zeros(16)));
  expect_error([&] { SafetensorsFile::open(dir / "m.safetensors"); }, ErrorCode::BadFile, {"'w'", "end 4", "begin 8"});
}

TEST(SafetensorsCorrupt, ByteSizeDoesNotMatchShapeAndDtype) {
  TempDir dir;
  write_bytes(dir / "m.safetensors",
              safetensors_bytes(R"({"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", zeros(20)));
  expect_error([&] { SafetensorsFile::open(dir / "m.safetensors"); }, ErrorCode::BadFile,
               {"m.safetensors", "tensor 'x': shape [2,3] F32 needs 24 bytes, data_offsets give 20"});
}

TEST(SafetensorsCorrupt, HugeShapeOverflowIsCaught) {
  TempDir dir;
  write_bytes(dir / "m.safetensors",
              safetensors_bytes(R"({"x":{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,4]}})",
                                zeros(4)));
  expect_error([&] { SafetensorsFile::open(dir / "m.safetensors"); }, ErrorCode::BadFile, {"'x'", "too large"});
}

TEST(SafetensorsCorrupt, OverlappingTensors) {
  TempDir dir;
  const std::string header = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})";
  write_bytes(dir / "m.safetensors", safetensors_bytes(header, zeros(20)));
  expect_error([&] { SafetensorsFile::open(dir / "m.safetensors"); }, ErrorCode::BadFile,
               {"m.safetensors", "'a'", "'b'", "overlap"});
}

TEST(SafetensorsCorrupt, MetadataMustBeAnObject) {
  TempDir dir;
  write_bytes(dir / "m.safetensors", safetensors_bytes(R"({"__metadata__": [1]})", ""));
  expect_error([&] { SafetensorsFile::open(dir / "m.safetensors"); }, ErrorCode::BadFile, {"__metadata__"});
}

TEST(SafetensorsCorrupt, MissingTensorOnRead) {
  TempDir dir;
  write_safetensors(dir / "m.safetensors", {{"w", Tensor::from_floats(std::vector<float>{1}, {1})}});
  auto file = SafetensorsFile::open(dir / "m.safetensors");
  expect_error([&] { file->read("conv_in.weight"); }, ErrorCode::MissingTensor,
               {"missing tensor 'conv_in.weight'", "m.safetensors"});
}

TEST(SafetensorsCorrupt, DirectoryInsteadOfFile) {
  TempDir dir;
  expect_error([&] { SafetensorsFile::open(dir.path()); }, ErrorCode::BadFile, {"directory"});
}

// Every truncation and many random byte flips of a valid file: each open either succeeds (and every tensor then
// reads) or throws sdpp::Error — never another exception, never a crash.
TEST(SafetensorsCorrupt, MutatedFilesNeverEscapeAsOtherFailures) {
  TempDir dir;
  write_safetensors(dir / "ok.safetensors",
                    {{"a", Tensor::from_floats(std::vector<float>{1, 2, 3, 4}, {2, 2})},
                     {"b", Tensor::from_floats(std::vector<float>{5, 6}, {2}).to(DType::F16)}},
                    {{"format", "pt"}});
  std::ifstream in(dir / "ok.safetensors", std::ios::binary);
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto try_open = [&](const std::string& bytes) {
    write_bytes(dir / "m.safetensors", bytes);
    try {
      auto file = SafetensorsFile::open(dir / "m.safetensors");
      for (const auto& [name, entry] : file->entries()) {
        if (entry.dtype) file->read(name).to_floats();
      }
    } catch (const Error&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "non-sdpp exception: " << e.what();
    }
  };
  for (size_t len = 0; len < good.size(); ++len) try_open(good.substr(0, len));
  std::mt19937 rng(7);
  const size_t header_end = good.size() - 20;  // the 20 data bytes: flips there only change values
  for (int i = 0; i < 500; ++i) {
    std::string bytes = good;
    const int flips = 1 + int(rng() % 3);
    for (int f = 0; f < flips; ++f) bytes[rng() % header_end] = char(rng() & 0xff);
    try_open(bytes);
  }
}

}  // namespace
}  // namespace sdpp

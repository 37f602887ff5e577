// TensorSources (single file, sharded, renamed view), weight-file selection in diffusers folders, and WeightLoader's
// shape / presence checks and conversions.
#include <gtest/gtest.h>

#include "io/renamed_source.h"
#include "io/safetensors_source.h"
#include "io/weight_files.h"
#include "io/weight_loader.h"
#include "io_test_util.h"

namespace sdpp {
namespace {

using test::expect_error;
using test::TempDir;
using test::write_text;

Tensor iota(const Shape& shape, float start = 0.0f) {
  std::vector<float> v(size_t(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = start + float(i);
  return Tensor::from_floats(v, shape);
}

TEST(SafetensorsSource, ListsKeysAndInfos) {
  TempDir dir;
  write_safetensors(dir / "m.safetensors", {{"a", iota({2, 3})}, {"b", iota({4}).to(DType::F16)}});
  auto src = SafetensorsSource::open(dir / "m.safetensors");
  EXPECT_EQ(src->keys(), (std::vector<std::string>{"a", "b"}));
  auto info = src->info("b");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->dtype, DType::F16);
  EXPECT_EQ(info->stored_dtype, "F16");
  EXPECT_EQ(info->shape, (Shape{4}));
  EXPECT_FALSE(src->info("c"));
  expect_error([&] { src->read("c"); }, ErrorCode::MissingTensor, {"'c'", "m.safetensors"});
}

TEST(ShardedSource, ReadsAcrossShards) {
  TempDir dir;
  write_safetensors(dir / "model-00001-of-00002.safetensors", {{"a", iota({2})}});
  write_safetensors(dir / "model-00002-of-00002.safetensors", {{"b", iota({3}, 10)}});
  write_text(dir / "model.safetensors.index.json",
             R"({"metadata": {"total_size": 20}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                 "b": "model-00002-of-00002.safetensors"}})");
  auto src = ShardedSource::open(dir / "model.safetensors.index.json");
  EXPECT_EQ(src->keys(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(src->read("b").to_floats(), (std::vector<float>{10, 11, 12}));
  EXPECT_EQ(src->info("a")->shape, (Shape{2}));
}

TEST(ShardedSource, IndexErrorsNameTheKeyAndShard) {
  TempDir dir;
  write_safetensors(dir / "s1.safetensors", {{"a", iota({2})}});
  write_text(dir / "i1.json", R"({"weight_map": {"z": "s1.safetensors"}})");
  expect_error([&] { ShardedSource::open(dir / "i1.json"); }, ErrorCode::MissingTensor, {"'z'", "s1.safetensors"});
  write_text(dir / "i2.json", R"({"weight_map": {"a": "../s1.safetensors"}})");
  expect_error([&] { ShardedSource::open(dir / "i2.json"); }, ErrorCode::BadFile, {"'a'", "../s1.safetensors"});
  write_text(dir / "i3.json", R"({"weight_map": {"a": "gone.safetensors"}})");
  expect_error([&] { ShardedSource::open(dir / "i3.json"); }, ErrorCode::NotFound, {"gone.safetensors"});
  write_text(dir / "i4.json", R"({"weights": {}})");
  expect_error([&] { ShardedSource::open(dir / "i4.json"); }, ErrorCode::BadFile, {"i4.json", "weight_map"});
}

TEST(RenamedSource, AppliesEachTransform) {
  TempDir dir;
  write_safetensors(dir / "m.safetensors",
                    {{"conv", iota({2, 2, 1, 1})}, {"proj", iota({2, 3})}, {"qkv", iota({6, 2})}});
  auto base = SafetensorsSource::open(dir / "m.safetensors");
  KeyMap map;
  map["linear.weight"] = {"conv", KeyRecipe::Op::ConvToLinear};
  map["proj.weight"] = {"proj", KeyRecipe::Op::Transpose};
  map["k.weight"] = {"qkv", KeyRecipe::Op::Rows, 2, 4};
  map["same"] = {"proj"};
  RenamedSource view(base, map);
  EXPECT_EQ(view.keys().size(), 4u);
  EXPECT_EQ(view.info("linear.weight")->shape, (Shape{2, 2}));
  EXPECT_EQ(view.read("linear.weight").to_floats(), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(view.info("proj.weight")->shape, (Shape{3, 2}));
  EXPECT_EQ(view.read("proj.weight").to_floats(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(view.info("k.weight")->shape, (Shape{2, 2}));
  EXPECT_EQ(view.read("k.weight").to_floats(), (std::vector<float>{4, 5, 6, 7}));
  EXPECT_EQ(view.read("same").shape(), (Shape{2, 3}));
  EXPECT_FALSE(view.info("conv"));  // only the new names are visible
  expect_error([&] { view.read("conv"); }, ErrorCode::MissingTensor, {"'conv'"});
}

TEST(RenamedSource, RejectsRecipesThatDoNotFit) {
  TempDir dir;
  write_safetensors(dir / "m.safetensors", {{"w", iota({2, 3})}});
  auto base = SafetensorsSource::open(dir / "m.safetensors");
  expect_error([&] { RenamedSource(base, {{"x", {"gone"}}}); }, ErrorCode::MissingTensor, {"'gone'", "'x'"});
  expect_error([&] { RenamedSource(base, {{"x", {"w", KeyRecipe::Op::ConvToLinear}}}); }, ErrorCode::ShapeMismatch,
               {"'w'", "[2, 3]"});
  expect_error([&] { RenamedSource(base, {{"x", {"w", KeyRecipe::Op::Rows, 1, 5}}}); }, ErrorCode::ShapeMismatch,
               {"'w'"});
}

TEST(WeightFiles, PrefersFullPrecisionThenFp16Variant) {
  TempDir dir;
  write_safetensors(dir / "unet/diffusion_pytorch_model.fp16.safetensors", {{"w", iota({1}).to(DType::F16)}});
  EXPECT_EQ(find_component_weights(dir / "unet").filename(), "diffusion_pytorch_model.fp16.safetensors");
  EXPECT_EQ(open_component_weights(dir / "unet")->info("w")->dtype, DType::F16);
  write_safetensors(dir / "unet/diffusion_pytorch_model.safetensors", {{"w", iota({1})}});
  EXPECT_EQ(find_component_weights(dir / "unet").filename(), "diffusion_pytorch_model.safetensors");
  EXPECT_EQ(open_component_weights(dir / "unet")->info("w")->dtype, DType::F32);

  write_safetensors(dir / "text_encoder/model.fp16.safetensors", {{"w", iota({1}).to(DType::F16)}});
  EXPECT_EQ(find_component_weights(dir / "text_encoder").filename(), "model.fp16.safetensors");
}

TEST(WeightFiles, ShardedIndexIsFound) {
  TempDir dir;
  write_safetensors(dir / "unet/diffusion_pytorch_model-00001-of-00001.safetensors", {{"w", iota({2})}});
  write_text(dir / "unet/diffusion_pytorch_model.safetensors.index.json",
             R"({"weight_map": {"w": "diffusion_pytorch_model-00001-of-00001.safetensors"}})");
  EXPECT_EQ(open_component_weights(dir / "unet")->read("w").to_floats(), (std::vector<float>{0, 1}));
}

TEST(WeightFiles, PickleOnlyIsUnsupportedNamingTheFile) {
  TempDir dir;
  write_text(dir / "text_encoder/pytorch_model.bin", "PK");
  expect_error([&] { open_component_weights(dir / "text_encoder"); }, ErrorCode::Unsupported,
               {"pytorch_model.bin", ".safetensors"});
}

TEST(WeightFiles, EmptyFolderIsNotFound) {
  TempDir dir;
  std::filesystem::create_directories(dir / "vae");
  expect_error([&] { open_component_weights(dir / "vae"); }, ErrorCode::NotFound,
               {"vae", "diffusion_pytorch_model.safetensors"});
}

TEST(WeightLoader, ChecksShapeConvertsDtypeAndPrefixes) {
  TempDir dir;
  write_safetensors(dir / "unet.safetensors", {{"down_blocks.0.conv.weight", iota({2, 3}).to(DType::F16)}});
  auto src = SafetensorsSource::open(dir / "unet.safetensors");
  WeightLoader w(src, Device::cpu(), DType::F32);
  WeightLoader block = w.sub("down_blocks").sub("0");
  EXPECT_EQ(block.key("conv.weight"), "down_blocks.0.conv.weight");
  EXPECT_TRUE(block.has("conv.weight"));
  Tensor t = block.get("conv.weight", {2, 3});
  EXPECT_EQ(t.dtype(), DType::F32);
  EXPECT_EQ(t.to_floats(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_FALSE(block.get_optional("conv.bias", {2}).defined());

  WeightLoader bf(src, Device::cpu(), DType::BF16);
  EXPECT_EQ(bf.get("down_blocks.0.conv.weight", {2, 3}).dtype(), DType::BF16);
}

TEST(WeightLoader, MissingTensorNamesKeyAndFile) {
  TempDir dir;
  write_safetensors(dir / "unet.safetensors", {{"conv_in.bias", iota({4})}});
  WeightLoader w(SafetensorsSource::open(dir / "unet.safetensors"), Device::cpu(), DType::F32);
  expect_error([&] { w.sub("down_blocks.0.attentions.0").get("proj_in.weight", {320, 320, 1, 1}); },
               ErrorCode::MissingTensor,
               {"missing tensor 'down_blocks.0.attentions.0.proj_in.weight' in ", "unet.safetensors"});
}

TEST(WeightLoader, WrongShapeNamesKeyFileAndBothShapes) {
  TempDir dir;
  write_safetensors(dir / "unet.safetensors", {{"conv_in.weight", Tensor::zeros({32, 9, 3, 3}, DType::F16)}});
  WeightLoader w(SafetensorsSource::open(dir / "unet.safetensors"), Device::cpu(), DType::F32);
  expect_error([&] { w.get("conv_in.weight", {32, 4, 3, 3}); }, ErrorCode::ShapeMismatch,
               {"tensor 'conv_in.weight' in ", "unet.safetensors", "expected shape [32, 4, 3, 3], found [32, 9, 3, 3]"});
  expect_error([&] { w.get_optional("conv_in.weight", {32, 4, 3, 3}); }, ErrorCode::ShapeMismatch, {"conv_in.weight"});
}

// A source that learns shapes from the model, as bench/unet_bench.cpp's shape discovery does.
class ExpectingSource : public TensorSource {
 public:
  mutable std::vector<std::pair<std::string, Shape>> told;
  std::vector<std::string> keys() const override { return {}; }
  std::optional<TensorInfo> info(const std::string& key) const override {
    for (const auto& [k, shape] : told)
      if (k == key) return TensorInfo{DType::F32, shape, "F32", true};
    return std::nullopt;
  }
  Tensor read(const std::string& key) const override {
    const auto info_of = info(key);
    return Tensor::zeros(info_of->shape, DType::F32);
  }
  std::string describe() const override { return "expecting source"; }
  void expect(const std::string& key, const Shape& shape) const override { told.emplace_back(key, shape); }
};

TEST(WeightLoader, TellsTheSourceTheExpectedShapeBeforeReading) {
  auto source = std::make_shared<ExpectingSource>();
  const WeightLoader block = WeightLoader(source, Device::cpu(), DType::F32).sub("mid_block");
  const Tensor t = block.get("proj.weight", {8, 4});  // found only because the source was told first
  EXPECT_EQ(t.shape(), (Shape{8, 4}));
  ASSERT_EQ(source->told.size(), 1u);
  EXPECT_EQ(source->told[0].first, "mid_block.proj.weight");
}

}  // namespace
}  // namespace sdpp

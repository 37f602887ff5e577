// open_checkpoint on diffusers folders (every tiny fixture model), an AutoencoderTiny folder, fp16-variant folders,
// and on things that are not models.
#include <gtest/gtest.h>

#include "io/checkpoint.h"
#include "io_test_util.h"

namespace sdpp {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::fixtures_dir;
using test::TempDir;
using test::write_text;

TEST(Checkpoint, EveryFixtureFolderHasTheManifestFamily) {
  // manifest.json "models" (the file itself holds non-standard -Infinity numbers elsewhere, so it is not parsed here)
  const std::pair<const char*, const char*> models[] = {
      {"sd15", "sd15"}, {"sd15_inpaint", "sd15"}, {"sd21", "sd21"}, {"sdxl", "sdxl"}, {"taesd", "taesd"}};
  for (const auto& [name, family] : models) {
    const Checkpoint ck = open_checkpoint(fixtures_dir() / "models" / name);
    EXPECT_STREQ(family_name(ck.family), family) << name;
    EXPECT_FALSE(ck.single_file) << name;
  }
}

TEST(Checkpoint, Sd15FolderComponents) {
  const Checkpoint ck = open_checkpoint(fixtures_dir() / "models/sd15");
  ASSERT_TRUE(ck.unet && ck.vae && ck.text_encoder);
  EXPECT_FALSE(ck.text_encoder_2);
  EXPECT_FALSE(ck.taesd);
  EXPECT_EQ(ck.tokenizer_dir, fixtures_dir() / "models/sd15/tokenizer");
  EXPECT_TRUE(ck.tokenizer_2_dir.empty());
  EXPECT_EQ(ck.scheduler_config["_class_name"], "PNDMScheduler");
  EXPECT_TRUE(ck.unet->weights->info("conv_in.weight"));
  EXPECT_TRUE(ck.text_encoder->weights->info("text_model.final_layer_norm.weight"));
}

TEST(Checkpoint, SdxlFolderHasBothEncodersAndTokenizers) {
  const Checkpoint ck = open_checkpoint(fixtures_dir() / "models/sdxl");
  EXPECT_EQ(ck.family, ModelFamily::SDXL);
  ASSERT_TRUE(ck.text_encoder_2);
  EXPECT_TRUE(ck.text_encoder_2->config.with_projection);
  EXPECT_EQ(ck.tokenizer_2_dir, fixtures_dir() / "models/sdxl/tokenizer_2");
  EXPECT_EQ(ck.scheduler_config["_class_name"], "EulerDiscreteScheduler");
}

TEST(Checkpoint, AutoencoderTinyFolder) {
  const Checkpoint ck = open_checkpoint(fixtures_dir() / "models/taesd");
  EXPECT_EQ(ck.family, ModelFamily::TAESD);
  ASSERT_TRUE(ck.taesd);
  EXPECT_FALSE(ck.unet);
  EXPECT_EQ(ck.taesd->config.latent_channels, 4);
  EXPECT_FALSE(ck.taesd->weights->keys().empty());
}

// A copy of a fixture folder with every component's weights renamed to the .fp16 variant.
fs::path fp16_copy(const TempDir& dir, const std::string& model) {
  const fs::path dst = dir / model;
  fs::copy(fixtures_dir() / "models" / model, dst, fs::copy_options::recursive);
  for (const auto& entry : fs::recursive_directory_iterator(dst)) {
    fs::permissions(entry.path(), fs::perms::owner_write, fs::perm_options::add);
  }
  fs::permissions(dst, fs::perms::owner_write, fs::perm_options::add);
  for (const char* comp : {"unet", "vae", "text_encoder"}) {
    for (const char* stem : {"diffusion_pytorch_model", "model"}) {
      const fs::path f = dst / comp / (std::string(stem) + ".safetensors");
      if (fs::exists(f)) fs::rename(f, dst / comp / (std::string(stem) + ".fp16.safetensors"));
    }
  }
  return dst;
}

TEST(Checkpoint, Fp16VariantFolder) {
  TempDir dir;
  const fs::path root = fp16_copy(dir, "sd15");
  const Checkpoint ck = open_checkpoint(root);
  EXPECT_EQ(ck.family, ModelFamily::SD1);
  EXPECT_EQ(ck.unet->weights->describe(), (root / "unet/diffusion_pytorch_model.fp16.safetensors").string());
  EXPECT_EQ(ck.text_encoder->weights->describe(), (root / "text_encoder/model.fp16.safetensors").string());
}

TEST(CheckpointErrors, MissingPathIsNotFound) {
  expect_error([] { open_checkpoint("/nonexistent/sdpp/model"); }, ErrorCode::NotFound, {"/nonexistent/sdpp/model"});
}

TEST(CheckpointErrors, FolderThatIsNotAModel) {
  TempDir dir;
  write_text(dir / "readme.txt", "hello");
  expect_error([&] { open_checkpoint(dir.path()); }, ErrorCode::BadFile, {dir.path().string(), "model_index.json"});
}

TEST(CheckpointErrors, PickleCheckpointIsUnsupported) {
  TempDir dir;
  write_text(dir / "model.ckpt", "PK\x03\x04");
  expect_error([&] { open_checkpoint(dir / "model.ckpt"); }, ErrorCode::Unsupported, {"model.ckpt", ".safetensors"});
}

TEST(CheckpointErrors, ListedComponentFolderMissing) {
  TempDir dir;
  const fs::path root = fp16_copy(dir, "sd15");
  fs::remove_all(root / "vae");
  expect_error([&] { open_checkpoint(root); }, ErrorCode::NotFound, {"'vae'", (root / "vae").string()});
}

TEST(CheckpointErrors, BadConfigNamesFileAndField) {
  TempDir dir;
  const fs::path root = fp16_copy(dir, "sd15");
  write_text(root / "unet/config.json", R"({"block_out_channels": "many"})");
  expect_error([&] { open_checkpoint(root); }, ErrorCode::BadFile,
               {(root / "unet/config.json").string(), "block_out_channels"});
  write_text(root / "unet/config.json", "{not json");
  expect_error([&] { open_checkpoint(root); }, ErrorCode::BadFile, {(root / "unet/config.json").string(), "JSON"});
}

TEST(CheckpointErrors, PickleOnlyComponent) {
  TempDir dir;
  const fs::path root = fp16_copy(dir, "sd15");
  fs::remove(root / "text_encoder/model.fp16.safetensors");
  write_text(root / "text_encoder/pytorch_model.bin", "PK");
  expect_error([&] { open_checkpoint(root); }, ErrorCode::Unsupported, {"pytorch_model.bin"});
}

TEST(CheckpointErrors, CorruptWeightFileInFolder) {
  TempDir dir;
  const fs::path root = fp16_copy(dir, "sd15");
  write_text(root / "vae/diffusion_pytorch_model.fp16.safetensors", std::string("\x10\0\0\0\0\0\0\0{}", 10));
  expect_error([&] { open_checkpoint(root); }, ErrorCode::BadFile,
               {"vae/diffusion_pytorch_model.fp16.safetensors", "header length 16"});
}

}  // namespace
}  // namespace sdpp

// Kind `randn`: two successive draws of torch.randn from one seeded generator (cpu mt19937 or cuda Philox stream).
#include "core/error.h"
#include "core/rng.h"
#include "parity/kinds.h"

namespace sdpp::parity {

std::vector<Check> run_randn_case(const CaseContext& c) {
  const std::string kind = c.spec.at("generator").get<std::string>();
  if (kind != "cpu" && kind != "cuda") throw Error(ErrorCode::BadFile, "unknown generator '" + kind + "'");
  auto generator = make_generator(kind == "cpu" ? GeneratorKind::CPU : GeneratorKind::CUDA,
                                  c.spec.at("seed").get<uint64_t>());
  const Shape shape = c.spec.at("shape").get<Shape>();
  const auto expected = c.load_case_tensors();
  const Tensor first = generator->randn(shape);
  const Tensor second = generator->randn(shape);
  return {c.compare("first", first, expected.at("first")), c.compare("second", second, expected.at("second"))};
}

}  // namespace sdpp::parity

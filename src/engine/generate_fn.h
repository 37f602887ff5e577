// What a worker runs for a job: Engine::generate of the engine that owns one device (bound by `sdpp serve`), or a
// deterministic generator in tests of the queueing and HTTP layers.
#pragma once
#include <atomic>
#include <functional>
#include <string>

#include "sdpp/engine.h"

namespace sdpp::engine {

using GenerateFn = std::function<Result(const GenerationRequest&, const ProgressCallback&, const std::atomic<bool>*)>;

// PNG bytes of a preview image (the server passes the image module's encoder).
using PreviewEncoder = std::function<std::string(const Image&)>;

}  // namespace sdpp::engine

#include "backend/cuda/library_capture.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace sdpp::cuda {
namespace {

std::vector<cudaGraphNode_t> graph_nodes(cudaGraph_t graph) {
  size_t count = 0;
  SDPP_CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, &count));
  std::vector<cudaGraphNode_t> nodes(count);
  if (count) SDPP_CUDA_CHECK(cudaGraphGetNodes(graph, nodes.data(), &count));
  nodes.resize(count);
  return nodes;
}

// A node's neighbours on one side: its dependencies, or the nodes that depend on it.
std::vector<cudaGraphNode_t> neighbours(cudaGraphNode_t node, bool dependents) {
  auto query = dependents ? cudaGraphNodeGetDependentNodes : cudaGraphNodeGetDependencies;
  size_t count = 0;
  SDPP_CUDA_CHECK(query(node, nullptr, nullptr, &count));
  std::vector<cudaGraphNode_t> nodes(count);
  std::vector<cudaGraphEdgeData> edges(count);  // asked for, or edges with data make the query fail as lossy
  if (count) SDPP_CUDA_CHECK(query(node, nodes.data(), edges.data(), &count));
  nodes.resize(count);
  return nodes;
}

struct GraphDestroyer {
  void operator()(cudaGraph_t graph) const { cudaGraphDestroy(graph); }
};
// Owns a graph: destroyed on every way out, thrown or not.
using OwnedGraph = std::unique_ptr<std::remove_pointer_t<cudaGraph_t>, GraphDestroyer>;

// The call alone, captured on `scratch`; null where the capture fails.
OwnedGraph capture_alone(cudaStream_t scratch, const std::function<void(cudaStream_t)>& call) {
  if (cudaStreamBeginCapture(scratch, cudaStreamCaptureModeRelaxed) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  bool called = true;
  try {
    call(scratch);
  } catch (...) {
    called = false;
  }
  cudaGraph_t graph = nullptr;
  const bool ended = cudaStreamEndCapture(scratch, &graph) == cudaSuccess;
  OwnedGraph owned(graph);
  cudaGetLastError();  // a capture the call invalidated reports its error here; the stream is usable again
  if (!ended || !called) owned.reset();
  return owned;
}

cudaMemsetParams memset_params(cudaGraphNode_t node) {
  cudaMemsetParams params{};
  SDPP_CUDA_CHECK(cudaGraphMemsetNodeGetParams(node, &params));
  return params;
}

// The bytes a memset may touch, [first, last).
std::pair<uintptr_t, uintptr_t> memset_span(const cudaMemsetParams& m) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(m.dst);
  const size_t rows = m.height ? m.height : 1;
  return {first, first + (rows - 1) * m.pitch + m.width * m.elementSize};
}

// The memsets as chains to merge: a memset joins the chain of the one before it where it is that one's only
// dependent and depends on it alone (as a library's consecutive memsets are captured), its bytes are disjoint from
// the chain's, and the chain holds fewer than kMaxFillRegions.
std::vector<std::vector<cudaGraphNode_t>> memset_chains(const std::vector<cudaGraphNode_t>& memsets) {
  auto is_memset = [&](cudaGraphNode_t n) { return std::find(memsets.begin(), memsets.end(), n) != memsets.end(); };
  auto follows = [&](cudaGraphNode_t before, cudaGraphNode_t after) {
    const std::vector<cudaGraphNode_t> out = neighbours(before, true), in = neighbours(after, false);
    return out.size() == 1 && out[0] == after && in.size() == 1 && in[0] == before;
  };
  auto disjoint = [](const std::vector<cudaGraphNode_t>& chain, cudaGraphNode_t node) {
    const auto [first, last] = memset_span(memset_params(node));
    for (cudaGraphNode_t c : chain) {
      const auto [f, l] = memset_span(memset_params(c));
      if (first < l && f < last) return false;
    }
    return true;
  };
  std::vector<std::vector<cudaGraphNode_t>> chains;
  std::vector<cudaGraphNode_t> taken;
  for (cudaGraphNode_t head : memsets) {
    const std::vector<cudaGraphNode_t> in = neighbours(head, false);
    if (in.size() == 1 && is_memset(in[0]) && follows(in[0], head)) continue;  // walked to from its chain's head
    std::vector<cudaGraphNode_t> chain{head};
    for (;;) {
      const std::vector<cudaGraphNode_t> out = neighbours(chain.back(), true);
      if (out.size() != 1 || !is_memset(out[0]) || !follows(chain.back(), out[0])) break;
      if (chain.size() == size_t(kMaxFillRegions) || !disjoint(chain, out[0])) {
        chains.push_back(chain);  // the rest starts a chain of its own
        chain = {out[0]};
        continue;
      }
      chain.push_back(out[0]);
    }
    chains.push_back(chain);
  }
  return chains;
}

// Replaces a chain of memset nodes of `graph` (which has no allocation nodes, so nodes may go) by one fill kernel
// node with the first's dependencies and the last's dependents.
void replace_memsets(cudaGraph_t graph, const std::vector<cudaGraphNode_t>& chain) {
  std::vector<cudaMemsetParams> params;
  for (cudaGraphNode_t node : chain) params.push_back(memset_params(node));
  const std::vector<cudaGraphNode_t> deps = neighbours(chain.front(), false),
                                     dependents = neighbours(chain.back(), true);
  cudaGraphNode_t fill = nullptr;
  SDPP_CUDA_CHECK(add_fill_node(&fill, graph, deps.data(), deps.size(), params.data(), params.size()));
  for (cudaGraphNode_t d : dependents) SDPP_CUDA_CHECK(cudaGraphAddDependencies(graph, &fill, &d, nullptr, 1));
  for (cudaGraphNode_t node : chain) SDPP_CUDA_CHECK(cudaGraphDestroyNode(node));
}

}  // namespace

int record_library_call(cudaStream_t stream, cudaStream_t scratch, const std::function<void(cudaStream_t)>& call) {
  const OwnedGraph alone = capture_alone(scratch, call);
  std::vector<cudaGraphNode_t> memsets;
  if (alone)
    for (cudaGraphNode_t node : graph_nodes(alone.get())) {
      cudaGraphNodeType type{};
      SDPP_CUDA_CHECK(cudaGraphNodeGetType(node, &type));
      if (type == cudaGraphNodeTypeMemset) memsets.push_back(node);
    }
  if (memsets.empty()) {
    call(stream);
    return 0;
  }
  for (const std::vector<cudaGraphNode_t>& chain : memset_chains(memsets)) replace_memsets(alone.get(), chain);
  cudaStreamCaptureStatus status{};
  cudaGraph_t graph = nullptr;
  const cudaGraphNode_t* deps = nullptr;
  const cudaGraphEdgeData* edges = nullptr;  // asked for, or edges with data make the query fail as lossy
  size_t count = 0;
  SDPP_CUDA_CHECK(cudaStreamGetCaptureInfo(stream, &status, nullptr, &graph, &deps, &edges, &count));
  if (status != cudaStreamCaptureStatusActive)
    throw Error(ErrorCode::Internal, "record_library_call: the stream is not capturing");
  const std::vector<cudaGraphNode_t> before(deps, deps + count);
  cudaGraphNodeParams params{};
  params.type = cudaGraphNodeTypeGraph;
  params.graph.graph = alone.get();  // cloned into the node
  cudaGraphNode_t child = nullptr;
  // Full dependencies on the work before (a child-graph node takes no programmatic edge).
  SDPP_CUDA_CHECK(cudaGraphAddNode(&child, graph, before.data(), nullptr, before.size(), &params));
  SDPP_CUDA_CHECK(cudaStreamUpdateCaptureDependencies(stream, &child, nullptr, 1, cudaStreamSetCaptureDependencies));
  return int(memsets.size());
}

}  // namespace sdpp::cuda

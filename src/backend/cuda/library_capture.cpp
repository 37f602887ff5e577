#include "backend/cuda/library_capture.h"

#include <memory>
#include <type_traits>
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

// Replaces memset node `node` of `graph` (which has no allocation nodes, so nodes may go) by a fill kernel node
// with the same dependencies and dependents.
void replace_memset(cudaGraph_t graph, cudaGraphNode_t node) {
  cudaMemsetParams params{};
  SDPP_CUDA_CHECK(cudaGraphMemsetNodeGetParams(node, &params));
  const std::vector<cudaGraphNode_t> deps = neighbours(node, false), dependents = neighbours(node, true);
  cudaGraphNode_t fill = nullptr;
  SDPP_CUDA_CHECK(add_fill_node(&fill, graph, deps.data(), deps.size(), params));
  for (cudaGraphNode_t d : dependents) SDPP_CUDA_CHECK(cudaGraphAddDependencies(graph, &fill, &d, nullptr, 1));
  SDPP_CUDA_CHECK(cudaGraphDestroyNode(node));
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
  for (cudaGraphNode_t node : memsets) replace_memset(alone.get(), node);
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

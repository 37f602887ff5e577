#include "backend/init.h"

#include "backend/backend.h"

#ifdef SDPP_WITH_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace sdpp {

void init_backends() {
#ifdef SDPP_WITH_CUDA
  if (cuda_device_count() > 0) register_backend_factory(DeviceType::CUDA, make_cuda_backend);
#endif
}

int cuda_device_count() {
#ifdef SDPP_WITH_CUDA
  return cuda_visible_device_count();
#else
  return 0;
#endif
}

bool cuda_backend_compiled() {
#ifdef SDPP_WITH_CUDA
  return true;
#else
  return false;
#endif
}

void set_cuda_conv_path(const std::string& path) {
#ifdef SDPP_WITH_CUDA
  for (int i = 0; i < cuda_device_count(); ++i) set_conv_path(backend_for(Device::cuda(i)), path);
#else
  (void)path;
#endif
}

void set_cuda_attention_kernel(const std::string& kernel) {
#ifdef SDPP_WITH_CUDA
  set_attention_kernel(kernel);
#else
  (void)kernel;
#endif
}

void set_cuda_group_norm_kernel(const std::string& kernel) {
#ifdef SDPP_WITH_CUDA
  set_group_norm_kernel(kernel);
#else
  (void)kernel;
#endif
}

int cuda_cudnn_attention_version() {
#ifdef SDPP_WITH_CUDA
  return cudnn_attention_version();
#else
  return 0;
#endif
}

}  // namespace sdpp

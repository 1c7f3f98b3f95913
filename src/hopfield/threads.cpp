// Thread settings: torch via ATen, OpenBLAS through its C entry point when it is loaded.
#include "hopfield/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

namespace vqa::hopfield {

int set_compute_threads(int torch_threads, int blas_threads) {
  if (torch_threads < 1) torch_threads = 1;
  at::set_num_threads(torch_threads);
  if (blas_threads < 1) blas_threads = torch_threads;
  using SetThreads = void (*)(int);
  auto set_openblas = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (!set_openblas) return 0;
  set_openblas(blas_threads);
  return blas_threads;
}

}  // namespace vqa::hopfield

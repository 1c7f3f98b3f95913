// Thread settings for the command and benchmarks: torch intra-op threads and, when torch runs on
// OpenBLAS, the BLAS thread pool too (a second pool on top of torch's oversubscribes small cores).
#pragma once

namespace vqa::hopfield {

// Sets at::set_num_threads(torch_threads) and OpenBLAS to blas_threads (0: same as torch_threads).
// Returns the OpenBLAS thread count set, or 0 when OpenBLAS is not the BLAS in use.
int set_compute_threads(int torch_threads, int blas_threads = 0);

}  // namespace vqa::hopfield

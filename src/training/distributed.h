// Data-parallel training over processes: a process group on torch's c10d (the Gloo backend on CPU), found
// through a TCP store that rank 0 serves at the master address; gradients summed over processes; and launching
// N local worker processes of the same command. Each process takes its share of every global batch, so N
// processes compute the gradient of the same global batch that one process would.
#pragma once
#include <ATen/ATen.h>

#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace torch::nn {
class Module;
}

namespace vqa::training {

struct DistributedOptions {
  int world = 1;       // processes in all
  int rank = 0;        // this process, 0 .. world - 1
  std::string master;  // ADDR:PORT of rank 0's TCP store (world > 1)
  int timeout_seconds = 120;  // to form the group (every process must arrive)
  // How long a collective waits for the slowest process: rank 0 validates and writes checkpoints while the others
  // wait at the next one.
  int collective_timeout_seconds = 1800;
};

// Whether this build has c10d's Gloo backend (without it only world 1 works).
bool distributedAvailable();

class DataParallel {
 public:
  // World 1 needs nothing and communicates nothing. Throws std::runtime_error("--master ...: problem") for a bad
  // address, a rank out of range, a master that cannot be reached in time, or a build without Gloo.
  explicit DataParallel(const DistributedOptions& options);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int rank() const { return rank_; }
  int world() const { return world_; }
  bool leader() const { return rank_ == 0; }
  // Throws std::runtime_error("--batch-size: ...") when a global batch of `batch_size` rows leaves a process
  // without any.
  void checkBatch(int batch_size) const;
  // `log` on rank 0; a stream that prints nothing on the other ranks.
  std::ostream& leaderLog(std::ostream& log) { return leader() ? log : silent_; }

  // This process's rows [begin, end) of a global batch of n rows (contiguous shares, in rank order).
  std::pair<size_t, size_t> share(size_t n) const;
  // Sums over the processes.
  double sum(double value);
  void sumInPlace(const at::Tensor& tensor);
  // Sums the gradients of every parameter of `module` over the processes (one flattened buffer).
  void sumGradients(torch::nn::Module& module);
  // Every parameter and buffer of `module` becomes rank 0's.
  void broadcastModule(torch::nn::Module& module);

 private:
  struct Group;
  int rank_ = 0, world_ = 1;
  std::unique_ptr<Group> group_;
  std::ostream silent_{nullptr};
};

// Runs the command `argv` (argv[0] the executable) as `nproc` local processes, each with `--rank R --world N
// --master 127.0.0.1:PORT` appended (a free port), and waits for them: returns 0 when every one succeeds, else
// the first failure's exit status (the others are stopped). Throws std::runtime_error when nproc is below 1 or
// above this machine's cores.
int runLocalWorkers(const std::vector<std::string>& argv, int nproc);

}  // namespace vqa::training

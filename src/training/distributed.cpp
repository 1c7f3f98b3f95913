// Data-parallel training over processes: c10d's ProcessGroupGloo over a TCPStore, and local worker launching.
#include "training/distributed.h"

#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#ifdef VQA_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

extern char** environ;

namespace vqa::training {

bool distributedAvailable() {
#ifdef VQA_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

struct DataParallel::Group {
#ifdef VQA_HAVE_GLOO
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
#endif
};

namespace {

std::pair<std::string, int> splitAddress(const std::string& master) {
  const size_t colon = master.rfind(':');
  const auto fail = [&](const std::string& why) { return std::runtime_error("--master " + master + ": " + why); };
  if (colon == std::string::npos || colon == 0) throw fail("must be ADDR:PORT");
  int port = 0;
  try {
    size_t used = 0;
    port = std::stoi(master.substr(colon + 1), &used);
    if (used != master.size() - colon - 1) throw std::invalid_argument("port");
  } catch (const std::exception&) {
    throw fail("the port is not a number");
  }
  if (port < 1 || port > 65535) throw fail("the port must be in [1, 65535]");
  return {master.substr(0, colon), port};
}

}  // namespace

DataParallel::DataParallel(const DistributedOptions& o) : rank_(o.rank), world_(o.world) {
  if (o.world < 1) throw std::runtime_error("--world: must be at least 1");
  if (o.rank < 0 || o.rank >= o.world)
    throw std::runtime_error("--rank: must be in [0, " + std::to_string(o.world - 1) + "] (got " + std::to_string(o.rank) + ")");
  if (o.world == 1) return;
  if (o.master.empty()) throw std::runtime_error("--master ADDR:PORT is needed with --world above 1");
  const auto [host, port] = splitAddress(o.master);
#ifdef VQA_HAVE_GLOO
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(port);
    store_options.isServer = o.rank == 0;
    store_options.numWorkers = static_cast<size_t>(o.world);
    store_options.waitWorkers = true;
    store_options.timeout = std::chrono::seconds(o.timeout_seconds);
    auto store = c10::make_intrusive<c10d::TCPStore>(host, store_options);
    auto options = c10d::ProcessGroupGloo::Options::create(std::chrono::seconds(o.collective_timeout_seconds));
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
    options->threads = 1;
    group_ = std::make_unique<Group>();
    group_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, o.rank, o.world, options);
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    throw std::runtime_error("--master " + o.master + ": cannot form the process group (" + what + ")");
  }
#else
  throw std::runtime_error("--world: this build has no distributed backend (install libgloo-dev and rebuild)");
#endif
}

DataParallel::~DataParallel() = default;

void DataParallel::checkBatch(int batch_size) const {
  if (batch_size < world_)
    throw std::runtime_error("--batch-size: " + std::to_string(batch_size) + " is smaller than the " +
                             std::to_string(world_) + " processes");
}

std::pair<size_t, size_t> DataParallel::share(size_t n) const {
  const size_t w = static_cast<size_t>(world_), r = static_cast<size_t>(rank_);
  return {n * r / w, n * (r + 1) / w};
}

void DataParallel::sumInPlace(const at::Tensor& tensor) {
  if (world_ == 1) return;
#ifdef VQA_HAVE_GLOO
  std::vector<at::Tensor> tensors{tensor};
  group_->group->allreduce(tensors)->wait();
#endif
}

double DataParallel::sum(double value) {
  if (world_ == 1) return value;
  at::Tensor t = at::full({1}, value, at::kDouble);
  sumInPlace(t);
  return t.item<double>();
}

void DataParallel::sumGradients(torch::nn::Module& module) {
  if (world_ == 1) return;
  std::vector<at::Tensor> grads;
  for (auto& p : module.parameters()) {
    if (!p.requires_grad()) continue;
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    grads.push_back(p.grad());
  }
  if (grads.empty()) return;
  std::vector<at::Tensor> flat_parts;
  for (const auto& g : grads) flat_parts.push_back(g.reshape({-1}));
  at::Tensor flat = at::cat(flat_parts);
  sumInPlace(flat);
  int64_t offset = 0;
  for (auto& g : grads) {
    g.copy_(flat.narrow(0, offset, g.numel()).view_as(g));
    offset += g.numel();
  }
}

void DataParallel::broadcastModule(torch::nn::Module& module) {
  if (world_ == 1) return;
#ifdef VQA_HAVE_GLOO
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> tensors;
  for (auto& p : module.parameters()) tensors.push_back(p);
  for (auto& b : module.buffers()) tensors.push_back(b);
  for (auto& t : tensors) {
    std::vector<at::Tensor> one{t};
    group_->group->broadcast(one)->wait();
  }
#else
  (void)module;
#endif
}

int runLocalWorkers(const std::vector<std::string>& argv, int nproc) {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  if (nproc < 1) throw std::runtime_error("--nproc: must be at least 1");
  if (cores > 0 && nproc > cores)
    throw std::runtime_error("--nproc: " + std::to_string(nproc) + " processes is more than this machine's " +
                             std::to_string(cores) + " cores");
  if (!distributedAvailable() && nproc > 1)
    throw std::runtime_error("--nproc: this build has no distributed backend (install libgloo-dev and rebuild)");
  // A free port: bind port 0 on the loopback and read the port the system chose.
  int port = 0;
  {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      if (fd >= 0) close(fd);
      throw std::runtime_error("--nproc: no free local port for the process group");
    }
    port = ntohs(address.sin_port);
    close(fd);
  }
  std::vector<pid_t> children;
  for (int r = 0; r < nproc; ++r) {
    std::vector<std::string> args = argv;
    for (const std::string& extra : {std::string("--rank"), std::to_string(r), std::string("--world"),
                                     std::to_string(nproc), std::string("--master"),
                                     "127.0.0.1:" + std::to_string(port)})
      args.push_back(extra);
    std::vector<char*> c_args;
    for (auto& a : args) c_args.push_back(a.data());
    c_args.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, c_args.data(), environ) != 0) {
      for (pid_t c : children) kill(c, SIGTERM);
      throw std::runtime_error("--nproc: cannot start worker process " + std::to_string(r));
    }
    children.push_back(pid);
  }
  int failure = 0;
  for (size_t done = 0; done < children.size(); ++done) {
    int status = 0;
    const pid_t pid = wait(&status);
    if (pid < 0) break;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (code != 0 && failure == 0) {
      failure = code;
      for (pid_t c : children)
        if (c != pid) kill(c, SIGTERM);  // the others would wait for it in the next collective
    }
  }
  return failure;
}

}  // namespace vqa::training

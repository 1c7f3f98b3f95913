// Softmax_1 as a custom autograd function (saves only its output), and the baseline associations.
#include "hopfield/association.h"

#include <torch/csrc/autograd/custom_function.h>

#include <limits>
#include <stdexcept>

namespace vqa::hopfield {

AttentionKind parse_attention_kind(const std::string& name) {
  if (name == "softmax1") return AttentionKind::Softmax1;
  if (name == "softmax") return AttentionKind::Softmax;
  if (name == "clipped") return AttentionKind::Clipped;
  if (name == "gated") return AttentionKind::Gated;
  throw std::invalid_argument("unknown attention variant '" + name + "' (expected softmax1|softmax|clipped|gated)");
}

std::string attention_kind_name(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::Softmax1: return "softmax1";
    case AttentionKind::Softmax: return "softmax";
    case AttentionKind::Clipped: return "clipped";
    case AttentionKind::Gated: return "gated";
  }
  return "?";
}

namespace {

at::Tensor softmax1_forward_values(const at::Tensor& x, int64_t dim) {
  at::Tensor m = std::get<0>(x.max(dim, /*keepdim=*/true)).clamp_min(0);
  at::Tensor e = (x - m).exp_();
  at::Tensor denom = e.sum(dim, /*keepdim=*/true).add_(m.neg().exp_());
  return e.div_(denom);
}

struct Softmax1Function : public torch::autograd::Function<Softmax1Function> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t dim) {
    at::Tensor y = softmax1_forward_values(x, dim);
    ctx->save_for_backward({y});
    ctx->saved_data["dim"] = dim;
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const at::Tensor y = ctx->get_saved_variables()[0];
    const int64_t dim = ctx->saved_data["dim"].toInt();
    // y * (g - <g, y>) is exactly the softmax backward formula, so ATen's fused kernel computes it.
    at::Tensor gx = at::_softmax_backward_data(grad_outputs[0].contiguous(), y, dim, y.scalar_type());
    return {gx, at::Tensor()};
  }
};

}  // namespace

at::Tensor softmax1(const at::Tensor& x, int64_t dim) {
  if (x.dim() == 0) return Softmax1Function::apply(x, 0);
  return Softmax1Function::apply(x, dim < 0 ? dim + x.dim() : dim);
}

at::Tensor softmax1_by_padding(const at::Tensor& x, int64_t dim) {
  dim = dim < 0 ? dim + x.dim() : dim;
  std::vector<int64_t> zero_shape = x.sizes().vec();
  zero_shape[dim] = 1;
  at::Tensor padded = at::cat({x, at::zeros(zero_shape, x.options())}, dim);
  return at::softmax(padded, dim).narrow(dim, 0, x.size(dim));
}

at::Tensor clipped_softmax(const at::Tensor& x, int64_t dim, double gamma, double zeta) {
  return at::clamp((zeta - gamma) * at::softmax(x, dim) + gamma, 0.0, 1.0);
}

at::Tensor associate(const at::Tensor& scores, int64_t dim, const AssociationOptions& options) {
  switch (options.kind) {
    case AttentionKind::Softmax1: return softmax1(scores, dim);
    case AttentionKind::Clipped: return clipped_softmax(scores, dim, options.clip_gamma, options.clip_zeta);
    case AttentionKind::Softmax:
    case AttentionKind::Gated: return at::softmax(scores, dim);
  }
  return at::softmax(scores, dim);
}

double masked_score_value(at::ScalarType dtype) {
  switch (dtype) {
    case at::kDouble: return std::numeric_limits<double>::lowest();
    case at::kHalf: return -65504.0;
    case at::kBFloat16: return -3.38e38;
    default: return std::numeric_limits<float>::lowest();
  }
}

}  // namespace vqa::hopfield

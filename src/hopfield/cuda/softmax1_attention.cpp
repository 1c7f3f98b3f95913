// Dispatch between the fused CUDA Softmax_1 attention (custom autograd function around the kernels in
// softmax1_attention_kernel.cu) and the unfused ATen path.
#include "hopfield/cuda/softmax1_attention.h"

#include "hopfield/association.h"

#ifdef VQA_HOPFIELD_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/csrc/autograd/custom_function.h>

#include "hopfield/cuda/softmax1_attention_kernel.h"
#endif

namespace vqa::hopfield {

at::Tensor softmax1_attention_unfused(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                      const at::Tensor& key_padding_mask, double beta) {
  at::Tensor scores = beta * at::matmul(q, k.transpose(-2, -1));
  if (key_padding_mask.defined()) {
    at::Tensor mask = key_padding_mask.to(at::kBool).view({q.size(0), 1, 1, k.size(2)});
    scores = scores.masked_fill(mask, masked_score_value(scores.scalar_type()));
  }
  return at::matmul(softmax1(scores, -1), v);
}

#ifdef VQA_HOPFIELD_CUDA
namespace {

struct FusedSoftmax1Attention : public torch::autograd::Function<FusedSoftmax1Attention> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q_in, const at::Tensor& k_in,
                            const at::Tensor& v_in, const at::Tensor& mask_in, double beta) {
    c10::cuda::CUDAGuard guard(q_in.device());
    at::Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    at::Tensor mask = mask_in.defined() ? mask_in.to(at::kByte).contiguous() : at::Tensor();
    const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3), S = k.size(2), Dv = v.size(3);
    at::Tensor out = at::empty({B, H, T, Dv}, q.options());
    at::Tensor row_max = at::empty({B, H, T}, q.options());    // m = max(max_j s_j, 0)
    at::Tensor row_denom = at::empty({B, H, T}, q.options());  // exp(-m) + sum_j exp(s_j - m)
    cuda::softmax1_attention_forward(q.data_ptr<float>(), k.data_ptr<float>(), v.data_ptr<float>(),
                                     mask.defined() ? mask.data_ptr<uint8_t>() : nullptr, out.data_ptr<float>(),
                                     row_max.data_ptr<float>(), row_denom.data_ptr<float>(), B, H, T, S, D, Dv,
                                     static_cast<float>(beta), c10::cuda::getCurrentCUDAStream().stream());
    ctx->save_for_backward({q, k, v, out, row_max, row_denom});
    ctx->saved_data["beta"] = beta;
    ctx->saved_data["has_mask"] = mask.defined();
    if (mask.defined()) ctx->saved_data["mask"] = mask;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &out = saved[3], &row_max = saved[4],
                     &row_denom = saved[5];
    c10::cuda::CUDAGuard guard(q.device());
    const double beta = ctx->saved_data["beta"].toDouble();
    at::Tensor mask = ctx->saved_data["has_mask"].toBool() ? ctx->saved_data["mask"].toTensor() : at::Tensor();
    at::Tensor grad_out = grad_outputs[0].contiguous();
    const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3), S = k.size(2), Dv = v.size(3);
    // delta_t = <dO_t, O_t>: the <g, y> term of the Softmax_1 Jacobian (the zero slot retrieves 0).
    at::Tensor delta = (grad_out * out).sum(-1).contiguous();
    at::Tensor grad_q = at::zeros_like(q), grad_k = at::zeros_like(k), grad_v = at::zeros_like(v);
    cuda::softmax1_attention_backward(q.data_ptr<float>(), k.data_ptr<float>(), v.data_ptr<float>(),
                                      mask.defined() ? mask.data_ptr<uint8_t>() : nullptr, grad_out.data_ptr<float>(),
                                      row_max.data_ptr<float>(), row_denom.data_ptr<float>(), delta.data_ptr<float>(),
                                      grad_q.data_ptr<float>(), grad_k.data_ptr<float>(), grad_v.data_ptr<float>(), B,
                                      H, T, S, D, Dv, static_cast<float>(beta), c10::cuda::getCurrentCUDAStream().stream());
    return {grad_q, grad_k, grad_v, at::Tensor(), at::Tensor()};
  }
};

bool fused_kernel_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  return q.is_cuda() && k.is_cuda() && v.is_cuda() && q.scalar_type() == at::kFloat &&
         k.scalar_type() == at::kFloat && v.scalar_type() == at::kFloat && q.dim() == 4 && k.dim() == 4 &&
         v.dim() == 4 && q.size(3) <= cuda::kMaxHeadSize && v.size(3) <= cuda::kMaxHeadSize &&
         q.size(2) <= cuda::kMaxSequence && k.size(2) <= cuda::kMaxSequence &&
         q.size(0) * q.size(1) <= cuda::kMaxBatchHeads && q.size(2) > 0 && k.size(2) > 0;
}

}  // namespace
#endif

at::Tensor softmax1_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const at::Tensor& key_padding_mask, double beta) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "softmax1_attention: q, k, v must be [B, H, len, dim]");
  TORCH_CHECK(q.size(3) == k.size(3) && k.size(2) == v.size(2), "softmax1_attention: shape mismatch");
#ifdef VQA_HOPFIELD_CUDA
  if (fused_kernel_applies(q, k, v)) {
    at::Tensor mask = key_padding_mask.defined() ? key_padding_mask.to(q.device()) : at::Tensor();
    return FusedSoftmax1Attention::apply(q, k, v, mask, beta);
  }
#endif
  return softmax1_attention_unfused(q, k, v, key_padding_mask, beta);
}

bool fused_softmax1_attention_compiled() {
#ifdef VQA_HOPFIELD_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace vqa::hopfield

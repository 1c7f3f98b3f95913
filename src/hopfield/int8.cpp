// Int8 linear, convolution and matmul: engine kernels via the op dispatcher (quantized::linear_prepack, the packed
// object's apply / apply_dynamic), and a reference path with exact int32 accumulation.
#include "hopfield/int8.h"

#include <ATen/native/quantized/PackedParams.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <mutex>

namespace vqa::hopfield {

std::vector<std::string> available_int8_engines() {
  std::vector<std::string> names;
  for (at::QEngine engine : at::globalContext().supportedQEngines()) {
    if (engine == at::QEngine::NoQEngine) continue;
    std::string name = c10::toString(engine);
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    names.push_back(name);
  }
  return names;
}

at::Tensor quantize_codes(const at::Tensor& x, const QuantParams& params) {
  return at::clamp(at::round(x.to(at::kFloat) / params.scale) + static_cast<double>(params.zero_point),
                   static_cast<double>(params.qmin), static_cast<double>(params.qmax))
      .to(at::kInt);
}

namespace {

// Integer GEMM with int32 accumulation. Products of 8-bit codes are below 2^16 and k is far below 2^15
// here, so the int32 sums are exact.
at::Tensor int32_matmul(const at::Tensor& a_codes, const at::Tensor& b_codes) {
  return at::matmul(a_codes, b_codes);
}

class ReferenceInt8Linear : public Int8Linear {
 public:
  ReferenceInt8Linear(const at::Tensor& weight, const at::Tensor& bias) : bias_(bias) {
    WeightCodes w = quantize_weight_codes(weight, /*per_channel=*/false);
    weight_scale_ = w.scales.item<double>();
    weight_codes_t_ = w.codes.to(at::kInt).t().contiguous();  // [in, out]
  }
  at::Tensor forward(const at::Tensor& x) override {
    double lo = x.min().item<double>(), hi = x.max().item<double>();
    return run(x, asymmetric_params(lo, hi));
  }
  at::Tensor forward(const at::Tensor& x, const QuantParams& input, const QuantParams& output) override {
    return fake_quantize(run(x, input), output);
  }
  std::string backend_name() const override { return "reference-int32"; }

 private:
  at::Tensor run(const at::Tensor& x, const QuantParams& in) {
    at::Tensor codes = quantize_codes(x, in) - static_cast<int>(in.zero_point);
    at::Tensor acc = int32_matmul(codes, weight_codes_t_);
    at::Tensor y = acc.to(at::kFloat) * static_cast<float>(in.scale * weight_scale_);
    if (bias_.defined()) y = y + bias_;
    return y;
  }
  at::Tensor bias_;
  double weight_scale_ = 1.0;
  at::Tensor weight_codes_t_;
};

c10::intrusive_ptr<LinearPackedParamsBase> prepack(const at::Tensor& weight_q, const at::Tensor& bias) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("quantized::linear_prepack", "")
                       .typed<c10::intrusive_ptr<LinearPackedParamsBase>(at::Tensor, c10::optional<at::Tensor>)>();
  c10::optional<at::Tensor> b;
  if (bias.defined()) b = bias.to(at::kFloat).contiguous();
  return op.call(weight_q, b);
}

// Packs lazily and separately for the static and dynamic kernels (one ONEDNN packed object must not
// serve both).
class EngineInt8Linear : public Int8Linear {
 public:
  EngineInt8Linear(const at::Tensor& weight, const at::Tensor& bias, std::string engine)
      : bias_(bias), engine_(std::move(engine)) {
    WeightCodes w = quantize_weight_codes(weight, /*per_channel=*/false);
    weight_q_ = at::_make_per_tensor_quantized_tensor(w.codes, w.scales.item<double>(), 0);
    dynamic_ = prepack(weight_q_, bias_);
  }
  at::Tensor forward(const at::Tensor& x) override {
    if (!dynamic_) dynamic_ = prepack(weight_q_, bias_);
    at::Tensor x2 = x.reshape({-1, x.size(-1)}).contiguous();
    at::Tensor y = dynamic_->apply_dynamic(x2, /*reduce_range=*/false);
    return reshape_back(y, x);
  }
  at::Tensor forward(const at::Tensor& x, const QuantParams& input, const QuantParams& output) override {
    if (!static_) static_ = prepack(weight_q_, bias_);
    at::Tensor x2 = x.reshape({-1, x.size(-1)}).contiguous();
    at::Tensor xq = at::quantize_per_tensor(x2, input.scale, input.zero_point, at::kQUInt8);
    at::Tensor yq = static_->apply(xq, output.scale, output.zero_point);
    return reshape_back(yq.dequantize(), x);
  }
  std::string backend_name() const override { return engine_; }

 private:
  static at::Tensor reshape_back(const at::Tensor& y, const at::Tensor& x) {
    std::vector<int64_t> shape = x.sizes().vec();
    shape.back() = y.size(-1);
    return y.reshape(shape);
  }
  at::Tensor bias_;
  std::string engine_;
  at::Tensor weight_q_;
  c10::intrusive_ptr<LinearPackedParamsBase> static_, dynamic_;
};

// Selects the first usable engine once per process (x86/fbgemm, then onednn, then qnnpack): an engine
// counts as usable when a small weight packs and runs on it.
std::string choose_engine() {
  static std::once_flag once;
  static std::string chosen;
  std::call_once(once, [] {
    const auto& supported = at::globalContext().supportedQEngines();
    const at::QEngine previous = at::globalContext().qEngine();
    for (const char* preferred : {"x86", "fbgemm", "onednn", "qnnpack"}) {
      for (at::QEngine engine : supported) {
        std::string name = c10::toString(engine);
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (name != preferred) continue;
        try {
          at::globalContext().setQEngine(engine);
          at::Tensor w = at::quantize_per_tensor(at::ones({4, 4}), 0.1, 0, at::kQInt8);
          prepack(w, at::Tensor())->apply_dynamic(at::ones({2, 4}), false);
          chosen = name;
          return;
        } catch (const std::exception&) {
        }
      }
    }
    try {
      at::globalContext().setQEngine(previous);
    } catch (const std::exception&) {
    }
  });
  return chosen;
}

// Convolution on integer codes: float64 holds every int32 partial sum exactly, so this is the exact
// integer result (the slow path the engine kernels are checked against).
class ReferenceInt8Conv2d : public Int8Conv2d {
 public:
  ReferenceInt8Conv2d(const at::Tensor& weight, const at::Tensor& bias, const Conv2dGeometry& g)
      : bias_(bias), geometry_(g) {
    WeightCodes w = quantize_weight_codes(weight, /*per_channel=*/true);
    codes_ = w.codes.to(at::kDouble);
    scales_ = w.scales.to(at::kDouble);
  }
  at::Tensor forward(const at::Tensor& x, const QuantParams& input, const QuantParams& output, bool relu) override {
    at::Tensor codes = (quantize_codes(x, input) - static_cast<int>(input.zero_point)).to(at::kDouble);
    at::Tensor acc = at::conv2d(codes, codes_, {}, geometry_.stride, geometry_.padding, geometry_.dilation);
    at::Tensor y = (acc * (scales_ * input.scale).view({1, -1, 1, 1})).to(at::kFloat);
    if (bias_.defined()) y = y + bias_.view({1, -1, 1, 1});
    if (relu) y = at::relu(y);
    return fake_quantize(y, output);
  }
  std::string backend_name() const override { return "reference-int32"; }

 private:
  at::Tensor bias_;
  Conv2dGeometry geometry_;
  at::Tensor codes_, scales_;
};

c10::intrusive_ptr<ConvPackedParamsBase<2>> prepack_conv(const at::Tensor& weight_q, const at::Tensor& bias,
                                                          const Conv2dGeometry& g) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("quantized::conv2d_prepack", "")
                       .typed<c10::intrusive_ptr<ConvPackedParamsBase<2>>(
                           at::Tensor, c10::optional<at::Tensor>, torch::List<int64_t>, torch::List<int64_t>,
                           torch::List<int64_t>, int64_t)>();
  c10::optional<at::Tensor> b;
  if (bias.defined()) b = bias.to(at::kFloat).contiguous();
  return op.call(weight_q, b, torch::List<int64_t>({g.stride, g.stride}), torch::List<int64_t>({g.padding, g.padding}),
                 torch::List<int64_t>({g.dilation, g.dilation}), 1);
}

class EngineInt8Conv2d : public Int8Conv2d {
 public:
  EngineInt8Conv2d(const at::Tensor& weight, const at::Tensor& bias, const Conv2dGeometry& g, std::string engine)
      : engine_(std::move(engine)) {
    WeightCodes w = quantize_weight_codes(weight, /*per_channel=*/true);
    at::Tensor q = at::_make_per_channel_quantized_tensor(w.codes, w.scales.to(at::kDouble),
                                                          at::zeros({w.scales.size(0)}, at::kLong), 0);
    packed_ = prepack_conv(q, bias, g);
  }
  at::Tensor forward(const at::Tensor& x, const QuantParams& input, const QuantParams& output, bool relu) override {
    at::Tensor xq = at::quantize_per_tensor(x.contiguous(), input.scale, input.zero_point, at::kQUInt8);
    at::Tensor yq = relu ? packed_->apply_relu(xq, output.scale, output.zero_point)
                         : packed_->apply(xq, output.scale, output.zero_point);
    return yq.dequantize();
  }
  std::string backend_name() const override { return engine_; }

 private:
  std::string engine_;
  c10::intrusive_ptr<ConvPackedParamsBase<2>> packed_;
};

}  // namespace

WeightCodes quantize_weight_codes(const at::Tensor& weight, bool per_channel) {
  at::Tensor w = weight.detach().to(at::kFloat);
  // The scales of fake_quantize_weight, so dequantized codes equal the fake-quantized weight.
  at::Tensor scales = symmetric_weight_scales(w, per_channel);
  std::vector<int64_t> view(static_cast<size_t>(w.dim()), 1);
  view[0] = scales.numel();
  at::Tensor codes = at::clamp(at::round(w / scales.view(view)), -127, 127).to(at::kChar);
  return {codes, scales};
}

at::Tensor dequantize_weight_codes(const WeightCodes& w) {
  std::vector<int64_t> view(static_cast<size_t>(w.codes.dim()), 1);
  view[0] = w.scales.numel();
  return w.codes.to(at::kFloat) * w.scales.to(at::kFloat).view(view);
}

namespace {

// The engine layer when the backend allows one and an engine packs it (Auto falls back to the reference
// layer, Engine makes a missing or failing engine an error), else the reference layer.
template <class Layer, class MakeEngine, class MakeReference>
std::shared_ptr<Layer> engine_or_reference(Int8Backend backend, const char* what, MakeEngine make_engine,
                                           MakeReference make_reference) {
  if (backend != Int8Backend::Reference) {
    std::string engine = choose_engine();
    TORCH_CHECK(!engine.empty() || backend != Int8Backend::Engine, "no int8 engine in this LibTorch");
    if (!engine.empty()) {
      try {
        return make_engine(engine);
      } catch (const std::exception&) {
        TORCH_CHECK(backend != Int8Backend::Engine, "no usable int8 engine for ", what);
      }
    }
  }
  return make_reference();
}

at::Tensor float_copy(const at::Tensor& t) {
  return t.defined() ? t.detach().to(at::kFloat).contiguous() : at::Tensor();
}

}  // namespace

std::shared_ptr<Int8Conv2d> Int8Conv2d::create(const at::Tensor& weight, const at::Tensor& bias,
                                               const Conv2dGeometry& geometry, Int8Backend backend) {
  at::Tensor w = float_copy(weight), b = float_copy(bias);
  return engine_or_reference<Int8Conv2d>(
      backend, "convolutions",
      [&](const std::string& engine) { return std::make_shared<EngineInt8Conv2d>(w, b, geometry, engine); },
      [&] { return std::make_shared<ReferenceInt8Conv2d>(w, b, geometry); });
}

std::shared_ptr<Int8Linear> Int8Linear::create(const at::Tensor& weight, const at::Tensor& bias,
                                               Int8Backend backend) {
  at::Tensor w = float_copy(weight), b = float_copy(bias);
  return engine_or_reference<Int8Linear>(
      backend, "linear layers", [&](const std::string& engine) { return std::make_shared<EngineInt8Linear>(w, b, engine); },
      [&] { return std::make_shared<ReferenceInt8Linear>(w, b); });
}

at::Tensor int8_matmul(const at::Tensor& a, const QuantParams& a_params, const at::Tensor& b,
                       const QuantParams& b_params) {
  at::Tensor a_codes = quantize_codes(a, a_params) - static_cast<int>(a_params.zero_point);
  at::Tensor b_codes = quantize_codes(b, b_params) - static_cast<int>(b_params.zero_point);
  at::Tensor acc = int32_matmul(a_codes, b_codes);
  return acc.to(at::kFloat) * static_cast<float>(a_params.scale * b_params.scale);
}

}  // namespace vqa::hopfield

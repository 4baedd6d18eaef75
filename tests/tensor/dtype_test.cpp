// Run-time dtypes: factories and TensorOptions, typed access, PyTorch's type promotion,
// comparisons to bool, bfloat16/float16 storage and conversions, and autograd across dtypes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <random>
#include <sstream>

#include "tinyxf/tinyxf.hpp"

using namespace tinyxf;

#ifndef TINYXF_TEST_DEVICE
#define TINYXF_TEST_DEVICE cpu
#endif
static const Device dev = Device::TINYXF_TEST_DEVICE();

TEST_CASE("dtype names, sizes, constants and categories", "[dtype]") {
  CHECK(kFloat == kFloat32);
  CHECK(kDouble == kFloat64);
  CHECK(kHalf == kFloat16);
  CHECK(kLong == kInt64);
  CHECK(kInt == kInt32);
  CHECK(kByte == kUInt8);
  CHECK(std::string(dtype_name(kBFloat16)) == "bfloat16");
  CHECK(std::string(dtype_name(kFloat16)) == "float16");
  CHECK(std::string(dtype_name(kBool)) == "bool");
  CHECK(dtype_size(kBFloat16) == 2);
  CHECK(dtype_size(kFloat16) == 2);
  CHECK(dtype_size(kBool) == 1);
  CHECK(is_floating_point(kBFloat16));
  CHECK(is_floating_point(kFloat16));
  CHECK_FALSE(is_floating_point(kBool));
  CHECK_FALSE(is_floating_point(kInt64));
  CHECK(dtype_v<BFloat16> == kBFloat16);
  CHECK(dtype_v<Half> == kFloat16);
  CHECK(dtype_v<bool> == kBool);
}

TEST_CASE("factories take TensorOptions; the default dtype is float32", "[dtype]") {
  CHECK(Tensor::zeros({2}).dtype() == kFloat32);
  CHECK(Tensor::zeros({2}, dev).dtype() == kFloat32);
  CHECK(Tensor::zeros({2}, kFloat64).dtype() == kFloat64);
  CHECK(Tensor::randn({3}, kFloat64).dtype() == kFloat64);
  CHECK(Tensor::arange(3).dtype() == kFloat32);
  CHECK(Tensor::arange(3, kInt64).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2});
  auto t = Tensor::ones({2, 2}, TensorOptions().dtype(kFloat64).device(Device::reference()).requires_grad(true));
  CHECK(t.dtype() == kFloat64);
  CHECK(t.device() == Device::reference());
  CHECK(t.requires_grad());
  CHECK(t.scalar_type() == kFloat64);
  CHECK(t.options().dtype() == kFloat64);
  CHECK(Tensor::from_vector(std::vector<double>{1, 2}).dtype() == kFloat64);
  CHECK(Tensor::from_vector(std::vector<std::int32_t>{1, 2}).dtype() == kInt32);
  // An explicit dtype converts the values.
  CHECK(Tensor::from_vector(std::vector<double>{1.5, 2}, kFloat32).to_vector<float>() == std::vector<float>{1.5f, 2});
  CHECK(Tensor::full({2}, 7, TensorOptions(dev).dtype(kInt32)).to_vector<std::int32_t>() == std::vector<std::int32_t>{7, 7});
  CHECK_THROWS_AS(Tensor::rand({2}, kInt64), DTypeError);
}

TEST_CASE("typed access checks the dtype", "[dtype]") {
  auto f = Tensor::from_vector(std::vector<float>{1.5f, -2.0f}, dev);
  CHECK(f.data<float>()[0] == 1.5f);
  CHECK(f.data_ptr<float>() == f.data<float>());
  CHECK_THROWS_AS(f.data<double>(), DTypeError);
  CHECK_THROWS_WITH(f.data<double>(), Catch::Contains("float64") && Catch::Contains("float32"));
  CHECK_THROWS_WITH(f.to_vector<double>(), Catch::Contains("float64") && Catch::Contains("float32"));
  CHECK_THROWS_AS(f.at<std::int64_t>({0}), DTypeError);
  CHECK(f.at<float>({1}) == -2.0f);
  // item<T> converts from any dtype, as torch's item<T>().
  CHECK(Tensor::scalar(2.75, kFloat64).item() == 2.75);
  CHECK(Tensor::scalar(2.75, kFloat64).item<float>() == 2.75f);
  CHECK(Tensor::scalar(-3, kInt64).item<std::int64_t>() == -3);
  CHECK(Tensor::scalar(2.75, kFloat64).item<std::int64_t>() == 2);
  CHECK(Tensor::scalar(1.5, kBFloat16).item() == 1.5);
  CHECK(Tensor::scalar(3, kBool).item<bool>());
}

TEST_CASE("type promotion follows torch.result_type", "[dtype]") {
  CHECK(promote_types(kBool, kUInt8) == kUInt8);
  CHECK(promote_types(kUInt8, kInt32) == kInt32);
  CHECK(promote_types(kInt32, kInt64) == kInt64);
  CHECK(promote_types(kInt64, kFloat32) == kFloat32);
  CHECK(promote_types(kInt64, kFloat16) == kFloat16);
  CHECK(promote_types(kFloat16, kBFloat16) == kFloat32);
  CHECK(promote_types(kBFloat16, kFloat32) == kFloat32);
  CHECK(promote_types(kFloat32, kFloat64) == kFloat64);
  CHECK(promote_types(kBool, kBool) == kBool);

  auto f32 = Tensor::from_vector(std::vector<float>{1.5f, 2.0f}, dev);
  auto f64 = Tensor::from_vector(std::vector<double>{0.25, 4.0}, dev);
  auto i64 = Tensor::from_vector(std::vector<std::int64_t>{3, -4}, dev);
  auto i32 = Tensor::from_vector(std::vector<std::int32_t>{1, 2}, dev);
  auto sum64 = f32 + f64;
  CHECK(sum64.dtype() == kFloat64);
  CHECK(sum64.to_vector<double>() == std::vector<double>{1.75, 6.0});
  CHECK((i64 + f32).dtype() == kFloat32);
  CHECK((i64 * i32).dtype() == kInt64);
  CHECK((i64 * i32).to_vector<std::int64_t>() == std::vector<std::int64_t>{3, -8});
  // A double scalar keeps a floating tensor's dtype; an integer tensor keeps its own for an
  // integral value and goes to float32 for a fractional one.
  CHECK((f64 * 2.5).dtype() == kFloat64);
  CHECK((f32 * 2.5).dtype() == kFloat32);
  CHECK((i64 + 1).dtype() == kInt64);
  CHECK((i64 + 1).to_vector<std::int64_t>() == std::vector<std::int64_t>{4, -3});
  CHECK((i64 * 0.5).dtype() == kFloat32);
  CHECK((i64 * 0.5).to_vector<float>() == std::vector<float>{1.5f, -2.0f});
  // True division of integers gives the default float dtype; exp of an integer tensor too.
  CHECK((i64 / i32).dtype() == kFloat32);
  CHECK((i64 / i32).to_vector<float>() == std::vector<float>{3.0f, -2.0f});
  CHECK(exp(i64).dtype() == kFloat32);
  CHECK(neg(i64).dtype() == kInt64);
  CHECK(result_type(i32, f64) == kFloat64);
  CHECK(result_type(i32, 2.0) == kInt32);
  CHECK(result_type(i32, 2.5) == kFloat32);
  // Zero-dimensional tensors promote only across categories (torch.result_type).
  auto f64_scalar = Tensor::scalar(2.0, kFloat64);
  CHECK((f32 * f64_scalar).dtype() == kFloat32);
  CHECK((f32 * f64_scalar).to_vector<float>() == std::vector<float>{3.0f, 4.0f});
  CHECK((i32 * f64_scalar).dtype() == kFloat64);
  CHECK(result_type(i32, Tensor::scalar(7, kInt64)) == kInt32);
  CHECK(result_type(Tensor::scalar(1, kBool), i64) == kInt64);
  CHECK(result_type(Tensor::ones({1}, kBool), Tensor::scalar(3, kInt32)) == kInt32);
  CHECK(result_type(f64_scalar, Tensor::scalar(1.0, kFloat32)) == kFloat64);  // both zero-dim
}

TEST_CASE("comparisons give bool; where and masked_fill take bool or uint8 masks", "[dtype]") {
  auto a = Tensor::from_vector(std::vector<float>{1, 2, 3}, dev);
  auto b = Tensor::from_vector(std::vector<double>{3, 2, 1}, dev);
  auto lt_ab = lt(a, b);
  CHECK(lt_ab.dtype() == kBool);
  CHECK(lt_ab.to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 0, 0});
  CHECK(eq(a, 2.0).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 1, 0});
  CHECK(logical_not(lt_ab).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 1, 1});
  CHECK(where(lt_ab, a, Tensor::zeros({}, dev)).to_vector<float>() == std::vector<float>{1, 0, 0});
  CHECK(where(lt_ab.to(kUInt8), a, Tensor::zeros({}, dev)).to_vector<float>() == std::vector<float>{1, 0, 0});
  CHECK(masked_fill(a, gt(a, 1.5), -1.0).to_vector<float>() == std::vector<float>{1, -1, -1});
  CHECK_THROWS_AS(where(a, a, a), DTypeError);
  // Conversion to bool: nonzero is true.
  auto bools = Tensor::from_vector(std::vector<float>{0.0f, 0.5f, -2.0f, 256.0f}, dev).to(kBool);
  CHECK(bools.to_vector<std::uint8_t>() == std::vector<std::uint8_t>{0, 1, 1, 1});
  CHECK(Tensor::full({2}, 0.25, TensorOptions(dev).dtype(kBool)).to_vector<std::uint8_t>() ==
        std::vector<std::uint8_t>{1, 1});
  std::ostringstream os;
  os << lt_ab;
  CHECK_THAT(os.str(), Catch::Contains("[True, False, False]") && Catch::Contains("dtype=bool"));
}

TEST_CASE("float32 <-> bfloat16 copies agree with float_to_bf16 bit for bit, contiguous and strided", "[dtype]") {
  // Random bit patterns: every exponent, subnormals, infinities, NaNs with payloads, both signs.
  std::mt19937 rng(20261205);
  std::vector<float> values(64 * 72);
  for (float& v : values) v = std::bit_cast<float>(static_cast<std::uint32_t>(rng()));
  values[0] = std::numeric_limits<float>::infinity();
  values[1] = std::bit_cast<float>(0x7F800001u);  // a signalling NaN: stays NaN, made quiet
  values[2] = std::bit_cast<float>(0x7F7FFFFFu);  // the largest float rounds to infinity
  values[3] = std::bit_cast<float>(0x00000001u);  // the smallest subnormal rounds to zero
  const auto t = Tensor::from_vector(values, dev).reshape({64, 72});
  for (const bool strided : {false, true}) {
    const Tensor src = strided ? t.transpose(0, 1) : t;  // [72, 64], walked with a stride
    const std::vector<float> expect_src = src.contiguous().to_vector<float>();
    const Tensor bf = src.to(kBFloat16);
    const std::vector<BFloat16> got = bf.to_vector<BFloat16>();
    REQUIRE(got.size() == expect_src.size());
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < got.size(); ++i) mismatches += got[i].bits != float_to_bf16(expect_src[i]);
    CHECK(mismatches == 0);
    CHECK(got[0].bits == 0x7F80u);
    // Widening is exact: the bits move up by 16, strided too.
    const std::vector<float> wide = (strided ? bf.transpose(0, 1) : bf).to(kFloat32).to_vector<float>();
    const std::vector<BFloat16> narrow = (strided ? bf.transpose(0, 1) : bf).contiguous().to_vector<BFloat16>();
    mismatches = 0;
    for (std::size_t i = 0; i < wide.size(); ++i)
      mismatches += std::bit_cast<std::uint32_t>(wide[i]) != static_cast<std::uint32_t>(narrow[i].bits) << 16;
    CHECK(mismatches == 0);
  }
  CHECK(float_to_bf16(values[1]) == 0x7FC0u);
  CHECK(float_to_bf16(values[2]) == 0x7F80u);
  CHECK(float_to_bf16(values[3]) == 0x0000u);
}

TEST_CASE("bfloat16 and float16 storage: exact round trips, round-to-nearest-even, NaN and inf", "[dtype]") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  auto src = Tensor::from_vector(std::vector<float>{1.0f, -2.5f, 0.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, inf, nan},
                                 dev);
  auto bf = src.to(kBFloat16);
  CHECK(bf.dtype() == kBFloat16);
  CHECK(bf.element_size() == 2);
  auto back = bf.to(kFloat32).to_vector<float>();
  CHECK(back[0] == 1.0f);
  CHECK(back[1] == -2.5f);
  CHECK(back[2] == 0.0f);
  CHECK(back[3] == 1.0f);               // tie: down to even
  CHECK(back[4] == 1.0f + 0x1p-6f);     // tie: up to even
  CHECK(back[5] == inf);
  CHECK(std::isnan(back[6]));
  CHECK(bf.to_vector<BFloat16>()[1].bits == 0xC020);  // -2.5 in bfloat16

  auto h = Tensor::from_vector(std::vector<float>{1.0f + 0x1p-11f, 65504.0f, 65520.0f, 0x1p-24f, -0.0f, nan}, dev)
               .to(kFloat16);
  auto hv = h.to(kFloat64).to_vector<double>();
  CHECK(hv[0] == 1.0);      // tie: down to even
  CHECK(hv[1] == 65504.0);  // largest half
  CHECK(hv[2] == std::numeric_limits<double>::infinity());
  CHECK(hv[3] == 0x1p-24);  // smallest subnormal
  CHECK(std::signbit(hv[4]));
  CHECK(std::isnan(hv[5]));
  // Factories, fill and printing.
  auto z = Tensor::zeros({2, 2}, TensorOptions(dev).dtype(kBFloat16));
  CHECK(z.to(kFloat32).to_vector<float>() == std::vector<float>(4, 0.0f));
  CHECK(Tensor::full({3}, 0.1, kFloat16).to(kFloat32).to_vector<float>() == std::vector<float>(3, float(Half(0.1f))));
  CHECK(Tensor::ones({2}, kBFloat16).to(kInt64).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 1});
  CHECK(Tensor::randn({4}, kBFloat16).dtype() == kBFloat16);
  std::ostringstream os;
  os << Tensor::from_vector(std::vector<float>{1.5f, -2.0f}, dev).to(kBFloat16);
  CHECK_THAT(os.str(), Catch::Contains("[1.5000, -2.0000]") && Catch::Contains("dtype=bfloat16"));
}

TEST_CASE("int64 arange with bounds beyond 2^53 is exact, as torch's", "[dtype]") {
  const std::int64_t big = std::int64_t{1} << 62;
  // torch.arange(2**62, 2**62 + 5).tolist() -> [4611686018427387904, ..., 4611686018427387908] (int64)
  CHECK(Tensor::arange(big, big + 5, 1, TensorOptions(dev).dtype(kInt64)).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{big, big + 1, big + 2, big + 3, big + 4});
  // torch.arange(2**62 + 3, 2**62 - 4, -3).tolist() -> [4611686018427387907, 4611686018427387904, 4611686018427387901]
  CHECK(Tensor::arange(big + 3, big - 4, -3, kInt64).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{big + 3, big, big - 3});
  // the whole int64 range in steps of 2^62 (torch's own length formula overflows here; the values are these)
  const std::int64_t lowest = std::numeric_limits<std::int64_t>::min();
  CHECK(Tensor::arange(lowest, std::numeric_limits<std::int64_t>::max(), big, kInt64).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{lowest, lowest + big, 0, big});
  CHECK_THROWS_WITH(Tensor::arange(std::int64_t{0}, big, std::int64_t{1}, kInt64), Catch::Contains("are too many"));
  CHECK_THROWS_WITH(Tensor::arange(0, 5, 0, kInt64), Catch::Contains("step must be non-zero"));
  CHECK_THROWS_WITH(Tensor::arange(5, 0, 1, kInt64), Catch::Contains("inconsistent with the step's sign"));
  // integer bounds with a floating dtype: as before, through double
  CHECK(Tensor::arange(0, 3, 1, kFloat64).to_vector<double>() == std::vector<double>{0, 1, 2});
  // torch.arange(0, 5, 2, dtype=torch.bool): "arange_cpu" not implemented for 'Bool'
  CHECK_THROWS_AS(Tensor::arange(0, 5, 2, kBool), DTypeError);
  CHECK_THROWS_AS(Tensor::arange(0.0, 5.0, 2.0, kBool), DTypeError);
}

TEST_CASE("floating -> integer casts of NaN, inf and out-of-range values are defined: torch's CPU results", "[dtype]") {
  // v = [nan, inf, -inf, 1e20, -1e20, 3e9, -3e9, 300., -1., -300.5, 255.9, 2.**63, -2.**63, 1e10]
  // torch.tensor(v, dtype=torch.float64).to(torch.int64 / torch.int32 / torch.uint8).tolist() (torch 2.15, x86 CPU);
  // float32 gives the same. C++'s static_cast of most of these is undefined behaviour.
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const std::vector<double> v{nan, inf, -inf, 1e20, -1e20, 3e9, -3e9, 300., -1., -300.5, 255.9, 0x1p63, -0x1p63, 1e10};
  const std::int64_t i64_min = std::numeric_limits<std::int64_t>::min();
  const std::vector<std::int64_t> to_int64{i64_min, i64_min, i64_min, i64_min, i64_min, 3000000000, -3000000000,
                                           300, -1, -300, 255, i64_min, -9223372036854775807 - 1, 10000000000};
  const std::int32_t i32_min = std::numeric_limits<std::int32_t>::min();
  const std::vector<std::int32_t> to_int32{i32_min, i32_min, i32_min, i32_min, i32_min, i32_min, i32_min,
                                           300,     -1,      -300,    255,     i32_min, i32_min, i32_min};
  const std::vector<std::uint8_t> to_uint8{0, 0, 0, 0, 0, 0, 0, 44, 255, 212, 255, 0, 0, 0};
  for (const Device device : available_devices()) {
    for (const DType dtype : {kFloat64, kFloat32}) {
      INFO(device.str() << " from " << dtype_name(dtype));
      const Tensor x = Tensor::from_vector(v, device).to(dtype);
      CHECK(x.to(kInt64).to_vector<std::int64_t>() == to_int64);
      CHECK(x.to(kInt32).to_vector<std::int32_t>() == to_int32);
      CHECK(x.to(kUInt8).to_vector<std::uint8_t>() == to_uint8);
      // a strided source (every other element of [v, 0]) takes the kernels' other loop
      const Tensor strided = stack({x, Tensor::zeros(x.shape(), x.options())}, 1).select(1, 0);
      CHECK(strided.to(kInt64).to_vector<std::int64_t>() == to_int64);
      CHECK(strided.to(kUInt8).to_vector<std::uint8_t>() == to_uint8);
    }
  }
  // x.to(torch.bfloat16).to(torch.int64) for [nan, -inf, 255.9] -> [i64_min, i64_min, 256]; item() too
  const Tensor bf = Tensor::from_vector(std::vector<float>{NAN, -INFINITY, 255.9f}).to(kBFloat16);
  CHECK(bf.to(kInt64).to_vector<std::int64_t>() == std::vector<std::int64_t>{i64_min, i64_min, 256});
  CHECK(Tensor::scalar(nan, kFloat64).item<std::int64_t>() == i64_min);
  CHECK(float_to_integer<std::uint8_t>(-1.0f) == 255);
  // uint8 wraps the int64 conversion (c10's static_cast_with_inter_type), which float64 values
  // beyond int32 show: torch.tensor([4294967297., 2147483653., -2147483653., 1099511627777.,
  // -2147483649.], dtype=torch.float64).to(torch.uint8) -> [1, 5, 251, 1, 255]
  for (const Device device : available_devices()) {
    INFO(device.str());
    const Tensor big = Tensor::from_vector(std::vector<double>{4294967297., 2147483653., -2147483653., 1099511627777.,
                                                               -2147483649.}, device);
    CHECK(big.to(kUInt8).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{1, 5, 251, 1, 255});
  }
}

TEST_CASE("bfloat16/float16 elementwise ops compute in float32; matmul reads them; other kernels refuse them", "[dtype]") {
  auto a = Tensor::from_vector(std::vector<float>{1.0f, 2.0f, 3.0f}, dev).to(kBFloat16);
  auto b = Tensor::from_vector(std::vector<float>{0.5f, 0.25f, 8.0f}, dev).to(kBFloat16);
  auto s = a + b;
  CHECK(s.dtype() == kBFloat16);
  CHECK(s.to(kFloat32).to_vector<float>() == std::vector<float>{1.5f, 2.25f, 11.0f});
  CHECK((a * 2.0).dtype() == kBFloat16);
  CHECK(exp(a.to(kFloat16)).dtype() == kFloat16);
  CHECK((a.to(kFloat16) + b).dtype() == kFloat32);
  CHECK(lt(a, b).dtype() == kBool);
  // matmul multiplies the bf16 values, sums in float32 and rounds once (autocast_test.cpp).
  const Tensor p = matmul(a.reshape({1, 3}), b.reshape({3, 1}));
  CHECK(p.dtype() == kBFloat16);
  CHECK(p.item<float>() == 25.0f);
  CHECK_THROWS_AS(softmax(a, 0), DTypeError);
  CHECK_THROWS_WITH(softmax(a, 0),
                    Catch::Contains("softmax") && Catch::Contains("bfloat16") && Catch::Contains(dev.str()));
}

TEST_CASE("requires_grad needs a floating dtype; casts between floating dtypes are differentiable", "[dtype][autograd]") {
  CHECK_THROWS_AS(Tensor::ones({2}, kInt64).set_requires_grad(), DTypeError);
  CHECK_THROWS_WITH(Tensor::ones({2}, kInt64).set_requires_grad(),
                    Catch::Contains("only Tensors of floating point dtype can require gradients"));
  CHECK_THROWS_WITH(Tensor::zeros({2}, TensorOptions(kBool).requires_grad(true)), Catch::Contains("floating point"));

  auto w = Tensor::from_vector(std::vector<float>{1.0f, -2.0f, 0.5f}, dev).set_requires_grad();
  auto d = w.to(kFloat64);
  CHECK(d.requires_grad());
  sum(d * d * 3.0).to(kFloat32).backward();
  CHECK(w.grad().dtype() == kFloat32);
  CHECK(w.grad().to_vector<float>() == std::vector<float>{6.0f, -12.0f, 3.0f});
  w.zero_grad();
  // Mixed-dtype arithmetic: the float32 leaf gets a float32 gradient.
  auto v = Tensor::from_vector(std::vector<double>{2.0, 3.0, 4.0}, dev);
  sum(w * v).backward();
  CHECK(w.grad().dtype() == kFloat32);
  CHECK(w.grad().to_vector<float>() == std::vector<float>{2.0f, 3.0f, 4.0f});
  // Casting to an integer dtype ends the graph.
  CHECK_FALSE(w.to(kInt64).requires_grad());
}

TEST_CASE("Module::to(dtype) converts floating parameters; optimizers step them", "[dtype][nn]") {
  Generator gen(7);
  nn::Linear lin(3, 2);
  CHECK(lin.weight.dtype() == kFloat32);
  auto weight_handle = lin.weight;
  lin.to(kFloat64);
  CHECK(lin.weight.dtype() == kFloat64);
  CHECK(lin.bias.dtype() == kFloat64);
  CHECK(weight_handle.dtype() == kFloat64);  // handles stay valid
  CHECK(lin.weight.requires_grad());
  optim::SGD opt(lin.parameters(), optim::SgdOptions{.lr = 0.1});
  auto x = Tensor::randn({4, 3}, kFloat64, gen);
  auto y = lin(x);
  CHECK(y.dtype() == kFloat64);
  sum(y).backward();
  CHECK(lin.weight.grad().dtype() == kFloat64);
  const auto before = lin.bias.to_vector<double>();
  opt.step();
  const auto after = lin.bias.to_vector<double>();
  CHECK(after[0] == Approx(before[0] - 0.1 * 4));
  // bfloat16 parameters step in float32 and are rounded back (autocast_test.cpp).
  lin.to(kBFloat16);
  CHECK(lin.weight.dtype() == kBFloat16);
  CHECK_NOTHROW(optim::SGD(lin.parameters()));
  CHECK_THROWS_AS(optim::SGD(std::vector<Tensor>{Tensor::zeros({2}, kInt64)}), DTypeError);
}

TEST_CASE("a torch.save state dict loads in its own dtypes, as the same tensors in safetensors", "[dtype][io]") {
  // tests/data/io: the same tensors written by torch.save and by the safetensors library
  // (tests/reference/make_torch_checkpoint_golden.py).
  const auto data = std::filesystem::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "io";
  const auto state = io::load_torch_state_dict(data / "torch_mixed.bin");
  const io::SafetensorsFile expected(data / "torch_mixed.safetensors");
  REQUIRE(state.size() == expected.size());
  for (const auto& [name, t] : state) {
    INFO(name);
    const Tensor want = io::load_tensor(expected, name);
    CHECK(t.dtype() == want.dtype());
    CHECK(t.shape() == want.shape());
    CHECK(t.is_contiguous());
    CHECK(t.to(kFloat64).to_vector<double>() == want.to(kFloat64).to_vector<double>());
  }
  // I16 / I8 have no tensor dtype: int64, as the safetensors loader gives them.
  const auto i16 = std::find_if(state.begin(), state.end(), [](const auto& e) { return e.first == "i16"; });
  REQUIRE(i16 != state.end());
  CHECK(i16->second.to_vector<std::int64_t>() == std::vector<std::int64_t>{-32768, 5});
}

TEST_CASE("safetensors keep each tensor's dtype through save_tensors / load_tensor", "[dtype][io]") {
  const auto path = std::filesystem::path(TINYXF_BINARY_DIR) / "tests" / "tensor" / "dtypes.safetensors";
  std::filesystem::create_directories(path.parent_path());
  auto bf = Tensor::from_vector(std::vector<float>{1.5f, -2.0f, 0.1f}, dev).to(kBFloat16);
  auto h = Tensor::from_vector(std::vector<float>{0.5f, 65504.0f}, dev).to(kFloat16);
  auto f64 = Tensor::from_vector(std::vector<double>{0.1, 0.2}, {2, 1}, dev);
  auto flags = lt(f64, 0.15);
  io::save_tensors(path, {{"bf", bf}, {"h", h}, {"f64", f64}, {"flags", flags}});
  io::SafetensorsFile file(path);
  CHECK(file.info("bf").dtype == io::StDtype::BF16);
  CHECK(file.info("flags").dtype == io::StDtype::BOOL);
  auto bf_back = io::load_tensor(file, "bf", dev);
  CHECK(bf_back.dtype() == kBFloat16);
  CHECK(bf_back.to(kFloat32).to_vector<float>() == bf.to(kFloat32).to_vector<float>());
  CHECK(io::load_tensor(file, "h").to(kFloat32).to_vector<float>() == std::vector<float>{0.5f, 65504.0f});
  auto f64_back = io::load_tensor(file, "f64");
  CHECK(f64_back.shape() == Shape{2, 1});
  CHECK(f64_back.to_vector<double>() == std::vector<double>{0.1, 0.2});
  CHECK(io::load_tensor(file, "flags").dtype() == kBool);
  // load_float_tensors still converts every floating tensor to float32.
  for (const auto& [name, t] : io::load_float_tensors(file)) CHECK(t.dtype() == kFloat32);
}

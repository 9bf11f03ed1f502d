//===- CudaSource.cpp - Shared pieces of the CUDA generators ---*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Kernels compute in f32 whatever their storage type: loads widen through
// kiln_f32 and stores narrow with round-to-nearest-even. Shapes are static,
// so every extent and stride is a literal in the generated source.
//
//===----------------------------------------------------------------------===//

#include "codegen/CUDA/CudaSource.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>

using namespace mlir;
using namespace kiln;
using namespace kiln::codegen;

std::string kiln::codegen::getStorageType(Type type) {
  if (type.isF32())
    return "float";
  if (type.isBF16())
    return "__nv_bfloat16";
  if (type.isF16())
    return "__half";
  if (type.isInteger(32))
    return "int32_t";
  if (type.isInteger(64))
    return "int64_t";
  return "";
}

RankedTensorType kiln::codegen::getTensorType(Value value) {
  return cast<RankedTensorType>(value.getType());
}

func::ReturnOp kiln::codegen::getReturn(func::FuncOp kernel) {
  return cast<func::ReturnOp>(kernel.getBody().front().getTerminator());
}

CudaConfigAttr kiln::codegen::getConfig(func::FuncOp kernel, StringRef arch) {
  if (auto config =
          kernel->getAttrOfType<CudaConfigAttr>(CudaConfigAttr::kAttrName))
    return config;
  return getDefaultCudaConfig(kernel, arch);
}

int64_t kiln::codegen::getThreads(CudaConfigAttr config) {
  return config.getWarps() * 32;
}

std::string kiln::codegen::getSignature(func::FuncOp kernel, int64_t threads,
                                        int64_t minBlocks,
                                        ArrayRef<std::string> extraParameters,
                                        StringRef attributes) {
  SmallVector<std::string> parameters;
  for (auto [index, type] : llvm::enumerate(kernel.getArgumentTypes()))
    parameters.push_back(llvm::formatv(
        "const {0} *__restrict__ arg{1}",
        getStorageType(cast<RankedTensorType>(type).getElementType()), index));
  for (auto [index, type] : llvm::enumerate(kernel.getResultTypes()))
    parameters.push_back(llvm::formatv(
        "{0} *__restrict__ result{1}",
        getStorageType(cast<RankedTensorType>(type).getElementType()), index));
  parameters.append(extraParameters.begin(), extraParameters.end());
  std::string bounds = minBlocks > 0
                           ? llvm::formatv("{0}, {1}", threads, minBlocks).str()
                           : std::to_string(threads);
  return llvm::formatv("extern \"C\" __global__ void __launch_bounds__({0}){3}\n"
                       "{1}({2}) {{\n",
                       bounds, kernel.getSymName(),
                       llvm::join(parameters, ", "),
                       attributes.empty() ? "" : " " + attributes.str());
}

std::string kiln::codegen::getLinearIndex(ArrayRef<std::string> coords,
                                          ArrayRef<int64_t> shape) {
  SmallVector<std::string> terms;
  int64_t stride = 1;
  for (int64_t dim = shape.size() - 1; dim >= 0; --dim) {
    if (shape[dim] != 1)
      terms.push_back(
          stride == 1 ? coords[dim]
                      : llvm::formatv("{0} * {1}", coords[dim], stride).str());
    stride *= shape[dim];
  }
  return terms.empty() ? "0" : "(" + llvm::join(terms, " + ") + ")";
}

static bool isIntegerValue(Value value) {
  return isa<IntegerType>(getTensorType(value).getElementType());
}

bool kiln::codegen::isElementwiseOp(Operation *op) {
  return isa<AddOp, SubOp, MulOp, DivOp, MaxOp, MinOp, PowOp, NegOp, AbsOp,
             ExpOp, LogOp, SqrtOp, RsqrtOp, TanhOp, SigmoidOp, ReluOp, SiluOp,
             ErfOp, GeluOp, CastOp, BroadcastToOp, SelectOp>(op);
}

bool kiln::codegen::isPointwiseOp(Operation *op) {
  if (auto constant = dyn_cast<ConstantOp>(op))
    return isa<SplatElementsAttr>(constant.getValue());
  if (auto softmax = dyn_cast<SoftmaxOp>(op))
    return static_cast<int64_t>(softmax.getAxis()) + 1 ==
           getTensorType(softmax.getInput()).getRank();
  return isElementwiseOp(op) ||
         isa<TransposeOp, ReshapeOp, ConcatOp, SliceOp, GatherOp, RopeOp,
             ReduceSumOp, ReduceMeanOp, ReduceMaxOp, MaxPool2DOp, AvgPool2DOp,
             RmsNormOp, LayerNormOp>(op);
}

/// The C expression of a float elementwise op applied to named operands.
static std::string getElementwiseExpression(Operation *op,
                                            ArrayRef<std::string> in) {
  return llvm::TypeSwitch<Operation *, std::string>(op)
      .Case([&](AddOp) { return "(" + in[0] + " + " + in[1] + ")"; })
      .Case([&](SubOp) { return "(" + in[0] + " - " + in[1] + ")"; })
      .Case([&](MulOp) { return "(" + in[0] + " * " + in[1] + ")"; })
      .Case([&](DivOp) { return "(" + in[0] + " / " + in[1] + ")"; })
      .Case([&](MaxOp) { return "fmaxf(" + in[0] + ", " + in[1] + ")"; })
      .Case([&](MinOp) { return "fminf(" + in[0] + ", " + in[1] + ")"; })
      .Case([&](PowOp) { return "powf(" + in[0] + ", " + in[1] + ")"; })
      .Case([&](NegOp) { return "(-" + in[0] + ")"; })
      .Case([&](AbsOp) { return "fabsf(" + in[0] + ")"; })
      .Case([&](ExpOp) { return "expf(" + in[0] + ")"; })
      .Case([&](LogOp) { return "logf(" + in[0] + ")"; })
      .Case([&](SqrtOp) { return "sqrtf(" + in[0] + ")"; })
      .Case([&](RsqrtOp) { return "rsqrtf(" + in[0] + ")"; })
      .Case([&](TanhOp) { return "tanhf(" + in[0] + ")"; })
      .Case([&](SigmoidOp) { return "(1.0f / (1.0f + expf(-" + in[0] + ")))"; })
      .Case([&](ReluOp) { return "fmaxf(" + in[0] + ", 0.0f)"; })
      .Case([&](SiluOp) {
        return "(" + in[0] + " / (1.0f + expf(-" + in[0] + ")))";
      })
      .Case([&](ErfOp) { return "erff(" + in[0] + ")"; })
      .Case([&](GeluOp gelu) {
        const std::string &x = in[0];
        if (gelu.getApproximation() == GeluApproximation::Tanh)
          return "(0.5f * " + x + " * (1.0f + tanhf(0.7978845608f * (" + x +
                 " + 0.044715f * " + x + " * " + x + " * " + x + "))))";
        return "(0.5f * " + x + " * (1.0f + erff(" + x + " * 0.70710678118f)))";
      })
      .Case([&](CastOp cast) {
        Type to = getTensorType(cast.getResult()).getElementType();
        Type from = getTensorType(cast.getInput()).getElementType();
        if (isa<IntegerType>(to))
          return isa<IntegerType>(from) ? in[0] : "(int64_t)" + in[0];
        if (isa<IntegerType>(from))
          return "(float)" + in[0];
        if (to.isBF16())
          return "kiln_round_bf16(" + in[0] + ")";
        if (to.isF16())
          return "kiln_round_f16(" + in[0] + ")";
        return in[0];
      })
      .Case([&](BroadcastToOp) { return in[0]; })
      .Case([&](SelectOp) {
        return "(" + in[0] + " != 0 ? " + in[1] + " : " + in[2] + ")";
      })
      .Default([](Operation *) { return std::string(); });
}

//===----------------------------------------------------------------------===//
// PointwiseEmitter
//===----------------------------------------------------------------------===//

std::string PointwiseEmitter::fresh(StringRef prefix) {
  return (prefix + Twine(next++)).str();
}

void PointwiseEmitter::open(StringRef header) {
  line() << header << "\n";
  indent += "  ";
  scopes.emplace_back();
}

void PointwiseEmitter::close() {
  scopes.pop_back();
  indent.resize(indent.size() - 2);
  line() << "}\n";
}

std::string PointwiseEmitter::let(StringRef prefix, const std::string &expr) {
  std::string name = fresh(prefix);
  line() << "const int64_t " << name << " = " << expr << ";\n";
  return name;
}

std::string PointwiseEmitter::emit(Value value, ArrayRef<std::string> coords) {
  std::pair<void *, std::string> key{value.getAsOpaquePointer(),
                                     llvm::join(coords, ",")};
  for (auto &scope : llvm::reverse(scopes))
    if (auto it = scope.find(key); it != scope.end())
      return it->second;
  std::string name;
  if (auto it = sources.find(value); it != sources.end())
    name = it->second(*this, coords);
  else if (auto argument = dyn_cast<BlockArgument>(value))
    name = load(argument, coords);
  else
    name = emitOp(value.getDefiningOp(), value, coords);
  scopes.back()[key] = name;
  return name;
}

std::string PointwiseEmitter::load(BlockArgument argument,
                                   ArrayRef<std::string> coords) {
  RankedTensorType type = getTensorType(argument);
  std::string index = getLinearIndex(coords, type.getShape());
  std::string name = fresh("a");
  unsigned number = argument.getArgNumber();
  if (isa<IntegerType>(type.getElementType())) {
    line() << llvm::formatv("const int64_t {0} = (int64_t)arg{1}[{2}];\n", name,
                            number, index);
    return name;
  }
  if (lanes > 1 && vectorArguments.lookup(number) &&
      coords.back() == laneCoord) {
    // Lane 0 loads the lanes' consecutive elements in one 128-bit access;
    // the unrolled lane loop keeps them in registers.
    std::string vector = fresh("vec");
    hoisted +=
        llvm::formatv("  __align__(16) {0} {1}[{2}];\n",
                      getStorageType(type.getElementType()), vector, lanes);
    line() << llvm::formatv("if (lane == 0)\n{0}  *reinterpret_cast<uint4 *>("
                            "{1}) = *reinterpret_cast<const uint4 *>(&arg{2}[{"
                            "3}]);\n",
                            indent, vector, number, index);
    line() << llvm::formatv("const float {0} = kiln_f32({1}[lane]);\n", name,
                            vector);
    return name;
  }
  line() << llvm::formatv("const float {0} = kiln_f32(arg{1}[{2}]);\n", name,
                          number, index);
  return name;
}

/// The coordinates of `operand` that broadcast to `coords` of a result.
static Coords getBroadcastCoords(Value operand, ArrayRef<std::string> coords) {
  ArrayRef<int64_t> shape = getTensorType(operand).getShape();
  size_t lead = coords.size() - shape.size();
  Coords result;
  for (auto [dim, size] : llvm::enumerate(shape))
    result.push_back(size == 1 ? "0" : coords[lead + dim]);
  return result;
}

Coords kiln::codegen::emitDelinearize(PointwiseEmitter &emitter,
                                      const std::string &linear,
                                      ArrayRef<int64_t> shape,
                                      StringRef prefix) {
  Coords coords(shape.size(), "0");
  int64_t stride = 1;
  for (int64_t dim = shape.size() - 1; dim >= 0; --dim) {
    if (shape[dim] != 1) {
      std::string name = emitter.fresh(prefix);
      std::string quotient =
          stride == 1 ? linear : llvm::formatv("{0} / {1}", linear, stride);
      emitter.line()
          << "const int64_t " << name << " = "
          << (dim == 0
                  ? quotient
                  : llvm::formatv("({0}) % {1}", quotient, shape[dim]).str())
          << ";\n";
      coords[dim] = name;
    }
    stride *= shape[dim];
  }
  return coords;
}

std::string PointwiseEmitter::emitOp(Operation *op, Value value,
                                     ArrayRef<std::string> coords) {
  std::string type = isIntegerValue(value) ? "int64_t" : "float";
  if (auto constant = dyn_cast<ConstantOp>(op)) {
    auto splat = cast<SplatElementsAttr>(constant.getValue());
    if (isIntegerValue(value))
      return std::to_string(splat.getSplatValue<APInt>().getSExtValue());
    return llvm::formatv("{0:e}f",
                         splat.getSplatValue<APFloat>().convertToDouble());
  }
  if (isElementwiseOp(op)) {
    SmallVector<std::string> operands;
    for (Value operand : op->getOperands())
      operands.push_back(emit(operand, getBroadcastCoords(operand, coords)));
    std::string name = fresh("v");
    line() << "const " << type << " " << name << " = "
           << getElementwiseExpression(op, operands) << ";\n";
    return name;
  }
  if (auto transpose = dyn_cast<TransposeOp>(op)) {
    Coords in(coords.size());
    for (auto [dim, from] : llvm::enumerate(transpose.getPermutation()))
      in[from] = coords[dim];
    return emit(transpose.getInput(), in);
  }
  if (auto reshape = dyn_cast<ReshapeOp>(op)) {
    ArrayRef<int64_t> from = getTensorType(reshape.getInput()).getShape();
    ArrayRef<int64_t> to = getTensorType(value).getShape();
    if (from == to)
      return emit(reshape.getInput(), coords);
    // With the innermost extent kept, the innermost coordinate is kept too,
    // which lets a lane loop keep its vector loads.
    if (!from.empty() && !to.empty() && from.back() == to.back()) {
      std::string linear =
          let("l", getLinearIndex(ArrayRef<std::string>(coords).drop_back(),
                                  to.drop_back()));
      Coords in = emitDelinearize(*this, linear, from.drop_back(), "r");
      in.push_back(coords.back());
      return emit(reshape.getInput(), in);
    }
    std::string linear = let("l", getLinearIndex(coords, to));
    return emit(reshape.getInput(), emitDelinearize(*this, linear, from, "r"));
  }
  if (auto slice = dyn_cast<SliceOp>(op)) {
    ArrayRef<int64_t> strides = slice.getStrides();
    Coords in;
    for (auto [dim, start] : llvm::enumerate(slice.getStarts())) {
      int64_t stride = strides.empty() ? 1 : strides[dim];
      std::string scaled =
          stride == 1 ? coords[dim]
                      : llvm::formatv("{0} * {1}", coords[dim], stride).str();
      in.push_back(start == 0
                       ? scaled
                       : llvm::formatv("({0} + {1})", scaled, start).str());
    }
    return emit(slice.getInput(), in);
  }
  if (auto concat = dyn_cast<ConcatOp>(op)) {
    // One branch per input; the coordinate along the axis picks it.
    int64_t axis = concat.getAxis();
    std::string name = fresh("v");
    line() << type << " " << name << ";\n";
    int64_t offset = 0;
    for (auto [index, input] : llvm::enumerate(concat.getInputs())) {
      int64_t size = getTensorType(input).getShape()[axis];
      bool last = index + 1 == concat.getInputs().size();
      std::string header = index == 0 ? "" : "else ";
      header +=
          last ? "{"
               : llvm::formatv("if ({0} < {1}) {{", coords[axis], offset + size)
                     .str();
      open(header);
      Coords in(coords.begin(), coords.end());
      if (offset != 0)
        in[axis] = llvm::formatv("({0} - {1})", coords[axis], offset);
      std::string element = emit(input, in);
      line() << name << " = " << element << ";\n";
      close();
      offset += size;
    }
    return name;
  }
  if (auto gather = dyn_cast<GatherOp>(op)) {
    int64_t axis = gather.getAxis();
    int64_t indexRank = getTensorType(gather.getIndices()).getRank();
    int64_t size = getTensorType(gather.getData()).getShape()[axis];
    std::string index =
        emit(gather.getIndices(),
             ArrayRef<std::string>(coords).slice(axis, indexRank));
    // The reference rejects indices out of range; clamping keeps a bad index
    // from reading outside the table.
    std::string clamped =
        let("g", llvm::formatv("min(max({0}, (int64_t)0), (int64_t){1})", index,
                               size - 1));
    Coords in(coords.begin(), coords.begin() + axis);
    in.push_back(clamped);
    in.append(coords.begin() + axis + indexRank, coords.end());
    return emit(gather.getData(), in);
  }
  if (auto rope = dyn_cast<RopeOp>(op)) {
    // Pairs (i, i + D/2) rotate by position * theta^(-2 (i mod D/2) / D).
    ArrayRef<int64_t> shape = getTensorType(value).getShape();
    int64_t size = shape.back(), half = size / 2;
    const std::string &i = coords.back();
    std::string position =
        shape.size() >= 2 ? coords[coords.size() - 2] : std::string("0");
    Coords partner(coords.begin(), coords.end());
    partner.back() =
        llvm::formatv("({0} < {1} ? {0} + {1} : {0} - {1})", i, half);
    std::string x = emit(rope.getInput(), coords);
    std::string y = emit(rope.getInput(), partner);
    // The angle in double, reduced to [-pi, pi] so the fast sine and
    // cosine are accurate (and need no local memory for a large argument).
    std::string angle = fresh("angle");
    line() << llvm::formatv(
        "const double {0} = (double)({1} + {2}) * exp({3:e} * (double)({4} % "
        "{5}));\n",
        angle, rope.getPositionOffset(), position,
        -2.0 * std::log(rope.getTheta().convertToDouble()) / size, i, half);
    std::string turn = fresh("turn");
    line() << llvm::formatv("const float {0} = (float)({1} - "
                            "6.283185307179586 * rint({1} * "
                            "0.15915494309189535));\n",
                            turn, angle);
    std::string name = fresh("v");
    line() << llvm::formatv("const float {0} = {1} * __cosf({2}) + ({3} < {4} "
                            "? -{5} : {5}) * __sinf({2});\n",
                            name, x, turn, i, half, y);
    return name;
  }
  if (isa<ReduceSumOp, ReduceMeanOp, ReduceMaxOp>(op)) {
    // A loop over the reduced axes per element: kernels that reduce whole
    // rows use the row generator instead.
    Value input = op->getOperand(0);
    ArrayRef<int64_t> shape = getTensorType(input).getShape();
    auto axes = op->getAttrOfType<DenseI64ArrayAttr>("axes").asArrayRef();
    bool keepDims = op->getAttrOfType<BoolAttr>("keep_dims").getValue();
    bool isMax = isa<ReduceMaxOp>(op);
    std::string name = fresh("v");
    line() << "float " << name << " = " << (isMax ? "-INFINITY" : "0.0f")
           << ";\n";
    Coords in;
    size_t next = 0;
    int64_t count = 1;
    for (auto [dim, size] : llvm::enumerate(shape)) {
      if (llvm::is_contained(axes, static_cast<int64_t>(dim))) {
        std::string r = fresh("r");
        open(
            llvm::formatv("for (int64_t {0} = 0; {0} < {1}; ++{0}) {{", r, size)
                .str());
        in.push_back(r);
        count *= size;
        next += keepDims;
        continue;
      }
      in.push_back(coords[next++]);
    }
    std::string x = emit(input, in);
    line() << name << " = "
           << (isMax ? "fmaxf(" + name + ", " + x + ")" : name + " + " + x)
           << ";\n";
    for (size_t k = 0; k < axes.size(); ++k)
      close();
    if (isa<ReduceMeanOp>(op))
      line() << name << " /= " << count << ".0f;\n";
    return name;
  }
  if (isa<MaxPool2DOp, AvgPool2DOp>(op)) {
    Value input = op->getOperand(0);
    ArrayRef<int64_t> shape = getTensorType(input).getShape();
    auto kernel = op->getAttrOfType<DenseI64ArrayAttr>("kernel").asArrayRef();
    auto strides = op->getAttrOfType<DenseI64ArrayAttr>("strides").asArrayRef();
    auto padding = op->getAttrOfType<DenseI64ArrayAttr>("padding").asArrayRef();
    auto average = dyn_cast<AvgPool2DOp>(op);
    std::string name = fresh("v"), count = fresh("n");
    line() << "float " << name << " = " << (average ? "0.0f" : "-INFINITY")
           << ";\n";
    line() << "int " << count << " = 0;\n";
    std::string ky = fresh("ky"), kx = fresh("kx");
    open(llvm::formatv("for (int64_t {0} = 0; {0} < {1}; ++{0}) {{", ky,
                       kernel[0])
             .str());
    open(llvm::formatv("for (int64_t {0} = 0; {0} < {1}; ++{0}) {{", kx,
                       kernel[1])
             .str());
    std::string iy = let("iy", llvm::formatv("{0} * {1} - {2} + {3}", coords[2],
                                             strides[0], padding[0], ky));
    std::string ix = let("ix", llvm::formatv("{0} * {1} - {2} + {3}", coords[3],
                                             strides[1], padding[1], kx));
    // Padded positions take no part.
    open(llvm::formatv("if ({0} >= 0 && {0} < {1} && {2} >= 0 && {2} < {3}) {{",
                       iy, shape[2], ix, shape[3])
             .str());
    std::string x = emit(input, {coords[0], coords[1], iy, ix});
    line() << name << " = "
           << (average ? name + " + " + x : "fmaxf(" + name + ", " + x + ")")
           << ";\n";
    line() << "++" << count << ";\n";
    close();
    close();
    close();
    if (average)
      line() << name << " /= "
             << (average.getCountIncludePad()
                     ? std::to_string(kernel[0] * kernel[1]) + ".0f"
                     : "(float)" + count)
             << ";\n";
    return name;
  }
  // A norm or softmax with no generator-reduced statistics: reduce its row
  // here, serially. Only kernels whose row ops are not their anchor (and
  // small) take this path.
  Coords outer(coords.begin(), coords.end() - 1);
  RowStatistics statistics = emitRowStatistics(
      *this, op, outer,
      [&](const std::string &j) {
        return llvm::formatv("for (int64_t {0} = 0; {0} < {1}; ++{0}) {{", j,
                             getTensorType(value).getShape().back())
            .str();
      },
      [](const std::string &partial, bool) { return partial; });
  return getNormalizedSource(op, statistics)(*this, coords);
}

//===----------------------------------------------------------------------===//
// Row statistics
//===----------------------------------------------------------------------===//

RowStatistics kiln::codegen::emitRowStatistics(
    PointwiseEmitter &emitter, Operation *op, const Coords &outer,
    const std::function<std::string(const std::string &)> &loop,
    const std::function<std::string(const std::string &, bool)> &reduce) {
  Value input = op->getOperand(0);
  int64_t width = getTensorType(input).getShape().back();
  // One pass over the row accumulating `update(x)` into `name`.
  auto pass = [&](StringRef prefix, StringRef init, bool isMax,
                  const std::function<std::string(
                      const std::string &, const std::string &)> &update) {
    std::string name = emitter.fresh(prefix);
    emitter.line() << "float " << name << " = " << init << ";\n";
    std::string j = emitter.fresh("j");
    emitter.open(loop(j));
    Coords coords(outer);
    coords.push_back(j);
    std::string x = emitter.emit(input, coords);
    emitter.line() << name << " = " << update(name, x) << ";\n";
    emitter.close();
    emitter.line() << name << " = " << reduce(name, isMax) << ";\n";
    return name;
  };
  auto sum = [](const std::string &acc, const std::string &x) {
    return acc + " + " + x;
  };
  if (isa<SoftmaxOp>(op)) {
    std::string top = pass("top", "-INFINITY", true,
                           [](const std::string &acc, const std::string &x) {
                             return "fmaxf(" + acc + ", " + x + ")";
                           });
    std::string total = pass("total", "0.0f", false,
                             [&](const std::string &acc, const std::string &x) {
                               return acc + " + expf(" + x + " - " + top + ")";
                             });
    return {top, total};
  }
  if (auto rms = dyn_cast<RmsNormOp>(op)) {
    std::string squares =
        pass("squares", "0.0f", false,
             [](const std::string &acc, const std::string &x) {
               return acc + " + " + x + " * " + x;
             });
    std::string scale = emitter.fresh("scale");
    emitter.line() << llvm::formatv(
        "const float {0} = rsqrtf({1} / {2}.0f + {3:e}f);\n", scale, squares,
        width, rms.getEpsilon().convertToDouble());
    return {scale, ""};
  }
  auto norm = cast<LayerNormOp>(op);
  std::string total = pass("total", "0.0f", false, sum);
  std::string mean = emitter.fresh("mean");
  emitter.line() << llvm::formatv("const float {0} = {1} / {2}.0f;\n", mean,
                                  total, width);
  std::string squares = pass(
      "squares", "0.0f", false,
      [&](const std::string &acc, const std::string &x) {
        return llvm::formatv("{0} + ({1} - {2}) * ({1} - {2})", acc, x, mean)
            .str();
      });
  std::string scale = emitter.fresh("scale");
  emitter.line() << llvm::formatv(
      "const float {0} = rsqrtf({1} / {2}.0f + {3:e}f);\n", scale, squares,
      width, norm.getEpsilon().convertToDouble());
  return {mean, scale};
}

PointwiseEmitter::Source
kiln::codegen::getNormalizedSource(Operation *op, RowStatistics statistics) {
  return [op, statistics](PointwiseEmitter &emitter,
                          ArrayRef<std::string> coords) {
    std::string x = emitter.emit(op->getOperand(0), coords);
    std::string name = emitter.fresh("v");
    std::string column = coords.back();
    if (isa<SoftmaxOp>(op)) {
      emitter.line() << llvm::formatv("const float {0} = expf({1} - {2}) / "
                                      "{3};\n",
                                      name, x, statistics.first,
                                      statistics.second);
    } else if (auto rms = dyn_cast<RmsNormOp>(op)) {
      std::string scale = emitter.emit(rms.getScale(), {column});
      emitter.line() << llvm::formatv("const float {0} = {1} * {2} * {3};\n",
                                      name, x, statistics.first, scale);
    } else {
      auto norm = cast<LayerNormOp>(op);
      std::string scale = emitter.emit(norm.getScale(), {column});
      std::string bias = emitter.emit(norm.getBias(), {column});
      emitter.line() << llvm::formatv(
          "const float {0} = ({1} - {2}) * {3} * {4} + {5};\n", name, x,
          statistics.first, statistics.second, scale, bias);
    }
    return name;
  };
}

SmallVector<Operation *>
kiln::codegen::getRowProducers(Value value, int64_t rows, int64_t width) {
  SmallVector<Operation *> producers;
  std::function<void(Value)> visit = [&](Value at) {
    Operation *op = at.getDefiningOp();
    if (!op)
      return;
    ArrayRef<int64_t> shape = getTensorType(at).getShape();
    if (isa<SoftmaxOp, RmsNormOp, LayerNormOp>(op)) {
      if (shape.back() == width &&
          ShapedType::getNumElements(shape) == rows * width &&
          !llvm::is_contained(producers, op))
        producers.push_back(op);
      return;
    }
    bool sameShape = llvm::all_of(op->getOperands(), [&](Value operand) {
      return getTensorType(operand).getShape() == shape;
    });
    if (isa<ReshapeOp>(op) || (isPointwiseOp(op) && sameShape))
      for (Value operand : op->getOperands())
        visit(operand);
  };
  visit(value);
  return producers;
}

void kiln::codegen::emitTileRowStatistics(PointwiseEmitter &emitter,
                                          Operation *op, int64_t tileRows,
                                          int64_t warps, int64_t rows,
                                          const std::string &name) {
  ArrayRef<int64_t> shape = getTensorType(op->getResult(0)).getShape();
  emitter.open(
      llvm::formatv("for (int r = warp; r < {0}; r += {1}) {{", tileRows, warps)
          .str());
  emitter.line() << "const int64_t row = rowBase + r;\n";
  emitter.open(llvm::formatv("if (row < {0}) {{", rows).str());
  Coords outer = emitDelinearize(emitter, "row", shape.drop_back(), "s");
  RowStatistics statistics = emitRowStatistics(
      emitter, op, outer,
      [&](const std::string &j) {
        return llvm::formatv("for (int64_t {0} = lane; {0} < {1}; {0} += 32) "
                             "{{",
                             j, shape.back())
            .str();
      },
      [](const std::string &partial, bool isMax) {
        return (isMax ? "kiln_warp_max(" : "kiln_warp_sum(") + partial + ")";
      });
  emitter.open("if (lane == 0) {");
  emitter.line() << name << "[0][r] = " << statistics.first << ";\n";
  if (!statistics.second.empty())
    emitter.line() << name << "[1][r] = " << statistics.second << ";\n";
  emitter.close();
  emitter.close();
  emitter.close();
  emitter.line() << "__syncthreads();\n";
  emitter.setSource(
      op->getResult(0),
      getNormalizedSource(op, {name + "[0][r]", name + "[1][r]"}));
}

//===----------------------------------------------------------------------===//
// Results
//===----------------------------------------------------------------------===//

bool kiln::codegen::dependsOn(Value value, Value from) {
  if (value == from)
    return true;
  Operation *op = value.getDefiningOp();
  return op && llvm::any_of(op->getOperands(), [&](Value operand) {
           return dependsOn(operand, from);
         });
}

std::optional<std::pair<Coords, std::string>>
kiln::codegen::mapForward(PointwiseEmitter &emitter, Value from,
                          Coords fromCoords, Value to) {
  if (to == from)
    return std::make_pair(fromCoords, std::string());
  Operation *op = to.getDefiningOp();
  if (!op)
    return std::nullopt;
  ArrayRef<int64_t> shape = getTensorType(to).getShape();
  if (isElementwiseOp(op)) {
    for (Value operand : op->getOperands())
      if (dependsOn(operand, from) &&
          getTensorType(operand).getShape() == shape)
        return mapForward(emitter, from, fromCoords, operand);
    return std::nullopt;
  }
  if (!isa<TransposeOp, ReshapeOp, SliceOp>(op))
    return std::nullopt;
  Value input = op->getOperand(0);
  auto mapped = mapForward(emitter, from, fromCoords, input);
  if (!mapped)
    return std::nullopt;
  auto &[in, guard] = *mapped;
  if (auto transpose = dyn_cast<TransposeOp>(op)) {
    Coords out;
    for (int64_t dim : transpose.getPermutation())
      out.push_back(in[dim]);
    return std::make_pair(out, guard);
  }
  if (isa<ReshapeOp>(op)) {
    ArrayRef<int64_t> inShape = getTensorType(input).getShape();
    if (inShape == shape)
      return mapped;
    std::string linear = emitter.fresh("l");
    emitter.line() << "const int64_t " << linear << " = "
                   << getLinearIndex(in, inShape) << ";\n";
    return std::make_pair(emitDelinearize(emitter, linear, shape, "f"), guard);
  }
  auto slice = cast<SliceOp>(op);
  ArrayRef<int64_t> strides = slice.getStrides();
  ArrayRef<int64_t> inShape = getTensorType(input).getShape();
  Coords out;
  SmallVector<std::string> conditions;
  if (!guard.empty())
    conditions.push_back(guard);
  for (auto [dim, start] : llvm::enumerate(slice.getStarts())) {
    int64_t stride = strides.empty() ? 1 : strides[dim];
    int64_t limit = slice.getLimits()[dim];
    const std::string &c = in[dim];
    if (start != 0 || limit != inShape[dim] || stride != 1)
      conditions.push_back(
          llvm::formatv("{0} >= {1} && {0} < {2}", c, start, limit));
    std::string offset =
        start == 0 ? c : llvm::formatv("({0} - {1})", c, start).str();
    if (stride != 1)
      conditions.push_back(llvm::formatv("{0} % {1} == 0", offset, stride));
    out.push_back(stride == 1
                      ? offset
                      : llvm::formatv("{0} / {1}", offset, stride).str());
  }
  return std::make_pair(out, llvm::join(conditions, " && "));
}

/// Whether `value` reads the values `isAnchor` accepts at one element of
/// theirs (see emitResultStores).
static bool readsOneElement(Value value,
                            const std::function<bool(Value)> &isAnchor) {
  std::function<bool(Value)> reads = [&](Value at) {
    if (isAnchor(at))
      return true;
    Operation *op = at.getDefiningOp();
    return op && llvm::any_of(op->getOperands(), reads);
  };
  // Elementwise ops on operands of one shape all the way down.
  std::function<bool(Value)> direct = [&](Value at) {
    if (isAnchor(at) || !reads(at))
      return true;
    Operation *op = at.getDefiningOp();
    return isElementwiseOp(op) &&
           llvm::all_of(op->getOperands(), [&](Value operand) {
             return !reads(operand) || (getTensorType(operand).getShape() ==
                                            getTensorType(at).getShape() &&
                                        direct(operand));
           });
  };
  if (isAnchor(value) || !reads(value))
    return true;
  Operation *op = value.getDefiningOp();
  SmallVector<Value> reading;
  for (Value operand : op->getOperands())
    if (reads(operand))
      reading.push_back(operand);
  if (reading.size() == 1)
    return readsOneElement(reading.front(), isAnchor);
  return direct(value);
}

LogicalResult kiln::codegen::emitResultStores(PointwiseEmitter &emitter,
                                              func::FuncOp kernel, Value anchor,
                                              const Coords &anchorCoords,
                                              ArrayRef<unsigned> results) {
  ArrayRef<int64_t> anchorShape = getTensorType(anchor).getShape();
  for (auto [index, value] : llvm::enumerate(getReturn(kernel).getOperands())) {
    if (!results.empty() && !llvm::is_contained(results, index))
      continue;
    std::optional<std::pair<Coords, std::string>> mapped;
    if (dependsOn(value, anchor))
      mapped = mapForward(emitter, anchor, anchorCoords, value);
    else if (getTensorType(value).getShape() == anchorShape)
      mapped = std::make_pair(anchorCoords, std::string());
    if (!mapped)
      return kernel.emitError()
             << "CUDA generation cannot map the elements of "
             << anchor.getType() << " to result " << index << " ("
             << value.getType() << ") of this kernel";
    if (!readsOneElement(value, [&](Value at) {
          return at == anchor || emitter.hasSource(at);
        }))
      return kernel.emitError() << "CUDA generation expects result " << index
                                << " to read each element of "
                                << anchor.getType() << " at one place";
    auto &[coords, guard] = *mapped;
    if (!guard.empty())
      emitter.open("if (" + guard + ") {");
    std::string element = emitter.emit(value, coords);
    emitter.line() << "kiln_store(&result" << index << "["
                   << getLinearIndex(coords, getTensorType(value).getShape())
                   << "], " << element << ");\n";
    if (!guard.empty())
      emitter.close();
  }
  return success();
}

//===- OnnxImporter.cpp - ONNX models into the kiln dialect ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The import walks the graph's nodes in order (ONNX requires a topological
// order) and maps each node onto kiln ops. A value is a kiln SSA value, a
// constant known at import time, or both: a node whose inputs are all
// constants and that has a host folder is evaluated here instead, which is
// how shape computations (Shape -> Gather -> Concat -> Reshape) disappear.
// Constants become IR only when a kiln op uses them.
//
//===----------------------------------------------------------------------===//

#include "models/onnx/OnnxImporter.h"

#include "models/onnx/OnnxPatterns.h"
#include "models/onnx/OnnxTensors.h"

#include "ir/ElementTypes.h"
#include "ir/KilnDialect.h"
#include "reference/Evaluator.h"
#include "reference/Kernels.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <google/protobuf/io/coded_stream.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <numeric>
#include <type_traits>

using namespace mlir;
using ::onnx::AttributeProto;
using ::onnx::GraphProto;
using ::onnx::ModelProto;
using ::onnx::NodeProto;
using ::onnx::TensorProto;

namespace kiln::onnx {

/// The default-domain opsets whose operator forms the importer implements.
static constexpr int64_t kMinOpset = 13;
static constexpr int64_t kMaxOpset = 21;

/// Constants with at most this many elements are stored in the IR; larger
/// ones become weights.
static constexpr int64_t kMaxInlineElements = 16;

/// The largest model file accepted: protobuf cannot parse more.
static constexpr uint64_t kMaxModelBytes = (uint64_t(1) << 31) - 1;

namespace {

/// An ONNX value during import.
struct Tensor {
  /// The kiln value; null for a constant no kiln op has used yet.
  Value value;
  /// The value's elements when they are known at import time.
  std::optional<Constant> constant;

  ArrayRef<int64_t> getShape() const {
    if (constant)
      return constant->tensor.getShape();
    return cast<RankedTensorType>(value.getType()).getShape();
  }
  int64_t getRank() const { return getShape().size(); }
};

class Importer;
/// Converts one node; the table of these is also the list of supported ops.
using Converter = LogicalResult (Importer::*)(const NodeProto &);

class Importer {
public:
  Importer(MLIRContext &context, StringRef path, const ImportOptions &options)
      : context(context), builder(&context), path(path), options(options) {}

  FailureOr<LoadedModel> run(const ModelProto &model);

private:
  // Steps of the import.
  LogicalResult readOpset(const ModelProto &model);
  LogicalResult checkSupported(const GraphProto &graph);
  LogicalResult addInitializers(const GraphProto &graph);
  LogicalResult addInputs(const GraphProto &graph, func::FuncOp function);
  LogicalResult convertNode(const NodeProto &node);
  LogicalResult addOutputs(const GraphProto &graph, func::FuncOp function);

  // Diagnostics.
  Location getNodeLoc(const NodeProto &node);
  InFlightDiagnostic nodeError(const Twine &message);
  LogicalResult checkSize(ArrayRef<int64_t> shape, ElementType type,
                          const Twine &what);

  // Values.
  FailureOr<Tensor *> input(unsigned index);
  bool hasInput(unsigned index) const;
  FailureOr<const Constant *> constantInput(unsigned index, StringRef what);
  FailureOr<std::vector<int64_t>> intsInput(unsigned index, StringRef what);
  bool allInputsConstant() const;
  LogicalResult define(unsigned index, Tensor tensor);
  LogicalResult defineValue(unsigned index, Value value);
  LogicalResult defineConstant(unsigned index, Constant constant);
  Value materialize(Tensor &tensor, StringRef name);
  FailureOr<Value> runtimeInput(unsigned index);
  FailureOr<Value> floatInput(unsigned index);
  FailureOr<Value> constantValue(HostTensor tensor, StringRef name);

  // Attributes.
  const AttributeProto *attribute(StringRef name) const;
  int64_t intAttr(StringRef name, int64_t defaultValue) const;
  float floatAttr(StringRef name, float defaultValue) const;
  std::string stringAttr(StringRef name, StringRef defaultValue) const;
  std::optional<std::vector<int64_t>> intsAttr(StringRef name) const;
  FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank);

  // Building kiln ops.
  template <typename OpTy, typename... Args>
  FailureOr<Value> build(Args &&...args);
  FailureOr<Value> reshape(Value value, ArrayRef<int64_t> shape);
  FailureOr<Value> buildConv(Value input, Value filter, std::optional<Value> bias,
                             ArrayRef<int64_t> strides,
                             ArrayRef<int64_t> padding,
                             ArrayRef<int64_t> dilations, int64_t groups);
  FailureOr<SmallVector<int64_t>> spatialPadding(ArrayRef<int64_t> inputShape,
                                                 ArrayRef<int64_t> kernel,
                                                 ArrayRef<int64_t> strides,
                                                 ArrayRef<int64_t> dilations);

  // Converters, one per ONNX op (or family).
  LogicalResult convertBinary(const NodeProto &node);
  LogicalResult convertUnary(const NodeProto &node);
  LogicalResult convertIdentity(const NodeProto &node);
  LogicalResult convertCast(const NodeProto &node);
  LogicalResult convertMatMul(const NodeProto &node);
  LogicalResult convertGemm(const NodeProto &node);
  LogicalResult convertConv(const NodeProto &node);
  LogicalResult convertBatchNorm(const NodeProto &node);
  LogicalResult convertPool(const NodeProto &node);
  LogicalResult convertGlobalAveragePool(const NodeProto &node);
  LogicalResult convertSoftmax(const NodeProto &node);
  LogicalResult convertLayerNorm(const NodeProto &node);
  LogicalResult convertReduce(const NodeProto &node);
  LogicalResult convertTranspose(const NodeProto &node);
  LogicalResult convertReshape(const NodeProto &node);
  LogicalResult convertSqueeze(const NodeProto &node);
  LogicalResult convertFlatten(const NodeProto &node);
  LogicalResult convertConcat(const NodeProto &node);
  LogicalResult convertSlice(const NodeProto &node);
  LogicalResult convertSplit(const NodeProto &node);
  LogicalResult convertGather(const NodeProto &node);
  LogicalResult convertGatherElements(const NodeProto &node);
  LogicalResult convertGatherND(const NodeProto &node);
  LogicalResult convertTopK(const NodeProto &node);
  LogicalResult convertIsNaN(const NodeProto &node);
  LogicalResult convertNanGuard(const std::string &tested);
  LogicalResult gather(unsigned dataIndex, Tensor indices,
                       StringRef indicesName, int64_t axis);
  LogicalResult convertExpand(const NodeProto &node);
  LogicalResult convertWhere(const NodeProto &node);
  LogicalResult convertEqual(const NodeProto &node);
  LogicalResult convertRange(const NodeProto &node);
  LogicalResult convertConstant(const NodeProto &node);
  LogicalResult convertConstantOfShape(const NodeProto &node);
  LogicalResult convertShape(const NodeProto &node);

  static const llvm::StringMap<Converter> &getConverters();

  /// Shared tail of the ops that become a reshape: folds a constant input.
  LogicalResult defineReshaped(unsigned inputIndex, ArrayRef<int64_t> shape);

  MLIRContext &context;
  OpBuilder builder;
  std::string path;
  const ImportOptions &options;
  int64_t opset = 0;
  std::map<std::string, Tensor> values;
  /// How many node inputs and graph outputs read each value.
  llvm::StringMap<int64_t> useCounts;
  /// The Conv nodes by output name, for folding a BatchNormalization.
  llvm::StringMap<const NodeProto *> convNodes;
  /// IsNaN results of run-time values (by output name) and the value each
  /// tests; only a Where may read them (see `convertNanGuard`).
  llvm::StringMap<std::string> nanTests;
  TensorMap weights;
  const NodeProto *node = nullptr;
  Location loc = UnknownLoc::get(&context);
};

} // namespace

//===----------------------------------------------------------------------===//
// Diagnostics
//===----------------------------------------------------------------------===//

/// The node's name, or "<OpType> #<index>" for an unnamed node.
static std::string describeNodeName(const NodeProto &node) {
  return node.name().empty() ? "<unnamed " + node.op_type() + ">"
                             : node.name();
}

Location Importer::getNodeLoc(const NodeProto &node) {
  return NameLoc::get(StringAttr::get(&context, describeNodeName(node)),
                      FileLineColLoc::get(&context, path, 0, 0));
}

InFlightDiagnostic Importer::nodeError(const Twine &message) {
  return emitError(loc) << "node '" << describeNodeName(*node) << "' ("
                        << node->op_type() << ", opset " << opset
                        << "): " << message;
}

LogicalResult Importer::checkSize(ArrayRef<int64_t> shape, ElementType type,
                                  const Twine &what) {
  std::string error;
  if (checkedByteSize(shape, type, error))
    return success();
  return nodeError(what) << " " << error;
}

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

bool Importer::hasInput(unsigned index) const {
  return static_cast<int>(index) < node->input_size() &&
         !node->input(index).empty();
}

FailureOr<Tensor *> Importer::input(unsigned index) {
  if (!hasInput(index))
    return nodeError("expected input #") << index;
  auto it = values.find(node->input(index));
  if (it == values.end() && nanTests.count(node->input(index)))
    return nodeError("input '")
           << node->input(index)
           << "' is IsNaN of a run-time value, which Kiln supports only as "
           << "the condition of Where(IsNaN(p), 0, p) after a Softmax";
  if (it == values.end())
    return nodeError("input '")
           << node->input(index)
           << "' is not defined before the node (the graph is malformed)";
  return &it->second;
}

FailureOr<const Constant *> Importer::constantInput(unsigned index,
                                                    StringRef what) {
  FailureOr<Tensor *> tensor = input(index);
  if (failed(tensor))
    return failure();
  if (!(*tensor)->constant)
    return nodeError("expected ")
           << what << " ('" << node->input(index)
           << "') to be known at import time; Kiln needs static shapes";
  return &*(*tensor)->constant;
}

FailureOr<std::vector<int64_t>> Importer::intsInput(unsigned index,
                                                    StringRef what) {
  FailureOr<const Constant *> constant = constantInput(index, what);
  if (failed(constant))
    return failure();
  const HostTensor &tensor = (*constant)->tensor;
  if (isFloatType(tensor.getElementType()) || tensor.getRank() > 1)
    return nodeError("expected ") << what << " to be a 1-D integer tensor";
  std::vector<int64_t> result;
  for (int64_t i = 0, e = tensor.getNumElements(); i < e; ++i)
    result.push_back(tensor.getInt(i));
  return result;
}

bool Importer::allInputsConstant() const {
  for (const std::string &name : node->input()) {
    if (name.empty())
      continue;
    auto it = values.find(name);
    if (it == values.end() || !it->second.constant)
      return false;
  }
  return true;
}

LogicalResult Importer::define(unsigned index, Tensor tensor) {
  if (static_cast<int>(index) >= node->output_size() ||
      node->output(index).empty())
    return success();
  if (!values.emplace(node->output(index), std::move(tensor)).second)
    return nodeError("output '")
           << node->output(index) << "' is defined twice (the graph is "
           << "malformed)";
  return success();
}

LogicalResult Importer::defineValue(unsigned index, Value value) {
  return define(index, Tensor{value, std::nullopt});
}

LogicalResult Importer::defineConstant(unsigned index, Constant constant) {
  return define(index, Tensor{Value(), std::move(constant)});
}

FailureOr<Value> Importer::constantValue(HostTensor tensor, StringRef name) {
  Type elementType = toMlirType(&context, tensor.getElementType());
  auto type = RankedTensorType::get(tensor.getShape(), elementType);
  if (tensor.getNumElements() <= kMaxInlineElements)
    return ConstantOp::create(builder, loc,
                              reference::toElementsAttr(tensor, type))
        .getResult();
  // Distinct ONNX values have distinct names; folded tensors derived from a
  // weight are named after the value they define.
  std::string weightName = name.str();
  for (int suffix = 1; weights.count(weightName); ++suffix)
    weightName = (name + "." + Twine(suffix)).str();
  weights.emplace(weightName, std::move(tensor));
  return WeightOp::create(builder, loc, type,
                          builder.getStringAttr(weightName))
      .getResult();
}

Value Importer::materialize(Tensor &tensor, StringRef name) {
  if (!tensor.value) {
    // Constants are created where they are first used; that dominates every
    // later use, since the function has a single block.
    tensor.value = *constantValue(tensor.constant->tensor, name);
  }
  return tensor.value;
}

FailureOr<Value> Importer::runtimeInput(unsigned index) {
  FailureOr<Tensor *> tensor = input(index);
  if (failed(tensor))
    return failure();
  return materialize(**tensor, node->input(index));
}

FailureOr<Value> Importer::floatInput(unsigned index) {
  FailureOr<Value> value = runtimeInput(index);
  if (failed(value))
    return failure();
  if (!isa<FloatType>(cast<RankedTensorType>(value->getType()).getElementType()))
    return nodeError("expected input '")
           << node->input(index) << "' to be a float tensor at run time (got "
           << value->getType()
           << "); integer arithmetic is only supported at import time";
  return value;
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

const AttributeProto *Importer::attribute(StringRef name) const {
  for (const AttributeProto &attr : node->attribute())
    if (attr.name() == name)
      return &attr;
  return nullptr;
}

int64_t Importer::intAttr(StringRef name, int64_t defaultValue) const {
  const AttributeProto *attr = attribute(name);
  return attr ? attr->i() : defaultValue;
}

float Importer::floatAttr(StringRef name, float defaultValue) const {
  const AttributeProto *attr = attribute(name);
  return attr ? attr->f() : defaultValue;
}

std::string Importer::stringAttr(StringRef name, StringRef defaultValue) const {
  const AttributeProto *attr = attribute(name);
  return attr ? attr->s() : defaultValue.str();
}

std::optional<std::vector<int64_t>>
Importer::intsAttr(StringRef name) const {
  const AttributeProto *attr = attribute(name);
  if (!attr)
    return std::nullopt;
  return std::vector<int64_t>(attr->ints().begin(), attr->ints().end());
}

FailureOr<int64_t> Importer::normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    return nodeError("axis ") << axis << " is out of range for rank " << rank;
  return axis < 0 ? axis + rank : axis;
}

//===----------------------------------------------------------------------===//
// Building kiln ops
//===----------------------------------------------------------------------===//

/// Creates `OpTy` and infers its result type. The inferring builders abort on
/// a bad shape, so the op is created with a placeholder type and inferred
/// afterwards: a shape error in a model file becomes a diagnostic.
template <typename OpTy, typename... Args>
FailureOr<Value> Importer::build(Args &&...args) {
  Type placeholder = UnrankedTensorType::get(builder.getF32Type());
  OpTy op = OpTy::create(builder, loc, placeholder, std::forward<Args>(args)...);
  SmallVector<Type, 1> types;
  if (failed(OpTy::inferReturnTypes(
          &context, loc, op->getOperands(), op->getRawDictionaryAttrs(),
          op->getPropertiesStorage(), op->getRegions(), types))) {
    op->erase();
    return failure();
  }
  auto type = cast<RankedTensorType>(types.front());
  op->getResult(0).setType(type);
  if (failed(checkSize(type.getShape(),
                       *toElementType(type.getElementType()), "its result")))
    return failure();
  return op->getResult(0);
}

FailureOr<Value> Importer::reshape(Value value, ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getShape() == shape)
    return value;
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  if (count != type.getNumElements())
    return nodeError("cannot reshape ")
           << type << " to " << count << " elements";
  return ReshapeOp::create(builder, loc, type.clone(shape), value).getResult();
}

LogicalResult Importer::defineReshaped(unsigned inputIndex,
                                       ArrayRef<int64_t> shape) {
  FailureOr<Tensor *> tensor = input(inputIndex);
  if (failed(tensor))
    return failure();
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0)
      return nodeError("negative dimension ") << dim << " in the new shape";
    count *= dim;
  }
  if ((*tensor)->constant) {
    const HostTensor &in = (*tensor)->constant->tensor;
    if (count != in.getNumElements())
      return nodeError("cannot reshape ")
             << in.getNumElements() << " elements to " << count;
    return defineConstant(
        0, {reference::reshape(in, std::vector<int64_t>(shape.begin(),
                                                        shape.end())),
            (*tensor)->constant->isBool});
  }
  FailureOr<Value> result = reshape((*tensor)->value, shape);
  if (failed(result))
    return failure();
  return defineValue(0, *result);
}

//===----------------------------------------------------------------------===//
// Host folding helpers
//===----------------------------------------------------------------------===//

/// A constant of `type` holding `values`: a scalar when `scalar` (one
/// value), else a 1-D tensor.
template <typename T>
static HostTensor makeListTensor(ElementType type, const std::vector<T> &values,
                                 bool scalar) {
  std::vector<int64_t> shape;
  if (!scalar)
    shape.push_back(static_cast<int64_t>(values.size()));
  HostTensor tensor(type, shape);
  for (auto [i, value] : llvm::enumerate(values)) {
    if constexpr (std::is_floating_point_v<T>)
      tensor.setFloat(static_cast<int64_t>(i), value);
    else
      tensor.setInt(static_cast<int64_t>(i), value);
  }
  return tensor;
}

/// The numpy broadcast of `lhs` and `rhs`, or nullopt.
static std::optional<std::vector<int64_t>>
broadcastHostShapes(ArrayRef<int64_t> lhs, ArrayRef<int64_t> rhs) {
  FailureOr<SmallVector<int64_t>> shape = broadcastShapes(lhs, rhs);
  if (failed(shape))
    return std::nullopt;
  return std::vector<int64_t>(shape->begin(), shape->end());
}

/// `fn(a[i], b[i])` over the broadcast of two constants, in double for
/// floats and in int64 for integers; the result has `resultType`.
template <typename Fn>
static HostTensor foldElementwise(const HostTensor &lhs, const HostTensor &rhs,
                                  const std::vector<int64_t> &shape,
                                  ElementType resultType, Fn fn) {
  HostTensor a = reference::broadcastTo(lhs, shape);
  HostTensor b = reference::broadcastTo(rhs, shape);
  HostTensor result(resultType, shape);
  bool floats = isFloatType(lhs.getElementType());
  for (int64_t i = 0, e = result.getNumElements(); i < e; ++i) {
    double value = floats ? fn(double(a.getFloat(i)), double(b.getFloat(i)))
                          : fn(a.getInt(i), b.getInt(i));
    if (isFloatType(resultType))
      result.setFloat(i, static_cast<float>(value));
    else
      result.setInt(i, static_cast<int64_t>(value));
  }
  return result;
}

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

LogicalResult Importer::convertBinary(const NodeProto &node) {
  StringRef op = node.op_type();
  FailureOr<Tensor *> lhs = input(0), rhs = input(1);
  if (failed(lhs) || failed(rhs))
    return failure();
  if ((*lhs)->constant && (*rhs)->constant) {
    const HostTensor &a = (*lhs)->constant->tensor, &b = (*rhs)->constant->tensor;
    std::optional<std::vector<int64_t>> shape =
        broadcastHostShapes(a.getShape(), b.getShape());
    if (!shape)
      return nodeError("operand shapes do not broadcast");
    if (failed(checkSize(*shape, a.getElementType(), "the folded result")))
      return failure();
    bool floats = isFloatType(a.getElementType());
    auto apply = [&](auto x, auto y) -> double {
      using T = decltype(x);
      if (op == "Add")
        return x + y;
      if (op == "Sub")
        return x - y;
      if (op == "Mul")
        return x * y;
      if (op == "Div") {
        if constexpr (std::is_integral_v<T>)
          return y == 0 ? 0 : x / y;
        return x / y;
      }
      return std::pow(double(x), double(y));
    };
    if (!floats && op == "Pow")
      return nodeError("integer Pow is not supported");
    return defineConstant(0, {foldElementwise(a, b, *shape, a.getElementType(),
                                              apply),
                              false});
  }

  FailureOr<Value> a = floatInput(0);
  if (failed(a))
    return failure();
  // Pow may take its exponent in another type; a constant one is converted.
  Type elementType = cast<RankedTensorType>(a->getType()).getElementType();
  if (op == "Pow" && (*rhs)->constant &&
      (*rhs)->constant->tensor.getElementType() !=
          *toElementType(elementType)) {
    HostTensor exponent = reference::castTo(
        (*rhs)->constant->tensor, *toElementType(elementType));
    if (!isFloatType((*rhs)->constant->tensor.getElementType()) ||
        isFloatType(exponent.getElementType()))
      (*rhs)->constant->tensor = std::move(exponent);
  }
  FailureOr<Value> b = floatInput(1);
  if (failed(b))
    return failure();
  FailureOr<Value> result = failure();
  if (op == "Add")
    result = build<AddOp>(*a, *b);
  else if (op == "Sub")
    result = build<SubOp>(*a, *b);
  else if (op == "Mul")
    result = build<MulOp>(*a, *b);
  else if (op == "Div")
    result = build<DivOp>(*a, *b);
  else
    result = build<PowOp>(*a, *b);
  if (failed(result))
    return failure();
  return defineValue(0, *result);
}

LogicalResult Importer::convertUnary(const NodeProto &node) {
  StringRef op = node.op_type();
  FailureOr<Tensor *> in = input(0);
  if (failed(in))
    return failure();
  if ((*in)->constant && op == "Neg" &&
      !isFloatType((*in)->constant->tensor.getElementType())) {
    HostTensor result = (*in)->constant->tensor;
    for (int64_t i = 0, e = result.getNumElements(); i < e; ++i)
      result.setInt(i, -result.getInt(i));
    return defineConstant(0, {std::move(result), false});
  }
  FailureOr<Value> x = floatInput(0);
  if (failed(x))
    return failure();
  FailureOr<Value> result = failure();
  if (op == "Sqrt")
    result = build<SqrtOp>(*x);
  else if (op == "Erf")
    result = build<ErfOp>(*x);
  else if (op == "Tanh")
    result = build<TanhOp>(*x);
  else if (op == "Sigmoid")
    result = build<SigmoidOp>(*x);
  else if (op == "Relu")
    result = build<ReluOp>(*x);
  else if (op == "Neg")
    result = build<NegOp>(*x);
  else {
    // Reciprocal: 1 / x, exactly as the division rounds.
    auto type = cast<RankedTensorType>(x->getType());
    HostTensor one(*toElementType(type.getElementType()), {});
    one.setFloat(0, 1.0f);
    FailureOr<Value> numerator = constantValue(std::move(one), "one");
    result = build<DivOp>(*numerator, *x);
  }
  if (failed(result))
    return failure();
  return defineValue(0, *result);
}

LogicalResult Importer::convertIdentity(const NodeProto &) {
  FailureOr<Tensor *> in = input(0);
  if (failed(in))
    return failure();
  return define(0, **in);
}

LogicalResult Importer::convertCast(const NodeProto &node) {
  FailureOr<Tensor *> in = input(0);
  if (failed(in))
    return failure();
  bool toBool;
  int32_t to = static_cast<int32_t>(intAttr("to", 0));
  std::optional<ElementType> target = fromOnnxType(to, toBool);
  if (!target)
    return nodeError("cast to ") << onnxTypeName(to) << " is not supported";
  if ((*in)->constant) {
    const HostTensor &from = (*in)->constant->tensor;
    HostTensor result(*target, from.getShape());
    for (int64_t i = 0, e = result.getNumElements(); i < e; ++i) {
      if (toBool)
        result.setInt(i, from.getFloat(i) != 0.0f);
      else if (isFloatType(*target))
        result.setFloat(i, from.getFloat(i));
      else if (isFloatType(from.getElementType()))
        // Float to integer truncates toward zero, as ONNX specifies.
        result.setInt(i, static_cast<int64_t>(std::trunc(from.getFloat(i))));
      else
        result.setInt(i, from.getInt(i));
    }
    return defineConstant(0, {std::move(result), toBool});
  }
  FailureOr<Value> x = runtimeInput(0);
  if (failed(x))
    return failure();
  auto type = cast<RankedTensorType>(x->getType());
  bool fromFloat = isa<FloatType>(type.getElementType());
  if (toBool || (fromFloat && !isFloatType(*target)))
    return nodeError("cast of a run-time ")
           << type << " to " << onnxTypeName(to) << " is not supported";
  Type resultType = type.clone(toMlirType(&context, *target));
  if (resultType == type)
    return defineValue(0, *x);
  return defineValue(0, CastOp::create(builder, loc, resultType, *x));
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

LogicalResult Importer::convertMatMul(const NodeProto &) {
  FailureOr<Value> lhs = floatInput(0), rhs = floatInput(1);
  if (failed(lhs) || failed(rhs))
    return failure();
  // numpy matmul: a 1-D lhs is a row and a 1-D rhs a column, dropped after.
  ArrayRef<int64_t> lhsShape = cast<RankedTensorType>(lhs->getType()).getShape();
  ArrayRef<int64_t> rhsShape = cast<RankedTensorType>(rhs->getType()).getShape();
  if (lhsShape.empty() || rhsShape.empty())
    return nodeError("MatMul operands must have rank >= 1");
  bool rowLhs = lhsShape.size() == 1, columnRhs = rhsShape.size() == 1;
  if (rowLhs)
    lhs = reshape(*lhs, {1, lhsShape[0]});
  if (columnRhs)
    rhs = reshape(*rhs, {rhsShape[0], 1});
  if (failed(lhs) || failed(rhs))
    return failure();
  FailureOr<Value> result = build<MatmulOp>(*lhs, *rhs, false, false);
  if (failed(result))
    return failure();
  if (rowLhs || columnRhs) {
    SmallVector<int64_t> shape(
        cast<RankedTensorType>(result->getType()).getShape());
    if (columnRhs)
      shape.pop_back();
    if (rowLhs)
      shape.erase(shape.end() - (columnRhs ? 1 : 2));
    result = reshape(*result, shape);
    if (failed(result))
      return failure();
  }
  return defineValue(0, *result);
}

LogicalResult Importer::convertGemm(const NodeProto &) {
  FailureOr<Value> a = floatInput(0), b = floatInput(1);
  if (failed(a) || failed(b))
    return failure();
  FailureOr<Value> result =
      build<MatmulOp>(*a, *b, intAttr("transA", 0) != 0, intAttr("transB", 0) != 0);
  if (failed(result))
    return failure();
  auto scaled = [&](Value value, float factor) -> FailureOr<Value> {
    if (factor == 1.0f)
      return value;
    HostTensor scalar(
        *toElementType(cast<RankedTensorType>(value.getType()).getElementType()),
        {});
    scalar.setFloat(0, factor);
    return build<MulOp>(value, *constantValue(std::move(scalar), "scale"));
  };
  result = scaled(*result, floatAttr("alpha", 1.0f));
  if (succeeded(result) && hasInput(2)) {
    FailureOr<Value> c = floatInput(2);
    if (failed(c))
      return failure();
    FailureOr<Value> bias = scaled(*c, floatAttr("beta", 1.0f));
    if (failed(bias))
      return failure();
    result = build<AddOp>(*result, *bias);
  }
  if (failed(result))
    return failure();
  return defineValue(0, *result);
}

FailureOr<SmallVector<int64_t>>
Importer::spatialPadding(ArrayRef<int64_t> inputShape, ArrayRef<int64_t> kernel,
                         ArrayRef<int64_t> strides,
                         ArrayRef<int64_t> dilations) {
  std::string autoPad = stringAttr("auto_pad", "NOTSET");
  SmallVector<int64_t> padding(4, 0);
  if (autoPad == "NOTSET") {
    std::vector<int64_t> pads = intsAttr("pads").value_or(std::vector<int64_t>(4, 0));
    if (pads.size() != 4)
      return nodeError("expected 4 pads, got ") << pads.size();
    // ONNX orders pads as [begin_h, begin_w, end_h, end_w], kiln as
    // [top, left, bottom, right]: the same.
    return SmallVector<int64_t>(pads.begin(), pads.end());
  }
  if (autoPad == "VALID")
    return padding;
  if (autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER")
    return nodeError("unknown auto_pad '") << autoPad << "'";
  // SAME: the output has ceil(size / stride) elements; the odd pad goes at
  // the end (UPPER) or the beginning (LOWER).
  for (int i = 0; i < 2; ++i) {
    int64_t size = inputShape[2 + i];
    int64_t out = (size + strides[i] - 1) / strides[i];
    int64_t window = dilations[i] * (kernel[i] - 1) + 1;
    int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + window - size);
    int64_t small = total / 2, large = total - small;
    padding[i] = autoPad == "SAME_UPPER" ? small : large;
    padding[i + 2] = autoPad == "SAME_UPPER" ? large : small;
  }
  return padding;
}

FailureOr<Value> Importer::buildConv(Value input, Value filter,
                                     std::optional<Value> bias,
                                     ArrayRef<int64_t> strides,
                                     ArrayRef<int64_t> padding,
                                     ArrayRef<int64_t> dilations,
                                     int64_t groups) {
  FailureOr<Value> result =
      build<Conv2DOp>(input, filter, strides, padding, dilations, groups);
  if (failed(result) || !bias)
    return result;
  // The bias [O] broadcasts over [N, O, H, W] as [O, 1, 1].
  int64_t channels = cast<RankedTensorType>(bias->getType()).getNumElements();
  FailureOr<Value> column = reshape(*bias, {channels, 1, 1});
  if (failed(column))
    return failure();
  return build<AddOp>(*result, *column);
}

LogicalResult Importer::convertConv(const NodeProto &node) {
  FailureOr<Value> x = floatInput(0), w = floatInput(1);
  if (failed(x) || failed(w))
    return failure();
  ArrayRef<int64_t> xShape = cast<RankedTensorType>(x->getType()).getShape();
  ArrayRef<int64_t> wShape = cast<RankedTensorType>(w->getType()).getShape();
  if (xShape.size() != 4 || wShape.size() != 4)
    return nodeError("only 2-D convolutions (rank-4 input and filter) are "
                     "supported");
  std::vector<int64_t> strides = intsAttr("strides").value_or(std::vector<int64_t>{1, 1});
  std::vector<int64_t> dilations =
      intsAttr("dilations").value_or(std::vector<int64_t>{1, 1});
  if (strides.size() != 2 || dilations.size() != 2)
    return nodeError("expected 2 strides and 2 dilations");
  FailureOr<SmallVector<int64_t>> padding =
      spatialPadding(xShape, wShape.drop_front(2), strides, dilations);
  if (failed(padding))
    return failure();
  std::optional<Value> bias;
  if (hasInput(2)) {
    FailureOr<Value> b = floatInput(2);
    if (failed(b))
      return failure();
    bias = *b;
  }
  FailureOr<Value> result = buildConv(*x, *w, bias, strides, *padding,
                                      dilations, intAttr("group", 1));
  if (failed(result))
    return failure();
  convNodes[node.output(0)] = &node;
  return defineValue(0, *result);
}

/// Erases the ops that computed `value` once nothing uses them.
static void eraseIfDead(Value value) {
  Operation *op = value.getDefiningOp();
  if (!op || !op->use_empty())
    return;
  SmallVector<Value> operands(op->getOperands());
  op->erase();
  for (Value operand : operands)
    eraseIfDead(operand);
}

LogicalResult Importer::convertBatchNorm(const NodeProto &node) {
  if (node.output_size() > 1 && llvm::any_of(llvm::drop_begin(node.output()),
                                             [](const std::string &name) {
                                               return !name.empty();
                                             }))
    return nodeError("training-mode outputs (running mean and variance) are "
                     "not supported");
  SmallVector<const Constant *> params;
  for (unsigned i = 1; i < 5; ++i) {
    FailureOr<const Constant *> param =
        constantInput(i, "the batch normalization parameters");
    if (failed(param))
      return failure();
    params.push_back(*param);
  }
  FailureOr<Tensor *> x = input(0);
  if (failed(x))
    return failure();
  int64_t channels = params[0]->tensor.getNumElements();
  for (const Constant *param : params)
    if (param->tensor.getRank() != 1 || param->tensor.getNumElements() != channels)
      return nodeError("expected scale, bias, mean and variance of shape [")
             << channels << "]";
  if ((*x)->getRank() < 2 || (*x)->getShape()[1] != channels)
    return nodeError("expected an input [N, ") << channels << ", ...]";

  // y = x * a + b per channel, with a = scale / sqrt(var + eps) and
  // b = bias - mean * a.
  double epsilon = floatAttr("epsilon", 1e-5f);
  std::vector<double> a(channels), b(channels);
  for (int64_t c = 0; c < channels; ++c) {
    a[c] = params[0]->tensor.getFloat(c) /
           std::sqrt(double(params[3]->tensor.getFloat(c)) + epsilon);
    b[c] = params[1]->tensor.getFloat(c) - params[2]->tensor.getFloat(c) * a[c];
  }

  // 1. After a Conv read by nothing else, fold into its filter and bias.
  auto conv = convNodes.find(node.input(0));
  if (conv != convNodes.end() && useCounts.lookup(node.input(0)) == 1) {
    const NodeProto &convNode = *conv->second;
    auto filter = values.find(convNode.input(1));
    auto convBias = convNode.input_size() > 2 && !convNode.input(2).empty()
                        ? values.find(convNode.input(2))
                        : values.end();
    Value old = (*x)->value;
    auto convOp = old.getDefiningOp<Conv2DOp>();
    if (!convOp)
      if (auto add = old.getDefiningOp<AddOp>())
        convOp = add.getLhs().getDefiningOp<Conv2DOp>();
    if (filter->second.constant && convOp &&
        (convBias == values.end() || convBias->second.constant)) {
      HostTensor weight = filter->second.constant->tensor;
      int64_t perChannel = weight.getNumElements() / channels;
      for (int64_t i = 0, e = weight.getNumElements(); i < e; ++i)
        weight.setFloat(i, weight.getFloat(i) * a[i / perChannel]);
      HostTensor bias(weight.getElementType(), {channels});
      for (int64_t c = 0; c < channels; ++c) {
        double convB = convBias == values.end()
                           ? 0.0
                           : convBias->second.constant->tensor.getFloat(c);
        bias.setFloat(c, convB * a[c] + b[c]);
      }
      FailureOr<Value> newFilter =
          constantValue(std::move(weight), node.output(0) + ".conv_weight");
      FailureOr<Value> newBias =
          constantValue(std::move(bias), node.output(0) + ".conv_bias");
      FailureOr<Value> result = buildConv(
          convOp.getInput(), *newFilter, *newBias, convOp.getStrides(),
          convOp.getPadding(), convOp.getDilations(), convOp.getGroups());
      if (failed(result))
        return failure();
      values.erase(node.input(0));
      eraseIfDead(old);
      return defineValue(0, *result);
    }
  }

  // 2. Otherwise a per-channel multiply-add.
  FailureOr<Value> value = floatInput(0);
  if (failed(value))
    return failure();
  auto type = cast<RankedTensorType>(value->getType());
  ElementType elementType = *toElementType(type.getElementType());
  std::vector<int64_t> shape(type.getRank() - 1, 1);
  shape[0] = channels;
  HostTensor scale(elementType, shape), shift(elementType, shape);
  for (int64_t c = 0; c < channels; ++c) {
    scale.setFloat(c, a[c]);
    shift.setFloat(c, b[c]);
  }
  FailureOr<Value> result = build<MulOp>(
      *value, *constantValue(std::move(scale), node.output(0) + ".scale"));
  if (succeeded(result))
    result = build<AddOp>(
        *result, *constantValue(std::move(shift), node.output(0) + ".shift"));
  if (failed(result))
    return failure();
  return defineValue(0, *result);
}

//===----------------------------------------------------------------------===//
// Pooling
//===----------------------------------------------------------------------===//

LogicalResult Importer::convertPool(const NodeProto &node) {
  if (node.output_size() > 1 && !node.output(1).empty())
    return nodeError("the Indices output of MaxPool is not supported");
  FailureOr<Value> x = floatInput(0);
  if (failed(x))
    return failure();
  ArrayRef<int64_t> shape = cast<RankedTensorType>(x->getType()).getShape();
  std::optional<std::vector<int64_t>> kernel = intsAttr("kernel_shape");
  if (shape.size() != 4 || !kernel || kernel->size() != 2)
    return nodeError("only 2-D pooling (rank-4 input, 2 kernel sizes) is "
                     "supported");
  if (intAttr("ceil_mode", 0) != 0)
    return nodeError("ceil_mode = 1 is not supported");
  std::vector<int64_t> dilations =
      intsAttr("dilations").value_or(std::vector<int64_t>{1, 1});
  if (dilations != std::vector<int64_t>{1, 1})
    return nodeError("dilated pooling is not supported");
  std::vector<int64_t> strides = intsAttr("strides").value_or(std::vector<int64_t>{1, 1});
  if (strides.size() != 2)
    return nodeError("expected 2 strides");
  FailureOr<SmallVector<int64_t>> padding =
      spatialPadding(shape, *kernel, strides, dilations);
  if (failed(padding))
    return failure();
  FailureOr<Value> result =
      node.op_type() == "MaxPool"
          ? build<MaxPool2DOp>(*x, *kernel, strides, *padding)
          : build<AvgPool2DOp>(*x, *kernel, strides, *padding,
                               intAttr("count_include_pad", 0) != 0);
  if (failed(result))
    return failure();
  return defineValue(0, *result);
}

LogicalResult Importer::convertGlobalAveragePool(const NodeProto &) {
  FailureOr<Value> x = floatInput(0);
  if (failed(x))
    return failure();
  int64_t rank = cast<RankedTensorType>(x->getType()).getRank();
  if (rank < 3)
    return nodeError("expected an input [N, C, spatial...]");
  SmallVector<int64_t> axes(rank - 2);
  std::iota(axes.begin(), axes.end(), 2);
  FailureOr<Value> result = build<ReduceMeanOp>(*x, axes, /*keep_dims=*/true);
  if (failed(result))
    return failure();
  return defineValue(0, *result);
}

//===----------------------------------------------------------------------===//
// Reductions and normalizations
//===----------------------------------------------------------------------===//

LogicalResult Importer::convertSoftmax(const NodeProto &) {
  FailureOr<Value> x = floatInput(0);
  if (failed(x))
    return failure();
  FailureOr<int64_t> axis = normalizeAxis(
      intAttr("axis", -1), cast<RankedTensorType>(x->getType()).getRank());
  if (failed(axis))
    return failure();
  FailureOr<Value> result = build<SoftmaxOp>(*x, *axis);
  if (failed(result))
    return failure();
  return defineValue(0, *result);
}

LogicalResult Importer::convertLayerNorm(const NodeProto &node) {
  for (int i = 1; i < node.output_size(); ++i)
    if (!node.output(i).empty() && useCounts.lookup(node.output(i)))
      return nodeError("the Mean and InvStdDev outputs are not supported");
  FailureOr<Value> x = floatInput(0);
  if (failed(x))
    return failure();
  auto type = cast<RankedTensorType>(x->getType());
  FailureOr<int64_t> axis = normalizeAxis(intAttr("axis", -1), type.getRank());
  if (failed(axis))
    return failure();
  if (*axis != type.getRank() - 1)
    return nodeError("only normalization over the last axis is supported");
  int64_t size = type.getShape().back();
  FailureOr<Value> scale = floatInput(1);
  if (failed(scale))
    return failure();
  FailureOr<Value> bias = failure();
  if (hasInput(2)) {
    bias = floatInput(2);
  } else {
    bias = constantValue(
        HostTensor(*toElementType(type.getElementType()), {size}),
        node.output(0) + ".zero_bias");
  }
  if (failed(bias))
    return failure();
  scale = reshape(*scale, {size});
  if (succeeded(scale))
    bias = reshape(*bias, {size});
  if (failed(scale) || failed(bias))
    return failure();
  FailureOr<Value> result = build<LayerNormOp>(
      *x, *scale, *bias, builder.getF32FloatAttr(floatAttr("epsilon", 1e-5f)));
  if (failed(result))
    return failure();
  return defineValue(0, *result);
}

LogicalResult Importer::convertReduce(const NodeProto &node) {
  StringRef op = node.op_type();
  FailureOr<Value> x = floatInput(0);
  if (failed(x))
    return failure();
  int64_t rank = cast<RankedTensorType>(x->getType()).getRank();
  // Axes are an input from opset 18 (ReduceSum: 13), an attribute before.
  bool axesAsInput = op == "ReduceSum" || opset >= 18;
  std::vector<int64_t> axes;
  if (axesAsInput && hasInput(1)) {
    FailureOr<std::vector<int64_t>> given = intsInput(1, "the axes");
    if (failed(given))
      return failure();
    axes = *given;
  } else if (!axesAsInput) {
    axes = intsAttr("axes").value_or(std::vector<int64_t>{});
  }
  if (axes.empty()) {
    if (intAttr("noop_with_empty_axes", 0))
      return defineValue(0, *x);
    axes.resize(rank);
    std::iota(axes.begin(), axes.end(), 0);
  }
  for (int64_t &axis : axes) {
    FailureOr<int64_t> normalized = normalizeAxis(axis, rank);
    if (failed(normalized))
      return failure();
    axis = *normalized;
  }
  llvm::sort(axes);
  bool keepDims = intAttr("keepdims", 1) != 0;
  FailureOr<Value> result = failure();
  if (op == "ReduceMean")
    result = build<ReduceMeanOp>(*x, axes, keepDims);
  else if (op == "ReduceSum")
    result = build<ReduceSumOp>(*x, axes, keepDims);
  else
    result = build<ReduceMaxOp>(*x, axes, keepDims);
  if (failed(result))
    return failure();
  return defineValue(0, *result);
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

LogicalResult Importer::convertTranspose(const NodeProto &) {
  FailureOr<Tensor *> in = input(0);
  if (failed(in))
    return failure();
  int64_t rank = (*in)->getRank();
  std::vector<int64_t> perm(rank);
  std::iota(perm.rbegin(), perm.rend(), 0);
  perm = intsAttr("perm").value_or(perm);
  std::vector<bool> seen(rank, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p])
      return nodeError("perm is not a permutation of the ") << rank << " axes";
    seen[p] = true;
  }
  if (static_cast<int64_t>(perm.size()) != rank)
    return nodeError("perm is not a permutation of the ") << rank << " axes";
  if ((*in)->constant)
    return defineConstant(0, {reference::transpose((*in)->constant->tensor, perm),
                              (*in)->constant->isBool});
  FailureOr<Value> result =
      build<TransposeOp>(materialize(**in, node->input(0)), perm);
  if (failed(result))
    return failure();
  return defineValue(0, *result);
}

LogicalResult Importer::convertReshape(const NodeProto &) {
  FailureOr<Tensor *> in = input(0);
  FailureOr<std::vector<int64_t>> shape = intsInput(1, "the shape");
  if (failed(in) || failed(shape))
    return failure();
  ArrayRef<int64_t> inShape = (*in)->getShape();
  bool allowZero = intAttr("allowzero", 0) != 0;
  int64_t known = 1, inferred = -1;
  for (auto [i, dim] : llvm::enumerate(*shape)) {
    if (dim == 0 && !allowZero) {
      if (i >= inShape.size())
        return nodeError("shape copies dim ") << i << " of a rank-"
                                              << inShape.size() << " input";
      dim = inShape[i];
    }
    if (dim == -1) {
      if (inferred >= 0)
        return nodeError("shape has more than one -1");
      inferred = i;
      continue;
    }
    if (dim < 0)
      return nodeError("negative dimension ") << dim << " in the shape";
    known *= dim;
  }
  int64_t count = 1;
  for (int64_t dim : inShape)
    count *= dim;
  if (inferred >= 0) {
    if (known == 0 || count % known != 0)
      return nodeError("cannot infer the -1 dim of the shape");
    (*shape)[inferred] = count / known;
  }
  return defineReshaped(0, *shape);
}

LogicalResult Importer::convertSqueeze(const NodeProto &node) {
  FailureOr<Tensor *> in = input(0);
  if (failed(in))
    return failure();
  SmallVector<int64_t> shape((*in)->getShape());
  bool unsqueeze = node.op_type() == "Unsqueeze";
  std::vector<int64_t> axes;
  if (hasInput(1)) {
    FailureOr<std::vector<int64_t>> given = intsInput(1, "the axes");
    if (failed(given))
      return failure();
    axes = *given;
  } else if (unsqueeze) {
    return nodeError("expected the axes input");
  } else {
    for (auto [i, dim] : llvm::enumerate(shape))
      if (dim == 1)
        axes.push_back(i);
  }
  int64_t rank = shape.size() + (unsqueeze ? axes.size() : 0);
  for (int64_t &axis : axes) {
    FailureOr<int64_t> normalized = normalizeAxis(axis, rank);
    if (failed(normalized))
      return failure();
    axis = *normalized;
  }
  llvm::sort(axes);
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
    return nodeError("axes repeat");
  if (unsqueeze) {
    for (int64_t axis : axes)
      shape.insert(shape.begin() + axis, 1);
  } else {
    for (int64_t axis : llvm::reverse(axes)) {
      if (shape[axis] != 1)
        return nodeError("cannot squeeze axis ")
               << axis << " of size " << shape[axis];
      shape.erase(shape.begin() + axis);
    }
  }
  return defineReshaped(0, shape);
}

LogicalResult Importer::convertFlatten(const NodeProto &) {
  FailureOr<Tensor *> in = input(0);
  if (failed(in))
    return failure();
  ArrayRef<int64_t> shape = (*in)->getShape();
  int64_t rank = shape.size();
  int64_t axis = intAttr("axis", 1);
  if (axis < -rank || axis > rank)
    return nodeError("axis ") << axis << " is out of range for rank " << rank;
  if (axis < 0)
    axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < rank; ++i)
    (i < axis ? outer : inner) *= shape[i];
  return defineReshaped(0, {outer, inner});
}

LogicalResult Importer::convertConcat(const NodeProto &node) {
  SmallVector<Tensor *> inputs;
  for (int i = 0; i < node.input_size(); ++i) {
    FailureOr<Tensor *> in = input(i);
    if (failed(in))
      return failure();
    inputs.push_back(*in);
  }
  if (inputs.empty())
    return nodeError("expected at least one input");
  FailureOr<int64_t> axis =
      normalizeAxis(intAttr("axis", 0), inputs.front()->getRank());
  if (failed(axis))
    return failure();
  if (allInputsConstant()) {
    std::vector<const HostTensor *> tensors;
    const HostTensor &first = inputs.front()->constant->tensor;
    for (Tensor *in : inputs) {
      const HostTensor &tensor = in->constant->tensor;
      if (tensor.getRank() != first.getRank() ||
          tensor.getElementType() != first.getElementType())
        return nodeError("inputs differ in rank or element type");
      for (int64_t d = 0; d < tensor.getRank(); ++d)
        if (d != *axis && tensor.getShape()[d] != first.getShape()[d])
          return nodeError("inputs differ in size outside the axis");
      tensors.push_back(&tensor);
    }
    return defineConstant(0, {reference::concat(tensors, *axis),
                              inputs.front()->constant->isBool});
  }
  SmallVector<Value> operands;
  for (auto [i, in] : llvm::enumerate(inputs))
    operands.push_back(materialize(*in, node.input(i)));
  FailureOr<Value> result = build<ConcatOp>(operands, *axis);
  if (failed(result))
    return failure();
  return defineValue(0, *result);
}

LogicalResult Importer::convertSlice(const NodeProto &) {
  FailureOr<Tensor *> in = input(0);
  FailureOr<std::vector<int64_t>> starts = intsInput(1, "the starts");
  FailureOr<std::vector<int64_t>> ends = intsInput(2, "the ends");
  if (failed(in) || failed(starts) || failed(ends))
    return failure();
  ArrayRef<int64_t> shape = (*in)->getShape();
  int64_t rank = shape.size();
  std::vector<int64_t> axes(starts->size()), steps(starts->size(), 1);
  std::iota(axes.begin(), axes.end(), 0);
  if (hasInput(3)) {
    FailureOr<std::vector<int64_t>> given = intsInput(3, "the axes");
    if (failed(given))
      return failure();
    axes = *given;
  }
  if (hasInput(4)) {
    FailureOr<std::vector<int64_t>> given = intsInput(4, "the steps");
    if (failed(given))
      return failure();
    steps = *given;
  }
  if (ends->size() != starts->size() || axes.size() != starts->size() ||
      steps.size() != starts->size())
    return nodeError("starts, ends, axes and steps differ in length");
  std::vector<int64_t> lo(rank, 0), hi(shape.begin(), shape.end()),
      stride(rank, 1);
  for (size_t i = 0; i < axes.size(); ++i) {
    FailureOr<int64_t> axis = normalizeAxis(axes[i], rank);
    if (failed(axis))
      return failure();
    if (steps[i] < 1)
      return nodeError("only positive slice steps are supported");
    // Negative bounds count from the end; all are clamped to [0, size].
    int64_t size = shape[*axis];
    auto clampIndex = [&](int64_t index) {
      if (index < 0)
        index = index < -size ? 0 : index + size;
      return std::min(index, size);
    };
    lo[*axis] = clampIndex((*starts)[i]);
    hi[*axis] = std::max(lo[*axis], clampIndex((*ends)[i]));
    stride[*axis] = steps[i];
  }
  if ((*in)->constant)
    return defineConstant(
        0, {reference::slice((*in)->constant->tensor, lo, hi, stride),
            (*in)->constant->isBool});
  FailureOr<Value> result =
      build<SliceOp>(materialize(**in, node->input(0)), lo, hi, stride);
  if (failed(result))
    return failure();
  return defineValue(0, *result);
}

LogicalResult Importer::convertSplit(const NodeProto &node) {
  FailureOr<Tensor *> in = input(0);
  if (failed(in))
    return failure();
  ArrayRef<int64_t> shape = (*in)->getShape();
  FailureOr<int64_t> axis = normalizeAxis(intAttr("axis", 0), shape.size());
  if (failed(axis))
    return failure();
  int64_t outputs = node.output_size();
  std::vector<int64_t> sizes;
  if (hasInput(1)) {
    FailureOr<std::vector<int64_t>> given = intsInput(1, "the split sizes");
    if (failed(given))
      return failure();
    sizes = *given;
  } else {
    // Equal parts, the last one smaller when the size does not divide.
    int64_t parts = intAttr("num_outputs", outputs);
    if (parts < 1)
      return nodeError("expected at least one output");
    int64_t part = (shape[*axis] + parts - 1) / parts;
    for (int64_t i = 0; i < parts; ++i)
      sizes.push_back(std::clamp<int64_t>(shape[*axis] - i * part, 0, part));
  }
  if (static_cast<int64_t>(sizes.size()) != outputs ||
      std::accumulate(sizes.begin(), sizes.end(), int64_t{0}) != shape[*axis] ||
      llvm::any_of(sizes, [](int64_t s) { return s < 0; }))
    return nodeError("split sizes do not add up to the axis size ")
           << shape[*axis] << " over " << outputs << " outputs";
  std::vector<int64_t> lo(shape.size(), 0), hi(shape.begin(), shape.end());
  int64_t offset = 0;
  for (int64_t i = 0; i < outputs; ++i) {
    lo[*axis] = offset;
    hi[*axis] = offset += sizes[i];
    if ((*in)->constant) {
      if (failed(defineConstant(
              i, {reference::slice((*in)->constant->tensor, lo, hi, {}),
                  (*in)->constant->isBool})))
        return failure();
      continue;
    }
    FailureOr<Value> part = build<SliceOp>(
        materialize(**in, node.input(0)), lo, hi, ArrayRef<int64_t>{});
    if (failed(part) || failed(defineValue(i, *part)))
      return failure();
  }
  return success();
}

LogicalResult Importer::gather(unsigned dataIndex, Tensor indices,
                               StringRef indicesName, int64_t axis) {
  FailureOr<Tensor *> data = input(dataIndex);
  if (failed(data))
    return failure();
  int64_t size = (*data)->getShape()[axis];
  // Constant indices may count from the end; they are normalized here.
  if (indices.constant) {
    HostTensor &ids = indices.constant->tensor;
    if (isFloatType(ids.getElementType()))
      return nodeError("expected integer indices");
    for (int64_t i = 0, e = ids.getNumElements(); i < e; ++i) {
      int64_t id = ids.getInt(i);
      if (id < -size || id >= size)
        return nodeError("index ") << id << " is out of range for size "
                                   << size;
      ids.setInt(i, id < 0 ? id + size : id);
    }
    indices.value = Value();
    if ((*data)->constant) {
      std::string error;
      std::optional<HostTensor> result =
          reference::gather((*data)->constant->tensor, ids, axis, error);
      if (!result)
        return nodeError(error);
      return defineConstant(0, {std::move(*result), (*data)->constant->isBool});
    }
  }
  FailureOr<Value> result =
      build<GatherOp>(materialize(**data, node->input(dataIndex)),
                      materialize(indices, indicesName), axis);
  if (failed(result))
    return failure();
  return defineValue(0, *result);
}

LogicalResult Importer::convertGather(const NodeProto &) {
  FailureOr<Tensor *> data = input(0), indices = input(1);
  if (failed(data) || failed(indices))
    return failure();
  FailureOr<int64_t> axis =
      normalizeAxis(intAttr("axis", 0), (*data)->getRank());
  if (failed(axis))
    return failure();
  return gather(0, **indices, node->input(1), *axis);
}

LogicalResult Importer::convertGatherND(const NodeProto &) {
  FailureOr<Tensor *> data = input(0), indices = input(1);
  if (failed(data) || failed(indices))
    return failure();
  ArrayRef<int64_t> shape = (*indices)->getShape();
  if (intAttr("batch_dims", 0) != 0 || shape.empty() || shape.back() != 1 ||
      (*data)->getRank() < 1)
    return nodeError("only GatherND with batch_dims = 0 and indices [..., 1] "
                     "(one index per slice) is supported");
  // One index per slice selects along axis 0: a Gather of the indices
  // without their last axis.
  std::vector<int64_t> ids(shape.begin(), shape.end() - 1);
  Tensor flat;
  if ((*indices)->constant) {
    flat.constant =
        Constant{reference::reshape((*indices)->constant->tensor, ids), false};
  } else {
    FailureOr<Value> reshaped = reshape((*indices)->value, ids);
    if (failed(reshaped))
      return failure();
    flat.value = *reshaped;
  }
  return gather(0, std::move(flat), node->input(1), 0);
}

LogicalResult Importer::convertGatherElements(const NodeProto &) {
  if (!allInputsConstant())
    return nodeError("GatherElements is only supported on values known at "
                     "import time");
  FailureOr<const Constant *> data = constantInput(0, "the data");
  FailureOr<const Constant *> indices = constantInput(1, "the indices");
  if (failed(data) || failed(indices))
    return failure();
  const HostTensor &from = (*data)->tensor, &ids = (*indices)->tensor;
  FailureOr<int64_t> axis = normalizeAxis(intAttr("axis", 0), from.getRank());
  if (failed(axis))
    return failure();
  if (isFloatType(ids.getElementType()) || ids.getRank() != from.getRank())
    return nodeError("expected integer indices of the data's rank ")
           << from.getRank();
  for (int64_t d = 0; d < from.getRank(); ++d)
    if (d != *axis && ids.getShape()[d] > from.getShape()[d])
      return nodeError("the indices are larger than the data in dim ") << d;
  // out[i] = data[i with its axis coordinate replaced by indices[i]].
  std::vector<int64_t> strides = from.getStrides();
  int64_t size = from.getShape()[*axis];
  HostTensor result(from.getElementType(), ids.getShape());
  std::vector<int64_t> position(ids.getRank(), 0);
  for (int64_t i = 0, e = ids.getNumElements(); i < e; ++i) {
    int64_t id = ids.getInt(i);
    if (id < -size || id >= size)
      return nodeError("index ") << id << " is out of range for size " << size;
    int64_t offset = 0;
    for (int64_t d = 0; d < ids.getRank(); ++d)
      offset +=
          (d == *axis ? (id < 0 ? id + size : id) : position[d]) * strides[d];
    if (isFloatType(result.getElementType()))
      result.setFloat(i, from.getFloat(offset));
    else
      result.setInt(i, from.getInt(offset));
    for (int64_t d = ids.getRank() - 1; d >= 0; --d) {
      if (++position[d] < ids.getShape()[d])
        break;
      position[d] = 0;
    }
  }
  return defineConstant(0, {std::move(result), (*data)->isBool});
}

LogicalResult Importer::convertExpand(const NodeProto &) {
  FailureOr<Tensor *> in = input(0);
  FailureOr<std::vector<int64_t>> shape = intsInput(1, "the shape");
  if (failed(in) || failed(shape))
    return failure();
  // Expand broadcasts both ways: a 1 in the given shape keeps the input's.
  std::optional<std::vector<int64_t>> target =
      broadcastHostShapes((*in)->getShape(), *shape);
  if (!target || llvm::any_of(*target, [](int64_t d) { return d < 0; }))
    return nodeError("the input does not broadcast to the shape");
  if ((*in)->constant) {
    if (failed(checkSize(*target, (*in)->constant->tensor.getElementType(),
                         "the expanded tensor")))
      return failure();
    return defineConstant(
        0, {reference::broadcastTo((*in)->constant->tensor, *target),
            (*in)->constant->isBool});
  }
  Value value = (*in)->value;
  auto type = cast<RankedTensorType>(value.getType());
  if (failed(checkSize(*target, *toElementType(type.getElementType()),
                       "the expanded tensor")))
    return failure();
  if (type.getShape() == ArrayRef<int64_t>(*target))
    return defineValue(0, value);
  return defineValue(
      0, BroadcastToOp::create(builder, loc, type.clone(*target), value));
}

LogicalResult Importer::convertWhere(const NodeProto &) {
  if (hasInput(0) && nanTests.count(node->input(0)))
    return convertNanGuard(nanTests.lookup(node->input(0)));
  FailureOr<Tensor *> condition = input(0), onTrue = input(1),
                      onFalse = input(2);
  if (failed(condition) || failed(onTrue) || failed(onFalse))
    return failure();
  if (allInputsConstant()) {
    const HostTensor &c = (*condition)->constant->tensor;
    const HostTensor &t = (*onTrue)->constant->tensor;
    const HostTensor &f = (*onFalse)->constant->tensor;
    std::optional<std::vector<int64_t>> values =
        broadcastHostShapes(t.getShape(), f.getShape());
    std::optional<std::vector<int64_t>> shape =
        values ? broadcastHostShapes(c.getShape(), *values) : std::nullopt;
    if (!shape || t.getElementType() != f.getElementType() ||
        isFloatType(c.getElementType()))
      return nodeError("operands do not broadcast or differ in type");
    if (failed(checkSize(*shape, t.getElementType(), "the folded result")))
      return failure();
    return defineConstant(0, {reference::select(c, t, f),
                              (*onTrue)->constant->isBool});
  }
  FailureOr<Value> c = runtimeInput(0), t = runtimeInput(1),
                   f = runtimeInput(2);
  if (failed(c) || failed(t) || failed(f))
    return failure();
  FailureOr<Value> result = build<SelectOp>(*c, *t, *f);
  if (failed(result))
    return failure();
  return defineValue(0, *result);
}

LogicalResult Importer::convertEqual(const NodeProto &) {
  if (!allInputsConstant())
    return nodeError("Equal is only supported on values known at import "
                     "time (Kiln has no run-time boolean tensors)");
  const HostTensor &a = values[node->input(0)].constant->tensor;
  const HostTensor &b = values[node->input(1)].constant->tensor;
  std::optional<std::vector<int64_t>> shape =
      broadcastHostShapes(a.getShape(), b.getShape());
  if (!shape)
    return nodeError("operand shapes do not broadcast");
  if (failed(checkSize(*shape, ElementType::I64, "the folded result")))
    return failure();
  return defineConstant(
      0, {foldElementwise(a, b, *shape, ElementType::I64,
                          [](auto x, auto y) -> double { return x == y; }),
          true});
}

LogicalResult Importer::convertIsNaN(const NodeProto &node) {
  FailureOr<Tensor *> in = input(0);
  if (failed(in))
    return failure();
  if (!(*in)->constant) {
    nanTests[node.output(0)] = node.input(0);
    return success();
  }
  const HostTensor &x = (*in)->constant->tensor;
  HostTensor result(ElementType::I64, x.getShape());
  if (isFloatType(x.getElementType()))
    for (int64_t i = 0, e = x.getNumElements(); i < e; ++i)
      result.setInt(i, std::isnan(x.getFloat(i)));
  return defineConstant(0, {std::move(result), true});
}

/// Whether some row of `mask` (along its last axis) hides every key, or the
/// mask holds a NaN or +inf: softmax then gives NaN whatever the scores.
static bool canHideARow(const HostTensor &mask) {
  int64_t length = mask.getRank() ? mask.getShape().back() : 1;
  if (length == 0)
    return false;
  for (int64_t row = 0, e = mask.getNumElements() / length; row < e; ++row) {
    bool visible = false;
    for (int64_t i = row * length; i < (row + 1) * length; ++i) {
      float entry = mask.getFloat(i);
      if (std::isnan(entry) || entry == INFINITY)
        return true;
      visible |= std::isfinite(entry);
    }
    if (!visible)
      return true;
  }
  return false;
}

/// `Where(IsNaN(p), 0, p)`, which PyTorch's exported scaled dot-product
/// attention puts after its softmax so that a row a mask hides entirely
/// gives zeros, not NaN. A softmax row is NaN only when its input row holds
/// a NaN or +inf or is -inf throughout; with at most a constant mask that
/// hides no row, finite scores never are, and the guard is dropped.
/// (Non-finite scores then give NaN, not 0: they are already wrong.)
LogicalResult Importer::convertNanGuard(const std::string &tested) {
  FailureOr<Tensor *> fill = input(1), probabilities = input(2);
  if (failed(fill) || failed(probabilities))
    return failure();
  auto fail = [&] {
    return nodeError("Where(IsNaN(p), c, p) is only supported with c = 0 and "
                     "p a Softmax over the last axis whose rows no constant "
                     "mask hides entirely");
  };
  const std::optional<Constant> &c = (*fill)->constant;
  if (node->input(2) != tested || !c || c->tensor.getNumElements() != 1 ||
      c->tensor.getFloat(0) != 0.0f || !(*probabilities)->value)
    return fail();
  auto softmax = (*probabilities)->value.getDefiningOp<SoftmaxOp>();
  if (!softmax || softmax.getAxis() != softmax.getType().getRank() - 1)
    return fail();
  if (auto add = softmax.getInput().getDefiningOp<AddOp>()) {
    for (Value operand : add->getOperands()) {
      std::optional<HostTensor> mask = getConstant(operand, weights);
      if (mask && canHideARow(*mask))
        return fail();
    }
  }
  return define(0, **probabilities);
}

LogicalResult Importer::convertTopK(const NodeProto &) {
  FailureOr<Value> x = floatInput(0);
  FailureOr<std::vector<int64_t>> k = intsInput(1, "k");
  if (failed(x) || failed(k))
    return failure();
  auto type = cast<RankedTensorType>(x->getType());
  FailureOr<int64_t> axis = normalizeAxis(intAttr("axis", -1), type.getRank());
  if (failed(axis))
    return failure();
  // kiln.moe_router takes the softmax and the top k in one op; ties go to
  // the lower index, as in ONNX's sorted TopK.
  auto softmax = x->getDefiningOp<SoftmaxOp>();
  if (!softmax || type.getRank() != 2 || *axis != 1 || softmax.getAxis() != 1 ||
      intAttr("largest", 1) == 0 || intAttr("sorted", 1) == 0)
    return nodeError("TopK is only supported as a mixture-of-experts router: "
                     "the sorted largest k over the last axis of the Softmax "
                     "of [tokens, experts] logits");
  int64_t experts = type.getDimSize(1);
  if (k->size() != 1 || (*k)[0] < 1 || (*k)[0] > experts)
    return nodeError("k must be one value from 1 to the axis size ") << experts;
  auto router = MoeRouterOp::create(builder, loc, softmax.getInput(), (*k)[0],
                                    /*normalize=*/false);
  Value indices = router.getIndices();
  auto indicesType = cast<RankedTensorType>(indices.getType());
  Value wide = CastOp::create(builder, loc,
                              indicesType.clone(builder.getI64Type()), indices);
  if (failed(defineValue(0, router.getWeights())))
    return failure();
  return defineValue(1, wide);
}

LogicalResult Importer::convertRange(const NodeProto &) {
  if (!allInputsConstant())
    return nodeError("Range is only supported with bounds known at import "
                     "time");
  SmallVector<const HostTensor *> args;
  for (unsigned i = 0; i < 3; ++i) {
    FailureOr<const Constant *> arg = constantInput(i, "the range bounds");
    if (failed(arg))
      return failure();
    if ((*arg)->tensor.getNumElements() != 1)
      return nodeError("expected scalar range bounds");
    args.push_back(&(*arg)->tensor);
  }
  double start = args[0]->getFloat(0), limit = args[1]->getFloat(0),
         delta = args[2]->getFloat(0);
  if (delta == 0)
    return nodeError("delta is zero");
  double steps = std::ceil((limit - start) / delta);
  ElementType type = args[0]->getElementType();
  if (!(steps < double(kMaxTensorBytes)))
    return nodeError("the range is larger than the limit of ")
           << kMaxTensorBytes << " bytes";
  int64_t count = std::max<int64_t>(0, static_cast<int64_t>(steps));
  if (failed(checkSize({count}, type, "the range")))
    return failure();
  HostTensor result(type, {count});
  for (int64_t i = 0; i < count; ++i) {
    if (isFloatType(type))
      result.setFloat(i, start + i * delta);
    else
      result.setInt(i, args[0]->getInt(0) + i * args[2]->getInt(0));
  }
  return defineConstant(0, {std::move(result), false});
}

//===----------------------------------------------------------------------===//
// Constants and shapes
//===----------------------------------------------------------------------===//

LogicalResult Importer::convertConstant(const NodeProto &node) {
  for (const AttributeProto &attr : node.attribute()) {
    StringRef name = attr.name();
    if (name == "value") {
      std::string error;
      std::optional<Constant> constant = decodeTensor(attr.t(), path, error);
      if (!constant)
        return nodeError("its value ") << error;
      return defineConstant(0, std::move(*constant));
    }
    if (name == "value_float" || name == "value_floats") {
      std::vector<float> floats(attr.floats().begin(), attr.floats().end());
      if (name == "value_float")
        floats = {attr.f()};
      return defineConstant(
          0, {makeListTensor(ElementType::F32, floats, name == "value_float"),
              false});
    }
    if (name == "value_int" || name == "value_ints") {
      std::vector<int64_t> ints(attr.ints().begin(), attr.ints().end());
      if (name == "value_int")
        ints = {attr.i()};
      return defineConstant(
          0, {makeListTensor(ElementType::I64, ints, name == "value_int"),
              false});
    }
  }
  return nodeError("expected a value, value_float(s) or value_int(s) "
                   "attribute (sparse and string constants are not "
                   "supported)");
}

LogicalResult Importer::convertConstantOfShape(const NodeProto &) {
  FailureOr<std::vector<int64_t>> shape = intsInput(0, "the shape");
  if (failed(shape))
    return failure();
  Constant fill{HostTensor(ElementType::F32, {1}), false};
  if (const AttributeProto *value = attribute("value")) {
    std::string error;
    std::optional<Constant> given = decodeTensor(value->t(), path, error);
    if (!given)
      return nodeError("its value ") << error;
    if (given->tensor.getNumElements() != 1)
      return nodeError("expected a one-element value");
    fill = std::move(*given);
  }
  if (failed(checkSize(*shape, fill.tensor.getElementType(), "the tensor")))
    return failure();
  HostTensor scalar = reference::reshape(fill.tensor, {});
  return defineConstant(0, {reference::broadcastTo(scalar, *shape),
                            fill.isBool});
}

LogicalResult Importer::convertShape(const NodeProto &) {
  FailureOr<Tensor *> in = input(0);
  if (failed(in))
    return failure();
  ArrayRef<int64_t> shape = (*in)->getShape();
  int64_t rank = shape.size();
  auto clampIndex = [&](int64_t index) {
    if (index < 0)
      index += rank;
    return std::clamp<int64_t>(index, 0, rank);
  };
  int64_t start = clampIndex(intAttr("start", 0));
  int64_t end = std::max(start, clampIndex(intAttr("end", rank)));
  HostTensor result(ElementType::I64, {end - start});
  for (int64_t i = start; i < end; ++i)
    result.setInt(i - start, shape[i]);
  return defineConstant(0, {std::move(result), false});
}

//===----------------------------------------------------------------------===//
// The graph
//===----------------------------------------------------------------------===//

const llvm::StringMap<Converter> &Importer::getConverters() {
  static const llvm::StringMap<Converter> converters = {
      {"Add", &Importer::convertBinary},
      {"Sub", &Importer::convertBinary},
      {"Mul", &Importer::convertBinary},
      {"Div", &Importer::convertBinary},
      {"Pow", &Importer::convertBinary},
      {"Sqrt", &Importer::convertUnary},
      {"Reciprocal", &Importer::convertUnary},
      {"Erf", &Importer::convertUnary},
      {"Tanh", &Importer::convertUnary},
      {"Sigmoid", &Importer::convertUnary},
      {"Relu", &Importer::convertUnary},
      {"Neg", &Importer::convertUnary},
      {"Identity", &Importer::convertIdentity},
      {"Cast", &Importer::convertCast},
      {"MatMul", &Importer::convertMatMul},
      {"Gemm", &Importer::convertGemm},
      {"Conv", &Importer::convertConv},
      {"BatchNormalization", &Importer::convertBatchNorm},
      {"MaxPool", &Importer::convertPool},
      {"AveragePool", &Importer::convertPool},
      {"GlobalAveragePool", &Importer::convertGlobalAveragePool},
      {"Softmax", &Importer::convertSoftmax},
      {"LayerNormalization", &Importer::convertLayerNorm},
      {"ReduceMean", &Importer::convertReduce},
      {"ReduceSum", &Importer::convertReduce},
      {"ReduceMax", &Importer::convertReduce},
      {"Transpose", &Importer::convertTranspose},
      {"Reshape", &Importer::convertReshape},
      {"Squeeze", &Importer::convertSqueeze},
      {"Unsqueeze", &Importer::convertSqueeze},
      {"Flatten", &Importer::convertFlatten},
      {"Concat", &Importer::convertConcat},
      {"Slice", &Importer::convertSlice},
      {"Split", &Importer::convertSplit},
      {"Gather", &Importer::convertGather},
      {"GatherElements", &Importer::convertGatherElements},
      {"GatherND", &Importer::convertGatherND},
      {"TopK", &Importer::convertTopK},
      {"IsNaN", &Importer::convertIsNaN},
      {"Expand", &Importer::convertExpand},
      {"Where", &Importer::convertWhere},
      {"Equal", &Importer::convertEqual},
      {"Range", &Importer::convertRange},
      {"Constant", &Importer::convertConstant},
      {"ConstantOfShape", &Importer::convertConstantOfShape},
      {"Shape", &Importer::convertShape},
  };
  return converters;
}

LogicalResult Importer::readOpset(const ModelProto &model) {
  for (const auto &entry : model.opset_import())
    if (entry.domain().empty() || entry.domain() == "ai.onnx")
      opset = entry.version();
  Location fileLoc = FileLineColLoc::get(&context, path, 0, 0);
  if (opset == 0)
    return emitError(fileLoc, "the model imports no default-domain opset "
                              "(not an ONNX model, or a truncated one)");
  if (opset < kMinOpset || opset > kMaxOpset)
    return emitError(fileLoc) << "default-domain opset " << opset
                              << " is not supported (supported: "
                              << kMinOpset << " to " << kMaxOpset << ")";
  return success();
}

LogicalResult Importer::checkSupported(const GraphProto &graph) {
  SmallVector<const NodeProto *> unsupported;
  for (const NodeProto &candidate : graph.node()) {
    bool defaultDomain =
        candidate.domain().empty() || candidate.domain() == "ai.onnx";
    if (!defaultDomain || !getConverters().count(candidate.op_type()))
      unsupported.push_back(&candidate);
  }
  if (unsupported.empty())
    return success();
  InFlightDiagnostic error =
      emitError(FileLineColLoc::get(&context, path, 0, 0))
      << "the model uses " << unsupported.size() << " unsupported ONNX op"
      << (unsupported.size() == 1 ? "" : "s");
  for (const NodeProto *bad : unsupported) {
    std::string domain = bad->domain().empty() ? "ai.onnx" : bad->domain();
    error.attachNote(getNodeLoc(*bad))
        << "unsupported op '" << bad->op_type() << "' (node '"
        << describeNodeName(*bad) << "', domain '" << domain << "', opset "
        << opset << ")";
  }
  return error;
}

LogicalResult Importer::addInitializers(const GraphProto &graph) {
  for (const TensorProto &initializer : graph.initializer()) {
    std::string error;
    std::optional<Constant> constant = decodeTensor(initializer, path, error);
    if (!constant)
      return emitError(FileLineColLoc::get(&context, path, 0, 0))
             << "initializer '" << initializer.name() << "' " << error;
    values[initializer.name()] = Tensor{Value(), std::move(*constant)};
  }
  return success();
}

LogicalResult Importer::addInputs(const GraphProto &graph,
                                  func::FuncOp function) {
  Location fileLoc = FileLineColLoc::get(&context, path, 0, 0);
  Block &entry = function.getBody().front();
  llvm::StringSet<> inputNames;
  for (const auto &graphInput : graph.input())
    inputNames.insert(graphInput.name());
  for (const auto &[name, shape] : options.inputShapes)
    if (!inputNames.contains(name) || values.count(name))
      return emitError(fileLoc)
             << "--shape names '" << name << "', which is not an input of "
             << "the model";
  for (const auto &graphInput : graph.input()) {
    const std::string &name = graphInput.name();
    // Before IR version 4, initializers were listed among the inputs too.
    if (values.count(name))
      continue;
    if (!graphInput.type().has_tensor_type())
      return emitError(fileLoc) << "input '" << name << "' is not a tensor";
    const auto &tensorType = graphInput.type().tensor_type();
    bool isBool;
    std::optional<ElementType> elementType =
        fromOnnxType(tensorType.elem_type(), isBool);
    if (!elementType || isBool)
      return emitError(fileLoc)
             << "input '" << name << "' has element type "
             << onnxTypeName(tensorType.elem_type())
             << ", which Kiln does not support";
    if (!tensorType.has_shape())
      return emitError(fileLoc) << "input '" << name << "' has no shape";
    const auto &dims = tensorType.shape().dim();
    auto given = options.inputShapes.find(name);
    if (given != options.inputShapes.end() &&
        static_cast<int>(given->second.size()) != dims.size())
      return emitError(fileLoc)
             << "--shape gives " << given->second.size() << " dims for input '"
             << name << "' of rank " << dims.size();
    std::vector<int64_t> shape;
    for (auto [i, dim] : llvm::enumerate(dims)) {
      std::string label =
          dim.has_dim_param() ? " ('" + dim.dim_param() + "')" : "";
      if (given != options.inputShapes.end()) {
        int64_t size = given->second[i];
        if (dim.has_dim_value() && dim.dim_value() != size)
          return emitError(fileLoc)
                 << "--shape gives size " << size << " to dim " << i
                 << " of input '" << name << "', which is fixed at "
                 << dim.dim_value();
        shape.push_back(size);
      } else if (dim.has_dim_value() && dim.dim_value() >= 0) {
        shape.push_back(dim.dim_value());
      } else {
        return emitError(fileLoc)
               << "dim " << i << label << " of input '" << name
               << "' is symbolic; give its size with --shape " << name
               << "=" << (dims.size() ? "AxB..." : "");
      }
    }
    std::string error;
    if (!checkedByteSize(shape, *elementType, error))
      return emitError(fileLoc) << "input '" << name << "' " << error;
    auto type =
        RankedTensorType::get(shape, toMlirType(&context, *elementType));
    Value argument = entry.addArgument(type, NameLoc::get(
        StringAttr::get(&context, name), fileLoc));
    function.setType(builder.getFunctionType(entry.getArgumentTypes(), {}));
    function.setArgAttr(entry.getNumArguments() - 1, "kiln.name",
                        builder.getStringAttr(name));
    values[name] = Tensor{argument, std::nullopt};
  }
  return success();
}

LogicalResult Importer::convertNode(const NodeProto &current) {
  node = &current;
  loc = getNodeLoc(current);
  // Errors of the kiln ops built here (shape inference) say which node they
  // come from; the importer's own errors already do.
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
    if (diagnostic.getSeverity() == DiagnosticSeverity::Error &&
        !StringRef(diagnostic.str()).starts_with("node '"))
      diagnostic.attachNote(loc)
          << "while importing node '" << describeNodeName(current) << "' ("
          << current.op_type() << ", opset " << opset << ")";
    return failure();
  });
  Converter converter = getConverters().lookup(current.op_type());
  return (this->*converter)(current);
}

LogicalResult Importer::addOutputs(const GraphProto &graph,
                                   func::FuncOp function) {
  SmallVector<Value> results;
  loc = FileLineColLoc::get(&context, path, 0, 0);
  for (const auto &output : graph.output()) {
    auto it = values.find(output.name());
    if (it == values.end())
      return emitError(loc) << "output '" << output.name()
                            << "' is not computed by the graph";
    results.push_back(materialize(it->second, output.name()));
  }
  if (results.empty())
    return emitError(loc) << "the graph has no outputs";
  func::ReturnOp::create(builder, loc, results);
  Block &entry = function.getBody().front();
  function.setType(builder.getFunctionType(entry.getArgumentTypes(),
                                           ValueRange(results).getTypes()));
  // Outputs keep their ONNX names, as inputs do.
  for (auto [i, output] : llvm::enumerate(graph.output()))
    function.setResultAttr(i, "kiln.name",
                           builder.getStringAttr(output.name()));
  return success();
}

FailureOr<LoadedModel> Importer::run(const ModelProto &model) {
  if (failed(readOpset(model)))
    return failure();
  const GraphProto &graph = model.graph();
  if (failed(checkSupported(graph)))
    return failure();
  for (const NodeProto &each : graph.node()) {
    for (const std::string &name : each.input())
      ++useCounts[name];
  }
  for (const auto &output : graph.output())
    ++useCounts[output.name()];

  Location fileLoc = FileLineColLoc::get(&context, path, 0, 0);
  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  builder.setInsertionPointToEnd(module->getBody());
  auto function = func::FuncOp::create(builder, fileLoc, "main",
                                       builder.getFunctionType({}, {}));
  builder.setInsertionPointToEnd(function.addEntryBlock());
  if (failed(addInitializers(graph)) || failed(addInputs(graph, function)))
    return failure();
  for (const NodeProto &each : graph.node())
    if (failed(convertNode(each)))
      return failure();
  if (failed(addOutputs(graph, function)))
    return failure();

  // Recognize attention and GELU subgraphs; without folding, so that the
  // imported constants stay as they are.
  RewritePatternSet patterns(&context);
  populateOnnxImportPatterns(patterns, weights);
  GreedyRewriteConfig config;
  config.enableFolding(false);
  if (failed(applyPatternsGreedily(*module, std::move(patterns), config)))
    return emitError(fileLoc, "pattern rewriting did not converge");
  if (failed(verify(*module)))
    return failure();

  // Weights the rewrites made unused are dropped.
  TensorMap used;
  module->walk([&](WeightOp op) {
    auto it = weights.find(op.getName().str());
    if (it != weights.end())
      used.insert(*it);
  });
  LoadedModel result;
  result.module = std::move(module);
  result.weights = std::move(used);
  return result;
}

FailureOr<LoadedModel> importOnnxFile(MLIRContext &context, StringRef path,
                                      const ImportOptions &options) {
  context.loadDialect<KilnDialect, func::FuncDialect>();
  Location fileLoc = FileLineColLoc::get(&context, path, 0, 0);
  uint64_t size = 0;
  if (std::error_code error = llvm::sys::fs::file_size(path, size))
    return emitError(fileLoc) << "cannot read '" << path
                              << "': " << error.message();
  if (size > kMaxModelBytes)
    return emitError(fileLoc)
           << "'" << path << "' is " << size
           << " bytes; ONNX model files are at most 2 GiB (larger weights "
           << "belong in external data files)";
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return emitError(fileLoc) << "cannot read '" << path
                              << "': " << buffer.getError().message();
  google::protobuf::io::CodedInputStream stream(
      reinterpret_cast<const uint8_t *>((*buffer)->getBufferStart()),
      static_cast<int>((*buffer)->getBufferSize()));
  stream.SetTotalBytesLimit(static_cast<int>(kMaxModelBytes));
  ModelProto model;
  if (!model.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage())
    return emitError(fileLoc) << "'" << path
                              << "' is not a valid ONNX model (malformed or "
                              << "truncated protobuf)";
  if (!model.has_graph())
    return emitError(fileLoc) << "'" << path << "' holds no graph";
  Importer importer(context, path, options);
  return importer.run(model);
}

} // namespace kiln::onnx

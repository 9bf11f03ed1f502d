//===- EmitElementwise.cpp - CUDA for elementwise kernels ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Elementwise chains with their data movement (broadcast, reshape,
// transpose, slice, concat, gather as index maps): each thread computes a
// few consecutive elements of the result's innermost axis, stored with one
// 128-bit store, and loads with one 128-bit load the arguments whose
// innermost coordinate it keeps.
//
//===----------------------------------------------------------------------===//

#include "codegen/CUDA/CudaSource.h"
#include "codegen/CUDA/Generators.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace kiln;
using namespace kiln::codegen;

/// The elements one thread computes: 16 bytes of the results' one storage
/// size when the innermost axis holds whole vectors, else 1.
static int64_t getLanes(func::FuncOp kernel) {
  ArrayRef<int64_t> shape =
      getTensorType(getReturn(kernel).getOperand(0)).getShape();
  int64_t bytes = 0;
  for (Type type : kernel.getResultTypes()) {
    int64_t size = cast<RankedTensorType>(type).getElementTypeBitWidth() / 8;
    if (bytes != 0 && size != bytes)
      return 1;
    bytes = size;
  }
  int64_t lanes = 16 / bytes;
  return !shape.empty() && shape.back() % lanes == 0 ? lanes : 1;
}

/// Whether every way `value` reads `argument` keeps the innermost
/// coordinate (and extent): then consecutive lanes read consecutive
/// elements of it.
static bool keepsInnermost(Value value, BlockArgument argument) {
  if (value == argument || !dependsOn(value, argument))
    return true;
  Operation *op = value.getDefiningOp();
  int64_t rank = getTensorType(value).getRank();
  int64_t inner = getTensorType(value).getShape().back();
  auto operandKeeps = [&](Value operand) {
    ArrayRef<int64_t> shape = getTensorType(operand).getShape();
    return !shape.empty() && shape.back() == inner &&
           keepsInnermost(operand, argument);
  };
  if (auto transpose = dyn_cast<TransposeOp>(op))
    return transpose.getPermutation().back() == rank - 1 &&
           operandKeeps(transpose.getInput());
  if (auto slice = dyn_cast<SliceOp>(op))
    return slice.getStarts().back() == 0 &&
           (slice.getStrides().empty() || slice.getStrides().back() == 1) &&
           operandKeeps(slice.getInput());
  if (auto concat = dyn_cast<ConcatOp>(op))
    return static_cast<int64_t>(concat.getAxis()) != rank - 1 &&
           llvm::all_of(concat.getInputs(), operandKeeps);
  if (auto gather = dyn_cast<GatherOp>(op))
    return static_cast<int64_t>(gather.getAxis()) + 1 !=
               getTensorType(gather.getData()).getRank() &&
           operandKeeps(gather.getData());
  if (isa<ReshapeOp>(op) || isElementwiseOp(op))
    return llvm::all_of(op->getOperands(), [&](Value operand) {
      return !dependsOn(operand, argument) || operandKeeps(operand);
    });
  return false;
}

std::string kiln::codegen::emitElementwise(func::FuncOp kernel,
                                           CudaConfigAttr config) {
  ArrayRef<int64_t> shape =
      getTensorType(getReturn(kernel).getOperand(0)).getShape();
  int64_t elements = ShapedType::getNumElements(shape);
  int64_t lanes = getLanes(kernel);
  std::string body;
  llvm::raw_string_ostream bodyStream(body);
  PointwiseEmitter emitter(bodyStream, lanes > 1 ? "    " : "  ");
  std::string laneCoord = "column";
  if (lanes > 1) {
    llvm::DenseMap<unsigned, bool> vectorArguments;
    for (BlockArgument argument : kernel.getArguments()) {
      RankedTensorType type = getTensorType(argument);
      vectorArguments[argument.getArgNumber()] =
          type.getRank() > 0 && type.getShape().back() == shape.back() &&
          type.getElementTypeBitWidth() / 8 * lanes == 16 &&
          llvm::all_of(getReturn(kernel).getOperands(), [&](Value result) {
            return keepsInnermost(result, argument);
          });
    }
    emitter.setVectorLoads(std::move(vectorArguments), laneCoord, lanes);
  }
  // The thread's first element; its outer coordinates hold for all lanes.
  std::string outer;
  llvm::raw_string_ostream outerStream(outer);
  PointwiseEmitter outerEmitter(outerStream, "  ");
  Coords coords = emitDelinearize(outerEmitter, "first", shape, "c");
  std::string laneStart = coords.back();
  if (lanes > 1)
    coords.back() = laneCoord;

  std::string source;
  llvm::raw_string_ostream os(source);
  os << getSignature(kernel, getThreads(config));
  os << llvm::formatv("  // {0} elements, {1} consecutive ones per thread.\n",
                      elements, lanes);
  os << llvm::formatv("  const int64_t first = ((int64_t)blockIdx.x * "
                      "blockDim.x + threadIdx.x) * {0};\n",
                      lanes);
  os << llvm::formatv("  if (first >= {0})\n    return;\n", elements);
  os << outer;
  if (lanes == 1) {
    // The stores index the results with the coordinates.
    (void)emitResultStores(emitter, kernel, getReturn(kernel).getOperand(0),
                           coords);
    os << body << "}\n";
    return source;
  }
  // Lanes store into registers, written out with one vector store each.
  for (auto [index, value] : llvm::enumerate(getReturn(kernel).getOperands())) {
    std::string element = emitter.emit(value, coords);
    emitter.line() << llvm::formatv("kiln_store(&out{0}[lane], {1});\n", index,
                                    element);
  }
  for (auto [index, type] : llvm::enumerate(kernel.getResultTypes()))
    os << llvm::formatv(
        "  __align__(16) {0} out{1}[{2}];\n",
        getStorageType(cast<RankedTensorType>(type).getElementType()), index,
        lanes);
  os << emitter.takeHoisted();
  os << llvm::formatv("  #pragma unroll\n  for (int lane = 0; lane < {0}; "
                      "++lane) {{\n    const int64_t {1} = {2} + lane;\n",
                      lanes, laneCoord, laneStart);
  os << body << "  }\n";
  for (auto [index, type] : llvm::enumerate(kernel.getResultTypes()))
    os << llvm::formatv("  *reinterpret_cast<uint4 *>(&result{0}[first]) = "
                        "*reinterpret_cast<const uint4 *>(out{0});\n",
                        index);
  os << "}\n";
  return source;
}

CudaLaunch kiln::codegen::getElementwiseLaunch(func::FuncOp kernel,
                                               CudaConfigAttr config) {
  ArrayRef<int64_t> shape =
      getTensorType(getReturn(kernel).getOperand(0)).getShape();
  CudaLaunch launch;
  launch.blockX = getThreads(config);
  launch.gridX = llvm::divideCeil(ShapedType::getNumElements(shape),
                                  getLanes(kernel) * launch.blockX);
  return launch;
}

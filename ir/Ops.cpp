//===- Ops.cpp - The kiln dialect and its op verifiers ---------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// Registers the dialect and holds the verifiers for what the ODS traits
// cannot express. Result-type inference is in ShapeInference.cpp, folders in
// Folders.cpp.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace kiln;

#include "ir/KilnDialect.cpp.inc"
#include "ir/KilnEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "ir/KilnAttrs.cpp.inc"

#define GET_OP_CLASSES
#include "ir/KilnOps.cpp.inc"

void KilnDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "ir/KilnAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "ir/KilnOps.cpp.inc"
      >();
}

Operation *KilnDialect::materializeConstant(OpBuilder &builder,
                                            Attribute value, Type type,
                                            Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, elements);
}

//===----------------------------------------------------------------------===//
// WeightOp
//===----------------------------------------------------------------------===//

LogicalResult WeightOp::verify() {
  if (getName().empty())
    return emitOpError("expected a non-empty weight name");
  return success();
}

//===----------------------------------------------------------------------===//
// CastOp
//===----------------------------------------------------------------------===//

LogicalResult CastOp::verify() {
  Type from = getInput().getType().getElementType();
  Type to = getResult().getType().getElementType();
  if (isa<FloatType>(from) && isa<IntegerType>(to))
    return emitOpError("expected no cast from a float (")
           << from << ") to an integer (" << to << ") element type";
  return success();
}

//===----------------------------------------------------------------------===//
// SoftmaxOp
//===----------------------------------------------------------------------===//

LogicalResult SoftmaxOp::verify() {
  // I64Attr getters are unsigned; read the value as the signed one written.
  int64_t axis = static_cast<int64_t>(getAxis());
  int64_t rank = getInput().getType().getRank();
  if (axis < 0 || axis >= rank)
    return emitOpError("expected axis (")
           << axis << ") to be in [0, " << rank << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// ReshapeOp
//===----------------------------------------------------------------------===//

LogicalResult ReshapeOp::verify() {
  int64_t from = getInput().getType().getNumElements();
  int64_t to = getResult().getType().getNumElements();
  if (from != to)
    return emitOpError("expected the result to hold as many elements (")
           << to << ") as the input (" << from << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// BroadcastToOp
//===----------------------------------------------------------------------===//

LogicalResult BroadcastToOp::verify() {
  ArrayRef<int64_t> from = getInput().getType().getShape();
  ArrayRef<int64_t> to = getResult().getType().getShape();
  FailureOr<SmallVector<int64_t>> shape = broadcastShapes(from, to);
  if (failed(shape) || ArrayRef<int64_t>(*shape) != to)
    return emitOpError("expected the input (")
           << getInput().getType() << ") to broadcast to the result ("
           << getResult().getType() << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// RopeOp
//===----------------------------------------------------------------------===//

LogicalResult RopeOp::verify() {
  RankedTensorType type = getInput().getType();
  if (type.getRank() < 2)
    return emitOpError("expected an input of rank >= 2 [..., sequence, "
                       "head_dim] (got rank ")
           << type.getRank() << ")";
  if (type.getShape().back() % 2 != 0)
    return emitOpError("expected an even head dim (")
           << type.getShape().back() << ")";
  int64_t offset = static_cast<int64_t>(getPositionOffset());
  if (offset < 0)
    return emitOpError("expected position_offset (")
           << offset << ") to be >= 0";
  if (!(getTheta().convertToFloat() > 0.0f))
    return emitOpError("expected theta (")
           << getTheta().convertToFloat() << ") to be > 0";
  return success();
}

//===----------------------------------------------------------------------===//
// FusedOp
//===----------------------------------------------------------------------===//

LogicalResult FusedOp::verify() {
  if (getKind().empty())
    return emitOpError("expected a non-empty kind");
  if (getOutputs().empty())
    return emitOpError("expected at least one result");
  Block *body = getBody();
  if (body->getNumArguments() != getInputs().size())
    return emitOpError("expected as many body arguments (")
           << body->getNumArguments() << ") as inputs (" << getInputs().size()
           << ")";
  for (auto [index, input, argument] :
       llvm::enumerate(getInputs(), body->getArguments()))
    if (input.getType() != argument.getType())
      return emitOpError("expected body argument #")
             << index << " (" << argument.getType()
             << ") to have the type of input #" << index << " ("
             << input.getType() << ")";
  return success();
}

LogicalResult FusedOp::verifyRegions() {
  auto yield = dyn_cast<YieldOp>(getBody()->getTerminator());
  if (!yield)
    return emitOpError("expected the body to end in kiln.yield");
  if (yield.getValues().getTypes() != getOutputs().getTypes())
    return emitOpError("expected kiln.yield operand types (")
           << yield.getValues().getTypes() << ") to match the result types ("
           << getOutputs().getTypes() << ")";
  WalkResult nested =
      getBody()->walk([](FusedOp) { return WalkResult::interrupt(); });
  if (nested.wasInterrupted())
    return emitOpError("expected no kiln.fused nested in the body");
  return success();
}

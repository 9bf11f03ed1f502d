//===- Zoo.cpp - The model registry and knob parsing ------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// buildModel in four steps:
//   1. find the model;
//   2. parse and range-check every "knob=value" setting;
//   3. check the values against each other (the model's own check);
//   4. build the module and weights, then reject a model over the weight
//      budget or one that does not verify.
// Each step reports one message, so a bad setting never reaches a builder
// that would trip an op's type inference.
//
//===----------------------------------------------------------------------===//

#include "models/zoo/Models.h"

#include "ir/KilnDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

#include <limits>

using namespace mlir;

namespace kiln::zoo {

//===----------------------------------------------------------------------===//
// Config
//===----------------------------------------------------------------------===//

int64_t Config::getInt(StringRef knob) const {
  int64_t value = 0;
  bool malformed = StringRef(values.lookup(knob)).getAsInteger(10, value);
  assert(!malformed && info.findKnob(knob) && "an integer knob of the model");
  (void)malformed;
  return value;
}

StringRef Config::getString(StringRef knob) const {
  auto it = values.find(knob);
  assert(it != values.end() && "a knob of the model");
  return it->second;
}

std::string Config::error(const Twine &message) const {
  return ("model '" + info.name + "': " + message).str();
}

std::string Config::checkDivides(StringRef divisor, StringRef dividend) const {
  int64_t d = getInt(divisor), n = getInt(dividend);
  if (n % d == 0)
    return "";
  return error(divisor + " (" + Twine(d) + ") must divide " + dividend + " (" +
               Twine(n) + ")");
}

std::string Config::checkAtMost(StringRef small, StringRef large) const {
  int64_t s = getInt(small), l = getInt(large);
  if (s <= l)
    return "";
  return error(small + " (" + Twine(s) + ") must be at most " + large + " (" +
               Twine(l) + ")");
}

Knob intKnob(StringRef name, int64_t defaultValue, StringRef help,
             int64_t maxValue) {
  Knob knob;
  knob.name = name.str();
  knob.defaultValue = std::to_string(defaultValue);
  knob.help = help.str();
  knob.maxValue = maxValue;
  return knob;
}

//===----------------------------------------------------------------------===//
// Registry
//===----------------------------------------------------------------------===//

/// The knobs every model has, listed first.
static std::vector<Knob> commonKnobs() {
  Knob seed = intKnob("seed", 0, "seed of the weights",
                      std::numeric_limits<int64_t>::max());
  seed.minValue = 0;
  Knob dtype{"dtype",
             "f32",
             "element type of the weights and activations",
             {"f32", "bf16", "f16"}};
  return {seed, dtype, intKnob("batch", 1, "batch size")};
}

/// Every model, the default first.
static ArrayRef<ModelDef> getModelDefs() {
  static const std::vector<ModelDef> defs = [] {
    std::vector<ModelDef> defs = {getTinyMultimodalModel(), getMlpModel(),
                                  getDecoderModel(),        getMoeModel(),
                                  getEncoderModel(),        getVitModel()};
    for (ModelDef &def : defs) {
      std::vector<Knob> knobs = commonKnobs();
      llvm::append_range(knobs, def.info.knobs);
      def.info.knobs = std::move(knobs);
    }
    return defs;
  }();
  return defs;
}

ArrayRef<ModelInfo> listModels() {
  static const std::vector<ModelInfo> infos = [] {
    std::vector<ModelInfo> infos;
    for (const ModelDef &def : getModelDefs())
      infos.push_back(def.info);
    return infos;
  }();
  return infos;
}

const ModelInfo *findModel(StringRef name) {
  for (const ModelInfo &info : listModels())
    if (info.name == name)
      return &info;
  return nullptr;
}

const Knob *ModelInfo::findKnob(StringRef knobName) const {
  for (const Knob &knob : knobs)
    if (knob.name == knobName)
      return &knob;
  return nullptr;
}

//===----------------------------------------------------------------------===//
// buildModel
//===----------------------------------------------------------------------===//

/// What `knob` accepts, for error messages.
static std::string describeAllowed(const Knob &knob) {
  if (!knob.isInteger())
    return "one of " + llvm::join(knob.choices, ", ");
  return ("an integer in [" + Twine(knob.minValue) + ", " +
          Twine(knob.maxValue) + "]")
      .str();
}

/// Parses `settings` over the defaults of `info`'s knobs into `values`, or
/// returns the message about the first bad setting.
static std::string parseSettings(const ModelInfo &info,
                                 ArrayRef<std::string> settings,
                                 llvm::StringMap<std::string> &values) {
  auto error = [&](const Twine &message) {
    return ("model '" + info.name + "': " + message).str();
  };
  for (const Knob &knob : info.knobs)
    values[knob.name] = knob.defaultValue;
  for (StringRef setting : settings) {
    auto [name, value] = setting.split('=');
    name = name.trim();
    value = value.trim();
    if (!setting.contains('=') || name.empty())
      return error("malformed setting '" + setting + "' (expected knob=value)");
    const Knob *knob = info.findKnob(name);
    if (!knob) {
      SmallVector<StringRef> names;
      for (const Knob &k : info.knobs)
        names.push_back(k.name);
      return error("unknown knob '" + name +
                   "' (knobs: " + llvm::join(names, ", ") + ")");
    }
    int64_t number = 0;
    bool valid = knob->isInteger()
                     ? !value.getAsInteger(10, number) &&
                           number >= knob->minValue && number <= knob->maxValue
                     : llvm::is_contained(knob->choices, value);
    if (!valid)
      return error("invalid value '" + value + "' for knob '" + name +
                   "' (expected " + describeAllowed(*knob) + ")");
    // Integers are stored canonically ("007" -> "7").
    values[name] = knob->isInteger() ? std::to_string(number) : value.str();
  }
  return "";
}

FailureOr<Model> buildModel(MLIRContext &context, StringRef name,
                            ArrayRef<std::string> settings,
                            std::string &error) {
  // 1. Find the model.
  const ModelDef *def = llvm::find_if(
      getModelDefs(), [&](const ModelDef &d) { return d.info.name == name; });
  if (def == getModelDefs().end()) {
    SmallVector<StringRef> names;
    for (const ModelInfo &info : listModels())
      names.push_back(info.name);
    error = ("unknown model '" + name +
             "' (models: " + llvm::join(names, ", ") + ")")
                .str();
    return failure();
  }
  const ModelInfo &info = def->info;

  // 2. Parse the settings.
  llvm::StringMap<std::string> values;
  error = parseSettings(info, settings, values);
  if (!error.empty())
    return failure();
  Config config(info, std::move(values));

  // 3. Check the knobs against each other.
  error = def->check(config);
  if (!error.empty())
    return failure();

  // 4. Build and check the result.
  context.getOrLoadDialect<KilnDialect>();
  context.getOrLoadDialect<func::FuncDialect>();
  Model model;
  model.module = ModuleOp::create(UnknownLoc::get(&context));
  // The dtype knob's choices are element type names.
  std::optional<ElementType> dtype =
      parseElementType(config.getString("dtype").str());
  assert(dtype && "a dtype choice names an element type");
  GraphBuilder graph(*model.module, *dtype,
                     static_cast<uint64_t>(config.getInt("seed")),
                     model.weights);
  def->build(graph, config);
  if (graph.isOverBudget()) {
    error = config.error("the weights would have more than " +
                         Twine(kMaxWeightElements) +
                         " elements; make the model smaller");
    return failure();
  }
  std::string diagnostics;
  {
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
      diagnostics += (diagnostics.empty() ? "" : "; ") + diagnostic.str();
      return success();
    });
    if (failed(verify(*model.module))) {
      error = config.error(
          "internal error: the built module does not verify: " + diagnostics);
      return failure();
    }
  }
  return model;
}

} // namespace kiln::zoo

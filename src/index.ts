// fovea's public API.
export { createRuntime, Runtime } from './runtime/runtime.js';
export type { RandomOptions, RuntimeOptions, RuntimeStats, CompileOptions, ProgramOutputs, OutputNames, InputSpecs } from './runtime/runtime.js';
export type { TensorOptions, FilledOptions } from './runtime/tensor-options.js';
export { Tensor } from './runtime/tensor.js';
export { Program } from './runtime/program.js';
export type { DispatchTiming, InputSpec, ProgramInput, ProgramStats } from './runtime/program.js';
export type { AdapterReport, DeviceOptions } from './runtime/device.js';
export type { DType, HostArray } from './runtime/dtype.js';
export type { NestedNumbers } from './runtime/nested.js';
export type { Shape } from './runtime/shape.js';
export { grad, backward } from './runtime/autograd.js';
export { registerShader } from './runtime/shaders.js';
export { defineOp, defineEffect } from './runtime/op.js';
export type { OpDef, EffectDef, DispatchSpec, EncodeContext, BackwardRule, BackwardContext } from './runtime/op.js';
export {
  FoveaError,
  ShapeError,
  DeviceLimitError,
  NoAdapterError,
  ShaderCompileError,
  GPUValidationError,
  DeviceLostError,
  TensorStateError,
  FileFormatError,
  SpecError,
} from './runtime/errors.js';
export * from './ops/index.js';
export { Generator } from './ops/random.js';
export { clipGradNorm, clipGradValue } from './model/clip-grad.js';
export { matchNames } from './model/name-patterns.js';
export { RandomAffine, inverseAffineMatrix, type AffineParams, type RandomAffineOptions } from './model/augment.js';
export { Adam, AdamW, NAdam, RAdam, Adamax, SGD, Adadelta, RMSprop, Adagrad, Optimizer, type AdamOptions, type NAdamOptions, type OptimizerKind, type SGDOptions, type AdadeltaOptions, type RMSpropOptions, type AdagradOptions, type ParamGroup, type ParamGroupOptions, type Params, type Hyperparameters, type AdamHyperparameters } from './model/optim/index.js';
export { LRScheduler, ChainedScheduler, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, LambdaLR, MultiplicativeLR, SequentialLR, OneCycleLR, ConstantLR, PolynomialLR, CosineAnnealingWarmRestarts, CyclicLR, ReduceLROnPlateau, type CyclicOptions, type Lambdas, type MomentumCycle, type OneCycleOptions, type PlateauOptions, type PlateauState } from './model/lr-scheduler/index.js';
export type { HostTensors, HostTensorsLike } from './model/host-tensors.js';
export { Model, inferLayers, type LayerInfo, type LoadOptions, type ModelOptions, type Activation } from './model/model.js';
export { SEED_CNN, parseModelSpec, type ModelSpec, type LayerSpec } from './model/spec.js';
export { TorchGenerator, MT19937 } from './model/random.js';
export { init, type InitOptions, type KaimingOptions, type Nonlinearity } from './model/init.js';
export { Trainer, type OptimizerChoice, type TrainerOptions } from './mnist/trainer.js';
export { Evaluator, evaluate, type EvaluateOptions, type EvaluatorOptions, type Evaluation, type LabelledImages } from './mnist/evaluate.js';
export { MNIST_FILES, parseIdx, parseMnistImages, parseMnistLabels, type MnistImages, type IdxFile } from './mnist/idx.js';
export { MNIST_BOX, MNIST_SIZE, fitDigit, lumaBytes, toMnist, type FittedDigit, type GreyImage } from './mnist/digit.js';
export { parseSafetensors, serializeSafetensors, type Safetensors, type SafetensorsTensor } from './model/safetensors.js';
export {
  SPEC_KEY,
  checkpointBytes,
  checkpointFormatOf,
  serializeModel,
  parseCheckpoint,
  modelFromBytes,
  requireFinite,
  type CheckpointFormat,
  type HostTensor,
  type ParsedCheckpoint,
  type ParseCheckpointOptions,
  type ModelFromBytesOptions,
} from './model/checkpoint-format.js';

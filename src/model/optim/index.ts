// Optimizers as in-place GPU updates (effects): recorded inside a compiled training step they
// run in its single submit; called eagerly they run as soon as the gradients can be computed.
// Formulas follow PyTorch 1.13 exactly (see shaders/adam.wgsl, sgd.wgsl, adadelta.wgsl,
// rmsprop.wgsl and adagrad.wgsl).
export { Optimizer, type Hyperparameters, type ParamGroup, type ParamGroupOptions, type Params } from './optimizer.js';
export { paramName } from './params.js';
export { OPTIMIZER_DEFAULTS, OPTIMIZER_KINDS, foreignOptionsText, otherOptimizerOptions, type OptimizerKind } from './kinds.js';
export { Adam, AdamW, NAdam, RAdam, Adamax, type AdamOptions, type NAdamOptions, type AdamHyperparameters, type AdamKind } from './adam.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adadelta, type AdadeltaOptions } from './adadelta.js';
export { RMSprop, type RMSpropOptions } from './rmsprop.js';
export { Adagrad, type AdagradOptions } from './adagrad.js';

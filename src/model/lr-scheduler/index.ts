// Learning-rate schedules with PyTorch's torch.optim.lr_scheduler semantics (1.13): a scheduler
// sets the rate of each of the optimizer's parameter groups when made and at each step(), which
// goes after optimizer.step(). Each is a closed form of its step count, so the rate after t steps
// is computed, not accumulated: a scheduler set back to a saved count (load) gives the same rates
// as one never stopped (ReduceLROnPlateau, which follows a metric, keeps its own state). A group
// added to the optimizer after the scheduler was made is the exception: moved step by step, as
// PyTorch's, its rate is the optimizer's to save and restore (load leaves it).
export { LRScheduler } from './scheduler.js';
export { StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, ConstantLR, PolynomialLR, CosineAnnealingWarmRestarts, LambdaLR, MultiplicativeLR, type Lambdas } from './schedules.js';
export { CyclicLR, OneCycleLR, type CyclicOptions, type MomentumCycle, type OneCycleOptions } from './cyclic.js';
export { SequentialLR, ChainedScheduler } from './combined.js';
export { ReduceLROnPlateau, type PlateauOptions, type PlateauState } from './plateau.js';

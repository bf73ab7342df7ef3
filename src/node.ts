// fovea's Node-only entry (`fovea/node`): loading MNIST from disk, checkpoints (model and
// optimizer state as safetensors, written atomically) and the file helpers beneath them.
// Everything browser-safe is in the main entry (`fovea`).
export { loadMnistDir, loadMnistSplit, defaultMnistDir, readIdxFile, MnistNotFoundError, MNIST_FILES, type MnistData, type MnistSplit } from './mnist/files.js';
export { writeFileAtomic, readFileChecked, FileReadError, FileWriteError, type AtomicWriteHooks } from './model/files.js';
export {
  SPEC_KEY,
  checkpointPaths,
  checkpointBytes,
  checkpointFormatOf,
  saveCheckpoint,
  readCheckpoint,
  loadCheckpoint,
  readOptimizerState,
  stateArguments,
  readModelSpec,
  resolveSpec,
  describeOptimizer,
  type Checkpoint,
  type CheckpointPaths,
  type OptimizerCheckpoint,
  type SaveOptions,
  type TrainingPosition,
  type TrainingState,
} from './model/checkpoint.js';
export { trainingPlot, type LossPoint, type EvalPoint } from './mnist/plot.js';

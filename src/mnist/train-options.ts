// The options of `fovea train` and how they must agree: which flags apply to which optimizer,
// and how the settings saved in a checkpoint meet the flags given with --resume.
import type { OptimizerCheckpoint, TrainingPosition } from '../model/checkpoint.js';
import type { OptimizerKind } from '../model/optim/index.js';
import type { RandomAffineOptions } from '../model/augment.js';
import type { LrScheduleKind } from './lr-schedule.js';
import type { OptimizerChoice } from './optimizer-choice.js';
import { listed } from '../runtime/options.js';
import { SpecError } from '../runtime/errors.js';
import { matchNames } from '../model/name-patterns.js';
import { ONE_CYCLE_MOMENTUM } from '../model/lr-scheduler/cyclic.js';

/**
 * A command-line flag has a bad value, or flags conflict; the CLI exits with code 2. `path` is
 * the flag (`--lr`); the message is the whole sentence (`--lr must be a non-negative number, got "x"`).
 */
export class FlagError extends SpecError {
  override name = 'FlagError';
  constructor(flag: string, message: string) {
    super(flag, message);
    this.message = message;
  }
}

/** The flags of `fovea train`: the optimizer's as the Trainer takes them (momentum and weight decay always given), and the run's. */
export interface TrainOptions extends Omit<OptimizerChoice, 'lr' | 'momentum' | 'weightDecay'> {
  model?: string;
  data?: string;
  epochs: number;
  steps?: number;
  batchSize: number;
  /** The first learning rate (after any warm-up; see ./lr-schedule.ts). */
  lr: number;
  /** step: lr × lrGamma after each epoch; cosine: annealed to 0 over the run's epochs; onecycle: OneCycleLR peaking at lr. */
  lrSchedule: LrScheduleKind;
  lrGamma: number;
  /** Steps of linear warm-up from lr/warmupSteps (0: none). */
  warmupSteps: number;
  momentum: number;
  weightDecay: number;
  /** The loss's label smoothing (0: none). */
  labelSmoothing: number;
  /** Gradients clipped to this joint L2 norm; undefined: not clipped. */
  maxGradNorm?: number;
  /** Each training image transformed at random (the --augment flags); undefined: none. */
  augment?: RandomAffineOptions;
  /** Parameters left as they are (--freeze), by name or pattern. */
  freeze?: readonly string[];
  seed: number;
  shuffle: boolean;
  init?: string;
  out: string;
  metrics?: string;
  resume: boolean;
  logEvery: number;
  evalLimit?: number;
  /** Flags given on the command line (the rest are defaults), as `--name`. */
  given: ReadonlySet<string>;
}

// The flags only some optimizers take.
const ONLY_FOR: Record<string, OptimizerKind[]> = {
  '--momentum': ['sgd', 'rmsprop'],
  '--dampening': ['sgd'],
  '--nesterov': ['sgd'],
  '--betas': ['adam', 'adamw', 'nadam', 'radam', 'adamax'],
  '--eps': ['adam', 'adamw', 'nadam', 'radam', 'adamax', 'adadelta', 'rmsprop', 'adagrad'],
  '--momentum-decay': ['nadam'],
  '--rho': ['adadelta'],
  '--alpha': ['rmsprop'],
  '--centered': ['rmsprop'],
  '--lr-decay': ['adagrad'],
  '--initial-accumulator-value': ['adagrad'],
};

/** On --resume, the saved settings win; a flag given with another value is an error. */
export function resumeSettings(opts: TrainOptions, { opt: saved, position: s }: { opt: OptimizerCheckpoint; position: TrainingPosition }): TrainOptions {
  // Checked when read (readOptimizerState): a file without an lr is a FileFormatError.
  const h = saved.state.hyperparameters;
  const sgd = 'dampening' in h ? h : undefined;
  const adam = 'betas' in h ? h : undefined;
  const adadelta = 'rho' in h ? h : undefined;
  const rmsprop = 'alpha' in h ? h : undefined;
  const adagrad = 'lrDecay' in h ? h : undefined;
  const nadam = 'momentumDecay' in h ? h : undefined;
  // fovea train's groups (see savedExemptions): all parameters, then those without weight decay.
  const groups = saved.state.paramGroups;
  const settings = {
    batchSize: s.batchSize,
    optimizer: saved.state.optimizer,
    // The first learning rate, which the flag gives; the optimizer's state holds the current one.
    lr: s.initialLr ?? h.lr,
    lrSchedule: s.lrSchedule ?? 'step',
    lrGamma: s.lrGamma ?? 1,
    warmupSteps: s.warmupSteps ?? 0,
    momentum: sgd?.momentum ?? rmsprop?.momentum,
    dampening: sgd?.dampening,
    nesterov: sgd?.nesterov,
    betas: adam?.betas as [number, number] | undefined,
    eps: adam?.eps ?? adadelta?.eps ?? rmsprop?.eps ?? adagrad?.eps,
    momentumDecay: nadam?.momentumDecay,
    rho: adadelta?.rho,
    alpha: rmsprop?.alpha,
    centered: rmsprop?.centered,
    lrDecay: adagrad?.lrDecay,
    initialAccumulatorValue: adagrad?.initialAccumulatorValue,
    weightDecay: h.weightDecay,
    noWeightDecay: groups?.[1]!.params,
    // Absent from files written before these existed (or without clipping): their defaults.
    labelSmoothing: s.labelSmoothing ?? 0,
    maxGradNorm: s.maxGradNorm,
    augment: s.augment,
    seed: s.seed,
    shuffle: s.shuffle,
  };
  const flags: [string, keyof typeof settings][] = [
    ['--batch-size', 'batchSize'],
    ['--optimizer', 'optimizer'],
    ['--lr', 'lr'],
    ['--lr-schedule', 'lrSchedule'],
    ['--lr-gamma', 'lrGamma'],
    ['--warmup-steps', 'warmupSteps'],
    ['--momentum', 'momentum'],
    ['--dampening', 'dampening'],
    ['--nesterov', 'nesterov'],
    ['--betas', 'betas'],
    ['--eps', 'eps'],
    ['--momentum-decay', 'momentumDecay'],
    ['--rho', 'rho'],
    ['--alpha', 'alpha'],
    ['--centered', 'centered'],
    ['--lr-decay', 'lrDecay'],
    ['--initial-accumulator-value', 'initialAccumulatorValue'],
    ['--weight-decay', 'weightDecay'],
    ['--label-smoothing', 'labelSmoothing'],
    ['--seed', 'seed'],
    ['--no-shuffle', 'shuffle'],
  ];
  // Under a one-cycle schedule the saved first beta is the cycle's where the run stopped: of
  // --betas, only the second is compared.
  const cycled = (key: keyof typeof settings, v: unknown) => (key === 'betas' && settings.lrSchedule === 'onecycle' ? (v as number[] | undefined)?.[1] : v);
  for (const [flag, key] of flags) {
    const value = settings[key];
    // A flag of the other optimizer than the saved one is refused by checkOptimizerFlags(), by name.
    if (!opts.given.has(flag) || value === undefined || JSON.stringify(cycled(key, opts[key])) === JSON.stringify(cycled(key, value))) continue;
    const shown =
      flag === '--no-shuffle' ? `shuffle ${s.shuffle ? 'on' : 'off'}`
      : flag === '--nesterov' ? `Nesterov ${value ? 'on' : 'off'}`
      : flag === '--centered' ? `centering ${value ? 'on' : 'off'}`
      : `${flag} ${String(value)}`;
    throw new FlagError(flag, `${flag} conflicts with the checkpoint being resumed (${saved.path} has ${shown}); --resume continues with the saved settings`);
  }
  // The --augment flags make one setting: any of them given, all of it must be the saved one.
  const augmentFlag = AUGMENT_FLAGS.find((f) => opts.given.has(f));
  if (augmentFlag && JSON.stringify(opts.augment) !== JSON.stringify(settings.augment)) {
    throw new FlagError(augmentFlag, `${augmentFlag} conflicts with the checkpoint being resumed (${saved.path} has ${describeAugment(settings.augment)}); --resume continues with the saved settings`);
  }
  // Compared by the parameters the patterns choose, not as written.
  if (opts.given.has('--no-weight-decay')) {
    const names = groups?.flatMap((g) => g.params) ?? [];
    const chosen = groups ? exemptNames(opts.noWeightDecay ?? [], names, ` of ${saved.path}`) : (opts.noWeightDecay ?? []);
    if (!sameNames(chosen, settings.noWeightDecay ?? [])) {
      const shown = settings.noWeightDecay ? `--no-weight-decay ${settings.noWeightDecay.join(',')}` : 'weight decay on every parameter';
      throw new FlagError('--no-weight-decay', `--no-weight-decay conflicts with the checkpoint being resumed (${saved.path} has ${shown}); --resume continues with the saved settings`);
    }
  }
  // Unlike the others, no clipping is saved as no value: a flag conflicts with that too.
  if (opts.given.has('--max-grad-norm') && opts.maxGradNorm !== settings.maxGradNorm) {
    const shown = settings.maxGradNorm === undefined ? 'no gradient clipping' : `--max-grad-norm ${settings.maxGradNorm}`;
    throw new FlagError('--max-grad-norm', `--max-grad-norm conflicts with the checkpoint being resumed (${saved.path} has ${shown}); --resume continues with the saved settings`);
  }
  return { ...opts, ...settings, momentum: settings.momentum ?? opts.momentum };
}

const AUGMENT_FLAGS = ['--augment-rotate', '--augment-translate', '--augment-scale', '--augment-shear'];

/** An augmentation as the settings line and errors show it. */
export function describeAugment(a: RandomAffineOptions | undefined): string {
  if (!a) return 'no augmentation';
  const pm = (v: number | readonly number[]) => (typeof v === 'number' ? `±${v}°` : `${v[0]}° to ${v[1]}°`);
  const parts = [`rotation ${pm(a.degrees)}`, a.translate && `shift up to ${a.translate[0]}×${a.translate[1]} of the size`, a.scale && `scale ${a.scale[0]} to ${a.scale[1]}`, a.shear !== undefined && `shear ${pm(a.shear as number)}`];
  return `augmentation (${parts.filter(Boolean).join(', ')})`;
}

/** Whether two lists name the same parameters, in any order. */
export function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n) => b.includes(n));
}

/** The parameters among `names` that --no-weight-decay `patterns` choose; a pattern that chooses none is a FlagError naming `of` (where the names come from). */
export function exemptNames(patterns: readonly string[], names: readonly string[], of = ''): string[] {
  return chosenNames('--no-weight-decay', patterns, names, of);
}

/** The parameters among `names` that `flag`'s `patterns` choose; a pattern that chooses none is a FlagError naming `of`. */
export function chosenNames(flag: string, patterns: readonly string[], names: readonly string[], of = ''): string[] {
  try {
    return matchNames(patterns, names, flag);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new FlagError(flag, e.message.replace(' matches no parameter', ` matches no parameter${of}`));
  }
}

/**
 * Refuses flags that do not fit the optimizer or the schedule `opts` uses, which are the saved
 * ones on --resume (not the defaults): the flags of others would be silently ignored.
 */
export function checkOptimizerFlags(opts: TrainOptions): void {
  for (const [flag, kinds] of Object.entries(ONLY_FOR)) {
    if (opts.given.has(flag) && !kinds.includes(opts.optimizer)) throw new FlagError(flag, `${flag} applies only to --optimizer ${listed(kinds, 'or')}`);
  }
  if (opts.lrSchedule !== 'step' && opts.given.has('--lr-gamma')) {
    throw new FlagError('--lr-gamma', `--lr-gamma applies only to --lr-schedule step (the default); --lr-schedule ${opts.lrSchedule} takes the rate down by itself`);
  }
  if (opts.lrSchedule === 'onecycle') {
    // OneCycleLR sets these at every step: a value given would be silently overridden. (Of
    // --betas it sets the first only: the second is taken, with a note; see train-cli.)
    if (opts.given.has('--warmup-steps')) throw new FlagError('--warmup-steps', '--warmup-steps does not apply to --lr-schedule onecycle, which rises from --lr/25 by itself');
    if (opts.given.has('--momentum')) throw new FlagError('--momentum', "--momentum does not apply to --lr-schedule onecycle, which cycles the momentum itself, as PyTorch's OneCycleLR");
  }
  if (opts.noWeightDecay?.length && opts.weightDecay === 0) {
    throw new FlagError('--no-weight-decay', '--no-weight-decay exempts parameters from a weight decay of 0: give a --weight-decay above 0');
  }
  // OneCycleLR sets the momentum, from 0.95, as it is made.
  const momentum = opts.lrSchedule === 'onecycle' ? ONE_CYCLE_MOMENTUM.max : opts.momentum;
  if (opts.nesterov && (momentum <= 0 || (opts.dampening ?? 0) !== 0)) {
    throw new FlagError('--nesterov', `--nesterov needs a --momentum above 0 and no --dampening, as PyTorch's (momentum ${momentum}, dampening ${opts.dampening ?? 0})`);
  }
}

// The optimizers by name (as the CLI, Trainer and checkpoints know them): the options each
// takes, the defaults that differ between them, and the checks of options and their ranges.
import { checkOptionNames, listed, shown } from '../../runtime/options.js';
import type { AdamOptions, NAdamOptions } from './adam.js';
import type { AdadeltaOptions } from './adadelta.js';
import type { AdagradOptions } from './adagrad.js';
import type { RMSpropOptions } from './rmsprop.js';
import type { SGDOptions } from './sgd.js';

export const atLeast0 = (v: unknown): v is number => typeof v === 'number' && v >= 0;

/** Throws a RangeError naming the first hyperparameter out of its range (checked before any allocation). */
export function checkRanges(optimizer: string, checks: readonly [name: string, value: unknown, ok: boolean, range: string][]): void {
  for (const [name, value, ok, range] of checks) {
    if (!ok) throw new RangeError(`${optimizer}: ${name} must be ${range}, got ${shown(value)}`);
  }
}

/** The optimizers, by the names the CLI, Trainer and checkpoints use. */
export type OptimizerKind = 'adam' | 'adamw' | 'nadam' | 'radam' | 'adamax' | 'sgd' | 'adadelta' | 'rmsprop' | 'adagrad';

// Each optimizer's options, as a table so that an option left out of it fails tsc.
const OPTION_NAMES: {
  adam: Record<keyof AdamOptions, true>;
  adamw: Record<keyof AdamOptions, true>;
  nadam: Record<keyof NAdamOptions, true>;
  radam: Record<keyof AdamOptions, true>;
  adamax: Record<keyof AdamOptions, true>;
  sgd: Record<keyof SGDOptions, true>;
  adadelta: Record<keyof AdadeltaOptions, true>;
  rmsprop: Record<keyof RMSpropOptions, true>;
  adagrad: Record<keyof AdagradOptions, true>;
} = {
  adam: { lr: true, betas: true, eps: true, weightDecay: true },
  adamw: { lr: true, betas: true, eps: true, weightDecay: true },
  nadam: { lr: true, betas: true, eps: true, weightDecay: true, momentumDecay: true },
  radam: { lr: true, betas: true, eps: true, weightDecay: true },
  adamax: { lr: true, betas: true, eps: true, weightDecay: true },
  sgd: { lr: true, momentum: true, dampening: true, weightDecay: true, nesterov: true },
  adadelta: { lr: true, rho: true, eps: true, weightDecay: true },
  rmsprop: { lr: true, alpha: true, eps: true, weightDecay: true, momentum: true, centered: true },
  adagrad: { lr: true, lrDecay: true, eps: true, weightDecay: true, initialAccumulatorValue: true },
};
/**
 * PyTorch's defaults of the options whose defaults differ between optimizers (SGD has no default
 * learning rate: PyTorch requires one).
 */
export const OPTIMIZER_DEFAULTS: Readonly<Record<OptimizerKind, { lr?: number; weightDecay: number }>> = {
  adam: { lr: 1e-3, weightDecay: 0 },
  adamw: { lr: 1e-3, weightDecay: 0.01 },
  nadam: { lr: 2e-3, weightDecay: 0 },
  radam: { lr: 1e-3, weightDecay: 0 },
  adamax: { lr: 2e-3, weightDecay: 0 },
  sgd: { weightDecay: 0 },
  adadelta: { lr: 1, weightDecay: 0 },
  rmsprop: { lr: 0.01, weightDecay: 0 },
  adagrad: { lr: 0.01, weightDecay: 0 },
};

/** The optimizers' state that is never negative (second moments, sums of squares), by its name's last part. */
export const NON_NEGATIVE_STATE: readonly string[] = ['exp_avg_sq', 'exp_inf', 'sum', 'square_avg', 'acc_delta'];

/** Every OptimizerKind. */
export const OPTIMIZER_KINDS = Object.keys(OPTION_NAMES) as readonly OptimizerKind[];

/**
 * The options `opts` sets (to anything but undefined) that only other optimizers take (`kind`
 * would ignore them), and those optimizers.
 */
export function otherOptimizerOptions(kind: OptimizerKind, opts: object): { names: string[]; owners: OptimizerKind[] } {
  const names = Object.entries(opts)
    .filter(([k, v]) => v !== undefined && !Object.hasOwn(OPTION_NAMES[kind], k) && OPTIMIZER_KINDS.some((o) => Object.hasOwn(OPTION_NAMES[o], k)))
    .map(([k]) => k);
  return { names, owners: OPTIMIZER_KINDS.filter((o) => o !== kind && names.length > 0 && names.every((k) => Object.hasOwn(OPTION_NAMES[o], k))) };
}

/** `momentum is an option of sgd`, `betas, eps are options of adam and adamw`: for other optimizers' options. */
export function foreignOptionsText({ names, owners }: ReturnType<typeof otherOptimizerOptions>, name: (k: OptimizerKind) => string): string {
  return `${names.join(', ')} ${names.length > 1 ? 'are options' : 'is an option'} of ${owners.length ? listed(owners.map(name), 'and') : 'other optimizers'}`;
}

export const DISPLAY: Record<OptimizerKind, string> = { adam: 'Adam', adamw: 'AdamW', nadam: 'NAdam', radam: 'RAdam', adamax: 'Adamax', sgd: 'SGD', adadelta: 'Adadelta', rmsprop: 'RMSprop', adagrad: 'Adagrad' };

/** Throws a RangeError naming the options `kind` does not take (other optimizers' as such), before any allocation; `who` names the optimizer (and group). */
export function checkOptions(kind: OptimizerKind, opts: unknown, who: string): void {
  const fail = (why: string) => new RangeError(`${who}: ${why}`);
  const foreign = typeof opts === 'object' && opts ? otherOptimizerOptions(kind, opts) : undefined;
  if (foreign?.names.length) throw fail(`${foreignOptionsText(foreign, (k) => DISPLAY[k])}, not of ${DISPLAY[kind]}`);
  checkOptionNames(opts, Object.keys(OPTION_NAMES[kind]), fail);
}

// The training settings: read from the controls, which the page's URL can preset
// (?optimizer=sgd-momentum&lr=0.003&batch=16&augment=1&evalEvery=50&evalImages=500, handy for sharing a
// setup), and kept up to date as the controls change; the training loop reads them before every step.
import { OPTIMIZERS, type OptimizerKey, type TrainingSettings } from './training';

const CONTROLS = {
  lr: { id: 'lr', param: 'lr', min: 1e-6, max: 1, what: 'The learning rate' },
  // Larger batches outgrow a device's buffer limits (im2col of conv2 is 1.2 GB at 4096).
  batchSize: { id: 'batch', param: 'batch', min: 1, max: 512, what: 'The batch size' },
  evalEvery: { id: 'eval-every', param: 'evalEvery', min: 1, max: 1e6, what: 'Steps between tests' },
  evalImages: { id: 'eval-images', param: 'evalImages', min: 1, max: 10000, what: 'Test images' },
} as const;

type Key = keyof typeof CONTROLS;

/** The optimizer's select, its choices made from OPTIMIZERS on first use. */
function optimizerControl(): HTMLSelectElement {
  const el = document.getElementById('optimizer') as HTMLSelectElement;
  if (!el.options.length) for (const [key, { label }] of Object.entries(OPTIMIZERS)) el.add(new Option(label, key, key === 'adam', key === 'adam'));
  return el;
}

const isOptimizer = (v: string): v is OptimizerKey => Object.hasOwn(OPTIMIZERS, v);

/** The augmentation's checkbox. */
const augmentControl = () => document.getElementById('augment') as HTMLInputElement;
/** What ?augment= may be, and what each means. */
const SWITCH: Record<string, boolean> = { 1: true, true: true, on: true, 0: false, false: false, off: false };

function control(key: Key): HTMLInputElement | HTMLSelectElement {
  return document.getElementById(CONTROLS[key].id) as HTMLInputElement | HTMLSelectElement;
}

function valid(key: Key, v: number): boolean {
  const c = CONTROLS[key];
  return Number.isFinite(v) && v >= c.min && v <= c.max && (key === 'lr' || Number.isInteger(v));
}

/** What a control takes, for messages. */
function range(key: Key): string {
  const c = CONTROLS[key];
  return `${c.what} must be ${key === 'lr' ? 'a number' : 'a whole number'} from ${c.min} to ${c.max.toLocaleString('en-US')}`;
}

/**
 * Applies URL presets to the controls, then reads them; `ignored` says which presets were
 * invalid (the control's default is used instead).
 */
export function readSettings(url = new URL(location.href)): { settings: TrainingSettings; ignored: string[] } {
  const out = {} as TrainingSettings;
  const ignored: string[] = [];
  const optimizer = optimizerControl();
  const chosen = url.searchParams.get('optimizer');
  if (chosen !== null && isOptimizer(chosen)) optimizer.value = chosen;
  else if (chosen !== null) ignored.push(`optimizer=${chosen} (the optimizer is one of ${Object.keys(OPTIMIZERS).join(', ')}; it is ${optimizer.value})`);
  out.optimizer = optimizer.value as OptimizerKey;
  const augment = augmentControl();
  const wanted = url.searchParams.get('augment');
  if (wanted !== null && Object.hasOwn(SWITCH, wanted)) augment.checked = SWITCH[wanted]!;
  else if (wanted !== null) ignored.push(`augment=${wanted} (augment is 1 or 0; it is ${augment.checked ? 1 : 0})`);
  out.augment = augment.checked;
  for (const key of Object.keys(CONTROLS) as Key[]) {
    const el = control(key);
    const preset = url.searchParams.get(CONTROLS[key].param);
    if (preset !== null && !valid(key, Number(preset))) ignored.push(`${CONTROLS[key].param}=${preset} (${range(key).toLowerCase()}; it is ${el.value})`);
    else if (preset !== null) {
      if (el instanceof HTMLSelectElement && ![...el.options].some((o) => Number(o.value) === Number(preset))) {
        // Among the choices in order of value.
        el.add(new Option(preset, preset), [...el.options].find((o) => Number(o.value) > Number(preset)) ?? null);
      }
      el.value = el instanceof HTMLSelectElement ? [...el.options].find((o) => Number(o.value) === Number(preset))!.value : preset;
    }
    out[key] = Number(el.value);
  }
  return { settings: out, ignored };
}

/**
 * Keeps `settings` in step with the controls. An invalid number typed (an empty field, or
 * letters, reads as 0) is pointed out, and the last good one stays in effect, and in the field.
 */
export function watchSettings(settings: TrainingSettings): void {
  const optimizer = optimizerControl();
  optimizer.addEventListener('change', () => {
    if (isOptimizer(optimizer.value)) settings.optimizer = optimizer.value;
  });
  const augment = augmentControl();
  augment.addEventListener('change', () => (settings.augment = augment.checked));
  for (const key of Object.keys(CONTROLS) as Key[]) {
    const el = control(key);
    const c = CONTROLS[key];
    if (el instanceof HTMLInputElement) [el.min, el.max] = [String(c.min), String(c.max)];
    el.addEventListener('input', () => el.setCustomValidity(''));
    el.addEventListener('change', () => {
      const v = Number(el.value);
      if (valid(key, v)) {
        settings[key] = v;
        el.setCustomValidity('');
        return;
      }
      el.setCustomValidity(`${range(key)}; it stays ${settings[key]}.`);
      el.reportValidity();
      el.value = String(settings[key]); // the field shows what is in effect once the message fades
    });
  }
}

// "Look inside": one row per layer (the input image, then every layer's output), each a WebGPU
// canvas of channel tiles drawn from the inference program's output buffers. Clicking a tile
// of a conv block (conv, ReLU, pool), or the arrow keys on its focused row, selects that channel
// for the explanation below.
import type { LayerInfo, Model, Tensor } from 'fovea';
import { arrowChoice, ChannelList } from './dom';
import { MapCanvas, type MapRenderer, type MapView } from './map-renderer';

/** What each kind of layer does, in a sentence. */
const ABOUT: Record<string, (l: LayerInfo) => string> = {
  conv2d: (l) => {
    const s = l.spec as { kernelSize: number | number[]; padding?: number | number[] };
    const k = Array.isArray(s.kernelSize) ? s.kernelSize.join('×') : `${s.kernelSize}×${s.kernelSize}`;
    return `convolution: ${l.outputShape[0]} channels, each the sum over the ${l.inputShape[0]} input channel${l.inputShape[0] === 1 ? '' : 's'} of (input ∗ ${k} kernel) plus a bias`;
  },
  relu: () => 'ReLU: negative values become 0, positive ones pass unchanged',
  sigmoid: () => 'sigmoid: each value v becomes 1 / (1 + e^−v), between 0 and 1',
  tanh: () => 'tanh: each value becomes its hyperbolic tangent, between −1 and 1',
  softplus: () => 'softplus: each value v becomes log(1 + e^v), a smooth ReLU, always above 0',
  mish: () => 'Mish: each value v becomes v · tanh(softplus(v)): near 0 below 0, near v above',
  selu: () => 'SELU: positive values are scaled by 1.0507, negative ones v become 1.7581·(e^v − 1)',
  silu: () => 'SiLU: each value v becomes v · sigmoid(v): near 0 below 0, near v above',
  gelu: () => 'GELU: each value v becomes v · Φ(v), Φ the normal distribution function: near 0 below 0, near v above',
  elu: (l) => `ELU: positive values pass unchanged, each negative v becomes ${(l.spec as { alpha?: number }).alpha ?? 1}·(e^v − 1), above −${(l.spec as { alpha?: number }).alpha ?? 1}`,
  maxpool2d: () => 'max-pool 2×2: each 2×2 block keeps its largest value, halving width and height',
  linear: (l) => `linear: each of the ${l.outputShape[0]} logits (the numbers under the maps; the largest is the prediction) is a weighted sum of all ${l.inputShape[0]} values of the flattened maps, plus a bias (click a class to see it)`,
};

interface Row {
  name: string;
  /** Says what the colours of the row's maps span. */
  scale: HTMLElement;
  /** A conv block's row as a listbox of its channels. */
  list?: ChannelList;
  layer: LayerInfo | undefined;
  /** Index of the conv block the row belongs to, or -1. */
  block: number;
  /** Whether its values cannot be negative (after a ReLU or a sigmoid, and max-pooling of those). */
  nonNegative: boolean;
  canvas: MapCanvas;
  view: Omit<MapView, 'source'>;
}

export interface Selection {
  /** Conv layer index (0 = the first conv layer); one past the last: the output layer. */
  conv: number;
  /** Its channel, or the output layer's class. */
  channel: number;
}

/**
 * A logit in at most five characters (a phone's tile is about 30 px wide): two decimals below 1
 * (an untrained network's are near 0, where one would show ties), one below 10, none above; a
 * value that rounds to 0 has no sign.
 */
export function logitText(v: number): string {
  if (!Number.isFinite(v)) return String(v).replace('-', '−');
  const a = Math.abs(v);
  return fixedText(v, a < 0.995 ? 2 : a < 9.95 ? 1 : 0);
}

/** `v` to `digits` decimals with a minus sign (−), none on a value that rounds to 0 ("−0.000"). */
export function fixedText(v: number, digits: number): string {
  const text = Math.abs(v).toFixed(digits);
  return v < 0 && Number(text) !== 0 ? `−${text}` : text;
}

/** A scale's end in three significant digits (0.0123, 4.56, 789), or exponent form beyond. */
export function scaleText(v: number): string {
  return v !== 0 && (v < 1e-3 || v >= 1e5) ? v.toExponential(2) : Number(v.toPrecision(3)).toString();
}

/** Largest tile (CSS pixels) for a map of `size` pixels: about two screen pixels per map pixel. */
function maxTile(size: number): number {
  return size >= 28 ? 60 : size >= 14 ? 46 : size >= 7 ? 34 : 40;
}

/**
 * Tiles per row and tile size that fit `channels` maps into `width` CSS pixels: up to 16 a row,
 * 8 where 16 would draw them smaller than their own pixels or than 22; with `oneRow` (a row
 * labelled tile by tile, the classes), all of them in one row, however small.
 */
export function fitTiles(channels: number, size: number, width: number, gap: number, oneRow = false): { cols: number; tile: number } {
  let cols = oneRow ? channels : Math.min(channels, 16);
  let tile = Math.floor((width + gap) / cols) - gap;
  if (!oneRow && cols > 8 && (tile < 22 || tile < Math.min(size, maxTile(size)))) {
    cols = 8;
    tile = Math.floor((width + gap) / cols) - gap;
  }
  return { cols, tile: Math.max(12, Math.min(maxTile(size), tile)) };
}

export class NetworkView {
  private readonly rows: Row[] = [];
  /** Under each class's tile, its logit (the colours have no numbers otherwise). */
  private readonly logits: HTMLElement[] = [];
  private width = 0;
  selection: Selection = { conv: 0, channel: 0 };

  constructor(
    private readonly root: HTMLElement,
    renderer: MapRenderer,
    model: Model,
    /** Called with each choice, and whether it was a click (rather than a key). */
    private readonly onSelect: (s: Selection, clicked: boolean) => void,
    /** Called when the layout changed and the maps need drawing again. */
    private readonly onLayout: () => void,
    /** The block (after the conv blocks) that the output layer's classes are chosen as, where they are explained. */
    outBlock?: number,
  ) {
    root.replaceChildren();
    let block = -1;
    let nonNegative = false;
    const entries: { name: string; layer: LayerInfo | undefined; shape: readonly number[] }[] = [{ name: 'input', layer: undefined, shape: model.inputShape }];
    for (const l of model.layers) if (l.type !== 'flatten') entries.push({ name: l.name, layer: l, shape: l.outputShape });
    for (const e of entries) {
      if (e.layer?.type === 'conv2d') block++;
      else if (e.layer?.type === 'linear') block = outBlock !== undefined && e.layer === model.layers.at(-1) ? outBlock : -1;
      const type = e.layer?.type;
      if (type !== 'maxpool2d' && type !== 'adaptivemaxpool2d') nonNegative = type === 'relu' || type === 'sigmoid' || type === 'relu6' || type === 'hardsigmoid';
      const [channels, height, width] = e.shape.length === 3 ? (e.shape as [number, number, number]) : [e.shape[0]!, 1, 1];
      const row = document.createElement('div');
      row.className = 'layer-row';
      row.dataset.layer = e.name;
      const head = document.createElement('div');
      head.className = 'layer-head';
      const title = document.createElement('strong');
      title.textContent = e.name;
      const shape = document.createElement('code');
      shape.textContent = `[${e.shape.join(', ')}]`;
      const about = document.createElement('span');
      about.className = 'about';
      about.textContent = e.layer ? (ABOUT[e.layer.type]?.(e.layer) ?? e.layer.type) : 'the 28×28 image the network sees (pixels 0…1)';
      const scale = document.createElement('span');
      scale.className = 'about map-scale';
      head.append(title, ' ', shape, about, scale);
      const el = document.createElement('canvas');
      el.className = 'maps';
      el.setAttribute('role', 'img');
      el.setAttribute('aria-label', `${e.name}: ${channels} activation map${channels === 1 ? '' : 's'}`);
      const wrap = document.createElement('div');
      wrap.className = 'maps-wrap';
      wrap.append(el);
      row.append(head, wrap);
      if (e.layer?.type === 'linear') {
        const labels = document.createElement('div');
        labels.className = 'class-labels';
        for (let k = 0; k < channels; k++) {
          const s = document.createElement('span');
          const value = document.createElement('small');
          s.append(String(k), value);
          labels.append(s);
          this.logits.push(value);
        }
        wrap.append(labels);
      }
      root.append(row);
      const canvas = new MapCanvas(renderer, el);
      const view: Omit<MapView, 'source'> = {
        channels,
        height,
        width,
        cols: Math.min(channels, 16),
        x: 0,
        y: 0,
        tile: maxTile(height),
        gap: e.layer?.type === 'linear' ? 6 : 4,
        colour: e.layer ? 'diverging' : 'grey',
        ...(e.layer ? {} : { range: 1 }),
      };
      const r: Row = { name: e.name, scale, layer: e.layer, block, nonNegative, canvas, view };
      this.rows.push(r);
      if (block >= 0) {
        const b = block;
        el.classList.add('pickable');
        el.tabIndex = 0;
        const classes = block === outBlock;
        el.setAttribute('aria-label', classes ? `${e.name}: ${channels} logits; arrow keys choose the class explained below` : `${e.name}: ${channels} activation maps; arrow keys choose the channel explained below`);
        r.list = new ChannelList(el, `maps-${e.name.replace(/\W/g, '-')}`);
        r.list.setChannels(channels, (k) => (classes ? `${e.name}, class ${k}` : `${e.name}, channel ${k}`));
        el.addEventListener('click', (ev) => {
          const hit = canvas.hit(ev);
          if (hit) this.select({ conv: b, channel: hit.channel }, true);
        });
        el.addEventListener('keydown', (ev) => {
          const next = arrowChoice(ev, this.selection.conv === b ? this.selection.channel : -1, channels, r.view.cols);
          if (next === undefined) return;
          ev.preventDefault();
          this.select({ conv: b, channel: next });
        });
      }
    }
    this.layout();
    // Laid out in the next frame, not in the observer's callback: the redraw resizes canvases,
    // and a size changed inside the callback is a "ResizeObserver loop" error.
    let queued = false;
    new ResizeObserver(() => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        if (this.layout()) this.onLayout();
      });
    }).observe(root);
  }

  // Sizes the tiles to the width the maps have; true if anything changed.
  private layout(): boolean {
    const wrap = this.root.querySelector<HTMLElement>('.maps-wrap');
    const width = wrap?.clientWidth || 900;
    if (width === this.width) return false;
    this.width = width;
    for (const r of this.rows) {
      const labels = r.canvas.canvas.parentElement!.querySelector<HTMLElement>('.class-labels');
      const { cols, tile } = fitTiles(r.view.channels, r.view.height, width, r.view.gap, !!labels);
      r.view = { ...r.view, cols, tile };
      // Each label as wide as its tile, the gap after it: label k centred under tile k.
      labels?.style.setProperty('--tile', `${tile}px`);
      labels?.style.setProperty('--gap', `${r.view.gap}px`);
    }
    return true;
  }

  select(s: Selection, clicked = false): void {
    this.selection = s;
    this.onSelect(s, clicked);
  }

  /** Says what each row's colours span: its largest |value| (measured on the GPU), or the image's 0…1. */
  showRanges(ranges: readonly number[]): void {
    this.rows.forEach((r, i) => {
      const v = ranges[i]!;
      const text =
        !r.layer ? 'black 0 … white 1'
        : !Number.isFinite(v) ? ''
        : r.nonNegative ? `white 0 … red ${scaleText(v)}`
        : `blue −${scaleText(v)} … white 0 … red ${scaleText(v)}`;
      if (r.scale.textContent !== text) r.scale.textContent = text;
    });
  }

  /** Writes each logit under its class, the largest marked as the prediction (unless `predicted` is false: a blank pad). */
  showLogits(values: ArrayLike<number>, predicted: boolean): void {
    let best = 0;
    for (let k = 1; k < values.length; k++) if (values[k]! > values[best]!) best = k;
    this.logits.forEach((el, k) => {
      el.textContent = logitText(values[k]!);
      el.parentElement!.classList.toggle('top', predicted && k === best && Number.isFinite(values[k]));
    });
  }

  /** Points every row at this run's buffers (input: the program's input tensor). */
  update(outputs: Record<string, Tensor>, input: Tensor): MapCanvas[] {
    for (const r of this.rows) {
      const source = r.name === 'input' ? input : outputs[r.name];
      if (!source) continue;
      const selected = r.block === this.selection.conv ? this.selection.channel : -1;
      r.list?.choose(selected);
      r.canvas.setViews([{ ...r.view, source, selected }]);
    }
    return this.rows.map((r) => r.canvas);
  }
}

// The explanation of one conv channel, after the seed tutorial (CNN Explainer): a channel has
// one kernel per input channel; each input channel ⋆ its kernel gives an intermediate map, and
// the channel's map is the sum of the intermediate maps plus the bias. Shown as three aligned
// rows (input channels, kernels, intermediate maps) over the runtime's buffers, then the sum,
// its ReLU and its max-pool; the kernel values and the bias are read back (a few hundred floats).
// Or of one class of the output layer, in the same three rows: the maps flattened into it, its
// weights for that class as maps, and their products, whose sum plus the bias is the logit.
import type { Tensor } from 'fovea';
import type { ConvInfo, OutInfo, Partials } from './inference';
import { arrowChoice, ChannelList } from './dom';
import { MapCanvas, type MapRenderer, type MapView } from './map-renderer';
import { fitTiles, fixedText, type Selection } from './network-view';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export class ExplainView {
  private readonly title = el('h3');
  private readonly text = el('p', 'explain-text');
  /** The three aligned rows: input channels, kernels, intermediate maps. */
  private readonly rows: { canvas: MapCanvas; label: HTMLElement; list: ChannelList }[] = [];
  private readonly results: { canvas: MapCanvas; caption: HTMLElement }[] = [];
  private readonly kernelTable = el('table', 'kernel');
  private readonly kernelCaption = el('p', 'kernel-caption');
  private readonly check = el('p', 'explain-check');
  private readonly rowsBox = el('div', 'explain-rows');
  /** The sum, its ReLU and its max-pool (a conv channel's; the output layer has none). */
  private readonly sumBox = el('div', 'explain-sum-box');
  /** Names the chosen channels for screen readers (the pickers are canvases). */
  private readonly chosen = el('p', 'visually-hidden');
  private inputChannel = 0;
  private inputChannels = 1;
  /** Input channels per row of the three rows (they wrap on narrow screens). */
  private inputCols = 1;

  constructor(
    root: HTMLElement,
    renderer: MapRenderer,
    private readonly convs: readonly ConvInfo[],
    /** The output layer, where its classes are explained (chosen as conv index convs.length). */
    private readonly out: OutInfo | undefined,
    /** Layer names after each conv: [conv, relu, pool] outputs of conv block i. */
    private readonly blocks: readonly string[][],
    private readonly onChange: () => void,
  ) {
    for (let i = 0; i < 3; i++) {
      const row = el('div', 'explain-row');
      const label = el('div', 'explain-label');
      const c = el('canvas', 'maps pickable');
      const wrap = el('div', 'maps-wrap');
      wrap.append(c);
      row.append(label, wrap);
      this.rowsBox.append(row);
      const canvas = new MapCanvas(renderer, c);
      // Clicking a column (in any row), or the arrow keys on a focused row, shows that input
      // channel's kernel values.
      c.tabIndex = 0;
      c.addEventListener('click', (ev) => {
        const hit = canvas.hit(ev);
        if (hit) {
          this.inputChannel = hit.channel;
          this.onChange();
        }
      });
      c.addEventListener('keydown', (ev) => {
        const next = arrowChoice(ev, this.inputChannel, this.inputChannels, this.inputCols);
        if (next === undefined) return;
        ev.preventDefault();
        this.inputChannel = next;
        this.onChange();
      });
      this.rows.push({ canvas, label, list: new ChannelList(c, `explain-${i}`) });
    }
    // The sum's figures and arrows; a container, so that they stack (arrows down) where one row does not fit.
    const sum = el('div', 'explain-sum');
    this.sumBox.append(sum);
    for (let i = 0; i < 3; i++) {
      const fig = el('figure');
      const c = el('canvas', 'maps');
      const caption = el('figcaption');
      // Named by its caption, for screen readers as for the eye.
      caption.id = `explain-result-${i}`;
      c.setAttribute('role', 'img');
      c.setAttribute('aria-labelledby', caption.id);
      fig.append(c, caption);
      if (i > 0) sum.append(el('span', 'arrow', '→'));
      sum.append(fig);
      this.results.push({ canvas: new MapCanvas(renderer, c), caption });
    }
    const kernel = el('div', 'kernel-box');
    kernel.append(this.kernelCaption, this.kernelTable);
    this.chosen.setAttribute('aria-live', 'polite');
    root.replaceChildren(this.title, this.chosen, this.text, this.rowsBox, this.sumBox, this.check, kernel);
  }

  // The three rows: their views and labels, their channels as listboxes (`name`s them).
  private showRows(views: readonly MapView[], labels: readonly string[], c: number, name: (k: number) => string): void {
    this.rows.forEach((r, i) => {
      r.canvas.setViews([views[i]!]);
      r.label.textContent = labels[i]!;
      // With one input channel there is nothing to choose: no tab stop, no keys to offer.
      const el = r.canvas.canvas;
      el.tabIndex = c > 1 ? 0 : -1;
      el.classList.toggle('pickable', c > 1);
      el.setAttribute('aria-label', c > 1 ? `${labels[i]!}; arrow keys choose the ${this.outChosen ? 'map whose weights are' : 'input channel whose kernel is'} listed` : labels[i]!);
      r.list.setChannels(c, name);
      r.list.choose(this.inputChannel);
    });
  }

  /** Whether the output layer is explained (else a conv channel). */
  private outChosen = false;

  // The rows' width, for their tiles.
  private rowsWidth(): number {
    return this.rowsBox.querySelector<HTMLElement>('.maps-wrap')?.clientWidth || 900;
  }

  /** Points the canvases at this run's buffers; returns them for drawing. */
  update(sel: Selection, outputs: Record<string, Tensor>, input: Tensor, partials: Partials): MapCanvas[] {
    this.outChosen = this.out !== undefined && sel.conv === this.convs.length;
    this.sumBox.hidden = this.outChosen;
    if (this.outChosen) return this.updateOut(sel.channel, outputs, partials.out!);
    const conv = this.convs[sel.conv]!;
    const o = sel.channel;
    const names = this.blocks[sel.conv]!;
    const source = conv.inputName === 'input' ? input : outputs[conv.inputName]!;
    const [c, h, w] = source.shape.slice(1) as [number, number, number];
    const [kh, kw] = conv.kernel;
    const out = outputs[names[0]!]!;
    const [oh, ow] = out.shape.slice(2) as [number, number];
    if (this.inputChannel >= c) this.inputChannel = 0;
    this.inputChannels = c;
    const fit = fitTiles(c, h, this.rowsWidth(), 4);
    this.inputCols = fit.cols;
    const base = { channels: c, cols: fit.cols, tile: c === 1 ? 96 : fit.tile, gap: 4, x: 0, y: 0, selected: this.inputChannel };
    const fromImage = conv.inputName === 'input';
    const views: MapView[] = [
      { ...base, source, height: h, width: w, colour: fromImage ? 'grey' : 'diverging', ...(fromImage ? { range: 1 } : {}) },
      { ...base, source: conv.weight, offset: o * c * kh * kw, channelStride: kh * kw, height: kh, width: kw, colour: 'diverging' },
      { ...base, source: partials.convs[sel.conv]!, height: oh, width: ow, colour: 'diverging' },
    ];
    const labels = [
      c === 1 ? 'the input image' : `${conv.inputName}: the ${c} input channels`,
      `${c === 1 ? 'its kernel' : `their ${c} kernels`}, ${conv.layer.name}.weight[${o}, ${c === 1 ? '0' : `0…${c - 1}`}]`,
      `input ∗ kernel: ${c === 1 ? 'the intermediate map' : `${c} intermediate maps`}`,
    ];
    this.showRows(views, labels, c, (k) => `input channel ${k}`);

    const big = 112;
    names.forEach((name, i) => {
      const r = this.results[i];
      const t2 = outputs[name];
      if (!r || !t2) return;
      const [, , rh, rw] = t2.shape as [number, number, number, number];
      r.canvas.setViews([{ source: t2, offset: o * rh * rw, channels: 1, height: rh, width: rw, cols: 1, x: 0, y: 0, tile: big, gap: 0, colour: 'diverging' }]);
      r.caption.textContent = i === 0 ? `Σ intermediate maps + bias = ${name}[${o}]` : i === 1 ? `ReLU → ${name}[${o}]` : `max-pool → ${name}[${o}]`;
    });

    this.title.textContent = `${conv.layer.name}, channel ${o}`;
    const chosen = `Explaining ${conv.layer.name}, channel ${o}${c === 1 ? '' : `; listing the kernel of input channel ${this.inputChannel}`}.`;
    if (this.chosen.textContent !== chosen) this.chosen.textContent = chosen; // announced on change only
    this.text.textContent =
      c === 1
        ? `This channel has one ${kh}×${kw} kernel, because its input has one channel (the image). The kernel slides over the image one pixel at a time ` +
          `(stride 1, the image padded with ${padding(conv)} zeros on each side); at each position the elementwise product of kernel and image patch is summed: that dot product is one pixel of the intermediate map. ` +
          `Adding the learned bias to every pixel gives the channel's activation map. Blue is negative, red positive, white zero; each picture has its own scale.`
        : `This channel has ${c} kernels of ${kh}×${kw}, one for each of the ${c} channels of ${conv.inputName}. Each input channel (top row) is convolved with its kernel (middle row): ` +
          `the kernel slides over it one pixel at a time and each dot product of kernel and patch is one pixel of an intermediate map (bottom row). ` +
          `The channel's activation map is the elementwise sum of all ${c} intermediate maps plus the learned bias. Click a column (or use the arrow keys) to see that kernel's values. ` +
          `Blue is negative, red positive, white zero; each row has its own scale.`;
    return [...this.rows.map((r) => r.canvas), ...this.results.map((r) => r.canvas)];
  }

  // The output layer's class k: the maps flattened into it, their weights for k, the products.
  private updateOut(k: number, outputs: Record<string, Tensor>, products: Tensor): MapCanvas[] {
    const out = this.out!;
    const [c, h, w] = out.maps;
    if (this.inputChannel >= c) this.inputChannel = 0;
    this.inputChannels = c;
    const fit = fitTiles(c, h, this.rowsWidth(), 4);
    this.inputCols = fit.cols;
    const base = { channels: c, cols: fit.cols, tile: fit.tile, gap: 4, x: 0, y: 0, selected: this.inputChannel, height: h, width: w, colour: 'diverging' as const };
    const n = c * h * w;
    this.showRows(
      [
        { ...base, source: outputs[out.inputName]! },
        { ...base, source: out.weight, offset: k * n, channelStride: h * w },
        { ...base, source: products, channelStride: h * w },
      ],
      [`${out.inputName}: the ${c} maps flattened into it`, `their weights for class ${k}, ${out.layer.name}.weight[${k}] as ${c} maps of ${h}×${w}`, `map × weight: what each value adds to logit ${k}`],
      c,
      (i) => `map ${i}`,
    );
    this.title.textContent = `${out.layer.name}, class ${k}`;
    const chosen = `Explaining ${out.layer.name}, class ${k}; listing the weights of map ${this.inputChannel}.`;
    if (this.chosen.textContent !== chosen) this.chosen.textContent = chosen;
    this.text.textContent =
      `The logit of class ${k} (the number under its tile above) is a weighted sum: each of the ${n.toLocaleString('en-US')} values of the ${c} maps of ${out.inputName} (top row) ` +
      `times its own weight for class ${k} (middle row), all added up, plus the bias. The bottom row shows the products: red adds to the logit, evidence for a ${k}; blue takes away. ` +
      `The class with the largest logit is the prediction. Click a column (or use the arrow keys) to see that map's weights. Blue is negative, red positive, white zero; each row has its own scale.`;
    return this.rows.map((r) => r.canvas);
  }

  /**
   * Reads back the selected kernel and bias (and, to show the sum really holds, the intermediate
   * maps and the channel's map) and fills in the numbers.
   */
  async details(sel: Selection, outputs: Record<string, Tensor>, partials: Partials): Promise<void> {
    if (this.outChosen) return this.detailsOut(sel.channel, outputs, partials.out!);
    const conv = this.convs[sel.conv]!;
    const o = sel.channel;
    const c = conv.inChannels;
    const [kh, kw] = conv.kernel;
    const out = outputs[this.blocks[sel.conv]![0]!]!;
    const [oh, ow] = out.shape.slice(2) as [number, number];
    // NOTE: all four reads are enqueued before any await, so they see this run's buffers.
    const [weight, bias, part, map] = await Promise.all([
      conv.weight.read(),
      conv.bias ? conv.bias.read() : Promise.resolve(new Float32Array(conv.outChannels)),
      partials.convs[sel.conv]!.read(),
      out.read(),
    ]);
    const b = bias[o]!;
    const k = this.inputChannel;
    this.kernelCaption.textContent = `kernel ${conv.layer.name}.weight[${o}, ${k}] (applied to input channel ${k}); bias ${conv.layer.name}.bias[${o}] = ${fixedText(b, 4)}`;
    const rows: HTMLTableRowElement[] = [];
    for (let y = 0; y < kh; y++) {
      const tr = el('tr');
      for (let x = 0; x < kw; x++) {
        const v = weight[((o * c + k) * kh + y) * kw + x]!;
        const text = fixedText(v, 3);
        tr.append(el('td', text.startsWith('−') ? 'neg' : 'pos', text));
      }
      rows.push(tr);
    }
    this.kernelTable.replaceChildren(...rows);
    // Σ_c partial[c] + b against the conv layer's own output for this channel.
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < oh * ow; i++) {
      let s = b;
      for (let ch = 0; ch < c; ch++) s += part[ch * oh * ow + i]!;
      const m = map[o * oh * ow + i]!;
      worst = Math.max(worst, Math.abs(s - m));
      scale = Math.max(scale, Math.abs(m));
    }
    this.check.textContent = `Check, on your GPU: the sum of the ${c} intermediate map${c === 1 ? '' : 's'} plus the bias differs from ${this.blocks[sel.conv]![0]}[${o}] by at most ${worst.toExponential(1)} (values up to ${scale.toFixed(2)}).`;
    this.check.dataset.error = String(worst);
  }

  // The output layer's class k: the weights of the chosen map, the bias, and the sum checked.
  private async detailsOut(k: number, outputs: Record<string, Tensor>, products: Tensor): Promise<void> {
    const out = this.out!;
    const [c, h, w] = out.maps;
    const n = c * h * w;
    // NOTE: all four reads are enqueued before any await, so they see this run's buffers.
    const [weight, bias, prod, logits] = await Promise.all([
      out.weight.read(),
      out.bias ? out.bias.read() : Promise.resolve(new Float32Array(out.classes)),
      products.read(),
      outputs[out.layer.name]!.read(),
    ]);
    const b = bias[k]!;
    const m = this.inputChannel;
    const from = k * n + m * h * w;
    this.kernelCaption.textContent = `weights ${out.layer.name}.weight[${k}, ${m * h * w}…${(m + 1) * h * w - 1}] (for map ${m}, ${h}×${w}); bias ${out.layer.name}.bias[${k}] = ${fixedText(b, 4)}`;
    const rows: HTMLTableRowElement[] = [];
    for (let y = 0; y < h; y++) {
      const tr = el('tr');
      for (let x = 0; x < w; x++) {
        const v = weight[from + y * w + x]!;
        const text = fixedText(v, 3);
        tr.append(el('td', text.startsWith('−') ? 'neg' : 'pos', text));
      }
      rows.push(tr);
    }
    this.kernelTable.replaceChildren(...rows);
    let sum = b;
    for (let i = 0; i < n; i++) sum += prod[i]!;
    const logit = logits[k]!;
    const error = Math.abs(sum - logit);
    this.check.textContent = `Check, on your GPU: the ${n.toLocaleString('en-US')} products plus the bias sum to ${fixedText(sum, 4)}; logit ${k} is ${fixedText(logit, 4)} (they differ by ${error.toExponential(1)}).`;
    this.check.dataset.error = String(error);
  }
}

function padding(conv: ConvInfo): number {
  const p = (conv.layer.spec as { padding?: number | [number, number] }).padding ?? 0;
  return Array.isArray(p) ? p[0] : p;
}

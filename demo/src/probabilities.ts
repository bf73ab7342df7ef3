// The prediction panel: the predicted class and a bar chart of the ten class probabilities
// (softmax of the logits, computed here from the ten values read back).

/** Softmax, computed stably (the largest logit subtracted first). */
export function softmax(logits: ArrayLike<number>): Float64Array {
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i]!);
  const out = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += out[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < n; i++) out[i]! /= sum;
  return out;
}

/** A probability as a percentage to one decimal; "> 99.9%" rather than a rounded "100.0%", which it never is. */
export function percent(p: number): string {
  const text = (p * 100).toFixed(1);
  return text === '100.0' && p < 1 ? '> 99.9%' : `${text}%`;
}

export class ProbabilityBars {
  private readonly bars: HTMLElement[] = [];
  private readonly values: HTMLElement[] = [];

  constructor(
    root: HTMLElement,
    private readonly predicted: HTMLElement,
    private readonly note: HTMLElement,
    classes = 10,
  ) {
    root.replaceChildren();
    for (let k = 0; k < classes; k++) {
      const row = document.createElement('div');
      row.className = 'bar-row';
      const label = document.createElement('span');
      label.className = 'bar-label';
      label.textContent = String(k);
      const track = document.createElement('span');
      track.className = 'bar-track';
      const bar = document.createElement('span');
      bar.className = 'bar';
      track.append(bar);
      const value = document.createElement('span');
      value.className = 'bar-value';
      row.append(label, track, value);
      root.append(row);
      this.bars.push(bar);
      this.values.push(value);
    }
  }

  /**
   * Shows the probabilities of `logits` (undefined: nothing to classify, which `blankNote`
   * says). `key` names the input in the predicted element's data-for attribute (tests wait on
   * it). `untrained`: the weights are the initial random ones, so the prediction is said to be a
   * guess.
   */
  show(logits: ArrayLike<number> | undefined, label?: number, key = '', untrained = false, blankNote = 'Draw a digit in the box.'): void {
    this.predicted.dataset.for = key;
    if (!logits) return this.blank('–', blankNote, '');
    const p = softmax(logits);
    // Finite weights can still overflow: no class is more likely than another then.
    if (!p.every(Number.isFinite)) return this.blank('?', 'The network outputs no numbers (NaN or infinity): its weights overflow. Load others, or press Reset.', '–');
    let best = 0;
    for (let k = 1; k < p.length; k++) if (p[k]! > p[best]!) best = k;
    this.showClass(String(best));
    this.predicted.dataset.class = String(best);
    const truth = label === undefined ? '' : label === best ? ` — correct (label ${label})` : ` — the label is ${label}`;
    const guess = untrained ? ' — a guess: the network is untrained (press Start training)' : '';
    this.note.textContent = `${percent(p[best]!)} sure${truth}${guess}`;
    for (let k = 0; k < this.bars.length; k++) {
      this.bars[k]!.style.width = `${(p[k]! * 100).toFixed(2)}%`;
      this.values[k]!.textContent = percent(p[k]!);
      this.bars[k]!.parentElement!.parentElement!.classList.toggle('top', k === best);
    }
  }

  // The <output> is a live region: a screen reader announces the class when it changes, not at
  // every refresh (several a second while training).
  private showClass(text: string): void {
    if (this.predicted.textContent !== text) this.predicted.textContent = text;
  }

  // No prediction: `shown` in place of the class, `note` under it, `value` by every empty bar.
  private blank(shown: string, note: string, value: string): void {
    this.showClass(shown);
    this.predicted.dataset.class = '';
    this.note.textContent = note;
    for (let k = 0; k < this.bars.length; k++) {
      this.bars[k]!.style.width = '0%';
      this.values[k]!.textContent = value;
      this.bars[k]!.parentElement!.parentElement!.classList.remove('top');
    }
  }
}

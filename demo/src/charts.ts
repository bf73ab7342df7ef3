// Live charts of training: the loss of every step (and its moving average) and the test
// accuracy of each evaluation, both against the step number. uPlot draws them: it is small
// (~50 kB), fast with thousands of points, and redraws only when asked (once per frame here).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const SMOOTHING = 0.9;
/** Steps between ticks of the step axis: whole numbers (uPlot's default increments include fractions). */
export const STEP_INCRS = Array.from({ length: 24 }, (_, i) => [1, 2, 5][i % 3]! * 10 ** Math.floor(i / 3));
/** The font of the values on the y axes, which are sized to fit them. */
const VALUE_FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
let measure: CanvasRenderingContext2D | undefined;

// The y axis's width: its widest value (a loss spike's "1,500" would otherwise run into the axis
// title), the tick and the gap.
function fitValues(u: uPlot, values: string[] | null, axis: number): number {
  measure ??= document.createElement('canvas').getContext('2d')!;
  measure.font = VALUE_FONT;
  const widest = Math.max(0, ...(values ?? []).map((v) => measure!.measureText(v).width));
  const a = u.axes[axis]!;
  return Math.ceil(widest + (a.ticks?.size ?? 10) + (a.gap ?? 5));
}

/**
 * Ticks of a log axis at 1, 2 and 5 times the powers of ten between min and max (uPlot's own
 * label only the powers, so a loss between 0.2 and 0.9 would have no tick).
 */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  if (!(min > 0 && max >= min)) return ticks;
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = Number(`${m}e${e}`); // exact decimals: 0.2, not 0.20000000000000004
      if (v >= min && v <= max) ticks.push(v);
    }
  }
  return ticks;
}

/** Labels of a y axis's ticks that are at least a line of text apart (uPlot's log axes label only powers of ten). */
function spaced(u: uPlot, splits: number[]): (number | null)[] {
  let last = -Infinity;
  return splits.map((v) => {
    const y = u.valToPos(v, 'y');
    if (Math.abs(y - last) < 14) return null;
    last = y;
    return v;
  });
}

/** Sets y at x in a series: appended, or replacing the last point if that is at x (one point per step). */
export function setPoint(series: [number[], number[]], x: number, y: number): void {
  const [xs, ys] = series;
  if (xs.at(-1) === x) ys[ys.length - 1] = y;
  else {
    xs.push(x);
    ys.push(y);
  }
}

function sized(el: HTMLElement): { width: number; height: number } {
  return { width: Math.max(200, el.clientWidth), height: 180 };
}

export class TrainingCharts {
  private readonly loss: uPlot;
  private readonly acc: uPlot;
  private readonly lossData: [number[], (number | null)[], (number | null)[]] = [[], [], []];
  private readonly accData: [number[], number[]] = [[], []];
  private smooth: number | undefined;
  private dirty = false;
  /** Steps where the optimizer, learning rate or batch size changed, with what they changed to. */
  private readonly marks: { step: number; what: string }[] = [];
  /** The charts' elements and their own accessible names, which the marks are added to. */
  private readonly labelled: [HTMLElement, string][];

  constructor(lossEl: HTMLElement, accEl: HTMLElement) {
    this.labelled = [lossEl, accEl].map((el) => [el, el.getAttribute('aria-label') ?? '']);
    const axes = (label: string, log = false): uPlot.Axis[] => [
      { label: 'step', incrs: STEP_INCRS },
      { label, font: VALUE_FONT, size: fitValues, ...(log ? { splits: (u: uPlot) => logTicks(u.scales.y!.min!, u.scales.y!.max!), filter: spaced } : {}) },
    ];
    this.loss = new uPlot(
      {
        ...sized(lossEl),
        title: 'Training loss (cross-entropy, log scale)',
        // Log: a trained model's 0.05 stays readable beside the first steps' 2.3, and a spike
        // (a high learning rate's 1e5) does not flatten the rest of the curve to zero.
        scales: { x: { time: false }, y: { distr: 3 } },
        series: [{ label: 'step' }, { label: 'loss', stroke: 'rgba(33,102,172,0.35)', width: 1 }, { label: 'average', stroke: '#2166ac', width: 2 }],
        axes: axes('loss', true),
        legend: { live: false },
        hooks: { draw: [(u) => this.drawMarks(u)] },
      },
      this.lossData,
      lossEl,
    );
    this.acc = new uPlot(
      {
        ...sized(accEl),
        title: 'Test accuracy (%)',
        scales: { x: { time: false }, y: { range: [0, 100] } },
        series: [{ label: 'step' }, { label: 'accuracy', stroke: '#b2182b', width: 2, points: { show: true, size: 5 } }],
        axes: axes('%'),
        legend: { live: false },
        hooks: { draw: [(u) => this.drawMarks(u)] },
      },
      this.accData,
      accEl,
    );
    // Resized in the next frame: a size changed inside the observer's callback is a "ResizeObserver loop" error.
    new ResizeObserver(() =>
      requestAnimationFrame(() => {
        this.loss.setSize(sized(lossEl));
        this.acc.setSize(sized(accEl));
      }),
    ).observe(lossEl.parentElement ?? lossEl);
    this.schedule(); // the empty charts' axes
  }

  /** The moving average of the loss (undefined before the first step). */
  get smoothedLoss(): number | undefined {
    return this.smooth;
  }

  addLoss(step: number, loss: number): void {
    this.smooth = this.smooth === undefined || !Number.isFinite(this.smooth) ? loss : SMOOTHING * this.smooth + (1 - SMOOTHING) * loss;
    this.lossData[0].push(step);
    // A log axis has no place for 0 (a batch classified with certainty) or for NaN and infinity.
    const plotted = (v: number) => (Number.isFinite(v) && v > 0 ? v : null);
    this.lossData[1].push(plotted(loss));
    this.lossData[2].push(plotted(this.smooth));
    this.schedule();
  }

  /** A second test at a step (weights loaded meanwhile) replaces the first. */
  addAccuracy(step: number, accuracy: number): void {
    setPoint(this.accData, step, accuracy * 100);
    this.schedule();
  }

  /** Marks step `step` on both charts as where the settings changed to `what`. */
  mark(step: number, what: string): void {
    this.marks.push({ step, what });
    this.label();
    this.schedule();
  }

  // The marks said in words too, after each chart's name: "…; from step 41: SGD, momentum 0.9".
  private label(): void {
    const said = this.marks.map(({ step, what }) => `; from step ${step}: ${what}`).join('');
    for (const [el, name] of this.labelled) el.setAttribute('aria-label', name + said);
  }

  // A dashed line at each mark, its text beside it at the top of the plot, a line lower where it
  // would run into the text of a mark just before it (settings changed a few steps apart).
  private drawMarks(u: uPlot): void {
    const { ctx, bbox } = u;
    const dpr = devicePixelRatio || 1;
    ctx.save();
    ctx.strokeStyle = '#6b7280';
    ctx.fillStyle = '#374151';
    ctx.lineWidth = dpr;
    ctx.setLineDash([4 * dpr, 3 * dpr]);
    ctx.font = `${11 * dpr}px system-ui, sans-serif`;
    ctx.textBaseline = 'top';
    ctx.textAlign = 'left';
    // Where each line of text ends so far, left to right.
    const ends: number[] = [];
    for (const { step, what } of [...this.marks].sort((a, b) => a.step - b.step)) {
      const x = Math.round(u.valToPos(step, 'x', true));
      if (x < bbox.left || x > bbox.left + bbox.width) continue;
      ctx.beginPath();
      ctx.moveTo(x, bbox.top);
      ctx.lineTo(x, bbox.top + bbox.height);
      ctx.stroke();
      // Right of the line, or left of it where the text would run off the canvas (a mark at the newest step).
      const width = ctx.measureText(what).width;
      const left = x + 3 * dpr + width <= ctx.canvas.width ? x + 3 * dpr : Math.max(0, x - 3 * dpr - width);
      let line = ends.findIndex((end) => end + 6 * dpr <= left);
      if (line < 0) line = ends.length < 4 ? ends.length : ends.length - 1;
      ends[line] = left + width;
      ctx.fillText(what, left, bbox.top + (2 + 13 * line) * dpr);
    }
    ctx.restore();
  }

  clear(): void {
    this.marks.length = 0;
    this.label();
    for (const a of this.lossData) a.length = 0;
    for (const a of this.accData) a.length = 0;
    this.smooth = undefined;
    this.schedule();
  }

  private schedule(): void {
    if (this.dirty) return;
    this.dirty = true;
    requestAnimationFrame(() => {
      this.dirty = false;
      this.loss.setData(this.lossData);
      this.acc.setData(this.accData);
      // With no points uPlot keeps the old range (a log axis has none at all): start afresh, the
      // loss axis over an untrained network's 2.3 and a trained one's 0.05.
      if (!this.lossData[0].length) {
        this.loss.setScale('x', { min: 0, max: 10 });
        this.loss.setScale('y', { min: 0.01, max: 10 });
      }
      if (!this.accData[0].length) this.acc.setScale('x', { min: 0, max: 10 });
    });
  }
}

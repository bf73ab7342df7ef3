// Training curves as a self-contained SVG (no scripts, fonts or external files): the training
// loss against the step, with the test loss as markers, above the test accuracy against the
// step, and where a schedule changed it, the learning rate. `fovea train` writes it next to the
// checkpoint (`model.svg` for `model.safetensors`).

/** A training-loss reading (a line of the metrics log), with its step's learning rate where a schedule set it. */
export interface LossPoint {
  step: number;
  loss: number;
  lr?: number;
}

/** An evaluation on the test set. */
export interface EvalPoint {
  step: number;
  testAccuracy: number;
  testLoss: number;
}

const W = 760;
const PANEL_H = 250;
const M = { left: 70, right: 150, top: 40, bottom: 50 };
const COLORS = { train: '#1f77b4', test: '#d62728', grid: '#e5e5e5', axis: '#333333' };

/** About `count` round tick values covering [lo, hi] (steps of 1, 2, 2.5 or 5 × 10^k). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmtTick = (v: number) => (Math.abs(v) >= 1000 ? v.toLocaleString('en-US') : String(Number(v.toPrecision(6))));

interface Panel {
  top: number;
  title: string;
  yLabel: string;
  yRange: [number, number];
  yFormat: (v: number) => string;
  series: { label: string; color: string; points: [number, number][]; line: boolean; markers: boolean }[];
  /** Text beside the last point of the last series (e.g. the final accuracy). */
  lastLabel?: (y: number) => string;
}

function panel(p: Panel, xRange: [number, number]): string {
  const [x0, x1] = xRange;
  const [y0, y1] = p.yRange;
  const w = W - M.left - M.right;
  const h = PANEL_H - M.top - M.bottom;
  const sx = (x: number) => M.left + ((x - x0) / (x1 - x0 || 1)) * w;
  const sy = (y: number) => p.top + M.top + h - ((y - y0) / (y1 - y0 || 1)) * h;
  const out: string[] = [];
  out.push(`<text x="${M.left + w / 2}" y="${p.top + 24}" text-anchor="middle" font-size="15" font-weight="bold">${esc(p.title)}</text>`);
  for (const t of niceTicks(y0, y1)) {
    const y = sy(t).toFixed(1);
    out.push(`<line x1="${M.left}" x2="${M.left + w}" y1="${y}" y2="${y}" stroke="${COLORS.grid}"/>`);
    out.push(`<text x="${M.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="12">${esc(p.yFormat(t))}</text>`);
  }
  for (const t of niceTicks(x0, x1)) {
    const x = sx(t).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${p.top + M.top}" y2="${p.top + M.top + h}" stroke="${COLORS.grid}"/>`);
    out.push(`<text x="${x}" y="${p.top + M.top + h + 18}" text-anchor="middle" font-size="12">${esc(fmtTick(t))}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${p.top + M.top}" width="${w}" height="${h}" fill="none" stroke="${COLORS.axis}"/>`);
  out.push(`<text x="${M.left + w / 2}" y="${p.top + PANEL_H - 10}" text-anchor="middle" font-size="13">training step</text>`);
  const cy = p.top + M.top + h / 2;
  out.push(`<text x="18" y="${cy}" text-anchor="middle" font-size="13" transform="rotate(-90 18 ${cy})">${esc(p.yLabel)}</text>`);
  p.series.forEach((s, i) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (s.line && pts.length > 1) {
      const d = pts.map(([x, y], k) => `${k ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    }
    if (s.markers || pts.length === 1) {
      for (const [x, y] of pts) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3.5" fill="${s.color}"/>`);
    }
    const end = pts.at(-1);
    if (p.lastLabel && i === p.series.length - 1 && end) {
      out.push(`<text x="${(sx(end[0]) - 6).toFixed(1)}" y="${(sy(end[1]) + 16).toFixed(1)}" text-anchor="end" font-size="12" fill="${s.color}">${esc(p.lastLabel(end[1]))}</text>`);
    }
    const ly = p.top + M.top + 10 + i * 20;
    const lx = M.left + w + 14;
    if (s.line) out.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`);
    if (s.markers) out.push(`<circle cx="${lx + 9}" cy="${ly}" r="3.5" fill="${s.color}"/>`);
    out.push(`<text x="${lx + 24}" y="${ly}" dominant-baseline="middle" font-size="12">${esc(s.label)}</text>`);
  });
  return out.join('\n');
}

// NOTE: folds, not Math.min(...values): a long run's hundred thousand records as arguments
// overflow the stack.
const least = (values: readonly number[]) => values.reduce((m, v) => Math.min(m, v), Infinity);
const most = (values: readonly number[]) => values.reduce((m, v) => Math.max(m, v), -Infinity);

function range(values: number[], fallback: [number, number]): [number, number] {
  const v = values.filter(Number.isFinite);
  if (!v.length) return fallback;
  const lo = least(v);
  const hi = most(v);
  return hi > lo ? [lo, hi] : [lo - 1, hi + 1];
}

/** The SVG document for a run's curves. */
export function trainingPlot(losses: readonly LossPoint[], evals: readonly EvalPoint[], title = 'fovea training'): string {
  const steps = [...losses.map((p) => p.step), ...evals.map((p) => p.step)];
  const xRange = range([0, ...steps], [0, 1]);
  const lossMax = Math.max(0, most([...losses.map((p) => p.loss), ...evals.map((p) => p.testLoss)].filter(Number.isFinite)));
  const lossPanel = panel(
    {
      top: 30,
      title: 'Loss',
      yLabel: 'cross-entropy loss',
      yRange: [0, lossMax > 0 ? lossMax * 1.05 : 1],
      yFormat: fmtTick,
      series: [
        { label: 'training (batch)', color: COLORS.train, points: losses.map((p) => [p.step, p.loss]), line: true, markers: false },
        { label: 'test', color: COLORS.test, points: evals.map((p) => [p.step, p.testLoss]), line: true, markers: true },
      ],
    },
    xRange,
  );
  const accs = evals.map((p) => p.testAccuracy * 100).filter(Number.isFinite);
  const accLo = accs.length ? Math.max(0, Math.floor((least(accs) - 2) / 5) * 5) : 0;
  const accPanel = panel(
    {
      top: 30 + PANEL_H,
      title: 'Test accuracy',
      yLabel: 'accuracy (%)',
      yRange: [accLo, 100],
      yFormat: (v) => `${fmtTick(v)}%`,
      series: [{ label: 'test', color: COLORS.test, points: evals.map((p) => [p.step, p.testAccuracy * 100]), line: true, markers: true }],
      lastLabel: (y) => `${y.toFixed(2)}%`,
    },
    xRange,
  );
  // The rates logged (a run under a schedule, or resumed from one).
  const rates = losses.flatMap((p): [number, number][] => (p.lr === undefined ? [] : [[p.step, p.lr]]));
  const lrMax = most(rates.map(([, lr]) => lr).filter(Number.isFinite));
  const lrPanel = rates.length
    ? panel(
        {
          top: 30 + 2 * PANEL_H,
          title: 'Learning rate',
          yLabel: 'learning rate',
          yRange: [0, lrMax > 0 ? lrMax * 1.05 : 1],
          // Short labels for small rates (7.5e-3, not 0.0075, which runs into the axis label).
          yFormat: (v) => (v && Math.abs(v) < 0.01 ? Number(v.toPrecision(6)).toExponential() : fmtTick(v)),
          series: [{ label: 'lr', color: COLORS.train, points: rates, line: true, markers: false }],
        },
        xRange,
      )
    : '';
  const height = 30 + (rates.length ? 3 : 2) * PANEL_H + 10;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" fill="#222">`,
    `<rect width="${W}" height="${height}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="16">${esc(title)}</text>`,
    lossPanel,
    accPanel,
    lrPanel,
    `</svg>`,
    '',
  ].join('\n');
}

// Float64 references of the ops, written as direct loops from their definitions, with their
// analytic gradients (of Σ out·r for a cotangent r): shared by the op tests and the random-graph
// property test.

// ---- conv2d ----
export interface ConvCfg {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  KH: number;
  KW: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  bias: boolean;
  /** Dilation (default 1) and channel groups (default 1). */
  dh?: number;
  dw?: number;
  groups?: number;
}

/** A transposed convolution: C input and O output channels, weight [C, O/groups, KH, KW], and its output padding. */
export interface ConvTCfg extends ConvCfg {
  oph: number;
  opw: number;
}

const span = (k: number, d = 1) => d * (k - 1) + 1;
export const convOutHW = (c: ConvCfg) => [Math.floor((c.H + 2 * c.ph - span(c.KH, c.dh)) / c.sh) + 1, Math.floor((c.W + 2 * c.pw - span(c.KW, c.dw)) / c.sw) + 1] as const;
export const convTOutHW = (c: ConvTCfg) => [(c.H - 1) * c.sh - 2 * c.ph + span(c.KH, c.dh) + c.oph, (c.W - 1) * c.sw - 2 * c.pw + span(c.KW, c.dw) + c.opw] as const;
/** Shapes of x, w and (with a bias) b. */
export const convShapes = (c: ConvCfg) => [[c.N, c.C, c.H, c.W], [c.O, c.C / (c.groups ?? 1), c.KH, c.KW], ...(c.bias ? [[c.O]] : [])];
export const convTShapes = (c: ConvTCfg) => [[c.N, c.C, c.H, c.W], [c.C, c.O / (c.groups ?? 1), c.KH, c.KW], ...(c.bias ? [[c.O]] : [])];

/**
 * Direct convolution: out[n][o][oy][ox] = b[o] + Σ_c,ky,kx w[o][c − c0][ky][kx] · x[n][c][iy][ix]
 * over the input channels c of o's group (from c0), with iy = oy·sh − ph + ky·dh,
 * ix = ox·sw − pw + kx·dw (terms in the padding skipped). The loops run over (n, o, c, ky, kx)
 * outside and output pixels inside, so the seed CNN's layers stay fast.
 */
export function refConv(c: ConvCfg, x: Float64Array, w: Float64Array, b?: Float64Array): Float64Array {
  const [OH, OW] = convOutHW(c);
  const [dh, dw, g] = [c.dh ?? 1, c.dw ?? 1, c.groups ?? 1];
  const [cg, og] = [c.C / g, c.O / g];
  const out = new Float64Array(c.N * c.O * OH * OW);
  for (let n = 0; n < c.N; n++)
    for (let o = 0; o < c.O; o++) {
      const ob = (n * c.O + o) * OH * OW;
      const c0 = Math.floor(o / og) * cg;
      if (b) for (let i = 0; i < OH * OW; i++) out[ob + i] = b[o]!;
      for (let ch = 0; ch < cg; ch++)
        for (let ky = 0; ky < c.KH; ky++)
          for (let kx = 0; kx < c.KW; kx++) {
            const wv = w[((o * cg + ch) * c.KH + ky) * c.KW + kx]!;
            for (let oy = 0; oy < OH; oy++) {
              const iy = oy * c.sh - c.ph + ky * dh;
              if (iy < 0 || iy >= c.H) continue;
              const xb = ((n * c.C + c0 + ch) * c.H + iy) * c.W;
              for (let ox = 0; ox < OW; ox++) {
                const ix = ox * c.sw - c.pw + kx * dw;
                if (ix >= 0 && ix < c.W) out[ob + oy * OW + ox]! += wv * x[xb + ix]!;
              }
            }
          }
    }
  return out;
}

/** Gradients of Σ out·r, term by term over the same loops: dx += r·w, dw += r·x, db += r. */
export function refConvGrad(c: ConvCfg, x: Float64Array, w: Float64Array, r: Float64Array): Float64Array[] {
  const [OH, OW] = convOutHW(c);
  const [dh, dw, g] = [c.dh ?? 1, c.dw ?? 1, c.groups ?? 1];
  const [cg, og] = [c.C / g, c.O / g];
  const dx = new Float64Array(x.length);
  const dW = new Float64Array(w.length);
  const db = new Float64Array(c.O);
  for (let n = 0; n < c.N; n++)
    for (let o = 0; o < c.O; o++) {
      const ob = (n * c.O + o) * OH * OW;
      const c0 = Math.floor(o / og) * cg;
      for (let i = 0; i < OH * OW; i++) db[o]! += r[ob + i]!;
      for (let ch = 0; ch < cg; ch++)
        for (let ky = 0; ky < c.KH; ky++)
          for (let kx = 0; kx < c.KW; kx++) {
            const wi = ((o * cg + ch) * c.KH + ky) * c.KW + kx;
            const wv = w[wi]!;
            let dwv = 0;
            for (let oy = 0; oy < OH; oy++) {
              const iy = oy * c.sh - c.ph + ky * dh;
              if (iy < 0 || iy >= c.H) continue;
              const xb = ((n * c.C + c0 + ch) * c.H + iy) * c.W;
              for (let ox = 0; ox < OW; ox++) {
                const ix = ox * c.sw - c.pw + kx * dw;
                if (ix < 0 || ix >= c.W) continue;
                const rv = r[ob + oy * OW + ox]!;
                dx[xb + ix]! += rv * wv;
                dwv += rv * x[xb + ix]!;
              }
            }
            dW[wi]! += dwv;
          }
    }
  return [dx, dW, db];
}

/**
 * Direct transposed convolution, as its definition scatters: input pixel (iy, ix) of channel ci
 * adds x·w[ci][o − o0][ky][kx] to output pixel (iy·sh − ph + ky·dh, ix·sw − pw + kx·dw) of each
 * channel o of its group (from o0); outside the output, nothing.
 */
export function refConvTranspose(c: ConvTCfg, x: Float64Array, w: Float64Array, b?: Float64Array): Float64Array {
  const [OH, OW] = convTOutHW(c);
  const out = new Float64Array(c.N * c.O * OH * OW);
  if (b) for (let i = 0; i < out.length; i++) out[i] = b[Math.floor(i / (OH * OW)) % c.O]!;
  convTTerms(c, (oi, xi, wi) => (out[oi]! += w[wi]! * x[xi]!));
  return out;
}

/** Gradients of Σ out·r of the transposed convolution, term by term: dx += r·w, dw += r·x, db += r. */
export function refConvTransposeGrad(c: ConvTCfg, x: Float64Array, w: Float64Array, r: Float64Array): Float64Array[] {
  const [OH, OW] = convTOutHW(c);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const db = new Float64Array(c.O);
  for (let i = 0; i < r.length; i++) db[Math.floor(i / (OH * OW)) % c.O]! += r[i]!;
  convTTerms(c, (oi, xi, wi) => {
    dx[xi]! += r[oi]! * w[wi]!;
    dw[wi]! += r[oi]! * x[xi]!;
  });
  return [dx, dw, db];
}

function convTTerms(c: ConvTCfg, term: (oi: number, xi: number, wi: number) => void): void {
  const [OH, OW] = convTOutHW(c);
  const [dh, dw, g] = [c.dh ?? 1, c.dw ?? 1, c.groups ?? 1];
  const [cg, og] = [c.C / g, c.O / g];
  for (let n = 0; n < c.N; n++)
    for (let ci = 0; ci < c.C; ci++) {
      const o0 = Math.floor(ci / cg) * og;
      for (let iy = 0; iy < c.H; iy++)
        for (let ix = 0; ix < c.W; ix++) {
          const xi = ((n * c.C + ci) * c.H + iy) * c.W + ix;
          for (let ol = 0; ol < og; ol++)
            for (let ky = 0; ky < c.KH; ky++) {
              const y = iy * c.sh - c.ph + ky * dh;
              if (y < 0 || y >= OH) continue;
              for (let kx = 0; kx < c.KW; kx++) {
                const xo = ix * c.sw - c.pw + kx * dw;
                if (xo >= 0 && xo < OW) term(((n * c.O + o0 + ol) * OH + y) * OW + xo, xi, ((ci * og + ol) * c.KH + ky) * c.KW + kx);
              }
            }
        }
    }
}

// ---- maxPool2d ----
export interface PoolCfg {
  N: number;
  C: number;
  H: number;
  W: number;
  kh: number;
  kw: number;
  /** Undefined: the default (the kernel size). */
  stride?: [number, number];
  ph: number;
  pw: number;
  /** PyTorch's ceil_mode, and average pooling's count_include_pad (default true) and divisor_override. */
  ceil?: boolean;
  /** Max pooling's spacing of the window's taps (undefined: 1). */
  dilation?: [number, number];
  /** Adaptive max pooling's [OH, OW]: window o spans floor(o·H/OH) to ceil((o + 1)·H/OH); kernel, stride and padding unused. */
  adaptive?: [number, number];
  countIncludePad?: boolean;
  divisorOverride?: number;
}

const poolStride = (c: PoolCfg) => c.stride ?? [c.kh, c.kw];

/** A pooling op's options for a geometry, in the short forms where they apply (a number for a square kernel). */
export const poolOptions = (c: PoolCfg) => ({
  kernelSize: c.kh === c.kw ? c.kh : ([c.kh, c.kw] as [number, number]),
  ...(c.stride ? { stride: c.stride } : {}),
  padding: c.ph === c.pw ? c.ph : ([c.ph, c.pw] as [number, number]),
  ...(c.ceil !== undefined ? { ceilMode: c.ceil } : {}),
  ...(c.dilation ? { dilation: c.dilation } : {}),
  ...(c.countIncludePad !== undefined ? { countIncludePad: c.countIncludePad } : {}),
  ...(c.divisorOverride !== undefined ? { divisorOverride: c.divisorOverride } : {}),
});

/** A geometry as test messages name it. */
export const poolLabel = (op: string, c: PoolCfg) =>
  `${op} x[${c.N},${c.C},${c.H},${c.W}] ${c.adaptive ? `adaptive to ${c.adaptive.join('×')}` : `kernel ${c.kh}×${c.kw} stride ${c.stride ?? 'default'} pad ${c.ph},${c.pw}`}${c.dilation ? ` dilation ${c.dilation}` : ''}${c.ceil ? ' ceil' : ''}${c.countIncludePad === false ? ' padding not counted' : ''}${c.divisorOverride ? ` divisor ${c.divisorOverride}` : ''}`;
/** PyTorch's pooling_output_shape: in ceil mode rounded up, unless the last window would start past the image and its left padding. */
function pooledSize(size: number, k: number, s: number, p: number, ceil: boolean, d: number): number {
  const span = d * (k - 1) + 1;
  const out = (ceil ? Math.ceil((size + 2 * p - span) / s) : Math.floor((size + 2 * p - span) / s)) + 1;
  return ceil && (out - 1) * s >= size + p ? out - 1 : out;
}
export const poolOutHW = (c: PoolCfg): readonly [number, number] => {
  if (c.adaptive) return c.adaptive;
  const [sh, sw] = poolStride(c);
  const [dh, dw] = c.dilation ?? [1, 1];
  return [pooledSize(c.H, c.kh, sh, c.ph, c.ceil ?? false, dh), pooledSize(c.W, c.kw, sw, c.pw, c.ceil ?? false, dw)] as const;
};

/** The input positions window o takes along an axis (some perhaps in the padding, outside [0, size)). */
function windowTaps(c: PoolCfg, o: number, axis: 0 | 1): number[] {
  const [size, osize, k, s, p, d] = axis === 0 ? [c.H, poolOutHW(c)[0], c.kh, poolStride(c)[0], c.ph, c.dilation?.[0] ?? 1] : [c.W, poolOutHW(c)[1], c.kw, poolStride(c)[1], c.pw, c.dilation?.[1] ?? 1];
  if (c.adaptive) {
    const [a, b] = [Math.floor((o * size) / osize), Math.ceil(((o + 1) * size) / osize)];
    return Array.from({ length: b - a }, (_, j) => a + j);
  }
  return Array.from({ length: k }, (_, j) => o * s - p + j * d);
}

/** Calls f(o, i) for each output element o and each flat input index i of its window, in row-major window order. */
function forEachWindow(c: PoolCfg, f: (o: number, i: number) => void): void {
  const [OH, OW] = poolOutHW(c);
  for (let plane = 0; plane < c.N * c.C; plane++)
    for (let oy = 0; oy < OH; oy++)
      for (let ox = 0; ox < OW; ox++) {
        const o = (plane * OH + oy) * OW + ox;
        for (const iy of windowTaps(c, oy, 0))
          for (const ix of windowTaps(c, ox, 1)) {
            if (iy >= 0 && iy < c.H && ix >= 0 && ix < c.W) f(o, (plane * c.H + iy) * c.W + ix); // padding: never a candidate, or a zero
          }
      }
}

/** For each output element, the flat input index of its window's first maximum. */
export function refArgmax(c: PoolCfg, x: Float64Array): Int32Array {
  const [OH, OW] = poolOutHW(c);
  const arg = new Int32Array(c.N * c.C * OH * OW).fill(-1);
  forEachWindow(c, (o, i) => {
    if (x[i]! > (arg[o]! < 0 ? -Infinity : x[arg[o]!]!)) arg[o] = i;
  });
  return arg;
}

/**
 * The smallest gap between a window's maximum and a smaller value in it: where it is within
 * f32 rounding, a kernel computing x in f32 may pick another element than this reference.
 */
export function poolMargin(c: PoolCfg, x: Float64Array): number {
  const top = refPool(c, x);
  let margin = Infinity;
  forEachWindow(c, (o, i) => {
    if (x[i]! < top[o]!) margin = Math.min(margin, top[o]! - x[i]!);
  });
  return margin;
}

/** Each window's maximum; −∞ for a window all of padding (a dilated one's), as PyTorch's. */
export const refPool = (c: PoolCfg, x: Float64Array) => Float64Array.from(refArgmax(c, x), (i) => (i < 0 ? -Infinity : x[i]!));

/**
 * Each window's divisor, as PyTorch's avg_pool2d kernel takes it: divisor_override; else, with
 * count_include_pad, the window's positions within the padded image (KH·KW but where ceil mode's
 * last windows run past it); without, its pixels within the image (counted as visited).
 */
function avgDivisors(c: PoolCfg): Float64Array {
  const [OH, OW] = poolOutHW(c);
  const [sh, sw] = poolStride(c);
  const d = new Float64Array(c.N * c.C * OH * OW);
  if (c.countIncludePad === false) forEachWindow(c, (o) => (d[o]! += 1));
  for (let o = 0; o < d.length; o++) {
    const [oy, ox] = [Math.floor(o / OW) % OH, o % OW];
    const [y0, x0] = [oy * sh - c.ph, ox * sw - c.pw];
    const padded = (Math.min(y0 + c.kh, c.H + c.ph) - y0) * (Math.min(x0 + c.kw, c.W + c.pw) - x0);
    d[o] = c.divisorOverride ?? (c.countIncludePad === false ? d[o]! : padded);
  }
  return d;
}

/** The mean of each window: its sum (padding as zeros) over its divisor. */
export function refAvgPool(c: PoolCfg, x: Float64Array): Float64Array {
  const [OH, OW] = poolOutHW(c);
  const out = new Float64Array(c.N * c.C * OH * OW);
  const d = avgDivisors(c);
  forEachWindow(c, (o, i) => (out[o]! += x[i]! / d[o]!));
  return out;
}

/** dy of each window spread over its pixels, each its share 1/divisor (those in the padding dropped). */
export function refAvgPoolGrad(c: PoolCfg, dy: Float64Array): Float64Array {
  const dx = new Float64Array(c.N * c.C * c.H * c.W);
  const d = avgDivisors(c);
  forEachWindow(c, (o, i) => (dx[i]! += dy[o]! / d[o]!));
  return dx;
}

/** dy of each window added to its arg-max. */
export function refPoolGrad(c: PoolCfg, x: Float64Array, dy: Float64Array): Float64Array {
  const dx = new Float64Array(x.length);
  refArgmax(c, x).forEach((i, o) => i >= 0 && (dx[i]! += dy[o]!));
  return dx;
}

// ---- matmul ----
export interface MatmulCfg {
  M: number;
  N: number;
  K: number;
  batchA: number; // 0: no batch dimension
  batchB: number;
  transA: boolean;
  transB: boolean;
  bias: 'none' | 'row' | 'col';
  sumBatch: boolean;
}

/** Element (b, i, k) of op(A) for the stored layout. */
export function refMatmul(c: MatmulCfg, a: Float64Array, b: Float64Array, bias?: Float64Array): Float64Array {
  const batch = Math.max(c.batchA, c.batchB, 1);
  const A = (n: number, i: number, k: number) => a[(c.batchA ? n * c.M * c.K : 0) + (c.transA ? k * c.M + i : i * c.K + k)]!;
  const B = (n: number, k: number, j: number) => b[(c.batchB ? n * c.K * c.N : 0) + (c.transB ? j * c.K + k : k * c.N + j)]!;
  const outs = c.sumBatch ? 1 : batch;
  const out = new Float64Array(outs * c.M * c.N);
  for (let n = 0; n < batch; n++) {
    const o = c.sumBatch ? 0 : n;
    for (let i = 0; i < c.M; i++) {
      for (let j = 0; j < c.N; j++) {
        let s = 0;
        for (let k = 0; k < c.K; k++) s += A(n, i, k) * B(n, k, j);
        out[(o * c.M + i) * c.N + j]! += s;
      }
    }
  }
  if (bias) {
    for (let n = 0; n < outs; n++)
      for (let i = 0; i < c.M; i++) for (let j = 0; j < c.N; j++) out[(n * c.M + i) * c.N + j]! += c.bias === 'row' ? bias[i]! : bias[j]!;
  }
  return out;
}

/** Analytic gradients, written element by element from the definition. */
export function refMatmulGrad(c: MatmulCfg, a: Float64Array, b: Float64Array, r: Float64Array): Float64Array[] {
  const batch = Math.max(c.batchA, c.batchB, 1);
  const da = new Float64Array(a.length);
  const db = new Float64Array(b.length);
  const dbias = new Float64Array(c.bias === 'row' ? c.M : c.N);
  const ai = (n: number, i: number, k: number) => (c.batchA ? n * c.M * c.K : 0) + (c.transA ? k * c.M + i : i * c.K + k);
  const bi = (n: number, k: number, j: number) => (c.batchB ? n * c.K * c.N : 0) + (c.transB ? j * c.K + k : k * c.N + j);
  for (let n = 0; n < batch; n++) {
    const o = c.sumBatch ? 0 : n;
    for (let i = 0; i < c.M; i++)
      for (let j = 0; j < c.N; j++) {
        const g = r[(o * c.M + i) * c.N + j]!;
        for (let k = 0; k < c.K; k++) {
          da[ai(n, i, k)]! += g * b[bi(n, k, j)]!;
          db[bi(n, k, j)]! += g * a[ai(n, i, k)]!;
        }
      }
  }
  const outs = c.sumBatch ? 1 : batch;
  for (let n = 0; n < outs; n++)
    for (let i = 0; i < c.M; i++) for (let j = 0; j < c.N; j++) dbias[c.bias === 'row' ? i : j]! += r[(n * c.M + i) * c.N + j]!;
  return [da, db, dbias];
}

/** A product as torch.matmul takes it: stored shapes, 1-D operands, batch dimensions broadcast. */
export interface MatmulNdCfg {
  a: number[];
  b: number[];
  transA?: boolean;
  transB?: boolean;
  bias?: 'row' | 'col';
  sumBatch?: boolean;
}

/** The result's shape, and for batch entry n the flat index of op(A)[i, k] and op(B)[k, j]. */
export function matmulNdLayout(c: MatmulNdCfg) {
  const a = c.a.length === 1 ? [1, c.a[0]!] : c.a;
  const b = c.b.length === 1 ? [c.b[0]!, 1] : c.b;
  const [M, K] = (c.transA ? a.slice(-2).reverse() : a.slice(-2)) as [number, number];
  const N = b[b.length - (c.transB ? 2 : 1)]!;
  const batch = broadcastShape(a.slice(0, -2), b.slice(0, -2))!;
  const [ia, ib] = [broadcastIndex(a.slice(0, -2), batch), broadcastIndex(b.slice(0, -2), batch)];
  const ai = (n: number, i: number, k: number) => ia[n]! * M * K + (c.transA ? k * M + i : i * K + k);
  const bi = (n: number, k: number, j: number) => ib[n]! * K * N + (c.transB ? j * K + k : k * N + j);
  const out = [...(c.sumBatch ? [] : batch), ...(c.a.length > 1 ? [M] : []), ...(c.b.length > 1 ? [N] : [])];
  return { entries: ia.length, M, N, K, ai, bi, out };
}

/** torch.matmul (plus the bias and batch sum) in float64. */
export function refMatmulNd(c: MatmulNdCfg, a: Float64Array, b: Float64Array, bias?: Float64Array): Float64Array {
  const { entries, M, N, K, ai, bi, out } = matmulNdLayout(c);
  const y = new Float64Array(out.reduce((p, q) => p * q, 1));
  for (let n = 0; n < entries; n++)
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[ai(n, i, k)]! * b[bi(n, k, j)]!;
        y[((c.sumBatch ? 0 : n) * M + i) * N + j]! += s;
      }
  if (bias) y.forEach((_, o) => (y[o]! += c.bias === 'row' ? bias[Math.floor(o / N) % M]! : bias[o % N]!));
  return y;
}

/** Gradients of Σ refMatmulNd·r with respect to a, b and the bias, element by element. */
export function refMatmulNdGrad(c: MatmulNdCfg, a: Float64Array, b: Float64Array, r: Float64Array): Float64Array[] {
  const { entries, M, N, K, ai, bi } = matmulNdLayout(c);
  const [da, db] = [new Float64Array(a.length), new Float64Array(b.length)];
  const dbias = new Float64Array(c.bias === 'row' ? M : N);
  for (let n = 0; n < entries; n++)
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        const g = r[((c.sumBatch ? 0 : n) * M + i) * N + j]!;
        for (let k = 0; k < K; k++) {
          da[ai(n, i, k)]! += g * b[bi(n, k, j)]!;
          db[bi(n, k, j)]! += g * a[ai(n, i, k)]!;
        }
      }
  r.forEach((g, o) => (dbias[c.bias === 'row' ? Math.floor(o / N) % M : o % N]! += g));
  return c.bias ? [da, db, dbias] : [da, db];
}

// ---- softmax ----
/**
 * Calls `f` for each line along `axis` of a row-major `shape`, with its length, the index of its
 * k-th element, and the line's number (its position with the axis left out).
 */
function eachLine(shape: number[], axis: number, f: (len: number, at: (k: number) => number, line: number) => void): void {
  const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const [outer, len, inner] = [prod(shape.slice(0, axis)), shape[axis]!, prod(shape.slice(axis + 1))];
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) f(len, (k) => (o * len + k) * inner + i, o * inner + i);
}

/** max and log Σ exp(x − max) of one line, in float64. */
function lineStats(x: Float64Array, len: number, at: (k: number) => number): { m: number; logSum: number } {
  let m = -Infinity;
  for (let k = 0; k < len; k++) m = Math.max(m, x[at(k)]!);
  let s = 0;
  for (let k = 0; k < len; k++) s += Math.exp(x[at(k)]! - m);
  return { m, logSum: Math.log(s) };
}

/** Stable float64 softmax along `axis`. */
export function refSoftmax(x: Float64Array, shape: number[], axis: number): Float64Array {
  const y = new Float64Array(x.length);
  eachLine(shape, axis, (len, at) => {
    const { m, logSum } = lineStats(x, len, at);
    for (let k = 0; k < len; k++) y[at(k)] = Math.exp(x[at(k)]! - m - logSum);
  });
  return y;
}

/** d(Σ y·r)/dx = y·(r − Σ_axis r·y), in float64. */
export function refSoftmaxGrad(x: Float64Array, r: Float64Array, shape: number[], axis: number): Float64Array {
  const y = refSoftmax(x, shape, axis);
  const dx = new Float64Array(x.length);
  eachLine(shape, axis, (len, at) => {
    let dot = 0;
    for (let k = 0; k < len; k++) dot += r[at(k)]! * y[at(k)]!;
    for (let k = 0; k < len; k++) dx[at(k)] = y[at(k)]! * (r[at(k)]! - dot);
  });
  return dx;
}

/** Stable float64 log softmax along `axis`: x − m − log Σ exp(x − m). */
export function refLogSoftmax(x: Float64Array, shape: number[], axis: number): Float64Array {
  const y = new Float64Array(x.length);
  eachLine(shape, axis, (len, at) => {
    const { m, logSum } = lineStats(x, len, at);
    for (let k = 0; k < len; k++) y[at(k)] = x[at(k)]! - m - logSum;
  });
  return y;
}

/** d(Σ y·r)/dx of log softmax = r − softmax(x)·Σ_axis r, in float64. */
export function refLogSoftmaxGrad(x: Float64Array, r: Float64Array, shape: number[], axis: number): Float64Array {
  const p = refSoftmax(x, shape, axis);
  const dx = new Float64Array(x.length);
  eachLine(shape, axis, (len, at) => {
    let total = 0;
    for (let k = 0; k < len; k++) total += r[at(k)]!;
    for (let k = 0; k < len; k++) dx[at(k)] = r[at(k)]! - p[at(k)]! * total;
  });
  return dx;
}

/** Stable float64 log Σ exp along `axis` (that axis removed), and the gradient of Σ out·r: softmax(x)·r. */
export function refLogSumExp(shape: number[], axis: number) {
  return {
    forward: (x: Float64Array) => {
      const y = new Float64Array(shape.reduce((a, d, i) => (i === axis ? a : a * d), 1)); // one value a line
      eachLine(shape, axis, (len, at, line) => {
        const { m, logSum } = lineStats(x, len, at);
        y[line] = m + logSum;
      });
      return y;
    },
    grad: (x: Float64Array, r: Float64Array) => {
      const p = refSoftmax(x, shape, axis);
      const dx = new Float64Array(x.length);
      eachLine(shape, axis, (len, at, line) => {
        for (let k = 0; k < len; k++) dx[at(k)] = p[at(k)]! * r[line]!;
      });
      return dx;
    },
  };
}

// ---- softmaxCrossEntropy ----
/** Per-row max and log Σ exp(x − max), in float64. */
function rowStats(x: Float64Array, C: number, b: number): { m: number; lse: number } {
  let m = -Infinity;
  for (let j = 0; j < C; j++) m = Math.max(m, x[b * C + j]!);
  let s = 0;
  for (let j = 0; j < C; j++) s += Math.exp(x[b * C + j]! - m);
  return { m, lse: Math.log(s) };
}

/**
 * mean_b (log Σ_j exp(x_bj) − x_b,label) over the rows whose label is not `ignore`, computed
 * stably. NOTE: the rows are summed with Neumaier's compensation, so that finite differences of
 * the mean over large batches are not swamped by the rounding of the other rows.
 */
export function refXent(x: Float64Array, labels: Int32Array, C: number, ignore = -100, smoothing = 0): Float64Array {
  const B = labels.length;
  let total = 0;
  let comp = 0;
  let kept = 0;
  for (let b = 0; b < B; b++) {
    if (labels[b] === ignore) continue;
    kept++;
    const { m, lse } = rowStats(x, C, b);
    // Σ_j t_j · (−log p_j), the target t = (1 − ε)·onehot + ε/C.
    let v = 0;
    for (let j = 0; j < C; j++) {
      const target = (j === labels[b] ? 1 - smoothing : 0) + smoothing / C;
      if (target) v += target * (lse + (m - x[b * C + j]!));
    }
    const t = total + v;
    comp += Math.abs(total) >= Math.abs(v) ? total - t + v : v - t + total;
    total = t;
  }
  return Float64Array.of(kept ? (total + comp) / kept : NaN);
}

/** d(loss·g)/dx = (softmax − target)·g/K over the K rows not ignored; zero on ignored rows. */
export function refXentGrad(x: Float64Array, labels: Int32Array, C: number, g: number, ignore = -100, smoothing = 0): Float64Array {
  const B = labels.length;
  const kept = labels.filter((l) => l !== ignore).length;
  const dx = new Float64Array(x.length);
  for (let b = 0; b < B; b++) {
    if (labels[b] === ignore) continue;
    const { m, lse } = rowStats(x, C, b);
    for (let j = 0; j < C; j++) dx[b * C + j] = ((Math.exp(x[b * C + j]! - m - lse) - (j === labels[b] ? 1 - smoothing : 0) - smoothing / C) * g) / kept;
  }
  return dx;
}

// ---- crossEntropy and nllLoss ----
export interface XentCfg {
  /** Input [N, C, D] (D the positions after the classes, flattened; 1 where there are none). */
  N: number;
  C: number;
  D: number;
  /** Class indices [N, D], n-major. */
  labels: Int32Array;
  weight?: Float64Array;
  ignore?: number;
  smoothing?: number;
  reduction: 'mean' | 'sum' | 'none';
  /** nllLoss: the input as log-probabilities, no smoothing. */
  nll?: boolean;
}

/**
 * F.cross_entropy (or F.nll_loss) by label as PyTorch 1.13 defines it, in float64: per row (n, d)
 * not ignored, with logp its log-softmax over the classes and l its label,
 * (1 − ε)·(−w_l·logp_l) + ε/C·Σ_j −w_j·logp_j, 0 where ignored; 'mean' divides the sum by Σ w_l
 * over the rows kept. And the gradient of Σ out·r: per row, its factor times
 * (1 − ε)·w_l·(softmax − onehot_l) + ε/C·(softmax·Σ_j w_j − w) (nllLoss: −w_l at l).
 */
export function refCrossEntropy(c: XentCfg) {
  const { N, C, D, labels } = c;
  const [eps, ignore] = [c.nll ? 0 : (c.smoothing ?? 0), c.ignore ?? -100];
  const w = (j: number) => (c.weight ? c.weight[j]! : 1);
  const at = (row: number, j: number) => (Math.floor(row / D) * C + j) * D + (row % D);
  const rows = N * D;
  const logp = (x: Float64Array, row: number) => {
    const v = Float64Array.from({ length: C }, (_, j) => x[at(row, j)]!);
    if (c.nll) return v;
    const m = Math.max(...v);
    const lse = m + Math.log(v.reduce((s, e) => s + Math.exp(e - m), 0));
    return v.map((e) => e - lse);
  };
  const kept = (row: number) => labels[row] !== ignore;
  const denominator = () => Array.from({ length: rows }, (_, row) => (kept(row) ? w(labels[row]!) : 0)).reduce((s, e) => s + e, 0);
  return {
    forward(x: Float64Array): Float64Array {
      const losses = Float64Array.from({ length: rows }, (_, row) => {
        if (!kept(row)) return 0;
        const lp = logp(x, row);
        const l = labels[row]!;
        return (1 - eps) * -w(l) * lp[l]! + (eps / C) * lp.reduce((s, e, j) => s - w(j) * e, 0);
      });
      if (c.reduction === 'none') return losses;
      const total = losses.reduce((s, e) => s + e, 0);
      return Float64Array.of(c.reduction === 'sum' ? total : total / denominator());
    },
    grad(x: Float64Array, r: Float64Array): Float64Array {
      const dx = new Float64Array(x.length);
      const wsum = Array.from({ length: C }, (_, j) => w(j)).reduce((s, e) => s + e, 0);
      for (let row = 0; row < rows; row++) {
        if (!kept(row)) continue;
        const k = c.reduction === 'none' ? r[row]! : c.reduction === 'sum' ? r[0]! : r[0]! / denominator();
        const l = labels[row]!;
        if (c.nll) {
          dx[at(row, l)] = -k * w(l);
          continue;
        }
        const p = logp(x, row).map(Math.exp);
        for (let j = 0; j < C; j++) dx[at(row, j)] = k * ((1 - eps) * w(l) * (p[j]! - (j === l ? 1 : 0)) + (eps / C) * (p[j]! * wsum - w(j)));
      }
      return dx;
    },
  };
}

// ---- broadcasting, reductions, transpose ----
/**
 * For each element of `out` (row-major), the flat index of the element of `shape` broadcast onto
 * it (NumPy's rules, right-aligned). With `shape` a sum's result with its axes kept as 1s and
 * `out` its input, it is the output element each input element adds to.
 */
export function broadcastIndex(shape: readonly number[], out: readonly number[]): Int32Array {
  const lead = out.length - shape.length;
  return Int32Array.from({ length: out.reduce((a, b) => a * b, 1) }, (_, i) => {
    let [at, stride] = [0, 1];
    for (let d = out.length - 1; d >= lead; d--) {
      const size = shape[d - lead]!;
      if (size !== 1) at += (i % out[d]!) * stride;
      stride *= size;
      i = Math.floor(i / out[d]!);
    }
    return at;
  });
}

/** Row-major values of `shape` with the last two dimensions swapped. */
export function refTranspose(v: Float64Array, shape: readonly number[]): Float64Array {
  const [r, c] = shape.slice(-2) as [number, number];
  return Float64Array.from(v, (_, o) => v[Math.floor(o / (r * c)) * r * c + (o % r) * c + (Math.floor(o / r) % c)]!);
}

/** The shape NumPy broadcasts `a` and `b` to, or undefined where they do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | undefined {
  const r = Math.max(a.length, b.length);
  const pairs = Array.from({ length: r }, (_, i) => [a[i - r + a.length] ?? 1, b[i - r + b.length] ?? 1] as const);
  return pairs.every(([p, q]) => p === q || p === 1 || q === 1) ? pairs.map(([p, q]) => Math.max(p, q)) : undefined;
}

/**
 * add, sub, mul, div, maximum or minimum of `a` (shape `as`) and `b` (shape `bs`) with NumPy
 * broadcasting, and the gradients of Σ out·r (maximum's and minimum's split in halves at ties, as PyTorch 1.13's).
 */
export function refBinary(op: 'add' | 'sub' | 'mul' | 'div' | 'maximum' | 'minimum', as: readonly number[], bs: readonly number[]) {
  const shape = broadcastShape(as, bs)!;
  const [ia, ib] = [broadcastIndex(as, shape), broadcastIndex(bs, shape)];
  const f = {
    add: (p: number, q: number) => p + q,
    sub: (p: number, q: number) => p - q,
    mul: (p: number, q: number) => p * q,
    div: (p: number, q: number) => p / q,
    maximum: (p: number, q: number) => Math.max(p, q),
    minimum: (p: number, q: number) => Math.min(p, q),
  }[op];
  // ∂out/∂a and ∂out/∂b at one element.
  const d = {
    add: () => [1, 1],
    sub: () => [1, -1],
    mul: (p: number, q: number) => [q, p],
    div: (p: number, q: number) => [1 / q, -p / (q * q)],
    maximum: (p: number, q: number) => (p === q ? [0.5, 0.5] : p > q ? [1, 0] : [0, 1]),
    minimum: (p: number, q: number) => (p === q ? [0.5, 0.5] : p < q ? [1, 0] : [0, 1]),
  }[op];
  return {
    shape,
    forward: (a: Float64Array, b: Float64Array) => Float64Array.from(ia, (j, i) => f(a[j]!, b[ib[i]!]!)),
    grad(a: Float64Array, b: Float64Array, r: Float64Array): Float64Array[] {
      const [da, db] = [new Float64Array(a.length), new Float64Array(b.length)];
      r.forEach((v, i) => {
        const [dp, dq] = d(a[ia[i]!]!, b[ib[i]!]!);
        da[ia[i]!]! += v * dp!;
        db[ib[i]!]! += v * dq!;
      });
      return [da, db];
    },
  };
}

// ---- elementwise math ----
const logistic = (x: number) => 1 / (1 + Math.exp(-x));

/** exp, log, sqrt, sigmoid, tanh and abs in float64 with their first and second derivatives (abs's: sign x, 0 at 0, as PyTorch's). */
/** erfc(z) in float64: 1 − erf's Taylor series for |z| ≤ 3, the continued fraction beyond (relative error below 1e-12). */
export function erfc(z: number): number {
  if (z < -3) return 2 - erfc(-z);
  if (z <= 3) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 80; n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  // e^(−z²)/√π · 1 / (z + (1/2) / (z + 1 / (z + (3/2) / (z + …)))), evaluated from the 80th term back.
  let f = z;
  for (let k = 80; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

/** The standard normal distribution function Φ and density φ, in float64. */
const normalCdf = (x: number) => 0.5 * erfc(-x / Math.SQRT2);
const normalPdf = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);

// GELU's tanh approximation: ½x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715x³); the value as x·σ(2u),
// the same without float64's own cancellation of 1 + tanh u (to 0 below x ≈ −7).
const GC = Math.sqrt(2 / Math.PI);
const GK = 0.044715;
const geluTanh = {
  f: (x: number) => x * logistic(2 * GC * (x + GK * x ** 3)),
  df: (x: number) => {
    const t = Math.tanh(GC * (x + GK * x ** 3));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GC * (1 + 3 * GK * x * x);
  },
  d2f: (x: number) => {
    const t = Math.tanh(GC * (x + GK * x ** 3));
    const s = 1 - t * t;
    const du = GC * (1 + 3 * GK * x * x);
    return s * du + 0.5 * x * (-2 * t * s * du * du + s * 6 * GC * GK * x);
  },
};

// Softplus with β 1.5 and threshold 10 (the tests'), and Mish (softplus with PyTorch's defaults).
const SB = 1.5;
const softplusRef = (x: number, b = 1, thr = 20) => (b * x > thr ? x : Math.log1p(Math.exp(b * x)) / b);
const mishRef = {
  f: (x: number) => x * Math.tanh(softplusRef(x)),
  df: (x: number) => {
    const t = Math.tanh(softplusRef(x));
    return t + x * (1 - t * t) * logistic(x);
  },
  d2f: (x: number) => {
    const t = Math.tanh(softplusRef(x));
    const s = 1 - t * t;
    const p = logistic(x);
    return 2 * s * p + x * (-2 * t * s * p * p + s * p * (1 - p));
  },
};
// SELU's λ and α, as PyTorch's.
const SL = 1.0507009873554805;
const SA = 1.6732632423543772;

export const refUnary = {
  exp: { f: Math.exp, df: Math.exp, d2f: Math.exp },
  expm1: { f: Math.expm1, df: Math.exp, d2f: Math.exp },
  log: { f: Math.log, df: (x: number) => 1 / x, d2f: (x: number) => -1 / (x * x) },
  sqrt: { f: Math.sqrt, df: (x: number) => 0.5 / Math.sqrt(x), d2f: (x: number) => -0.25 / (x * Math.sqrt(x)) },
  sigmoid: {
    f: logistic,
    df: (x: number) => logistic(x) * (1 - logistic(x)),
    d2f: (x: number) => logistic(x) * (1 - logistic(x)) * (1 - 2 * logistic(x)),
  },
  tanh: { f: Math.tanh, df: (x: number) => 1 - Math.tanh(x) ** 2, d2f: (x: number) => -2 * Math.tanh(x) * (1 - Math.tanh(x) ** 2) },
  abs: { f: Math.abs, df: (x: number) => (x > 0 ? 1 : x < 0 ? -1 : 0), d2f: () => 0 },
  // Slope 0.2 below 0 (the tests' leakyRelu).
  leakyRelu: { f: (x: number) => (x > 0 ? x : 0.2 * x), df: (x: number) => (x > 0 ? 1 : 0.2), d2f: () => 0 },
  // alpha 1.5 (the tests' elu).
  elu: { f: (x: number) => (x > 0 ? x : 1.5 * Math.expm1(x)), df: (x: number) => (x > 0 ? 1 : 1.5 * Math.exp(x)), d2f: (x: number) => (x > 0 ? 0 : 1.5 * Math.exp(x)) },
  gelu: { f: (x: number) => x * normalCdf(x), df: (x: number) => normalCdf(x) + x * normalPdf(x), d2f: (x: number) => normalPdf(x) * (2 - x * x) },
  geluTanh,
  softplus: {
    f: (x: number) => softplusRef(x, SB, 10),
    df: (x: number) => (SB * x > 10 ? 1 : logistic(SB * x)),
    d2f: (x: number) => (SB * x > 10 ? 0 : SB * logistic(SB * x) * (1 - logistic(SB * x))),
  },
  mish: mishRef,
  selu: { f: (x: number) => SL * (x > 0 ? x : SA * Math.expm1(x)), df: (x: number) => SL * (x > 0 ? 1 : SA * Math.exp(x)), d2f: (x: number) => (x > 0 ? 0 : SL * SA * Math.exp(x)) },
  silu: {
    f: (x: number) => x * logistic(x),
    df: (x: number) => logistic(x) * (1 + x * (1 - logistic(x))),
    d2f: (x: number) => logistic(x) * (1 - logistic(x)) * (2 + x * (1 - 2 * logistic(x))),
  },
  // Bounds −0.5 and 1.5 (the tests' hardtanh); the gradient 1 strictly between them.
  hardtanh: { f: (x: number) => Math.min(Math.max(x, -0.5), 1.5), df: (x: number) => (x > -0.5 && x < 1.5 ? 1 : 0), d2f: () => 0 },
  relu6: { f: (x: number) => Math.min(Math.max(x, 0), 6), df: (x: number) => (x > 0 && x < 6 ? 1 : 0), d2f: () => 0 },
  hardsigmoid: { f: (x: number) => (x <= -3 ? 0 : x >= 3 ? 1 : x / 6 + 0.5), df: (x: number) => (x > -3 && x < 3 ? 1 / 6 : 0), d2f: () => 0 },
  hardswish: { f: (x: number) => (x <= -3 ? 0 : x >= 3 ? x : (x * (x + 3)) / 6), df: (x: number) => (x < -3 ? 0 : x > 3 ? 1 : x / 3 + 0.5), d2f: (x: number) => (x > -3 && x < 3 ? 1 / 3 : 0) },
  // log σ(x) = −log(1 + e^(−x)): slope σ(−x), curvature −σ(x)·σ(−x).
  logsigmoid: { f: (x: number) => -Math.log1p(Math.exp(-x)), df: (x: number) => logistic(-x), d2f: (x: number) => -logistic(x) * logistic(-x) },
  softsign: { f: (x: number) => x / (1 + Math.abs(x)), df: (x: number) => 1 / (1 + Math.abs(x)) ** 2, d2f: (x: number) => (-2 * Math.sign(x)) / (1 + Math.abs(x)) ** 3 },
  tanhshrink: { f: (x: number) => x - Math.tanh(x), df: (x: number) => Math.tanh(x) ** 2, d2f: (x: number) => 2 * Math.tanh(x) * (1 - Math.tanh(x) ** 2) },
  // λ 0.5 (the tests' shrinks), threshold 0.5 with value −2, CELU's α 1.5 and −1.5.
  softshrink: { f: (x: number) => (x > 0.5 ? x - 0.5 : x < -0.5 ? x + 0.5 : Number.isNaN(x) ? x : 0), df: (x: number) => (Math.abs(x) > 0.5 ? 1 : 0), d2f: () => 0 },
  hardshrink: { f: (x: number) => (Math.abs(x) > 0.5 ? x : 0), df: (x: number) => (Math.abs(x) > 0.5 ? 1 : 0), d2f: () => 0 },
  threshold: { f: (x: number) => (x > 0.5 ? x : -2), df: (x: number) => (x > 0.5 ? 1 : 0), d2f: () => 0 },
  celu: { f: (x: number) => (x > 0 ? x : 1.5 * Math.expm1(x / 1.5)), df: (x: number) => (x > 0 ? 1 : Math.exp(x / 1.5)), d2f: (x: number) => (x > 0 ? 0 : Math.exp(x / 1.5) / 1.5) },
  // α −1.5: x/α ≥ 0 below 0, so e^(x/α) grows there (x itself above 0, as for any α).
  celuNegative: { f: (x: number) => (x > 0 ? x : -1.5 * Math.expm1(x / -1.5)), df: (x: number) => (x > 0 ? 1 : Math.exp(x / -1.5)), d2f: (x: number) => (x > 0 ? 0 : Math.exp(x / -1.5) / -1.5) },
} satisfies Record<string, Record<'f' | 'df' | 'd2f', (x: number) => number>>;

/** x^p in float64, p a number rounded to f32 as PyTorch rounds it, with the first and second derivatives in x. */
export function refPow(p: number) {
  const q = Math.fround(p);
  return {
    f: (x: number) => x ** q,
    df: (x: number) => (q === 0 ? 0 : q * x ** (q - 1)),
    d2f: (x: number) => (q === 0 || q === 1 ? 0 : q * (q - 1) * x ** (q - 2)),
  };
}

/** torch.clamp(x, lo, hi) in float64 (a bound left out as ∓inf), and where its gradient passes. */
export const refClamp = (lo = -Infinity, hi = Infinity) => ({
  f: (x: number) => Math.min(Math.max(x, lo), hi),
  df: (x: number) => (x >= lo && x <= hi ? 1 : 0),
});

/** Sum (or mean) over `axes` of a tensor of `shape` (its result as with keepDims), and the gradient of Σ out·r. */
export function refSum(shape: readonly number[], axes: readonly number[], mean = false) {
  const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const at = broadcastIndex(kept, shape);
  const k = mean ? kept.reduce((a, b) => a * b, 1) / shape.reduce((a, b) => a * b, 1) : 1;
  return {
    kept,
    forward: (x: Float64Array) => x.reduce((out, v, i) => ((out[at[i]!]! += v * k), out), new Float64Array(kept.reduce((a, b) => a * b, 1))),
    grad: (r: Float64Array) => Float64Array.from(at, (j) => r[j]! * k),
  };
}

/**
 * Maximum over `axes` of a tensor of `shape` (its result as with keepDims; NaN if a NaN is in the
 * line), and the gradient of Σ out·r: r split evenly among each line's maxima, as torch.amax's.
 */
export function refMax(shape: readonly number[], axes: readonly number[]) {
  const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const at = broadcastIndex(kept, shape);
  const n = kept.reduce((a, b) => a * b, 1);
  const forward = (x: Float64Array) => {
    const m = new Float64Array(n).fill(-Infinity);
    x.forEach((v, i) => (m[at[i]!] = Number.isNaN(v) || Number.isNaN(m[at[i]!]!) ? NaN : Math.max(m[at[i]!]!, v)));
    return m;
  };
  return {
    kept,
    forward,
    grad: (x: Float64Array, r: Float64Array) => {
      const m = forward(x);
      const ties = new Float64Array(n);
      x.forEach((v, i) => (ties[at[i]!]! += v === m[at[i]!] ? 1 : 0));
      return Float64Array.from(x, (v, i) => (v === m[at[i]!] ? r[at[i]!]! / ties[at[i]!]! : Number.isNaN(m[at[i]!]!) ? NaN : 0));
    },
    /** The least gap between a line's maximum and its runner-up (0 where tied): how far x is from a kink. */
    margin: (x: Float64Array) => {
      const m = forward(x);
      let gap = Infinity;
      x.forEach((v, i) => v !== m[at[i]!] && (gap = Math.min(gap, m[at[i]!]! - v)));
      return gap;
    },
  };
}

// ---- narrow and concat ----
/** Multi-index of flat index i in a row-major shape. */
function unflat(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}

function flat(idx: readonly number[], shape: readonly number[]): number {
  return idx.reduce((acc, v, d) => acc * shape[d]! + v, 0);
}

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
export const withAxis = (shape: readonly number[], axis: number, size: number) => shape.map((d, i) => (i === axis ? size : d));

/** out[..., j, ...] = x[..., start + j, ...] for j < length along `axis`. */
export function refNarrow(x: Float64Array, shape: readonly number[], axis: number, start: number, length: number): Float64Array {
  const outShape = withAxis(shape, axis, length);
  return Float64Array.from({ length: count(outShape) }, (_, i) => {
    const idx = unflat(i, outShape);
    idx[axis]! += start;
    return x[flat(idx, shape)]!;
  });
}

/** Each input's values at its run of indices along `axis`, in order. */
export function refConcat(xs: Float64Array[], shapes: readonly (readonly number[])[], axis: number): Float64Array {
  const outShape = withAxis(shapes[0]!, axis, shapes.reduce((s, sh) => s + sh[axis]!, 0));
  const out = new Float64Array(count(outShape));
  let offset = 0;
  xs.forEach((x, k) => {
    for (let i = 0; i < x.length; i++) {
      const idx = unflat(i, shapes[k]!);
      idx[axis]! += offset;
      out[flat(idx, outShape)] = x[i]!;
    }
    offset += shapes[k]![axis]!;
  });
  return out;
}

/** narrow's gradient: r at indices start … start + length − 1 of `axis` (of size `size`), zeros elsewhere. */
export function refNarrowGrad(r: Float64Array, shape: readonly number[], axis: number, start: number, size: number): Float64Array {
  const [before, after] = [withAxis(shape, axis, start), withAxis(shape, axis, size - start - shape[axis]!)];
  return refConcat([new Float64Array(count(before)), r, new Float64Array(count(after))], [before, shape, after], axis);
}

// ---- dropout ----
const rotl32 = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;

/** Threefry-2x32 with 20 rounds of counter [c0, c1] under key [k0, k1], from Random123's threefry.h. */
export function threefry2x32(k0: number, k1: number, c0: number, c1: number): [number, number] {
  const R = [13, 15, 26, 6, 17, 29, 16, 24];
  const ks = [k0 >>> 0, k1 >>> 0, (0x1bd11bda ^ k0 ^ k1) >>> 0];
  let x0 = (c0 + ks[0]!) >>> 0;
  let x1 = (c1 + ks[1]!) >>> 0;
  for (let r = 0; r < 20; r++) {
    x0 = (x0 + x1) >>> 0;
    x1 = (rotl32(x1, R[r % 8]!) ^ x0) >>> 0;
    if (r % 4 === 3) {
      const s = (r + 1) / 4;
      x0 = (x0 + ks[s % 3]!) >>> 0;
      x1 = (x1 + ks[(s + 1) % 3]! + s) >>> 0;
    }
  }
  return [x0, x1];
}

/**
 * Dropout's mask for n elements under key [seed, offset]: element i is kept when the top 24 bits
 * of word i % 2 of block ⌊i/2⌋, as a fraction of 2^24, are at least p.
 */
export function refDropoutKeep(seed: number, offset: number, n: number, p: number): boolean[] {
  const keep: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const word = threefry2x32(seed, offset, Math.floor(i / 2), 0)[i % 2]!;
    keep.push((word >>> 8) / 2 ** 24 >= p);
  }
  return keep;
}

/** Each channel's values (axis 1 of [N, C, ...]) as a list of flat indices. */
function channelIndices(shape: readonly number[]): number[][] {
  const [n, c] = [shape[0]!, shape[1]!];
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  return Array.from({ length: c }, (_, ch) => Array.from({ length: n * inner }, (_, k) => (Math.floor(k / inner) * c + ch) * inner + (k % inner)));
}

/** Batch normalisation's per-channel statistics: mean, biased variance and sum of squared deviations. */
export function refBatchStats(x: Float64Array, shape: readonly number[]): { mean: number[]; variance: number[]; squares: number[] } {
  const chans = channelIndices(shape);
  const mean = chans.map((ix) => ix.reduce((a, i) => a + x[i]!, 0) / ix.length);
  const squares = chans.map((ix, c) => ix.reduce((a, i) => a + (x[i]! - mean[c]!) ** 2, 0));
  return { mean, variance: squares.map((s, c) => s / chans[c]!.length), squares };
}

/**
 * torch.nn.functional.batch_norm in float64: with `running` [mean, var] in evaluation, else with
 * the batch's statistics; weight and bias optional.
 */
export function refBatchNorm(x: Float64Array, shape: readonly number[], eps: number, weight?: Float64Array, bias?: Float64Array, running?: [Float64Array, Float64Array]): Float64Array {
  const stats = running ? { mean: [...running[0]], variance: [...running[1]] } : refBatchStats(x, shape);
  const y = new Float64Array(x.length);
  channelIndices(shape).forEach((ix, c) => {
    const inv = 1 / Math.sqrt(stats.variance[c]! + eps);
    for (const i of ix) y[i] = (x[i]! - stats.mean[c]!) * inv * (weight?.[c] ?? 1) + (bias?.[c] ?? 0);
  });
  return y;
}

/**
 * The analytic gradients [dx, dweight, dbias] of Σ r · batch_norm(x) (the statistics the batch's,
 * or `running` constants): dx = w·invstd·(r − mean(r) − x̂·mean(r·x̂)) with the batch's.
 */
export function refBatchNormGrad(x: Float64Array, shape: readonly number[], eps: number, r: Float64Array, weight?: Float64Array, running?: [Float64Array, Float64Array]): Float64Array[] {
  const stats = running ? { mean: [...running[0]], variance: [...running[1]] } : refBatchStats(x, shape);
  const chans = channelIndices(shape);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(chans.length);
  const db = new Float64Array(chans.length);
  chans.forEach((ix, c) => {
    const inv = 1 / Math.sqrt(stats.variance[c]! + eps);
    const w = weight?.[c] ?? 1;
    const xhat = ix.map((i) => (x[i]! - stats.mean[c]!) * inv);
    db[c] = ix.reduce((a, i) => a + r[i]!, 0);
    dw[c] = ix.reduce((a, i, k) => a + r[i]! * xhat[k]!, 0);
    const m = ix.length;
    ix.forEach((i, k) => {
      dx[i] = running ? w * inv * r[i]! : w * inv * (r[i]! - db[c]! / m - (xhat[k]! * dw[c]!) / m);
    });
  });
  return [dx, dw, db];
}

/** torch.nn.functional.layer_norm in float64 over the last `k` sizes (rows of D values), weight and bias of D. */
export function refLayerNorm(x: Float64Array, d: number, eps: number, weight?: Float64Array, bias?: Float64Array): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    const row = x.subarray(r * d, (r + 1) * d);
    const mean = row.reduce((a, v) => a + v, 0) / d;
    const inv = 1 / Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / d + eps);
    for (let i = 0; i < d; i++) y[r * d + i] = (row[i]! - mean) * inv * (weight?.[i] ?? 1) + (bias?.[i] ?? 0);
  }
  return y;
}

/** The analytic gradients [dx, dweight, dbias] of Σ r · layer_norm(x) over rows of D values. */
export function refLayerNormGrad(x: Float64Array, d: number, eps: number, r: Float64Array, weight?: Float64Array): Float64Array[] {
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(d);
  const db = new Float64Array(d);
  for (let row = 0; row < x.length / d; row++) {
    const xs = x.subarray(row * d, (row + 1) * d);
    const rs = r.subarray(row * d, (row + 1) * d);
    const mean = xs.reduce((a, v) => a + v, 0) / d;
    const inv = 1 / Math.sqrt(xs.reduce((a, v) => a + (v - mean) ** 2, 0) / d + eps);
    const xhat = Array.from(xs, (v) => (v - mean) * inv);
    const gw = Array.from(rs, (g, i) => g * (weight?.[i] ?? 1));
    const meanGw = gw.reduce((a, v) => a + v, 0) / d;
    const meanGwX = gw.reduce((a, v, i) => a + v * xhat[i]!, 0) / d;
    for (let i = 0; i < d; i++) {
      dx[row * d + i] = inv * (gw[i]! - meanGw - xhat[i]! * meanGwX);
      dw[i]! += rs[i]! * xhat[i]!;
      db[i]! += rs[i]!;
    }
  }
  return [dx, dw, db];
}

// ---- adaptiveAvgPool2d and interpolate ----
export interface ResampleCfg {
  N: number;
  C: number;
  H: number;
  W: number;
  OH: number;
  OW: number;
  /** 'adaptive' (average pooling) or an interpolation mode. */
  mode: 'adaptive' | 'nearest' | 'nearest-exact' | 'bilinear' | 'bicubic' | 'area';
  alignCorners?: boolean;
  /** Interpolation by scale factors [h, w] (OH, OW are then floor(H·fh), floor(W·fw)). */
  factors?: [number, number];
}

/**
 * The input pixels (index, weight) that output pixel (oy, ox) of one plane sums, from each
 * mode's definition in two dimensions: a pooling window's mean, the nearest pixel, the
 * bilinear blend of the four around the source point, or the bicubic one of the sixteen. Source positions are PyTorch's (its CPU
 * kernels compute them in f32, which decides the nearest pixel at a tie, but the bilinear one in double).
 */
function resampleTerms(c: ResampleCfg, oy: number, ox: number): [number, number][] {
  const f = Math.fround;
  const axis = (o: number, size: number, out: number, k: 0 | 1): [number, number][] => {
    // F.interpolate's 'area' is adaptive average pooling to the output size.
    if (c.mode === 'adaptive' || c.mode === 'area') {
      const [lo, hi] = [Math.floor((o * size) / out), Math.ceil(((o + 1) * size) / out)];
      return Array.from({ length: hi - lo }, (_, j) => [lo + j, 1 / (hi - lo)]);
    }
    const scale = f(c.alignCorners ? (out > 1 ? (size - 1) / (out - 1) : 0) : c.factors ? 1 / c.factors[k] : size / out);
    // PyTorch's bilinear copies an axis of the same size, whatever the scale.
    if (c.mode === 'bilinear' && size === out) return [[o, 1]];
    if (c.mode === 'nearest') return [[Math.min(Math.floor(f(o * scale)), size - 1), 1]];
    if (c.mode === 'nearest-exact') return [[Math.min(Math.floor(f((o + 0.5) * scale)), size - 1), 1]];
    if (c.mode === 'bicubic') {
      // Keys' kernel of the distance to each of the four pixels around the (unclamped) source
      // point, A = −0.75; pixels past the border are the border's.
      const A = -0.75;
      const kernel = (d: number) => (d <= 1 ? (A + 2) * d ** 3 - (A + 3) * d ** 2 + 1 : A * d ** 3 - 5 * A * d ** 2 + 8 * A * d - 4 * A);
      const src = c.alignCorners ? f(o * scale) : f(f((o + 0.5) * scale) - 0.5);
      const lo = Math.floor(src);
      return [-1, 0, 1, 2].map((k) => [Math.min(Math.max(lo + k, 0), size - 1), kernel(Math.abs(src - (lo + k)))]);
    }
    // The bilinear source point in double, from the f32 scale.
    const src = c.alignCorners ? o * scale : Math.max((o + 0.5) * scale - 0.5, 0);
    const lo = Math.min(Math.floor(src), size - 1);
    const t = src - lo;
    return lo < size - 1 ? [[lo, 1 - t], [lo + 1, t]] : [[lo, 1]];
  };
  const terms: [number, number][] = [];
  for (const [y, wy] of axis(oy, c.H, c.OH, 0)) for (const [x, wx] of axis(ox, c.W, c.OW, 1)) terms.push([y * c.W + x, wy * wx]);
  return terms;
}

export function refResample(c: ResampleCfg, x: Float64Array): Float64Array {
  const out = new Float64Array(c.N * c.C * c.OH * c.OW);
  for (let p = 0; p < c.N * c.C; p++)
    for (let oy = 0; oy < c.OH; oy++)
      for (let ox = 0; ox < c.OW; ox++) {
        let s = 0;
        for (const [i, w] of resampleTerms(c, oy, ox)) s += w * x[p * c.H * c.W + i]!;
        out[(p * c.OH + oy) * c.OW + ox] = s;
      }
  return out;
}

/** The gradient of Σ out·r: each output's cotangent spread back over its terms. */
export function refResampleGrad(c: ResampleCfg, r: Float64Array): Float64Array {
  const dx = new Float64Array(c.N * c.C * c.H * c.W);
  for (let p = 0; p < c.N * c.C; p++)
    for (let oy = 0; oy < c.OH; oy++)
      for (let ox = 0; ox < c.OW; ox++) for (const [i, w] of resampleTerms(c, oy, ox)) dx[p * c.H * c.W + i]! += w * r[(p * c.OH + oy) * c.OW + ox]!;
  return dx;
}

// ---- pad ----
export interface PadCfg {
  shape: number[];
  /** F.pad's order: [left, right] of the last dimension, then [top, bottom] of the one before. */
  padding: number[];
  mode: 'constant' | 'reflect' | 'replicate' | 'circular';
  value: number;
}

/** Each axis's source index of output index i (−1: the constant), from the modes' definitions. */
function padSource(i: number, size: number, before: number, mode: PadCfg['mode']): number {
  const j = i - before;
  if (j >= 0 && j < size) return j;
  if (mode === 'reflect') return j < 0 ? -j : 2 * (size - 1) - j;
  if (mode === 'replicate') return j < 0 ? 0 : size - 1;
  if (mode === 'circular') return ((j % size) + size) % size;
  return -1;
}

export function padOutShape(c: PadCfg): number[] {
  const out = [...c.shape];
  for (let k = 0; k < c.padding.length / 2; k++) out[out.length - 1 - k]! += c.padding[2 * k]! + c.padding[2 * k + 1]!;
  return out;
}

/** Visits every output element with the input element it copies (−1: the constant). */
function forEachPadded(c: PadCfg, f: (out: number, src: number) => void): void {
  const out = padOutShape(c);
  const r = c.shape.length;
  const [H, W] = r > 1 ? [c.shape[r - 2]!, c.shape[r - 1]!] : [1, c.shape[0]!];
  const [OH, OW] = r > 1 ? [out[r - 2]!, out[r - 1]!] : [1, out[0]!];
  const lead = c.shape.slice(0, Math.max(0, r - 2)).reduce((a, b) => a * b, 1);
  const [left, , top = 0] = c.padding;
  for (let p = 0; p < lead; p++)
    for (let y = 0; y < OH; y++)
      for (let x = 0; x < OW; x++) {
        const sy = c.padding.length === 4 ? padSource(y, H, top, c.mode) : y;
        const sx = padSource(x, W, left!, c.mode);
        f((p * OH + y) * OW + x, sy < 0 || sx < 0 ? -1 : (p * H + sy) * W + sx);
      }
}

export function refPad(c: PadCfg, x: Float64Array): Float64Array {
  const y = new Float64Array(padOutShape(c).reduce((a, b) => a * b, 1));
  forEachPadded(c, (o, s) => (y[o] = s < 0 ? c.value : x[s]!));
  return y;
}

export function refPadGrad(c: PadCfg, r: Float64Array): Float64Array {
  const dx = new Float64Array(c.shape.reduce((a, b) => a * b, 1));
  forEachPadded(c, (o, s) => {
    if (s >= 0) dx[s]! += r[o]!;
  });
  return dx;
}

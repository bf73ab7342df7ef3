// MNIST-style digit images, as the MNIST digits were made: the ink cropped to its bounding box,
// scaled so that the longer side is 20 pixels keeping the aspect ratio (area-averaged, so
// anti-aliased), and placed in a 28×28 field with its centre of mass at the centre. toMnist does
// this to a drawing (the demo's pad); fitDigit first reads a picture of any size as ink on a
// background (`fovea predict` of a scan or a photo), evening out the light across it.

/** The side of MNIST's images, in pixels. */
export const MNIST_SIZE = 28;
/** The side of the box each MNIST digit is scaled into, in pixels, before it is centred by mass. */
export const MNIST_BOX = 20;
/** Values at or below this count as background when finding the bounding box. */
const INK = 0.02;
/** The light across a picture is found on a copy of at most this many pixels on a side. */
const LIGHT_SIDE = 128;
/** The window that finds the paper's light is this fraction of the picture's shorter side: wider than a stroke. */
const LIGHT_WINDOW = 1 / 3;
/** Touching ink whose strongest pixel is below this (the strongest ink being 1) is no part of the digit. */
const FAINT = 0.25;
/** The fraction of a page's width and height left out on each side where a picture is cropped to it: its edge is often shaded. */
const PAGE_MARGIN = 0.03;
/** The least part of a picture a light region must cover to be taken for a page. */
const PAGE_AREA = 0.25;
/** The least part of its bounding box a page fills (the rest its ink); a light digit's strokes fill far less of theirs. */
const PAGE_FILL = 0.65;

/**
 * Integer luma of pixel i of RGBA bytes, exactly as PIL's convert('L'): ITU-R 601-2's 0.299 R +
 * 0.587 G + 0.114 B in 16-bit fixed point, rounded (grey stays exact).
 */
const luma = (rgba: ArrayLike<number>, i: number) => (19595 * rgba[4 * i]! + 38470 * rgba[4 * i + 1]! + 7471 * rgba[4 * i + 2]! + 0x8000) >>> 16;

/** Black (0) under content whose luma, weighed by alpha, is light; white (255) under dark content. */
const backgroundFor = (weighed: number, weight: number): 0 | 255 => (weight > 0 && weighed < 127.5 * weight ? 255 : 0);

/**
 * The background (0 or 255 in every channel) that transparent pixels of RGBA bytes are composited
 * over: black, MNIST's, under light content (a white digit on transparency), and white under dark
 * content (dark ink drawn on a transparent canvas, which over black would vanish). Content is
 * weighed by its alpha; an opaque picture has no transparent pixels, so either is the same.
 */
export function alphaBackground(rgba: ArrayLike<number>): 0 | 255 {
  let [weighed, weight] = [0, 0];
  for (let i = 0; i < rgba.length / 4; i++) {
    weighed += luma(rgba, i) * rgba[4 * i + 3]!;
    weight += rgba[4 * i + 3]!;
  }
  return backgroundFor(weighed, weight);
}

/**
 * Grey bytes of RGBA pixels as PIL's convert('L') makes them (integer luma, ITU-R 601-2 in PIL's
 * fixed point; grey stays exact), alpha composited over black (MNIST's background) or,
 * where the content is dark, over white (alphaBackground). Each pixel's luma is computed once.
 */
export function lumaBytes(rgba: ArrayLike<number>): Uint8Array {
  const grey = new Uint8Array(rgba.length / 4);
  let [weighed, weight, opaque] = [0, 0, true];
  for (let i = 0; i < grey.length; i++) {
    const [l, a] = [luma(rgba, i), rgba[4 * i + 3]!];
    grey[i] = l;
    weighed += l * a;
    weight += a;
    if (a < 255) opaque = false;
  }
  if (opaque) return grey;
  const back = backgroundFor(weighed, weight);
  for (let i = 0; i < grey.length; i++) {
    const a = rgba[4 * i + 3]!;
    if (a < 255) grey[i] = Math.round((grey[i]! * a + back * (255 - a)) / 255);
  }
  return grey;
}

/** A grey image, values 0 (background) … 1 (ink), row-major. */
export interface GreyImage {
  width: number;
  height: number;
  data: Float32Array;
}

/** The smallest rectangle holding every value above INK, or undefined for a blank image. */
export function boundingBox(img: GreyImage): { x: number; y: number; w: number; h: number } | undefined {
  let x0 = img.width;
  let y0 = img.height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (img.data[y * img.width + x]! > INK) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? undefined : { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

/**
 * Resamples a region of `img` to `ow`×`oh` by area averaging: each output pixel is the mean of
 * the source area it covers, fractional pixels weighted by their overlap.
 */
export function resampleArea(img: GreyImage, region: { x: number; y: number; w: number; h: number }, ow: number, oh: number): Float32Array {
  const out = new Float32Array(ow * oh);
  const sx = region.w / ow;
  const sy = region.h / oh;
  for (let oy = 0; oy < oh; oy++) {
    const ya = region.y + oy * sy;
    const yb = ya + sy;
    for (let ox = 0; ox < ow; ox++) {
      const xa = region.x + ox * sx;
      const xb = xa + sx;
      let sum = 0;
      for (let y = Math.floor(ya); y < Math.ceil(yb); y++) {
        const wy = Math.min(yb, y + 1) - Math.max(ya, y);
        if (wy <= 0 || y < 0 || y >= img.height) continue;
        for (let x = Math.floor(xa); x < Math.ceil(xb); x++) {
          const wx = Math.min(xb, x + 1) - Math.max(xa, x);
          if (wx <= 0 || x < 0 || x >= img.width) continue;
          sum += img.data[y * img.width + x]! * wx * wy;
        }
      }
      out[oy * ow + ox] = sum / (sx * sy);
    }
  }
  return out;
}

/** Centre of mass (pixel centres at i + 0.5) of a w×h image; the geometric centre if empty. */
export function centreOfMass(data: Float32Array, w: number, h: number): { x: number; y: number } {
  let m = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = data[y * w + x]!;
      m += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  return m > 0 ? { x: mx / m, y: my / m } : { x: w / 2, y: h / 2 };
}

/**
 * The MNIST-style image of a grey image (values 0 … 1, ink light): cropped to the ink's bounding
 * box, scaled so that its longer side is 20 pixels keeping the aspect ratio (area-averaged), and
 * placed in a 28×28 field with its centre of mass at the centre, as the MNIST digits were made;
 * all zeros for a blank image. Another field, `height` × `width`, scales the box with it.
 */
export function toMnist(img: GreyImage, height = MNIST_SIZE, width = height): Float32Array {
  const out = new Float32Array(height * width);
  const box = boundingBox(img);
  if (!box) return out;
  const side = Math.max(1, Math.round((Math.min(height, width) * MNIST_BOX) / MNIST_SIZE));
  const scale = side / Math.max(box.w, box.h);
  const w = Math.min(width, Math.max(1, Math.round(box.w * scale)));
  const h = Math.min(height, Math.max(1, Math.round(box.h * scale)));
  const small = resampleArea(img, box, w, h);
  const c = centreOfMass(small, w, h);
  // Shift so the centre of mass lands on the field's centre, keeping the digit inside.
  const dx = Math.min(width - w, Math.max(0, Math.round(width / 2 - c.x)));
  const dy = Math.min(height - h, Math.max(0, Math.round(height / 2 - c.y)));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) out[(y + dy) * width + x + dx] = Math.min(1, small[y * w + x]!);
  }
  return out;
}

/** How fitDigit read an image. */
export interface FittedDigit {
  /** The MNIST-style image, values 0 … 1. */
  image: Float32Array;
  /** Whether the background was light (dark ink on paper), so the values were turned over. */
  inverted: boolean;
  /** The page the picture was cropped to (findPage), where it shows a sheet on something dark. */
  page?: { x: number; y: number; w: number; h: number };
}

/** Otsu's threshold of values 0 … 1: the level that best splits them in two (the most variance between the two), over 256 bins. */
function otsu(data: Float32Array): number {
  const hist = new Float64Array(256);
  for (const v of data) hist[Math.min(255, Math.max(0, Math.round(v * 255)))]!++;
  let [sum, total] = [0, 0];
  for (let b = 0; b < 256; b++) [sum, total] = [sum + b * hist[b]!, total + hist[b]!];
  let [below, belowSum, best, at] = [0, 0, -1, 0];
  for (let b = 0; b < 255; b++) {
    below += hist[b]!;
    belowSum += b * hist[b]!;
    const above = total - below;
    if (!below || !above) continue;
    const between = below * above * (belowSum / below - (sum - belowSum) / above) ** 2;
    if (between > best) [best, at] = [between, b];
  }
  return (at + 0.5) / 255;
}

/**
 * The sheet of paper in a photo of one lying on something dark (a desk): where the picture's edge
 * is mostly dark, the bounding box of its largest light region (4-connected pixels above Otsu's
 * threshold), where that covers at least PAGE_AREA of the picture and PAGE_FILL of its box, less
 * PAGE_MARGIN on each side; undefined for any other picture (a page filling it, a light digit on
 * black, whose strokes fill little of their box).
 */
export function findPage(img: GreyImage): { x: number; y: number; w: number; h: number } | undefined {
  const { width: w, height: h, data } = img;
  const edge = edgeValues(data, w, h);
  if (edge[Math.floor(edge.length / 2)]! > 0.5) return undefined;
  const t = otsu(data);
  const seen = new Uint8Array(data.length);
  const stack = new Int32Array(data.length);
  let largest = { size: 0, x0: 0, y0: 0, x1: 0, y1: 0 };
  let top = 0;
  const visit = (j: number) => {
    if (!seen[j] && data[j]! > t) {
      seen[j] = 1;
      stack[top++] = j;
    }
  };
  for (let start = 0; start < data.length; start++) {
    if (seen[start] || data[start]! <= t) continue;
    let size = 0;
    stack[top++] = start;
    seen[start] = 1;
    let [x0, y0, x1, y1] = [w, h, -1, -1];
    while (top) {
      const i = stack[--top]!;
      size++;
      const x = i % w;
      const y = (i - x) / w;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      // The four neighbours, without an array per pixel: a page is most of a photo's pixels.
      if (x > 0) visit(i - 1);
      if (x < w - 1) visit(i + 1);
      if (y > 0) visit(i - w);
      if (y < h - 1) visit(i + w);
    }
    if (size > largest.size) largest = { size, x0, y0, x1, y1 };
  }
  const [pw, ph] = [largest.x1 - largest.x0 + 1, largest.y1 - largest.y0 + 1];
  if (largest.size < PAGE_AREA * data.length || largest.size < PAGE_FILL * pw * ph) return undefined;
  const [mx, my] = [Math.round(PAGE_MARGIN * pw), Math.round(PAGE_MARGIN * ph)];
  return { x: largest.x0 + mx, y: largest.y0 + my, w: pw - 2 * mx, h: ph - 2 * my };
}

/**
 * The frame of an image that a screenshot or a scanner may leave marks in (a one-pixel line along
 * a side, a window's rounded corners): 1/64 of its side (none for MNIST's 28 pixels). It is no
 * background, nor ink.
 */
const frameOf = (w: number, h: number) => Math.floor(Math.min(w, h) / 64);

/** The values on the edge of a w×h image, sorted: on the ring just inside its frame. */
function edgeValues(data: ArrayLike<number>, w: number, h: number): number[] {
  const k = frameOf(w, h);
  const [x0, x1, y0, y1] = [k, w - 1 - k, k, h - 1 - k];
  const edge: number[] = [];
  for (let x = x0; x <= x1; x++) edge.push(data[y0 * w + x]!, data[y1 * w + x]!);
  for (let y = y0 + 1; y < y1; y++) edge.push(data[y * w + x0]!, data[y * w + x1]!);
  return edge.sort((a, b) => a - b);
}

/** Each value of a w×h image replaced by the `pick` (Math.max or Math.min) of those within r rows and columns: rows, then columns. */
function filter2d(a: Float32Array, w: number, h: number, r: number, pick: (...v: number[]) => number): Float32Array {
  const rows = new Float32Array(a.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) rows[y * w + x] = pick(...a.subarray(y * w + Math.max(0, x - r), y * w + Math.min(w, x + r + 1)));
  }
  const out = new Float32Array(a.length);
  const column: number[] = [];
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      column.length = 0;
      for (let k = Math.max(0, y - r); k < Math.min(h, y + r + 1); k++) column.push(rows[k * w + x]!);
      out[y * w + x] = pick(...column);
    }
  }
  return out;
}

/**
 * The light on the paper at each pixel of a w×h picture of dark ink on bright paper: a
 * morphological closing (the brightest value within a window a third of the shorter side wide,
 * then the darkest of those) wipes out the strokes, which are narrower, and keeps the light's slow
 * changes (a gradient, a vignette) and the edges of shadows. It is taken on a copy reduced by
 * block maxima to at most LIGHT_SIDE pixels on a side, lowered to the darkest block within two,
 * and brought back up bilinearly; it errs dark rather than bright, as paper found darker than it is
 * stays paper, while paper found brighter would turn to ink.
 */
export function paperLight(paper: Float32Array, w: number, h: number): Float32Array {
  const f = Math.max(1, Math.ceil(Math.max(w, h) / LIGHT_SIDE));
  const [sw, sh] = [Math.ceil(w / f), Math.ceil(h / f)];
  const small = new Float32Array(sw * sh);
  for (let y = 0; y < h; y++) {
    const row = Math.floor(y / f) * sw;
    for (let x = 0, bx = 0, k = 0; x < w; x++) {
      const v = paper[y * w + x]!;
      if (v > small[row + bx]!) small[row + bx] = v;
      if (++k === f) [k, bx] = [0, bx + 1];
    }
  }
  const r = Math.max(1, Math.round((LIGHT_WINDOW * Math.min(w, h)) / 2 / f));
  // The picture's edge repeated a window further out: a window cut off at the edge would take the
  // darkest of the brightest values inside only, overstating the light where it falls towards
  // the edge; the repeated edge brings the edge's own light in (a straight fall is then exact).
  const [pw, ph] = [sw + 2 * r, sh + 2 * r];
  const padded = new Float32Array(pw * ph);
  for (let y = 0; y < ph; y++) {
    const row = Math.min(sh - 1, Math.max(0, y - r)) * sw;
    for (let x = 0; x < pw; x++) padded[y * pw + x] = small[row + Math.min(sw - 1, Math.max(0, x - r))]!;
  }
  const closing = filter2d(filter2d(padded, pw, ph, r, Math.max), pw, ph, r, Math.min);
  const bounded = new Float32Array(sw * sh);
  for (let y = 0; y < sh; y++) bounded.set(closing.subarray((y + r) * pw + r, (y + r) * pw + r + sw), y * sw);
  // Two blocks darker: brought back up, a pixel takes its light from the blocks within one of its
  // own; where its own lies across a shadow's edge, one within two lies wholly in the shadow, so the
  // bright side's light does not reach the pixel.
  const closed = filter2d(bounded, sw, sh, 2, Math.min);
  if (f === 1) return closed;
  // Bilinear between the blocks' centres, held flat beyond the outer ones: each pixel's two
  // blocks along an axis and the weight of the second.
  const axis = (size: number, blocks: number) => {
    const [lo, hi, t] = [new Int32Array(size), new Int32Array(size), new Float32Array(size)];
    for (let v = 0; v < size; v++) {
      const c = Math.min(blocks - 1, Math.max(0, (v + 0.5) / f - 0.5));
      lo[v] = Math.min(Math.max(0, blocks - 2), Math.floor(c));
      hi[v] = Math.min(blocks - 1, lo[v]! + 1);
      t[v] = c - lo[v]!;
    }
    return { lo, hi, t };
  };
  const [ax, ay] = [axis(w, sw), axis(h, sh)];
  const light = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const [r0, r1, ty] = [ay.lo[y]! * sw, ay.hi[y]! * sw, ay.t[y]!];
    for (let x = 0; x < w; x++) {
      const [x0, x1, tx] = [ax.lo[x]!, ax.hi[x]!, ax.t[x]!];
      const top = closed[r0 + x0]! * (1 - tx) + closed[r0 + x1]! * tx;
      const bottom = closed[r1 + x0]! * (1 - tx) + closed[r1 + x1]! * tx;
      light[y * w + x] = top * (1 - ty) + bottom * ty;
    }
  }
  return light;
}

/**
 * Takes off each group of touching ink (8-connected pixels above INK) whose strongest pixel is
 * below FAINT: a stain, or paper where the light was misjudged by a few percent (at a corner), which
 * would otherwise widen the digit's bounding box to reach it.
 */
function dropFaint(ink: Float32Array, w: number, h: number): void {
  const seen = new Uint8Array(ink.length);
  const group = new Int32Array(ink.length);
  for (let start = 0; start < ink.length; start++) {
    if (seen[start] || ink[start]! <= INK) continue;
    let size = 0;
    group[size++] = start;
    seen[start] = 1;
    let strongest = 0;
    for (let k = 0; k < size; k++) {
      const i = group[k]!;
      strongest = Math.max(strongest, ink[i]!);
      const [x, y] = [i % w, Math.floor(i / w)];
      for (let ny = Math.max(0, y - 1); ny <= Math.min(h - 1, y + 1); ny++) {
        for (let nx = Math.max(0, x - 1); nx <= Math.min(w - 1, x + 1); nx++) {
          const j = ny * w + nx;
          if (!seen[j] && ink[j]! > INK) {
            seen[j] = 1;
            group[size++] = j;
          }
        }
      }
    }
    if (strongest < FAINT) for (let k = 0; k < size; k++) ink[group[k]!] = 0;
  }
}

/**
 * A picture of a digit of any size (a scan, a photo, a drawing; grey values 0 … 1) as an MNIST
 * digit: turned over where its background is light (the median of its edge pixels above ½: dark
 * ink on paper); the light evened out (each pixel divided by the paper's light there, paperLight,
 * so a gradient, a vignette or a shadow across the page leaves the paper even); the background
 * taken off (the edge's 90th percentile, as ink goes, so that paper grain becomes 0 while a digit
 * touching the edge does not count) and the strongest ink made 1; faint specks apart from the
 * digit taken off (dropFaint); then toMnist. The picture's outermost 1/64 (frameOf: where a
 * screenshot's or a scanner's marks lie) counts as neither background nor ink. A photo of a sheet on something dark is first
 * cropped to the sheet (findPage). A blank image gives zeros.
 */
export function fitDigit(img: GreyImage, height = MNIST_SIZE, width = height): FittedDigit {
  const page = findPage(img);
  if (!page) return fitInk(img, height, width);
  const cropped = new Float32Array(page.w * page.h);
  for (let y = 0; y < page.h; y++) cropped.set(img.data.subarray((page.y + y) * img.width + page.x, (page.y + y) * img.width + page.x + page.w), y * page.w);
  return { ...fitInk({ width: page.w, height: page.h, data: cropped }, height, width), page };
}

/** fitDigit of a picture that is all page (or all background): no page looked for. */
function fitInk(img: GreyImage, height: number, width: number): FittedDigit {
  const { width: w, height: h, data } = img;
  const edge = edgeValues(data, w, h);
  const inverted = edge[Math.floor(edge.length / 2)]! > 0.5;
  // The picture as bright paper and dark ink, whichever it was; then ink 0 … 1 under even light.
  // (Loops, not Float32Array.from with a function, which is ten times slower on a photo's pixels.)
  const paper = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) paper[i] = inverted ? data[i]! : 1 - data[i]!;
  const light = paperLight(paper, w, h);
  const even = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) even[i] = light[i]! > 0 ? 1 - Math.min(1, paper[i]! / light[i]!) : 0;
  const inkEdge = edgeValues(even, w, h);
  const background = inkEdge[Math.floor(0.9 * (inkEdge.length - 1))]!;
  let peak = background;
  for (const v of even) peak = Math.max(peak, v);
  const span = peak - background;
  const ink = new Float32Array(data.length);
  if (span > 0) for (let i = 0; i < data.length; i++) ink[i] = Math.min(1, Math.max(0, (even[i]! - background) / span));
  const k = frameOf(w, h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (x < k || y < k || x >= w - k || y >= h - k) ink[y * w + x] = 0;
  dropFaint(ink, w, h);
  return { image: toMnist({ width: w, height: h, data: ink }, height, width), inverted };
}

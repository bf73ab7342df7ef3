// The drawing pad: white ink on black, drawn with mouse, pen or touch through pointer events.
// It keeps its own pixel size (independent of the screen's pixel ratio) so a stroke has the
// same weight relative to the digit everywhere. Besides drawing on the canvas it keeps the
// strokes' segments, which preprocessing rasterises (strokesToMnist): reading the canvas back
// (getImageData) waits for the GPU, which training keeps busy, and froze drawing for seconds.

import { clipSegment, type Segment } from './preprocess';

export class DrawPad {
  private readonly ctx: CanvasRenderingContext2D;
  /** The strokes drawn since the pad was last blank, in canvas pixels (the canvas is only drawn, never read). */
  private readonly drawn: Segment[] = [];
  private last: { x: number; y: number } | undefined;
  private pointer: number | undefined;
  /** Whether the pad shows an image (showImage) rather than strokes: a new stroke starts blank. */
  private showing = false;

  constructor(
    readonly canvas: HTMLCanvasElement,
    /** Called after every change (strokes, clear, images), at most once per event. */
    private readonly onChange: () => void,
    /** Stroke width in canvas pixels. */
    private readonly lineWidth = Math.round(canvas.width / 13),
  ) {
    // A canvas kept in CPU memory: its strokes then do not queue behind training on the GPU.
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new Error('no 2D canvas context');
    this.ctx = ctx;
    this.clear(false);
    canvas.style.touchAction = 'none';
    canvas.addEventListener('pointerdown', (e) => this.down(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    canvas.addEventListener('pointerup', (e) => this.up(e));
    canvas.addEventListener('pointercancel', (e) => this.up(e));
  }

  /** Blanks the pad. */
  clear(notify = true): void {
    this.ctx.fillStyle = '#000';
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.drawn.length = 0;
    this.showing = false;
    if (notify) this.onChange();
  }

  /** Shows a 28×28 grey image (0…1), scaled up without smoothing. */
  showImage(pixels: Float32Array | Uint8Array, size = 28): void {
    const img = new ImageData(size, size);
    const scale = pixels instanceof Uint8Array ? 1 : 255;
    for (let i = 0; i < size * size; i++) {
      const v = pixels[i]! * scale;
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
      img.data[4 * i + 3] = 255;
    }
    const tmp = document.createElement('canvas');
    tmp.width = tmp.height = size;
    tmp.getContext('2d')!.putImageData(img, 0, 0);
    this.ctx.imageSmoothingEnabled = false;
    this.ctx.drawImage(tmp, 0, 0, this.canvas.width, this.canvas.height);
    this.drawn.length = 0;
    this.showing = true;
  }

  /** Shows a picture, scaled to fit the pad and centred on black, keeping its aspect ratio. */
  showPicture(picture: CanvasImageSource, width: number, height: number): void {
    const s = Math.min(this.canvas.width / width, this.canvas.height / height);
    const [w, h] = [width * s, height * s];
    this.ctx.fillStyle = '#000';
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.ctx.imageSmoothingEnabled = true;
    this.ctx.drawImage(picture, (this.canvas.width - w) / 2, (this.canvas.height - h) / 2, w, h);
    this.drawn.length = 0;
    this.showing = true;
  }

  /** The segments of the strokes drawn since the pad was blank (none while it shows an image), in canvas pixels. */
  strokes(): readonly Segment[] {
    return this.drawn;
  }

  /** Whether the pad shows an image (a test digit) rather than strokes. */
  get showingImage(): boolean {
    return this.showing;
  }

  /** The pen's radius in canvas pixels. */
  get penRadius(): number {
    return this.lineWidth / 2;
  }

  private at(e: PointerEvent): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * this.canvas.width, y: ((e.clientY - r.top) / r.height) * this.canvas.height };
  }

  private down(e: PointerEvent): void {
    if (e.button !== 0 && e.pointerType === 'mouse') return;
    e.preventDefault();
    // A second finger or a palm while a stroke is drawn is ignored, not a new stroke.
    if (this.pointer !== undefined) return;
    if (this.showing) this.clear(false);
    this.canvas.setPointerCapture(e.pointerId);
    this.pointer = e.pointerId;
    this.last = this.at(e);
    this.stroke(this.last, this.last);
  }

  private move(e: PointerEvent): void {
    if (this.pointer !== e.pointerId || !this.last) return;
    // Coalesced events keep fast strokes smooth where the browser batches them.
    const events = typeof e.getCoalescedEvents === 'function' ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) {
      const p = this.at(ev);
      this.stroke(this.last, p);
      this.last = p;
    }
  }

  private up(e: PointerEvent): void {
    if (this.pointer !== e.pointerId) return;
    this.pointer = undefined;
    this.last = undefined;
  }

  private stroke(a: { x: number; y: number }, b: { x: number; y: number }): void {
    const ctx = this.ctx;
    ctx.beginPath();
    if (a.x === b.x && a.y === b.y) {
      // A tap: canvases draw nothing for a zero-length line, round caps or not.
      ctx.fillStyle = '#fff';
      ctx.arc(a.x, a.y, this.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
    } else {
      ctx.strokeStyle = '#fff';
      ctx.lineWidth = this.lineWidth;
      ctx.lineCap = 'round';
      ctx.moveTo(a.x, a.y);
      ctx.lineTo(b.x, b.y);
      ctx.stroke();
    }
    const inside = clipSegment([a.x, a.y, b.x, b.y], this.canvas.width, this.canvas.height);
    if (inside) this.drawn.push(inside);
    this.onChange();
  }
}

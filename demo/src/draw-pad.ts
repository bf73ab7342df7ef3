// The drawing pad: white ink on black, drawn with mouse, pen or touch through pointer events.
// It keeps its own pixel size (independent of the screen's pixel ratio) so a stroke has the
// same weight relative to the digit everywhere. Besides drawing on the canvas it rasterises the
// strokes into its own grey image: reading the canvas back (getImageData) waits for the GPU,
// which training keeps busy, and froze drawing for seconds.

import { blankGrey, inkSegment, type GreyImage } from './preprocess';

export class DrawPad {
  private readonly ctx: CanvasRenderingContext2D;
  /** What the canvas shows, as grey values 0…1 (the canvas is only drawn, never read). */
  private readonly ink: GreyImage;
  private last: { x: number; y: number } | undefined;
  private pointer: number | undefined;
  /** Whether the pad shows an image (showImage) rather than strokes: a new stroke starts blank. */
  private showing = false;
  /** Whether anything is drawn. */
  inked = false;

  constructor(
    readonly canvas: HTMLCanvasElement,
    /** Called after every change (strokes, clear, images), at most once per event. */
    private readonly onChange: () => void,
    /** Stroke width in canvas pixels. */
    private readonly lineWidth = Math.round(canvas.width / 13),
  ) {
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new Error('no 2D canvas context');
    this.ctx = ctx;
    this.ink = blankGrey(canvas.width, canvas.height);
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
    this.ink.data.fill(0);
    this.inked = false;
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
    // The same nearest-neighbour scaling into the raster.
    const { width, height, data } = this.ink;
    for (let y = 0; y < height; y++) {
      const row = Math.floor(((y + 0.5) * size) / height) * size;
      for (let x = 0; x < width; x++) data[y * width + x] = (pixels[row + Math.floor(((x + 0.5) * size) / width)]! * scale) / 255;
    }
    this.inked = true;
    this.showing = true;
  }

  /** The pad's pixels as grey values (ink 1): the pad's own raster, not a copy, so it changes with the next stroke. */
  pixels(): GreyImage {
    return this.ink;
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
    inkSegment(this.ink, a.x, a.y, b.x, b.y, this.lineWidth / 2);
    this.inked = true;
    this.onChange();
  }
}

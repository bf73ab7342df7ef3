// What the page shows for the current input image: the prediction and its probabilities, and
// every activation map with the explanation of the selected channel. A refresh writes the image
// into the inference program's input buffer, runs the programs and draws the maps from their
// output buffers (no read-back for drawing). It reads back the ten logits, each row's colour
// range (one float a row), and for the explanation's numbers and its check, the selected layer's
// weights, output and intermediate maps. Refreshes run one at a time; requests made meanwhile
// coalesce into one more.
import { MNIST_SIZE as SIZE, type Model, type Runtime, type Tensor } from 'fovea';
import { ExplainView } from './explain-view';
import type { InferencePrograms } from './inference';
import { MapRenderer } from './map-renderer';
import { NetworkView, type Selection } from './network-view';
import { ProbabilityBars } from './probabilities';

/** The image the network looks at: a drawing, a picture or a test digit. */
export interface InputImage {
  /** 28×28 values, 0 (background) … 1 (ink). */
  pixels: Float32Array;
  blank: boolean;
  /** What the prediction says where it is blank (default: draw a digit). */
  blankNote?: string;
  label?: number;
  /** Names the image ('test:12', 'drawing:3'); the prediction shown is tagged with it. */
  key: string;
}

export interface LiveViewElements {
  network: HTMLElement;
  explain: HTMLElement;
  bars: HTMLElement;
  prediction: HTMLElement;
  note: HTMLElement;
}

/** Each conv block: the conv layer and the layers after it, up to the next conv, flatten or linear layer. */
function convBlocks(model: Model, convNames: readonly string[]): string[][] {
  return convNames.map((name) => {
    const i = model.layers.findIndex((l) => l.name === name);
    const names = [name];
    for (const l of model.layers.slice(i + 1)) {
      if (l.type === 'conv2d' || l.type === 'linear' || l.type === 'flatten') break;
      names.push(l.name);
    }
    return names;
  });
}

export class LiveView {
  private input: InputImage = { pixels: new Float32Array(SIZE * SIZE), blank: true, key: 'blank' };
  private selection: Selection = { conv: 0, channel: 0 };
  private readonly renderer: MapRenderer;
  private readonly network: NetworkView;
  private readonly explain: ExplainView;
  private readonly bars: ProbabilityBars;
  private dirty = false;
  private busy = false;
  /** Callers of refreshed() waiting for a refresh that starts after their call. */
  private waiting: (() => void)[] = [];
  /** Bumped when the weights are replaced (load, reset); predictions are tagged with it. */
  private weightsVersion = 0;
  /** When the last refresh started (performance.now()). */
  lastRefresh = 0;
  /** Whether the weights are the initial, random ones (predictions are then said to be guesses). */
  untrained = true;

  constructor(
    private readonly rt: Runtime,
    model: Model,
    private readonly programs: InferencePrograms,
    private readonly els: LiveViewElements,
    private readonly onError: (e: unknown) => void,
  ) {
    this.renderer = new MapRenderer(rt.device);
    const refresh = () => this.requestRefresh(); // a click, a resize
    const blocks = convBlocks(
      model,
      programs.convs.map((c) => c.layer.name),
    );
    this.explain = new ExplainView(els.explain, this.renderer, programs.convs, programs.out, blocks, refresh);
    this.network = new NetworkView(
      els.network,
      this.renderer,
      model,
      (s, clicked) => {
        this.selection = s;
        refresh();
        // The explanation is below all the rows: a click that leaves its title out of sight (or
        // at the bottom edge) brings the title to mid-screen, the explanation under it (arrow keys
        // move within a row, and leave the page where it is).
        const title = els.explain.querySelector('h3');
        if (clicked && title && title.getBoundingClientRect().top > innerHeight * 0.75) {
          title.scrollIntoView({ block: 'center', behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth' });
        }
      },
      refresh,
      programs.out ? programs.convs.length : undefined,
    );
    this.bars = new ProbabilityBars(els.bars, els.prediction, els.note);
  }

  /** Shows a new input image. */
  setInput(image: InputImage): void {
    this.input = image;
    this.requestRefresh();
  }

  /** The weights were replaced (by the initial ones, or trained ones): tags the next predictions with a new version, which it returns. */
  weightsChanged(untrained: boolean): number {
    this.untrained = untrained;
    this.weightsVersion++;
    this.requestRefresh();
    return this.weightsVersion;
  }

  /** Schedules a refresh (requests made while one runs coalesce into one more). */
  requestRefresh(): void {
    this.dirty = true;
    if (!this.busy) void this.pump();
  }

  /**
   * Resolves once everything requested so far is drawn: after the refresh that starts next, if
   * one is pending, else after the one running. Requests made meanwhile wait for the one after,
   * so a caller that waits between its own steps alternates with a stream of requests.
   */
  refreshed(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((r) => this.waiting.push(r));
  }

  private async pump(): Promise<void> {
    this.busy = true;
    try {
      while (this.dirty) {
        this.dirty = false;
        const covered = this.waiting.splice(0);
        try {
          await this.refresh();
        } finally {
          for (const r of covered) r();
        }
      }
    } catch (e) {
      this.onError(e);
    } finally {
      this.busy = false;
      for (const r of this.waiting.splice(0)) r(); // nothing is pending any more
    }
  }

  private async refresh(): Promise<void> {
    this.lastRefresh = performance.now();
    const { programs, selection } = this;
    const shown = this.input;
    const version = this.weightsVersion;
    const x = programs.input;
    this.rt.device.queue.writeBuffer(x.buffer, x.byteOffset, shown.pixels);
    const outputs: Record<string, Tensor> = programs.run();
    const outChosen = selection.conv === programs.convs.length;
    const partials = programs.runPartials(programs.convs.map((_, i) => (i === selection.conv ? selection.channel : 0)), outChosen ? selection.channel : 0);
    const rows = this.network.update(outputs, x);
    const ranges = this.renderer.render([...rows, ...this.explain.update(selection, outputs, x, partials)], rows);
    // The reads are enqueued before any is awaited, so they see this run's buffers.
    const logits = outputs.out!.read();
    const details = this.explain.details(selection, outputs, partials);
    const [values, , spans] = await Promise.all([logits, details, ranges]);
    this.bars.show(shown.blank ? undefined : values, shown.label, shown.key, this.untrained, shown.blankNote);
    this.network.showLogits(values, !shown.blank);
    this.network.showRanges(spans);
    this.els.prediction.dataset.weights = String(version);
  }
}

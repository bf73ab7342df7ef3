// The compiled programs behind "Draw" and "Look inside": one runs the model on a single image
// and returns every layer's output; the other computes, for one chosen output channel of each
// conv layer, the per-input-channel maps (input channel ⋆ kernel) whose sum plus the bias is
// that channel's map, and for one chosen class, the maps its logit sums (the flattened maps
// times that class's weights). Both read the model's parameters in place, so they follow training.
import { conv2d, gather, mul, type InputSpecs, type LayerInfo, type LayerSpec, type Model, type Program, type Runtime, type Tensor } from 'fovea';

/** A conv layer and what the explanation needs to know about it. */
export interface ConvInfo {
  layer: LayerInfo;
  /** Index among the model's conv layers. */
  index: number;
  /** The layer whose output the conv reads ('input' for the first). */
  inputName: string;
  inChannels: number;
  outChannels: number;
  kernel: [number, number];
  weight: Tensor;
  bias: Tensor | undefined;
}

/** Conv layers of a model, in order, with their weights. */
export function convLayers(model: Model): ConvInfo[] {
  const out: ConvInfo[] = [];
  model.layers.forEach((l) => {
    if (l.type !== 'conv2d') return;
    const w = model.parameters.get(`${l.name}.weight`)!;
    const [o, c, kh, kw] = w.shape as [number, number, number, number];
    out.push({
      layer: l,
      index: out.length,
      inputName: l.inputs[0]! < 0 ? 'input' : model.layers[l.inputs[0]!]!.name,
      inChannels: c,
      outChannels: o,
      kernel: [kh, kw],
      weight: w,
      bias: model.parameters.get(`${l.name}.bias`),
    });
  });
  return out;
}

/**
 * The output layer, where it is a linear layer over flattened maps [C, H, W] (as the seed CNN's):
 * its logit k is the sum over the C·H·W values of map value × weight[k], plus bias[k].
 */
export interface OutInfo {
  layer: LayerInfo;
  /** The layer whose maps are flattened into it. */
  inputName: string;
  maps: [channels: number, height: number, width: number];
  classes: number;
  /** [classes, C·H·W]. */
  weight: Tensor;
  bias: Tensor | undefined;
}

/** The model's output layer as OutInfo, or undefined where it is no linear layer over flattened maps. */
export function outLayer(model: Model): OutInfo | undefined {
  const n = model.layers.length;
  const [last, flat, maps] = [model.layers[n - 1], model.layers[n - 2], model.layers[n - 3]];
  if (last?.type !== 'linear' || flat?.type !== 'flatten' || maps?.outputShape.length !== 3) return undefined;
  // The flatten must take the whole of the maps (a startDim or endDim that keeps an axis leaves
  // the linear layer summing within rows or channels, its output no vector of logits).
  const [c, h, w] = maps.outputShape as [number, number, number];
  if (flat.outputShape.length !== 1 || flat.outputShape[0] !== c * h * w || last.outputShape.length !== 1) return undefined;
  return {
    layer: last,
    inputName: maps.name,
    maps: maps.outputShape as [number, number, number],
    classes: last.outputShape[0]!,
    weight: model.parameters.get(`${last.name}.weight`)!,
    bias: model.parameters.get(`${last.name}.bias`),
  };
}

/** What runPartials computes, per conv layer and for the output layer. */
export interface Partials {
  /** Conv index → tensor [1, C, OH, OW]: the partial map of input channel c is channel c. */
  convs: Tensor[];
  /** [C, H, W]: the flattened maps times the chosen class's weights (undefined: no OutInfo). */
  out: Tensor | undefined;
}

export class InferencePrograms {
  readonly convs: ConvInfo[];
  readonly out: OutInfo | undefined;
  private constructor(
    readonly model: Model,
    readonly forward: Program,
    readonly partials: Program,
  ) {
    this.convs = convLayers(model);
    this.out = outLayer(model);
  }

  static async compile(rt: Runtime, model: Model, onProgress?: (done: number, total: number) => void): Promise<InferencePrograms> {
    const convs = convLayers(model);
    const shape = [1, ...model.inputShape];
    // Both programs compile at once and share one progress count. Each reports its total as it
    // starts (tracing is synchronous), so the count's total is whole before any pipeline is done.
    const done = [0, 0];
    const total = [0, 0];
    const report = (i: number) => (d: number, t: number) => {
      done[i] = d;
      total[i] = t;
      onProgress?.(done[0]! + done[1]!, total[0]! + total[1]!);
    };
    const forward = rt.compile(
      ({ x }) => Object.fromEntries(model.activations(x!, { training: false }).filter((a) => a.type !== 'flatten').map((a) => [a.name, a.tensor])),
      { x: shape },
      { name: 'inference', onProgress: report(0) },
    );
    const out = outLayer(model);
    const index = { shape: [1], dtype: 'u32' as const };
    const channelInputs = Object.fromEntries(convs.map((c) => [`k${c.index}`, index]));
    const partials = rt.compile(
      (inputs) => {
        const acts = new Map(model.activations(inputs.x!, { training: false }).map((a) => [a.name, a.tensor]));
        acts.set('input', inputs.x!);
        const maps: Record<string, Tensor> = {};
        if (out) {
          // The chosen class's weights as maps, times the maps they weigh: [C, H, W].
          const [c, h, w] = out.maps;
          maps.out = mul(acts.get(out.inputName)!.reshape(c, h, w), gather(out.weight, inputs.kout!).reshape(c, h, w));
        }
        return convs.reduce((all, c) => {
          const h = acts.get(c.inputName)!; // [1, C, H, W]
          const ch = h.shape[1]!;
          const [kh, kw] = c.kernel;
          // The chosen output channel's kernels, one per input channel: [C, 1, KH, KW].
          const k = gather(c.weight.reshape(c.outChannels, ch * kh * kw), inputs[`k${c.index}`]!).reshape(ch, 1, kh, kw);
          // Each input channel convolved with its own kernel (a depthwise convolution, a group
          // per channel): [1, C, OH, OW], map c being input channel c ⋆ kernel c.
          const spec = c.layer.spec as Extract<LayerSpec, { type: 'conv2d' }>;
          const { stride = 1, padding = 0, paddingMode = 'zeros', dilation = 1 } = spec;
          all[String(c.index)] = conv2d(h, k, undefined, { stride, padding, paddingMode, dilation, groups: ch });
          return all;
        }, maps);
      },
      { x: shape, ...channelInputs, ...(out ? { kout: index } : {}) } as InputSpecs, // built at run time: any names
      { name: 'partial maps', onProgress: report(1) },
    );
    // Both awaited together: either one failing rejects this, never unhandled.
    return new InferencePrograms(model, ...(await Promise.all([forward, partials])));
  }

  /** The forward program's input buffer: write 784 floats into it with queue.writeBuffer. */
  get input(): Tensor {
    return this.forward.input('x');
  }

  /** Runs the model on the current input; the outputs are valid until the next run. */
  run(): Record<string, Tensor> {
    return this.forward.run();
  }

  /**
   * Partial maps of output channel `channels[i]` of conv layer i, and the maps the logit of class
   * `outClass` sums (reads the same input buffer).
   */
  runPartials(channels: readonly number[], outClass: number): Partials {
    const inputs: Record<string, Tensor | Uint32Array> = { x: this.input };
    this.convs.forEach((c) => (inputs[`k${c.index}`] = Uint32Array.of(Math.min(channels[c.index] ?? 0, c.outChannels - 1))));
    if (this.out) inputs.kout = Uint32Array.of(Math.min(outClass, this.out.classes - 1));
    const out = this.partials.run(inputs);
    return { convs: this.convs.map((c) => out[String(c.index)]!), out: out.out };
  }
}

// Saving and loading weights in the CLI's checkpoint format (fovea's serializeModel and
// parseCheckpoint: F32 tensors, F16, BF16, F64 and I64 read too, under PyTorch's state_dict names,
// the model spec as JSON in the "fovea.spec" metadata). A file the CLI wrote (`fovea train`) loads here, and a file saved here
// loads in the CLI.
import { FileFormatError, FoveaError, inferLayers, parseCheckpoint, requireFinite, type LayerInfo, type Model, type ModelSpec, type Runtime } from 'fovea';

/** Far above this model's checkpoint (116 kB); a bigger file is not one of its checkpoints. */
const MAX_BYTES = 64 * 1024 * 1024;

const both = (v: number | [number, number]) => (Array.isArray(v) ? v.join('×') : `${v}×${v}`);

/** What a layer computes, defaults filled in: the same text for the same operation. */
function operation(l: LayerInfo): string {
  const s = l.spec;
  switch (s.type) {
    case 'conv2d':
    case 'convtranspose2d': {
      // Dilation, groups and output padding only where they are not the defaults: the same text either way.
      const dilation = both(s.dilation ?? 1) === '1×1' ? '' : `, dilation ${both(s.dilation!)}`;
      const groups = (s.groups ?? 1) === 1 ? '' : `, ${s.groups} groups`;
      const extra = s.type === 'convtranspose2d' && both(s.outputPadding ?? 0) !== '0×0' ? `, output padding ${both(s.outputPadding!)}` : '';
      const padding = typeof s.padding === 'string' ? s.padding : both(s.padding ?? 0);
      const mode = s.type === 'conv2d' && (s.paddingMode ?? 'zeros') !== 'zeros' ? ` (${s.paddingMode})` : '';
      return `kernel ${both(s.kernelSize)}, stride ${both(s.stride ?? 1)}, padding ${padding}${mode}${extra}${dilation}${groups}${s.bias === false ? ', no bias' : ''}`;
    }
    case 'maxpool2d':
    case 'avgpool2d': {
      const counted = s.type === 'avgpool2d' ? `${s.countIncludePad === false ? ', padding not counted' : ''}${s.divisorOverride !== undefined ? `, divided by ${s.divisorOverride}` : ''}` : '';
      const dilation = s.type === 'maxpool2d' && both(s.dilation ?? 1) !== '1×1' ? `, dilation ${both(s.dilation!)}` : '';
      return `kernel ${both(s.kernelSize)}, stride ${both(s.stride ?? s.kernelSize)}, padding ${both(s.padding ?? 0)}${dilation}${s.ceilMode ? ', ceil mode' : ''}${counted}`;
    }
    case 'adaptiveavgpool2d':
    case 'adaptivemaxpool2d':
      return `to ${both(s.outputSize)}`;
    case 'upsample':
      return `${s.size !== undefined ? `to ${both(s.size)}` : `by ${both(s.scaleFactor!)}`}, ${s.mode ?? 'nearest'}${s.alignCorners ? ', corners aligned' : ''}`;
    case 'linear':
      return s.bias === false ? 'no bias' : '';
    case 'dropout':
    case 'dropout2d':
      return `p ${s.p ?? 0.5}`;
    case 'leakyrelu':
      return `negative slope ${s.negativeSlope ?? 0.01}`;
    case 'elu':
      return `alpha ${s.alpha ?? 1}`;
    case 'hardtanh':
      return `from ${s.minVal ?? -1} to ${s.maxVal ?? 1}`;
    case 'softshrink':
    case 'hardshrink':
      return `lambda ${s.lambd ?? 0.5}`;
    case 'threshold':
      return `${s.value} at or below ${s.threshold}`;
    case 'celu':
      return `alpha ${s.alpha ?? 1}`;
    case 'glu':
      return `halves of dimension ${s.dim ?? -1}`;
    case 'prelu':
      return `${(s.numParameters ?? 1) === 1 ? 'one slope' : `${s.numParameters} slopes`}, from ${s.init ?? 0.25}`;
    case 'softplus':
      return `beta ${s.beta ?? 1}, threshold ${s.threshold ?? 20}`;
    case 'gelu':
      return s.approximate === 'tanh' ? 'tanh approximation' : '';
    case 'groupnorm':
      return `${s.numGroups} groups, eps ${s.eps ?? 1e-5}${s.affine === false ? ', no weight and bias' : ''}`;
    case 'instancenorm2d':
      return `eps ${s.eps ?? 1e-5}${s.affine === true ? ', weight and bias' : ''}${s.trackRunningStats ? `, running statistics (momentum ${s.momentum ?? 0.1})` : ''}`;
    case 'layernorm':
      return `${s.normalizedShape ? `over [${s.normalizedShape.join(', ')}], ` : ''}eps ${s.eps ?? 1e-5}${s.elementwiseAffine === false ? ', no weight and bias' : ''}`;
    case 'batchnorm1d':
    case 'batchnorm2d':
      return `eps ${s.eps ?? 1e-5}, momentum ${s.momentum === null ? 'cumulative' : (s.momentum ?? 0.1)}${s.affine === false ? ', no weight and bias' : ''}${s.trackRunningStats === false ? ', no running statistics' : ''}`;
    case 'add':
      return s.shortcut ? 'its layers plus its shortcut' : 'its layers plus its input';
    case 'unflatten':
      return `dimension ${s.dim} into [${s.sizes.join(', ')}]`;
    case 'rrelu':
      return `slopes from ${s.lower ?? 1 / 8} to ${s.upper ?? 1 / 3}`;
    case 'pixelshuffle':
      return `by ${s.upscaleFactor}`;
    case 'pixelunshuffle':
      return `by ${s.downscaleFactor}`;
    case 'softmax':
    case 'logsoftmax':
      return `over dimension ${s.dim ?? 1}`;
    case 'zeropad2d':
    case 'constantpad2d':
    case 'reflectionpad2d':
    case 'replicationpad2d':
      return `padding ${typeof s.padding === 'number' ? `${s.padding} each side` : s.padding.join(', ')}${s.type === 'constantpad2d' ? ` with ${s.value}` : ''}`;
    case 'relu':
    case 'sigmoid':
    case 'tanh':
    case 'silu':
    case 'mish':
    case 'selu':
    case 'relu6':
    case 'hardsigmoid':
    case 'hardswish':
    case 'logsigmoid':
    case 'softsign':
    case 'tanhshrink':
    case 'identity':
    case 'flatten':
      return ''; // shapes say all
  }
}

/**
 * The network a spec builds, layer by layer (name, type, what it computes, shapes), so that
 * specs written differently (defaults spelt out, keys in another order) compare equal when
 * they build the same network.
 */
function layersOf(rt: Runtime, spec: ModelSpec): string[] {
  return inferLayers(rt, spec).map((l) => {
    const how = operation(l);
    return `${l.name} (${l.type}${how ? `, ${how}` : ''}) [${l.inputShape.join(', ')}] → [${l.outputShape.join(', ')}]`;
  });
}

/** Offers bytes as a download. */
export function download(bytes: Uint8Array, name: string): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// An image dropped on the weights box by mistake (a digit to classify, say) is named as such.
const IMAGES: [string, number[]][] = [
  ['PNG', [0x89, 0x50, 0x4e, 0x47]],
  ['JPEG', [0xff, 0xd8, 0xff]],
  ['GIF', [0x47, 0x49, 0x46, 0x38]],
];

function imageKind(bytes: Uint8Array): string | undefined {
  return IMAGES.find(([, magic]) => magic.every((b, i) => bytes[i] === b))?.[0];
}

/** A file that cannot be loaded, with a message for the page. */
export class WeightsFileError extends Error {
  override name = 'WeightsFileError';
}

/**
 * Reads a checkpoint file and loads it into the model. Everything is checked before a single
 * weight is written: the file's structure, the spec in its metadata, every name and shape.
 */
export async function loadWeightsFile(model: Model, file: File): Promise<{ tensors: number; values: number }> {
  if (file.size > MAX_BYTES) throw new WeightsFileError(`${file.name} is ${(file.size / 1e6).toFixed(1)} MB, far too big to be this model's weights (a checkpoint of it is about 116 kB).`);
  const bytes = new Uint8Array(await file.arrayBuffer());
  const image = imageKind(bytes);
  if (image) throw new WeightsFileError(`${file.name} is a ${image} image, not weights: this loads .safetensors files (saved here or by fovea train) and .pt state_dicts (saved with torch.save).`);
  try {
    // Checks the structure and the spec in the metadata (FileFormatError, SpecError), and that
    // every weight is finite: NaN weights would show NaN probabilities and maps, not an error.
    const ckpt = parseCheckpoint(bytes, file.name);
    requireFinite(ckpt, file.name);
    const { tensors, spec } = ckpt;
    if (spec) {
      // The page feeds its network pixels in [0, 1], as the seed CNN takes them.
      const norm = (s: ModelSpec) => JSON.stringify(s.normalize ?? null);
      if (norm(spec) !== norm(model.spec)) {
        throw new WeightsFileError(`${file.name} holds a network that normalises its input (mean ${spec.normalize?.mean.join(', ')}, std ${spec.normalize?.std.join(', ')}), which this page's seed CNN does not.`);
      }
      const [theirs, ours] = [layersOf(model.rt, spec), layersOf(model.rt, model.spec)];
      const i = ours.findIndex((l, k) => theirs[k] !== l);
      if (i >= 0 || theirs.length !== ours.length) {
        const k = i >= 0 ? i : ours.length;
        throw new WeightsFileError(
          `${file.name} holds a different model than this page's seed CNN: layer ${k + 1} is ${theirs[k] ?? 'missing'} there, ${ours[k] ?? 'absent'} here.`,
        );
      }
    }
    model.load(tensors, file.name);
    let values = 0;
    for (const t of tensors.values()) values += t.data.length;
    return { tensors: tensors.size, values };
  } catch (e) {
    if (e instanceof WeightsFileError) throw e;
    // Its bytes are no safetensors file (the error says at which byte): said plainly first, the
    // details after.
    if (e instanceof FileFormatError && e.byteOffset !== undefined) throw new WeightsFileError(`${file.name} is not a weights file this page can read (a .safetensors file saved here or by fovea train, or a .pt state_dict saved with torch.save). In detail: ${e.message}`);
    if (e instanceof FoveaError || e instanceof RangeError || e instanceof SyntaxError) {
      // Errors that name the file already say what it is instead.
      throw new WeightsFileError(e.message.startsWith(file.name) ? e.message : `${file.name} is not a checkpoint of this model: ${e.message}`);
    }
    throw e;
  }
}

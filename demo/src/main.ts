// The demo page: starts WebGPU through fovea, downloads MNIST while the inference programs
// compile, then wires the four sections (train, draw, look inside, save/load). All GPU work goes
// through one fovea runtime, so the activation maps are drawn from the very buffers it computes.
import { createRuntime, fitDigit, lumaBytes, MNIST_SIZE as SIZE, Model, NoAdapterError, SEED_CNN, TorchGenerator, Trainer, type Runtime } from 'fovea';
import { $, clearError, showError } from './dom';
import { DrawPad } from './draw-pad';
import { InferencePrograms } from './inference';
import { LiveView } from './live-view';
import { loadMnist, type Mnist } from './mnist';
import { strokesToMnist } from './preprocess';
import { megabytes, Progress } from './progress';
import { readSettings } from './settings';
import { setupTrainPanel } from './train-panel';
import { AUGMENTATION, optimizerOptions } from './training';
import { describeAdapter, showUnavailable, webgpuUnavailable } from './webgpu-check';
import { setupWeightsPanel } from './weights-panel';

const progress = new Progress($('progress'));

function unavailable(problem: string, detail?: string): void {
  showUnavailable($('no-webgpu'), problem, detail);
  $('app').hidden = true;
  document.body.dataset.state = 'no-webgpu';
}

/** Pictures are read at this many pixels on their longer side at most (a photo's 4000 are not needed for 28). */
const PICTURE_SIDE = 1024;

/** A picture file's grey bytes (its transparency composited as `fovea predict` does: lumaBytes), at most PICTURE_SIDE on a side. */
async function readPicture(file: Blob): Promise<{ bitmap: ImageBitmap; width: number; height: number; grey: Uint8Array }> {
  const bitmap = await createImageBitmap(file);
  const s = Math.min(1, PICTURE_SIDE / Math.max(bitmap.width, bitmap.height));
  const [width, height] = [Math.max(1, Math.round(bitmap.width * s)), Math.max(1, Math.round(bitmap.height * s))];
  const canvas = document.createElement('canvas');
  [canvas.width, canvas.height] = [width, height];
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0, width, height);
  return { bitmap, width, height, grey: lumaBytes(ctx.getImageData(0, 0, width, height).data) };
}

/** Shows a 28×28 image (0…1) on the small "what the network sees" canvas. */
function showPreview(pixels: Float32Array): void {
  const img = new ImageData(SIZE, SIZE);
  for (let i = 0; i < pixels.length; i++) {
    const v = Math.round(pixels[i]! * 255);
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  $<HTMLCanvasElement>('pad-preview').getContext('2d')!.putImageData(img, 0, 0);
}

async function main(): Promise<void> {
  // The controls filled in and preset from the address at once (the optimizer's menu is made here).
  const { settings, ignored } = readSettings();
  const problem = webgpuUnavailable();
  if (problem) {
    $('adapter').textContent = 'No WebGPU.';
    return unavailable(problem);
  }
  progress.set('gpu', 'Starting WebGPU…');
  let rt: Runtime;
  try {
    rt = await createRuntime();
  } catch (e) {
    // No adapter, one below fovea's limits, or a device that would not start; anything else is a bug.
    if (!(e instanceof NoAdapterError || e instanceof DOMException)) throw e;
    progress.done('gpu');
    const noAdapter = e instanceof NoAdapterError;
    $('adapter').textContent = noAdapter ? 'No WebGPU adapter.' : 'No WebGPU device.';
    return unavailable(noAdapter ? 'This browser offers WebGPU, but it found no GPU adapter that fovea can run on.' : 'This browser found a GPU adapter, but could not start a WebGPU device on it.', e.message);
  }
  progress.done('gpu');
  $('adapter').textContent = `Running on ${describeAdapter(rt.adapter)}`;
  void rt.device.lost.then((info) => {
    if (info.reason !== 'destroyed') showError(`the GPU device was lost (${info.message || info.reason}); reload the page`);
  });

  if (ignored.length) showError(`the address's ${ignored.join(', ')}`, 'settings left out');
  // One generator draws the initial weights and then shuffles, exactly as `fovea train --seed 1`.
  const gen = new TorchGenerator(1);
  const model = Model.create(rt, SEED_CNN, { generator: gen });
  const initialWeights = await model.state();

  // The download runs while the inference pipelines compile.
  const data: Promise<Mnist> = loadMnist((r, t) => progress.set('download', `Downloading MNIST: ${megabytes(r, t)}`, r / t));
  data.finally(() => progress.done('download')).catch(() => undefined);
  const programs = await InferencePrograms.compile(rt, model, (d, t) => progress.set('compile', `Compiling the inference pipelines: ${d} of ${t}`, d / t));
  progress.done('compile');

  // ---- draw, look inside ----
  const live = new LiveView(
    rt,
    model,
    programs,
    { network: $('network'), explain: $('explain'), bars: $('probs'), prediction: $('prediction'), note: $('prediction-note') },
    (e) => showError(e, 'drawing the activation maps'),
  );
  let drawings = 0;
  let padDirty = false;
  const index = $<HTMLInputElement>('sample-index');
  const pad = new DrawPad($<HTMLCanvasElement>('pad'), () => {
    index.value = ''; // the pad no longer shows that test digit
    // At most one preprocessing per frame, however many pointer events arrive.
    if (padDirty) return;
    padDirty = true;
    requestAnimationFrame(() => {
      padDirty = false;
      // A test digit shown since the strokes (showTest set the input, with its label).
      if (pad.showingImage) return;
      const pixels = strokesToMnist(pad.strokes(), pad.penRadius);
      showPreview(pixels);
      live.setInput({ pixels, blank: !pixels.some((v) => v > 0), key: `drawing:${++drawings}` });
    });
  });
  $('pad-clear').addEventListener('click', () => pad.clear());
  // A picture (opened, or dropped on the pad) fitted as `fovea predict` fits one.
  let pictures = 0;
  const openPicture = async (file: File) => {
    try {
      const { bitmap, width, height, grey } = await readPicture(file);
      const { image } = fitDigit({ width, height, data: Float32Array.from(grey, (v) => v / 255) });
      pad.showPicture(bitmap, bitmap.width, bitmap.height);
      bitmap.close();
      index.value = '';
      showPreview(image);
      const blankNote = `No digit found in ${file.name}.`;
      live.setInput({ pixels: image, blank: !image.some((v) => v > 0), blankNote, key: `picture:${++pictures}` });
      clearError('opening a picture');
    } catch (e) {
      showError(e instanceof DOMException ? `${file.name}: not a picture this browser can read (${e.message})` : e, 'opening a picture');
    }
  };
  const fileInput = $<HTMLInputElement>('picture-file');
  $('picture-open').addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', () => {
    const file = fileInput.files?.[0];
    fileInput.value = ''; // the same file again is a change too
    if (file) void openPicture(file);
  });
  const padCanvas = $('pad');
  padCanvas.addEventListener('dragover', (e) => e.preventDefault());
  padCanvas.addEventListener('drop', (e) => {
    e.preventDefault();
    const file = e.dataTransfer?.files[0];
    if (file) void openPicture(file);
  });
  live.requestRefresh();

  // ---- test digits ----
  let mnist: Mnist;
  try {
    mnist = await data;
  } catch (e) {
    showError(e, 'loading MNIST');
    document.body.dataset.state = 'error';
    return;
  }
  const showTest = (k: number) => {
    const i = Math.max(0, Math.min(mnist.test.images.count - 1, Math.floor(k) || 0));
    const bytes = mnist.test.images.pixels.subarray(i * SIZE * SIZE, (i + 1) * SIZE * SIZE);
    const pixels = Float32Array.from(bytes, (v) => v / 255);
    pad.showImage(bytes);
    index.value = String(i);
    showPreview(pixels);
    live.setInput({ pixels, blank: false, label: mnist.test.labels[i]!, key: `test:${i}` });
  };
  for (const id of ['sample-random', 'sample-index', 'sample-show']) $<HTMLInputElement>(id).disabled = false;
  $('sample-random').addEventListener('click', () => showTest(Math.floor(Math.random() * mnist.test.images.count)));
  // The number typed (clamped to the test set); an empty field (or letters) is pointed out.
  const showTyped = () => {
    if (index.value.trim() === '') {
      index.setCustomValidity(`a test digit number, 0 to ${mnist.test.images.count - 1}`);
      index.reportValidity();
      return;
    }
    showTest(Number(index.value));
  };
  index.addEventListener('input', () => index.setCustomValidity(''));
  $('sample-show').addEventListener('click', showTyped);
  // Enter, and the field's arrows (a change), show the digit at once.
  index.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') showTyped();
  });
  index.addEventListener('change', () => {
    if (index.value.trim() !== '') showTest(Number(index.value));
  });
  showTest(0);

  // ---- training, save/load ----
  progress.set('train', 'Uploading the training set to the GPU…');
  const trainer = await Trainer.create(rt, model, mnist.train, {
    batchSize: settings.batchSize,
    ...optimizerOptions(settings.optimizer, settings.lr),
    // It shuffles and augments; the loop sets it to gen's state (after the initialisation) at every Reset.
    generator: gen.clone(),
    ...(settings.augment ? { augment: AUGMENTATION } : {}),
    onProgress: (d, t) => progress.set('train', `Compiling the training step: ${d} of ${t} pipelines`, d / t),
  });
  progress.done('train');
  const train = setupTrainPanel(trainer, model, mnist.test, settings, initialWeights, gen, live);
  setupWeightsPanel(model, train, live);
  // A test digit the last test classified wrongly: where a learner sees what the network confuses.
  // The button names that test's step: the weights may have learnt the digit since.
  const mistake = $<HTMLButtonElement>('sample-mistake');
  let wrong: number[] = [];
  train.onEvaluation((step, ev) => {
    wrong = [...ev.predictions.keys()].filter((i) => ev.predictions[i] !== mnist.test.labels[i]);
    mistake.disabled = !wrong.length;
    mistake.textContent = `One it got wrong at step ${step.toLocaleString('en-US')}`;
    const of = `${ev.count.toLocaleString('en-US')} test digits at step ${step.toLocaleString('en-US')}`;
    mistake.title = wrong.length ? `shows one of the ${wrong.length.toLocaleString('en-US')} of the ${of} that the network got wrong` : `the network got all ${of} right`;
  });
  mistake.addEventListener('click', () => showTest(wrong[Math.floor(Math.random() * wrong.length)]!));

  // Accuracy before any training: about one in ten.
  await train.evaluate();
  for (const id of ['train-toggle', 'train-reset', 'save', 'save-pt', 'load']) $<HTMLInputElement>(id).disabled = false;
  document.body.dataset.state = 'ready';
}

main().catch((e: unknown) => {
  progress.clear();
  showError(e, 'starting the demo');
  document.body.dataset.state = 'error';
});

// The demo page: starts WebGPU through fovea, downloads MNIST, compiles the programs, and wires
// the four sections (train, draw, look inside, save/load) together. All GPU work goes through
// one fovea runtime, so the activation maps are drawn from the very buffers it computes.
import { createRuntime, Model, NoAdapterError, SEED_CNN, TorchGenerator, Trainer, type Evaluation, type Runtime, type Tensor } from 'fovea';
import { TrainingCharts } from './charts';
import { DrawPad } from './draw-pad';
import { ExplainView } from './explain-view';
import { InferencePrograms } from './inference';
import { MapRenderer } from './map-renderer';
import { loadMnist, type Mnist } from './mnist';
import { NetworkView, type Selection } from './network-view';
import { greyFromRgba, SIZE, toMnist } from './preprocess';
import { ProbabilityBars } from './probabilities';
import { megabytes, Progress } from './progress';
import { readSettings, watchSettings } from './settings';
import { TrainingLoop } from './training';
import { describeAdapter, showUnavailable, webgpuUnavailable } from './webgpu-check';
import { checkpointBytes, download, loadWeightsFile } from './weights-io';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page lacks #${id}`);
  return e as T;
};

const progress = new Progress($('progress'));

/** Shows an error in the page (not only in the console). */
function showError(e: unknown, where = ''): void {
  const msg = e instanceof Error ? e.message : String(e);
  const el = $('error');
  el.textContent = `${where ? `${where}: ` : ''}${msg}`;
  el.hidden = false;
}

/** The image the network looks at: a drawing or a test digit. */
interface InputImage {
  pixels: Float32Array;
  blank: boolean;
  label?: number;
  /** Names the image ('test:12', 'drawing:3'); the prediction shown is tagged with it. */
  key: string;
}

async function main(): Promise<void> {
  const problem = webgpuUnavailable();
  if (problem) {
    $('adapter').textContent = 'No WebGPU.';
    showUnavailable($('no-webgpu'), problem);
    $('app').hidden = true;
    document.body.dataset.state = 'no-webgpu';
    return;
  }
  progress.set('gpu', 'Starting WebGPU…');
  let rt: Runtime;
  try {
    rt = await createRuntime();
  } catch (e) {
    progress.done('gpu');
    if (!(e instanceof NoAdapterError)) throw e;
    $('adapter').textContent = 'No WebGPU adapter.';
    showUnavailable($('no-webgpu'), 'This browser offers WebGPU, but it found no GPU adapter to run on.', e.message);
    $('app').hidden = true;
    document.body.dataset.state = 'no-webgpu';
    return;
  }
  progress.done('gpu');
  $('adapter').textContent = `Running on ${describeAdapter(rt.adapter)}`;
  void rt.device.lost.then((info) => {
    if (info.reason !== 'destroyed') showError(`the GPU device was lost (${info.message || info.reason}); reload the page`);
  });

  const settings = readSettings();
  // One generator draws the initial weights and then shuffles, exactly as `fovea train --seed 1`.
  const gen = new TorchGenerator(1);
  const model = Model.create(rt, SEED_CNN, { generator: gen });
  const initialWeights = await model.state();

  // The download runs while the inference pipelines compile.
  const data: Promise<Mnist> = loadMnist((r, t) => progress.set('download', `Downloading MNIST: ${megabytes(r, t)}`, r / t));
  data.then(
    () => progress.done('download'),
    () => progress.done('download'),
  );
  const programs = await InferencePrograms.compile(rt, model, (d, t) => progress.set('compile-inference', `Compiling inference pipelines: ${d} of ${t}`, d / t));
  progress.done('compile-inference');

  // ---- draw and look inside ----
  const renderer = new MapRenderer(rt.device);
  const convNames = programs.convs.map((c) => c.layer.name);
  // Each conv block: the conv layer and the layers after it up to the next conv or linear layer.
  const blocks = convNames.map((name) => {
    const i = model.layers.findIndex((l) => l.name === name);
    const names = [name];
    for (const l of model.layers.slice(i + 1)) {
      if (l.type === 'conv2d' || l.type === 'linear' || l.type === 'flatten') break;
      names.push(l.name);
    }
    return names;
  });
  let selection: Selection = { conv: 0, channel: 0 };
  const explain = new ExplainView($('explain'), renderer, programs.convs, blocks, () => requestRefresh());
  const network = new NetworkView(
    $('network'),
    renderer,
    model,
    (s) => {
      selection = s;
      requestRefresh();
    },
    () => requestRefresh(),
  );
  const bars = new ProbabilityBars($('probs'), $('prediction'), $('prediction-note'));
  const preview = $<HTMLCanvasElement>('pad-preview').getContext('2d')!;
  let input: InputImage = { pixels: new Float32Array(SIZE * SIZE), blank: true, key: 'blank' };
  let drawings = 0;
  /** Bumped when the weights are replaced (load, reset); predictions are tagged with it. */
  let weightsVersion = 0;

  const showPreview = (pixels: Float32Array) => {
    const img = new ImageData(SIZE, SIZE);
    for (let i = 0; i < pixels.length; i++) {
      const v = Math.round(pixels[i]! * 255);
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
      img.data[4 * i + 3] = 255;
    }
    preview.putImageData(img, 0, 0);
  };

  let padDirty = false;
  const pad = new DrawPad($<HTMLCanvasElement>('pad'), () => {
    if (padDirty) return;
    padDirty = true;
    requestAnimationFrame(() => {
      padDirty = false;
      const pixels = pad.inked ? toMnist(greyFromRgba(pad.pixels().data, pad.canvas.width, pad.canvas.height)) : new Float32Array(SIZE * SIZE);
      input = { pixels, blank: !pixels.some((v) => v > 0), key: `drawing:${++drawings}` };
      showPreview(pixels);
      requestRefresh();
    });
  });
  $('pad-clear').addEventListener('click', () => pad.clear());

  // One refresh at a time; requests while one runs coalesce into the next.
  let dirty = false;
  let busy = false;
  let lastRefresh = 0;
  function requestRefresh(): void {
    dirty = true;
    if (!busy) void pump();
  }
  async function pump(): Promise<void> {
    busy = true;
    try {
      while (dirty) {
        dirty = false;
        await refresh();
      }
    } catch (e) {
      showError(e, 'drawing the activation maps');
    } finally {
      busy = false;
    }
  }
  async function refresh(): Promise<void> {
    lastRefresh = performance.now();
    const shown = input;
    const version = weightsVersion;
    const x = programs.input;
    rt.device.queue.writeBuffer(x.buffer, x.byteOffset, shown.pixels);
    const outputs: Record<string, Tensor> = programs.run();
    const channels = programs.convs.map((c, i) => (i === selection.conv ? selection.channel : 0));
    const partials = programs.runPartials(channels);
    renderer.render([...network.update(outputs, x), ...explain.update(selection, outputs, x, partials)]);
    // Both reads are enqueued before either is awaited, so they see this run's buffers.
    const logits = outputs.out!.read();
    const details = explain.details(selection, outputs, partials);
    const [values] = await Promise.all([logits, details]);
    bars.show(shown.blank ? undefined : values, shown.label, shown.key);
    $('prediction').dataset.weights = String(version);
  }
  requestRefresh();

  // ---- data, training ----
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
    input = { pixels, blank: false, label: mnist.test.labels[i]!, key: `test:${i}` };
    $<HTMLInputElement>('sample-index').value = String(i);
    showPreview(pixels);
    requestRefresh();
  };
  for (const id of ['sample-random', 'sample-index', 'sample-show']) $<HTMLInputElement>(id).disabled = false;
  $('sample-random').addEventListener('click', () => showTest(Math.floor(Math.random() * mnist.test.images.count)));
  $('sample-show').addEventListener('click', () => showTest(Number($<HTMLInputElement>('sample-index').value)));
  $('sample-index').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') showTest(Number($<HTMLInputElement>('sample-index').value));
  });
  showTest(0);

  progress.set('upload', 'Uploading the training set to the GPU…');
  const trainer = await Trainer.create(rt, model, mnist.train, { batchSize: settings.batchSize, optimizer: 'adam', lr: settings.lr, generator: gen }, (d, t) =>
    progress.set('upload', `Compiling the training step: ${d} of ${t} pipelines`, d / t),
  );
  progress.done('upload');

  const charts = new TrainingCharts($('chart-loss'), $('chart-acc'));
  const stat = (id: string, text: string, value?: number) => {
    const e = $(id);
    e.textContent = text;
    if (value !== undefined) e.dataset.value = String(value);
  };
  let statsDirty = false;
  const showStats = () => {
    if (statsDirty) return;
    statsDirty = true;
    requestAnimationFrame(() => {
      statsDirty = false;
      stat('stat-step', loop.step.toLocaleString('en-US'), loop.step);
      stat('stat-epoch', String(loop.epoch));
      const s = charts.smoothedLoss;
      stat('stat-loss', s === undefined ? '–' : s.toFixed(3), s);
      stat('stat-speed', loop.speed > 0 ? Math.round(loop.speed).toLocaleString('en-US') : '–', loop.speed);
    });
  };
  let firstLoss: number | undefined;
  const onEvaluation = (step: number, ev: Evaluation) => {
    charts.addAccuracy(step, ev.accuracy);
    stat('stat-acc', `${(ev.accuracy * 100).toFixed(1)}% of ${ev.count.toLocaleString('en-US')}`, ev.accuracy);
  };
  const toggle = $<HTMLButtonElement>('train-toggle');
  const loop = new TrainingLoop(trainer, model, mnist.test, settings, initialWeights, {
    loss(step, loss) {
      firstLoss ??= loss;
      $('stat-loss').dataset.first = String(firstLoss);
      charts.addLoss(step, loss);
    },
    evaluation: onEvaluation,
    progress() {
      showStats();
      if (performance.now() - lastRefresh > 400) requestRefresh();
    },
    status: (text) => ($('train-status').textContent = text),
    stopped(error) {
      toggle.textContent = 'Start training';
      showStats();
      requestRefresh();
      if (error) showError(error, 'training');
    },
  });
  watchSettings(settings);

  const evaluateNow = async () => {
    try {
      await loop.evaluate();
    } catch (e) {
      showError(e, 'testing');
    }
  };
  toggle.addEventListener('click', async () => {
    if (loop.running) {
      toggle.disabled = true;
      await loop.pause();
      toggle.disabled = false;
    } else {
      toggle.textContent = 'Pause';
      loop.start();
    }
  });
  $('train-reset').addEventListener('click', async () => {
    const reset = $<HTMLButtonElement>('train-reset');
    reset.disabled = toggle.disabled = true;
    try {
      await loop.reset();
      weightsVersion++;
      charts.clear();
      firstLoss = undefined;
      stat('stat-loss', '–');
      stat('stat-acc', '–');
      showStats();
      requestRefresh();
      await evaluateNow();
    } catch (e) {
      showError(e, 'reset');
    } finally {
      reset.disabled = toggle.disabled = false;
    }
  });

  // ---- save and load ----
  const weightsStatus = $('weights-status');
  $('save').addEventListener('click', async () => {
    const wasRunning = loop.running;
    try {
      // Paused, so every tensor comes from the same step.
      await loop.pause();
      download(await checkpointBytes(model), `fovea-mnist-step${loop.step}.safetensors`);
      weightsStatus.textContent = `Saved the weights after step ${loop.step}.`;
      weightsStatus.className = 'status';
    } catch (e) {
      weightsStatus.textContent = `Could not save: ${(e as Error).message}`;
      weightsStatus.className = 'status bad';
    } finally {
      if (wasRunning) {
        toggle.textContent = 'Pause';
        loop.start();
      }
    }
  });
  const loadFile = async (file: File) => {
    weightsStatus.textContent = `Loading ${file.name}…`;
    weightsStatus.className = 'status';
    try {
      await loop.pause();
      const { tensors, values } = await loadWeightsFile(model, file);
      loop.resetOptimizer();
      weightsVersion++;
      weightsStatus.dataset.version = String(weightsVersion);
      weightsStatus.textContent = `Loaded ${file.name}: ${tensors} tensors, ${values.toLocaleString('en-US')} weights. The optimizer starts afresh from them.`;
      weightsStatus.dataset.loaded = file.name;
      requestRefresh();
      await evaluateNow();
    } catch (e) {
      weightsStatus.textContent = (e as Error).message;
      weightsStatus.className = 'status bad';
      weightsStatus.dataset.loaded = '';
    }
  };
  const fileInput = $<HTMLInputElement>('load');
  fileInput.addEventListener('change', () => {
    const f = fileInput.files?.[0];
    fileInput.value = '';
    if (f) void loadFile(f);
  });
  const drop = $('weights');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('drop');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('drop'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('drop');
    const f = e.dataTransfer?.files[0];
    if (f) void loadFile(f);
  });

  // Accuracy before any training: about one in ten.
  await evaluateNow();
  for (const id of ['train-toggle', 'train-reset', 'save', 'load']) $<HTMLInputElement>(id).disabled = false;
  document.body.dataset.state = 'ready';
}

main().catch((e: unknown) => {
  progress.done('gpu');
  showError(e, 'starting the demo');
  document.body.dataset.state = 'error';
});

// The "Save or load" section: download the weights, load a file (picker or drag and drop),
// with every problem reported in the page.
import { serializeModel, type Model } from 'fovea';
import { $ } from './dom';
import type { LiveView } from './live-view';
import type { TrainPanel } from './train-panel';
import { download, loadWeightsFile } from './weights-io';

export function setupWeightsPanel(model: Model, train: TrainPanel, live: LiveView): void {
  const { loop } = train;
  const status = $('weights-status');
  /** The step whose saving the status reports, until training goes on. */
  let saved: number | undefined;
  const say = (text: string, bad = false) => {
    status.textContent = text;
    status.className = bad ? 'status bad' : 'status';
    saved = undefined;
  };
  train.onStep(() => {
    if (saved !== undefined) say(`Saved the weights of step ${saved}; training has gone on since.`);
  });
  train.onReset(() => {
    say('Back to the initial weights.');
    status.dataset.loaded = ''; // weights loaded before are gone
  });
  $('save').addEventListener('click', async () => {
    say('Saving… (once the step in flight is done)');
    try {
      // Paused, so every tensor comes from the same step (training may go on before the download).
      const { bytes, step } = await loop.whilePaused(async () => ({ bytes: await serializeModel(model), step: loop.step }));
      download(bytes, `fovea-mnist-step${step}.safetensors`);
      say(`Saved the weights after step ${step}.`);
      saved = step;
    } catch (e) {
      say(`Could not save: ${(e as Error).message}`, true);
    }
  });

  const load = async (file: File) => {
    say(`Loading ${file.name}…`);
    try {
      // Training pauses for the load and the test after it, then goes on if it was running.
      await loop.whilePaused(async () => {
        const { tensors, values } = await loadWeightsFile(model, file);
        loop.resetOptimizer();
        status.dataset.version = String(live.weightsChanged());
        status.dataset.loaded = file.name;
        say(`Loaded ${file.name}: ${tensors} tensors, ${values.toLocaleString('en-US')} weights. Training ${loop.wanted ? 'continues' : 'will start'} from them with a fresh optimizer.`);
        await train.testNow();
      });
    } catch (e) {
      status.dataset.loaded = '';
      say((e as Error).message, true);
    }
  };
  const input = $<HTMLInputElement>('load');
  input.addEventListener('change', () => {
    const f = input.files?.[0];
    input.value = '';
    if (f) void load(f);
  });
  const box = $('weights');
  box.addEventListener('dragover', (e) => {
    e.preventDefault();
    box.classList.add('drop');
  });
  box.addEventListener('dragleave', () => box.classList.remove('drop'));
  box.addEventListener('drop', (e) => {
    e.preventDefault();
    box.classList.remove('drop');
    const f = e.dataTransfer?.files[0];
    if (f && !input.disabled) void load(f); // not before the page is ready, as the picker
  });
}

// The "Save or load" section: download the weights, load a file (picker or drag and drop),
// with every problem reported in the page.
import { serializeModel, type CheckpointFormat, type Model } from 'fovea';
import { $ } from './dom';
import type { LiveView } from './live-view';
import type { TrainPanel } from './train-panel';
import { download, loadWeightsFile } from './weights-io';

/**
 * The download's name: the step of a run from the initial weights, or, after a load (the step
 * counts from it), the file's name and the steps since; .pt for torch.save's format.
 */
export function savedName(step: number, loaded?: string, format: CheckpointFormat = 'safetensors'): string {
  const ext = format === 'torch' ? 'pt' : 'safetensors';
  if (!loaded) return `fovea-mnist-step${step}.${ext}`;
  const stem = loaded.replace(/\.(safetensors|pth?)$/i, '');
  return `${stem}-plus-${step}-steps.${ext}`;
}

export function setupWeightsPanel(model: Model, train: TrainPanel, live: LiveView): void {
  const { loop } = train;
  const status = $('weights-status');
  /** The step whose saving the status reports, until training goes on. */
  let saved: number | undefined;
  /** The file the weights were last loaded from (the step counts from it), until a Reset. */
  let origin: string | undefined;
  /** Whether the status says what a load did, until training goes on. */
  let loadedSaid = false;
  /** Whether the status says that Reset brought back the initial weights, until training goes on. */
  let resetSaid = false;
  const say = (text: string, bad = false) => {
    status.textContent = text;
    status.className = bad ? 'status bad' : 'status';
    saved = undefined;
    loadedSaid = false;
    resetSaid = false;
  };
  train.onStep(() => {
    if (saved !== undefined) say(`Saved the weights of step ${saved}; training has gone on since.`);
    else if (loadedSaid && origin) say(`Loaded ${origin}; training has gone on from it since.`);
    else if (resetSaid) say('Back to the initial weights; training has gone on from them since.');
  });
  train.onReset(() => {
    say('Back to the initial weights.');
    resetSaid = true;
    origin = undefined;
    status.dataset.loaded = ''; // weights loaded before are gone
  });
  const save = async (format: CheckpointFormat) => {
    say('Saving… (once the step in flight is done)');
    try {
      // Paused, so every tensor comes from the same step (training may go on before the download).
      const { bytes, step, from } = await loop.whilePaused(async () => ({ bytes: await serializeModel(model, format), step: loop.step, from: origin }));
      download(bytes, savedName(step, from, format));
      say(`Saved the weights after step ${step}${from ? ` from ${from}` : ''}.`);
      saved = step;
    } catch (e) {
      say(`Could not save: ${(e as Error).message}`, true);
    }
  };
  $('save').addEventListener('click', () => void save('safetensors'));
  $('save-pt').addEventListener('click', () => void save('torch'));

  const load = async (file: File) => {
    say(`Loading ${file.name}…`);
    try {
      // Training pauses for the load and the test after it, then goes on if it was running.
      await loop.whilePaused(async () => {
        const { tensors, values } = await loadWeightsFile(model, file);
        train.startOver();
        status.dataset.version = String(live.weightsChanged(false));
        status.dataset.loaded = origin = file.name;
        say(`Loaded ${file.name}: ${tensors} tensors, ${values.toLocaleString('en-US')} weights. Training ${loop.wanted ? 'starts over' : 'will start'} from them at step 0, with a fresh optimizer.`);
        loadedSaid = true;
        await train.testNow();
      });
    } catch (e) {
      status.dataset.loaded = '';
      // Everything is checked before a weight is written (loadWeightsFile).
      const why = (e as Error).message.trimEnd();
      say(`${why}${/[.!?]$/.test(why) ? '' : '.'} The weights in the page are unchanged.`, true);
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

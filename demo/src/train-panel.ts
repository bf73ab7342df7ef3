// The "Train" section: start/pause and reset buttons, the statistics (step, epoch, average
// loss, samples/s, test accuracy) and the charts, driven by the training loop's events.
import type { Evaluation, LabelledImages, Model, TorchGenerator, Trainer } from 'fovea';
import { TrainingCharts } from './charts';
import { $, clearError, showError, stat } from './dom';
import type { LiveView } from './live-view';
import { watchSettings } from './settings';
import { TrainingLoop, type TrainingSettings } from './training';

/** Refresh the activation maps at most this often while training (ms). */
const REFRESH_MS = 400;

export interface TrainPanel {
  loop: TrainingLoop;
  /** Tests the current weights once no other work holds them (errors shown in the page). */
  evaluate(): Promise<void>;
  /** The same, now: for work that already holds training (inside loop.whilePaused). */
  testNow(): Promise<void>;
  /**
   * A new run from the weights the model holds now: step 0, a fresh optimizer, the charts and
   * numbers cleared. For work that holds training (inside loop.whilePaused) and replaced them.
   */
  startOver(): void;
  /** Calls `fn` after each reset to the initial weights. */
  onReset(fn: () => void): void;
  /** Calls `fn` after each step's loss is known. */
  onStep(fn: (step: number) => void): void;
  /** Calls `fn` with each test's results (the predictions of the first test images, in order). */
  onEvaluation(fn: (step: number, ev: Evaluation) => void): void;
}

export function setupTrainPanel(
  trainer: Trainer,
  model: Model,
  test: LabelledImages,
  settings: TrainingSettings,
  initialWeights: Map<string, { shape: number[]; data: Float32Array }>,
  shuffleStart: TorchGenerator,
  live: LiveView,
): TrainPanel {
  const charts = new TrainingCharts($('chart-loss'), $('chart-acc'));
  const resetListeners: (() => void)[] = [];
  const stepListeners: ((step: number) => void)[] = [];
  const evaluationListeners: ((step: number, ev: Evaluation) => void)[] = [];
  const toggle = $<HTMLButtonElement>('train-toggle');
  const resetButton = $<HTMLButtonElement>('train-reset');
  let firstLoss: number | undefined;
  let statsDirty = false;
  const writeStats = () => {
    stat('stat-step', loop.step.toLocaleString('en-US'), loop.step);
    stat('stat-epoch', String(loop.epoch));
    const s = charts.smoothedLoss;
    stat('stat-loss', s === undefined ? '–' : s.toFixed(3), s);
    const speed = loop.wanted ? loop.speed : 0; // while paused, none
    stat('stat-speed', speed > 0 ? Math.round(speed).toLocaleString('en-US') : '–', speed);
    // A test every evalEvery steps: while training, when the next comes (on a slow adapter the
    // first is minutes away, and the accuracy shown until then is the untrained network's).
    const every = settings.evalEvery;
    const next = `next test at step ${((Math.floor(loop.step / every) + 1) * every).toLocaleString('en-US')}`;
    const note = $('stat-acc-next');
    if (note.textContent !== (loop.wanted ? next : '')) note.textContent = loop.wanted ? next : '';
  };
  // While training, at most once a frame.
  const showStats = () => {
    if (statsDirty) return;
    statsDirty = true;
    requestAnimationFrame(() => {
      statsDirty = false;
      writeStats();
    });
  };
  const loop = new TrainingLoop(trainer, model, test, settings, initialWeights, shuffleStart, {
    loss(step, loss) {
      firstLoss ??= loss;
      $('stat-loss').dataset.first = String(firstLoss);
      charts.addLoss(step, loss);
      live.untrained = false;
      for (const fn of stepListeners) fn(step);
    },
    settingsChanged: (step, what) => charts.mark(step, what),
    evaluation(step: number, ev: Evaluation) {
      charts.addAccuracy(step, ev.accuracy);
      // The step says how old it is: tests run every N steps.
      stat('stat-acc', `${(ev.accuracy * 100).toFixed(1)}% of ${ev.count.toLocaleString('en-US')} at step ${step.toLocaleString('en-US')}`, ev.accuracy);
      $('stat-acc').dataset.step = String(step);
      for (const fn of evaluationListeners) fn(step, ev);
    },
    progress: showStats,
    status: (text) => ($('train-status').textContent = text),
    // Refreshes go between steps, not behind queued ones: a new image or a click waits for the
    // steps in flight only. The maps follow the weights as they learn, at most every REFRESH_MS.
    beforeStep() {
      if (performance.now() - live.lastRefresh > REFRESH_MS) live.requestRefresh();
      return live.refreshed();
    },
    stopped(error) {
      showButtons();
      writeStats(); // now, with the buttons: a paused page shows no speed from its first frame
      live.requestRefresh();
      if (error) showError(error, 'training');
    },
  });
  watchSettings(settings);

  // The run's numbers and charts, once the weights are replaced (Reset, Load).
  const forgetRun = () => {
    clearError('training'); // e.g. "training diverged … press Reset": the loop has stopped by now
    charts.clear();
    firstLoss = undefined;
    stat('stat-acc', '–');
    writeStats(); // now: a Reset's test may take no time (the initial weights' is known)
  };
  const testNow = async () => {
    try {
      await loop.stoppableTest();
    } catch (e) {
      showError(e, 'testing');
    }
  };
  // The toggle shows what the user asked for ("Pausing…" until the step in flight is done); it
  // waits while a pause or a reset is under way, and Reset while a reset is.
  let pausing = false;
  let resetting = false;
  // A focused button that is disabled loses the focus to the page: it gets it back once enabled
  // (unless the user has moved on), so Enter or Space can press it again.
  let refocus: HTMLButtonElement | undefined;
  const showButtons = () => {
    toggle.textContent = pausing ? 'Pausing…' : loop.wanted ? 'Pause' : loop.step > 0 && !resetting ? 'Resume training' : 'Start training';
    for (const [button, off] of [[toggle, pausing || resetting], [resetButton, resetting]] as const) {
      if (off && document.activeElement === button) refocus = button;
      button.disabled = off;
    }
    if (refocus && !refocus.disabled) {
      if (document.activeElement === document.body || document.activeElement === null) refocus.focus();
      refocus = undefined;
    }
  };
  toggle.addEventListener('click', async () => {
    if (loop.wanted) {
      pausing = true;
      showButtons();
      await loop.pause();
      pausing = false;
    } else {
      loop.start();
    }
    showButtons();
  });
  resetButton.addEventListener('click', async () => {
    resetting = true;
    // Training stops at once (the toggle then offers Start), the weights once the step in flight is done.
    const reset = loop.reset(async () => {
      live.weightsChanged(true);
      for (const fn of resetListeners) fn();
      forgetRun();
      await testNow(); // the initial weights, at step 0, before a load or a step can change them
    });
    showButtons();
    try {
      await reset;
    } catch (e) {
      showError(e, 'reset');
    } finally {
      resetting = false;
      showButtons();
    }
  });
  const startOver = () => {
    loop.startOver();
    forgetRun();
    showButtons(); // at step 0: Start, not Resume
  };
  return { loop, evaluate: () => loop.whilePaused(testNow), testNow, startOver, onReset: (fn) => resetListeners.push(fn), onStep: (fn) => stepListeners.push(fn), onEvaluation: (fn) => evaluationListeners.push(fn) };
}

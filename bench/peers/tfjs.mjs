// Peer benchmark: the seed CNN trained with TensorFlow.js 4.22 on its WebGPU backend, in Node on
// Dawn. The model is written with tfjs-core ops in NHWC (TF.js's native layout); the fc weights
// are permuted once at init so that the model is exactly the PyTorch NCHW model with the same
// initial parameters. Optimiser: tf.train.adam, whose update is PyTorch's formula (bias-corrected
// moments, eps added to sqrt(v̂)). Usage and output: see README.md.

import { BATCH, evaluate, initParams, installDawn, loadMnist, log, parseFlags, report, runProtocol } from './common.mjs';

const PEER = 'tfjs-webgpu 4.22';

/** [O, I, KH, KW] (PyTorch) → [KH, KW, I, O] (TF.js conv2d filter). */
function convFilter(w, O, I, K) {
  const out = new Float32Array(w.length);
  for (let o = 0; o < O; o++)
    for (let i = 0; i < I; i++)
      for (let kh = 0; kh < K; kh++)
        for (let kw = 0; kw < K; kw++) out[((kh * K + kw) * I + i) * O + o] = w[((o * I + i) * K + kh) * K + kw];
  return out;
}

/** fc [10, 1568] with inputs in (c, h, w) order → [1568, 10] with inputs in NHWC (h, w, c) order. */
function fcWeight(w) {
  const out = new Float32Array(w.length);
  for (let o = 0; o < 10; o++)
    for (let c = 0; c < 32; c++)
      for (let hw = 0; hw < 49; hw++) out[(hw * 32 + c) * 10 + o] = w[o * 1568 + c * 49 + hw];
  return out;
}

async function main() {
  const flags = parseFlags();
  const dawn = await installDawn();
  const tf = await import('@tensorflow/tfjs-core');
  // NOTE: tfjs-core's Node bundle registers no gradients (its register_all_gradients.js uses
  // extensionless ESM imports Node cannot load); tfjs-layers' Node bundle registers them all.
  await import('@tensorflow/tfjs-layers');
  await import('@tensorflow/tfjs-backend-webgpu'); // registers the 'webgpu' backend
  if (!(await tf.setBackend('webgpu'))) throw new Error('TF.js could not initialise its webgpu backend');
  await tf.ready();
  log(`${PEER} on ${dawn.adapter}; backend ${tf.getBackend()}`);

  const data = loadMnist();
  const p = initParams();
  const v = {
    w1: tf.variable(tf.tensor4d(convFilter(p.conv1.w, 16, 1, 5), [5, 5, 1, 16]), true, 'w1'),
    b1: tf.variable(tf.tensor1d(p.conv1.b), true, 'b1'),
    w2: tf.variable(tf.tensor4d(convFilter(p.conv2.w, 32, 16, 5), [5, 5, 16, 32]), true, 'w2'),
    b2: tf.variable(tf.tensor1d(p.conv2.b), true, 'b2'),
    w3: tf.variable(tf.tensor2d(fcWeight(p.fc.w), [1568, 10]), true, 'w3'),
    b3: tf.variable(tf.tensor1d(p.fc.b), true, 'b3'),
  };
  const varList = Object.values(v);
  const opt = tf.train.adam(0.001, 0.9, 0.999, 1e-8);

  const forward = (x) => {
    // 'same' with a 5×5 kernel at stride 1 pads 2 on every side, as PyTorch's padding=2.
    let h = tf.relu(tf.add(tf.conv2d(x, v.w1, 1, 'same'), v.b1));
    h = tf.maxPool(h, 2, 2, 'valid');
    h = tf.relu(tf.add(tf.conv2d(h, v.w2, 1, 'same'), v.b2));
    h = tf.maxPool(h, 2, 2, 'valid');
    return tf.add(tf.matMul(tf.reshape(h, [-1, 1568]), v.w3), v.b3);
  };

  const peer = {
    async step({ x, y }, { read }) {
      const loss = tf.tidy(() => {
        const xs = tf.tensor4d(x, [BATCH, 28, 28, 1]);
        const ys = tf.oneHot(tf.tensor1d(y, 'int32'), 10);
        // softmaxCrossEntropy's default reduction is the mean over the batch.
        return opt.minimize(() => tf.losses.softmaxCrossEntropy(ys, forward(xs)), true, varList);
      });
      // Reading the loss submits and waits for everything queued so far, the update included.
      const value = read ? (await loss.data())[0] : undefined;
      loss.dispose();
      return value;
    },
    async predict(x, n) {
      const pred = tf.tidy(() => tf.argMax(forward(tf.tensor4d(x, [n, 28, 28, 1])), 1));
      const out = await pred.data();
      pred.dispose();
      return out;
    },
  };

  const t0 = performance.now();
  const res = await runProtocol(peer, flags, data);
  log(`training wall time ${((performance.now() - t0) / 1000).toFixed(1)} s for ${res.steps} steps`);
  const testAccuracy = flags.eval ? await evaluate(peer, data) : null;

  report(PEER, dawn.adapter, res, testAccuracy);

  opt.dispose();
  tf.disposeVariables();
  const backend = tf.backend();
  tf.removeBackend('webgpu'); // disposes the backend
  backend.device?.destroy();
  dawn.release();
}

await main();

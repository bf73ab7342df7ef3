// Peer benchmark: the seed CNN trained with @jax-js/jax 0.1.25 on its webgpu device, in Node on
// Dawn. NCHW as PyTorch. One jit-compiled training step (loss, gradients and Adam update fused
// by jax-js's compiler). @jax-js/optax is not on npm, so Adam is written here with array ops,
// PyTorch's formula. jax-js is lazy: every timed output is forced at the end of each window.
// Usage and output: see README.md.

import { BATCH, evaluate, initParams, installDawn, loadMnist, log, parseFlags, report, runProtocol } from './common.mjs';

const PEER = 'jax-js 0.1.25';
const ADAM = { lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

async function main() {
  const flags = parseFlags();
  const dawn = await installDawn();
  const jax = await import('@jax-js/jax');
  const { numpy: np, lax, nn, tree, jit, valueAndGrad } = jax;
  const devices = await jax.init('webgpu');
  if (!devices.includes('webgpu')) throw new Error(`jax-js found no webgpu device (got ${devices})`);
  jax.defaultDevice('webgpu');
  log(`${PEER} on ${dawn.adapter}; device ${jax.defaultDevice()}`);

  const data = loadMnist();
  const p0 = initParams();
  const f32 = (a, shape) => np.array(a).reshape(shape);
  // fc weight stored as [1568, 10] (PyTorch's [10, 1568] transposed) so that forward is x·W.
  const fcT = new Float32Array(1568 * 10);
  for (let o = 0; o < 10; o++) for (let i = 0; i < 1568; i++) fcT[i * 10 + o] = p0.fc.w[o * 1568 + i];
  let params = {
    w1: f32(p0.conv1.w, [16, 1, 5, 5]),
    b1: f32(p0.conv1.b, [16]),
    w2: f32(p0.conv2.w, [32, 16, 5, 5]),
    b2: f32(p0.conv2.b, [32]),
    w3: f32(fcT, [1568, 10]),
    b3: f32(p0.fc.b, [10]),
  };
  let m = tree.map((p) => np.zeros(p.shape), params);
  let v = tree.map((p) => np.zeros(p.shape), params);

  const maxPool2 = (x) => lax.reduceWindow(x, np.max, [2, 2], [2, 2]);
  const pad2 = [[2, 2], [2, 2]];
  const forward = (p, x) => {
    let h = lax.convGeneralDilated(x, p.w1, [1, 1], pad2).add(p.b1.reshape([16, 1, 1]));
    h = maxPool2(nn.relu(h)); // [N, 16, 14, 14]
    h = lax.convGeneralDilated(h, p.w2, [1, 1], pad2).add(p.b2.reshape([32, 1, 1]));
    h = maxPool2(nn.relu(h)); // [N, 32, 7, 7]
    return np.dot(h.reshape([-1, 1568]), p.w3).add(p.b3); // flatten in (c, h, w) order
  };
  const lossFn = (p, x, y) => {
    // Softmax cross-entropy, mean over the batch.
    const n = y.shape[0];
    return nn.logSoftmax(forward(p, x)).mul(nn.oneHot(y, 10)).sum().mul(-1 / n);
  };

  // NOTE: PyTorch's Adam: step_size = lr / (1 − β1^t), denom = sqrt(v) / sqrt(1 − β2^t) + eps.
  // Both bias corrections are computed on the host per step and passed in as scalars.
  const trainStep = jit((p, m, v, x, y, stepSize, invSqrtBc2) => {
    const [loss, g] = valueAndGrad(lossFn)(tree.ref(p), x, y);
    const next = { p: {}, m: {}, v: {} };
    for (const k of Object.keys(p)) {
      const gk = g[k];
      const mk = m[k].mul(ADAM.beta1).add(gk.ref.mul(1 - ADAM.beta1));
      const vk = v[k].mul(ADAM.beta2).add(gk.ref.mul(gk).mul(1 - ADAM.beta2));
      const denom = np.sqrt(vk.ref).mul(invSqrtBc2.ref).add(ADAM.eps);
      next.p[k] = p[k].sub(mk.ref.mul(stepSize.ref).div(denom));
      next.m[k] = mk;
      next.v[k] = vk;
    }
    stepSize.dispose();
    invSqrtBc2.dispose();
    return [loss, next.p, next.m, next.v];
  });
  const predict = jit((p, x) => np.argmax(forward(p, x), 1));

  let t = 0;
  let pending = []; // losses of the current window, read (forced) at its end
  const peer = {
    async step({ x, y }, { read }) {
      t++;
      const stepSize = np.array(ADAM.lr / (1 - ADAM.beta1 ** t));
      const invSqrtBc2 = np.array(1 / Math.sqrt(1 - ADAM.beta2 ** t));
      const xs = np.array(x).reshape([BATCH, 1, 28, 28]);
      const ys = np.array(y, { dtype: np.int32 });
      let loss;
      [loss, params, m, v] = trainStep(params, m, v, xs, ys, stepSize, invSqrtBc2);
      pending.push(loss);
      if (!read) return undefined;
      // Force everything the window computed: the new parameters and Adam moments, and every
      // step's loss (stacked into one array so that it is a single read-back).
      await jax.blockUntilReady([params, m, v]);
      const losses = await np.stack(pending).data();
      pending = [];
      return losses[losses.length - 1];
    },
    async predict(x, n) {
      const pred = predict(tree.ref(params), np.array(x).reshape([n, 1, 28, 28]));
      return await pred.data();
    },
  };

  const t0 = performance.now();
  const res = await runProtocol(peer, flags, data);
  log(`training wall time ${((performance.now() - t0) / 1000).toFixed(1)} s for ${res.steps} steps`);
  const testAccuracy = flags.eval ? await evaluate(peer, data) : null;

  report(PEER, dawn.adapter, res, testAccuracy);

  tree.dispose([params, m, v]);
  trainStep.dispose?.();
  predict.dispose?.();
  jax.getWebGPUDevice().destroy();
  dawn.release();
}

await main();

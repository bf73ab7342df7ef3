// Models: the seed CNN's parameter names, shapes and PyTorch-identical initialisation, spec
// validation with field paths, shape checking through the model, and checkpoint loading.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { add, backward, createRuntime, DeviceLimitError, FileFormatError, grad, inferLayers, Model, mul, parseModelSpec, SEED_CNN, SGD, ShapeError, softmaxCrossEntropy, SpecError, sum } from '../src/index.js';
import { parseModelSpecJson, type LayerSpec, type ModelSpec } from '../src/model/spec.js';
import { TorchGenerator } from '../src/model/random.js';
import { f32, expectClose, expectSame, Rng, thrown, useRuntime } from './helpers.js';
import { refDropoutKeep } from './references.js';
import { SEED_CNN_PY, torchJson } from './oracle.js';

const rt = useRuntime();

describe('the seed CNN', () => {
  it('has the PyTorch state_dict keys and shapes', () => {
    const m = Model.create(rt());
    expect([...m.parameters].map(([k, t]) => [k, t.shape])).toEqual([
      ['conv1.0.weight', [16, 1, 5, 5]],
      ['conv1.0.bias', [16]],
      ['conv2.0.weight', [32, 16, 5, 5]],
      ['conv2.0.bias', [32]],
      ['out.weight', [10, 1568]],
      ['out.bias', [10]],
    ]);
    expect(m.outputShape).toEqual([10]);
    expect(m.layers.map((l) => l.outputShape)).toEqual([[16, 28, 28], [16, 28, 28], [16, 14, 14], [32, 14, 14], [32, 14, 14], [32, 7, 7], [1568], [10]]);
    expect(m.summary()).toContain('28938 parameters');
  });

  it('initialises exactly as torch.manual_seed(1); CNN() does', async () => {
    const torch = torchJson<Record<string, number[]>>(`${SEED_CNN_PY}
import json
torch.manual_seed(1)
print(json.dumps({k: v.flatten().tolist() for k, v in CNN().state_dict().items()}))`);
    const m = Model.create(rt(), SEED_CNN, { seed: 1 });
    for (const [name, t] of m.parameters) {
      expect(Array.from(await t.read()), name).toEqual(Array.from(f32(torch[name]!)));
    }
  });

  it("gives the Hessian-vector product of its loss as PyTorch's double backward does", async () => {
    // H·v = ∂(Σ ∂L/∂θ · v)/∂θ over all six parameters, through both convolutions, ReLUs,
    // max-pools, the linear layer and the cross-entropy; the same init (torch.manual_seed(1)).
    // Worst seen: 9.5e-7 (out.weight; normwise, per parameter).
    const rng = new Rng(8);
    const B = 3;
    const xs = rng.array(B * 784, 0, 1);
    const labels = Int32Array.of(3, 7, 1);
    const m = Model.create(rt(), SEED_CNN, { seed: 1 });
    const params = [...m.parameters.values()];
    const vs = params.map((p) => rng.array(p.size));
    const torch = torchJson<number[][]>(`${SEED_CNN_PY}
import json, sys
d = json.load(sys.stdin)
torch.manual_seed(1)
m = CNN()
params = list(m.parameters())
loss = torch.nn.functional.cross_entropy(m(torch.tensor(d['x']).reshape(${B}, 1, 28, 28)), torch.tensor(d['labels']))
gs = torch.autograd.grad(loss, params, create_graph=True)
hv = torch.autograd.grad(sum((g * torch.tensor(v).reshape(g.shape)).sum() for g, v in zip(gs, d['v'])), params)
print(json.dumps([h.flatten().tolist() for h in hv]))`, JSON.stringify({ x: Array.from(f32(xs)), labels: Array.from(labels), v: vs.map((v) => Array.from(f32(v))) }));
    const loss = softmaxCrossEntropy(m.forward(rt().tensor(f32(xs), [B, 1, 28, 28])), rt().tensor(labels, [B]));
    const gs = grad(loss, params);
    const gv = gs.map((g, k) => sum(mul(g!, rt().tensor(f32(vs[k]!), params[k]!.shape)))).reduce((a, b) => add(a, b));
    const hv = grad(gv, params);
    for (const [k, name] of [...m.parameters.keys()].entries()) expectClose(await hv[k]!.read(), torch[k]!, 1e-5, `H·v, ${name}`);
  });

  it('shuffles each epoch as a PyTorch DataLoader seeded the same way', () => {
    const torch = torchJson<number[][]>(`${SEED_CNN_PY}
import json, torch.utils.data as data
torch.manual_seed(1)
CNN()
loader = data.DataLoader(data.TensorDataset(torch.arange(1000)), batch_size=50, shuffle=True)
print(json.dumps([torch.cat([b[0] for b in loader]).tolist() for _ in range(3)]))`);
    const g = new TorchGenerator(1);
    Model.create(rt(), SEED_CNN, { generator: g });
    // A clone taken after the initialisation replays the same epochs, independently.
    const again = g.clone();
    // Whole epochs: the last samples come from the permutation's last swaps.
    for (let e = 0; e < 3; e++) expect(Array.from(g.epochPermutation(1000)), `epoch ${e}`).toEqual(torch[e]);
    for (let e = 0; e < 3; e++) expect(Array.from(again.epochPermutation(1000)), `epoch ${e} (clone)`).toEqual(torch[e]);
  });

  it('draws randperm as torch.randperm does, down to its last swap', () => {
    const sizes = [2, 3, 10, 1000];
    const torch = torchJson<number[][]>(`import json, torch
g = torch.Generator()
g.manual_seed(7)
print(json.dumps([torch.randperm(n, generator=g).tolist() for n in ${JSON.stringify(sizes)}]))`);
    const g = new TorchGenerator(7);
    for (const [i, n] of sizes.entries()) expect(Array.from(g.randperm(n)), `randperm(${n})`).toEqual(torch[i]);
  });
});

describe('activation layers', () => {
  it('sigmoid and tanh layers compute as nn.Sigmoid and nn.Tanh in a torch model of the same seed, gradients too', async () => {
    const torch = torchJson<{ y: number[]; grads: Record<string, number[]> }>(`import json, torch, torch.nn as nn
torch.manual_seed(3)
m = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3), nn.Sigmoid())
x = torch.linspace(-3, 3, 10).reshape(2, 5)
y = m(x)
(y * torch.tensor([1.0, -2.0, 0.5])).sum().backward()
print(json.dumps({"y": y.flatten().tolist(), "grads": {k: p.grad.flatten().tolist() for k, p in m.named_parameters()}}))`);
    const spec = { input: [5], layers: [{ type: 'linear', outFeatures: 7 }, { type: 'tanh' }, { type: 'linear', outFeatures: 3 }, { type: 'sigmoid' }] } as const;
    const m = Model.create(rt(), parseModelSpec(spec), { seed: 3 });
    expect(m.layers.map((l) => l.type)).toEqual(['linear', 'tanh', 'linear', 'sigmoid']);
    const x = rt().tensor(f32(Array.from({ length: 10 }, (_, i) => -3 + (6 * i) / 9)), [2, 5]);
    const y = m.forward(x);
    expectClose(await y.read(), torch.y, 1e-6, 'output');
    backward(sum(mul(y, rt().tensor([1, -2, 0.5]))));
    for (const [name, p] of m.parameters) expectClose(await p.grad!.read(), torch.grads[name]!, 1e-5, `${name} gradient`);
  });

  it('a leakyrelu layer computes as nn.LeakyReLU in a torch model of the same seed, gradients too', async () => {
    const torch = torchJson<{ y: number[]; grads: Record<string, number[]> }>(`import json, torch, torch.nn as nn
torch.manual_seed(4)
m = nn.Sequential(nn.Linear(6, 9), nn.LeakyReLU(), nn.Linear(9, 4), nn.LeakyReLU(0.3))
x = torch.linspace(-3, 3, 18).reshape(3, 6)
y = m(x)
(y * torch.tensor([1.0, -2.0, 0.5, 3.0])).sum().backward()
print(json.dumps({"y": y.flatten().tolist(), "grads": {k: p.grad.flatten().tolist() for k, p in m.named_parameters()}}))`);
    const spec = { input: [6], layers: [{ type: 'linear', outFeatures: 9 }, { type: 'leakyrelu' }, { type: 'linear', outFeatures: 4 }, { type: 'leakyrelu', negativeSlope: 0.3 }] } as const;
    const m = Model.create(rt(), parseModelSpec(spec), { seed: 4 });
    const x = rt().tensor(f32(Array.from({ length: 18 }, (_, i) => -3 + (6 * i) / 17)), [3, 6]);
    const y = m.forward(x);
    expectClose(await y.read(), torch.y, 1e-6, 'output');
    backward(sum(mul(y, rt().tensor([1, -2, 0.5, 3]))));
    for (const [name, p] of m.parameters) expectClose(await p.grad!.read(), torch.grads[name]!, 1e-5, `${name} gradient`);
  });

  it('a glu layer computes as nn.GLU in a torch model of the same seed, gradients too', async () => {
    const torch = torchJson<{ y: number[]; grads: Record<string, number[]> }>(`import json, torch, torch.nn as nn
torch.manual_seed(12)
m = nn.Sequential(nn.Linear(6, 8), nn.GLU(), nn.Linear(4, 3))
x = torch.linspace(-3, 3, 18).reshape(3, 6)
y = m(x)
(y * torch.tensor([1.0, -2.0, 0.5])).sum().backward()
print(json.dumps({"y": y.flatten().tolist(), "grads": {k: p.grad.flatten().tolist() for k, p in m.named_parameters()}}))`);
    const spec = { input: [6], layers: [{ type: 'linear', outFeatures: 8 }, { type: 'glu' }, { type: 'linear', outFeatures: 3 }] } as const;
    const m = Model.create(rt(), parseModelSpec(spec), { seed: 12 });
    expect(m.layers.map((l) => l.outputShape)).toEqual([[8], [4], [3]]);
    const x = rt().tensor(f32(Array.from({ length: 18 }, (_, i) => -3 + (6 * i) / 17)), [3, 6]);
    const y = m.forward(x);
    expectClose(await y.read(), torch.y, 1e-6, 'output');
    backward(sum(mul(y, rt().tensor([1, -2, 0.5]))));
    for (const [name, p] of m.parameters) expectClose(await p.grad!.read(), torch.grads[name]!, 1e-5, `${name} gradient`);
  });

  // Four activations between the layers of a 6-9-8-7-4 network, as torch modules and as specs.
  const MLP_ACTIVATIONS: [string, number, string[], LayerSpec[]][] = [
    ['gelu (both forms), silu and elu layers compute as nn.GELU, nn.SiLU and nn.ELU', 6, ['nn.GELU()', 'nn.SiLU()', 'nn.ELU(0.7)', "nn.GELU('tanh')"], [{ type: 'gelu' }, { type: 'silu' }, { type: 'elu', alpha: 0.7 }, { type: 'gelu', approximate: 'tanh' }]],
    [
      'softplus (past its threshold too), mish and selu layers compute as nn.Softplus, nn.Mish and nn.SELU',
      7,
      ['nn.Softplus(2, 1.5)', 'nn.Mish()', 'nn.SELU()', 'nn.Softplus()'],
      [{ type: 'softplus', beta: 2, threshold: 1.5 }, { type: 'mish' }, { type: 'selu' }, { type: 'softplus' }],
    ],
    [
      'hardtanh, prelu (one slope, and one per feature) and hardswish layers compute as nn.Hardtanh, nn.PReLU and nn.Hardswish',
      8,
      ['nn.Hardtanh(-0.5, 1.5)', 'nn.PReLU()', 'nn.Hardswish()', 'nn.PReLU(4, 0.1)'],
      [{ type: 'hardtanh', minVal: -0.5, maxVal: 1.5 }, { type: 'prelu' }, { type: 'hardswish' }, { type: 'prelu', numParameters: 4, init: 0.1 }],
    ],
    [
      'relu6, hardsigmoid, logsigmoid and softsign layers compute as nn.ReLU6, nn.Hardsigmoid, nn.LogSigmoid and nn.Softsign',
      9,
      ['nn.ReLU6()', 'nn.Hardsigmoid()', 'nn.LogSigmoid()', 'nn.Softsign()'],
      [{ type: 'relu6' }, { type: 'hardsigmoid' }, { type: 'logsigmoid' }, { type: 'softsign' }],
    ],
    [
      'softshrink, hardshrink, threshold and celu layers compute as nn.Softshrink, nn.Hardshrink, nn.Threshold and nn.CELU',
      11,
      ['nn.Softshrink(0.3)', 'nn.CELU(0.7)', 'nn.Threshold(0.1, -0.5)', 'nn.Hardshrink()'],
      [{ type: 'softshrink', lambd: 0.3 }, { type: 'celu', alpha: 0.7 }, { type: 'threshold', threshold: 0.1, value: -0.5 }, { type: 'hardshrink' }],
    ],
    ['tanhshrink layers compute as nn.Tanhshrink', 10, ['nn.Tanhshrink()', 'nn.PReLU(8, -0.2)', 'nn.Tanhshrink()', 'nn.Hardswish()'], [{ type: 'tanhshrink' }, { type: 'prelu', numParameters: 8, init: -0.2 }, { type: 'tanhshrink' }, { type: 'hardswish' }]],
  ];
  for (const [what, seed, torchActs, acts] of MLP_ACTIVATIONS) {
    it(`${what} in a torch model of the same seed, gradients too`, async () => {
      const widths = [6, 9, 8, 7, 4];
      const torchLayers = acts.map((_, i) => `nn.Linear(${widths[i]}, ${widths[i + 1]}), ${torchActs[i]}`).join(', ');
      const torch = torchJson<{ y: number[]; grads: Record<string, number[]> }>(`import json, torch, torch.nn as nn
torch.manual_seed(${seed})
m = nn.Sequential(${torchLayers})
x = torch.linspace(-3, 3, 18).reshape(3, 6)
y = m(x)
(y * torch.tensor([1.0, -2.0, 0.5, 3.0])).sum().backward()
print(json.dumps({"y": y.flatten().tolist(), "grads": {k: p.grad.flatten().tolist() for k, p in m.named_parameters()}}))`);
      const spec: ModelSpec = { input: [6], layers: acts.flatMap((a, i): LayerSpec[] => [{ type: 'linear', outFeatures: widths[i + 1]! }, a]) };
      const m = Model.create(rt(), parseModelSpec(spec), { seed });
      expect(m.layers.map((l) => l.type)).toEqual(spec.layers.map((l) => l.type));
      const x = rt().tensor(f32(Array.from({ length: 18 }, (_, i) => -3 + (6 * i) / 17)), [3, 6]);
      const y = m.forward(x);
      expectClose(await y.read(), torch.y, 1e-6, 'output');
      backward(sum(mul(y, rt().tensor([1, -2, 0.5, 3]))));
      for (const [name, p] of m.parameters) expectClose(await p.grad!.read(), torch.grads[name]!, 1e-5, `${name} gradient`);
    });
  }

  it('an avgpool2d layer computes as nn.AvgPool2d in a LeNet-5-like torch model of the same seed, gradients too', async () => {
    const torch = torchJson<{ y: number[]; grads: Record<string, number[]> }>(`import json, torch, torch.nn as nn
torch.manual_seed(5)
m = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 4, 3), nn.Tanh(), nn.AvgPool2d(3, stride=2, padding=1), nn.Flatten(), nn.Linear(144, 10))
x = torch.linspace(-1, 1, 2 * 28 * 28).reshape(2, 1, 28, 28)
y = m(x)
(y * torch.arange(10.0)).sum().backward()
print(json.dumps({"y": y.flatten().tolist(), "grads": {k: p.grad.flatten().tolist() for k, p in m.named_parameters()}}))`);
    const spec = {
      input: [1, 28, 28],
      layers: [
        { type: 'conv2d', outChannels: 6, kernelSize: 5, padding: 2 },
        { type: 'tanh' },
        { type: 'avgpool2d', kernelSize: 2 },
        { type: 'conv2d', outChannels: 4, kernelSize: 3 },
        { type: 'tanh' },
        { type: 'avgpool2d', kernelSize: 3, stride: 2, padding: 1 },
        { type: 'flatten' },
        { type: 'linear', outFeatures: 10 },
      ],
    } as const;
    const m = Model.create(rt(), parseModelSpec(spec), { seed: 5 });
    expect(m.layers.map((l) => l.outputShape)).toEqual([[6, 28, 28], [6, 28, 28], [6, 14, 14], [4, 12, 12], [4, 12, 12], [4, 6, 6], [144], [10]]);
    const x = rt().tensor(f32(Array.from({ length: 2 * 784 }, (_, i) => -1 + (2 * i) / (2 * 784 - 1))), [2, 1, 28, 28]);
    const y = m.forward(x);
    expectClose(await y.read(), torch.y, 1e-5, 'output');
    backward(sum(mul(y, rt().tensor(Array.from({ length: 10 }, (_, i) => i)))));
    for (const [name, p] of m.parameters) expectClose(await p.grad!.read(), torch.grads[name]!, 1e-5, `${name} gradient`);
  });
});

describe('convolution layers', () => {
  it('dilated, grouped, depthwise and transposed convolutions are nn.Conv2d and nn.ConvTranspose2d: state_dict, initialisation, outputs and gradients as a torch autoencoder of the same seed', async () => {
    const torch = torchJson<{ shapes: Record<string, number[]>; init: Record<string, number[]>; y: number[]; grads: Record<string, number[]> }>(`import json, torch, torch.nn as nn
torch.manual_seed(3)
m = nn.Sequential(
    nn.Conv2d(2, 6, 3, stride=2, padding=2, dilation=2),
    nn.ReLU(),
    nn.Conv2d(6, 6, 3, padding=1, groups=6),
    nn.Conv2d(6, 4, (1, 3), groups=2, bias=False, padding=(0, 1)),
    nn.ReLU(),
    nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
    nn.Tanh(),
    nn.ConvTranspose2d(6, 2, (2, 3), dilation=(1, 2), padding=(0, 2)),
)
init = {k: p.detach().flatten().tolist() for k, p in m.state_dict().items()}
x = torch.linspace(-1, 1, 3 * 2 * 10 * 9).reshape(3, 2, 10, 9)
y = m(x)
(y * torch.arange(y.numel()).reshape(y.shape).cos()).sum().backward()
print(json.dumps({"shapes": {k: list(p.shape) for k, p in m.state_dict().items()}, "init": init, "y": y.flatten().tolist(), "grads": {k: p.grad.flatten().tolist() for k, p in m.named_parameters()}}))`);
    const spec: ModelSpec = {
      input: [2, 10, 9],
      layers: [
        { type: 'conv2d', outChannels: 6, kernelSize: 3, stride: 2, padding: 2, dilation: 2 },
        { type: 'relu' },
        { type: 'conv2d', outChannels: 6, kernelSize: 3, padding: 1, groups: 6 },
        { type: 'conv2d', outChannels: 4, kernelSize: [1, 3], groups: 2, bias: false, padding: [0, 1] },
        { type: 'relu' },
        { type: 'convtranspose2d', outChannels: 6, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1, groups: 2 },
        { type: 'tanh' },
        { type: 'convtranspose2d', outChannels: 2, kernelSize: [2, 3], dilation: [1, 2], padding: [0, 2] },
      ],
    };
    const m = Model.create(rt(), parseModelSpec(spec), { seed: 3 });
    expect(Object.fromEntries([...m.parameters].map(([k, p]) => [k, p.shape]))).toEqual(torch.shapes);
    for (const [name, p] of m.parameters) expectClose(await p.read(), torch.init[name]!, 1e-7, `${name} initialised`);
    expect(m.layers.map((l) => l.outputShape)).toEqual([[6, 5, 5], [6, 5, 5], [6, 5, 5], [4, 5, 5], [4, 5, 5], [6, 10, 10], [6, 10, 10], [2, 11, 10]]);
    const x = rt().tensor(f32(Array.from({ length: 540 }, (_, i) => -1 + (2 * i) / 539)), [3, 2, 10, 9]);
    const y = m.forward(x);
    expectClose(await y.read(), torch.y, 1e-5, 'output');
    backward(sum(mul(y, rt().tensor(f32(Array.from({ length: y.size }, (_, i) => Math.cos(i))), y.shape))));
    for (const [name, p] of m.parameters) expectClose(await p.grad!.read(), torch.grads[name]!, 1e-4, `${name} gradient`);
  });

  it("conv2d layers with padding 'same' and padding modes are nn.Conv2d's with padding='same' and padding_mode: outputs and gradients as a torch model of the same seed", async () => {
    const torch = torchJson<{ y: number[]; grads: Record<string, number[]> }>(`import json, torch, torch.nn as nn
torch.manual_seed(6)
m = nn.Sequential(nn.Conv2d(2, 3, 4, padding='same', padding_mode='circular'), nn.Tanh(), nn.Conv2d(3, 2, 3, padding=(1, 2), padding_mode='replicate', stride=2), nn.Tanh(), nn.Conv2d(2, 2, 3, padding='valid'))
x = torch.linspace(-1, 1, 2 * 2 * 9 * 8).reshape(2, 2, 9, 8)
y = m(x)
(y * torch.arange(y.numel()).reshape(y.shape).cos()).sum().backward()
print(json.dumps({"y": y.flatten().tolist(), "grads": {k: p.grad.flatten().tolist() for k, p in m.named_parameters()}}))`);
    const spec: ModelSpec = {
      input: [2, 9, 8],
      layers: [
        { type: 'conv2d', outChannels: 3, kernelSize: 4, padding: 'same', paddingMode: 'circular' },
        { type: 'tanh' },
        { type: 'conv2d', outChannels: 2, kernelSize: 3, padding: [1, 2], paddingMode: 'replicate', stride: 2 },
        { type: 'tanh' },
        { type: 'conv2d', outChannels: 2, kernelSize: 3, padding: 'valid' },
      ],
    };
    const m = Model.create(rt(), parseModelSpec(spec), { seed: 6 });
    expect(m.layers.map((l) => l.outputShape)).toEqual([[3, 9, 8], [3, 9, 8], [2, 5, 5], [2, 5, 5], [2, 3, 3]]);
    const x = rt().tensor(f32(Array.from({ length: 288 }, (_, i) => -1 + (2 * i) / 287)), [2, 2, 9, 8]);
    const y = m.forward(x);
    expectClose(await y.read(), torch.y, 1e-5, 'output');
    backward(sum(mul(y, rt().tensor(f32(Array.from({ length: y.size }, (_, i) => Math.cos(i))), y.shape))));
    for (const [name, p] of m.parameters) expectClose(await p.grad!.read(), torch.grads[name]!, 1e-4, `${name} gradient`);
  });

  it("pooling layers in ceil mode, without padding in the count or with a divisor, are nn.MaxPool2d's and nn.AvgPool2d's: outputs and gradients as a torch model of the same seed", async () => {
    const torch = torchJson<{ y: number[]; grads: Record<string, number[]> }>(`import json, torch, torch.nn as nn
torch.manual_seed(8)
m = nn.Sequential(nn.Conv2d(1, 3, 3), nn.MaxPool2d(3, 2, ceil_mode=True), nn.Tanh(), nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), nn.AvgPool2d(2, 1, divisor_override=3), nn.Flatten(), nn.Linear(27, 4))
x = torch.linspace(-1, 1, 2 * 16 * 15).reshape(2, 1, 16, 15)
y = m(x)
(y * torch.arange(8.0).reshape(2, 4)).sum().backward()
print(json.dumps({"y": y.flatten().tolist(), "grads": {k: p.grad.flatten().tolist() for k, p in m.named_parameters()}}))`);
    const spec: ModelSpec = {
      input: [1, 16, 15],
      layers: [
        { type: 'conv2d', outChannels: 3, kernelSize: 3 },
        { type: 'maxpool2d', kernelSize: 3, stride: 2, ceilMode: true },
        { type: 'tanh' },
        { type: 'avgpool2d', kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false },
        { type: 'avgpool2d', kernelSize: 2, stride: 1, divisorOverride: 3 },
        { type: 'flatten' },
        { type: 'linear', outFeatures: 4 },
      ],
    };
    const m = Model.create(rt(), parseModelSpec(spec), { seed: 8 });
    // Ceil mode keeps the last, partial windows: 14×13 → 7×6 (floor: 6×6) → 4×4 (floor: 4×3).
    expect(m.layers.map((l) => l.outputShape)).toEqual([[3, 14, 13], [3, 7, 6], [3, 7, 6], [3, 4, 4], [3, 3, 3], [27], [4]]);
    const x = rt().tensor(f32(Array.from({ length: 480 }, (_, i) => -1 + (2 * i) / 479)), [2, 1, 16, 15]);
    const y = m.forward(x);
    expectClose(await y.read(), torch.y, 1e-5, 'output');
    backward(sum(mul(y, rt().tensor(f32(Array.from({ length: 8 }, (_, i) => i)), [2, 4]))));
    for (const [name, p] of m.parameters) expectClose(await p.grad!.read(), torch.grads[name]!, 1e-4, `${name} gradient`);
  });

  it("adaptiveavgpool2d and upsample layers (nearest, bilinear, bicubic, area) are nn.AdaptiveAvgPool2d's and nn.Upsample's: outputs and gradients as a torch model of the same seed", async () => {
    const torch = torchJson<{ y: number[]; grads: Record<string, number[]> }>(`import json, torch, torch.nn as nn
torch.manual_seed(4)
m = nn.Sequential(
    nn.Conv2d(1, 3, 3), nn.Upsample(scale_factor=2, mode='bilinear'), nn.Tanh(),
    nn.Conv2d(3, 4, 3, stride=2), nn.Upsample(size=(7, 5)), nn.ReLU(),
    nn.Upsample(scale_factor=(1.5, 2), mode='bilinear', align_corners=True),
    nn.Upsample(size=(5, 6), mode='bicubic'), nn.Upsample(scale_factor=0.8, mode='area'),
    nn.AdaptiveAvgPool2d((3, 2)), nn.Flatten(), nn.Linear(24, 5),
)
x = torch.linspace(-1, 1, 2 * 9 * 8).reshape(2, 1, 9, 8)
y = m(x)
(y * torch.arange(10.0).reshape(2, 5)).sum().backward()
print(json.dumps({"y": y.flatten().tolist(), "grads": {k: p.grad.flatten().tolist() for k, p in m.named_parameters()}}))`);
    const spec: ModelSpec = {
      input: [1, 9, 8],
      layers: [
        { type: 'conv2d', outChannels: 3, kernelSize: 3 },
        { type: 'upsample', scaleFactor: 2, mode: 'bilinear' },
        { type: 'tanh' },
        { type: 'conv2d', outChannels: 4, kernelSize: 3, stride: 2 },
        { type: 'upsample', size: [7, 5] },
        { type: 'relu' },
        { type: 'upsample', scaleFactor: [1.5, 2], mode: 'bilinear', alignCorners: true },
        { type: 'upsample', size: [5, 6], mode: 'bicubic' },
        { type: 'upsample', scaleFactor: 0.8, mode: 'area' },
        { type: 'adaptiveavgpool2d', outputSize: [3, 2] },
        { type: 'flatten' },
        { type: 'linear', outFeatures: 5 },
      ],
    };
    const m = Model.create(rt(), parseModelSpec(spec), { seed: 4 });
    expect(m.layers.map((l) => l.outputShape)).toEqual([[3, 7, 6], [3, 14, 12], [3, 14, 12], [4, 6, 5], [4, 7, 5], [4, 7, 5], [4, 10, 10], [4, 5, 6], [4, 4, 4], [4, 3, 2], [24], [5]]);
    const x = rt().tensor(f32(Array.from({ length: 144 }, (_, i) => -1 + (2 * i) / 143)), [2, 1, 9, 8]);
    const y = m.forward(x);
    expectClose(await y.read(), torch.y, 1e-5, 'output');
    backward(sum(mul(y, rt().tensor(f32(Array.from({ length: 10 }, (_, i) => i)), [2, 5]))));
    for (const [name, p] of m.parameters) expectClose(await p.grad!.read(), torch.grads[name]!, 1e-4, `${name} gradient`);
  });

  it("pixel shuffle, padding and softmax layers are nn.PixelShuffle's, nn.PixelUnshuffle's, nn.ZeroPad2d's, nn.ConstantPad2d's, nn.ReflectionPad2d's, nn.ReplicationPad2d's, nn.Softmax's and nn.LogSoftmax's: outputs and gradients as a torch model of the same seed", async () => {
    const torch = torchJson<{ y: number[]; grads: Record<string, number[]> }>(`import json, torch, torch.nn as nn
torch.manual_seed(6)
m = nn.Sequential(
    nn.ReflectionPad2d((1, 2, 0, 1)), nn.Conv2d(1, 8, 3), nn.PixelShuffle(2), nn.Tanh(),
    nn.ZeroPad2d(1), nn.ReplicationPad2d((2, 2, 0, 0)), nn.PixelUnshuffle(3), nn.Conv2d(18, 4, 1),
    nn.ConstantPad2d((-1, 0, 2, -2), 0.5), nn.Softmax(dim=1), nn.Flatten(), nn.Linear(80, 5), nn.LogSoftmax(dim=1),
)
x = torch.linspace(-1, 1, 2 * 6 * 5).reshape(2, 1, 6, 5)
y = m(x)
(y * torch.arange(y.numel()).reshape(y.shape).cos()).sum().backward()
print(json.dumps({"y": y.flatten().tolist(), "grads": {k: p.grad.flatten().tolist() for k, p in m.named_parameters()}}))`);
    const spec: ModelSpec = {
      input: [1, 6, 5],
      layers: [
        { type: 'reflectionpad2d', padding: [1, 2, 0, 1] },
        { type: 'conv2d', outChannels: 8, kernelSize: 3 },
        { type: 'pixelshuffle', upscaleFactor: 2 },
        { type: 'tanh' },
        { type: 'zeropad2d', padding: 1 },
        { type: 'replicationpad2d', padding: [2, 2, 0, 0] },
        { type: 'pixelunshuffle', downscaleFactor: 3 },
        { type: 'conv2d', outChannels: 4, kernelSize: 1 },
        { type: 'constantpad2d', padding: [-1, 0, 2, -2], value: 0.5 },
        { type: 'softmax' },
        { type: 'flatten' },
        { type: 'linear', outFeatures: 5 },
        { type: 'logsoftmax', dim: -1 },
      ],
    };
    const m = Model.create(rt(), parseModelSpec(spec), { seed: 6 });
    expect(m.layers.map((l) => l.outputShape)).toEqual([[1, 7, 8], [8, 5, 6], [2, 10, 12], [2, 10, 12], [2, 12, 14], [2, 12, 18], [18, 4, 6], [4, 4, 6], [4, 4, 5], [4, 4, 5], [80], [5], [5]]);
    const x = rt().tensor(f32(Array.from({ length: 60 }, (_, i) => -1 + (2 * i) / 59)), [2, 1, 6, 5]);
    const y = m.forward(x);
    expectClose(await y.read(), torch.y, 1e-5, 'output');
    backward(sum(mul(y, rt().tensor(f32(Array.from({ length: 10 }, (_, i) => Math.cos(i))), [2, 5]))));
    for (const [name, p] of m.parameters) expectClose(await p.grad!.read(), torch.grads[name]!, 1e-4, `${name} gradient`);
  });

  it("unflatten and identity layers are nn.Unflatten's and nn.Identity's: a generator's linear-to-maps decoder as PyTorch's, initialisation, outputs and gradients", async () => {
    const torch = torchJson<{ y: number[]; grads: Record<string, number[]> }>(`import json, torch, torch.nn as nn
torch.manual_seed(9)
m = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Unflatten(1, (4, 4, 4)), nn.ConvTranspose2d(4, 2, 4, 2, 1), nn.Identity(), nn.Tanh())
z = torch.linspace(-1, 1, 3 * 8).reshape(3, 8)
y = m(z)
(y * torch.arange(y.numel()).reshape(y.shape).cos()).sum().backward()
print(json.dumps({"y": y.flatten().tolist(), "grads": {k: p.grad.flatten().tolist() for k, p in m.named_parameters()}}))`);
    const spec: ModelSpec = {
      input: [8],
      layers: [
        { type: 'linear', outFeatures: 64 },
        { type: 'relu' },
        { type: 'unflatten', dim: 1, sizes: [4, -1, 4] },
        { type: 'convtranspose2d', outChannels: 2, kernelSize: 4, stride: 2, padding: 1 },
        { type: 'identity' },
        { type: 'tanh' },
      ],
    };
    const m = Model.create(rt(), parseModelSpec(spec), { seed: 9 });
    expect(m.layers.map((l) => l.outputShape)).toEqual([[64], [64], [4, 4, 4], [2, 8, 8], [2, 8, 8], [2, 8, 8]]);
    const z = rt().tensor(f32(Array.from({ length: 24 }, (_, i) => -1 + (2 * i) / 23)), [3, 8]);
    const y = m.forward(z);
    expectClose(await y.read(), torch.y, 1e-5, 'output');
    backward(sum(mul(y, rt().tensor(f32(Array.from({ length: y.size }, (_, i) => Math.cos(i))), y.shape))));
    for (const [name, p] of m.parameters) expectClose(await p.grad!.read(), torch.grads[name]!, 1e-4, `${name} gradient`);
  });

  it('examples/mnist-separable.json is the seed CNN with its second convolution depthwise-separable: state_dict, initialisation and logits as PyTorch', async () => {
    const torch = torchJson<{ shapes: Record<string, number[]>; params: Record<string, number[]>; y: number[] }>(`import json, torch, torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 16, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2))
        self.conv2 = nn.Sequential(nn.Conv2d(16, 16, 5, 1, 2, groups=16), nn.Conv2d(16, 32, 1), nn.ReLU(), nn.MaxPool2d(2))
        self.out = nn.Linear(1568, 10)
    def forward(self, x):
        return self.out(self.conv2(self.conv1(x)).flatten(1))
torch.manual_seed(1)
m = Net()
x = torch.linspace(0, 1, 2 * 784).reshape(2, 1, 28, 28)
sd = m.state_dict()
print(json.dumps({"shapes": {k: list(v.shape) for k, v in sd.items()}, "params": {k: v.flatten()[-64:].tolist() for k, v in sd.items()}, "y": m(x).flatten().tolist()}))`);
    const spec = JSON.parse(readFileSync(resolve(import.meta.dirname, '../examples/mnist-separable.json'), 'utf8')) as unknown;
    const m = Model.create(rt(), spec, { seed: 1 });
    expect(Object.fromEntries([...m.parameters].map(([k, t]) => [k, t.shape]))).toEqual(torch.shapes);
    for (const [name, t] of m.parameters) expect(Array.from((await t.read()).slice(-64)), name).toEqual(Array.from(f32(torch.params[name]!)));
    const x = rt().tensor(f32(Array.from({ length: 2 * 784 }, (_, i) => i / (2 * 784 - 1))), [2, 1, 28, 28]);
    expectClose(await m.forward(x).read(), torch.y, 1e-5, 'logits');
  });
});

describe('residual blocks', () => {
  // torchvision's BasicBlock, its names and order: conv1, bn1, relu, conv2, bn2, downsample; the
  // ReLU after the sum is a layer of its own in the spec.
  const BASIC_BLOCK_PY = `
import torch, torch.nn as nn
class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) if stride != 1 or cin != cout else None
    def forward(self, x):
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return y + (self.downsample(x) if self.downsample is not None else x)
`;
  const block = (name: string, cout: number, stride: number, downsample: boolean): LayerSpec => ({
    type: 'residual',
    name,
    layers: [
      { type: 'conv2d', name: 'conv1', outChannels: cout, kernelSize: 3, stride, padding: 1, bias: false },
      { type: 'batchnorm2d', name: 'bn1' },
      { type: 'relu', name: 'relu' },
      { type: 'conv2d', name: 'conv2', outChannels: cout, kernelSize: 3, padding: 1, bias: false },
      { type: 'batchnorm2d', name: 'bn2' },
    ],
    ...(downsample
      ? { shortcut: { type: 'sequential', name: 'downsample', layers: [{ type: 'conv2d', outChannels: cout, kernelSize: 1, stride, bias: false }, { type: 'batchnorm2d' }] } }
      : {}),
  });

  it("are torchvision's BasicBlock, with and without a downsampling shortcut: state_dict, initialisation, a training step's outputs, gradients and running statistics as PyTorch's", async () => {
    const torch = torchJson<{ keys: string[]; shapes: number[][]; init: Record<string, number[]>; y: number[]; grads: Record<string, number[]>; state: Record<string, number[]> }>(`${BASIC_BLOCK_PY}
import json
torch.manual_seed(2)
m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Sequential(BasicBlock(4, 4), nn.ReLU(), BasicBlock(4, 6, 2)), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))
init = {k: v.flatten().tolist() for k, v in m.state_dict().items()}
x = torch.linspace(-1, 1, 2 * 9 * 8).reshape(2, 1, 9, 8)
y = m(x)
(y * torch.arange(6.0).reshape(2, 3)).sum().backward()
sd = m.state_dict()
print(json.dumps({"keys": list(sd.keys()), "shapes": [list(v.shape) for v in sd.values()], "init": init, "y": y.flatten().tolist(),
    "grads": {k: p.grad.flatten().tolist() for k, p in m.named_parameters()}, "state": {k: v.flatten().tolist() for k, v in sd.items()}}))`);
    const spec: ModelSpec = {
      input: [1, 9, 8],
      layers: [
        { type: 'conv2d', outChannels: 4, kernelSize: 3, padding: 1 },
        { type: 'relu' },
        { type: 'sequential', layers: [block('0', 4, 1, false), { type: 'relu' }, block('2', 6, 2, true)] },
        { type: 'relu' },
        { type: 'adaptiveavgpool2d', outputSize: 1 },
        { type: 'flatten' },
        { type: 'linear', outFeatures: 3 },
      ],
    };
    const m = Model.create(rt(), parseModelSpec(spec), { seed: 2 });
    expect([...m.stateTensors.keys()]).toEqual(torch.keys);
    expect([...m.stateTensors.values()].map((t) => t.shape)).toEqual(torch.shapes);
    for (const [name, t] of m.stateTensors) expectClose(await t.read(), torch.init[name]!, 1e-7, `${name} initialised`);
    // The sums are layers too: each block's output, named by the block.
    const sums = m.layers.filter((l) => l.type === 'add');
    expect(sums.map((l) => [l.name, l.outputShape])).toEqual([['2.0', [4, 9, 8]], ['2.2', [6, 5, 4]]]);
    const x = rt().tensor(f32(Array.from({ length: 144 }, (_, i) => -1 + (2 * i) / 143)), [2, 1, 9, 8]);
    const y = m.forward(x);
    expectClose(await y.read(), torch.y, 1e-5, 'output');
    backward(sum(mul(y, rt().tensor(f32(Array.from({ length: 6 }, (_, i) => i)), [2, 3]))));
    for (const [name, p] of m.parameters) expectClose(await p.grad!.read(), torch.grads[name]!, 1e-4, `${name} gradient`);
    for (const [name, t] of m.buffers) expectClose(await t.read(), torch.state[name]!, 1e-5, `${name} after the step`);
  });

  it("examples/mnist-resnet.json is a small ResNet of torchvision's blocks: its state_dict, initialisation and evaluation as PyTorch's", async () => {
    const torch = torchJson<{ keys: string[]; params: Record<string, number[]>; y: number[] }>(`${BASIC_BLOCK_PY}
import json
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False); self.bn1 = nn.BatchNorm2d(16); self.relu = nn.ReLU(); self.maxpool = nn.MaxPool2d(2)
        self.layer1 = nn.Sequential(BasicBlock(16, 16), nn.ReLU())
        self.layer2 = nn.Sequential(BasicBlock(16, 32, 2), nn.ReLU())
        self.avgpool = nn.AdaptiveAvgPool2d(1); self.fc = nn.Linear(32, 10)
    def forward(self, x):
        x = self.layer2(self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x))))))
        return self.fc(self.avgpool(x).flatten(1))
torch.manual_seed(1)
m = Net().eval()
x = torch.linspace(0, 1, 2 * 784).reshape(2, 1, 28, 28)
sd = m.state_dict()
print(json.dumps({"keys": list(sd.keys()), "params": {k: v.flatten()[-32:].tolist() for k, v in sd.items()}, "y": m(x).flatten().tolist()}))`);
    const spec = JSON.parse(readFileSync(resolve(import.meta.dirname, '../examples/mnist-resnet.json'), 'utf8')) as unknown;
    const m = Model.create(rt(), spec, { seed: 1 });
    expect([...m.stateTensors.keys()]).toEqual(torch.keys);
    for (const [name, t] of m.stateTensors) expect(Array.from((await t.read()).slice(-32)), name).toEqual(Array.from(f32(torch.params[name]!)));
    const x = rt().tensor(f32(Array.from({ length: 2 * 784 }, (_, i) => i / (2 * 784 - 1))), [2, 1, 28, 28]);
    expectClose(await m.eval().forward(x).read(), torch.y, 1e-5, 'logits in evaluation');
  });

  it('name a block whose layers change the shape without a shortcut, and a shortcut named as one of its layers', () => {
    const unfit = { input: [2, 8, 8], layers: [{ type: 'residual', name: 'b', layers: [{ type: 'conv2d', outChannels: 4, kernelSize: 3, padding: 1 }] }] };
    expect(() => Model.create(rt(), unfit)).toThrow(ShapeError);
    expect(() => Model.create(rt(), unfit)).toThrow(
      /^layers\[0\] \(residual 'b'\): its layers' output \[4, 8, 8\] differs from its input \[2, 8, 8\], which it adds: a shortcut can make them one$/,
    );
    const shortcut = { type: 'conv2d', outChannels: 4, kernelSize: 1, stride: 2 };
    expect(() => Model.create(rt(), { ...unfit, layers: [{ ...unfit.layers[0], shortcut }] })).toThrow(/^layers\[0\] \(residual 'b'\): its layers' output \[4, 8, 8\] differs from its shortcut's output \[4, 4, 4\]$/);
    const same = { ...unfit, layers: [{ ...unfit.layers[0], layers: [{ type: 'conv2d', name: 'downsample', outChannels: 4, kernelSize: 3, padding: 1 }], shortcut: { ...shortcut, stride: 1 } }] };
    const e = thrown(() => Model.create(rt(), same), SpecError);
    expect(e.path).toBe('layers[0].shortcut.name');
    expect(e.message).toBe("layers[0].shortcut.name: duplicate layer name 'downsample' (a layer of the block has it) (in model spec)");
    // Named in the file a spec is read from, in a block nested in a sequential too.
    const nested = { input: [2, 8, 8], layers: [{ type: 'sequential', layers: [{ type: 'relu', name: 'r' }, { type: 'residual', layers: [{ type: 'relu' }, { type: 'relu', name: '0' }] }] }] };
    expect(thrown(() => parseModelSpecJson(JSON.stringify(nested), 'net.json', (why) => new Error(why)), SpecError).message).toBe("layers[0].layers[1].layers[1].name: duplicate layer name '0' (in net.json)");
    // inferLayers, which takes a spec as it is, checks them too.
    expect(thrown(() => inferLayers(rt(), nested as ModelSpec), SpecError).message).toBe("layers[0].layers[1].layers[1].name: duplicate layer name '0' (in model spec)");
    expect(thrown(() => parseModelSpec({ input: [2, 8, 8], layers: [{ type: 'residual', layers: [] }] }), SpecError).path).toBe('layers[0].layers');
    // A fitting one builds, its shortcut named 'downsample' by default.
    const m = Model.create(rt(), { ...unfit, layers: [{ ...unfit.layers[0], shortcut: { ...shortcut, stride: 1 } }] });
    expect([...m.parameters.keys()]).toEqual(['b.0.weight', 'b.0.bias', 'b.downsample.weight', 'b.downsample.bias']);
  });
});

describe('dropout layers', () => {
  const spec = { input: [6], layers: [{ type: 'linear', outFeatures: 8 }, { type: 'relu' }, { type: 'dropout', p: 0.4 }, { type: 'linear', outFeatures: 3 }] } as const;

  it('pass their input through in evaluation, as nn.Dropout in a torch model of the same seed in eval()', async () => {
    const torch = torchJson<{ y: number[] }>(`import json, torch, torch.nn as nn
torch.manual_seed(3)
m = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.4), nn.Linear(8, 3)).eval()
x = torch.linspace(-2, 2, 30).reshape(5, 6)
print(json.dumps({"y": m(x).flatten().tolist()}))`);
    const m = Model.create(rt(), spec, { seed: 3 });
    const x = rt().tensor(f32(Array.from({ length: 30 }, (_, i) => -2 + (4 * i) / 29)), [5, 6]);
    expectClose(await m.forward(x, { training: false }).read(), torch.y, 1e-6, 'output in evaluation');
    expect(m.eval().training).toBe(false);
    expectClose(await m.forward(x).read(), torch.y, 1e-6, 'output after eval()');
    expect(m.generator.offset).toBe(0);
  });

  it('drop in training (the default, and after train()) with masks from the model\'s generator, one per layer and pass', async () => {
    const m = Model.create(rt(), spec, { seed: 3 });
    expect([m.training, m.drawsPerForward]).toEqual([true, 1]);
    const x = rt().tensor(f32(new Rng(4).array(30)), [5, 6]);
    const before = m.generator.offset;
    const [, relu, dropped] = m.activations(x);
    expect(m.generator.offset).toBe(before + 1);
    const h = await relu!.tensor.read();
    const keep = refDropoutKeep(m.generator.seed, before, h.length, 0.4);
    const scale = Math.fround(1 / 0.6);
    expectSame(await dropped!.tensor.read(), f32(Array.from(h, (v, i) => Math.fround(v * (keep[i] ? scale : 0)))), 'dropout layer output');
    // Two models of one seed draw the same masks; another seed other masks.
    expect(Model.create(rt(), spec, { seed: 3 }).generator.seed).toBe(m.generator.seed);
    expect(Model.create(rt(), spec, { seed: 4 }).generator.seed).not.toBe(m.generator.seed);
    m.eval();
    m.train();
    expect(m.training).toBe(true);
    m.forward(x);
    expect(m.generator.offset).toBe(before + 2);
  });

  it("examples/mnist-dropout.json is pytorch/examples' MNIST Net: its state_dict, initialisation and evaluation", async () => {
    // Net's forward ends in log_softmax for its nll_loss; fovea's cross-entropy takes the logits.
    const torch = torchJson<{ shapes: Record<string, number[]>; params: Record<string, number[]>; y: number[] }>(`import json, torch, torch.nn as nn, torch.nn.functional as F
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)
    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return self.fc2(x)
torch.manual_seed(1)
m = Net().eval()
x = torch.linspace(0, 1, 2 * 784).reshape(2, 1, 28, 28)
sd = m.state_dict()
print(json.dumps({"shapes": {k: list(v.shape) for k, v in sd.items()}, "params": {k: v.flatten()[-64:].tolist() for k, v in sd.items()}, "y": m(x).flatten().tolist()}))`);
    const spec = JSON.parse(readFileSync(resolve(import.meta.dirname, '../examples/mnist-dropout.json'), 'utf8')) as unknown;
    const m = Model.create(rt(), spec, { seed: 1 });
    expect(Object.fromEntries([...m.parameters].map(([k, t]) => [k, t.shape]))).toEqual(torch.shapes);
    // The last values of each: drawn last, they are right only if every draw before them was.
    for (const [name, t] of m.parameters) expect(Array.from((await t.read()).slice(-64)), name).toEqual(Array.from(f32(torch.params[name]!)));
    const x = rt().tensor(f32(Array.from({ length: 2 * 784 }, (_, i) => i / (2 * 784 - 1))), [2, 1, 28, 28]);
    expectClose(await m.eval().forward(x).read(), torch.y, 1e-5, 'logits in evaluation');
    expect(m.drawsPerForward).toBe(2);
  });

  it("examples/cifar10-cnn.json is PyTorch's CIFAR-10 tutorial Net, with its normalisation: its state_dict, initialisation and evaluation", async () => {
    const torch = torchJson<{ shapes: Record<string, number[]>; params: Record<string, number[]>; y: number[] }>(`import json, torch, torch.nn as nn, torch.nn.functional as F
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)
torch.manual_seed(1)
m = Net().eval()
x = torch.linspace(0, 1, 2 * 3072).reshape(2, 3, 32, 32)
# The tutorial's transform: ToTensor, then Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)).
import torchvision.transforms as T
sd = m.state_dict()
print(json.dumps({"shapes": {k: list(v.shape) for k, v in sd.items()}, "params": {k: v.flatten()[-64:].tolist() for k, v in sd.items()}, "y": m(T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))(x)).flatten().tolist()}))`);
    const spec = JSON.parse(readFileSync(resolve(import.meta.dirname, '../examples/cifar10-cnn.json'), 'utf8')) as unknown;
    const m = Model.create(rt(), spec, { seed: 1 });
    expect(Object.fromEntries([...m.parameters].map(([k, t]) => [k, t.shape]))).toEqual(torch.shapes);
    for (const [name, t] of m.parameters) expect(Array.from((await t.read()).slice(-64)), name).toEqual(Array.from(f32(torch.params[name]!)));
    const x = rt().tensor(f32(Array.from({ length: 2 * 3072 }, (_, i) => i / (2 * 3072 - 1))), [2, 3, 32, 32]);
    expectClose(await m.eval().forward(x).read(), torch.y, 1e-5, 'logits in evaluation');
  });

  it("batch norm layers are nn.BatchNorm2d's and nn.BatchNorm1d's: state_dict (buffers too), three training steps, running statistics and evaluation as PyTorch's", async () => {
    const bnSpec = {
      input: [2, 6, 6],
      layers: [
        { type: 'conv2d', name: 'conv', outChannels: 5, kernelSize: 3, padding: 1 },
        { type: 'batchnorm2d', name: 'bn' },
        { type: 'relu' },
        { type: 'maxpool2d', kernelSize: 2 },
        { type: 'flatten' },
        { type: 'linear', name: 'fc', outFeatures: 7 },
        { type: 'batchnorm1d', name: 'bn1', momentum: 0.2, eps: 1e-3 },
        { type: 'relu' },
        { type: 'linear', name: 'out', outFeatures: 3 },
      ],
    } as const;
    const rng = new Rng(12);
    const x = rng.array(4 * 72);
    const labels = Int32Array.from({ length: 4 }, () => rng.int(0, 2));
    const torch = torchJson<{ state: Record<string, number[]>; shapes: Record<string, number[]>; y: number[] }>(
      `import json, sys, torch, torch.nn as nn, torch.nn.functional as F
from collections import OrderedDict
d = json.load(sys.stdin)
torch.manual_seed(1)
m = nn.Sequential(OrderedDict([('conv', nn.Conv2d(2, 5, 3, padding=1)), ('bn', nn.BatchNorm2d(5)), ('2', nn.ReLU()), ('3', nn.MaxPool2d(2)),
    ('4', nn.Flatten()), ('fc', nn.Linear(45, 7)), ('bn1', nn.BatchNorm1d(7, momentum=0.2, eps=1e-3)), ('7', nn.ReLU()), ('out', nn.Linear(7, 3))]))
opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
x, y = torch.tensor(d['x']).reshape(4, 2, 6, 6), torch.tensor(d['labels'])
for _ in range(3):
    opt.zero_grad(); F.cross_entropy(m(x), y).backward(); opt.step()
sd = m.state_dict()
print(json.dumps({'state': {k: v.float().flatten().tolist() for k, v in sd.items()}, 'shapes': {k: list(v.shape) for k, v in sd.items()}, 'y': m.eval()(x).flatten().tolist()}))`,
      JSON.stringify({ x: [...x], labels: [...labels] }),
    );
    const m = Model.create(rt(), bnSpec, { seed: 1 });
    const params = [...m.parameters.values()];
    const opt = new SGD(params, { lr: 0.1, momentum: 0.9 });
    const tx = rt().tensor(f32(x), [4, 2, 6, 6]);
    const tl = rt().tensor(labels, [4]);
    for (let i = 0; i < 3; i++) void opt.step(grad(softmaxCrossEntropy(m.forward(tx), tl), params));
    const state = await m.state();
    expect(Object.fromEntries([...state].map(([k, t]) => [k, t.shape]))).toEqual(torch.shapes);
    expect([...state.keys()]).toEqual(Object.keys(torch.state));
    for (const [k, t] of state) expectClose(t.data, torch.state[k]!, 2e-5, k);
    expect([...m.buffers.keys()]).toEqual(['bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked']);
    expectClose(await m.eval().forward(tx).read(), torch.y, 2e-5, 'outputs in evaluation');
    expect(m.parameterCount).toBe(5 * 18 + 5 + 10 + 7 * 45 + 7 + 14 + 3 * 7 + 3);
  });

  it('examples/mnist-batchnorm.json is the seed CNN with nn.BatchNorm2d after each bias-free convolution: state_dict, initialisation, a training pass and evaluation as PyTorch', async () => {
    const torch = torchJson<{ shapes: Record<string, number[]>; state: Record<string, number[]>; y: number[] }>(`import json, torch, torch.nn as nn
def block(i, o): return nn.Sequential(nn.Conv2d(i, o, 5, 1, 2, bias=False), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))
class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = block(1, 16)
        self.conv2 = block(16, 32)
        self.out = nn.Linear(32 * 7 * 7, 10)
    def forward(self, x):
        return self.out(torch.flatten(self.conv2(self.conv1(x)), 1))
torch.manual_seed(1)
m = CNN()
x = torch.linspace(0, 1, 3 * 784).reshape(3, 1, 28, 28)
m(x)  # a training pass: the running statistics move
sd = m.state_dict()
print(json.dumps({"shapes": {k: list(v.shape) for k, v in sd.items()}, "state": {k: v.float().flatten()[-32:].tolist() for k, v in sd.items()}, "y": m.eval()(x).flatten().tolist()}))`);
    const spec = JSON.parse(readFileSync(resolve(import.meta.dirname, '../examples/mnist-batchnorm.json'), 'utf8')) as unknown;
    const m = Model.create(rt(), spec, { seed: 1 });
    const x = rt().tensor(f32(Array.from({ length: 3 * 784 }, (_, i) => i / (3 * 784 - 1))), [3, 1, 28, 28]);
    m.forward(x);
    const state = await m.state();
    expect(Object.fromEntries([...state].map(([k, t]) => [k, t.shape]))).toEqual(torch.shapes);
    expect([...state.keys()]).toEqual(Object.keys(torch.state));
    for (const [name, t] of state) expectClose(t.data.slice(-32), torch.state[name]!, 1e-5, name);
    expectClose(await m.eval().forward(x).read(), torch.y, 1e-5, 'logits in evaluation');
  });

  /**
   * `spec` and the PyTorch `modules` (an OrderedDict's items, seeded as fovea's seed 1) trained two
   * SGD steps on the same three samples [2, 5, 5]: the state_dicts and outputs agree.
   */
  /** Two SGD steps of a spec and of torch modules on the same batch; then the state_dict, and the outputs (in evaluation with `evaluate`). */
  async function trainsAsTorch(spec: unknown, modules: string, seed: number, evaluate = false): Promise<void> {
    const rng = new Rng(seed);
    const x = rng.array(3 * 50);
    const labels = Int32Array.from({ length: 3 }, () => rng.int(0, 3));
    const torch = torchJson<{ state: Record<string, number[]>; y: number[] }>(
      `import json, sys, torch, torch.nn as nn, torch.nn.functional as F
import torchvision.transforms as T
from collections import OrderedDict
d = json.load(sys.stdin)
torch.manual_seed(1)
m = nn.Sequential(OrderedDict([${modules}]))
opt = torch.optim.SGD(m.parameters(), lr=0.5)
x, y = torch.tensor(d['x']).reshape(3, 2, 5, 5), torch.tensor(d['labels'])
for _ in range(2):
    opt.zero_grad(); F.cross_entropy(m(x), y).backward(); opt.step()
${evaluate ? 'm.eval()\n' : ''}print(json.dumps({'state': {k: v.float().flatten().tolist() for k, v in m.state_dict().items()}, 'y': m(x).flatten().tolist()}))`,
      JSON.stringify({ x: [...x], labels: [...labels] }),
    );
    const m = Model.create(rt(), spec, { seed: 1 });
    const params = [...m.parameters.values()];
    const opt = new SGD(params, { lr: 0.5 });
    const tx = rt().tensor(f32(x), [3, 2, 5, 5]);
    for (let i = 0; i < 2; i++) void opt.step(grad(softmaxCrossEntropy(m.forward(tx), rt().tensor(labels, [3])), params));
    const state = await m.state();
    expect([...state.keys()]).toEqual(Object.keys(torch.state));
    for (const [k, t] of state) expectClose(t.data, torch.state[k]!, 2e-5, k);
    expectClose(await m.forward(tx, { training: !evaluate }).read(), torch.y, 2e-5, 'outputs');
  }

  it("layer norm layers are nn.LayerNorm's: over a whole sample by default or its last sizes, state_dict, two training steps and outputs as PyTorch's", async () => {
    const spec = {
      input: [2, 5, 5],
      layers: [
        { type: 'conv2d', name: 'conv', outChannels: 3, kernelSize: 3 },
        { type: 'layernorm', name: 'ln' },
        { type: 'relu' },
        { type: 'layernorm', name: 'rows', normalizedShape: [3], eps: 0.001, elementwiseAffine: false },
        { type: 'flatten' },
        { type: 'linear', name: 'out', outFeatures: 4 },
      ],
    };
    await trainsAsTorch(spec, "('conv', nn.Conv2d(2, 3, 3)), ('ln', nn.LayerNorm([3, 3, 3])), ('2', nn.ReLU()), ('rows', nn.LayerNorm(3, eps=1e-3, elementwise_affine=False)), ('4', nn.Flatten()), ('out', nn.Linear(27, 4))", 44);
    expect(() => Model.create(rt(), { input: [4, 3], layers: [{ type: 'layernorm', normalizedShape: [4] }] })).toThrow("layers[0].normalizedShape: layers[0] (layernorm '0'): [4] is not the last sizes of its input [4, 3]");
  });

  it("normalize is torchvision's Normalize before the first layer, per channel or one for all: two training steps and outputs as PyTorch's", async () => {
    const layers = [{ type: 'conv2d', name: 'conv', outChannels: 3, kernelSize: 3 }, { type: 'relu', name: 'act' }, { type: 'flatten', name: 'flat' }, { type: 'linear', name: 'out', outFeatures: 4 }];
    const modules = "('conv', nn.Conv2d(2, 3, 3)), ('act', nn.ReLU()), ('flat', nn.Flatten()), ('out', nn.Linear(27, 4))";
    await trainsAsTorch({ input: [2, 5, 5], normalize: { mean: [0.5, 0.25], std: [0.2, 0.5] }, layers }, `('norm', T.Normalize([0.5, 0.25], [0.2, 0.5])), ${modules}`, 49);
    await trainsAsTorch({ input: [2, 5, 5], normalize: { mean: [0.1307], std: [0.3081] }, layers }, `('norm', T.Normalize([0.1307], [0.3081])), ${modules}`, 50);
    // The test sees a normalisation: without it, other outputs.
    await expect(trainsAsTorch({ input: [2, 5, 5], layers }, `('norm', T.Normalize([0.1307], [0.3081])), ${modules}`, 50)).rejects.toThrow();
  });

  it("group norm layers are nn.GroupNorm's: state_dict, two training steps and outputs as PyTorch's", async () => {
    const spec = {
      input: [2, 5, 5],
      layers: [{ type: 'conv2d', name: 'conv', outChannels: 6, kernelSize: 3 }, { type: 'groupnorm', name: 'gn', numGroups: 3, numChannels: 6 }, { type: 'relu' }, { type: 'flatten' }, { type: 'linear', name: 'out', outFeatures: 4 }],
    };
    await trainsAsTorch(spec, "('conv', nn.Conv2d(2, 6, 3)), ('gn', nn.GroupNorm(3, 6)), ('2', nn.ReLU()), ('3', nn.Flatten()), ('out', nn.Linear(54, 4))", 45);
    expect(() => Model.create(rt(), { input: [6, 2, 2], layers: [{ type: 'groupnorm', numGroups: 4 }] })).toThrow('groupNorm: numGroups must be a positive integer dividing the 6 channels, got 4');
  });

  it("instance norm layers are nn.InstanceNorm2d's (affine or not, no running statistics): state_dict, two training steps and outputs as PyTorch's", async () => {
    const spec = {
      input: [2, 5, 5],
      layers: [{ type: 'conv2d', name: 'conv', outChannels: 3, kernelSize: 3 }, { type: 'instancenorm2d', name: 'inorm', affine: true }, { type: 'relu' }, { type: 'instancenorm2d', eps: 0.01 }, { type: 'flatten' }, { type: 'linear', name: 'out', outFeatures: 4 }],
    };
    await trainsAsTorch(spec, "('conv', nn.Conv2d(2, 3, 3)), ('inorm', nn.InstanceNorm2d(3, affine=True)), ('2', nn.ReLU()), ('3', nn.InstanceNorm2d(3, eps=0.01)), ('4', nn.Flatten()), ('out', nn.Linear(27, 4))", 46);
  });

  it("instance norm layers with running statistics are nn.InstanceNorm2d(track_running_stats=True)'s: updated in training from the samples' statistics, used in evaluation", async () => {
    const spec = {
      input: [2, 5, 5],
      layers: [
        { type: 'conv2d', name: 'conv', outChannels: 3, kernelSize: 3 },
        { type: 'instancenorm2d', name: 'inorm', affine: true, trackRunningStats: true, momentum: 0.3 },
        { type: 'relu' },
        { type: 'instancenorm2d', trackRunningStats: true },
        { type: 'flatten' },
        { type: 'linear', name: 'out', outFeatures: 4 },
      ],
    };
    const torch = "('conv', nn.Conv2d(2, 3, 3)), ('inorm', nn.InstanceNorm2d(3, affine=True, track_running_stats=True, momentum=0.3)), ('2', nn.ReLU()), ('3', nn.InstanceNorm2d(3, track_running_stats=True)), ('4', nn.Flatten()), ('out', nn.Linear(27, 4))";
    await trainsAsTorch(spec, torch, 47, true);
    // In training, outputs from the samples' own statistics (the running ones moved again).
    await trainsAsTorch(spec, torch, 48);
  });

  it("batch norm with momentum null keeps PyTorch's cumulative average (momentum=None)", async () => {
    const xs = [0, 1, 2].map((k) => Array.from({ length: 12 }, (_, i) => Math.sin(i * (k + 2)) * (k + 1)));
    const torch = torchJson<Record<string, number[]>>(`import json, torch, torch.nn as nn
m = nn.Sequential(nn.BatchNorm1d(3, momentum=None))
for x in ${JSON.stringify(xs)}: m(torch.tensor(x).reshape(4, 3))
print(json.dumps({k: v.float().flatten().tolist() for k, v in m.state_dict().items()}))`);
    const m = Model.create(rt(), { input: [3], layers: [{ type: 'batchnorm1d', momentum: null }] });
    for (const x of xs) m.forward(rt().tensor(f32(x), [4, 3]));
    const state = await m.state();
    expect([...state.keys()]).toEqual(Object.keys(torch));
    for (const [k, t] of state) expectClose(t.data, torch[k]!, 1e-6, k);
  });

  it('batch norm without affine or running statistics: no weight and bias, no buffers, the batch statistics in evaluation too', async () => {
    const m = Model.create(rt(), { input: [3], layers: [{ type: 'batchnorm1d', affine: false, trackRunningStats: false }] });
    expect([...m.parameters.keys(), ...m.buffers.keys()]).toEqual([]);
    const x = [1, 2, 3, 3, 5, 9];
    const y = await m.eval().forward(rt().tensor(f32(x), [2, 3])).read();
    // Each column of two values normalised: ±d/√(d² + eps) for their half-difference d.
    expectClose(y, [-1, -1, -1, 1, 1, 1].map((s, i) => s * (Math.abs(x[i]! - x[(i + 3) % 6]!) / 2) / Math.sqrt(((x[i]! - x[(i + 3) % 6]!) / 2) ** 2 + 1e-5)), 1e-6, 'batch statistics');
  });

  it('refuses unknown forward options and a mode that is no boolean', () => {
    const m = Model.create(rt(), spec);
    const x = rt().zeros([1, 6]);
    expect(thrown(() => m.forward(x, { train: true } as never), TypeError).message).toMatch(/^model\.forward: unknown option 'train'/);
    expect(thrown(() => m.activations(x, { training: 1 } as never), TypeError).message).toBe('model.activations: training must be true or false, got 1');
    expect(thrown(() => m.train('no' as never), TypeError).message).toBe('model.train: the mode must be true or false, got "no"');
  });
});

describe('specs', () => {
  const bad: [string, unknown, string][] = [
    ['not an object', 42, ''],
    ['missing input', { layers: [{ type: 'relu' }] }, 'input'],
    ['empty layers', { input: [1, 28, 28], layers: [] }, 'layers'],
    ['unknown type', { input: [1, 28, 28], layers: [{ type: 'relu' }, { type: 'localresponsenorm' }] }, 'layers[1].type'],
    ['dropout p above 1', { input: [4], layers: [{ type: 'dropout', p: 1.5 }] }, 'layers[0].p'],
    ['dropout p as text', { input: [4], layers: [{ type: 'dropout', p: '0.5' }] }, 'layers[0].p'],
    ['leaky slope as text', { input: [4], layers: [{ type: 'leakyrelu', negativeSlope: '0.1' }] }, 'layers[0].negativeSlope'],
    ['a GELU approximation PyTorch lacks', { input: [4], layers: [{ type: 'gelu', approximate: 'sigmoid' }] }, 'layers[0].approximate'],
    ['a softplus beta of 0', { input: [4], layers: [{ type: 'softplus', beta: 0 }] }, 'layers[0].beta'],
    ['negative kernel', { input: [1, 28, 28], layers: [{ type: 'conv2d', outChannels: 4, kernelSize: -3 }] }, 'layers[0].kernelSize'],
    ['fractional channels', { input: [1, 28, 28], layers: [{ type: 'conv2d', outChannels: 2.5, kernelSize: 3 }] }, 'layers[0].outChannels'],
    ['kernel triple', { input: [1, 28, 28], layers: [{ type: 'maxpool2d', kernelSize: [2, 2, 2] }] }, 'layers[0].kernelSize'],
    ['unknown field', { input: [1, 28, 28], layers: [{ type: 'relu', inplace: true }] }, 'layers[0]'],
    ['nested bad field', { input: [1, 28, 28], layers: [{ type: 'sequential', layers: [{ type: 'relu' }, { type: 'linear', outFeatures: '10' }] }] }, 'layers[0].layers[1].outFeatures'],
    ['empty sequential', { input: [1, 28, 28], layers: [{ type: 'sequential', layers: [] }] }, 'layers[0].layers'],
    ['bad name', { input: [1, 28, 28], layers: [{ type: 'relu', name: 'a.b' }] }, 'layers[0].name'],
    ['duplicate names', { input: [1, 28, 28], layers: [{ type: 'relu', name: 'a' }, { type: 'relu', name: 'a' }] }, 'layers[1].name'],
    ['flatten batch', { input: [4], layers: [{ type: 'flatten', startDim: 0 }] }, 'layers[0].startDim'],
    ['flatten batch, counted from the end', { input: [2, 3, 3], layers: [{ type: 'flatten', startDim: -4, endDim: 1 }] }, 'layers[0].startDim'],
    // Flatten dims count the batch, as torch.flatten's do: 3 is the last of [N, 1, 4, 4].
    ['flatten end past the last dim', { input: [1, 4, 4], layers: [{ type: 'flatten', endDim: 4 }] }, 'layers[0].endDim'],
    ['flatten start past the last dim', { input: [1, 4, 4], layers: [{ type: 'flatten', startDim: 4 }] }, 'layers[0].startDim'],
    ['flatten end before start', { input: [1, 4, 4], layers: [{ type: 'flatten', startDim: 2, endDim: 1 }] }, 'layers[0].endDim'],
    ['flatten end counted from the end, too far', { input: [1, 4, 4], layers: [{ type: 'flatten', endDim: -5 }] }, 'layers[0].endDim'],
    ['groups not dividing the input channels', { input: [3, 8, 8], layers: [{ type: 'conv2d', outChannels: 4, kernelSize: 3, groups: 2 }] }, 'layers[0].groups'],
    ['groups not dividing the output channels', { input: [4, 8, 8], layers: [{ type: 'relu' }, { type: 'convtranspose2d', outChannels: 3, kernelSize: 3, groups: 2 }] }, 'layers[1].groups'],
    ['zero groups', { input: [4, 8, 8], layers: [{ type: 'conv2d', outChannels: 4, kernelSize: 3, groups: 0 }] }, 'layers[0].groups'],
    ['zero dilation', { input: [4, 8, 8], layers: [{ type: 'conv2d', outChannels: 4, kernelSize: 3, dilation: 0 }] }, 'layers[0].dilation'],
    ['negative output padding', { input: [4, 8, 8], layers: [{ type: 'convtranspose2d', outChannels: 4, kernelSize: 3, stride: 2, outputPadding: -1 }] }, 'layers[0].outputPadding'],
    ['output padding on a conv2d', { input: [4, 8, 8], layers: [{ type: 'conv2d', outChannels: 4, kernelSize: 3, outputPadding: 1 }] }, 'layers[0]'],
    ['a padding PyTorch lacks', { input: [1, 4, 4], layers: [{ type: 'conv2d', outChannels: 2, kernelSize: 3, padding: 'full' }] }, 'layers[0].padding'],
    ['a padding mode PyTorch lacks', { input: [1, 4, 4], layers: [{ type: 'conv2d', outChannels: 2, kernelSize: 3, padding: 1, paddingMode: 'mirror' }] }, 'layers[0].paddingMode'],
    ['a padding mode on a transposed convolution', { input: [1, 4, 4], layers: [{ type: 'convtranspose2d', outChannels: 2, kernelSize: 3, paddingMode: 'reflect' }] }, 'layers[0]'],
    ['unflatten sizes that do not multiply to the dimension', { input: [12], layers: [{ type: 'unflatten', dim: 1, sizes: [5, -1] }] }, 'layers[0].sizes'],
    ['unflatten with two unknown sizes', { input: [12], layers: [{ type: 'unflatten', dim: 1, sizes: [-1, -1] }] }, 'layers[0].sizes'],
    ['unflatten of the batch', { input: [12], layers: [{ type: 'unflatten', dim: 0, sizes: [2, 6] }] }, 'layers[0].dim'],
    ['an unflatten size of 0', { input: [12], layers: [{ type: 'unflatten', dim: 1, sizes: [0, 12] }] }, 'layers[0].sizes[0]'],
    ['upsample with both size and scale factor', { input: [1, 4, 4], layers: [{ type: 'upsample', size: 8, scaleFactor: 2 }] }, 'layers[0].size'],
    ['upsample with neither size nor scale factor', { input: [1, 4, 4], layers: [{ type: 'upsample', mode: 'bilinear' }] }, 'layers[0].size'],
    ['aligned corners for nearest', { input: [1, 4, 4], layers: [{ type: 'upsample', scaleFactor: 2, alignCorners: true }] }, 'layers[0].alignCorners'],
    ['a zero scale factor', { input: [1, 4, 4], layers: [{ type: 'upsample', scaleFactor: [2, 0] }] }, 'layers[0].scaleFactor[1]'],
    ['an upsampling mode PyTorch lacks', { input: [1, 4, 4], layers: [{ type: 'upsample', scaleFactor: 2, mode: 'linear' }] }, 'layers[0].mode'],
    ['an upsampling past what can be counted', { input: [1, 28, 28], layers: [{ type: 'upsample', scaleFactor: 1e300 }] }, 'layers[0].scaleFactor'],
    ['an upsampling of one axis too large for the device', { input: [1, 28, 28], layers: [{ type: 'upsample', scaleFactor: [1e7, 0.04] }] }, 'layers[0].scaleFactor'],
    ['an upsampling to a size too large for the device', { input: [1, 28, 28], layers: [{ type: 'upsample', size: [1e9, 1] }] }, 'layers[0].size'],
    ['an adaptive pooling to a size too large for the device', { input: [1, 28, 28], layers: [{ type: 'adaptiveavgpool2d', outputSize: [1e9, 1] }] }, 'layers[0].outputSize'],
    ['a padding too large for the device', { input: [1, 28, 28], layers: [{ type: 'replicationpad2d', padding: [1e9, 0, 0, 0] }] }, 'layers[0].padding'],
    ['an rrelu whose upper slope is below its lower', { input: [4], layers: [{ type: 'rrelu', lower: 0.5, upper: 0.2 }] }, 'layers[0].upper'],
    ['a hardtanh whose bounds are equal (nn.Hardtanh asserts the upper is above)', { input: [4], layers: [{ type: 'hardtanh', minVal: 0.5, maxVal: 0.5 }] }, 'layers[0].maxVal'],
    ['a pixel shuffle by 0', { input: [4, 4, 4], layers: [{ type: 'pixelshuffle', upscaleFactor: 0 }] }, 'layers[0].upscaleFactor'],
    ['a pixel unshuffle without its factor', { input: [4, 4, 4], layers: [{ type: 'pixelunshuffle', upscaleFactor: 2 }] }, 'layers[0].downscaleFactor'],
    ['a negative reflection padding', { input: [1, 4, 4], layers: [{ type: 'reflectionpad2d', padding: [1, 1, -1, 1] }] }, 'layers[0].padding[2]'],
    ['three sides of padding', { input: [1, 4, 4], layers: [{ type: 'zeropad2d', padding: [1, 1, 1] }] }, 'layers[0].padding'],
    ['a constant padding without its value', { input: [1, 4, 4], layers: [{ type: 'constantpad2d', padding: 1 }] }, 'layers[0].value'],
    ['a softmax over a fractional dimension', { input: [10], layers: [{ type: 'softmax', dim: 0.5 }] }, 'layers[0].dim'],
    ['a zero adaptive pooling size', { input: [1, 4, 4], layers: [{ type: 'adaptiveavgpool2d', outputSize: [1, 0] }] }, 'layers[0].outputSize[1]'],
    ['output padding not below the stride', { input: [4, 8, 8], layers: [{ type: 'convtranspose2d', outChannels: 4, kernelSize: 3, stride: 2, outputPadding: [1, 2] }] }, 'layers[0].outputPadding'],
    ['fewer class names than outputs', { input: [4], layers: [{ type: 'linear', outFeatures: 3 }], classes: ['cat', 'dog'] }, 'classes'],
    ['class names for maps, not classes', { input: [1, 4, 4], layers: [{ type: 'relu' }], classes: ['a'] }, 'classes'],
    ['an empty class name', { input: [4], layers: [{ type: 'linear', outFeatures: 2 }], classes: ['cat', ''] }, 'classes[1]'],
    ['a class name with control characters', { input: [4], layers: [{ type: 'linear', outFeatures: 2 }], classes: ['cat', 'dog\x1b[2J'] }, 'classes[1]'],
    ['class names as text', { input: [4], layers: [{ type: 'linear', outFeatures: 2 }], classes: 'cat,dog' }, 'classes'],
    ['a normalisation of three channels for two', { input: [2, 4, 4], layers: [{ type: 'relu' }], normalize: { mean: [0.5, 0.5, 0.5], std: [1, 1, 1] } }, 'normalize.mean'],
    ['a normalisation by a zero std', { input: [2, 4, 4], layers: [{ type: 'relu' }], normalize: { mean: [0.5], std: [0] } }, 'normalize.std[0]'],
    ['a normalisation by a std float32 holds as 0', { input: [2, 4, 4], layers: [{ type: 'relu' }], normalize: { mean: [0.5, 0], std: [1, 1e-46] } }, 'normalize.std[1]'],
    ['a normalisation of more means than stds', { input: [2, 4, 4], layers: [{ type: 'relu' }], normalize: { mean: [0.5, 0.5], std: [1] } }, 'normalize.std'],
  ];
  it('names the classes: as many as the outputs, said where they are not', () => {
    const spec = { input: [4], layers: [{ type: 'linear', outFeatures: 3 }], classes: ['cat', 'dog', 'ship'] };
    expect(Model.create(rt(), spec).spec.classes).toEqual(['cat', 'dog', 'ship']);
    expect(thrown(() => Model.create(rt(), { ...spec, classes: ['cat', 'dog'] }), SpecError).message).toBe("classes: names 2 classes, but the model's output per sample is [3]");
    expect(thrown(() => Model.create(rt(), { input: [1, 4, 4], layers: [{ type: 'relu' }], classes: ['a'] }), SpecError).message).toBe("classes: names 1 classes, but the model's output per sample is [1, 4, 4]: a classifier ends in a flat [classes]");
  });
  it('says what a size or a pair of them must be', () => {
    const message = (kernelSize: unknown, padding: unknown = 0) =>
      thrown(() => parseModelSpec({ input: [1, 8, 8], layers: [{ type: 'conv2d', outChannels: 2, kernelSize, padding }] }), SpecError).message;
    for (const k of ['3', [2], 1.5, [1, 2, 3]]) expect(message(k), JSON.stringify(k)).toBe('layers[0].kernelSize: expected a positive integer or [h, w] of them (in model spec)');
    expect(message(3, '1')).toBe("layers[0].padding: expected a non-negative integer, [h, w] of them, 'same' or 'valid' (in model spec)");
    // A pooling layer's padding is a size only.
    expect(thrown(() => parseModelSpec({ input: [1, 8, 8], layers: [{ type: 'maxpool2d', kernelSize: 2, padding: 'same' }] }), SpecError).message).toBe(
      'layers[0].padding: expected a non-negative integer or [h, w] of them (in model spec)',
    );
    expect(thrown(() => parseModelSpec({ input: [1, 8, 8], layers: [{ type: 'conv2d', outChannels: 2, kernelSize: 3, stride: 0 }] }), SpecError).message).toMatch(
      /^layers\[0\]\.stride: must be > 0, got 0/,
    );
    // Zero padding is a padding, on either axis, and a max-pool's too.
    expect(() => parseModelSpec({ input: [1, 8, 8], layers: [{ type: 'conv2d', outChannels: 2, kernelSize: 3, padding: [0, 2] }, { type: 'maxpool2d', kernelSize: 2, padding: 0 }] })).not.toThrow();
  });

  for (const [what, spec, path] of bad) {
    it(`rejects ${what} at '${path}'`, () => {
      let err: unknown;
      try {
        Model.create(rt(), spec);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SpecError);
      expect((err as SpecError).path).toBe(path);
      if (path) expect((err as SpecError).message.startsWith(`${path}: `)).toBe(true);
    });
  }

  it("says what PyTorch's spellings mean: a type in PyTorch's case, a snake_case field, and every type there is", () => {
    const message = (layer: object) => thrown(() => parseModelSpec({ input: [1, 28, 28], layers: [layer] }), SpecError).message;
    const types = message({ type: 'BatchNorm2d' });
    expect(types).toMatch(/^layers\[0\]\.type: unknown layer type "BatchNorm2d" \("batchnorm2d"\?\); the types are conv2d, convtranspose2d, linear, .*, sequential, residual \(in model spec\)$/);
    expect(message({ type: 'batch_norm2d' })).toContain('unknown layer type "batch_norm2d" ("batchnorm2d"?)');
    expect(message({ type: 5 })).toMatch(/^layers\[0\]\.type: a layer's type is a string, one of conv2d, /);
    // Every type the schema takes, none cut off.
    for (const t of ['relu', 'maxpool2d', 'batchnorm2d', 'instancenorm2d', 'pixelunshuffle', 'dropout2d']) expect(types).toContain(` ${t},`);
    expect(message({ type: 'localresponsenorm' })).not.toContain('?)');
    expect(message({ kernelSize: 3 })).toMatch(/^layers\[0\]\.type: a layer needs a type, one of conv2d, /);
    expect(message({ type: 'conv2d', out_channels: 4, kernelSize: 3 })).toBe(
      'layers[0].outChannels: missing: expected a number; and unknown field "out_channels" ("outChannels"?) (in model spec)',
    );
    // A value of the wrong type or out of bounds, shown.
    expect(message({ type: 'linear', outFeatures: 10.5 })).toBe('layers[0].outFeatures: expected an integer, got 10.5 (in model spec)');
    expect(message({ type: 'linear', outFeatures: '10' })).toBe('layers[0].outFeatures: expected a number, got "10" (in model spec)');
    expect(message({ type: 'dropout', p: 2 })).toBe('layers[0].p: must be ≤ 1, got 2 (in model spec)');
    expect(thrown(() => parseModelSpec({ input: [1, 28, 28], layers: [[1]] }), SpecError).message).toBe('layers[0]: expected an object, got an array of 1 (in model spec)');
    // A field that is no spelling of one there is: the fields the layer has.
    expect(message({ type: 'relu', inplace: true })).toBe('layers[0]: unknown field "inplace"; a layer of type "relu" has type, name (in model spec)');
    expect(message({ type: 'relu', in_place: true })).toBe('layers[0]: unknown field "in_place"; a layer of type "relu" has type, name (in model spec)');
    expect(message({ type: 'conv2d', outChannels: 4, kernelSize: 3, Stride: 2 })).toBe('layers[0]: unknown field "Stride" ("stride"?) (in model spec)');
    expect(message({ type: 'sequential', layers: [{ type: 'linear', outFeatures: 3, bias_: false }] })).toBe('layers[0].layers[0]: unknown field "bias_" ("bias"?) (in model spec)');
    expect(message({ type: 'conv2d', outChannels: 4, kernel: 3 })).toBe(
      'layers[0].kernelSize: expected a positive integer or [h, w] of them; and unknown field "kernel"; a layer of type "conv2d" has type, name, inChannels, outChannels, kernelSize, stride, padding, paddingMode, dilation, groups, bias (in model spec)',
    );
    // An unknown type has no fields to name.
    expect(message({ type: 'lrn', size: 3 })).toMatch(/^layers\[0\]\.type: unknown layer type "lrn"; the types are /);
    const spec = (extra: object) => thrown(() => parseModelSpec({ input: [1, 28, 28], layers: [{ type: 'relu' }], ...extra }), SpecError).message;
    expect(spec({ Layers: [] })).toBe('unknown field "Layers" ("layers"?) (in model spec)');
    expect(spec({ mean: [0.5] })).toBe('unknown field "mean"; a model spec has input, layers, normalize, classes (in model spec)');
    expect(spec({ normalize: { mean: [0.1], sd: [0.3] } })).toMatch(/^normalize\.std: .*; and unknown field "sd"; normalize has mean, std \(in model spec\)$/);
  });

  // An upsampling by 1e300 was refused with the engine's "Invalid typed array length: 7.84e+302";
  // one by 1e6 took 40 s to build its matrix before the device's limit refused it.
  it('blames the field that sizes an output too large, before building anything', () => {
    const message = (layer: object) => thrown(() => Model.create(rt(), { input: [1, 28, 28], layers: [layer] }), SpecError).message;
    expect(message({ type: 'upsample', scaleFactor: 1e300 })).toBe(
      "layers[0].scaleFactor: layers[0] (upsample '0'): scaleFactor 1e+300 makes its output too large: interpolate: scaleFactor 1e+300 makes an output of 2.8e+301×2.8e+301 pixels, more than can be counted (input [1, 1, 28, 28])",
    );
    const started = performance.now();
    expect(message({ type: 'upsample', scaleFactor: 1e6, mode: 'area' })).toMatch(/^layers\[0\]\.scaleFactor: layers\[0\] \(upsample '0'\): scaleFactor 1000000 makes its output too large: interpolate: result \[1, 1, 28000000, 28000000\] f32 is 3136000000000000 bytes, over this device's limit of \d+ bytes/);
    expect(message({ type: 'zeropad2d', padding: 1e9 })).toMatch(/^layers\[0\]\.padding: layers\[0\] \(zeropad2d '0'\): padding 1000000000 makes its output too large: pad: result \[1, 1, 2000000028, 2000000028\] f32/);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('names a layer too large for the device before drawing its parameters', () => {
    const before = rt().stats().buffersCreated;
    const huge = { input: [100000], layers: [{ type: 'linear', outFeatures: 100000 }] };
    expect(() => Model.create(rt(), huge)).toThrow(DeviceLimitError);
    expect(() => Model.create(rt(), huge)).toThrow(/layers\[0\] \(linear '0'\) weight: parameter \[100000, 100000\] f32 is 40000000000 bytes, over this device's limit of \d+ bytes per buffer/);
    expect(rt().stats().buffersCreated).toBe(before);
  });

  it('applies a linear layer to the last dimension of any input, as nn.Linear', async () => {
    const model = Model.create(rt(), { input: [2, 3], layers: [{ type: 'linear', name: 'fc', outFeatures: 4 }] });
    expect(model.outputShape).toEqual([2, 4]);
    const x = Float32Array.from({ length: 5 * 2 * 3 }, (_, i) => Math.sin(i));
    const y = await model.forward(rt().tensor(x, [5, 2, 3])).read();
    const params = await model.state();
    const [w, b] = [params.get('fc.weight')!.data, params.get('fc.bias')!.data];
    const ref = new Float64Array(5 * 2 * 4);
    for (let r = 0; r < 10; r++)
      for (let o = 0; o < 4; o++) {
        let s = b[o]!;
        for (let i = 0; i < 3; i++) s += x[r * 3 + i]! * w[o * 3 + i]!;
        ref[r * 4 + o] = s;
      }
    expectClose(y, ref, 1e-5, 'linear over [5, 2, 3]');
  });

  it('gives conv2d and linear layers a bias unless the spec says bias: false, named and drawn as PyTorch\'s bias= does', async () => {
    const spec = {
      input: [1, 5, 5],
      layers: [
        { type: 'conv2d', name: 'c', outChannels: 2, kernelSize: 3, bias: false },
        { type: 'conv2d', name: 'd', outChannels: 2, kernelSize: 2, bias: true },
        { type: 'flatten' },
        { type: 'linear', name: 'l', outFeatures: 4, bias: false },
        { type: 'linear', name: 'm', outFeatures: 3, bias: true },
      ],
    };
    const m = Model.create(rt(), spec, { seed: 1 });
    expect([...m.parameters.keys()]).toEqual(['c.weight', 'd.weight', 'd.bias', 'l.weight', 'm.weight', 'm.bias']);
    const torch = torchJson<Record<string, number[]>>(`import json, torch, torch.nn as nn
torch.manual_seed(1)
m = nn.ModuleDict({'c': nn.Conv2d(1, 2, 3, bias=False), 'd': nn.Conv2d(2, 2, 2, bias=True), 'l': nn.Linear(8, 4, bias=False), 'm': nn.Linear(4, 3, bias=True)})
print(json.dumps({k: v.flatten().tolist() for k, v in m.state_dict().items()}))`);
    expect([...m.parameters.keys()]).toEqual(Object.keys(torch));
    for (const [name, t] of m.parameters) expect(Array.from(await t.read()), name).toEqual(Array.from(f32(torch[name]!)));
  });

  it('names a layer that does not fit its input, with both shapes, before allocating', () => {
    const before = rt().stats().buffersCreated;
    const spec = {
      input: [1, 28, 28],
      layers: [
        { type: 'conv2d', outChannels: 8, kernelSize: 3 },
        { type: 'sequential', name: 'block', layers: [{ type: 'conv2d', inChannels: 4, outChannels: 8, kernelSize: 3 }] },
      ],
    };
    expect(() => Model.create(rt(), spec)).toThrow(ShapeError);
    expect(() => Model.create(rt(), spec)).toThrow(/layers\[1\]\.layers\[0\] \(conv2d 'block\.0'\): does not fit its input \[8, 26, 26\]: .*\[1, 8, 26, 26\].*\[8, 4, 3, 3\]/);
    const tooBig = { input: [1, 4, 4], layers: [{ type: 'maxpool2d', kernelSize: 5 }] };
    expect(() => Model.create(rt(), tooBig)).toThrow(/layers\[0\] \(maxpool2d '0'\)/);
    // An image without its channel axis: named as such, not as a weight with H input channels.
    const flatDropout = { input: [4], layers: [{ type: 'linear', outFeatures: 3 }, { type: 'dropout2d' }] };
    expect(() => Model.create(rt(), flatDropout)).toThrow("layers[1] (dropout2d '1'): does not fit its input [3]: dropout2d: needs a batch of images [N, C, H, W] (x [1, 3] f32)");
    const noChannels = { input: [28, 28], layers: [{ type: 'conv2d', outChannels: 4, kernelSize: 3 }] };
    expect(() => Model.create(rt(), noChannels)).toThrow("layers[0] (conv2d '0'): takes inputs of [C, H, W] (with the batch, [N, C, H, W]), got [28, 28]");
    const flat = { input: [1, 4, 4], layers: [{ type: 'flatten' }, { type: 'maxpool2d', kernelSize: 2 }] };
    expect(() => Model.create(rt(), flat)).toThrow("layers[1] (maxpool2d '1'): takes inputs of [C, H, W] (with the batch, [N, C, H, W]), got [16]");
    const linear = { input: [3, 4, 4], layers: [{ type: 'linear', inFeatures: 47, outFeatures: 2 }] };
    expect(() => Model.create(rt(), linear)).toThrow(/layers\[0\] \(linear '0'\)/);
    expect(Model.create(rt(), { input: [1, 4, 4], layers: [{ type: 'flatten', endDim: 3 }] }).outputShape).toEqual([16]);
    expect(Model.create(rt(), { input: [1, 4, 4], layers: [{ type: 'flatten', startDim: -3, endDim: -2 }] }).outputShape).toEqual([4, 4]);
    expect(rt().stats().buffersCreated).toBe(before);
  });

  /** The SpecError that parsing `spec` throws. */
  const specError = (spec: unknown, source?: string) => thrown(() => parseModelSpec(spec, source), SpecError);
  /** `depth` sequentials nested in one another around a relu. */
  const nested = (depth: number) => {
    let layers: unknown[] = [{ type: 'relu' }];
    for (let i = 0; i < depth; i++) layers = [{ type: 'sequential', layers }];
    return { input: [4], layers };
  };

  it('refuses a spec nested deeper than 64 levels before zod recurses into it, naming the path and the file', () => {
    // 1000 levels overflowed zod's recursive parse (a RangeError naming nothing).
    const e = specError(nested(1000), 'deep.json');
    const path = `layers[0]${'.layers[0]'.repeat(31)}`;
    expect(e.path).toBe(path);
    expect(e.message).toBe(`${path}: nested more than 64 levels deep (in deep.json)`);
    // 30 nested sequentials (62 levels to the relu) are fine, and build.
    expect(Model.create(rt(), nested(30)).layers).toHaveLength(1);
  });

  it('bounds the input size a spec may claim', () => {
    const e = specError({ input: [1, 1e9, 1e9], layers: [{ type: 'flatten' }] }, 'huge.json');
    expect(e.path).toBe('input');
    expect(e.message).toBe('input: more than 16777216 values in one input sample (in huge.json)');
    expect(parseModelSpec({ input: [1, 4096, 4096], layers: [{ type: 'flatten' }] }).input).toEqual([1, 4096, 4096]);
  });

  it('bounds the values a spec may hold and the JSON text it is read from, before zod validates anything', () => {
    // zod kept an issue per bad layer, hundreds of bytes each: 8 million ran the heap out.
    const e = specError({ input: [4], layers: Array.from({ length: 70_000 }, () => 5) }, 'many.json');
    expect(e.message).toBe('more than 65536 values, more than any model spec needs (in many.json)');
    // 10,000 layers are fine (about 20,000 values here).
    expect(parseModelSpec({ input: [4], layers: Array.from({ length: 10_000 }, () => ({ type: 'relu' })) }).layers).toHaveLength(10_000);
    const long = JSON.stringify({ input: [4], layers: [{ type: 'relu', name: 'x'.repeat(2 ** 20) }] });
    const text = thrown(() => parseModelSpecJson(long, 'long.json', (why) => new FileFormatError('long.json', undefined, why)), FileFormatError);
    expect(text.message).toBe(`long.json: too long for a model spec: ${long.length} characters, at most 1048576`);
    const notJson = thrown(() => parseModelSpecJson('{"input": [4],', 'bad.json', (why) => new FileFormatError('bad.json', undefined, why)), FileFormatError);
    expect(notJson.message).toMatch(/^bad\.json: not valid JSON \(/);
  });

  it('escapes control characters of a spec that its errors echo', () => {
    const e = specError({ input: [4], layers: [{ type: 'relu', '\x1b[2Kok\r': 1 }] });
    expect(e.path).toBe('layers[0]');
    expect(e.message).toBe('layers[0]: unknown field "\\u001b[2Kok\\r"; a layer of type "relu" has type, name (in model spec)');
    expect(e.message).not.toMatch(/\p{Cc}/u);
  });
});

describe('forward and load', () => {
  it('runs a batch and returns every activation', async () => {
    const m = Model.create(rt());
    const x = rt().tensor(new Float32Array(3 * 784).fill(0.5), [3, 1, 28, 28]);
    const acts = m.activations(x);
    expect(acts.map((a) => a.name)).toEqual(['conv1.0', 'conv1.1', 'conv1.2', 'conv2.0', 'conv2.1', 'conv2.2', '2', 'out']);
    expect(acts.at(-1)!.tensor.shape).toEqual([3, 10]);
    expect(() => m.forward(rt().zeros([3, 28, 28]))).toThrow(/model: expects input \[N, 1, 28, 28\], got \[3, 28, 28\]/);
    const other = await createRuntime({ device: rt().device });
    try {
      expect(() => m.forward(other.zeros([3, 1, 28, 28]))).toThrow(/^model: tensor \[3, 1, 28, 28\] f32, the batch given, belongs to another runtime than the model's parameters$/);
      // Traced by the other runtime, the batch is its program's input.
      await expect(other.compile(({ x }) => m.forward(x!), { x: [1, 1, 28, 28] })).rejects.toThrow(
        "model: input 'x' [1, 1, 28, 28] f32, the batch given, belongs to another runtime than the model's parameters",
      );
    } finally {
      other.dispose();
    }
  });

  it('a batch that is no Tensor (host data) is a TypeError saying how to upload it', () => {
    const m = Model.create(rt());
    const e = thrown(() => m.forward(new Float32Array(784) as never), TypeError);
    expect(e.message).toBe('model.forward: x must be a Tensor, got a Float32Array of length 784 (rt.tensor(data, shape) uploads it)');
    expect(() => m.activations(undefined as never)).toThrow(/^model\.activations: x must be a Tensor, got undefined$/);
  });

  it("names the layer whose op refuses the batch, and refuses a batch that is not f32 as the model's", () => {
    const spec = { input: [3, 4, 4], layers: [{ type: 'conv2d', name: 'stem', outChannels: 4, kernelSize: 3 }, { type: 'batchnorm2d', name: 'bn_stem' }, { type: 'adaptiveavgpool2d', outputSize: 1 }, { type: 'batchnorm2d', name: 'bn_head' }] } as const;
    const m = Model.create(rt(), spec);
    const one = rt().zeros([1, 3, 4, 4]);
    const e = thrown(() => m.forward(one, { training: true }), ShapeError);
    expect(e.message).toBe("model.forward: layers[3] (batchnorm2d 'bn_head'): batchNorm: needs more than one value per channel in training, got 1 (x [1, 4, 1, 1] f32)");
    expect(() => m.activations(rt().zeros([2, 3, 4, 4], 'i32'))).toThrow(/^model: expects f32 input \[N, 3, 4, 4\], got i32$/);
    expect(m.forward(one, { training: false }).shape).toEqual([1, 4, 1, 1]);
  });

  it('loads named arrays after checking every name and shape', async () => {
    const m = Model.create(rt());
    const state = await m.state();
    const conv = state.get('conv1.0.bias')!;
    const changed = new Map(state);
    changed.set('conv1.0.bias', { shape: conv.shape, data: f32(conv.data.map((v) => v + 1)) });
    m.load(changed);
    expectClose(await m.parameters.get('conv1.0.bias')!.read(), Float64Array.from(conv.data, (v) => Math.fround(v + 1)), 0, 'loaded bias');
    // A state_dict of nn.DataParallel's, every name under "module.", in another order: taken without it.
    const parallel = new Map([...changed].reverse().map(([k, t]) => [`module.${k}`, { ...t, data: f32(t.data.map((v) => v * 2)) }]));
    m.load(parallel);
    expectClose(await m.parameters.get('conv1.0.bias')!.read(), Float64Array.from(conv.data, (v) => Math.fround(Math.fround(v + 1) * 2)), 0, 'bias loaded without its prefix');
    expect(Model.create(rt(), SEED_CNN, { weights: parallel }).parameters.get('out.bias')!.shape).toEqual([10]);
    // Only where every name has the one prefix.
    const mixed = new Map([...changed].map(([k, t], i) => [i ? `module.${k}` : k, t]));
    expect(() => m.load(mixed, 'mixed.safetensors')).toThrow(/^mixed\.safetensors does not match the model: missing conv1\.0\.bias \[16\]; .*unexpected "module\.conv1\.0\.bias"/);
    // A difference beside the prefix is named as such, not as every name missing.
    const short = new Map([...parallel].filter(([k]) => k !== 'module.out.bias'));
    expect(() => m.load(short, 'short.safetensors')).toThrow(/^short\.safetensors does not match the model: missing out\.bias \[10\] \(its names read without the prefix "module\." they all carry\)$/);
    const wrong = new Map(state);
    wrong.delete('out.bias');
    wrong.set('out.weight', { shape: [10, 1567], data: new Float32Array(15670) });
    wrong.set('extra', { shape: [1], data: new Float32Array(1) });
    expect(() => m.load(wrong, 'x.safetensors')).toThrow(/x\.safetensors does not match the model: out\.weight is \[10, 1567\] there but \[10, 1568\] in the model; missing out\.bias \[10\]; unexpected "extra"/);
    // Names from a file come escaped, and a long list is cut.
    const junk = new Map(state);
    for (let i = 0; i < 1000; i++) junk.set(`x${i}\u001b[2K`, { shape: [1], data: new Float32Array(1) });
    const msg = String((() => { try { m.load(junk, 'y.safetensors'); } catch (e) { return e; } })());
    expect(msg).toContain('unexpected "x0\\u001b[2K"');
    expect(msg).toMatch(/; and 992 more$/);
    expect(msg).not.toMatch(/\u001b/);
    // Eight problems are listed; a ninth is counted, not dropped.
    const nine = new Map(state);
    for (let i = 0; i < 9; i++) nine.set(`n${i}`, { shape: [1], data: new Float32Array(1) });
    expect(() => m.load(nine, 'z.safetensors')).toThrow(/: unexpected "n0"; (unexpected "n\d"; ){6}unexpected "n7"; and 1 more$/);
    // Exactly eight are all listed, with no count.
    nine.delete('n8');
    expect(() => m.load(nine, 'z.safetensors')).toThrow(/unexpected "n7"$/);
    // Missing data is named as such.
    const none = new Map(state);
    none.set('out.bias', { shape: [10], data: undefined as never });
    expect(() => m.load(none)).toThrow(/^checkpoint does not match the model: out\.bias \[10\] needs a Float32Array of 10 values, got undefined$/);
    // Weights given to Model.create are checked the same way; 'checkpoint' names them by default.
    expect(() => Model.create(rt(), SEED_CNN, { weights: none })).toThrow(/^checkpoint does not match the model: out\.bias/);
  });

  it("loads what it can with strict: false, as load_state_dict(strict=False): the names on one side only listed, shapes still checked", async () => {
    const m = Model.create(rt(), SEED_CNN, { seed: 3 });
    const head = await m.parameters.get('out.weight')!.read();
    const backbone = new Map([...(await Model.create(rt(), SEED_CNN, { seed: 4 }).state())].filter(([k]) => !k.startsWith('out.')));
    backbone.set('fc.weight', { shape: [2], data: new Float32Array(2) });
    expect(m.load(backbone, { strict: false })).toEqual({ missing: ['out.weight', 'out.bias'], unexpected: ['fc.weight'] });
    expect(Array.from(await m.parameters.get('conv1.0.bias')!.read())).toEqual(Array.from(backbone.get('conv1.0.bias')!.data));
    expect(Array.from(await m.parameters.get('out.weight')!.read())).toEqual(Array.from(head)); // kept
    expect(m.load(await m.state(), { strict: true })).toEqual({ missing: [], unexpected: [] });
    // Strict by default; a shape that differs is refused either way, and nothing is written.
    expect(() => m.load(backbone, { source: 'backbone.pt' })).toThrow(/^backbone\.pt does not match the model: missing out\.weight \[10, 1568\]/);
    const bent = new Map(backbone).set('conv1.0.bias', { shape: [15], data: new Float32Array(15) });
    expect(() => m.load(bent, { strict: false })).toThrow(/^checkpoint does not match the model: conv1\.0\.bias is \[15\] there but \[16\] in the model$/);
    expect(() => m.load(backbone, { strict: 'no' } as never)).toThrow(/^Model\.load: strict must be true or false, got "no"$/);
    expect(() => m.load(backbone, { strcit: false } as never)).toThrow(/^Model\.load: unknown option 'strcit'/);
    expect(() => m.load(backbone, 7 as never)).toThrow(/^Model\.load: the options must be \{ strict, source \} or a source name, got 7$/);
  });

  it('dispose() gives every parameter buffer back at once, and the model then refuses work', async () => {
    const before = rt().stats().inUseBytes;
    const m = Model.create(rt());
    const bytes = [...m.parameters.values()].reduce((n, p) => n + p.size * 4, 0);
    expect(rt().stats().inUseBytes - before).toBeGreaterThanOrEqual(bytes);
    m.dispose();
    expect(rt().stats().inUseBytes).toBe(before);
    expect(() => m.forward(rt().zeros([1, 1, 28, 28]))).toThrow(/^model\.forward: parameter conv1\.0\.weight was disposed \(the model's dispose\(\) frees them all\)$/);
    expect(() => m.activations(rt().zeros([1, 1, 28, 28]))).toThrow(/^model\.activations: parameter conv1\.0\.weight was disposed/);
    await expect(m.state()).rejects.toThrow(/was disposed/);
    // A parameter's .grad is named after it in messages.
    const other = Model.create(rt());
    backward(sum(other.forward(rt().zeros([1, 1, 28, 28]))));
    expect(() => other.parameters.get('out.bias')!.grad!.write(new Float32Array(10))).toThrow(/^write: out\.bias\.grad \[10\] f32 is lazy/);
    other.dispose();
  });

  it('Model.create names a missing runtime (a spec passed first), and bad options before allocating anything', () => {
    expect(() => Model.create(SEED_CNN as never)).toThrow(/^Model\.create: the first argument must be a Runtime \(from createRuntime\(\)\), then the spec$/);
    const before = rt().stats().bytesAllocated;
    const cases: [unknown, RegExp][] = [
      [{ bogus: 1 }, /^Model\.create: unknown option 'bogus' \(it takes seed, generator, weights, source\)$/],
      ['seed 1', /^Model\.create: options must be an object/],
      [{ seed: -1 }, /^Model\.create: the seed must be an integer from 0 to 2\^53 − 1, got -1$/],
      [{ seed: 'x' }, /^Model\.create: the seed must be an integer from 0 to 2\^53 − 1, got "x"$/],
      [{ generator: 5 }, /^Model\.create: generator must be a TorchGenerator \(rt\.manualSeed\(seed\) gives one\), got 5$/],
      [{ seed: 1, generator: rt().manualSeed(1) }, /^Model\.create: give seed or generator, not both$/],
      [{ source: 3 }, /^Model\.create: source must be a string/],
    ];
    for (const [opts, message] of cases) expect(() => Model.create(rt(), SEED_CNN, opts as never)).toThrow(message);
    expect(rt().stats().bytesAllocated).toBe(before);
  });

  it('writes nothing when any array is too short for its shape, and takes a plain object too', async () => {
    const m = Model.create(rt());
    const before = await m.state();
    const short = new Map([...before].map(([k, v]) => [k, { shape: v.shape, data: new Float32Array(v.data.length).fill(0.5) }]));
    short.set('out.bias', { shape: [10], data: new Float32Array(3) });
    expect(() => m.load(short, 'w.safetensors')).toThrow(/w\.safetensors does not match the model: out\.bias \[10\] needs a Float32Array of 10 values, got 3 values$/);
    const plain = Object.fromEntries([...short].map(([k, v]) => [k, { ...v, data: Array.from(v.data) as unknown as Float32Array }]));
    expect(() => m.load(plain)).toThrow(/conv1\.0\.weight \[16, 1, 5, 5\] needs a Float32Array of 400 values, got an Array; (.*; ){4}out\.bias \[10\] needs a Float32Array of 10 values, got an Array$/);
    for (const [k, v] of before) expect(Array.from(await m.parameters.get(k)!.read()), k).toEqual(Array.from(v.data));
    short.set('out.bias', { shape: [10], data: new Float32Array(10).fill(0.5) });
    m.load(Object.fromEntries(short));
    for (const k of before.keys()) expect((await m.parameters.get(k)!.read()).every((v) => v === 0.5), k).toBe(true);
  });
});

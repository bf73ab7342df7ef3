// PyTorch as an oracle: runs a Python snippet under Debian's python3-torch and returns its
// JSON output. scripts/setup-system.sh installs it; a missing torch fails the test that asks.
import { execFileSync } from 'node:child_process';

export const PYTHON = process.env.FOVEA_PYTHON ?? '/usr/bin/python3';

export function torchJson<T>(code: string, input?: string): T {
  const out = execFileSync(PYTHON, ['-c', code], { input, encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  return JSON.parse(out) as T;
}

/** An op's output in PyTorch, and the gradient of Σ y·sin(k) (k the element's index) with respect to each input. */
export interface TorchResult {
  y: number[];
  grads: number[][];
}

/**
 * PyTorch's result of `call` for each case: a Python expression of `xs` (the case's inputs, f32
 * tensors of the given values and shapes, requiring gradients), `c` (the case, as JSON) and `F`
 * (torch.nn.functional), after `prelude` (definitions it uses). One Python run for all cases.
 */
export function torchOps<C>(call: string, cases: readonly C[], inputs: readonly (readonly (readonly [values: ArrayLike<number>, shape: readonly number[]])[])[], prelude = ''): TorchResult[] {
  return torchJson<TorchResult[]>(
    `
import json, sys, torch
import torch.nn.functional as F
${prelude}
out = []
for c, inputs in zip(*json.load(sys.stdin)):
    xs = [torch.tensor(v, dtype=torch.float32).reshape(s).requires_grad_() for v, s in inputs]
    y = ${call}
    (y * torch.arange(y.numel()).reshape(y.shape).sin()).sum().backward()
    out.append({'y': y.flatten().tolist(), 'grads': [x.grad.flatten().tolist() for x in xs]})
print(json.dumps(out))`,
    JSON.stringify([cases, inputs.map((xs) => xs.map(([v, s]) => [Array.from(v), s]))]),
  );
}

/** The seed tutorial's CNN, as Python source. */
export const SEED_CNN_PY = `
import torch, torch.nn as nn
class CNN(nn.Module):
    def __init__(self):
        super(CNN, self).__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 16, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(kernel_size=2))
        self.conv2 = nn.Sequential(nn.Conv2d(16, 32, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2))
        self.out = nn.Linear(32 * 7 * 7, 10)
    def forward(self, x):
        x = self.conv1(x)
        x = self.conv2(x)
        x = x.view(x.size(0), -1)
        return self.out(x)
`;

"""Peer benchmark: the seed CNN trained with PyTorch itself, on CUDA where it has a GPU, else on
the CPU. The yardstick beside the WebGPU peers: same model, Adam lr 0.001, batch 50, real MNIST
batches gathered on the host and uploaded every step (as DataLoader does), and the same protocol
(warm-up steps, then the median samples/s over windows ending with a loss read-back). Its own
seeded shuffle and PyTorch's default initialisation. Prints one JSON line, as the other peers.
  python3 bench/peers/pytorch.py --data DIR [--steps 200 --warmup 20 --window 10]"""
import argparse, json, statistics, struct, sys, time

args = argparse.ArgumentParser()
args.add_argument('--data', required=True)
for name, default in (('steps', 200), ('warmup', 20), ('window', 10)):
    args.add_argument(f'--{name}', type=int, default=default)
flags = args.parse_args()
try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError as e:
    print(json.dumps({'peer': 'PyTorch', 'error': f'not installed ({e.name})'}))
    sys.exit(0)

BATCH = 50
dev = 'cuda' if torch.cuda.is_available() else 'cpu'


def idx(name):
    b = open(f'{flags.data}/{name}', 'rb').read()
    dims = struct.unpack('>' + 'I' * b[3], b[4:4 + 4 * b[3]])
    return np.frombuffer(b, np.uint8, offset=4 + 4 * b[3]).reshape(dims)


images = torch.from_numpy(idx('train-images-idx3-ubyte').copy())
labels = torch.from_numpy(idx('train-labels-idx1-ubyte').astype(np.int64))
t0 = time.perf_counter()  # as fovea's first step: from after the data is read
torch.manual_seed(1)
net = nn.Sequential(nn.Conv2d(1, 16, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 5, 1, 2), nn.ReLU(),
                    nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1568, 10)).to(dev)
opt = torch.optim.Adam(net.parameters(), lr=0.001)
lossf = nn.CrossEntropyLoss()
order, at = torch.randperm(60000), 0


def step(read):
    global order, at
    if at + BATCH > 60000:
        order, at = torch.randperm(60000), 0
    b = order[at:at + BATCH]
    at += BATCH
    x = (images[b].float() / 255).unsqueeze(1).to(dev)
    loss = lossf(net(x), labels[b].to(dev))
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item() if read else None


first = step(True)
first_ms = (time.perf_counter() - t0) * 1000
for s in range(1, flags.warmup):
    step(s == flags.warmup - 1)
rates, loss = [], first
for w in range(flags.steps // flags.window):
    t = time.perf_counter()
    for i in range(flags.window):
        value = step(i == flags.window - 1)
    loss = value
    rates.append(flags.window * BATCH / (time.perf_counter() - t))
threads = torch.get_num_threads()
where = torch.cuda.get_device_name() if dev == 'cuda' else f'CPU, {threads} thread{"s" if threads > 1 else ""}'
print(json.dumps({'peer': f'PyTorch {torch.__version__.split("+")[0]} ({where})', 'samplesPerSec': statistics.median(rates),
                  'firstStepMs': first_ms, 'finalLoss': loss}))

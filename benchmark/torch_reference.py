#!/usr/bin/env python3
"""The reference workload of `mtl-gpu bench`, trained the way a fast PyTorch
user would: the data as tensors in memory, all task heads as one Linear, a
CrossEntropyLoss per task on its slice of the logits, plain SGD with
momentum, batches drawn by indexing with a random permutation.

It generates the same kind of learnable synthetic data (not timed), runs one
warm-up epoch, times whole epochs and prints samples/s; its last line is
`samples/s=N`, like mtl-gpu bench.

    python3 benchmark/torch_reference.py --threads 2 [--workload relu]
"""
import argparse
import math
import time

import torch

WORKLOADS = {
    # name: (samples, features, hidden, relu)
    "linear": (65536, 512, 256, False),
    "relu": (65536, 1024, 512, True),
}
TASKS, CLASSES, BATCH, LR, MOMENTUM = 8, 10, 1024, 0.05, 0.9


def data(samples, features, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, features, generator=g)
    r = 16
    u = torch.randn(features, r, generator=g) / math.sqrt(features)
    v = 2 * torch.randn(TASKS, r, CLASSES, generator=g) / math.sqrt(r)
    proj = x @ u
    gumbel = -torch.log(-torch.log(torch.rand(samples, TASKS, CLASSES, generator=g)))
    y = (torch.einsum("nr,trc->ntc", proj, v) + gumbel).argmax(dim=2)
    return x, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    ap.add_argument("--workload", default="linear", choices=WORKLOADS)
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs after the warm-up epoch")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    samples, features, hidden, relu = WORKLOADS[args.workload]
    x, y = data(samples, features)

    layers = [torch.nn.Linear(features, hidden)]
    if relu:
        layers.append(torch.nn.ReLU())
    layers.append(torch.nn.Linear(hidden, TASKS * CLASSES))  # all heads side by side
    model = torch.nn.Sequential(*layers)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def epoch():
        perm = torch.randperm(samples)
        for start in range(0, samples, BATCH):
            idx = perm[start:start + BATCH]
            xb, yb = x[idx], y[idx]
            logits = model(xb).view(-1, TASKS, CLASSES)
            loss = sum(loss_fn(logits[:, t], yb[:, t]) for t in range(TASKS))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, workload {args.workload}")
    epoch()  # warm-up
    times = []
    for e in range(args.epochs):
        t0 = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - t0)
        print(f"epoch {e + 2}: {times[-1]:.3f} s, {samples / times[-1]:.0f} samples/s")
    print(f"samples/s={args.epochs * samples / sum(times):.0f}")


if __name__ == "__main__":
    main()

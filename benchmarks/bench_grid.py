"""How much does training the grid's configurations together save? Batched vs one at a time.

    python benchmarks/bench_grid.py [--device cpu|cuda] [--steps 20] [--warmup 3]
                                    [--configs N] [--threads N] [--profile paper]

Both sides train the same configurations of Table 1 (``settings("mlp_grid", profile)``;
``--configs`` keeps the first N of the grid, default all) with Adam on the same random
stand-in batches (200 x 3072; the data do not change the cost) on one device:

* batched: :func:`course_lib.mlp_grid.build_stacks` + :func:`course_lib.mlp_grid.train_step`
  (one stack per first-layer size, batched matrix products, the stacked Adam);
* sequential: for each configuration a :class:`course_lib.torch_mlp.TorchMLP` with its own
  ``torch.optim.Adam``, stepped one after another (the plain way).

Both are built first (so both sides' weights and Adam states are in memory together) and
timed interleaved: a round is one step of every configuration batched, then one step of
every configuration sequentially; ``--warmup`` untimed rounds, then ``--steps``. Prints the
machine, each side's time per round and FLOP rate (median, IQR, min-max, n), the speed-up
sequential time / batched time of each round, and from the batched median an estimate of
the paper grid (81 configurations x 4,000 steps, evaluation excluded).

The speed-up: above 1 the batched grid saves time (2 means it takes half as long), about 1
it saves nothing, below 1 it costs time. It is taken within each round, so a neighbour that
slows both sides divides out; read its median and IQR, not its min-max.

Measured on 2026-11-27 on this project's 2-core CPU machine (CPU model "AMD EPYC", KVM;
torch 2.14.1, 2 threads), ``python benchmarks/bench_grid.py`` (all 81 configurations, 94 s),
load average 1.31 before, 2.11 after (a neighbour started during the run): batched
1357 ms (IQR 1300-1710, n=20) = 0.117 TFLOP/s, sequential 1299 ms (IQR 1270-1369)
= 0.122 TFLOP/s; speed-up per round 0.96 (IQR 0.84-1.04): no gain on this CPU. A second
run with tests of other work running (load 2.75 before) passed 150 s and was stopped. No
other machine has been measured with this version.
"""

from __future__ import annotations

import argparse
import statistics

import torch
import torch.nn.functional as F
from _timing import describe, device_sync, interleave, pair_ratios, print_load_after, print_machine

from course_lib import profiles
from course_lib.mlp_grid import build_stacks, grid_configs, train_step
from course_lib.torch_mlp import make_mlp

N_POOL, N_IN, N_CLASSES = 4000, 3072, 10


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--steps", type=int, default=20, help="timed steps on each side")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--configs", type=int, default=None, help="first N configurations")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--profile", default="paper", help="whose grid values (default paper)")
    return parser.parse_args()


def step_flops(configs: list[dict], second: int, batch: int) -> float:
    """Multiply-adds x 2 of one training step of every configuration: forward (x1),
    weight gradients (x1) and input gradients (x1, none for the first layer)."""
    total = 0.0
    for c in configs:
        h1 = c["first_hidden"]
        total += 2 * batch * (2 * N_IN * h1 + 3 * h1 * second + 3 * second * N_CLASSES)
    return total


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print_machine(device)
    settings = profiles.settings("mlp_grid", args.profile)
    configs = grid_configs(settings)[:args.configs]
    second, batch = settings.second_hidden, settings.batch_size
    gen = torch.Generator().manual_seed(0)
    x = (60 * torch.randn(N_POOL, N_IN, generator=gen)).to(device)
    y = torch.randint(0, N_CLASSES, (N_POOL,), generator=gen).to(device)
    batches = [torch.randint(0, N_POOL, (batch,), generator=gen).to(device)
               for _ in range(args.warmup + args.steps)]
    dropout_u = torch.rand(args.warmup + args.steps, batch, second, generator=gen).to(device)

    # batched: every configuration in one of a few stacks
    stacks = build_stacks(configs, N_IN, second, N_CLASSES, seed=0, device=device)

    def batched(i: int) -> None:
        for s in stacks:
            train_step(s, x[batches[i]], y[batches[i]], dropout_u[i])

    # sequential: one nn.Module and one torch.optim.Adam per configuration
    models = [make_mlp(N_IN, [c["first_hidden"], second], N_CLASSES, seed=0,
                       dropout=c["dropout"]).to(device) for c in configs]
    opts = [torch.optim.Adam(m.parameters(), lr=c["learning_rate"],
                             weight_decay=c["weight_decay"]) for m, c in zip(models, configs)]

    def sequential(i: int) -> None:
        for model, opt in zip(models, opts):
            loss = F.cross_entropy(model(x[batches[i]]), y[batches[i]])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    steps = {"batched": batched, "sequential": sequential}
    times = interleave(steps, args.steps, args.warmup, device_sync(device))

    flops = step_flops(configs, second, batch)
    print(f"{len(configs)} configurations, batch {batch}, time of one step of all of them; "
          f"interleaved: batched, sequential, batched, ... ({args.warmup} untimed rounds first)")
    for name, t in times.items():
        print(f"{name:10s}: {describe(t)}")
        print(f"{'':12s}= {describe([flops / v for v in t], 'TFLOP/s', 1e-12, '.3f')}")
    speedup = pair_ratios(times["sequential"], times["batched"])
    print(f"speed-up of the batched grid (sequential / batched time), per round: "
          f"{describe(speedup, '', 1, '.2f')}")
    full = step_flops(grid_configs(profiles.settings("mlp_grid", "paper")), second, batch)
    estimate = statistics.median(times["batched"]) * full / flops * 4000
    print(f"paper grid (81 configurations x 4,000 steps, no evaluation) at the batched median "
          f"rate: about {estimate:.0f} s")
    print_load_after()


if __name__ == "__main__":
    main()

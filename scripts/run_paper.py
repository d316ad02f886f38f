"""Run every training experiment of the course under the ``paper`` profile, as one script.

Meant for a CUDA GPU (the report's full scale takes hours on a CPU). Results are recorded
with ``course_lib.results.record`` into ``--out`` (default: the repository's ``results/``,
where GPU paper results are committed), one JSON file per experiment under ``paper/``.

    CIFAR10_ROOT=/path/to/data python scripts/run_paper.py [--only cnn mlp_grid ...]

Experiments run cheapest first; one that fails is reported and the others still run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

EXPERIMENTS = ["numpy_mlp", "torch_mlp", "mlp_grid", "batchnorm_demo", "cnn"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="results folder (default results/)")
    ap.add_argument("--only", nargs="*", choices=EXPERIMENTS, default=EXPERIMENTS)
    ap.add_argument("--profile", default="paper")
    args = ap.parse_args()

    from course_lib import data, profiles, results

    out = args.out or results.RECORDED_DIR
    os.environ[results.ENV_VAR] = str(out)
    profile = profiles.active_profile(args.profile)
    device = profiles.default_device()
    print(f"profile {profile}, device {device}, results in {out}", flush=True)
    if device == "cuda":
        import torch

        print("GPU:", torch.cuda.get_device_name(0), "torch", torch.__version__, flush=True)

    t0 = time.perf_counter()
    cifar = data.load_cifar10()
    print(f"data loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    failed = []
    for name in args.only:
        t = time.perf_counter()
        print(f"=== {name}", flush=True)
        try:
            summary = run_one(name, cifar, profile, device)
            print(f"=== {name} done in {time.perf_counter() - t:.1f} s: {summary}", flush=True)
        except Exception:  # noqa: BLE001 - report and go on with the next experiment
            traceback.print_exc()
            failed.append(name)
            print(f"=== {name} FAILED after {time.perf_counter() - t:.1f} s", flush=True)
    print(f"all done in {time.perf_counter() - t0:.1f} s; failed: {failed or 'none'}", flush=True)
    return 1 if failed else 0


def _acc(record, variant=None):
    import numpy as np

    accs = [r["final"]["test_accuracy"] for r in record["runs"]
            if variant is None or r.get("variant") == variant]
    return f"{100 * np.mean(accs):.1f}% +- {100 * np.std(accs):.1f} over {len(accs)} runs"


def run_one(name: str, cifar, profile: str, device: str) -> str:
    if name == "numpy_mlp":
        from course_lib import numpy_mlp

        out = numpy_mlp.run_experiment(cifar, profile)
        return _acc(out["main"])
    if name == "torch_mlp":
        from course_lib import torch_mlp

        out = torch_mlp.run_experiment(cifar, profile, device)
        return _acc(out["torch_mlp"])
    if name == "mlp_grid":
        from course_lib import mlp_grid

        grid = mlp_grid.run_grid(cifar, profile, device)
        best = mlp_grid.run_best(cifar, grid["selected_by_validation"]["config"], profile, device)
        return f"selected {grid['selected_by_validation']['config']}: {_acc(best)}"
    if name == "batchnorm_demo":
        from course_lib import batchnorm

        if not hasattr(batchnorm, "run_demo"):
            return "no demo in course_lib.batchnorm"
        return str({r["variant"]: r["final"]["test_accuracy"]
                    for r in batchnorm.run_demo(cifar, profile, device)["runs"]})
    if name == "cnn":
        from course_lib import convnet

        rec = convnet.run_experiment(cifar, profile, device)["record"]
        return f"BN {_acc(rec, 'batch_norm')}; no BN {_acc(rec, 'no_batch_norm')}"
    raise ValueError(name)


if __name__ == "__main__":
    sys.exit(main())

"""Run every training experiment of the course (``course_lib.profiles.EXPERIMENTS``) as one script.

Meant for a CUDA GPU under the ``paper`` profile (the report's full scale takes hours on a
CPU). Each experiment's record is written into ``--out`` (default: the repository's
``results/``, where GPU paper results are committed), as ``<profile>/<experiment>.json``.

    CIFAR10_ROOT=/path/to/data python scripts/run_paper.py [--only cnn mlp_grid ...]

An experiment that fails is reported and the others still run (those that need it are
skipped).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from course_lib import data, profiles, results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="results folder (default results/)")
    ap.add_argument("--only", nargs="*", choices=list(profiles.EXPERIMENTS),
                    default=list(profiles.EXPERIMENTS))
    ap.add_argument("--profile", default="paper")
    args = ap.parse_args()

    out = args.out or results.RECORDED_DIR
    os.environ[results.ENV_VAR] = str(out)
    profile = profiles.active_profile(args.profile)
    device = profiles.default_device()
    print(f"profile {profile}, device {device}, results in {out}", flush=True)
    t0 = time.perf_counter()
    cifar = data.load_cifar10()
    print(f"data loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    records, failed = {}, []
    for name in args.only:
        experiment, t = profiles.EXPERIMENTS[name], time.perf_counter()
        print(f"=== {name}", flush=True)
        try:
            needs = [records.get(n) or results.load(n, profile) for n in experiment.needs]
            if None in needs:
                raise RuntimeError(f"{name} needs the records of {experiment.needs}")
            record = experiment.run(profiles.settings(name, profile), cifar, *needs,
                                    device=device)
            records[name] = record
            finals = ", ".join(f"{r.variant or r.seed}: {r.final['test_accuracy']:.3f}"
                               for r in record.runs[:12])
            print(f"=== {name} done in {time.perf_counter() - t:.1f} s: {finals}", flush=True)
        except Exception:  # noqa: BLE001 - report and go on with the next experiment
            traceback.print_exc()
            failed.append(name)
            print(f"=== {name} FAILED after {time.perf_counter() - t:.1f} s", flush=True)
    print(f"all done in {time.perf_counter() - t0:.1f} s; failed: {failed or 'none'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

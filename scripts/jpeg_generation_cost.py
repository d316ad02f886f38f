"""How much one more JPEG generation moves the course's numbers (issue: data provenance).

The course's machines train on an offline rebuild of CIFAR-10 whose images went through JPEG
(quality 75, 4:2:0 chroma) once. The official files cannot be reached, but one *more*
generation can be measured: this script re-encodes every image of the rebuild once more at the
same quality, writes that copy in the official binary layout (with its own provenance file),
and trains the same experiments on both copies with the same seeds:

* the NumPy MLP of section 1.2 (5 seeds, ``paper`` settings; minutes on a CPU), and
* the CNN of section 4 (10 seeds with BatchNorm, ``paper`` settings; a GPU), with ``--cnn``.

Runs with the same seed see the same initial weights and the same mini-batches on both
copies, so the comparison is paired: the mean difference (one more generation minus the
rebuild) with its standard error and a paired t-test (course_lib.stats).

    python scripts/jpeg_generation_cost.py OUT_DIR [--cnn] [--seeds N]

Writes OUT_DIR/jpeg2/ (the re-encoded copy), OUT_DIR/results/ (the records) and prints and
writes OUT_DIR/jpeg_generation_cost.json; a copy of that file in results/ is what chapter 09
cites. Needs Pillow (matplotlib depends on it).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image

from course_lib import data, profiles, stats


def reencode(x: np.ndarray, quality: int = 75) -> np.ndarray:
    """One JPEG generation of uint8 images ``[N, 3, 32, 32]`` (4:2:0 chroma, like the rebuild)."""
    out = np.empty_like(x)
    for i, image in enumerate(x):
        buf = io.BytesIO()
        Image.fromarray(image.transpose(1, 2, 0)).save(buf, "JPEG", quality=quality,
                                                       subsampling=2)
        decoded = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        out[i] = np.asarray(decoded).transpose(2, 0, 1)
    return out


def write_copy(raw: dict, root: Path, source: str) -> None:
    """``raw`` in the official binary layout under ``root``, with a provenance file."""
    folder = root / data.FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    n = data.RECORDS_PER_FILE
    parts = [(f, raw["x_train"][i * n:(i + 1) * n], raw["y_train"][i * n:(i + 1) * n])
             for i, f in enumerate(data.TRAIN_FILES)] + [(data.TEST_FILE, raw["x_test"],
                                                           raw["y_test"])]
    for name, x, y in parts:
        blob = np.concatenate([y.astype(np.uint8)[:, None], x.reshape(len(x), -1)], axis=1)
        (folder / name).write_bytes(blob.tobytes())
    (folder / data.META_FILE).write_text("\n".join(raw["classes"]) + "\n")
    (root / data.PROVENANCE).write_text(json.dumps(
        {"source": source, "sha256": data.file_hashes(folder)}, indent=1))


def compare(name: str, a: np.ndarray, b: np.ndarray) -> dict:
    """Paired comparison of final test accuracies (b minus a, same seeds)."""
    test = stats.paired_test(b, a)
    lo, hi = test.ci()
    out = dict(experiment=name, seeds=len(a), rebuild=stats.summarize(a).mean,
               one_more_generation=stats.summarize(b).mean, difference=test.diff, se=test.se,
               ci95=[lo, hi], p=test.p)
    print(f"{name}: rebuild {100 * out['rebuild']:.2f}%, one more JPEG generation "
          f"{100 * out['one_more_generation']:.2f}%: difference {100 * test.diff:+.2f} ± "
          f"{100 * test.se:.2f} points (s.e., {len(a)} paired seeds; 95% CI "
          f"{100 * lo:+.2f} to {100 * hi:+.2f}; p = {test.p:.2f})", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--cnn", action="store_true", help="also the CNN (10 seeds; needs a GPU)")
    ap.add_argument("--seeds", type=int, default=None, help="fewer seeds, for a quick look")
    args = ap.parse_args()

    t0 = time.perf_counter()
    raw = data.load_raw()
    print("source data:", raw["fingerprint"], flush=True)
    second = args.out / "jpeg2"
    if not (second / data.FOLDER).is_dir():
        write_copy(dict(raw, x_train=reencode(raw["x_train"]), x_test=reencode(raw["x_test"])),
                   second, f"{raw['fingerprint']['kind']}, re-encoded once more (JPEG 75)")
    print(f"re-encoded copy ready in {time.perf_counter() - t0:.0f} s", flush=True)
    copies = {"rebuild": data.load_cifar10(), "jpeg2": data.load_cifar10(second)}
    print("copies:", {k: v.fingerprint["hash"] for k, v in copies.items()}, flush=True)

    experiments = [("numpy_mlp", dict(compare_learning_rates=()), {})]
    if args.cnn:
        experiments.append(("cnn", dict(variants=("batch_norm",)), {"variant": "batch_norm"}))
    report = []
    for name, changes, match in experiments:
        settings = dataclasses.replace(profiles.settings(name, "paper"), **changes)
        if args.seeds:
            settings = dataclasses.replace(settings, seeds=settings.seeds[:args.seeds])
        finals = {}
        for copy, cifar in copies.items():
            os.environ["COURSE_RESULTS"] = str(args.out / "results" / copy)
            t = time.perf_counter()
            record = profiles.EXPERIMENTS[name].run(settings, cifar, show_progress=False)
            finals[copy] = record.finals(**match)
            print(f"{name} on {copy}: {time.perf_counter() - t:.0f} s", flush=True)
        report.append(compare(name, finals["rebuild"], finals["jpeg2"]))
    summary = dict(results=report, copies={k: v.fingerprint for k, v in copies.items()},
                   device=profiles.default_device(), date=time.strftime("%Y-%m-%d"),
                   machine=f"{platform.processor() or platform.machine()}, "
                           f"{os.cpu_count()} cores")
    (args.out / "jpeg_generation_cost.json").write_text(json.dumps(summary, indent=1))
    print(f"all done in {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()

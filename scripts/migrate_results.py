"""Migrate records of the first format (no ``schema`` field) to :class:`course_lib.results.Record`.

    python scripts/migrate_results.py [--data PROVENANCE_JSON] results/paper [more folders ...]

Each folder holds one profile's ``<experiment>.json`` files. Device, date, commit, versions,
wall times, settings and every curve are kept. Two pairs of old experiments become one each:
``numpy_mlp`` + ``numpy_mlp_lr`` (the learning-rate runs join the seed runs) and
``torch_mlp`` + ``init_ablation`` (``torch_mlp``'s runs *are* the ablation's
``pytorch/pytorch`` runs; this is checked). Fields that the new records derive
(``test_accuracy_at_step_1000``) are dropped. A folder already migrated is left as it is.

Records made before the loader fingerprinted its data say nothing about it. ``--data`` names
the ``cifar-10-provenance.json`` of the copy they were trained on; every record of the
folders without a fingerprint gets that copy's kind and hash (see course_lib.data).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from course_lib import data, profiles, results
from course_lib.results import Record, Run

RUN_FIELDS = ("seed", "final", "best", "curves", "wall_time", "variant")


def run_of(old: dict, drop=("reused_from",)) -> Run:
    info = {k: v for k, v in old.items() if k not in RUN_FIELDS and k not in drop}
    return Run(old["seed"], old["final"], old["best"], align(old["curves"]),
               old.get("wall_time"), old.get("variant", ""), info)


def align(curves: dict) -> dict:
    """Old grid curves skipped metrics they did not measure; pad them (at the front) with None."""
    ev = curves["eval"]
    for key, values in ev.items():
        ev[key] = [None] * (len(ev["step"]) - len(values)) + values
    return curves


def record_of(old: dict, experiment: str, runs: list[Run], settings: dict, **info) -> Record:
    cls = profiles.experiment(experiment).settings
    known = {f for f in cls.__dataclass_fields__}
    return Record(experiment, profiles.make(cls, profile=old["profile"],
                                            **{k: v for k, v in settings.items() if k in known}),
                  runs, old["device"], old["wall_time"], info, old.get("versions", {}),
                  old.get("commit"), old.get("date", ""))


def add_data(folder: Path, provenance: Path) -> list[str]:
    """Give every record of ``folder`` without a data fingerprint the one of ``provenance``."""
    stated = json.loads(provenance.read_text())
    fingerprint = {"kind": stated["source"], "hash": data.combined_hash(stated["sha256"]),
                   "note": f"added by scripts/migrate_results.py from {provenance.name}"}
    done = []
    for path in sorted(folder.glob("*.json")):
        record = results.Record.from_json(path.read_text(), path)
        if not record.data:
            record.data = fingerprint
            done.append(save(record, folder))
    return done


def migrate(folder: Path) -> list[str]:
    def old(name):
        path = folder / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    done, remove = [], []
    if (o := old("numpy_mlp")) and "schema" not in o:
        runs = [run_of(r) for r in o["runs"]]
        if lr := old("numpy_mlp_lr"):
            runs += [run_of(r) for r in lr["runs"] if not r.get("reused_from")]
            remove.append("numpy_mlp_lr")
        done.append(save(record_of(o, "numpy_mlp", runs, o["settings"]), folder))
    if (o := old("init_ablation")) and "schema" not in o:
        if single := old("torch_mlp"):
            same = [r for r in o["runs"] if r["variant"] == "pytorch/pytorch"]
            assert [r["final"] for r in same] == [r["final"] for r in single["runs"]], \
                "torch_mlp's runs are not the ablation's pytorch/pytorch runs"
        remove.append("init_ablation")
        done.append(save(record_of(o, "torch_mlp", [run_of(r) for r in o["runs"]],
                                   o["settings"]), folder))
    if (o := old("mlp_grid")) and "schema" not in o:
        info = {k: o[k] for k in ("rungs", "rung_times", "common_random_numbers",
                                  "selected_by_validation", "selected_by_test") if k in o}
        done.append(save(record_of(o, "mlp_grid", [run_of(r) for r in o["runs"]],
                                   o["settings"], **info), folder))
    if (o := old("mlp_best")) and "schema" not in o:
        settings = dict(o["settings"], second_hidden=o["settings"]["n_hidden"][1])
        done.append(save(record_of(o, "mlp_best", [run_of(r) for r in o["runs"]], settings,
                                   config=o["config"]), folder))
    for name in ("batchnorm_demo", "cnn"):
        if (o := old(name)) and "schema" not in o:
            info = {k: o[k] for k in ("models_per_group",) if k in o}
            done.append(save(record_of(o, name, [run_of(r) for r in o["runs"]], o["settings"],
                                       **info), folder))
    for name in remove:
        (folder / f"{name}.json").unlink()
    return done


def save(record: Record, folder: Path) -> str:
    results.save(record, folder.parent)
    return record.experiment


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="*", type=Path, default=[results.RECORDED_DIR / "paper"])
    ap.add_argument("--data", type=Path, help="cifar-10-provenance.json of the records' data")
    args = ap.parse_args()
    for folder in args.folders:
        print(folder, "migrated:", ", ".join(migrate(folder)) or "nothing to do")
        if args.data:
            print(folder, "data added:", ", ".join(add_data(folder, args.data)) or "none")

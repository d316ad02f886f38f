"""scripts/recipe_gpu.sh, the one-call GPU recording of the recipe chapter: rehearsed end to end
under the smoke profile on the CPU, and its header's sizing checked against the settings."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib import profiles, recipe, results

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "recipe_gpu.sh"


def test_the_header_states_the_settings_it_records():
    s = profiles.settings("recipe", "paper")
    header = SCRIPT.read_text().split("set -euo pipefail")[0]
    steps = s.epochs * (50_000 // s.batch_size)
    for claim in (f"{len(s.seeds)} seeds", f"{s.report_longer_steps:,} steps",
                  f"{s.epochs} epochs at batch {s.batch_size} ({steps} steps)",
                  f"time_budget_s = {s.time_budget_s:.0f} s", f"{len(s.ablation_seeds)} seeds"):
        assert claim in header, claim
    # the plan's arithmetic: 4 leave-one-out and 2 path trainings besides the full recipe's
    trainings = recipe.plan(s)
    assert len(trainings) == 1 + 1 + 4 + 2
    images = re.findall(r"= +([0-9.]+) M images", header)
    assert [float(x) for x in images] == pytest.approx([
        len(s.seeds) * s.epochs * 0.05, 4 * len(s.ablation_seeds) * s.epochs * 0.05,
        2 * len(s.ablation_seeds) * s.epochs * 0.05])


def test_the_script_records_every_configuration_under_smoke(tmp_path):
    env = dict(os.environ, COURSE_PROFILE="smoke", PYTHON=sys.executable, PYTHONPATH=str(ROOT))
    done = subprocess.run(["bash", str(SCRIPT), "run", str(tmp_path / "out")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = results.load("recipe", "smoke", tmp_path / "out" / "results")
    s = profiles.settings("recipe", "smoke")
    assert record.info["complete"] and record.settings == s
    assert {r.variant for r in record.runs} == set(s.variants)
    assert record.data.get("hash")  # which copy of CIFAR-10 it trained on
    assert len(recipe.table(record)) == len(s.variants)
    times = (tmp_path / "out" / "times.txt").read_text()
    assert "recipe (smoke):" in times and "exit code 0" in times

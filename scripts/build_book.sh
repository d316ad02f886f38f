#!/usr/bin/env bash
# Set up (if needed) and build the HTML book into _build/html, executing every chapter.
# Any chapter that raises, and any Sphinx warning, fails the build.
# Choose the experiment scale with COURSE_PROFILE=paper|cpu|smoke|auto (default auto).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/jupyter-book build . --all -W -n --keep-going --builder html
echo "Built: $(pwd)/_build/html/index.html"

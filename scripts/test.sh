#!/usr/bin/env bash
# Set up (if needed) and run the tests: tests/ and every chapter (nbval) under the smoke profile.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
COURSE_PROFILE=${COURSE_PROFILE:-smoke} .venv/bin/python -m pytest --nbval --durations=20 "$@"

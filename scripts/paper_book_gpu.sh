#!/usr/bin/env bash
# Build the whole book under the `paper` profile on a GPU machine that cannot reach the package
# index, and time it (total and per chapter). Two steps:
#
#   bash scripts/paper_book_gpu.sh prepare      # here, with the package index
#   # there, with .carry/ carried:  cd .carry/book && bash scripts/paper_book_gpu.sh run OUTDIR
#
# `prepare` exports the committed HEAD into .carry/book/ (so edits in the working tree cannot
# leak into the run, and the records name a real commit) and adds to it, under .carry/book/.carry/:
# the wheels, for the GPU machine's Python (3.12, x86-64), of the book's tool-chain that its
# image lacks (Jupyter Book, Sphinx, myst-nb, ipykernel, ...: WHEELS below, at the versions this
# repository's .venv builds the book with), and the offline CIFAR-10 copy
# (../shared/datasets/cifar10); and MathJax's one script and its fonts under _vendor/. The GPU
# image already holds torch, numpy, scipy, pandas, matplotlib, Pillow, Jinja2, Pygments and tqdm.
# debugpy and jedi (optional helpers of ipykernel and IPython, 10 MB) are left out to stay under
# the 64 MiB that one device call carries; the chapters need neither.
#
# `run` installs the wheels into /tmp/site, rebuilds CIFAR-10 from the offline copy, runs
# `jupyter-book build` with COURSE_PROFILE=paper (every chapter executed; -W: any warning or
# error fails the build), and writes to OUTDIR: build.log, times.txt (whole build and each
# chapter, from myst-nb's "Executed notebook in" lines), records.tar.gz (the records the
# chapters wrote) and machine.txt. COURSE_PROFILE=smoke rehearses the script in about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS="jupyter-book jsonschema linkify-it-py myst-nb myst-parser docutils mdit-py-plugins sphinx
alabaster sphinx-book-theme pydata-sphinx-theme sphinx-comments sphinx-copybutton sphinx-design
sphinx-external-toc sphinx-jupyterbook-latex sphinx-multitoc-numbering sphinx-thebe
sphinx-togglebutton sphinxcontrib-bibtex sphinx-exercise ipykernel babel comm imagesize ipython
prompt-toolkit ipython-pygments-lexers parso jsonschema-specifications jupyter-cache sqlalchemy
jupyter-client jupyter-core matplotlib-inline nbclient nbformat fastjsonschema nest-asyncio2
pexpect platformdirs ptyprocess pybtex latexcodec pybtex-docutils pyzmq referencing rpds-py
snowballstemmer sphinxcontrib-htmlhelp sphinxcontrib-serializinghtml stack-data asttokens
executing tornado traitlets wcwidth accessible-pygments beautifulsoup4 soupsieve
importlib-metadata lazy-importer pure-eval sphinxcontrib-applehelp sphinxcontrib-devhelp
sphinxcontrib-jsmath sphinxcontrib-qthelp tzdata"

prepare() {
  local book=.carry/book
  rm -rf "$book" && mkdir -p "$book"
  git archive HEAD | tar -x -C "$book"
  mkdir -p "$book/.carry/whl" "$book/.carry/cifar10" "$book/_vendor/mathjax"
  git rev-parse HEAD >"$book/.carry/COMMIT"
  .venv/bin/python - "$WHEELS" >"$book/.carry/pins.txt" <<'EOF'
import importlib.metadata as md, sys
for name in sys.argv[1].split():
    print(f"{name}=={md.version(name)}")  # the version that builds the book here
EOF
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_26_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 --platform manylinux_2_5_x86_64 -d "$book/.carry/whl" \
    -r "$book/.carry/pins.txt"
  cp ../shared/datasets/cifar10/build.py ../shared/datasets/cifar10/cifar10-jpeg.tar.gz \
    "$book/.carry/cifar10/"
  bash scripts/setup.sh >/dev/null  # MathJax into _vendor/
  cp -r _vendor/mathjax/tex-chtml.js _vendor/mathjax/output "$book/_vendor/mathjax/"
  du -sh "$book"
}

run() {
  local out=${1:?usage: paper_book_gpu.sh run OUTDIR} t0 t1
  mkdir -p "$out"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .carry/whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1
  export COURSE_COMMIT=${COURSE_COMMIT:-$(cat .carry/COMMIT 2>/dev/null || true)}
  export COURSE_PROFILE=${COURSE_PROFILE:-paper}  # smoke: a quick rehearsal of the script
  unset COURSE_RESULTS  # the records go to _results/$COURSE_PROFILE/
  {
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    python3 -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__,
'cuda', torch.cuda.is_available())"
    echo "cpus $(nproc); $(grep -m1 'model name' /proc/cpuinfo)"
  } | tee "$out/machine.txt"
  t0=$(date +%s)
  python3 .carry/cifar10/build.py "${CIFAR10_ROOT:-$HOME/.cache/backprop-course/cifar10}"
  t1=$(date +%s)
  echo "data rebuilt from the offline copy in $((t1 - t0)) s" | tee "$out/times.txt"
  rm -rf _build _results
  t0=$(date +%s)
  set +e
  jupyter-book build . --all -W -n --keep-going --builder html 2>&1 | tee "$out/build.log"
  local rc=${PIPESTATUS[0]}
  set -e
  t1=$(date +%s)
  {
    echo "book build (COURSE_PROFILE=$COURSE_PROFILE): $((t1 - t0)) s, exit code $rc"
    grep -o '[0-9A-Za-z_]*\.ipynb: Executed notebook in [0-9.]* seconds' "$out/build.log" || true
  } | tee -a "$out/times.txt"
  tar -czf "$out/records.tar.gz" -C _results "$COURSE_PROFILE" || true
  return "$rc"
}

case "${1:-}" in
  prepare) prepare ;;
  run) run "${2:-}" ;;
  *) echo "usage: $0 prepare | run OUTDIR" >&2; exit 2 ;;
esac

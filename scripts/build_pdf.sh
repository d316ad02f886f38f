#!/usr/bin/env bash
# Print the built book as one PDF: _build/pdf/book.pdf, also copied to _build/html/book.pdf,
# which every page's download menu links ("book (.pdf)"). Run it after scripts/build_book.sh.
#
# 1. Sphinx's singlehtml builder writes the whole book as one page, from the pages the HTML
#    build executed: both builders share _build/.doctrees, so no chapter executes again (if
#    one would, because a source changed since the HTML build, this script stops and says so).
#    _ext/book_pdf.py adds the title page (profile and commit of the executed pages, contents)
#    and the print rules (_ext/book_print.css).
# 2. Debian's headless chromium prints that page, with MathJax served from the book itself
#    (_vendor/mathjax), offline. Needs `chromium` (apt-get install chromium), or $CHROMIUM.
#
# Arguments go to `jupyter-book build`: after an HTML build with another configuration
# (`--config FILE`), give the same one, or Sphinx sees a changed configuration and reads (so
# executes) every page again, and this script stops.
#
# tests/test_pdf.py checks the result (PDF_BUILT=1, as .ci/run does).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=_build/pdf
SINGLE=_build/singlehtml
# Chromium's virtual time for the page's scripts (MathJax) before it prints, in ms.
BUDGET_MS=${PDF_VIRTUAL_TIME_MS:-60000}

if [ ! -f _build/html/index.html ] || [ ! -f _build/.doctrees/environment.pickle ]; then
  echo "build_pdf: no built book in _build/: run scripts/build_book.sh first" >&2
  exit 1
fi
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ]; then
  echo "build_pdf: needs a headless Chromium: apt-get install chromium (or set CHROMIUM)" >&2
  exit 1
fi
mkdir -p "$OUT"
t0=$SECONDS

# 1. The book as one page, from the executed pages (same strictness as the HTML build).
.venv/bin/jupyter-book build . "$@" -W -n --keep-going --builder singlehtml \
  >"$OUT/singlehtml.log" 2>&1 \
  || { cat "$OUT/singlehtml.log" >&2; echo "build_pdf: the singlehtml build failed" >&2; exit 1; }
if grep -q "Executing notebook" "$OUT/singlehtml.log"; then
  grep "Executing notebook" "$OUT/singlehtml.log" >&2
  echo "build_pdf: chapters executed again: sources or configuration changed since the" \
    "HTML build. Rebuild the book (scripts/build_book.sh), then the PDF." >&2
  exit 1
fi
t1=$SECONDS

# 2. Print it. The flags keep Chromium off the network (this runs offline) and its profile
# in a temporary folder.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$OUT/book.pdf"
timeout 600 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
  --no-first-run --disable-background-networking --disable-component-update --disable-sync \
  --disable-quic --disable-extensions --user-data-dir="$profile" \
  --no-pdf-header-footer --generate-pdf-document-outline \
  --run-all-compositor-stages-before-draw --virtual-time-budget="$BUDGET_MS" \
  --print-to-pdf="$OUT/book.pdf" "file://$PWD/$SINGLE/index.html" >"$OUT/chromium.log" 2>&1 \
  || { cat "$OUT/chromium.log" >&2; echo "build_pdf: chromium failed" >&2; exit 1; }
[ -s "$OUT/book.pdf" ] || { cat "$OUT/chromium.log" >&2; echo "build_pdf: no PDF" >&2; exit 1; }
cp "$OUT/book.pdf" _build/html/book.pdf
echo "build_pdf: $(pwd)/$OUT/book.pdf ($(du -h "$OUT/book.pdf" | cut -f1)), also" \
  "_build/html/book.pdf; singlehtml $((t1 - t0)) s, print $((SECONDS - t1)) s"

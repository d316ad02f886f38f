"""Put axe-core's ``axe.min.js`` into _build/axe-core/ for the accessibility check of the book.

tests/test_browser.py injects it into every built page (nothing is loaded from outside while
the pages are checked). Downloads the ``axe-core`` package tarball from the npm registry (or
uses one given with ``--tarball`` or ``$AXE_CORE_TARBALL``), checks its SHA-256 and keeps only
``axe.min.js`` and its licence. Does nothing if that version is already there. Not in _vendor/:
everything there is copied into the built book.

Why npm's axe-core and not a PyPI wrapper: the wrappers that install on this Python (3.11)
bundle old axe-core releases (axe-selenium-python 2.1.6: 3.x; axe-core-python 0.1.0: 4.4),
without the current rules for deprecated ARIA roles and contrast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import npm_package

VERSION = "4.14.1"
SHA256 = "e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745"
TARGET = Path(__file__).resolve().parents[1] / "_build" / "axe-core"
SCRIPT = TARGET / "axe.min.js"


def fetch(tarball: Path | None = None) -> Path:
    """``axe.min.js`` of axe-core ``VERSION``, fetched (and checked) if it is not there yet."""
    if SCRIPT.is_file() and npm_package.is_current(TARGET, VERSION):
        return SCRIPT
    tarball = tarball or (Path(os.environ["AXE_CORE_TARBALL"])
                          if os.environ.get("AXE_CORE_TARBALL") else None)
    try:
        tar = npm_package.tarball("axe-core", VERSION, SHA256, tarball)
    except OSError as err:
        raise OSError(f"fetch_axe: {err}; or give it in AXE_CORE_TARBALL.") from err
    TARGET.mkdir(parents=True, exist_ok=True)
    with tar:
        for name in ("axe.min.js", "LICENSE"):
            (TARGET / name).write_bytes(tar.extractfile(f"package/{name}").read())
    npm_package.stamp(TARGET, VERSION)
    return SCRIPT


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tarball", type=Path, help=f"a local axe-core-{VERSION}.tgz")
    try:
        print(fetch(ap.parse_args().tarball))
    except OSError as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The book's two pinned npm packages, fetched once and checked against their SHA-256.

    python scripts/fetch_npm.py mathjax|axe-core [--tarball FILE]

- ``mathjax``: MathJax 3's ``es5/`` folder into ``_vendor/mathjax/``, so the built book renders
  equations offline (``_config.yml``'s ``mathjax_path`` points at ``mathjax/tex-chtml.js``).
- ``axe-core``: ``axe.min.js`` and its licence into ``_build/axe-core/``; tests/test_browser.py
  injects it into every built page for the accessibility check. Not in ``_vendor/``:
  everything there is copied into the built book. Why npm's axe-core and not a PyPI wrapper:
  the wrappers that install on this Python (3.11) bundle old axe-core releases
  (axe-selenium-python 2.1.6: 3.x; axe-core-python 0.1.0: 4.4), without the current rules for
  deprecated ARIA roles and contrast.

The tarball comes from the npm registry, or from ``--tarball FILE`` (or ``$MATHJAX_TARBALL``,
``$AXE_CORE_TARBALL``). Nothing is done when the folder's ``.version`` stamp already names the
pinned version; otherwise the folder is replaced whole, only once everything is unpacked.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    sha256: str
    target: Path
    keep: tuple[str, ...]  # paths in the package: a folder ("es5/", its content) or a file

    @property
    def env(self) -> str:
        return self.name.upper().replace("-", "_") + "_TARBALL"

    def wanted(self, member: str) -> str | None:
        """Where a tarball member goes, relative to :attr:`target` (None: not kept)."""
        for keep in self.keep:
            path = f"package/{keep}"
            if keep.endswith("/") and member.startswith(path):
                return member[len(path):]
            if member == path:
                return keep.rsplit("/", 1)[-1]
        return None


PACKAGES = {p.name: p for p in (
    Package("mathjax", "3.2.2",
            "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09",
            ROOT / "_vendor" / "mathjax", ("es5/",)),
    Package("axe-core", "4.14.1",
            "e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745",
            ROOT / "_build" / "axe-core", ("axe.min.js", "LICENSE")),
)}


def is_current(package: Package) -> bool:
    stamp = package.target / ".version"
    return stamp.is_file() and stamp.read_text().strip() == package.version


def fetch(name: str, tarball: Path | None = None) -> Path:
    """The package's folder, fetched, checked and unpacked if it is not current. ``OSError``
    saying what to do when the tarball cannot be read or its SHA-256 differs."""
    package = PACKAGES[name]
    if is_current(package):
        return package.target
    local = tarball or (Path(os.environ[package.env]) if os.environ.get(package.env) else None)
    source = local or f"https://registry.npmjs.org/{name}/-/{name}-{package.version}.tgz"
    try:
        blob = local.read_bytes() if local else urllib.request.urlopen(source, timeout=60).read()
    except OSError as err:
        raise OSError(f"fetch_npm: cannot get {source} ({err}). Download that tarball and pass "
                      f"--tarball FILE, or set {package.env}") from err
    if (got := hashlib.sha256(blob).hexdigest()) != package.sha256:
        raise OSError(f"fetch_npm: {source} has SHA-256 {got}, not {name} {package.version}'s "
                      f"{package.sha256}")
    package.target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=package.target.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            for member in tar:
                if member.isfile() and (out := package.wanted(member.name)):
                    (tmp / out).parent.mkdir(parents=True, exist_ok=True)
                    (tmp / out).write_bytes(tar.extractfile(member).read())
        (tmp / ".version").write_text(package.version + "\n")
        shutil.rmtree(package.target, ignore_errors=True)
        tmp.rename(package.target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return package.target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("package", choices=sorted(PACKAGES))
    ap.add_argument("--tarball", type=Path, help="a local copy of the package's .tgz")
    args = ap.parse_args(argv)
    try:
        print(fetch(args.package, args.tarball))
    except OSError as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

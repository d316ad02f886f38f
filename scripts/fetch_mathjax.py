"""Put MathJax 3 into _vendor/mathjax/ so the built book renders equations offline.

Downloads the ``mathjax`` package tarball from the npm registry (or uses a tarball
given with ``--tarball``), checks its SHA-256, and unpacks its ``es5/`` folder. Does
nothing if the right version is already there. Sphinx's ``mathjax_path`` points at
``mathjax/tex-chtml.js`` (see _config.yml).
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import npm_package

VERSION = "3.2.2"
SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
TARGET = Path(__file__).resolve().parents[1] / "_vendor" / "mathjax"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tarball", type=Path,
                    help="a local mathjax-3.2.2.tgz instead of the registry")
    args = ap.parse_args()
    if npm_package.is_current(TARGET, VERSION):
        return 0
    try:
        tar = npm_package.tarball("mathjax", VERSION, SHA256, args.tarball)
    except OSError as err:
        print(f"fetch_mathjax: {err}. The book needs MathJax {VERSION} in {TARGET}.",
              file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix=".mathjax-", dir=TARGET.parent.parent))
    try:
        with tar:
            for m in tar:
                if m.isfile() and m.name.startswith("package/es5/"):
                    out = tmp / m.name[len("package/es5/"):]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(tar.extractfile(m).read())
        npm_package.stamp(tmp, VERSION)
        if TARGET.exists():
            shutil.rmtree(TARGET)
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(TARGET)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"MathJax {VERSION} installed in {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

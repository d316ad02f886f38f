"""Put MathJax 3 into _vendor/mathjax/ so the built book renders equations offline.

Downloads the ``mathjax`` package tarball from the npm registry (or uses a tarball
given with ``--tarball``), checks its SHA-256, and unpacks its ``es5/`` folder. Does
nothing if the right version is already there. Sphinx's ``mathjax_path`` points at
``mathjax/tex-chtml.js`` (see _config.yml).
"""

import argparse
import hashlib
import io
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

VERSION = "3.2.2"
URL = f"https://registry.npmjs.org/mathjax/-/mathjax-{VERSION}.tgz"
SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
TARGET = Path(__file__).resolve().parents[1] / "_vendor" / "mathjax"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tarball", type=Path,
                    help="a local mathjax-3.2.2.tgz instead of the registry")
    args = ap.parse_args()
    stamp = TARGET / ".version"
    if stamp.is_file() and stamp.read_text().strip() == VERSION:
        return 0
    try:
        if args.tarball:
            blob = args.tarball.read_bytes()
        else:
            blob = urllib.request.urlopen(URL, timeout=60).read()
    except OSError as err:
        print(f"fetch_mathjax: cannot get {args.tarball or URL} ({err}). The book needs "
              f"MathJax {VERSION} in {TARGET}; download that tarball and pass --tarball FILE.",
              file=sys.stderr)
        return 1
    if (got := hashlib.sha256(blob).hexdigest()) != SHA256:
        print(f"fetch_mathjax: SHA-256 {got} does not match {SHA256}", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix=".mathjax-", dir=TARGET.parent.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            for m in tar:
                if m.isfile() and m.name.startswith("package/es5/"):
                    out = tmp / m.name[len("package/es5/"):]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(tar.extractfile(m).read())
        (tmp / ".version").write_text(VERSION + "\n")
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

"""One pinned npm package for the book's tooling (MathJax, axe-core): its tarball from the npm
registry, or a local copy, checked against its SHA-256; and the version stamp of the folder it
is unpacked into. Used by scripts/fetch_mathjax.py and scripts/fetch_axe.py.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import urllib.request
from pathlib import Path


def url(package: str, version: str) -> str:
    return f"https://registry.npmjs.org/{package}/-/{package}-{version}.tgz"


def tarball(package: str, version: str, sha256: str, local: Path | None = None) -> tarfile.TarFile:
    """The package's tarball, opened: ``local`` if given, else downloaded. ``OSError`` (with
    what to do) when it cannot be read or its SHA-256 is not ``sha256``."""
    source = local or url(package, version)
    try:
        blob = local.read_bytes() if local else urllib.request.urlopen(source, timeout=60).read()
    except OSError as err:
        raise OSError(f"cannot get {source} ({err}). Download that tarball and pass "
                      "--tarball FILE") from err
    if (got := hashlib.sha256(blob).hexdigest()) != sha256:
        raise OSError(f"SHA-256 {got} does not match {sha256}")
    return tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz")


def is_current(folder: Path, version: str) -> bool:
    """Whether ``folder`` holds ``version`` (its ``.version`` stamp says so)."""
    stamp = folder / ".version"
    return stamp.is_file() and stamp.read_text().strip() == version


def stamp(folder: Path, version: str) -> None:
    (folder / ".version").write_text(version + "\n")

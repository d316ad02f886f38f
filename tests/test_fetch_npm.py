"""scripts/fetch_npm.py on tarballs the tests make: what it keeps, when it does nothing, and
that a bad or unreadable tarball changes nothing and says what to do."""

import dataclasses
import hashlib
import io
import tarfile

import pytest
from conftest import load_script

fetch_npm = load_script("fetch_npm")


def make_tarball(path, files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


@pytest.fixture
def packages(tmp_path, monkeypatch):
    """Both packages, pinned to tarballs made here and unpacked below tmp_path."""
    folder = {"package/es5/tex-chtml.js": b"mathjax", "package/es5/input/tex.js": b"tex",
              "package/README.md": b"not kept"}
    files = {"package/axe.min.js": b"axe", "package/LICENSE": b"MPL",
             "package/axe.js": b"not kept"}
    made = {}
    for name, content in (("mathjax", folder), ("axe-core", files)):
        tgz = tmp_path / f"{name}.tgz"
        sha = make_tarball(tgz, content)
        made[name] = tgz
        monkeypatch.setitem(fetch_npm.PACKAGES, name, dataclasses.replace(
            fetch_npm.PACKAGES[name], sha256=sha, target=tmp_path / "out" / name))
    return made


def tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_keeps_only_what_the_book_uses_and_then_does_nothing(packages, tmp_path):
    out = fetch_npm.fetch("mathjax", packages["mathjax"])
    assert tree(out) == {".version": b"3.2.2\n", "input/tex.js": b"tex",
                         "tex-chtml.js": b"mathjax"}
    out = fetch_npm.fetch("axe-core", packages["axe-core"])
    assert tree(out) == {".version": b"4.14.1\n", "LICENSE": b"MPL", "axe.min.js": b"axe"}
    # current: the tarball is not even read
    assert fetch_npm.fetch("axe-core", tmp_path / "missing.tgz") == out
    assert not list((tmp_path / "out").glob(".*"))  # no temporary folder left


def test_the_environment_variable_names_the_tarball(packages, monkeypatch):
    monkeypatch.setenv("AXE_CORE_TARBALL", str(packages["axe-core"]))
    assert (fetch_npm.fetch("axe-core") / "axe.min.js").read_bytes() == b"axe"


def test_an_older_version_is_replaced_whole(packages):
    target = fetch_npm.PACKAGES["mathjax"].target
    target.mkdir(parents=True)
    (target / ".version").write_text("3.2.1\n")
    (target / "stale.js").write_text("old")
    assert tree(fetch_npm.fetch("mathjax", packages["mathjax"]))[".version"] == b"3.2.2\n"
    assert not (target / "stale.js").exists()


def test_a_tarball_with_another_hash_changes_nothing(packages, tmp_path, capsys, monkeypatch):
    fetch_npm.fetch("mathjax", packages["mathjax"])
    monkeypatch.setitem(fetch_npm.PACKAGES, "mathjax", dataclasses.replace(
        fetch_npm.PACKAGES["mathjax"], version="3.2.3"))
    before = tree(fetch_npm.PACKAGES["mathjax"].target)
    with pytest.raises(OSError, match="has SHA-256 .* not mathjax 3.2.3's"):
        fetch_npm.fetch("mathjax", packages["axe-core"])
    assert tree(fetch_npm.PACKAGES["mathjax"].target) == before
    assert fetch_npm.main(["mathjax", "--tarball", str(tmp_path / "missing.tgz")]) == 1
    message = capsys.readouterr().err
    assert "cannot get" in message and "--tarball FILE, or set MATHJAX_TARBALL" in message

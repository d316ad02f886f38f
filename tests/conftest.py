"""Shared test data: a small CIFAR-10 in the official binary layout, and a small learnable
stand-in for the preprocessed data set; and :func:`load_script` for the tests of scripts/."""

import importlib.util
import io
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from course_lib import data
from course_lib.data import CIFAR10

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str):
    """The module ``scripts/<name>.py``, imported once, as ``python scripts/<name>.py`` would
    see it: with ``scripts/`` on the path."""
    if name not in sys.modules:
        if str(SCRIPTS) not in sys.path:
            sys.path.insert(0, str(SCRIPTS))
        spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
        module = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck"]


def make_records(n, seed):
    """``n`` random records: (uint8 images [n, 3, 32, 32], labels [n], the bytes)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    y = rng.permutation(np.arange(n) % 10).astype(np.uint8)  # every class, as in CIFAR-10
    blob = np.concatenate([y[:, None], x.reshape(n, -1)], axis=1).tobytes()
    return x, y, blob


@pytest.fixture
def small_layout(monkeypatch, tmp_path):
    """A binary-layout folder with 20 records per file (the loader checks file sizes
    against RECORDS_PER_FILE, patched down from 10,000); returns (root, arrays)."""
    monkeypatch.setattr(data, "RECORDS_PER_FILE", 20)
    folder = tmp_path / data.FOLDER
    folder.mkdir()
    arrays = {}
    for i, name in enumerate((*data.TRAIN_FILES, data.TEST_FILE)):
        x, y, blob = make_records(20, seed=i)
        (folder / name).write_bytes(blob)
        arrays[name] = (x, y)
    (folder / data.META_FILE).write_text("\n".join(CLASSES) + "\n\n")
    return tmp_path, arrays


def write_archive(folder: Path, archive: Path, truncate: int | None = None,
                  extra_member: bool = False) -> Path:
    """Pack ``folder`` as cifar-10-binary.tar.gz (optionally truncated or with a stray member)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=f"{data.FOLDER}/{path.name}")
        if extra_member:
            info = tarfile.TarInfo("../evil.txt")
            payload = b"should never be extracted"
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    blob = buf.getvalue()
    archive.write_bytes(blob[:truncate] if truncate else blob)
    return archive


def synthetic_data(n_train=600, n_test=200, seed=0):
    """A small learnable stand-in for CIFAR-10: 3x4x4 images, labels from a linear map."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((48, 10))

    def make(n):
        x = (20 * rng.standard_normal((n, 3, 4, 4))).astype(np.float32)
        return x, (x.reshape(n, -1) @ w).argmax(1).astype(np.int64)

    x_tr, y_tr = make(n_train)
    x_te, y_te = make(n_test)
    return CIFAR10(x_tr, y_tr, x_te, y_te, [str(i) for i in range(10)],
                   np.zeros((3, 4, 4), np.float32))


def tiny_data(n_train=32, n_test=20, seed=0):
    """Random 3x32x32 images with random labels: CIFAR-10's shapes for the ConvNet's tests."""
    rng = np.random.default_rng(seed)
    x = lambda n: (40 * rng.standard_normal((n, 3, 32, 32))).astype(np.float32)
    return CIFAR10(x(n_train), rng.integers(0, 10, n_train), x(n_test),
                   rng.integers(0, 10, n_test), [f"c{i}" for i in range(10)],
                   np.full((3, 32, 32), 128, np.float32))


@pytest.fixture(scope="session")
def headless_chromium(tmp_path_factory):
    """``headless_chromium(logging, page_load_s, script_s)``: a selenium driver of Debian's
    headless chromium and chromedriver, with a fresh profile (the browser tests of the built
    book and of JupyterLab share it; each skips first when chromium is missing)."""
    import shutil

    def start(logging: dict, page_load_s: float, script_s: float):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1280,900",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", logging)
        driver = webdriver.Chrome(options=options, service=Service(
            executable_path=shutil.which("chromedriver")))
        driver.set_page_load_timeout(page_load_s)
        driver.set_script_timeout(script_s)
        return driver

    return start


@pytest.fixture(scope="session")
def edition(tmp_path_factory) -> Path:
    """The assignment edition (``scripts/make_assignment.py``), generated once per session."""
    out = tmp_path_factory.mktemp("assignment") / "edition"
    load_script("make_assignment").make(out)
    return out

"""CIFAR-10 from the official binary archive, read with NumPy (nothing is unpickled).

Where the data lives
    ``$CIFAR10_ROOT`` if set, else ``~/.cache/backprop-course/cifar10``. The loader
    looks for ``<root>/cifar-10-batches-bin/``; if it is there, no network is touched.
    Otherwise it downloads :data:`URL`, checks its MD5, extracts only the expected
    members into a temporary folder and moves the finished folder into place, so an
    interrupted or failed download leaves nothing half-written.

Which data it is
    :func:`fingerprint` names the copy a load read: ``official`` (the archive's MD5 was
    verified when this loader downloaded it), ``offline JPEG rebuild`` (written by this
    project's ``build.py``), or ``unverified local copy``; with one short hash of its files.
    Both known kinds leave ``cifar-10-provenance.json`` beside the data, with the sha256 of
    every file; a copy whose files no longer match it is reported, not trusted.

Preprocessing (as in the report)
    float32 pixels in [0, 255] minus the per-pixel mean image of the training set (no
    scaling), NCHW ``[N, 3, 32, 32]``; :func:`flatten` gives ``[N, 3072]`` for MLPs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
ENV_VAR = "CIFAR10_ROOT"
FOLDER = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
META_FILE = "batches.meta.txt"
PROVENANCE = "cifar-10-provenance.json"
OFFICIAL, UNVERIFIED = "official", "unverified local copy"
RECORD_BYTES = 1 + 3 * 32 * 32  # one label byte, then 1024 red, 1024 green, 1024 blue
RECORDS_PER_FILE = 10_000
#: A file fails the content check when more than this fraction of its images are blank.
MAX_BLANK_FRACTION = 0.01
#: Download and extraction leftovers untouched for this long are deleted (see _remove_stale).
STALE_AFTER_S = 3600

HELP = (
    "To fix this, do one of:\n"
    "  * connect to the internet and run again (the loader downloads {url}, 163 MB);\n"
    "  * download that archive yourself, check its MD5 is {md5}, and unpack it so that\n"
    "    {root}/{folder}/ holds data_batch_1.bin .. data_batch_5.bin, test_batch.bin and\n"
    "    batches.meta.txt;\n"
    "  * or point {env} at a folder that already holds {folder}/ (for example one written\n"
    "    from an offline copy; this project's machines have\n"
    "    ../shared/datasets/cifar10/build.py DIR, which writes DIR/{folder}/)."
)


class DataError(RuntimeError):
    """CIFAR-10 is missing, damaged or cannot be downloaded; the message says what to do."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder that holds (or will hold) ``cifar-10-batches-bin/``."""
    if root is not None:
        return Path(root).expanduser()
    if ENV_VAR in os.environ and not os.environ[ENV_VAR].strip():
        raise DataError(f"{ENV_VAR} is set but empty. Set it to the folder that holds (or is "
                        f"to hold) {FOLDER}/, or unset it to use the default folder "
                        f"($XDG_CACHE_HOME or ~/.cache)/backprop-course/cifar10.")
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "backprop-course" / "cifar10"


def _help(root: Path) -> str:
    return HELP.format(url=URL, md5=MD5, root=root, folder=FOLDER, env=ENV_VAR)


def _md5(path: Path, algorithm: str = "md5") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_folder(folder: Path) -> None:
    """Raise :class:`DataError` unless every expected file is there with the right size."""
    for name in (*TRAIN_FILES, TEST_FILE, META_FILE):
        path = folder / name
        if not path.is_file():
            raise DataError(f"CIFAR-10 folder {folder} is incomplete: {name} is missing. "
                            f"Delete the folder and run again.\n{_help(folder.parent)}")
        if name != META_FILE and path.stat().st_size != RECORD_BYTES * RECORDS_PER_FILE:
            raise DataError(
                f"CIFAR-10 file {path} has {path.stat().st_size:,} bytes, expected "
                f"{RECORD_BYTES * RECORDS_PER_FILE:,} ({RECORDS_PER_FILE:,} records of "
                f"{RECORD_BYTES} bytes): it is damaged. Delete {folder} and run again.\n"
                f"{_help(folder.parent)}")


def _check_root(root: Path) -> None:
    """Raise :class:`DataError` for a root that would fail with a raw OS error (or after a
    163 MB download): a file instead of a folder, or the data folder itself."""
    folder = root / FOLDER
    if root.exists() and not root.is_dir():
        raise DataError(f"The CIFAR-10 root {root} is a file, not a folder. Point {ENV_VAR} "
                        "(or root=) at a folder, or move that file away.")
    above = next((p for p in root.absolute().parents if p.exists()), None)
    if not root.exists() and above is not None and not above.is_dir():
        raise DataError(f"The CIFAR-10 root {root} lies below {above}, which is a file, not a "
                        f"folder, so it can never be created. Point {ENV_VAR} (or root=) at a "
                        "folder.")
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} is a file, not the CIFAR-10 folder. Delete or move it and "
                        "run again (the data set is then downloaded there).")
    if not folder.exists() and (root / TRAIN_FILES[0]).exists():
        hint = (f"did you mean the parent folder {root.parent}? Set {ENV_VAR} (or root=) to it."
                if root.name == FOLDER else f"move the files into {folder}/.")
        raise DataError(f"{root} holds the CIFAR-10 files themselves, but the root must be "
                        f"the folder that holds {FOLDER}/: {hint}")


def _remove_stale(root: Path, keep: Path | None = None) -> None:
    """Delete the ``.cifar10-download-*`` / ``.cifar10-extract-*`` leftovers of interrupted
    runs in ``root`` that nothing has changed for :data:`STALE_AFTER_S` seconds.

    Not all of them: another process (a parallel book build, a second notebook) may be
    downloading into the same root right now. Its download file is written at least once
    a minute (the socket timeout), its extraction folder within seconds, so an hour without
    a change means no process owns the leftover.
    """
    for path in [*root.glob(".cifar10-download-*"), *root.glob(".cifar10-extract-*")]:
        if path == keep:
            continue
        try:
            folder = path.is_dir() and not path.is_symlink()
            inside = list(path.iterdir()) if folder else []
            if time.time() - max(p.lstat().st_mtime for p in [path, *inside]) > STALE_AFTER_S:
                if folder:
                    shutil.rmtree(path)
                else:
                    path.unlink()
        except OSError:  # removed meanwhile by its owner, or not ours to remove
            pass


def extract_archive(archive: Path, root: Path, md5: str | None = MD5) -> Path:
    """Check ``archive`` and unpack its ``cifar-10-batches-bin/`` into ``root`` atomically.

    Only the expected members are extracted; anything else in the archive is ignored.
    ``md5=None`` skips the checksum (for an offline copy that is known to differ).
    """
    archive = Path(archive)
    _check_root(root)
    if md5 is not None and (got := _md5(archive)) != md5:
        raise DataError(f"CIFAR-10 archive {archive} has MD5 {got}, expected {md5}: "
                        f"the download is damaged or is not the official archive.\n{_help(root)}")
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale(root, keep=archive)
    wanted = {f"{FOLDER}/{n}" for n in (*TRAIN_FILES, TEST_FILE, META_FILE)}
    tmp = Path(tempfile.mkdtemp(prefix=".cifar10-extract-", dir=root))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar:
                    if member.name in wanted and member.isfile():
                        src = tar.extractfile(member)
                        with open(tmp / Path(member.name).name, "wb") as dst:
                            shutil.copyfileobj(src, dst)
        except (tarfile.TarError, EOFError, OSError, ValueError) as err:
            raise DataError(f"CIFAR-10 archive {archive} cannot be read ({err}): it is "
                            f"truncated or damaged. Delete it and run again.\n{_help(root)}"
                            ) from None
        _check_folder(tmp)
        target = root / FOLDER
        if target.exists():  # an earlier, damaged copy: replaced only by a complete one
            shutil.rmtree(target)
        tmp.rename(target)
        if md5 is not None:  # verified: say so beside the data, with every file's sha256
            _write_json(root / PROVENANCE, {"source": OFFICIAL, "archive_md5": md5,
                                            "sha256": file_hashes(target)})
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def download(root: Path, url: str = URL, md5: str = MD5, timeout: float = 60.0) -> Path:
    """Download the archive to a temporary file under ``root``, check it, unpack it."""
    _check_root(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".cifar10-download-", suffix=".tar.gz", dir=root)
    except OSError as err:
        raise DataError(f"CIFAR-10 is not in {root / FOLDER}, and it cannot be downloaded "
                        f"there: {root} cannot be written ({err.strerror or err}). Point "
                        f"{ENV_VAR} (or root=) at a writable folder.\n{_help(root)}") from None
    _remove_stale(root)
    tmp = Path(name)
    try:
        try:
            with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as r:
                shutil.copyfileobj(r, f)
        except (urllib.error.URLError, OSError) as err:
            raise DataError(f"CIFAR-10 is not in {root / FOLDER} and downloading {url} "
                            f"failed ({err}).\n{_help(root)}") from None
        return extract_archive(tmp, root, md5)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_cifar10(root: str | os.PathLike | None = None, download_if_missing: bool = True) -> Path:
    """Return the ``cifar-10-batches-bin`` folder, downloading it if needed and allowed."""
    root = data_root(root)
    folder = root / FOLDER
    _check_root(root)
    if folder.is_dir():
        _check_folder(folder)
        return folder
    if not download_if_missing:
        raise DataError(f"CIFAR-10 is not in {folder}.\n{_help(root)}")
    return download(root)


def _write_json(path: Path, value) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "w") as f:
        json.dump(value, f, indent=1)
    os.replace(tmp, path)


def file_hashes(folder: Path) -> dict[str, str]:
    """The sha256 of every file of ``folder``, cached beside it keyed on size and mtime (a
    load hashes 180 MB only when a file changed)."""
    cache_path = folder.parent / ".cifar-10-sha256-cache.json"
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    out, fresh = {}, {}
    for name in (*TRAIN_FILES, TEST_FILE, META_FILE):
        stat = (folder / name).stat()
        key = [stat.st_size, stat.st_mtime_ns]
        entry = cache.get(name)
        if not isinstance(entry, list) or entry[:2] != key:
            entry = fresh[name] = [*key, _md5(folder / name, "sha256")]
        out[name] = entry[2]
    if fresh:
        try:
            _write_json(cache_path, {**cache, **fresh})
        except OSError:  # a read-only copy: hash again next time
            pass
    return out


def combined_hash(hashes: dict[str, str]) -> str:
    """One short name for a copy: the first 12 hex digits of the sha256 of its files' sha256."""
    text = "".join(f"{name} {h}\n" for name, h in sorted(hashes.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def fingerprint(folder: Path) -> dict:
    """``{"kind", "hash", "note"}`` of the copy in ``folder`` (see the module docstring)."""
    hashes = file_hashes(folder)
    out = {"kind": UNVERIFIED, "hash": combined_hash(hashes),
           "note": f"no {PROVENANCE} beside the data"}
    try:
        stated = json.loads((folder.parent / PROVENANCE).read_text())
        expected = stated["sha256"]
    except FileNotFoundError:
        return out
    except (OSError, ValueError, KeyError, TypeError) as err:
        return {**out, "note": f"{PROVENANCE} cannot be read ({err})"}
    if changed := sorted(n for n, h in hashes.items() if expected.get(n) != h):
        return {**out, "note": f"modified since {PROVENANCE} was written: {', '.join(changed)}"}
    return {**out, "kind": str(stated.get("source", UNVERIFIED)),
            "note": f"every file matches {PROVENANCE}"}


def _check_records(path: Path, raw: np.ndarray) -> None:
    """Raise :class:`DataError` unless the records ``raw`` of ``path`` look like CIFAR-10.

    A file of zeros, a flipped label byte or a file shifted by one byte all have the right
    size, and an offline copy has no MD5 to check, so the contents are tested on every load.
    """
    labels, pixels = raw[:, 0], raw[:, 1:]
    damaged = f"CIFAR-10 file {path} is damaged"
    fix = (f"Delete {path.parent} and run again (or rebuild it from your offline copy)."
           f"\n{_help(path.parent.parent)}")
    # Labels are class indices: a flipped label byte, or a shifted file whose "labels" are
    # then pixel bytes, gives values up to 255.
    bad = np.flatnonzero(labels >= 10)
    if len(bad):
        raise DataError(f"{damaged}: {len(bad):,} of {len(labels):,} labels are not in 0-9 "
                        f"(record {bad[0]} has label {labels[bad[0]]}). {fix}")
    # Blank images, every pixel one value: a zero-filled file or stretch is nothing else,
    # CIFAR-10 has none (in this project's copy the flattest image spans 63 grey levels).
    # Counting blank images, unlike the file's variance, also catches a zeroed stretch
    # among good records; the 1% allowance keeps a few genuinely flat images harmless.
    # Only images whose first row is flat can be blank: testing those first is 7x faster.
    row = pixels[:, :32]
    flat_row = np.flatnonzero(row.min(axis=1) == row.max(axis=1))
    blank = flat_row[pixels[flat_row].min(axis=1) == pixels[flat_row].max(axis=1)]
    if len(blank) > MAX_BLANK_FRACTION * len(raw):
        raise DataError(f"{damaged}: {len(blank):,} of {len(raw):,} images are blank (every "
                        f"pixel the same value, e.g. record {blank[0]}). {fix}")
    # Every class present: CIFAR-10 has about 1,000 images of each class per file.
    missing = np.flatnonzero(np.bincount(labels, minlength=10) == 0)
    if len(missing):
        raise DataError(f"{damaged}: no image has label {', '.join(map(str, missing))} "
                        f"(each of the 10 classes should appear about "
                        f"{len(labels) // 10:,} times). {fix}")


def _read_records(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    _check_records(path, raw)
    return raw[:, 1:].reshape(-1, 3, 32, 32), raw[:, 0].astype(np.int64)


def load_raw(root: str | os.PathLike | None = None, download_if_missing: bool = True) -> dict:
    """The raw uint8 images ``[N, 3, 32, 32]``, int64 labels and class names."""
    folder = ensure_cifar10(root, download_if_missing)
    parts = [_read_records(folder / n) for n in TRAIN_FILES]
    x_test, y_test = _read_records(folder / TEST_FILE)
    classes = [c for c in (folder / META_FILE).read_text().splitlines() if c.strip()]
    if len(classes) != 10:
        raise DataError(f"{folder / META_FILE} names {len(classes)} classes, expected 10.")
    return dict(x_train=np.concatenate([p[0] for p in parts]),
                y_train=np.concatenate([p[1] for p in parts]),
                x_test=x_test, y_test=y_test, classes=classes, fingerprint=fingerprint(folder))


@dataclass
class CIFAR10:
    """Preprocessed CIFAR-10: float32 NCHW images minus the training mean image."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list
    mean_image: np.ndarray  # [3, 32, 32], float32, in [0, 255]
    fingerprint: dict = field(default_factory=dict)  # which copy (see fingerprint); {}: none

    def subset(self, train_size: int | None = None, test_size: int | None = None,
               seed: int = 0) -> CIFAR10:
        """A random subset (same mean image); ``None`` keeps a split whole."""
        rng = np.random.default_rng(seed)

        def pick(x, y, n):
            if n is None or n >= len(y):
                return x, y
            idx = np.sort(rng.choice(len(y), n, replace=False))
            return x[idx], y[idx]

        x_tr, y_tr = pick(self.x_train, self.y_train, train_size)
        x_te, y_te = pick(self.x_test, self.y_test, test_size)
        return CIFAR10(x_tr, y_tr, x_te, y_te, self.classes, self.mean_image, self.fingerprint)

    def split_validation(self, size: int, seed: int = 0) -> tuple[CIFAR10, tuple]:
        """Hold ``size`` training images out: returns (data without them, (x_val, y_val))."""
        perm = np.random.default_rng(seed).permutation(len(self.y_train))
        val, keep = np.sort(perm[:size]), np.sort(perm[size:])
        rest = CIFAR10(self.x_train[keep], self.y_train[keep], self.x_test, self.y_test,
                       self.classes, self.mean_image, self.fingerprint)
        return rest, (self.x_train[val], self.y_train[val])


def preprocess(raw: dict) -> CIFAR10:
    """The report's preprocessing: float32, minus the per-pixel training mean, no scaling."""
    mean = raw["x_train"].mean(axis=0, dtype=np.float64).astype(np.float32)
    x_train = raw["x_train"].astype(np.float32)
    x_train -= mean
    x_test = raw["x_test"].astype(np.float32)
    x_test -= mean
    return CIFAR10(x_train, raw["y_train"], x_test, raw["y_test"], list(raw["classes"]), mean,
                   raw.get("fingerprint", {}))


def load_cifar10(root: str | os.PathLike | None = None, download_if_missing: bool = True,
                 train_size: int | None = None, test_size: int | None = None,
                 seed: int = 0) -> CIFAR10:
    """Load, preprocess and optionally subset CIFAR-10 (see the module docstring)."""
    data = preprocess(load_raw(root, download_if_missing))
    if train_size is not None or test_size is not None:
        data = data.subset(train_size, test_size, seed)
    return data


def flatten(x: np.ndarray) -> np.ndarray:
    """``[N, 3, 32, 32]`` -> ``[N, 3072]`` (a view when possible), the MLPs' input."""
    return x.reshape(len(x), -1)


def one_hot(y: np.ndarray, n_classes: int = 10, dtype=np.float32) -> np.ndarray:
    """Integer labels ``[N]`` -> one-hot targets ``[N, n_classes]``."""
    y = np.asarray(y)
    if y.ndim != 1 or (len(y) and (y.dtype.kind not in "iu" or y.min() < 0
                                   or y.max() >= n_classes)):
        raise ValueError(f"labels must be a 1-D array of integers in [0, {n_classes}); got "
                         f"shape {y.shape}, dtype {y.dtype} (float labels: y.astype(int))")
    out = np.zeros((len(y), n_classes), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


class BatchSampler:
    """Seeded mini-batches without replacement that reshuffle every epoch.

    Like the original assignment's ``next_batch``: each call returns the next
    ``batch_size`` indices of a permutation; when fewer are left, the permutation is
    redrawn (the leftover tail is dropped).
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0):
        if not 0 < batch_size <= n:
            raise ValueError(f"batch_size must be in [1, {n}], got {batch_size}")
        self.n, self.batch_size = n, batch_size
        self.rng = np.random.default_rng(seed)
        self.epoch, self._perm, self._pos = 0, self.rng.permutation(n), 0

    def next_indices(self) -> np.ndarray:
        if self._pos + self.batch_size > self.n:
            self._perm, self._pos = self.rng.permutation(self.n), 0
            self.epoch += 1
        idx = self._perm[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return idx

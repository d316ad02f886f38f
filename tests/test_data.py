"""The CIFAR-10 loader on small data in the official binary layout."""

import hashlib
import json
import os
import time
import urllib.error

import numpy as np
import pytest
from conftest import CLASSES, write_archive

from course_lib import data


def test_reads_labels_and_pixels_back_exactly(small_layout):
    root, arrays = small_layout
    raw = data.load_raw(root, download_if_missing=False)
    x_train = np.concatenate([arrays[n][0] for n in data.TRAIN_FILES])
    y_train = np.concatenate([arrays[n][1] for n in data.TRAIN_FILES])
    np.testing.assert_array_equal(raw["x_train"], x_train)
    np.testing.assert_array_equal(raw["y_train"], y_train)
    np.testing.assert_array_equal(raw["x_test"], arrays[data.TEST_FILE][0])
    np.testing.assert_array_equal(raw["y_test"], arrays[data.TEST_FILE][1])
    assert raw["classes"] == CLASSES


def test_channel_order_is_planar_rgb(monkeypatch, tmp_path):
    """A pure-red image must come back with all its energy in channel 0."""
    monkeypatch.setattr(data, "RECORDS_PER_FILE", 10)  # one image per class
    folder = tmp_path / data.FOLDER
    folder.mkdir()
    records = np.zeros((10, data.RECORD_BYTES), np.uint8)
    records[:, 0] = np.arange(10)  # labels
    records[:, 1:1025] = 200  # red plane
    records[:, 1 + 1024 + 5] = 9  # green plane, row 0 column 5
    for name in (*data.TRAIN_FILES, data.TEST_FILE):
        (folder / name).write_bytes(records.tobytes())
    (folder / data.META_FILE).write_text("\n".join(CLASSES) + "\n")
    raw = data.load_raw(tmp_path, download_if_missing=False)
    img = raw["x_test"][7]
    assert raw["y_test"][7] == 7
    assert (img[0] == 200).all() and img[2].max() == 0
    assert img[1, 0, 5] == 9 and img[1].sum() == 9


def test_preprocessing_subtracts_training_mean(small_layout):
    root, _ = small_layout
    raw = data.load_raw(root, download_if_missing=False)
    d = data.preprocess(raw)
    assert d.x_train.dtype == np.float32 and d.x_train.shape == (100, 3, 32, 32)
    np.testing.assert_allclose(d.mean_image, raw["x_train"].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(d.x_test, raw["x_test"] - d.mean_image, atol=1e-4)
    np.testing.assert_allclose(d.x_train.mean(axis=0), 0, atol=1e-3)
    assert data.flatten(d.x_train).shape == (100, 3072)


def test_subset_and_validation_split(small_layout):
    root, _ = small_layout
    d = data.load_cifar10(root, download_if_missing=False)
    s = d.subset(train_size=30, test_size=5, seed=1)
    assert len(s.y_train) == 30 and len(s.y_test) == 5 and s.mean_image is d.mean_image
    rest, (xv, yv) = d.split_validation(10, seed=0)
    assert len(yv) == 10 and len(rest.y_train) == 90
    # Disjoint and together the whole training set.
    rows = {r.tobytes() for r in rest.x_train} | {r.tobytes() for r in xv}
    assert len(rows) == 100


def test_one_hot():
    t = data.one_hot(np.array([0, 3, 9]))
    assert t.shape == (3, 10) and t.dtype == np.float32
    np.testing.assert_array_equal(t.argmax(1), [0, 3, 9])
    assert t.sum() == 3
    with pytest.raises(ValueError):
        data.one_hot(np.array([10]))
    with pytest.raises(ValueError):
        data.one_hot(np.array([[1]]))
    with pytest.raises(ValueError, match=r"integers in \[0, 10\); got shape \(2,\), dtype "
                                         r"float64 \(float labels: y.astype\(int\)\)"):
        data.one_hot(np.array([1.0, 2.0]))  # was a raw IndexError from numpy


def test_batch_sampler_is_seeded_and_reshuffles_each_epoch():
    s = data.BatchSampler(10, 4, seed=3)
    first = [s.next_indices() for _ in range(2)]
    assert len(np.unique(np.concatenate(first))) == 8 and s.epoch == 0
    s.next_indices()  # only 2 left: reshuffle
    assert s.epoch == 1
    again = data.BatchSampler(10, 4, seed=3)
    np.testing.assert_array_equal(again.next_indices(), first[0])
    other = data.BatchSampler(10, 4, seed=4)
    assert not np.array_equal(other.next_indices(), first[0])
    with pytest.raises(ValueError):
        data.BatchSampler(3, 5)


def test_archive_extracts_only_expected_members(small_layout, tmp_path):
    root, arrays = small_layout
    archive = write_archive(root / data.FOLDER, tmp_path / "a.tar.gz", extra_member=True)
    target = tmp_path / "new_root"
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    folder = data.extract_archive(archive, target, md5=md5)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*data.TRAIN_FILES, data.TEST_FILE, data.META_FILE])
    assert not (tmp_path / "evil.txt").exists()
    # no temporary left: the data, and (the MD5 was checked) its provenance and hash cache
    assert sorted(p.name for p in target.iterdir()) == \
        [".cifar-10-sha256-cache.json", data.FOLDER, data.PROVENANCE]


def test_wrong_md5_is_a_clear_error(small_layout, tmp_path):
    root, _ = small_layout
    archive = write_archive(root / data.FOLDER, tmp_path / "a.tar.gz")
    target = tmp_path / "r"
    with pytest.raises(data.DataError, match="MD5"):
        data.extract_archive(archive, target)  # the official MD5 cannot match
    assert not (target / data.FOLDER).exists()


def test_truncated_archive_is_a_clear_error_and_leaves_nothing(small_layout, tmp_path):
    root, _ = small_layout
    archive = write_archive(root / data.FOLDER, tmp_path / "a.tar.gz", truncate=3000)
    target = tmp_path / "r"
    with pytest.raises(data.DataError, match="truncated or damaged"):
        data.extract_archive(archive, target, md5=None)
    assert list(target.iterdir()) == []


def test_file_of_wrong_size_is_a_clear_error(small_layout):
    root, _ = small_layout
    path = root / data.FOLDER / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(data.DataError, match="data_batch_3.bin has .* expected"):
        data.load_raw(root, download_if_missing=False)


def test_missing_file_is_a_clear_error(small_layout):
    root, _ = small_layout
    (root / data.FOLDER / data.TEST_FILE).unlink()
    with pytest.raises(data.DataError, match="test_batch.bin is missing"):
        data.load_raw(root)


def test_offline_without_data_says_what_to_do(monkeypatch, tmp_path):
    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(data.urllib.request, "urlopen", unreachable)
    root = tmp_path / "nothing_here"
    with pytest.raises(data.DataError) as err:
        data.load_cifar10(root)
    message = str(err.value)
    assert "downloading" in message and data.ENV_VAR in message and data.URL in message
    assert list(root.iterdir()) == []  # no half-written download left behind


def test_download_checks_md5_and_installs(monkeypatch, small_layout, tmp_path):
    root, arrays = small_layout
    archive = write_archive(root / data.FOLDER, tmp_path / "a.tar.gz")
    blob = archive.read_bytes()

    class Response:
        def __init__(self):
            self.chunks = [blob]

        def read(self, n=-1):
            return self.chunks.pop() if self.chunks else b""

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(data.urllib.request, "urlopen", lambda *a, **k: Response())
    monkeypatch.setattr(data, "MD5", hashlib.md5(blob).hexdigest())
    target = tmp_path / "downloaded"
    folder = data.download(target, md5=data.MD5)
    raw = data.load_raw(target, download_if_missing=False)
    np.testing.assert_array_equal(raw["x_test"], arrays[data.TEST_FILE][0])
    assert sorted(p.name for p in target.iterdir()) == \
        sorted([folder.name, data.PROVENANCE, ".cifar-10-sha256-cache.json"])
    # the verified archive is named official, with every file's sha256 beside the data
    assert raw["fingerprint"]["kind"] == data.OFFICIAL
    stated = json.loads((target / data.PROVENANCE).read_text())
    assert stated["archive_md5"] == data.MD5
    assert stated["sha256"][data.TEST_FILE] == hashlib.sha256(
        (folder / data.TEST_FILE).read_bytes()).hexdigest()
    assert raw["fingerprint"]["hash"] == data.combined_hash(stated["sha256"])


def test_data_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    assert data.data_root() == tmp_path
    monkeypatch.delenv(data.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.data_root() == tmp_path / "cache" / "backprop-course" / "cifar10"


# --- damaged contents: right sizes, wrong bytes -----------------------------------------------

def rewrite(path, change):
    """Apply ``change`` to the records of ``path`` (an [n, 3073] uint8 array), in place."""
    records = np.fromfile(path, dtype=np.uint8).reshape(-1, data.RECORD_BYTES)
    change(records)
    path.write_bytes(records.tobytes())


def balanced_layout(monkeypatch, root, n=200):
    """Like ``small_layout`` but with ``n`` records per file and every class in every file."""
    monkeypatch.setattr(data, "RECORDS_PER_FILE", n)
    folder = root / data.FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in (*data.TRAIN_FILES, data.TEST_FILE):
        records = rng.integers(0, 256, size=(n, data.RECORD_BYTES), dtype=np.uint8)
        records[:, 0] = rng.permutation(np.arange(n) % 10)
        (folder / name).write_bytes(records.tobytes())
    (folder / data.META_FILE).write_text("\n".join(CLASSES) + "\n")
    return folder


def damaged(root, name, what):
    """Load ``root``; expect a DataError naming file ``name``, saying ``what`` and what to do."""
    with pytest.raises(data.DataError, match=f"{name} is damaged: {what}") as err:
        data.load_raw(root, download_if_missing=False)
    assert f"Delete {root / data.FOLDER} and run again" in str(err.value)
    return str(err.value)


def test_file_of_zeros_is_a_clear_error(small_layout):
    root, _ = small_layout
    path = root / data.FOLDER / "data_batch_2.bin"
    path.write_bytes(bytes(path.stat().st_size))  # 20 black "airplanes"
    damaged(root, "data_batch_2.bin", "20 of 20 images are blank")


def test_zeroed_stretch_of_images_is_a_clear_error(small_layout):
    root, _ = small_layout

    def blank_some(records):
        records[5:8, 1:] = 0  # labels kept: only the pixels are gone

    rewrite(root / data.FOLDER / "data_batch_5.bin", blank_some)
    damaged(root, "data_batch_5.bin", "3 of 20 images are blank .*record 5")


def test_flipped_label_byte_is_a_clear_error(small_layout):
    root, _ = small_layout

    def flip(records):
        records[7, 0] = 245

    rewrite(root / data.FOLDER / "data_batch_4.bin", flip)
    damaged(root, "data_batch_4.bin", r"1 of 20 labels are not in 0-9 \(record 7 has label 245\)")


def test_file_shifted_by_one_byte_is_a_clear_error(small_layout):
    root, _ = small_layout
    path = root / data.FOLDER / data.TEST_FILE
    blob = path.read_bytes()
    path.write_bytes(blob[1:] + blob[:1])  # same size, every "label" is now a pixel byte
    damaged(root, data.TEST_FILE, "1[0-9] of 20 labels are not in 0-9")


def test_missing_class_is_a_clear_error(monkeypatch, tmp_path):
    folder = balanced_layout(monkeypatch, tmp_path)

    def one_blank_image(records):
        records[0, 1:] = 0
        records[1, 1:1 + 1024] = 128  # a flat red plane is not a blank image

    rewrite(folder / "data_batch_1.bin", one_blank_image)  # 1 in 200: tolerated
    raw = data.load_raw(tmp_path, download_if_missing=False)
    assert (np.bincount(raw["y_test"]) == 20).all()

    def relabel_cats(records):
        records[records[:, 0] == 3, 0] = 4

    rewrite(folder / "data_batch_5.bin", relabel_cats)
    damaged(tmp_path, "data_batch_5.bin", "no image has label 3")


# --- a CIFAR10_ROOT of the wrong shape ----------------------------------------------------------

@pytest.fixture
def no_network(monkeypatch):
    """Make every download fail at once; returns the list of attempted URLs."""
    attempts = []

    def urlopen(url, *args, **kwargs):
        attempts.append(url)
        raise urllib.error.URLError("this test allows no download")

    monkeypatch.setattr(data.urllib.request, "urlopen", urlopen)
    return attempts


@pytest.mark.parametrize("download_if_missing", [True, False])
def test_root_that_is_a_file_is_a_clear_error(no_network, tmp_path, download_if_missing):
    root = tmp_path / "cifar"
    root.write_text("not a folder")
    with pytest.raises(data.DataError, match=f"root {root} is a file, not a folder"):
        data.load_cifar10(root, download_if_missing=download_if_missing)
    assert no_network == []


@pytest.mark.parametrize("download_if_missing", [True, False])
def test_root_below_a_file_names_the_variable_and_the_file(no_network, tmp_path, monkeypatch,
                                                           download_if_missing):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(data.ENV_VAR, str(blocker / "sub" / "cifar"))
    with pytest.raises(data.DataError, match=f"below {blocker}, which is a file") as err:
        data.load_cifar10(download_if_missing=download_if_missing)
    assert data.ENV_VAR in str(err.value) and no_network == []


def test_unwritable_root_is_named_before_downloading(no_network, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(data.tempfile, "mkstemp", refuse)
    with pytest.raises(data.DataError, match="cannot be written .Permission denied.") as err:
        data.load_cifar10(tmp_path / "cifar")
    assert data.ENV_VAR in str(err.value) and no_network == []


def test_data_folder_that_is_a_file_is_refused_before_downloading(no_network, tmp_path):
    (tmp_path / data.FOLDER).write_text("not a folder")
    with pytest.raises(data.DataError, match=f"{tmp_path / data.FOLDER} is a file, not the"):
        data.load_cifar10(tmp_path)
    assert no_network == []


def test_root_inside_the_data_folder_suggests_its_parent(no_network, small_layout):
    root, _ = small_layout
    with pytest.raises(data.DataError, match="did you mean the parent folder") as err:
        data.load_cifar10(root / data.FOLDER)
    assert f"parent folder {root}?" in str(err.value)
    assert no_network == []
    renamed = (root / data.FOLDER).rename(root / "my_cifar")
    with pytest.raises(data.DataError, match=f"move the files into {renamed / data.FOLDER}/"):
        data.load_cifar10(renamed)
    assert no_network == []


def leftovers(root, age_s, stamp):
    """A download file and an extraction folder as an interrupted run leaves them."""
    download = root / f".cifar10-download-{stamp}.tar.gz"
    download.write_bytes(b"part of an archive")
    extract = root / f".cifar10-extract-{stamp}"
    extract.mkdir()
    (extract / "data_batch_1.bin").write_bytes(b"part of a file")
    then = time.time() - age_s
    for path in (download, extract / "data_batch_1.bin", extract):
        os.utime(path, (then, then))
    return [download, extract]


@pytest.mark.parametrize("how", ["download", "extract"])
def test_stale_leftovers_are_removed_fresh_ones_kept(no_network, small_layout, tmp_path, how):
    root = tmp_path / "root"
    root.mkdir()
    stale = leftovers(root, 2 * data.STALE_AFTER_S, "stale")
    fresh = leftovers(root, 60, "fresh")  # another process may be writing these right now
    busy = leftovers(root, 2 * data.STALE_AFTER_S, "busy")[1]  # an old folder, a file in writing
    (busy / "data_batch_2.bin").write_bytes(b"just written")
    os.utime(busy, (busy.stat().st_atime, time.time() - 2 * data.STALE_AFTER_S))
    if how == "download":
        with pytest.raises(data.DataError, match="downloading"):
            data.download(root)
    else:
        archive = write_archive(small_layout[0] / data.FOLDER, tmp_path / "a.tar.gz")
        data.extract_archive(archive, root, md5=None)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in [*fresh, busy])


def test_empty_root_variable_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, "")
    with pytest.raises(data.DataError, match=f"{data.ENV_VAR} is set but empty"):
        data.data_root()
    monkeypatch.setenv(data.ENV_VAR, "  ")
    with pytest.raises(data.DataError, match=f"{data.ENV_VAR} is set but empty"):
        data.load_cifar10(download_if_missing=False)


# --- which data: the fingerprint ------------------------------------------------------------

def write_provenance(root, source="offline JPEG rebuild"):
    """What ../shared/datasets/cifar10/build.py leaves beside the data it writes."""
    folder = root / data.FOLDER
    sha = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    (root / data.PROVENANCE).write_text(json.dumps({"source": source, "sha256": sha}))
    return sha


def test_offline_rebuild_is_named_and_a_modified_one_is_not_trusted(small_layout):
    root, _ = small_layout
    sha = write_provenance(root)
    cifar = data.load_cifar10(root, download_if_missing=False)
    assert cifar.fingerprint["kind"] == "offline JPEG rebuild"
    assert cifar.fingerprint["hash"] == data.combined_hash(sha)
    assert cifar.subset(10, 5).fingerprint == cifar.fingerprint  # what a runner records
    assert cifar.split_validation(5)[0].fingerprint == cifar.fingerprint

    def change_a_pixel(records):
        records[3, 100] ^= 1
    rewrite(root / data.FOLDER / "data_batch_3.bin", change_a_pixel)
    changed = data.load_cifar10(root, download_if_missing=False).fingerprint
    assert changed["kind"] == data.UNVERIFIED and changed["hash"] != cifar.fingerprint["hash"]
    assert changed["note"] == f"modified since {data.PROVENANCE} was written: data_batch_3.bin"


def test_a_copy_without_provenance_is_unverified_but_named_by_its_hash(small_layout):
    root, _ = small_layout
    first = data.load_raw(root, download_if_missing=False)["fingerprint"]
    assert first["kind"] == data.UNVERIFIED and len(first["hash"]) == 12
    assert data.load_raw(root, download_if_missing=False)["fingerprint"] == first
    (root / data.PROVENANCE).write_text("{not json")
    broken = data.load_raw(root, download_if_missing=False)["fingerprint"]
    assert broken["kind"] == data.UNVERIFIED and "cannot be read" in broken["note"]


def test_hashes_are_cached_on_size_and_mtime(small_layout, monkeypatch):
    root, _ = small_layout
    folder = root / data.FOLDER
    first = data.file_hashes(folder)
    hashed = []
    real = data._md5
    monkeypatch.setattr(data, "_md5", lambda path, algorithm="md5": hashed.append(path.name)
                        or real(path, algorithm))
    assert data.file_hashes(folder) == first and hashed == []  # all from the cache
    path = folder / data.TEST_FILE
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert data.file_hashes(folder) == first and hashed == [data.TEST_FILE]


def test_records_carry_the_fingerprint(small_layout, tmp_path):
    from course_lib import profiles, results

    root, _ = small_layout
    write_provenance(root)
    cifar = data.load_cifar10(root, download_if_missing=False)
    run = results.Run(0, {"test_accuracy": 0.1}, {}, {}, 0.0)
    record = results.make_record(profiles.settings("numpy_mlp", "smoke"), "numpy_mlp", [run],
                                 "cpu", 0.0, tmp_path, data=cifar.subset(20, 10))
    back = results.load("numpy_mlp", "smoke", tmp_path)
    assert back.data == record.data == cifar.fingerprint
    assert back.data_label == f"offline JPEG rebuild ({cifar.fingerprint['hash']})"

"""The CIFAR-10 loader on small data in the official binary layout."""

import hashlib
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
    monkeypatch.setattr(data, "RECORDS_PER_FILE", 1)
    folder = tmp_path / data.FOLDER
    folder.mkdir()
    record = np.zeros(data.RECORD_BYTES, np.uint8)
    record[0] = 7  # label
    record[1:1025] = 200  # red plane
    record[1 + 1024 + 5] = 9  # green plane, row 0 column 5
    for name in (*data.TRAIN_FILES, data.TEST_FILE):
        (folder / name).write_bytes(record.tobytes())
    (folder / data.META_FILE).write_text("\n".join(CLASSES) + "\n")
    raw = data.load_raw(tmp_path, download_if_missing=False)
    img = raw["x_test"][0]
    assert raw["y_test"][0] == 7
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
    assert [p.name for p in target.iterdir()] == [data.FOLDER]  # no temporary left


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
    assert [p.name for p in target.iterdir()] == [folder.name]


def test_data_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    assert data.data_root() == tmp_path
    monkeypatch.delenv(data.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.data_root() == tmp_path / "cache" / "backprop-course" / "cifar10"

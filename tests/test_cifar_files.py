"""The CIFAR-10 file loaders: every form, every refusal, the restricted unpickler, the cache."""

from __future__ import annotations

import os
import pickle
import tarfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from dlcli.data import cifar_files
from dlcli.data.cifar_files import CifarArrays, load_cifar10
from dlcli.errors import DataError
from tests.cifar_fixtures import (
    TinyCifar,
    batch_dict,
    binary_batch,
    make_tiny_cifar,
    py2_pickle,
    write_all_forms,
    write_binary_folder,
    write_python_folder,
    write_tar,
)

REPO = Path(__file__).resolve().parents[1]
PY_NAMES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
            "test_batch")
SAMPLE_DIRS = [Path("/work/shared/data/cifar-10-sample"), REPO / ".." / "shared" / "data" /
               "cifar-10-sample", Path("../shared/data/cifar-10-sample")]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the real ~/.cache: every test gets its own default cache dir."""
    cache = tmp_path / "default-cache"
    monkeypatch.setenv("DLCLI_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def tiny() -> TinyCifar:
    return make_tiny_cifar(n_per_batch=12, n_test=10, seed=3)


def assert_same(a: CifarArrays, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                y_test: np.ndarray) -> None:
    for got, want in ((a.x_train, x_train), (a.y_train, y_train), (a.x_test, x_test),
                      (a.y_test, y_test)):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert a.x_train.dtype == np.uint8 and a.y_train.dtype == np.int64


def expect(a: TinyCifar) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return a.x_train, a.y_train, a.x_test, a.y_test


# --- the four forms -----------------------------------------------------------------------


def test_all_four_forms_give_identical_arrays(tmp_path: Path, tiny: TinyCifar) -> None:
    forms = write_all_forms(tmp_path, tiny)
    for path in forms.values():
        assert_same(load_cifar10(path, use_cache=False), *expect(tiny))
    assert load_cifar10(forms["python-folder"], use_cache=False).x_train.shape == (60, 3072)


def test_parent_folders_and_str_paths_work(tmp_path: Path, tiny: TinyCifar) -> None:
    write_all_forms(tmp_path, tiny)
    # a folder holding cifar-10-batches-py / -bin, or holding only the downloaded archive
    for path in (tmp_path / "py", tmp_path / "bin", tmp_path / "archives"):
        assert_same(load_cifar10(str(path), use_cache=False), *expect(tiny))


@pytest.mark.parametrize("module", ["numpy.core.multiarray", "numpy._core.multiarray"])
def test_both_numpy_module_names_load(tmp_path: Path, tiny: TinyCifar, module: str) -> None:
    folder = write_python_folder(tmp_path, tiny, numpy_module=module)
    assert_same(load_cifar10(folder, use_cache=False), *expect(tiny))


def test_batches_pickled_by_python3_load(tmp_path: Path, tiny: TinyCifar) -> None:
    # Python 3 writes protocol-2 bytes through _codecs.encode(..., "latin1") and b"" as bytes()
    folder = write_python_folder(tmp_path, tiny)
    for name, x, y in tiny.batches():
        d = batch_dict(name, x, y) | {b"batch_label": b""}
        (folder / name).write_bytes(pickle.dumps(d, protocol=2))
    assert_same(load_cifar10(folder, use_cache=False), *expect(tiny))


def test_tar_with_extra_members_and_other_order(tmp_path: Path, tiny: TinyCifar) -> None:
    folder = write_python_folder(tmp_path / "src", tiny)
    archive = tmp_path / "shuffled.tgz"
    with tarfile.open(archive, "w:gz") as tar:  # the official archive is in no useful order
        for name in ("data_batch_4", "batches.meta", "test_batch", "data_batch_3",
                     "data_batch_2", "data_batch_5", "data_batch_1"):
            tar.add(folder / name, arcname=f"cifar-10-batches-py/{name}")
        tar.add(folder / "batches.meta", arcname="cifar-10-batches-py/readme.html")
    assert_same(load_cifar10(archive, use_cache=False), *expect(tiny))


def _sample_dir() -> Path | None:
    return next((p for p in SAMPLE_DIRS if (p / "cifar-10-batches-py").is_dir()), None)


@pytest.mark.skipif(_sample_dir() is None, reason="real CIFAR-10 sample not present")
def test_real_sample_folder_and_archive_agree() -> None:
    sample = _sample_dir()
    assert sample is not None
    folder = load_cifar10(sample / "cifar-10-batches-py", use_cache=False)
    archive = load_cifar10(sample / "cifar-10-python.tar.gz", use_cache=False)
    assert folder.x_train.shape == (1000, 3072) and folder.x_test.shape == (200, 3072)
    assert folder.y_train.shape == (1000,) and folder.y_test.shape == (200,)
    assert_same(archive, folder.x_train, folder.y_train, folder.x_test, folder.y_test)
    # our fixture writer reproduces the real files byte for byte
    raw = (sample / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    assert py2_pickle(pickle.loads(raw, encoding="bytes")) == raw


# --- refusing bad input -------------------------------------------------------------------


def load_error(path: Path) -> str:
    with pytest.raises(DataError) as info:
        load_cifar10(path, use_cache=False)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_path(tmp_path: Path) -> None:
    message = load_error(tmp_path / "nope")
    assert f"{tmp_path / 'nope'}: no such file or folder" in message
    assert "cifar-10-batches-py" in message


def test_folder_without_batches_and_plain_file(tmp_path: Path) -> None:
    assert "no CIFAR-10 batches in this folder" in load_error(tmp_path)
    note = tmp_path / "notes.txt"
    note.write_text("hello")
    assert f"{note}: not a CIFAR-10 folder or tar archive" in load_error(note)


@pytest.mark.parametrize("form", ["python-folder", "binary-folder"])
def test_missing_batch_in_folder(tmp_path: Path, tiny: TinyCifar, form: str) -> None:
    folder = write_all_forms(tmp_path, tiny)[form]
    victim = next(folder.glob("data_batch_3*"))
    victim.unlink()
    assert f"{victim}: missing batch" in load_error(folder)


def test_missing_batch_in_archive(tmp_path: Path, tiny: TinyCifar) -> None:
    folder = write_python_folder(tmp_path / "src", tiny)
    (folder / "test_batch").unlink()
    archive = write_tar(folder, tmp_path / "cifar-10-python.tar.gz")
    assert f"{archive}: missing cifar-10-batches-py/test_batch" in load_error(archive)
    empty = tmp_path / "empty.tar.gz"
    with tarfile.open(empty, "w:gz"):
        pass
    assert "no CIFAR-10 batches inside" in load_error(empty)


def test_truncated_and_garbage_pickles(tmp_path: Path, tiny: TinyCifar) -> None:
    folder = write_python_folder(tmp_path, tiny)
    batch = folder / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:5000])
    assert f"{batch}: not a readable CIFAR-10 python batch, truncated or corrupt" in (
        load_error(folder))
    batch.write_bytes(b"\x00garbage" * 10)
    assert "truncated or corrupt" in load_error(folder)
    batch.write_bytes(b"")
    assert "truncated or corrupt" in load_error(folder)


def test_bad_and_truncated_archives(tmp_path: Path, tiny: TinyCifar) -> None:
    bad = tmp_path / "cifar-10-python.tar.gz"
    bad.write_bytes(b"this is not gzip at all" * 100)
    assert f"{bad}: not a readable tar archive, truncated or corrupt" in load_error(bad)
    good = write_tar(write_python_folder(tmp_path / "src", tiny), tmp_path / "good.tar.gz")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert f"{cut}: not a readable tar archive, truncated or corrupt" in load_error(cut)


def test_binary_size_not_a_multiple_of_3073(tmp_path: Path, tiny: TinyCifar) -> None:
    folder = write_binary_folder(tmp_path, tiny)
    batch = folder / "data_batch_5.bin"
    batch.write_bytes(batch.read_bytes()[:-10])
    message = load_error(folder)
    assert f"{batch}: size {12 * 3073 - 10} bytes is not a positive multiple of 3073" in message
    batch.write_bytes(b"")
    assert "size 0 bytes" in load_error(folder)


def write_batch(tmp_path: Path, tiny: TinyCifar, name: str, obj: object) -> Path:
    folder = write_python_folder(tmp_path, tiny)
    (folder / name).write_bytes(py2_pickle(obj))
    return folder


def test_rows_not_3072_bytes(tmp_path: Path, tiny: TinyCifar) -> None:
    x, y = tiny.train[0]
    folder = write_batch(tmp_path, tiny, "data_batch_1", batch_dict("data_batch_1", x[:, :3000], y))
    assert "data_batch_1: an array of shape (12, 3000), expected (N, 3072)" in load_error(folder)
    folder = write_batch(tmp_path, tiny, "data_batch_1",
                         batch_dict("data_batch_1", x.astype(np.float32), y))
    assert "data_batch_1: refused to call the global numpy.dtype(str 'f4', False, True)" in (
        load_error(folder))


@pytest.mark.parametrize("bad_label", [10, -1, 255])
def test_labels_outside_0_to_9_python(tmp_path: Path, tiny: TinyCifar, bad_label: int) -> None:
    x, y = tiny.test
    y = y.copy()
    y[4] = bad_label
    folder = write_batch(tmp_path, tiny, "test_batch", batch_dict("test_batch", x, y))
    assert f"test_batch: label {bad_label} at index 4 is outside 0-9" in load_error(folder)


def test_labels_outside_0_to_9_binary(tmp_path: Path, tiny: TinyCifar) -> None:
    folder = write_binary_folder(tmp_path, tiny)
    x, y = tiny.train[1]
    y = y.copy()
    y[7] = 12
    (folder / "data_batch_2.bin").write_bytes(binary_batch(x, y))
    assert "data_batch_2.bin: label 12 at index 7 is outside 0-9" in load_error(folder)


def test_label_count_mismatch_and_bad_label_type(tmp_path: Path, tiny: TinyCifar) -> None:
    x, y = tiny.train[0]
    d = batch_dict("data_batch_1", x, y)
    folder = write_batch(tmp_path, tiny, "data_batch_1", d | {b"labels": d[b"labels"][:-1]})
    assert "data_batch_1: 11 labels for 12 images, expected one label per image" in (
        load_error(folder))
    folder = write_batch(tmp_path, tiny, "data_batch_1", d | {b"labels": [b"cat"] * 12})
    assert "data_batch_1: b'labels'[0] is bytes b'cat', expected an int label" in load_error(folder)
    folder = write_batch(tmp_path, tiny, "data_batch_1", d | {b"labels": [1] * 11 + [True]})
    assert "data_batch_1: a list item that is True" in load_error(folder)


def test_str_keys_load_but_other_keys_and_shapes_do_not(tmp_path: Path, tiny: TinyCifar) -> None:
    x, y = tiny.train[0]
    str_keys = {"data": x, "labels": [int(v) for v in y]}  # as a Python 3 re-pickle may have
    folder = write_batch(tmp_path, tiny, "data_batch_1", str_keys)
    assert_same(load_cifar10(folder, use_cache=False), *expect(tiny))
    folder = write_batch(tmp_path, tiny, "data_batch_1", str_keys | {"fine_labels": []})
    assert "data_batch_1: unexpected key 'fine_labels' (a CIFAR-10 batch holds b'batch_label'" \
        in load_error(folder)
    folder = write_batch(tmp_path, tiny, "data_batch_1", {"labels": [1]})
    assert "data_batch_1: b'data' is missing, expected a uint8 array (N, 3072)" in (
        load_error(folder))
    folder = write_batch(tmp_path, tiny, "data_batch_1", [x])
    assert "data_batch_1: a list item that is an array" in load_error(folder)
    folder = write_batch(tmp_path, tiny, "data_batch_1", [1, 2])
    assert "data_batch_1: the pickle holds a list, expected the batch dict" in load_error(folder)


# --- the restricted unpickler -------------------------------------------------------------


class _RunsAShellCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


def test_pickle_calling_os_system_is_refused_without_running(tmp_path: Path,
                                                            tiny: TinyCifar) -> None:
    marker = tmp_path / "pwned"
    evil = {b"data": _RunsAShellCommand(f"touch {marker}"), b"labels": []}
    folder = write_python_folder(tmp_path, tiny)
    (folder / "data_batch_3").write_bytes(pickle.dumps(evil, protocol=2))
    message = load_error(folder)
    assert f"{folder / 'data_batch_3'}: refused to unpickle the global" in message
    assert f"{os.system.__module__}.system" in message
    assert not marker.exists()


def test_hand_written_eval_pickle_is_refused(tmp_path: Path, tiny: TinyCifar) -> None:
    marker = tmp_path / "pwned-by-eval"
    code = f"open({str(marker)!r}, 'w')".encode()
    # PROTO 2; GLOBAL builtins.eval; a one-string tuple; REDUCE; STOP
    evil = b"\x80\x02c__builtin__\neval\nq\x00X" + len(code).to_bytes(4, "little") + code + (
        b"\x85R.")
    folder = write_python_folder(tmp_path, tiny)
    (folder / "test_batch").write_bytes(evil)
    assert "test_batch: refused to unpickle the global __builtin__.eval" in load_error(folder)
    assert not marker.exists()


def test_codecs_encode_is_admitted_only_for_latin1(tmp_path: Path, tiny: TinyCifar) -> None:
    # _codecs.encode(u"x", "rot13") would be harmless, but nothing official needs it
    evil = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x05\x00\x00\x00rot13\x86R."
    folder = write_python_folder(tmp_path, tiny)
    (folder / "data_batch_1").write_bytes(evil)
    assert "refused to call the global _codecs.encode(str 'x', str 'rot13')" in load_error(folder)


# --- the decoded cache --------------------------------------------------------------------


def test_cache_hit_returns_equal_arrays_without_decoding(tmp_path: Path, tiny: TinyCifar,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_python_folder(tmp_path, tiny)
    cache = tmp_path / "cache"
    first = load_cifar10(folder, cache_dir=cache)
    entries = list(cache.glob("cifar10-*.npz"))
    assert len(entries) == 1 and not list(cache.glob("*.tmp"))

    def no_decoding(*_: object) -> CifarArrays:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(cifar_files, "_decode", no_decoding)
    second = load_cifar10(folder, cache_dir=cache)
    assert_same(second, first.x_train, first.y_train, first.x_test, first.y_test)
    assert_same(second, *expect(tiny))


def test_changed_source_is_decoded_again_and_old_entry_removed(tmp_path: Path,
                                                              tiny: TinyCifar) -> None:
    archive = write_all_forms(tmp_path, tiny)["python-tar"]
    cache = tmp_path / "cache"
    load_cifar10(archive, cache_dir=cache)
    (old,) = cache.glob("*.npz")
    other = make_tiny_cifar(seed=99)
    write_tar(write_python_folder(tmp_path / "other", other), archive)
    stat = archive.stat()
    os.utime(archive, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert_same(load_cifar10(archive, cache_dir=cache), *expect(other))
    (new,) = cache.glob("*.npz")
    assert new != old


def test_corrupt_cache_entry_is_ignored_and_rebuilt(tmp_path: Path, tiny: TinyCifar,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_binary_folder(tmp_path, tiny)
    cache = tmp_path / "cache"
    load_cifar10(folder, cache_dir=cache)
    (entry,) = cache.glob("*.npz")
    good = entry.read_bytes()
    calls: list[int] = []
    real_decode = cifar_files._decode
    monkeypatch.setattr(cifar_files, "_decode", lambda s: calls.append(1) or real_decode(s))
    for damaged in (b"", good[: len(good) // 2], good[:-200] + b"\xff" * 200, b"PK\x03\x04junk"):
        entry.write_bytes(damaged)
        assert_same(load_cifar10(folder, cache_dir=cache), *expect(tiny))
    assert len(calls) == 4
    assert entry.read_bytes() == good


def test_cache_location_env_default_and_opt_out(tmp_path: Path, tiny: TinyCifar,
                                                monkeypatch: pytest.MonkeyPatch,
                                                _private_cache: Path) -> None:
    folder = write_python_folder(tmp_path, tiny)
    load_cifar10(folder)
    assert len(list(_private_cache.glob("cifar10-*.npz"))) == 1
    monkeypatch.delenv("DLCLI_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    load_cifar10(folder)
    assert len(list((tmp_path / "home" / ".cache" / "dlcli").glob("cifar10-*.npz"))) == 1
    monkeypatch.setenv("HOME", str(tmp_path / "home2"))
    load_cifar10(folder, use_cache=False)
    assert not (tmp_path / "home2").exists()


def test_unwritable_cache_warns_and_still_loads(tmp_path: Path, tiny: TinyCifar) -> None:
    folder = write_python_folder(tmp_path, tiny)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.warns(RuntimeWarning, match="could not write the CIFAR-10 cache"):
        arrays = load_cifar10(folder, cache_dir=blocker / "cache")
    assert_same(arrays, *expect(tiny))


# --- bounded reading: archives and folders cannot make us read more than a batch ----------


class _Zeros:
    """A file object of ``size`` zero bytes, produced in chunks (a gzip bomb's content)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


def _peak_bytes_while(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def _bomb_archive(path: Path, member: tarfile.TarInfo, size: int) -> Path:
    member.size = size
    with tarfile.open(path, "w:gz", compresslevel=1, format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(member, _Zeros(size))  # type: ignore[arg-type]
    return path


def test_oversized_tar_member_is_refused_before_reading(tmp_path: Path) -> None:
    size = 80 * 2**20  # ~80 KB compressed; more than any real batch
    archive = _bomb_archive(tmp_path / "bomb.tar.gz",
                            tarfile.TarInfo("cifar-10-batches-py/data_batch_1"), size)
    assert archive.stat().st_size < 2**20
    peak = _peak_bytes_while(lambda: load_error(archive))
    message = load_error(archive)
    assert f"{archive}:cifar-10-batches-py/data_batch_1: {size} bytes" in message
    assert peak < 8 * 2**20, peak


def test_oversized_tar_header_is_refused_before_reading(tmp_path: Path) -> None:
    header = tarfile.TarInfo("././@PaxHeader")  # a pax extended header tarfile reads whole
    header.type = tarfile.XHDTYPE
    archive = _bomb_archive(tmp_path / "pax.tar.gz", header, 80 * 2**20)
    peak = _peak_bytes_while(lambda: load_error(archive))
    assert "tar header" in load_error(archive)
    assert peak < 8 * 2**20, peak


def test_links_and_devices_named_like_batches_are_refused(tmp_path: Path, tiny: TinyCifar) -> None:
    folder = write_python_folder(tmp_path / "src", tiny)
    for kind in (tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE):
        archive = tmp_path / f"link-{kind!r}.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            link = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
            link.type, link.linkname = kind, "/etc/passwd"
            tar.addfile(link)
            for name in PY_NAMES[1:]:
                tar.add(folder / name, arcname=f"cifar-10-batches-py/{name}")
        message = load_error(archive)
        assert f"{archive}:cifar-10-batches-py/data_batch_1: not a regular file" in message


def test_archive_with_too_many_members_is_refused(tmp_path: Path, tiny: TinyCifar) -> None:
    folder = write_python_folder(tmp_path / "src", tiny)
    archive = tmp_path / "many.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for i in range(2000):
            tar.addfile(tarfile.TarInfo(f"junk/{i}"))
        tar.add(folder, arcname="cifar-10-batches-py")
    assert "more than" in load_error(archive) and "members" in load_error(archive)


@pytest.mark.parametrize("form", ["python-folder", "binary-folder"])
def test_oversized_batch_file_is_refused_before_reading(tmp_path: Path, tiny: TinyCifar,
                                                        form: str) -> None:
    folder = write_all_forms(tmp_path, tiny)[form]
    victim = next(folder.glob("data_batch_2*"))
    with victim.open("r+b") as f:
        f.truncate(100 * 2**20)  # sparse: no disk used
    peak = _peak_bytes_while(lambda: load_error(folder))
    assert f"{victim}: {100 * 2**20} bytes" in load_error(folder)
    assert peak < 8 * 2**20, peak

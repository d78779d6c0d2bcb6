"""Builders for tiny CIFAR-10 datasets in the official on-disk formats, for any test to reuse.

Python form: protocol-2 pickles written the way the official (Python 2) files were: a dict
with bytes keys, bytes values as BINSTRING opcodes, the pixel array through
``numpy.core.multiarray._reconstruct``. Binary form: records of 1 label byte + 3072 pixel
bytes. Archives hold the folder as ``cifar-10-batches-py/...`` or ``cifar-10-batches-bin/...``.

    data = make_tiny_cifar(n_per_batch=12)
    forms = write_all_forms(tmp_path, data)    # {"python-folder": Path, "python-tar": ...}
    load_cifar10(forms["python-tar"]).x_train  # == data.x_train
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROW_BYTES = 3072
PY_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
              "test_batch")
LABEL_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
               b"ship", b"truck"]


@dataclass
class TinyCifar:
    """Five training batches and a test batch: each x (n, 3072) uint8, y (n,) int64."""

    train: list[tuple[np.ndarray, np.ndarray]]
    test: tuple[np.ndarray, np.ndarray]

    @property
    def x_train(self) -> np.ndarray:
        return np.concatenate([x for x, _ in self.train])

    @property
    def y_train(self) -> np.ndarray:
        return np.concatenate([y for _, y in self.train])

    @property
    def x_test(self) -> np.ndarray:
        return self.test[0]

    @property
    def y_test(self) -> np.ndarray:
        return self.test[1]

    def batches(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(official name, x, y) for data_batch_1..5 then test_batch."""
        pairs = [*self.train, self.test]
        return [(name, x, y) for name, (x, y) in zip(PY_BATCHES, pairs, strict=True)]


def make_tiny_cifar(n_per_batch: int = 12, n_test: int = 10, seed: int = 0) -> TinyCifar:
    rng = np.random.default_rng(seed)

    def batch(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.integers(0, 256, size=(n, ROW_BYTES), dtype=np.uint8)
        return x, rng.integers(0, 10, size=n).astype(np.int64)

    return TinyCifar([batch(n_per_batch) for _ in range(5)], batch(n_test))


class _Py2StylePickler(pickle._Pickler):  # the pure-Python pickler lets us choose opcodes
    """Protocol 2 as Python 2 wrote it: bytes as (SHORT_)BINSTRING, not ``_codecs.encode``."""

    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file: io.BytesIO, numpy_module: str) -> None:
        super().__init__(file, protocol=2)
        self._numpy_module = numpy_module

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if getattr(obj, "__name__", None) in ("_reconstruct", "scalar"):
            self.write(pickle.GLOBAL + f"{self._numpy_module}\n{obj.__name__}\n".encode())
            self.memoize(obj)
        else:
            super().save_global(obj, name)


def py2_pickle(obj: object, numpy_module: str = "numpy.core.multiarray") -> bytes:
    """Pickle ``obj`` the way the official files are pickled (``numpy_module`` as named)."""
    out = io.BytesIO()
    _Py2StylePickler(out, numpy_module).dump(obj)
    return out.getvalue()


def batch_dict(name: str, x: np.ndarray, y: np.ndarray) -> dict[bytes, Any]:
    """The dict an official python batch holds (labels as a list of ints)."""
    label = b"testing batch 1 of 1" if name == "test_batch" else (
        f"training batch {name[-1]} of 5".encode())
    return {b"batch_label": label, b"labels": [int(v) for v in y], b"data": x,
            b"filenames": [f"img_{name}_{i}.png".encode() for i in range(len(x))]}


def binary_batch(x: np.ndarray, y: np.ndarray) -> bytes:
    """Records of 1 label byte + 3072 pixel bytes."""
    return np.column_stack([y.astype(np.uint8), x]).tobytes()


def write_python_folder(dest: Path, data: TinyCifar,
                        numpy_module: str = "numpy.core.multiarray") -> Path:
    """dest/cifar-10-batches-py with data_batch_1..5, test_batch, batches.meta."""
    folder = dest / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name, x, y in data.batches():
        (folder / name).write_bytes(py2_pickle(batch_dict(name, x, y), numpy_module))
    meta = {b"num_cases_per_batch": len(data.train[0][0]), b"label_names": LABEL_NAMES,
            b"num_vis": ROW_BYTES}
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    return folder


def write_binary_folder(dest: Path, data: TinyCifar) -> Path:
    """dest/cifar-10-batches-bin with data_batch_1..5.bin, test_batch.bin, batches.meta.txt."""
    folder = dest / "cifar-10-batches-bin"
    folder.mkdir(parents=True, exist_ok=True)
    for name, x, y in data.batches():
        (folder / f"{name}.bin").write_bytes(binary_batch(x, y))
    (folder / "batches.meta.txt").write_bytes(b"\n".join(LABEL_NAMES) + b"\n\n")
    return folder


def write_tar(folder: Path, archive: Path) -> Path:
    """A .tar.gz of ``folder`` with members under ``folder.name/`` (as the official ones)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def write_all_forms(dest: Path, data: TinyCifar) -> dict[str, Path]:
    """The four forms people have, each in its own sub-folder of ``dest``."""
    py = write_python_folder(dest / "py", data)
    binary = write_binary_folder(dest / "bin", data)
    return {
        "python-folder": py,
        "python-tar": write_tar(py, dest / "archives" / "cifar-10-python.tar.gz"),
        "binary-folder": binary,
        "binary-tar": write_tar(binary, dest / "archives" / "cifar-10-binary.tar.gz"),
    }

"""The CIFAR-10 pickle reader: what it accepts, what it refuses, what it never does.

The crafted files of the review are built here from raw opcodes (the big ones at test time).
Those that crashed or exhausted the old loader run in a subprocess through the real CLI, so
a segfault or a stack overflow fails the test instead of killing pytest; the subprocess must
exit 2 with one line of error text, no traceback, and a bounded growth of its peak memory.
"""

from __future__ import annotations

import pickle
import struct
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import yaml

from dlcli.data.safe_pickle import read_batch
from dlcli.errors import DataError
from tests.cifar_fixtures import make_tiny_cifar, py2_pickle, write_python_folder

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar-10-sample" / (
    "cifar-10-batches-py")

# --- raw opcodes --------------------------------------------------------------------------

PROTO2 = b"\x80\x02"
RECONSTRUCT = b"cnumpy.core.multiarray\n_reconstruct\n"
NDARRAY = b"cnumpy\nndarray\n"
DTYPE = b"cnumpy\ndtype\n"


def py2str(b: bytes) -> bytes:
    """A Python 2 str (SHORT_BINSTRING or BINSTRING), read back as bytes."""
    return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b


def binint(v: int) -> bytes:
    return b"J" + struct.pack("<i", v)


def batch_of(entries: bytes) -> bytes:
    """PROTO 2, a dict filled by one SETITEMS, STOP: ``entries`` are key, value, key, ..."""
    return PROTO2 + b"}(" + entries + b"u."


def u1_dtype(code: bytes = b"u1") -> bytes:
    """numpy.dtype(code, False, True) with the state numpy writes for a one-byte type."""
    return (DTYPE + py2str(code) + b"\x89\x88\x87R"
            + b"(K\x03" + py2str(b"|") + b"NNN" + binint(-1) + binint(-1) + b"K\x00tb")


def reconstructed(n: int, raw: bytes, cols: int = 3072) -> bytes:
    """An array as the official files hold it: _reconstruct(ndarray, (0,), 'b') + BUILD."""
    shape = b"(" + binint(n) + binint(cols) + b"t"
    return (RECONSTRUCT + NDARRAY + b"K\x00\x85" + py2str(b"b") + b"\x87R"
            + b"(K\x01" + shape + u1_dtype() + b"\x89" + py2str(raw) + b"tb")


def label_list(values: list[int]) -> bytes:
    return b"](" + b"".join(b"K" + bytes([v]) for v in values) + b"e"


def ndarray_call(shape: bytes, dtype: bytes, buffer: bytes, strides: bytes) -> bytes:
    """numpy.ndarray(shape, dtype, buffer, 0, strides): what the old loader let a file call."""
    return NDARRAY + b"(" + shape + dtype + py2str(buffer) + b"K\x00" + strides + b"tR"


def valid_batch(n: int = 2) -> bytes:
    return batch_of(py2str(b"data") + reconstructed(n, bytes(range(256)) * 12 * n)
                    + py2str(b"labels") + label_list([3] * n))


# --- the crafted files of the review ------------------------------------------------------


def object_array_labels() -> bytes:
    """labels = [ndarray((1,), dtype('O'), <8 bytes>, 0, (8,))]: np.asarray dereferenced the
    address the 8 bytes spell (segfault)."""
    obj = ndarray_call(b"K\x01\x85", DTYPE + py2str(b"O8") + b"\x89\x88\x87R", b"A" * 8,
                       b"K\x08\x85")
    return batch_of(py2str(b"data") + reconstructed(1, bytes(3072))
                    + py2str(b"labels") + b"](" + obj + b"e")


def nested_tuple_key(depth: int) -> bytes:
    """{((((0,),),),...): 0} nested ``depth`` deep (10**6: a C stack overflow in load())."""
    return PROTO2 + b"}K\x00" + b"\x85" * depth + b"K\x00s."


def stride0_images(n: int = 10**6) -> bytes:
    """data = ndarray((n, 3072), 'u1', <3072 bytes>, 0, (0, 1)), labels likewise stride 0: a
    3 KB file that claimed a million images (3 GB once concatenated)."""
    u1 = DTYPE + py2str(b"u1") + b"\x89\x88\x87R"
    data = ndarray_call(b"(" + binint(n) + b"M\x00\x0ct", u1, bytes(3072), b"K\x00K\x01\x86")
    labels = ndarray_call(b"(" + binint(n) + b"t", u1, b"\x00", b"K\x00\x85")
    return batch_of(py2str(b"data") + data + py2str(b"labels") + labels)


def shared_labels(k: int = 256) -> bytes:
    """labels = [[[0] * k] * k] * k through memo GETs: k**3 int64 (134 MB) from ~4.5 KB.

    Each list is the first item of its parent (memo PUT), and GET k - 1 times more.
    """
    inner = label_list([0] * k) + b"q\x00"
    middle = b"](" + inner + b"h\x00" * (k - 1) + b"e" + b"q\x01"
    outer = b"](" + middle + b"h\x01" * (k - 1) + b"e"
    return batch_of(py2str(b"data") + reconstructed(1, bytes(3072)) + py2str(b"labels") + outer)


# --- running the CLI on a crafted batch, in a subprocess ----------------------------------

CHILD = textwrap.dedent("""
    import resource, sys
    import numpy, dlcli.api, dlcli.cli, dlcli.data.cifar_files, dlcli.data.sources
    limit = 1 << 30  # 1 GiB of address space: an unbounded allocation fails fast
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        dlcli.cli.app(sys.argv[1:], prog_name="dlcli")
        code = 0
    except SystemExit as exc:
        code = exc.code
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(f"rss-growth-kib {growth}")
    sys.exit(code)
""")


CRAFTED = {
    "object-array": object_array_labels,
    "tuple-key-1e6": lambda: nested_tuple_key(10**6),
    "tuple-key-5000": lambda: nested_tuple_key(5000),
    "stride-0": stride0_images,
    "shared-labels": shared_labels,
}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, int, int]]:
    """``dlcli data info`` on a tiny python folder whose data_batch_1 is each crafted file,
    all at once (one subprocess each): name -> (exit code, stderr, peak-memory growth in KiB
    or -1 when the child died, file size)."""
    procs = {}
    for name, craft in CRAFTED.items():
        root = tmp_path_factory.mktemp(name)
        folder = write_python_folder(root / "data", make_tiny_cifar(n_per_batch=12, n_test=10))
        crafted = craft()
        (folder / "data_batch_1").write_bytes(crafted)
        cfg = root / "cfg.yaml"
        cfg.write_text(yaml.safe_dump({
            "name": "crafted", "seed": 0,
            "data": {"source": "cifar10", "path": str(folder), "cache_dir": str(root / "cache"),
                     "num_train": 40, "num_val": 10, "num_test": 5},
            "model": {"name": "softmax"}, "strategy": {"name": "sgd", "iterations": 1}}))
        proc = subprocess.Popen([sys.executable, "-c", CHILD, "data", "info", str(cfg)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs[name] = (proc, len(crafted))
    runs = {}
    for name, (proc, size) in procs.items():
        out, err = proc.communicate(timeout=120)
        growth = [int(line.split()[1]) for line in out.splitlines()
                  if line.startswith("rss-growth-kib ")]
        runs[name] = (proc.returncode, err, growth[0] if growth else -1, size)
    return runs


def assert_refused(run: tuple[int, str, int, int], *words: str) -> None:
    """Exit 2, one line of error text naming the batch, no traceback, bounded memory."""
    code, stderr, growth_kib, file_size = run
    assert code == 2, f"exit {code}: {stderr[-2000:]}"
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr and "data_batch_1" in lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    # the file itself, up to 3x its size in what it builds, and interpreter noise (~1 MiB)
    assert 0 <= growth_kib * 1024 <= 4 * file_size + 8 * 2**20, growth_kib


def test_object_array_is_refused_without_touching_memory(cli_runs: dict) -> None:
    assert_refused(cli_runs["object-array"], "numpy.dtype(bytes b'O8'")


def test_tuple_key_nested_a_million_deep_is_refused(cli_runs: dict) -> None:
    assert_refused(cli_runs["tuple-key-1e6"], "nested more than 2 deep")


def test_tuple_key_nested_5000_deep_is_refused(cli_runs: dict) -> None:
    assert_refused(cli_runs["tuple-key-5000"], "nested more than 2 deep")


def test_stride_0_million_images_are_refused(cli_runs: dict) -> None:
    assert cli_runs["stride-0"][3] < 4000
    assert_refused(cli_runs["stride-0"], "numpy.ndarray")


def test_labels_from_shared_references_are_refused(cli_runs: dict) -> None:
    assert cli_runs["shared-labels"][3] < 5000
    assert_refused(cli_runs["shared-labels"], "second reference (memo GET)")


# --- in process: every form a batch is written in reads to the same arrays ----------------

X = np.random.default_rng(5).integers(0, 256, size=(3, 3072), dtype=np.uint8)
Y = [4, 0, 9]


def official(extra: dict[bytes, object] | None = None) -> dict[bytes, object]:
    return {b"batch_label": b"training batch 1 of 5", b"labels": list(Y), b"data": X,
            b"filenames": [b"a.png", b"b.png", b"c.png"], **(extra or {})}


def with_str_keys(d: dict[bytes, object]) -> dict[str, object]:
    return {k.decode(): v for k, v in d.items()}


FORMS = {
    "python 2 (official)": lambda: py2_pickle(official()),
    "python 2, numpy._core": lambda: py2_pickle(official(), "numpy._core.multiarray"),
    **{f"protocol {p}": (lambda p=p: pickle.dumps(official(), protocol=p)) for p in (2, 3, 4, 5)},
    **{f"protocol {p}, str keys and names": (lambda p=p: pickle.dumps(with_str_keys(official(
        {b"filenames": ["a.png", "b.png", "c.png"], b"batch_label": ""})), protocol=p))
       for p in (2, 3, 4, 5)},
    "no batch_label or filenames": lambda: pickle.dumps({b"data": X, b"labels": Y}, protocol=2),
}


@pytest.mark.parametrize("form", FORMS)
def test_every_form_reads_to_the_same_arrays(form: str) -> None:
    raw = FORMS[form]()
    for buffer in (raw, bytearray(raw)):  # a folder's file or a tar member is a bytearray
        x, y = read_batch("batch", buffer)
        np.testing.assert_array_equal(x, X)
        assert x.dtype == np.uint8 and x.flags.c_contiguous and x.shape == (3, 3072)
        assert y.dtype == np.int64 and y.tolist() == Y


def test_pixels_are_a_view_of_the_file_not_a_copy() -> None:
    raw = bytearray(py2_pickle(official()))
    x, _ = read_batch("batch", raw)
    assert np.shares_memory(x, np.frombuffer(raw, dtype=np.uint8)) and x.flags.writeable


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="real CIFAR-10 sample not present")
def test_real_batches_read_as_the_trusted_unpickler_reads_them() -> None:
    for path in sorted(SAMPLE.glob("*_batch*")):
        raw = path.read_bytes()
        trusted = pickle.loads(raw, encoding="bytes")  # our own copy of the official files
        x, y = read_batch(str(path), raw)
        np.testing.assert_array_equal(x, trusted[b"data"])
        assert y.tolist() == trusted[b"labels"]


# --- in process: what is refused, and how it is said --------------------------------------

U1 = u1_dtype()


def array_state(state: bytes) -> bytes:
    return RECONSTRUCT + NDARRAY + b"K\x00\x85" + py2str(b"b") + b"\x87R" + state + b"b"


def with_data(data: bytes, labels: bytes = label_list([1])) -> bytes:
    return batch_of(py2str(b"data") + data + py2str(b"labels") + labels)


SHAPE_1 = b"(K\x01M\x00\x0ct"
REFUSED = {
    "os.system": (PROTO2 + b"cposix\nsystem\n" + py2str(b"echo") + b"\x85R.",
                  "refused to unpickle the global posix.system, which a CIFAR-10 batch never"),
    "object dtype": (with_data(array_state(b"(K\x01" + SHAPE_1 + DTYPE + py2str(b"O8")
                                          + b"\x89\x88\x87R" + b"\x89" + py2str(b"A" * 8) + b"tb")),
                     "refused to call the global numpy.dtype(bytes b'O8', False, True)"),
    "big-endian dtype state": (with_data(array_state(
        b"(K\x01" + SHAPE_1 + DTYPE + py2str(b"u1") + b"\x89\x88\x87R(K\x03" + py2str(b">")
        + b"NNN" + binint(-1) + binint(-1) + b"K\x00tb\x89" + py2str(bytes(3072)) + b"t")),
        "refused to set the state of a dtype to (3, bytes b'>', None"),
    "Fortran order": (with_data(array_state(b"(K\x01" + SHAPE_1 + U1 + b"\x88"
                                            + py2str(bytes(3072)) + b"t")),
                      "refused to set the state of an array to (1, a tuple, a dtype, True"),
    "short pixel data": (with_data(array_state(b"(K\x01" + SHAPE_1 + U1 + b"\x89"
                                               + py2str(bytes(3071)) + b"t")),
                         "the array's data is 3071 bytes, expected 1 x 3072 bytes"),
    "3-d shape": (with_data(array_state(b"(K\x01(K\x01K\x03M\x00\x04t" + U1 + b"\x89"
                                        + py2str(bytes(3072)) + b"t")),
                  "the array's shape is a tuple, expected (N, 3072)"),
    "no images": (with_data(array_state(b"(K\x01(K\x00M\x00\x0ct" + U1 + b"\x89"
                                        + py2str(b"") + b"t")),
                  "an array of shape (0, 3072), expected (N, 3072)"),
    "frombuffer in F order": (with_data(b"\x8c\x13numpy._core.numeric\x8c\x0b_frombuffer\x93("
                                        + py2str(bytes(3072)) + U1 + SHAPE_1 + b"\x8c\x01FtR"),
                              "refused to call the global numpy.core.numeric._frombuffer"),
    "a global's name with a newline": (b"\x80\x04\x8c\x06numpy\n\x8c\x05dtype\x93.",
                                       "refused to unpickle the global 'numpy\\n.dtype'"),
    "POP": (PROTO2 + b"}N0.", "refused the pickle opcode POP, which a CIFAR-10 batch never"),
    "NEWOBJ": (PROTO2 + b"\x81.", "refused the pickle opcode NEWOBJ"),
    "out-of-band buffer": (b"\x80\x05\x97.", "refused the pickle opcode NEXT_BUFFER"),
    "protocol 0": (b"(dp0\n.", "truncated or corrupt (starts with byte 0x28, not a pickle of "
                                "protocol 2-5, at byte 0)"),
    "a list, not a dict": (PROTO2 + b"](K\x01e.", "the pickle holds a list, expected the batch"),
    "int key": (PROTO2 + b"}K\x01K\x02s.", "a dict key that is 1, expected a string"),
    "repeated key": (batch_of(py2str(b"labels") + label_list([1]) + py2str(b"labels")
                              + label_list([1])), "the dict key bytes b'labels' twice"),
    "same key as bytes and str": (batch_of(py2str(b"labels") + label_list([1]) + b"X\x06\x00\x00"
                                           b"\x00labels" + label_list([1])),
                                  "repeated key 'labels'"),
    "CIFAR-100 keys": (batch_of(py2str(b"fine_labels") + label_list([1])),
                       "unexpected key b'fine_labels' (a CIFAR-10 batch holds b'batch_label', "
                       "b'labels', b'data', b'filenames')"),
    "an array never filled": (with_data(RECONSTRUCT + NDARRAY + b"K\x00\x85" + py2str(b"b")
                                        + b"\x87R"), "b'data' is an array never filled"),
    "labels missing": (batch_of(py2str(b"data") + reconstructed(1, bytes(3072))),
                       "b'labels' is missing, expected a list of ints"),
    "labels a string": (with_data(reconstructed(1, bytes(3072)), py2str(b"1")),
                        "b'labels' is bytes b'1', expected a list of ints"),
    "too few filenames": (batch_of(py2str(b"data") + reconstructed(2, bytes(6144))
                                   + py2str(b"labels") + label_list([1, 2]) + py2str(b"filenames")
                                   + b"](" + py2str(b"a.png") + b"e"),
                          "1 file names for 2 images, expected one per image"),
    "a filename that is an int": (batch_of(py2str(b"data") + reconstructed(1, bytes(3072))
                                           + py2str(b"labels") + label_list([1])
                                           + py2str(b"filenames") + label_list([7])),
                                  "b'filenames'[0] is 7, expected a file name"),
    "batch_label a list": (batch_of(py2str(b"data") + reconstructed(1, bytes(3072))
                                    + py2str(b"labels") + label_list([1])
                                    + py2str(b"batch_label") + label_list([])),
                           "b'batch_label' is a list, expected a string"),
    "nested list": (PROTO2 + b"](](ee.", "a list item that is a list"),
    "tuples 3 deep": (PROTO2 + b"K\x00\x85\x85\x85.", "tuples nested more than 2 deep"),
    "a list in a tuple": (PROTO2 + b"]\x85.", "a tuple holding a list"),
    "shared list": (PROTO2 + b"]q\x00h\x00.", "a second reference (memo GET) to a list"),
    "memo GET never PUT": (PROTO2 + b"h\x05.", "a memo GET of index 5, never PUT"),
    "memo PUT out of order": (PROTO2 + b"Nq\x07.", "memo PUT to index 7 out of order"),
    "stack of 5000": (PROTO2 + b"](" + b"K\x00" * 5000 + b"e.",
                      "more than 4096 values on the pickle stack"),
    "MARKs 17 deep": (PROTO2 + b"(" * 17 + b".", "MARKs nested more than 16 deep"),
    "bytes after STOP": (valid_batch() + b"junk", "4 bytes after the end of the pickle"),
    "no STOP": (valid_batch()[:-1], "the file ends before the pickle's STOP"),
    "cut inside the pixels": (valid_batch()[:300], "the file ends inside an opcode's"),
    "GLOBAL without newline": (PROTO2 + b"cnumpy", "a GLOBAL name without its newline"),
    "wide long text": (PROTO2 + b"X" + struct.pack("<I", 8000) + "€".encode() * 2666 + b"xx.",
                       "a 8000-byte text with characters beyond U+00FF"),
    "not UTF-8": (PROTO2 + b"X\x02\x00\x00\x00\xff\xfe.", "a text that is not UTF-8"),
    "unclosed MARK": (PROTO2 + b"}(.", "a MARK still open at the pickle's STOP"),
    "empty": (b"", "the file ends before the pickle's STOP"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_refused_with_one_line_naming_file_and_byte(case: str) -> None:
    raw, expected = REFUSED[case]
    with pytest.raises(DataError) as info:
        read_batch("dir/data_batch_1", raw)
    message = str(info.value)
    assert message.startswith("dir/data_batch_1: ") and "\n" not in message
    assert expected in message


# --- in process: what a file can make us allocate -----------------------------------------


def peak_bytes(raw: bytes) -> tuple[int, bool]:
    """(tracemalloc's peak while reading ``raw``, already in memory; whether it was refused)."""
    tracemalloc.start()
    try:
        read_batch("batch", raw)
        refused = False
    except DataError:
        refused = True
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, refused


def many(item: bytes, count: int, batch: int = 1000) -> bytes:
    """A list of ``count`` copies of ``item``, appended ``batch`` at a time as picklers do."""
    group = b"(" + item * batch + b"e"
    return b"]" + group * (count // batch)


BUILDS_BIG = {  # each ~150 KB; what a plain unpickler would build from it, per byte
    "labels (8 bytes each from 2)": batch_of(py2str(b"labels") + many(b"K\x00", 75_000)),
    "big ints (32 + 8 bytes from 3)": batch_of(py2str(b"labels") + many(b"M\x00\x01", 50_000)),
    "distinct short names (34 + 8 bytes from 3)": batch_of(py2str(b"filenames")
                                                           + many(b"U\x01a", 50_000)),
    "memo entries (8 bytes from 1)": PROTO2 + b"N" + b"\x94" * 150_000 + b".",
    "memo GETs of a string (8 bytes from 2)": batch_of(py2str(b"filenames") + py2str(b"x" * 4000)
                                                       + b"q\x00" + many(b"h\x00", 75_000)),
}


@pytest.mark.parametrize("case", BUILDS_BIG)
def test_no_file_makes_us_allocate_more_than_4x_its_size(case: str) -> None:
    raw = BUILDS_BIG[case]
    peak, refused = peak_bytes(raw)
    assert refused and peak <= 4 * len(raw), (peak, len(raw))


def test_a_large_valid_batch_costs_little_beyond_its_file() -> None:
    n = 1000
    raw = pickle.dumps({b"data": np.zeros((n, 3072), np.uint8), b"labels": [1] * n,
                        b"filenames": [f"{i}.png".encode() for i in range(n)]}, protocol=2)
    assert len(read_batch("batch", raw)[1]) == n
    assert peak_bytes(raw) <= (2.1 * len(raw), False)  # protocol 2: the text, then its bytes
    raw = py2_pickle({b"data": np.zeros((n, 3072), np.uint8), b"labels": [1] * n})
    assert peak_bytes(raw) <= (0.1 * len(raw), False)  # the official form: a view, no copy

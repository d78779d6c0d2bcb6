"""Property-based faults for the CIFAR-10 batches: random, cut and mutated pickles and binary
batches, and random opcode programs. Each gives the valid arrays or a one-line DataError:
never another exception, never a large allocation (bounded to run in a few seconds)."""

from __future__ import annotations

import pickle
import pickletools  # noqa: F401  (imported by refusals' messages; kept out of the measurements)
import tracemalloc

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlcli.data import cifar_files
from dlcli.errors import DataError
from tests.cifar_fixtures import batch_dict, binary_batch, py2_pickle

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

X = np.arange(2 * 3072, dtype=np.uint32).astype(np.uint8).reshape(2, 3072)
Y = np.array([3, 9])
_DICT = batch_dict("data_batch_1", X, Y)
VALID = {
    "python 2": py2_pickle(_DICT),
    **{f"protocol {p}": pickle.dumps(_DICT, protocol=p) for p in (2, 3, 4, 5)},
    "str keys, protocol 4": pickle.dumps({k.decode(): v for k, v in _DICT.items()}, protocol=4),
}
BINARY = binary_batch(X, Y)


def outcome(decode: str, raw: bytes, measure: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
    """Decode ``raw``: valid arrays, or None after a one-line DataError; and a bounded peak."""
    fn = cifar_files._decode_pickle_batch if decode == "py" else cifar_files._decode_binary_batch
    if measure:
        tracemalloc.start()
    try:
        x, y = fn("fuzz/data_batch_1", raw)
    except DataError as err:
        message = str(err)
        assert message.startswith("fuzz/data_batch_1: ") and "\n" not in message, message
        return None
    finally:
        if measure:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert peak <= 4 * len(raw) + 128 * 1024, (peak, len(raw))
    assert x.dtype == np.uint8 and x.ndim == 2 and x.shape[1] == 3072
    assert x.flags.c_contiguous or decode == "bin"  # a view of the records; copied later
    assert y.dtype == np.int64 and y.shape == (len(x),) and ((y >= 0) & (y <= 9)).all()
    return x, y


def test_every_valid_form_reads_and_every_cut_is_refused() -> None:
    for name, raw in VALID.items():
        got = outcome("py", raw)
        assert got is not None, name
        np.testing.assert_array_equal(got[0], X)
        # every cut outside the pixels, and a sample of those inside them
        pixels = raw.find(X.tobytes()[:64])
        for cut in range(len(raw)):
            if not pixels + 64 < cut < pixels + 6144 - 64 or cut % 97 == 0:
                assert outcome("py", raw[:cut], measure=False) is None, (name, cut)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(raw: bytes) -> None:
    outcome("py", raw)
    outcome("py", b"\x80\x02" + raw)
    outcome("bin", raw)


def _structure(raw: bytes) -> list[int]:
    """The offsets of a pickle that are not pixel bytes (where a mutation means something)."""
    pixels = raw.find(X.tobytes()[:64])
    return [i for i in range(len(raw)) if not pixels <= i < pixels + X.size]


STRUCTURE = {name: _structure(raw) for name, raw in VALID.items()}


@FUZZ
@given(st.sampled_from(sorted(VALID)), st.integers(min_value=0), st.integers(0, 255))
def test_single_byte_mutations_of_valid_pickles(name: str, where: int, value: int) -> None:
    raw = bytearray(VALID[name])
    raw[STRUCTURE[name][where % len(STRUCTURE[name])]] = value
    outcome("py", bytes(raw))  # a label, a name or a pixel may change; nothing else


@FUZZ
@given(st.integers(min_value=0), st.integers(0, 255), st.integers(0, len(BINARY)))
def test_mutated_and_cut_binary_batches(where: int, value: int, cut: int) -> None:
    raw = bytearray(BINARY)
    raw[where % len(raw)] = value
    got = outcome("bin", bytes(raw))
    assert (got is None) == (where % len(raw) % 3073 == 0 and value > 9)  # a label byte
    assert (outcome("bin", BINARY[:cut]) is None) == (cut % 3073 != 0 or cut == 0)


_U1 = (b"cnumpy\ndtype\nX\x02\x00\x00\x00u1\x89\x88\x87R(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff"
       b"\xffJ\xff\xff\xff\xffK\x00tb")
OPCODES = [  # pieces of the official streams and of hostile ones, with plausible arguments
    b"(", b"}", b"]", b")", b"t", b"\x85", b"\x86", b"\x87", b"a", b"e", b"s", b"u", b"R", b"b",
    b"K\x05", b"K\x0b", b"M\x00\x0c", b"J\xff\xff\xff\xff", b"N", b"\x88", b"\x89", b"\x94",
    b"q\x00", b"q\x01", b"h\x00", b"h\x01", b"r\x00\x00\x00\x00", b"j\x01\x00\x00\x00",
    b"U\x04data", b"U\x06labels", b"U\x09filenames", b"U\x0bbatch_label", b"U\x01b",
    b"X\x02\x00\x00\x00u1", b"\x8c\x01C", b"C\x05a.png", b"T\x00\x0c\x00\x00" + bytes(3072),
    b"cnumpy.core.multiarray\n_reconstruct\n", b"cnumpy\nndarray\n", b"cnumpy\ndtype\n",
    b"c_codecs\nencode\n", b"c__builtin__\nbytes\n", b"cposix\nsystem\n", b"cbuiltins\neval\n",
    b"\x8c\x05numpy\x8c\x05dtype\x93", b"\x95\x10\x00\x00\x00\x00\x00\x00\x00", _U1,
    b"0", b"2", b"1", b"\x81", b"i", b"o", b"P", b"\x82\x01", b"\x97", b"\x98", b"\x80\x02",
    b"(K\x01M\x00\x0ct", b"K\x00\x85",
]


@FUZZ
@given(st.lists(st.sampled_from(OPCODES), max_size=30))
def test_random_opcode_programs(pieces: list[bytes]) -> None:
    outcome("py", b"\x80\x02" + b"".join(pieces) + b".")

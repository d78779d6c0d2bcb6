"""download_cifar10 against a local HTTP server on 127.0.0.1 only; never the real network."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dlcli.data.cifar_files import load_cifar10
from dlcli.data.download import ARCHIVE_NAME, download_cifar10
from dlcli.errors import DataError
from tests.cifar_fixtures import make_tiny_cifar, write_python_folder, write_tar


@dataclass
class Served:
    """What the local server sends; ``mode``: ok, no-length, truncated or missing."""

    payload: bytes
    mode: str = "ok"
    requests: list[str] = field(default_factory=list)


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment must not carry loopback requests off this machine."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("no_proxy", "*")


@pytest.fixture(scope="module")
def archive_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    root = tmp_path_factory.mktemp("src")
    folder = write_python_folder(root, make_tiny_cifar(n_per_batch=10, n_test=10))
    return write_tar(folder, root / ARCHIVE_NAME).read_bytes()


@pytest.fixture
def server(archive_bytes: bytes) -> Iterator[tuple[str, Served]]:
    served = Served(archive_bytes)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append(self.path)
            if served.mode == "missing":
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            if served.mode != "no-length":
                self.send_header("Content-Length", str(len(served.payload)))
            self.end_headers()
            body = served.payload[:1000] if served.mode == "truncated" else served.payload
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/{ARCHIVE_NAME}", served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != ARCHIVE_NAME)


def test_downloads_verifies_and_loads(tmp_path: Path, server: tuple[str, Served],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    url, served = server
    dest = tmp_path / "data" / "cifar"
    path = download_cifar10(dest, url=url, md5=md5(served.payload).upper())
    assert path == dest / ARCHIVE_NAME and path.read_bytes() == served.payload
    assert leftovers(dest) == []
    assert ARCHIVE_NAME in capsys.readouterr().err  # the progress bar went to stderr
    arrays = load_cifar10(dest, cache_dir=tmp_path / "cache")
    assert arrays.x_train.shape == (50, 3072) and arrays.x_test.shape == (10, 3072)


def test_unknown_size_still_downloads(tmp_path: Path, server: tuple[str, Served]) -> None:
    url, served = server
    served.mode = "no-length"
    path = download_cifar10(tmp_path, url=url, md5=md5(served.payload))
    assert path.read_bytes() == served.payload


def test_existing_good_file_is_kept_and_bad_one_replaced(tmp_path: Path,
                                                        server: tuple[str, Served]) -> None:
    url, served = server
    download_cifar10(tmp_path, url=url, md5=md5(served.payload), progress=False)
    download_cifar10(tmp_path, url=url, md5=md5(served.payload), progress=False)
    assert len(served.requests) == 1
    (tmp_path / ARCHIVE_NAME).write_bytes(b"half a file")
    download_cifar10(tmp_path, url=url, md5=md5(served.payload), progress=False)
    assert len(served.requests) == 2
    assert (tmp_path / ARCHIVE_NAME).read_bytes() == served.payload


def test_checksum_mismatch_keeps_nothing(tmp_path: Path, server: tuple[str, Served]) -> None:
    url, served = server
    wrong = "0" * 32
    with pytest.raises(DataError) as info:
        download_cifar10(tmp_path, url=url, md5=wrong, progress=False)
    message = str(info.value)
    assert f"{tmp_path / ARCHIVE_NAME}: MD5 mismatch, expected {wrong}, got " \
           f"{md5(served.payload)}" in message
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that was free a moment ago and is now closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{ARCHIVE_NAME}"
    with pytest.raises(DataError) as info:
        download_cifar10(tmp_path, url=url, progress=False, timeout=5)
    message = str(info.value)
    assert message.startswith(f"cannot reach {url}: ") and "\n" not in message
    assert "refused" in message.lower() and str(tmp_path) in message
    assert list(tmp_path.iterdir()) == []


def test_silent_server_times_out(tmp_path: Path) -> None:
    with socket.socket() as s:  # accepts the connection (backlog) but never answers
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        url = f"http://127.0.0.1:{s.getsockname()[1]}/{ARCHIVE_NAME}"
        with pytest.raises(DataError, match=r"^cannot reach .*timed out"):
            download_cifar10(tmp_path, url=url, progress=False, timeout=0.3)
    assert list(tmp_path.iterdir()) == []


def test_http_error_and_truncated_body(tmp_path: Path, server: tuple[str, Served]) -> None:
    url, served = server
    served.mode = "missing"
    with pytest.raises(DataError, match=r"^cannot download .*: HTTP 404 Not Found$"):
        download_cifar10(tmp_path, url=url, progress=False)
    served.mode = "truncated"
    with pytest.raises(DataError, match=rf"ended after 1000 of {len(served.payload)} bytes"):
        download_cifar10(tmp_path, url=url, md5=md5(served.payload), progress=False)
    assert list(tmp_path.iterdir()) == []



def test_a_url_that_is_not_one_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from dlcli.cli import app

    res = CliRunner().invoke(app, ["data", "download", "cifar10", "--url", "notaurl", "--dir",
                                   str(tmp_path)])
    assert res.exit_code == 2 and "--url 'notaurl': expected an http" in res.output
    assert "Traceback" not in res.output and "internal error" not in res.output


def test_a_wrong_file_in_place_is_named_when_the_network_fails(tmp_path):
    from dlcli.data.download import download_cifar10
    from dlcli.errors import DataError

    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"not the archive")
    with pytest.raises(DataError, match="already in .* does not match the expected MD5"):
        download_cifar10(tmp_path, url="http://127.0.0.1:9/x", progress=False, timeout=2)

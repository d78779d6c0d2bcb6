"""The shipped configs/cifar10-*.yaml at full size, on a stand-in for the real download.

Writes 50,000 + 10,000 synthetic images (``dlcli.data.cifar.synthetic_images``) as the official
python-pickle folder, then trains every cifar10-*.yaml config (not the sweep files) on it
exactly as shipped (only ``data.path`` and the cache folder are set) and prints test accuracy,
wall time and peak memory.
It measures the pipeline at the real size — loading, caching, 49,000-row training — not the
accuracy on real CIFAR-10, which needs the real files:
``dlcli train configs/cifar10-*.yaml --set data.path=...``.

    python -m benchmarks.cifar_configs [--configs sgd momentum ...]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from dlcli import api
from dlcli.config import load_config
from dlcli.data.cifar import synthetic_images
from dlcli.sweeps.files import is_sweep_file
from tests.cifar_fixtures import TinyCifar, write_python_folder

ROOT = Path(__file__).resolve().parents[1]


def write_full_set(dest: Path, per_batch: int = 10_000) -> Path:
    """``dest/cifar-10-batches-py``: 5 training batches and a test batch of ``per_batch``
    generated images each, in the official python-pickle format."""
    rng = np.random.default_rng(123)
    train = [synthetic_images(per_batch, rng) for _ in range(5)]
    return write_python_folder(dest, TinyCifar(train, synthetic_images(per_batch, rng)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", nargs="*", help="names after cifar10- (default: all)")
    args = ap.parse_args()
    paths = [p for p in sorted((ROOT / "configs").glob("cifar10-*.yaml"))
             if not is_sweep_file(p)]  # the searches and the grid are `dlcli compare`'s
    if args.configs:
        paths = [p for p in paths if p.stem.removeprefix("cifar10-") in args.configs]
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_full_set(Path(tmp) / "cifar")
        print("| config | model | strategy | iterations | test accuracy | wall time |")
        print("|---|---|---|---|---|---|")
        for path in paths:
            cfg = load_config(path, [f"data.path={folder}", f"data.cache_dir={tmp}/cache"])
            start = time.perf_counter()
            result = api.train(cfg, out=Path(tmp) / "runs")
            acc = result["metrics"].get("test_accuracy")
            print(f"| {path.name} | {cfg.model.name} | {cfg.strategy.name} | "
                  f"{result['iterations']} | {acc:.3f} | {time.perf_counter() - start:.1f} s |",
                  flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\npeak memory of the whole benchmark: {peak:.1f} GiB")


if __name__ == "__main__":
    main()

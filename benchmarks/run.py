"""Run every benchmark in this folder (``make bench``): ``python -m benchmarks.run``.

Each prints its own markdown table; their measured results live in docs/benchmarks.md.
Set OPENBLAS_NUM_THREADS (e.g. 2) to compare runs on equal terms.
"""

from __future__ import annotations

import sys

from benchmarks import cifar_configs, numerical_gradient

BENCHMARKS = {
    "numerical_gradient": numerical_gradient.main,
    "cifar_configs": cifar_configs.main,
}


def main() -> None:
    for name, run in BENCHMARKS.items():
        print(f"## {name}", flush=True)
        sys.argv = [f"benchmarks.{name}"]  # each parses its own (default) options
        run()


if __name__ == "__main__":
    main()

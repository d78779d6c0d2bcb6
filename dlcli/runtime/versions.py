"""What ``dlcli --version`` prints: dlcli, Python, numpy and the BLAS numpy uses."""

from __future__ import annotations

import platform


def describe() -> str:
    import numpy as np

    from dlcli import __version__
    from dlcli.runtime.blas import blas_info

    blas = blas_info()
    kernel = f" ({blas['architecture']})" if blas.get("architecture") else ""
    return (f"dlcli {__version__}\npython {platform.python_version()}\nnumpy {np.__version__}\n"
            f"blas {blas.get('library') or 'unknown'} {blas.get('version') or ''}{kernel}"
            .rstrip())

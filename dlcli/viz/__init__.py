"""The pictures of a run: loss.png (:mod:`~dlcli.viz.plots`), weights.png
(:mod:`~dlcli.viz.weights`), a landscape's trajectory (:mod:`~dlcli.viz.trajectory`)."""

from __future__ import annotations

import threading

_prefetching: threading.Thread | None = None


def prefetch() -> None:
    """Import matplotlib's Figure and Agg canvas on a background thread, once per process.

    A run draws loss.png and weights.png at its end, and importing matplotlib takes ~0.6 s
    (a quarter of the quickstart's wall time on 2 cores). Started before the data loads, the
    import overlaps the data and the training (numpy releases the GIL in its large operations);
    the plots then find it done, or wait for it. Nothing here can fail a run: an import error is
    left to the plot, which swallows its own."""
    global _prefetching
    if _prefetching is None:
        _prefetching = threading.Thread(target=_import, name="dlcli-prefetch-matplotlib",
                                        daemon=True)
        _prefetching.start()


def _import() -> None:
    try:
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure  # noqa: F401
        import matplotlib.ticker  # noqa: F401
    except Exception:  # noqa: S110 - the plot reports nothing either: it is only a view
        pass

"""What a run computes on: threads and products (:mod:`~dlcli.runtime.linalg`), the BLAS
(:mod:`~dlcli.runtime.blas`), signals (:mod:`~dlcli.runtime.signals`), versions."""

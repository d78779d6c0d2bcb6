"""The tensor-operation lessons: the Dense layer's operations as naive loops beside numpy
(:mod:`~dlcli.ops.operations`), their check, the worked examples (:mod:`~dlcli.ops.examples`)
and the timings (:mod:`~dlcli.ops.bench`)."""

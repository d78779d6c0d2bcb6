"""The pictures of a run: loss.png (:mod:`~dlcli.viz.plots`), weights.png
(:mod:`~dlcli.viz.weights`), a landscape's trajectory (:mod:`~dlcli.viz.trajectory`)."""

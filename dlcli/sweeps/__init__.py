"""Comparisons: sweep files and searches into a frozen plan (:mod:`~dlcli.sweeps.files`,
:mod:`~dlcli.sweeps.plan`, :mod:`~dlcli.sweeps.search`), running a plan
(:mod:`~dlcli.sweeps.compare`, :mod:`~dlcli.sweeps.executors`, :mod:`~dlcli.sweeps.search_run`,
:mod:`~dlcli.sweeps.study`), and its summaries and plots (:mod:`~dlcli.sweeps.summary`,
:mod:`~dlcli.sweeps.plots`)."""

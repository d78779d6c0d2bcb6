"""Reproducible benchmarks. `make bench` = `python -m benchmarks.run`: docs/benchmarks.md.

run.py          the command: --quick, --only NAME, --out FILE, --list; the row registry
harness.py      sizes (FULL, QUICK), Row and Target, interleaved repeats, timed blocks, and
                how dlcli's own loop (dlcli.train.train) is driven under its thread setting
datasets.py     the CIFAR-shaped data and the official-format folder, cached between runs
machine.py      CPU, RAM, versions, BLAS pools; np.matmul GFLOP/s and copy GB/s
peers.py        PyTorch CPU (the bench extra) and scikit-learn, timed like dlcli
training.py     rows: softmax / svm / MLP steps vs PyTorch, sklearn, np.matmul alone
search.py       rows: the machine's limits; random search vs the lecture's loop; local search
numerical_gradient.py  rows: the full numerical gradient vs the per-coordinate loop (and, run
                alone, its accuracy against the analytic gradient)
processes.py    rows: peak RSS of full-CIFAR runs, dlcli --help, the quickstart, checkpoints
report.py       the markdown; notes.md (hand-written) is copied into it
cifar_configs.py  run alone: every configs/cifar10-*.yaml on a 60,000-image stand-in
profile_step.py   run alone: where one training step's time goes (the gap notes)
notes.md, by_hand.md  hand-written, copied into the report: readings, gap causes, by-hand results
"""

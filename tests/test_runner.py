"""runner: the variants of a comparison load their shared data once per process, read-only."""

import numpy as np
import pytest

from dlcli import runner
from dlcli.config import validate
from tests.conftest import small_raw


def test_the_same_data_section_and_seed_load_once_and_cannot_be_changed():
    a, _ = runner.build(validate(small_raw(lr=1e-6)))
    b, _ = runner.build(validate(small_raw(lr=3e-6)))  # another lr: the same data
    assert a is b
    with pytest.raises(ValueError, match="read-only"):
        a.X_train[0, 0] = 1.0
    c, _ = runner.build(validate({**small_raw(), "seed": 1}))  # another seed: other data
    assert c is not a and not np.array_equal(c.X_train, a.X_train)

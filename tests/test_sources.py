"""Every data source through the config: real-format files, splits, preprocessing, errors."""

from pathlib import Path

import numpy as np
import pytest

from dlcli.config import validate
from dlcli.data.sources import load_dataset
from dlcli.errors import ConfigError, DataError
from tests.cifar_fixtures import make_tiny_cifar, write_all_forms
from tests.conftest import write_kc_csv

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "data"


def _cifar_cfg(path: Path, **data):
    sizes = {"num_train": 40, "num_val": 10, "num_test": 8}
    return validate({"data": {"source": "cifar10", "path": str(path), **sizes, **data}}).data


def test_cifar10_split_is_cs231n_style_and_preprocessed(tmp_path):
    raw = make_tiny_cifar(n_per_batch=12, n_test=10)  # 60 training images
    forms = write_all_forms(tmp_path, raw)
    ds = load_dataset(_cifar_cfg(forms["python-tar"], cache_dir=str(tmp_path / "c")), 0)
    assert ds.X_train.shape == (40, 3073) and ds.X_val.shape == (10, 3073)
    assert ds.X_test.shape == (8, 3073) and ds.X_train.dtype == np.float32
    # train = the first 40 training images, val = the next 10, test = the first 8 test images
    assert np.array_equal(ds.y_train, raw.y_train[:40])
    assert np.array_equal(ds.y_val, raw.y_train[40:50])
    assert np.array_equal(ds.y_test, raw.y_test[:8])
    mean = raw.x_train[:40].mean(axis=0)
    assert np.allclose(ds.X_val[:, :3072], raw.x_train[40:50] - mean, atol=1e-4)
    assert np.all(ds.X_train[:, 3072] == 1)


def test_cifar10_every_form_gives_the_same_dataset(tmp_path):
    forms = write_all_forms(tmp_path, make_tiny_cifar(n_per_batch=12, n_test=10))
    first, *rest = (load_dataset(_cifar_cfg(p, cache_dir=str(tmp_path / "c")), 0)
                    for p in forms.values())
    for ds in rest:
        assert np.array_equal(ds.X_train, first.X_train) and np.array_equal(ds.y_test,
                                                                             first.y_test)


def test_cifar10_asking_for_more_images_than_there_are(tmp_path):
    forms = write_all_forms(tmp_path, make_tiny_cifar(n_per_batch=12, n_test=10))
    with pytest.raises(DataError, match="num_train \\+ data.num_val = 70"):
        load_dataset(_cifar_cfg(forms["python-folder"], num_train=60), 0)
    with pytest.raises(DataError, match="num_test = 11"):
        load_dataset(_cifar_cfg(forms["python-folder"], num_test=11), 0)


def test_normalize_gives_unit_scale_pixels():
    raw = {"source": "cifar10-synthetic", "num_train": 300, "num_val": 10, "num_test": 10}
    plain = load_dataset(validate({"data": raw}).data, 0)
    scaled = load_dataset(validate({"data": {**raw, "normalize": True}}).data, 0)
    assert scaled.X_train[:, :3072].std() == pytest.approx(1.0, rel=1e-3)
    ratio = plain.X_train[:, :3072].std() / scaled.X_train[:, :3072].std()
    assert ratio == pytest.approx(scaled.info["pixel_scale"], rel=1e-3)


def test_path_required_and_source_specific_keys():
    with pytest.raises(ConfigError, match="data.path is required for data.source cifar10"):
        validate({"data": {"source": "cifar10"}})
    with pytest.raises(ConfigError, match="data.log_target applies to data.source houses or "
                                          "houses-synthetic"):
        validate({"data": {"source": "cifar10-synthetic", "log_target": True}})
    with pytest.raises(ConfigError, match="whole count"):
        validate({"data": {"source": "cifar10-synthetic", "num_train": 0.5}})
    with pytest.raises(ConfigError, match="is a classifier"):
        validate({"data": {"source": "houses-synthetic"}, "model": {"name": "softmax"}})
    with pytest.raises(ConfigError, match="is a regressor"):
        validate({"model": {"name": "linear-regression"}})


def test_source_default_split_sizes():
    assert validate({"data": {"source": "cifar10", "path": "x"}}).data.num_train == 49000
    houses = validate({"data": {"source": "houses", "path": "x"},
                       "model": {"name": "linear-regression"}}).data
    assert (houses.num_train, houses.num_val, houses.num_test) == (0.7, 0.15, 0.15)


def _houses_cfg(path: Path | None, **data):
    source = {"source": "houses", "path": str(path)} if path else {"source": "houses-synthetic"}
    return validate({"data": {**source, **data}, "model": {"name": "linear-regression"}}).data


def test_houses_csv_through_the_config(tmp_path):
    csv = write_kc_csv(tmp_path / "kc.csv", 100)
    ds = load_dataset(_houses_cfg(csv, log_target=True, zipcode="drop"), seed=0)
    assert ds.task == "regression" and ds.X_train.shape[0] == 70
    assert ds.feature_names and ds.feature_names[-1] == "bias"
    assert not any(n.startswith("zipcode") for n in ds.feature_names)
    again = load_dataset(_houses_cfg(csv, log_target=True, zipcode="drop"), seed=0)
    other = load_dataset(_houses_cfg(csv, log_target=True, zipcode="drop"), seed=1)
    assert np.array_equal(ds.y_test, again.y_test) and not np.array_equal(ds.y_test, other.y_test)


def test_houses_bad_value_is_a_data_error(tmp_path):
    csv = write_kc_csv(tmp_path / "kc.csv", 30)
    lines = csv.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[5].split(",")
    cells[header.index("sqft_living")] = "abc"
    lines[5] = ",".join(cells)
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="column 'sqft_living'"):
        load_dataset(_houses_cfg(csv), 0)
    ds = load_dataset(_houses_cfg(csv, drop_invalid=True), 0)
    assert ds.info["n_dropped"] == 1


def test_houses_synthetic_counts_and_fractions():
    ds = load_dataset(_houses_cfg(None, num_train=300, num_val=50, num_test=50), 0)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (300, 50, 50)
    ds = load_dataset(_houses_cfg(None, num_train=0.5, num_val=0.25, num_test=0.25), 0)
    assert len(ds.y_train) == 5000


@pytest.mark.skipif(not (SAMPLE / "cifar-10-sample").exists(), reason="shared sample absent")
def test_real_cifar_sample_folder_and_archive_agree(tmp_path):
    folder = SAMPLE / "cifar-10-sample" / "cifar-10-batches-py"
    archive = SAMPLE / "cifar-10-sample" / "cifar-10-python.tar.gz"
    sizes = {"num_train": 900, "num_val": 100, "num_test": 200, "cache_dir": str(tmp_path)}
    a = load_dataset(_cifar_cfg(folder, **sizes), 0)
    b = load_dataset(_cifar_cfg(archive, **sizes), 0)
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.y_test, b.y_test)


@pytest.mark.skipif(not (SAMPLE / "kc_house_sample.csv").exists(), reason="shared sample absent")
def test_real_house_sample_loads():
    ds = load_dataset(_houses_cfg(SAMPLE / "kc_house_sample.csv", log_target=True), 0)
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 2000

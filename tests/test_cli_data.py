import json

from typer.testing import CliRunner

from dlcli.cli import app
from tests.conftest import small_raw

runner = CliRunner()


def test_data_info_shows_shapes_balance_and_image_views(write_config):
    cfg = write_config(small_raw())
    res = runner.invoke(app, ["data", "info", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "(200, 3073)" in res.output and "airplane" in res.output
    assert "(3, 32, 32)" in res.output and "(32, 32, 3)" in res.output


def test_data_info_json_for_the_house_table(write_config):
    raw = small_raw()
    raw["data"] = {"source": "houses-synthetic", "num_train": 100, "num_val": 20, "num_test": 20}
    raw["model"] = {"name": "linear-regression"}
    res = runner.invoke(app, ["data", "info", str(write_config(raw)), "--json"])
    assert res.exit_code == 0, res.output
    desc = json.loads(res.stdout)
    assert desc["splits"]["train"]["shape"][0] == 100
    assert "sqft_living" in desc["feature_names"] and desc["target"]["name"] == "price"


def test_data_info_missing_file_is_exit_2(write_config, tmp_path):
    raw = small_raw()
    raw["data"] = {"source": "cifar10", "path": str(tmp_path / "nowhere")}
    res = runner.invoke(app, ["data", "info", str(write_config(raw))])
    assert res.exit_code == 2 and "no such file" in res.output and "Traceback" not in res.output


def test_data_download_unknown_name_and_unreachable(tmp_path):
    res = runner.invoke(app, ["data", "download", "mnist", "--dir", str(tmp_path)])
    assert res.exit_code == 2 and "expected: cifar10" in res.output
    res = runner.invoke(app, ["data", "download", "cifar10", "--dir", str(tmp_path),
                              "--url", "http://127.0.0.1:9/cifar-10-python.tar.gz"])
    assert res.exit_code == 2 and "cannot reach" in res.output

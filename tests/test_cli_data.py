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


def test_dropped_rows_and_unused_columns_are_reported_everywhere(write_config, tmp_path):
    from tests.conftest import write_kc_csv

    path = write_kc_csv(tmp_path / "kc.csv", 120)
    lines = path.read_text().splitlines()
    lines[0] += ",Unnamed: 0"
    lines[1:] = [f"{line},{i}" for i, line in enumerate(lines[1:])]
    fields = lines[3].split(",")
    fields[3] = "n/a"  # bedrooms of the third row
    lines[3] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    raw = {"name": "h", "data": {"source": "houses", "path": str(path), "drop_invalid": True},
           "model": {"name": "linear-regression"}, "strategy": {"name": "gd", "iterations": 5,
                                                                "lr": 0.01}}
    cfg = write_config(raw)
    info = runner.invoke(app, ["data", "info", str(cfg)])
    assert info.exit_code == 0, info.output
    assert "1 row dropped" in info.output and "Unnamed: 0" in info.output
    res = runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "runs"), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout.splitlines()[0])
    assert result["rows_dropped"] == 1 and "1 invalid row dropped" in res.output

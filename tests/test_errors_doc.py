"""docs/errors.md stays true: every error class with its exit code, every exit code of the
CLI, and the catalogue of messages as the source raises them today."""

import re
from pathlib import Path

import dlcli.cli.common as common
import dlcli.errors as errors
from tests.errors_catalog import BEGIN, DOC, END, catalogue

ROOT = Path(__file__).resolve().parents[1]


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def test_the_catalogue_is_the_one_the_source_raises():
    doc = _doc()
    current = doc[doc.index(BEGIN):doc.index(END) + len(END)]
    assert current == catalogue(), "run: python -m tests.errors_catalog --write"


def test_every_error_class_is_documented_with_its_exit_code():
    doc = _doc()
    classes = [c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, errors.DlcliError)
               and c is not errors.DlcliError]
    assert classes
    for cls in classes:
        assert re.search(rf"\*\*{cls.__name__}\*\* \(exit {cls.exit_code}\)", doc), cls


def test_every_exit_code_is_in_the_doc_and_the_readme():
    codes = {v for k, v in vars(common).items() if k.startswith("EXIT_")}
    assert codes == {0, 1, 2, 3, 130, 143}
    doc_codes = {int(c) for c in re.findall(r"^\| (\d+) \|", _doc(), flags=re.M)}
    assert codes <= doc_codes
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code in codes:
        assert re.search(rf"\b{code}\b", readme.split("Exit codes", 1)[1][:600]), code

"""The catalogue of every error message dlcli can raise, read from its source, for
docs/errors.md (which must hold it: tests/test_errors_doc.py).

    python -m tests.errors_catalog            # print the catalogue
    python -m tests.errors_catalog --write    # put it into docs/errors.md between its markers

A message is the first argument of ``raise XError(...)`` for the user-facing error classes of
dlcli.errors (and their subclasses), of the pickle reader's ``Refused`` (reported as a
DataError naming the file and the byte), and of ``ValueError`` in config.py (its validators'
messages become ConfigErrors). An f-string's fields are shown by their expression, ``{where}``
(long ones as ``{...}``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "errors.md"
BEGIN, END = "<!-- catalogue:begin -->", "<!-- catalogue:end -->"
# class -> (what it is, the exit code)
CLASSES = {
    "ConfigError": ("ConfigError", 2), "UsageError": ("UsageError", 2),
    "DataError": ("DataError", 2), "ShapeError": ("UsageError", 2),
    "EnvironmentFailure": ("EnvironmentFailure", 3), "TrackingError": ("EnvironmentFailure", 3),
    "RunFailed": ("RunFailed", 1), "Refused": ("DataError", 2),
}
VALUE_ERROR_MODULES = ("dlcli/config.py",)


def _text(node: ast.expr) -> str | None:
    """A message's text with its fields as {...}, or None when it is not a literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else _field(v)
                       for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.IfExp):
        a, b = _text(node.body), _text(node.orelse)
        return None if a is None or b is None else f"{a} | {b}"
    return None


def _field(node: ast.expr) -> str:
    """An f-string field as ``{name}``: what the message puts there (a file, a key, a value)."""
    inner = node.value if isinstance(node, ast.FormattedValue) else node
    text = ast.unparse(inner)
    return "{" + (text if len(text) <= 30 else "...") + "}"


def messages() -> list[tuple[str, str, int, str]]:
    """(module, class, exit code, message) for every raise site, in file and line order."""
    found = []
    for path in sorted((ROOT / "dlcli").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            name = func.id if isinstance(func, ast.Name) else None
            if name == "ValueError" and rel in VALUE_ERROR_MODULES:
                kind, code = "ConfigError", 2
            elif name in CLASSES:
                kind, code = CLASSES[name]
            else:
                continue
            text = _text(node.exc.args[0]) if node.exc.args else None
            if text:
                found.append((node.lineno, rel, kind, code, " ".join(text.split())))
    found.sort(key=lambda f: (f[1], f[0]))
    return [(rel, kind, code, text) for _, rel, kind, code, text in found]


def catalogue() -> str:
    lines = [BEGIN, ""]
    module = None
    for rel, kind, code, text in messages():
        if rel != module:
            module = rel
            lines += ["", f"### `{rel}`", "", "| exit | class | message |", "|---|---|---|"]
        lines.append(f"| {code} | {kind} | {text.replace('|', '/')} |")
    return "\n".join([*lines, "", END])


def write() -> None:
    doc = DOC.read_text(encoding="utf-8")
    head, _, rest = doc.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(head + catalogue() + tail, encoding="utf-8")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write()
    else:
        print(catalogue())

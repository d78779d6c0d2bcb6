"""``dlcli data``: look at the configured data as tensors, and fetch CIFAR-10."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dlcli.cli.common import ConfigArg, SetOpt, err_console, guarded, load_configs, out_console

data_app = typer.Typer(help="Inspect data sets as tensors; download CIFAR-10.",
                       no_args_is_help=True)


@data_app.command("info")
def info(config: ConfigArg, set_: SetOpt = None,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Per split: tensor shape, dtype, memory; labels or target; features; image views."""
    from dlcli import api

    (cfg,) = load_configs([config], set_)
    desc = guarded(lambda: api.data_info(cfg))
    if as_json:
        print(json.dumps(desc))
        return
    _show(desc, out_console())


def _show(desc: dict[str, Any], console: Console) -> None:
    table = Table(title=f"{desc['source']} ({desc['task']})")
    for col in ("split", "X shape", "dtype", "y shape", "memory"):
        table.add_column(col, justify="right" if col == "memory" else "left")
    for split, s in desc["splits"].items():
        table.add_row(split, str(tuple(s["shape"])), s["dtype"],
                      f"{tuple(s['y_shape'])} {s['y_dtype']}",
                      f"{s['bytes'] / 2**20:.1f} MiB")
    console.print(table)
    if "class_counts" in desc:
        counts = Table(title="class balance")
        counts.add_column("class")
        for split in desc["class_counts"]:
            counts.add_column(split, justify="right")
        for k, name in enumerate(desc["classes"]):
            counts.add_row(f"{k} {name}", *(str(c[k]) for c in desc["class_counts"].values()))
        console.print(counts)
    if "target" in desc:
        t = desc["target"]
        price = t.get("price", {})
        console.print(f"target: {t['name']}, standardized with the training mean/std; price "
                      + ", ".join(f"{k} {v:,.0f}" for k, v in price.items()), soft_wrap=True)
        names = desc.get("feature_names") or []
        console.print(f"{len(names)} features: {', '.join(names)}", soft_wrap=True)
        if desc.get("ignored_columns"):
            console.print(f"not used (name them in data.features to use them): "
                          f"{', '.join(desc['ignored_columns'])}", soft_wrap=True)
        if desc.get("rows_dropped"):
            n = desc["rows_dropped"]
            console.print(f"{n:,} row{'s' if n != 1 else ''} dropped for a missing or invalid "
                          f"value (data.drop_invalid)", soft_wrap=True)
    if "landscape" in desc:
        land = desc["landscape"]
        console.print(f"landscape {land['function']}: the parameters are a 2-vector starting at "
                      f"{land['start']}; gradient noise sigma {land['gradient_noise']}",
                      highlight=False)
    if "image_views" in desc:
        v = desc["image_views"]
        console.print(
            f"one image row: {tuple(v['row'])} = 3072 pixel values + the bias column "
            f"(index {v['bias_column']})\n"
            f"  row[:3072].reshape(3, 32, 32)       -> {tuple(v['channels_first'])}  "
            f"channels first: 1024 red, 1024 green, 1024 blue\n"
            f"  .transpose(1, 2, 0)                 -> {tuple(v['channels_last'])}  "
            f"channels last (height, width, channels)\n"
            f"  the whole training split as images  -> {tuple(v['batch_channels_last'])}\n"
            f"  pixel (0, 0) of image 0, mean-subtracted RGB: {v['pixel_0_0_rgb']}",
            highlight=False, soft_wrap=True)


@data_app.command("download")
def download(
    name: Annotated[str, typer.Argument(help="The data set: cifar10.")],
    directory: Annotated[Path, typer.Option("--dir", help="Where to put it.")] = Path("data"),
    url: Annotated[str | None, typer.Option(help="Another mirror of the same archive.")] = None,
) -> None:
    """Fetch the official CIFAR-10 python archive, check its MD5, keep it in --dir."""
    from dlcli.data.download import OFFICIAL_URL, download_cifar10
    from dlcli.errors import UsageError

    def run() -> Path:
        if name != "cifar10":
            raise UsageError(f"unknown data set {name!r}; expected: cifar10")
        return download_cifar10(directory, url=url or OFFICIAL_URL)

    path = guarded(run)
    err_console.print(f"saved {path}; train on it with --set data.path={path}", highlight=False,
                      soft_wrap=True)

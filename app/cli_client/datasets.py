"""`trainforge datasets`: upload, list, show and delete datasets."""

from __future__ import annotations

import argparse
from typing import Any

from app.cli_client.common import _json_flag, _on, _print_json, _shape, _table, _when
from app.client import Client


def register(commands: Any) -> None:
    """Add `datasets` to the `trainforge` subcommands."""
    datasets = commands.add_parser("datasets", help="upload and list datasets (API client)"
                                   ).add_subparsers(dest="datasets_command", required=True)
    upload = datasets.add_parser("upload", help="upload a .json, .csv, .npy or .npz file")
    upload.add_argument("file", help=".json ({inputs, targets}), .csv (with --target-column), "
                        ".npz (arrays inputs, targets) or .npy (inputs; --targets for targets)")
    upload.add_argument("--name", help="the dataset's name (default: the file's)")
    upload.add_argument("--target-column", metavar="C", help="CSV: the column of targets")
    upload.add_argument("--targets", metavar="FILE", help=".npy: the targets file")
    _json_flag(upload)
    _on(upload, _datasets_upload)
    listing = datasets.add_parser("list", help="list the team's datasets")
    _json_flag(listing)
    _on(listing, _datasets_list)
    show = datasets.add_parser("show", help="show a dataset")
    show.add_argument("id")
    _json_flag(show)
    _on(show, _datasets_show)
    delete = datasets.add_parser("delete", help="delete a dataset")
    delete.add_argument("id")
    _on(delete, _datasets_delete)


def _dataset_line(d: Any) -> str:
    classes = f", {d.num_classes} classes" if d.num_classes is not None else ""
    return (f"{d.id}  {d.name!r}: {d.rows} rows, input {_shape(d.input_shape)}, target "
            f"{_shape(d.target_shape)} {d.target_dtype}{classes}")


def _datasets_upload(args: argparse.Namespace, client: Client) -> int:
    dataset = client.upload_dataset(args.file, name=args.name, target_column=args.target_column,
                                    targets_path=args.targets)
    if args.json:
        _print_json(dataset)
    else:
        print(f"uploaded {_dataset_line(dataset)}")
    return 0


def _datasets_list(args: argparse.Namespace, client: Client) -> int:
    items = list(client.iter_datasets())
    if args.json:
        _print_json(items)
        return 0
    _table(["ID", "NAME", "FORMAT", "ROWS", "INPUT", "TARGET", "CLASSES", "CREATED"],
           [[d.id, d.name, d.format, d.rows, _shape(d.input_shape),
             f"{_shape(d.target_shape)} {d.target_dtype}", d.num_classes, _when(d.created_at)]
            for d in items])
    return 0


def _datasets_show(args: argparse.Namespace, client: Client) -> int:
    dataset = client.get_dataset(args.id)
    if args.json:
        _print_json(dataset)
    else:
        print(_dataset_line(dataset))
        print(f"format {dataset.format}, {dataset.size_bytes} bytes, sha256 {dataset.sha256}, "
              f"created {_when(dataset.created_at)}")
    return 0


def _datasets_delete(args: argparse.Namespace, client: Client) -> int:
    client.delete_dataset(args.id)
    print(f"deleted dataset {args.id}")
    return 0


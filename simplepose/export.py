"""Export a checkpoint for deployment: ``python -m simplepose.export --params CKPT --out DIR``.

Writes into DIR:

- ``NAME-symbol.json`` and ``NAME-0000.params``: the hybridized MXNet graph, loadable with
  ``gluon.SymbolBlock.imports(symbol, ["data"], params)``;
- ``NAME.onnx`` through ``mxnet.onnx`` when the ``onnx`` package is installed (dynamic batch size);
- ``deploy.json`` (written last): input size, mean/std, stride, sigma, codec and keypoint
  metadata, i.e. everything needed to crop, run and decode (see ``simplepose.deploy``).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import mxnet as mx
import numpy as np

from .checkpoint import load_manifest
from .io import atomic_write_text, writing
from .cli import check_output_dir, run_main, setup_logging
from .deploy import DEPLOY_FILE, FORMAT
from .errors import SimplePoseError
from .inference import checkpoint_description, load_checkpoint_net

log = logging.getLogger(__name__)


def _export_onnx(symbol: Path, params: Path, input_size: list[int], out: Path) -> None:
    """ONNX with a dynamic batch axis; weights are initializers only (not graph inputs), so ONNX
    Runtime can fold them as constants."""
    import onnx
    from mxnet import onnx as mx_onnx
    h, w = input_size
    mx_onnx.export_model(str(symbol), str(params), [(1, 3, h, w)], [np.float32], str(out),
                         dynamic=True, dynamic_input_shapes=[(None, 3, h, w)])
    model = onnx.load(str(out))
    weights = {init.name for init in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(graph_inputs)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def export_checkpoint(params: str | os.PathLike, out_dir: str | os.PathLike, name: str | None = None,
                      with_onnx: bool | None = None) -> dict[str, Any]:
    """Export checkpoint ``params`` (its .json, .params or prefix, or a run directory's best) into ``out_dir``.

    Args:
        name: file name stem (default: the model name).
        with_onnx: None exports ONNX when ``onnx`` is importable; True requires it; False skips it.
    Returns:
        the description written to ``deploy.json`` (file entries relative to ``out_dir``).
    """
    ckpt = load_manifest(params)
    desc = checkpoint_description(ckpt)
    name = name or desc["model"]
    if with_onnx is None or with_onnx:
        try:
            import onnx  # noqa: F401  (probing)
            with_onnx = True
        except ImportError:
            if with_onnx:
                raise SimplePoseError("--onnx: the onnx package is not installed (pip install 'onnx<1.15')") from None
            log.warning("onnx is not installed: exporting the MXNet symbol only (pip install 'onnx<1.15' for ONNX)")
            with_onnx = False
    out = Path(out_dir)
    net = load_checkpoint_net(ckpt, [mx.cpu()])
    net.hybridize(static_alloc=True)
    h, w = desc["input_size"]
    net(mx.nd.zeros((1, 3, h, w)))   # builds the cached graph that export writes
    files = {"symbol": f"{name}-symbol.json", "params": f"{name}-0000.params",
             "onnx": f"{name}.onnx" if with_onnx else None}
    # Everything is written beside the old export first: a full disk leaves the old one whole.
    with writing(out, "export"):
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as tmp:
            net.export(str(Path(tmp) / name))
            if with_onnx:
                _export_onnx(Path(tmp) / files["symbol"], Path(tmp) / files["params"], desc["input_size"],
                             Path(tmp) / files["onnx"])
            # Withdraw the old description before replacing its files: never deploy.json over mixed files.
            (out / DEPLOY_FILE).unlink(missing_ok=True)
            for f in files.values():
                if f:
                    os.replace(Path(tmp) / f, out / f)
    doc = {"format": FORMAT, "input_name": "data", **files, **desc,
           "checkpoint": os.path.relpath(desc["checkpoint"], out)}
    atomic_write_text(out / DEPLOY_FILE, json.dumps(doc, indent=1), "export description")
    log.info("exported %s (epoch %d) to %s: %s", ckpt["params"], ckpt["epoch"], out,
             ", ".join(f for f in files.values() if f))
    return doc


def build_parser() -> argparse.ArgumentParser:
    """The export command line."""
    p = argparse.ArgumentParser(prog="python -m simplepose.export", description=__doc__.splitlines()[0])
    p.add_argument("--params", required=True, help="checkpoint: its .json manifest, .params file or prefix, or a "
                   "training run directory (its best.json, else its latest checkpoint)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--name", default=None, help="file name stem (default: the model name)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--onnx", dest="with_onnx", action="store_true", default=None,
                   help="require the ONNX export (default: only when onnx is installed)")
    g.add_argument("--no-onnx", dest="with_onnx", action="store_false", help="skip the ONNX export")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    setup_logging()
    check_output_dir(args.out, "--out")
    doc = export_checkpoint(args.params, args.out, args.name, args.with_onnx)
    print(f"exported to {args.out}: " + ", ".join(doc[k] for k in ("symbol", "params", "onnx") if doc[k])
          + f", {DEPLOY_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))

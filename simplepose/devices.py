"""The MXNet devices a command runs on: --gpus / --num-gpus, checked against this machine."""
from __future__ import annotations

import mxnet as mx

from .errors import SimplePoseError
from .options import gpu_ids


def contexts(gpus: str | None, num_gpus: int) -> list[mx.Context]:
    """The devices of --gpus ('0,1') or --num-gpus N, checked against what this MXNet build sees; else the CPU."""
    ids = gpu_ids(gpus, num_gpus)
    if ids and max(ids) >= mx.context.num_gpus():
        raise SimplePoseError(f"--gpus {','.join(map(str, ids))}: this machine's MXNet sees "
                              f"{mx.context.num_gpus()} GPU(s); install mxnet-cu112 (requirements-gpu.txt) or drop the flag")
    return [mx.gpu(i) for i in ids] if ids else [mx.cpu()]

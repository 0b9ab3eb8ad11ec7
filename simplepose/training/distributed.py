"""Several workers through MXNet's parameter server (``--kvstore dist_sync[_device]``).

Each worker trains on its shard of every epoch; the server sums the gradients and every
worker runs Adam itself. Beside ``gluon.Trainer``'s keys (0 .. number of parameters - 1)
the workers share a flag key (a sum over the workers: "did anyone see a NaN / a Ctrl-C?")
and one key per BatchNorm running statistic (averaged at the end of each epoch).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import mxnet as mx
from mxnet import gluon

# kvstore keys of our own, clear of gluon.Trainer's (0 .. number of parameters - 1).
_FLAG_KEY = 1 << 20
_AUX_KEY = (1 << 20) + 1


@dataclass(frozen=True)
class Workers:
    """This process's place in the job: the kvstore (None for one process), its rank, the worker count."""

    kv: mx.kv.KVStore | None = None
    rank: int = 0
    num_workers: int = 1

    @classmethod
    def connect(cls, kvstore: str) -> "Workers":
        """Join the parameter-server job of a ``dist*`` kvstore (it connects to the scheduler now); else alone."""
        if not kvstore.startswith("dist"):
            return cls()
        kv = mx.kv.create(kvstore)
        return cls(kv, kv.rank, kv.num_workers)

    @property
    def writer(self) -> bool:
        """Only rank 0 validates and writes the log, the metrics and the checkpoints."""
        return self.rank == 0

    def init_keys(self, aux: Sequence[gluon.Parameter], ctx: mx.Context) -> None:
        """Our kvstore keys (every worker calls this; rank 0's values are the initial ones)."""
        if self.kv is None:
            return
        self.kv.init(_FLAG_KEY, mx.nd.zeros((1,)))
        self.kv.init([_AUX_KEY + i for i in range(len(aux))], [p.data(ctx) for p in aux])

    def sum(self, value: float) -> float:
        """Sum of ``value`` over the distributed workers (a collective: every worker must call it)."""
        arr = mx.nd.array([value])
        self.kv.pushpull(_FLAG_KEY, arr, out=arr)
        return float(arr.asscalar())

    def any(self, flag: bool) -> bool:
        """``flag`` on any worker (a collective when distributed); alone, ``flag`` itself."""
        if self.kv is None:
            return flag
        return self.sum(float(flag)) > 0

    def average_aux(self, aux: Sequence[gluon.Parameter], ctx: mx.Context) -> None:
        """Average BatchNorm running statistics over the workers (each saw only its shard)."""
        if self.kv is None:
            return
        # A static_alloc step's BatchNorm statistics can be read before it has written them (DESIGN.md's
        # traps): finish all work first, or a worker may push last batch's values.
        mx.nd.waitall()
        for i, param in enumerate(aux):
            total = param.data(ctx).copy()
            self.kv.pushpull(_AUX_KEY + i, total, out=total)
            param.set_data(total / self.num_workers)

"""Reading an old ``.states`` file (GluonCV's, and simplepose's before the ``nd.save`` format) without running it.

Such a file is what MXNet's ``Trainer.save_states`` writes: a pickle of ``(states, optimizer)``, where
``states`` maps a parameter index to its optimizer state (Adam: ``(mean, var)``; with multi-precision
``(float32 master copy, (mean, var))``) and ``optimizer`` is the pickled ``mxnet.optimizer.Optimizer``,
with its learning-rate scheduler inside. Unpickling calls whatever the file names, so a crafted file runs
any code it likes (``posix.system``, ``builtins.eval``, ``subprocess.Popen``).

Here the file is unpickled by :class:`_RestrictedUnpickler`, whose ``find_class`` admits an explicit list of
names (not modules) and maps each to a harmless stand-in: NDArrays become :class:`StoredArray` (their raw
bytes, decoded later by MXNet's array reader), optimizers and schedulers become :class:`StoredObject` (their
class name and attribute dict: plain data, no MXNet object is built from the file). Any other global, which is
every callable a ``REDUCE``/``__reduce__`` payload could call, is refused in one line before anything runs.
This module imports no MXNet.
"""
from __future__ import annotations

import _compat_pickle
import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simplepose.errors import SimplePoseError

# MXNet 1.x's optimizer classes, pickled from mxnet.optimizer.optimizer (1.3 and later) or mxnet.optimizer.
_OPTIMIZERS = ("Optimizer", "SGD", "Signum", "FTML", "LARS", "LBSGD", "DCASGD", "NAG", "SGLD", "ccSGD", "Adam",
               "AdaGrad", "RMSProp", "AdaDelta", "Ftrl", "Adamax", "Nadam", "LAMB", "AdamW")
_MXNET_SCHEDULERS = ("LRScheduler", "FactorScheduler", "MultiFactorScheduler", "PolyScheduler", "CosineScheduler")
_GLUONCV_SCHEDULERS = ("LRScheduler", "LRSequential")


class StoredObject:
    """Stand-in for a pickled optimizer or LR scheduler: where its class lives and its attributes (``state``)."""

    source = ""        # "module.Class" of the pickled class; set on each stand-in class

    def __new__(cls, *args: Any, **kwargs: Any) -> "StoredObject":
        obj = super().__new__(cls)
        obj.state = {}
        return obj

    def __init__(self, *args: Any, **kwargs: Any):
        pass     # the pickled class's constructor is not run: its attributes come from BUILD

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"the state of {self.source} is not a dict")
        self.state = state

    @property
    def class_name(self) -> str:
        return self.source.rpartition(".")[2]


class StoredArray:
    """Stand-in for a pickled NDArray: ``raw`` holds MXNet's raw bytes of one array (``NDArray.__getstate__``)."""

    def __init__(self, handle: None = None):
        if handle is not None:
            raise pickle.UnpicklingError("an NDArray is rebuilt from None and its saved bytes only")
        self.raw = b""

    def __setstate__(self, state: Any) -> None:
        raw = state.get("handle") if isinstance(state, dict) else None
        if not isinstance(raw, (bytes, bytearray)):
            raise pickle.UnpicklingError("an NDArray's state is not {'handle': bytes}")
        self.raw = bytes(raw)


def _stand_in(module: str, name: str) -> type[StoredObject]:
    return type(name, (StoredObject,), {"source": f"{module}.{name}"})


def _bytearray(data: Any = b"", encoding: str | None = None) -> bytearray:
    """``bytearray`` as pickles call it (from bytes, or from a str and 'latin-1' below protocol 3), nothing else."""
    if isinstance(data, (bytes, bytearray)) and encoding is None:
        return bytearray(data)
    if isinstance(data, str) and encoding == "latin-1":
        return bytearray(data, "latin-1")
    raise pickle.UnpicklingError("bytearray is rebuilt from bytes only")


def _latin1(text: Any, encoding: str) -> bytes:
    """``_codecs.encode`` as pickles below protocol 3 call it for bytes: a str and 'latin1', nothing else."""
    if not (isinstance(text, str) and encoding in ("latin1", "latin-1")):
        raise pickle.UnpicklingError("_codecs.encode is called for latin-1 bytes only")
    return text.encode("latin-1")


def _reconstructor(cls: Any, base: Any, state: Any) -> StoredObject:
    """``copyreg._reconstructor`` (pickle protocols 0 and 1), for the stand-ins only."""
    if not (isinstance(cls, type) and issubclass(cls, StoredObject) and base is object and state is None):
        raise pickle.UnpicklingError("copyreg._reconstructor rebuilds optimizers and schedulers only")
    return cls.__new__(cls)


def _admitted() -> dict[tuple[str, str], Any]:
    """(module, name) -> what the unpickler gets for it: the whole list of names an old .states file may use."""
    admitted: dict[tuple[str, str], Any] = {}
    for module in ("mxnet.optimizer.optimizer", "mxnet.optimizer"):
        admitted.update({(module, name): _stand_in(module, name) for name in _OPTIMIZERS})
    admitted.update({("mxnet.lr_scheduler", n): _stand_in("mxnet.lr_scheduler", n) for n in _MXNET_SCHEDULERS})
    admitted.update({("gluoncv.utils.lr_scheduler", n): _stand_in("gluoncv.utils.lr_scheduler", n)
                     for n in _GLUONCV_SCHEDULERS})
    for module in ("mxnet.ndarray.ndarray", "mxnet.ndarray"):
        admitted[(module, "NDArray")] = StoredArray
    # NumPy arrays and scalars (a scheduler's steps or rates can be NumPy values); 1.x and 2.x module names.
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        admitted[(module, "_reconstruct")] = np.core.multiarray._reconstruct
        admitted[(module, "scalar")] = np.core.multiarray.scalar
    admitted[("numpy", "ndarray")] = np.ndarray
    admitted[("numpy", "dtype")] = np.dtype
    admitted[("builtins", "bytearray")] = _bytearray
    admitted[("builtins", "object")] = object
    admitted[("_codecs", "encode")] = _latin1
    admitted[("copyreg", "_reconstructor")] = _reconstructor
    return admitted


_ADMITTED = _admitted()


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names of :data:`_ADMITTED`; ``persistent_load`` stays unsupported."""

    def __init__(self, data: bytes, path: Path):
        super().__init__(io.BytesIO(data))
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        # Python 2's names (__builtin__, copy_reg), which protocols 0-2 write, mapped as pickle.Unpickler does.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        found = _ADMITTED.get((module, name))
        if found is None:
            raise SimplePoseError(
                f"{self.path}: this optimizer state file calls {module}.{name}, which no optimizer state needs; "
                "refused before running anything (the file may carry code): resume from a checkpoint you trust, "
                "or start over without --resume")
        return found


@dataclass(frozen=True)
class LegacyStates:
    """What an old ``.states`` file held, as plain data.

    ``states``: parameter index -> state, nested tuples/lists of :class:`StoredArray` and None.
    ``optimizer``: the optimizer's stand-in (None when the file held the states alone).
    """

    states: dict[Any, Any]
    optimizer: StoredObject | None


def read_legacy_states(path: str | Path) -> LegacyStates:
    """Unpickle an old ``.states`` file through the restricted unpickler.

    Raises SimplePoseError naming the file: for a name outside the admitted list (nothing of the file
    has run then), and for a damaged file or one that does not hold ``(states, optimizer)``.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SimplePoseError(f"{path}: cannot read the optimizer state file ({exc.strerror})") from None
    try:
        root = _RestrictedUnpickler(data, path).load()
    except SimplePoseError:
        raise
    except Exception as exc:  # noqa: BLE001  (damaged bytes raise almost any type; the file is the cause)
        raise damaged(path, f"{type(exc).__name__}: {exc}") from None
    states, optimizer = root if isinstance(root, tuple) and len(root) == 2 else (root, None)
    if not isinstance(states, dict):
        raise damaged(path, "it holds no dict of states")
    if optimizer is not None and (not isinstance(optimizer, StoredObject) or optimizer.class_name not in _OPTIMIZERS):
        raise damaged(path, "its second item is not an MXNet optimizer")
    return LegacyStates(states, optimizer)


def damaged(path: str | Path, reason: str) -> SimplePoseError:
    """The one-line error of an optimizer state file that cannot be read."""
    return SimplePoseError(f"{path}: damaged optimizer state file ({reason[:200]}); resume from another "
                           "checkpoint, or start over without --resume")

"""The optimizer's state in a checkpoint, in a format that cannot run code: ``nd.save`` arrays plus JSON.

A checkpoint's ``STEM.states`` file is MXNet's ``nd.save`` of the state arrays, one per name: ``"I.J..."``
is leaf ``J...`` of parameter index ``I``'s state (Adam: ``I.0`` mean, ``I.1`` var; with multi-precision
``I.0`` the float32 master copy, ``I.1.0``/``I.1.1`` mean and var), each of the parameter's shape, on the
CPU. The rest is the manifest's ``"optimizer"`` object (the format marker of this layout; a manifest
without it names an old pickled ``.states`` file, read by :mod:`.legacy_states`)::

    {"format": "simplepose-optimizer-1", "class": "Adam",
     "attributes": {"lr": 0.001, "wd": 0.0, "beta1": 0.9, "num_update": 15, "multi_precision": false, ...},
     "update_counts": {"0": {"0": 15, "1": 15, ...}},   # per device id: per parameter index: updates
     "current_device": 0, "learning_rate": 0.001,        # the scheduled rate when saved (for the reader)
     "states": {"0": ["0.0", "0.1"], ...}}               # per parameter index: the arrays' names, nested

Parameter indices are the positions in the list given to the trainer (structural order, see ``build_trainer``).
:class:`Trainer` is ``gluon.Trainer`` whose ``save_states``/``load_states`` use this format, and read old
files only through the restricted unpickler; both formats restore bit-exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mxnet as mx
from mxnet import gluon

from simplepose.errors import SimplePoseError, one_line
from simplepose.io import JsonRecord
from simplepose.training.legacy_states import StoredArray, damaged, read_legacy_states

FORMAT = "simplepose-optimizer-1"
_SCALARS = (type(None), bool, int, float, str)
_DEPTH = 4   # deepest nesting of a state (MXNet's optimizers: 2)
_NOT_STATE = ("lr_scheduler",)   # the run's config rebuilds the schedule (a function of num_update)


def _settings(attributes: dict[Any, Any]) -> dict[str, Any]:
    """The scalar attributes of an optimizer's ``__dict__`` (NumPy scalars as Python ones), but the schedule."""
    plain = {k: v.item() if hasattr(v, "item") and getattr(v, "ndim", None) == 0 else v
             for k, v in attributes.items() if isinstance(k, str) and k not in _NOT_STATE}
    return {k: v for k, v in plain.items() if type(v) in _SCALARS}


@dataclass
class OptimizerState:
    """An optimizer's state, whichever file it came from.

    ``attributes``: the optimizer's scalar attributes (hyper-parameters, ``num_update``, ...);
    ``update_counts``: device id -> parameter index -> updates (Adam's bias correction reads them), None when
    unknown; ``current_device``: the device whose counts ``_index_update_count`` is; ``states``: parameter
    index -> state (NDArray, None, or tuples of them).
    """

    class_name: str
    attributes: dict[str, Any]
    update_counts: dict[int, dict[int, int]] | None
    current_device: int | None
    states: dict[int, Any]


def _updaters(trainer: gluon.Trainer) -> list:
    """The updaters holding the state: one per device, or the local kvstore's one (update_on_kvstore)."""
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._params_to_init:
        trainer._init_params()
    if not trainer._update_on_kvstore:
        return trainer._updaters
    updater = getattr(trainer._kvstore, "_updater", None)
    if updater is None:
        raise SimplePoseError("the optimizer state lives on the parameter servers (update_on_kvstore with a dist "
                              "kvstore), which no checkpoint can read; train with update_on_kvstore=False")
    return [updater]


def capture(trainer: gluon.Trainer) -> OptimizerState:
    """The trainer's optimizer state (arrays by reference: write them before the next step)."""
    opt = trainer._optimizer
    counts = opt._all_index_update_counts
    current = next((device for device, c in counts.items() if c is opt._index_update_count), None)
    held = dict(_updaters(trainer)[0].states)
    return OptimizerState(type(opt).__name__, _settings(vars(opt)), {device: dict(c) for device, c in counts.items()},
                          current, held)


def write_states(state: OptimizerState, path: str, learning_rate: float) -> dict[str, Any]:
    """``nd.save`` the state arrays to ``path``; returns the JSON rest (the manifest's ``"optimizer"``)."""
    arrays: dict[str, mx.nd.NDArray] = {}

    def layout(value: Any, name: str) -> Any:
        if value is None:
            return None
        if isinstance(value, mx.nd.NDArray):
            arrays[name] = value.as_in_context(mx.cpu())
            return name
        if isinstance(value, (tuple, list)):
            return [layout(v, f"{name}.{j}") for j, v in enumerate(value)]
        raise TypeError(f"optimizer state {name} is a {type(value).__name__}, not NDArrays")
    names = {str(index): layout(value, str(index)) for index, value in sorted(state.states.items())}
    mx.nd.save(path, arrays)
    return {"format": FORMAT, "class": state.class_name, "attributes": state.attributes,
            "update_counts": {str(d): {str(i): n for i, n in c.items()} for d, c in state.update_counts.items()},
            "current_device": state.current_device, "learning_rate": learning_rate, "states": names}


def _index(rec: JsonRecord, field: str, key: str) -> int:
    if not (key.isascii() and key.isdigit() and len(key) < 10):
        raise rec.error(field, f"has the key {key!r}, expected parameter indices and device ids (0, 1, ...)")
    return int(key)


def read_states(path: str, record: JsonRecord) -> OptimizerState:
    """The state of ``path`` (the arrays) and ``record`` (the manifest's ``"optimizer"``); one-line errors."""
    if record.string("format") != FORMAT:
        raise record.error("format", f"is {record.data['format']!r}, expected {FORMAT!r}: written by a newer "
                                     "simplepose? Resume with that version")
    attributes = record.sub("attributes").data
    bad = next((k for k, v in attributes.items() if type(v) not in _SCALARS), None)
    if bad is not None:
        raise record.error("attributes", f"'{bad}' is not a number, string, boolean or null")
    counts = {}
    for device, per_index in record.sub("update_counts").data.items():
        sub = JsonRecord(per_index, record.source, f"{record.record}: update_counts: {device}")
        counts[_index(record, "update_counts", device)] = {_index(sub, None, i): sub.int(i, minimum=0)
                                                          for i in per_index}
    try:
        arrays = mx.nd.load(path)
    except (mx.base.MXNetError, OSError, UnicodeDecodeError) as exc:
        raise damaged(path, one_line(exc)) from None
    arrays = arrays if isinstance(arrays, dict) else {}   # nd.load gives [] for a file of no arrays

    def leaf(value: Any, depth: int) -> Any:
        if value is None:
            return None
        if isinstance(value, str) and value in arrays:
            return arrays[value]
        if isinstance(value, list) and depth < _DEPTH:
            return tuple(leaf(v, depth + 1) for v in value)
        raise record.error("states", f"names {str(value)[:60]}, which {path} does not hold")
    layout = record.sub("states").data
    states = {_index(record, "states", i): leaf(v, 0) for i, v in layout.items()}
    return OptimizerState(record.string("class"), attributes, counts, record.int("current_device", None),
                          states)


def read_legacy(path: str) -> OptimizerState:
    """The state of an old pickled ``.states`` file, through the restricted unpickler (see :mod:`.legacy_states`)."""
    legacy = read_legacy_states(path)

    def leaf(value: Any, depth: int) -> Any:
        if value is None:
            return None
        if isinstance(value, StoredArray):
            array = mx.nd.NDArray(None)
            try:
                array.__setstate__({"handle": bytearray(value.raw)})   # MXNet's own reader of these bytes
            except mx.base.MXNetError as exc:
                raise damaged(path, one_line(exc)) from None
            return array
        if isinstance(value, (tuple, list)) and depth < _DEPTH:
            return tuple(leaf(v, depth + 1) for v in value)
        raise damaged(path, f"a state holds a {type(value).__name__}")
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in legacy.states):
        raise damaged(path, "its states are not keyed by parameter index")
    states = {i: leaf(v, 0) for i, v in legacy.states.items()}
    if legacy.optimizer is None:   # the states alone: the trainer's optimizer keeps its settings and counts
        return OptimizerState("", {}, None, None, states)
    held = legacy.optimizer.state
    attributes = _settings(held)
    current = held.get("_index_update_count")
    # MXNet before 1.4 kept one dict of counts; later ones one per device id.
    counts = held.get("_all_index_update_counts", {0: current} if isinstance(current, dict) else None)
    if not isinstance(counts, dict) or not all(
            isinstance(d, int) and isinstance(c, dict) and all(isinstance(i, int) and isinstance(n, int)
                                                               for i, n in c.items()) for d, c in counts.items()):
        raise damaged(path, "its optimizer's update counts are not integers")
    device = next((d for d, c in counts.items() if c is current), None)
    return OptimizerState(legacy.optimizer.class_name, attributes, counts, device, states)


def apply(state: OptimizerState, trainer: gluon.Trainer, path: str) -> None:
    """Put ``state`` into ``trainer`` as MXNet's ``load_states`` would: states to every updater (moved to
    each device at its next update), scalar attributes and update counts onto the trainer's optimizer
    (which keeps its LR schedule). A state of another optimizer or model raises one line naming ``path``."""
    opt = trainer._optimizer
    if state.class_name and state.class_name != type(opt).__name__:
        raise SimplePoseError(f"{path}: optimizer state of {state.class_name}, this run trains with "
                              f"{type(opt).__name__}; resume from a checkpoint of this training")
    params = trainer._params
    for index, value in state.states.items():
        if index >= len(params):
            raise SimplePoseError(f"{path}: optimizer state of parameter {index}, the model has {len(params)}: "
                                  "the state of another model; resume from a checkpoint of this training")
        for array in _leaves(value):
            if array.shape != params[index].shape:
                raise SimplePoseError(f"{path}: optimizer state of parameter {index} has shape {array.shape}, "
                                      f"{params[index].name} has {params[index].shape}: the state of another "
                                      "model; resume from a checkpoint of this training")
    for updater_number, updater in enumerate(_updaters(trainer)):
        # Each updater owns its arrays (it moves them to its device in place of sharing them).
        updater.states = {i: _copy(v) if updater_number else v for i, v in state.states.items()}
        updater.states_synced = dict.fromkeys(updater.states, False)
    own = vars(opt)
    for key, value in _settings(state.attributes).items():
        if type(own.get(key, ())) in _SCALARS:   # only the plain settings this optimizer has
            setattr(opt, key, value)
    if state.update_counts is not None:
        opt._all_index_update_counts = {d: dict(c) for d, c in state.update_counts.items()}
        opt._index_update_count = opt._all_index_update_counts.setdefault(
            state.current_device if state.current_device is not None else 0, {})


def _leaves(value: Any) -> list[mx.nd.NDArray]:
    if isinstance(value, tuple):
        return [a for v in value for a in _leaves(v)]
    return [] if value is None else [value]


def _copy(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    return None if value is None else value.copy()


class Trainer(gluon.Trainer):
    """``gluon.Trainer`` whose optimizer state files carry no code (see the module docstring)."""

    def save_states(self, fname: str) -> dict[str, Any]:
        """Write the state arrays to ``fname`` (``nd.save``); returns the JSON rest for the manifest."""
        return write_states(capture(self), fname, float(self.learning_rate))

    def load_states(self, fname: str, optimizer: JsonRecord | None = None) -> None:
        """Load ``fname``: the ``nd.save`` format with its manifest record ``optimizer``, else (None) an old
        pickled file through the restricted unpickler. One-line SimplePoseError naming the file."""
        state = read_states(fname, optimizer) if optimizer is not None else read_legacy(fname)
        apply(state, self, fname)

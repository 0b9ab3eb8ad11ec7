"""SimplePoseResNet: a ResNet backbone, three 4x4 stride-2 deconvolutions and a 1x1 conv.

Structure and parameter names follow GluonCV's ``simple_pose_resnet*`` models,
so GluonCV's published simple_pose weights load as they are. Every BatchNorm is
GluonCV's ``BatchNormCudnnOff``: MXNet's cuDNN BatchNorm has given NaNs and
divergence in this model on some GPUs, the native kernel does not.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os

import mxnet as mx
from mxnet import initializer
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock
from gluoncv.model_zoo import get_model as gluoncv_get_model
from gluoncv.nn import BatchNormCudnnOff

from simplepose.errors import MissingFileError, SimplePoseError, one_line
from simplepose.zoo import ZOO_PREFIX, parse_model_name

log = logging.getLogger(__name__)

BACKBONE_LAYERS = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")


class SimplePoseResNet(HybridBlock):
    """Heatmap regressor: input (N, 3, H, W) normalised image -> (N, K, H/4, W/4) heatmaps.

    Args:
        backbone: a GluonCV ResNet v1b/v1d built with ``BatchNormCudnnOff``.
        num_joints: K, the number of heatmaps.
        deconv_filters: channels of the three deconvolutions.
    """

    def __init__(self, backbone: HybridBlock, num_joints: int, deconv_filters: int = 256, **kwargs):
        super().__init__(**kwargs)
        self.resnet = nn.HybridSequential()
        for layer in BACKBONE_LAYERS:
            self.resnet.add(getattr(backbone, layer))
        # prefix='' keeps GluonCV's parameter names for the head.
        self.deconv_layers = nn.HybridSequential(prefix="")
        with self.deconv_layers.name_scope():
            for _ in range(3):
                self.deconv_layers.add(
                    nn.Conv2DTranspose(deconv_filters, kernel_size=4, strides=2, padding=1, use_bias=False,
                                       weight_initializer=initializer.Normal(0.001)),
                    BatchNormCudnnOff(gamma_initializer="ones", beta_initializer="zeros"),
                    nn.Activation("relu"))
        self.final_layer = nn.Conv2D(num_joints, kernel_size=1, weight_initializer=initializer.Normal(0.001),
                                     bias_initializer="zeros")

    def hybrid_forward(self, F, x):
        return self.final_layer(self.deconv_layers(self.resnet(x)))

    def head(self) -> list[HybridBlock]:
        """The blocks not in the backbone (initialised from scratch over a pretrained backbone)."""
        return [self.deconv_layers, self.final_layer]


def weights_dir() -> str:
    """Where GluonCV caches and looks for published weights ($MXNET_HOME/models, default ~/.mxnet/models)."""
    return os.path.join(mx.base.data_dir(), "models")


def _store_file_name(name: str) -> str:
    """The file GluonCV's model store keeps the weights ``name`` in: ``NAME-HASH8.params``."""
    from gluoncv.model_zoo.model_store import short_hash
    try:
        return f"{name}-{short_hash(name)}.params"
    except ValueError:
        return f"{name}-<hash>.params"


def _no_weights_error(name: str, what: str, exc: Exception) -> MissingFileError:
    path = os.path.join(weights_dir(), _store_file_name(name))
    if os.path.isfile(path):
        return MissingFileError(f"cannot get {what} for {name}: {path} is not GluonCV's file (its SHA-1 differs: "
                                "damaged or another model's); replace it with GluonCV's")
    # Offline, requests' message is a line of URL and retries: what it means is said instead.
    offline = isinstance(exc, (ConnectionError, TimeoutError)) or type(exc).__module__.startswith("requests")
    reason = "no connection to GluonCV's model store" if offline else f"{type(exc).__name__}: {one_line(exc)[:120]}"
    return MissingFileError(f"cannot get {what} for {name} ({reason}); run once online, or put GluonCV's file "
                            f"{_store_file_name(name)} into {weights_dir()}")


class _StoreChatter(logging.Filter):
    """Drops the lines GluonCV's model store logs on the root logger (``Model file not found. Downloading.``,
    ``Hash mismatch ... Downloading again.``): :func:`gluoncv_store_file` says what came of it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.WARNING or f"{os.sep}gluoncv{os.sep}" not in record.pathname


def _stat(path: str) -> tuple[int, int] | None:
    """(size, mtime in ns) of ``path``, None when there is no such file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def gluoncv_store_file(name: str, what: str) -> str:
    """The path of GluonCV's published weights ``name`` (``what`` they are, for messages) in :func:`weights_dir`,
    downloaded by GluonCV's model store when not there yet (or damaged): its progress bar shows, its print and
    log lines (``Downloading NAME.zip from URL...``) give way to one line of ours once the file is there. A download that
    fails (offline) or a damaged file is one line (:class:`MissingFileError`) naming the model, the file and the
    folder to put it in."""
    from gluoncv.model_zoo.model_store import get_model_file
    before = _stat(os.path.join(weights_dir(), _store_file_name(name)))
    chatter = _StoreChatter()
    logging.getLogger().addFilter(chatter)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            path = get_model_file(name, root=weights_dir())
    except Exception as exc:  # gluoncv raises assorted errors when offline or when the file is unknown
        raise _no_weights_error(name, what, exc) from None
    finally:
        logging.getLogger().removeFilter(chatter)
    if _stat(path) != before:   # missing or damaged before: the store downloaded it
        log.info("%s: downloaded %s to %s", name, what, path)
    return path


def gluoncv_pose_weights_file(model: str) -> str:
    """The path of GluonCV's published simple_pose weights for ``model`` (COCO's 17 keypoints), fetched
    by GluonCV's model store into :func:`weights_dir` when not there yet; offline, a one-line error
    names the file and the folder to put it in. A model GluonCV publishes no weights for (its store's table
    says which) is one line listing those it does."""
    from gluoncv.model_zoo.model_store import pretrained_model_list
    name = ZOO_PREFIX + parse_model_name(model)
    published = [n for n in pretrained_model_list() if n.startswith(ZOO_PREFIX)]
    if name not in published:
        raise SimplePoseError(f"{name}: GluonCV publishes no simple_pose weights of this model; it does for "
                              f"{', '.join(published)}")
    return gluoncv_store_file(name, "GluonCV's pose weights")


def get_pose_model(name: str, num_joints: int, pretrained_base: bool = False, last_gamma: bool = False,
                   ctx: mx.Context | list[mx.Context] | None = None, **kwargs) -> SimplePoseResNet:
    """Build ``simple_pose_resnet{18..152}_v1{b,d}`` for ``num_joints`` keypoints.

    Args:
        pretrained_base: load GluonCV's ImageNet backbone weights (needs them downloaded or cached).
        last_gamma: initialise the last BatchNorm gamma of each residual block to 0.
        ctx: where pretrained weights are loaded.
    Parameters are left uninitialised unless ``pretrained_base``; then only the head needs initialising.
    """
    base = parse_model_name(name)
    if num_joints < 1:
        raise SimplePoseError(f"num_joints must be positive, got {num_joints}")
    if pretrained_base:
        gluoncv_store_file(base, "ImageNet weights")
    try:
        backbone = gluoncv_get_model(base, pretrained=pretrained_base, ctx=ctx or mx.cpu(), root=weights_dir(),
                                     norm_layer=BatchNormCudnnOff, last_gamma=last_gamma)
    except (OSError, mx.base.MXNetError, ValueError, RuntimeError) as exc:
        if not pretrained_base:
            raise
        raise _no_weights_error(base, "ImageNet weights", exc) from None
    return SimplePoseResNet(backbone, num_joints, **kwargs)


def read_param_arrays(path: str | os.PathLike) -> dict[str, mx.nd.NDArray]:
    """The named arrays of a ``.params`` file (``save_parameters``' names, e.g. ``final_layer.weight``).

    A file that is not MXNet parameters of named arrays raises SimplePoseError naming it.
    """
    try:
        loaded = mx.nd.load(str(path))
    except mx.base.MXNetError:
        raise SimplePoseError(f"{path}: not an MXNet parameter file") from None
    if not isinstance(loaded, dict):
        raise SimplePoseError(f"{path}: not a parameter file of named arrays")
    return loaded


def load_checkpoint_params(net: SimplePoseResNet, path: str, ctx: mx.Context | list[mx.Context]) -> None:
    """Load a ``.params`` file into ``net``, float16 files into float32 models included.

    A file that is not MXNet parameters, or parameters of another keypoint count or model,
    raises SimplePoseError naming the file and both shapes (MXNet's own message is an
    assertion deep in Gluon).
    """
    try:
        net.load_parameters(path, ctx=ctx, cast_dtype=True)
        return
    except (AssertionError, mx.base.MXNetError, ValueError) as exc:
        reason = one_line(exc)
    loaded = read_param_arrays(path)
    expected = {k: p.shape for k, p in net._collect_params_with_prefix().items()}
    final = loaded.get("final_layer.weight")
    k = expected["final_layer.weight"][0]
    if final is not None and final.shape[0] != k:
        raise SimplePoseError(f"{path}: parameters of a model with {final.shape[0]} keypoints "
                              f"(final_layer.weight {final.shape}), this model has {k} (from the checkpoint's "
                              f"manifest or the data); use the matching checkpoint or data")
    missing = sorted(set(expected) - set(loaded))
    if missing:
        raise SimplePoseError(f"{path}: no {missing[0]} (and {len(missing) - 1} more): parameters of another model "
                              f"than {net.__class__.__name__} {k} keypoints?")
    wrong = next((key for key, shape in expected.items() if tuple(loaded[key].shape) != tuple(shape)), None)
    if wrong is not None:
        raise SimplePoseError(f"{path}: {wrong} has shape {loaded[wrong].shape}, this model's is {expected[wrong]} "
                              "(another model's parameters?)")
    raise SimplePoseError(f"{path}: cannot load parameters ({reason})")


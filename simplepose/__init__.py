"""simplepose: Simple Baselines top-down human pose estimation on MXNet Gluon.

The data, target-coding and evaluation core (``meta``, ``data``, ``codec``,
``metrics``) is plain NumPy/OpenCV and imports no MXNet; MXNet lives in
``model``, ``train`` and ``checkpoint``.
"""

__version__ = "0.1.0"

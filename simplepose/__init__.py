"""simplepose: Simple Baselines top-down human pose estimation on MXNet Gluon.

The data, target-coding and evaluation core (``meta``, ``data``, ``codec``,
``scoring``) is plain NumPy/OpenCV and imports no MXNet; MXNet lives in
``model``, ``runtime.mxnet``, ``training`` and the commands that use them.
"""

__version__ = "0.1.0"

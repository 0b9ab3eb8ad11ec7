"""The export command: a checkpoint (or a plain .params file) -> MXNet symbol + ONNX + ``deploy.json``. ::

    command   the command line (``python -m simplepose.export``, ``simplepose-export``) and export_checkpoint
    folder    the export folder's files, and how a new export replaces the old one with no gap
    graph     ONNX graph passes that INT8 quantization needs (names, BatchNorm folding, deconvolutions as convolutions)
    quantize  the INT8 model: ONNX Runtime's static quantization, calibrated on person crops
    int8_accuracy  what the INT8 model costs in AP: both models scored on people held out of the calibration

Nothing is imported here.
"""

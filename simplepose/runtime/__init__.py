"""A trained model as a function, whatever form it comes in. ::

    describe    what a model is: an export's deploy.json, a checkpoint manifest, a plain .params file, a zoo name
    check       deploy.json against the model files it describes
    load        load_model(source, backend=...): the one dispatch, used by eval, export, predict
    onnx        ONNX Runtime forward (no MXNet)
    mxnet       devices, the device normaliser, the live network and the exported symbol: the package's only
                MXNet import
    pose        boxes -> crops -> heatmaps -> keypoints in the image, the one inference path
    predictor   PosePredictor, the batch API over decoded frames

Nothing is imported here, so that ``runtime.describe`` and the ONNX path stay free of MXNet.
"""

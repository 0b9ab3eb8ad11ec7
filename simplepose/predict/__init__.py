"""The predict command: pose on your own photos and videos. ::

    command         the command line (``python -m simplepose.predict``, ``simplepose-predict``)
    inputs          images, folders, globs, videos, a webcam: decoded frames
    box_sources     person boxes: a detections or annotation file, the whole image (image_match: which file's)
    detectors       OpenCV's HOG people detector; the GluonCV detector families (no MXNet)
    gluon_detector  a GluonCV model-zoo detector (MXNet and GluonCV: imported when one is asked for)
    run             frames -> boxes -> poses (``runtime.predictor``) -> outputs, batched across frames
    pipeline        a video's stages side by side in threads, results in order
    tracking        identities across a video's frames (kalman: a track's box; assignment: Hungarian method)
    smoothing       keypoints along a track
    outputs         the pictures, videos and JSON written, each whole or not at all
    drawing         skeletons, boxes and track ids drawn on the pictures and video frames (OpenCV)

Nothing is imported here.
"""

"""COCO-format keypoint data: from the JSON and image files to training samples. ::

    paths         --dataset/--data-dir completed into annotation files and image folders
    images, categories, quirks, annotations   a file's images, keypoint category, ground-truth fixes, records
    keypoint_fields   which annotation fields hold the keypoints (COCO-WholeBody's parts), read and checked
    coco          COCOKeyPoints: one record per annotated person
    image_files   opening an image or video file: only a regular file, never in a way that waits
    decode        image bytes -> BGR pixels: libjpeg-turbo, region and reduced decoding, OpenCV fallback
    transforms, samples, guard   crops with augmentation; (crop, heatmaps, weights) samples; bad-sample guard
    pack          packed person crops and their reader
    boxes, box_filter   person boxes (ground truth or detections) and the one check that a box holds a person

NumPy and OpenCV only: no MXNet. Nothing is imported here.
"""

"""Scoring predicted keypoints: NumPy and pycocotools only (no MXNet).

- ``oks``: instance rescoring, object keypoint similarity, OKS-NMS, COCO results format;
- ``coco``: the ground truth for pycocotools, COCOeval over exactly the images evaluated,
  per-keypoint AP, ``evaluate_keypoints`` (all of it in one call);
- ``parts``: per-part AP of keypoints read from several fields (COCO-WholeBody's body, foot, face, hands);
- ``analysis``: precision-recall curves and the per-person OKS behind the AP;
- ``pck``: PCK, AUC, EPE and NME, which need no OKS sigmas; ``matching`` pairs predictions with people;
- ``evaluation``: AP (when sigmas are known) and PCK/AUC/EPE/NME in one call, ``evaluate_poses``;
- ``report``: the figures of one evaluation, as printed and written.
"""

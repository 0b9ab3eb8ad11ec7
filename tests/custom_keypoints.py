"""Turn a COCO 17-keypoint file into other keypoint sets, as users' own datasets look."""
import json
from pathlib import Path

CROWDPOSE_NAMES = ["left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                   "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck"]
# 1-based, CrowdPose's own skeleton (not COCO's).
CROWDPOSE_SKELETON = [[13, 14], [14, 1], [14, 2], [1, 3], [3, 5], [2, 4], [4, 6], [1, 7], [2, 8], [7, 9],
                      [9, 11], [8, 10], [10, 12]]

# CrowdPose's published OKS sigmas, in the order above.
CROWDPOSE_SIGMAS = [0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089, 0.079, 0.079]


def write_crowdpose_like(coco_ann, out_path):
    """14 keypoints: COCO's 12 limb joints, head = nose, neck = mid-shoulders (labelled if both are)."""
    doc = json.loads(Path(coco_ann).read_text())
    names = doc["categories"][0]["keypoints"]
    for ann in doc["annotations"]:
        k = {n: ann["keypoints"][3 * i:3 * i + 3] for i, n in enumerate(names)}
        ls, rs = k["left_shoulder"], k["right_shoulder"]
        neck = [(ls[0] + rs[0]) / 2, (ls[1] + rs[1]) / 2, min(ls[2], rs[2])] if ls[2] and rs[2] else [0, 0, 0]
        kps = [v for n in CROWDPOSE_NAMES[:12] for v in k[n]] + k["nose"] + neck
        ann["keypoints"] = kps
        ann["num_keypoints"] = sum(1 for v in kps[2::3] if v > 0)
    doc["categories"] = [{"id": doc["categories"][0]["id"], "name": "person", "keypoints": CROWDPOSE_NAMES,
                          "skeleton": CROWDPOSE_SKELETON}]
    Path(out_path).write_text(json.dumps(doc))
    return str(out_path)

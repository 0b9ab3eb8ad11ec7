"""The 25 datasets' styles: keypoint names as their files spell them, fields, codes and layouts.

Sources (what each public file or its usual converter writes) are cited per style; the facts table is in
the corpus report. Recipes map the synthetic figures' COCO joints to each layout (see tests.real_style).
"""
from __future__ import annotations

from .real_style import (COCO, COCO_SKELETON, EYES, HEAD_TOP, KNEES, NECK, PELVIS, Style, face, fan, limb)
from .real_style_wholebody import wholebody

ONLY_0_2 = {0: 0, 1: 2, 2: 2}   # datasets that label a point or not (no "occluded" code)
CROWD_FIELDS = ("num_keypoints", "iscrowd", "keypoints", "image_id", "bbox", "category_id", "id")
CONVERTED_FIELDS = ("keypoints", "image_id", "id", "num_keypoints", "bbox", "iscrowd", "area", "category_id")

CROWDPOSE = ["left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
             "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck"]
CROWDPOSE_RECIPES = list(CROWDPOSE[:12]) + [HEAD_TOP, NECK]
AIC = ["right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist", "right_hip",
       "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "head_top", "neck"]
MPII = ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
        "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
        "left_wrist"]
MPII_RECIPES = [*MPII[:6], PELVIS, ("lerp", NECK, PELVIS, 0.1), ("lerp", NECK, "nose", 0.6), HEAD_TOP, *MPII[10:]]
JHMDB = ["neck", "belly", "head", "right_shoulder", "left_shoulder", "right_hip", "left_hip", "right_elbow",
         "left_elbow", "right_knee", "left_knee", "right_wrist", "left_wrist", "right_ankle", "left_ankle"]
AP10K = ["left_eye", "right_eye", "nose", "neck", "root_of_tail", "left_shoulder", "left_elbow", "left_front_paw",
         "right_shoulder", "right_elbow", "right_front_paw", "left_hip", "left_knee", "left_back_paw", "right_hip",
         "right_knee", "right_back_paw"]
AP10K_SPECIES = ("antelope argali_sheep bison buffalo cow sheep arctic_fox dog fox wolf beaver alouatta monkey "
                 "noisy_night_monkey spider_monkey uakari deer moose hamster elephant horse zebra bobcat cat cheetah "
                 "jaguar king_cheetah leopard lion panther snow_leopard tiger giraffe hippo chimpanzee gorilla "
                 "orangutan rabbit skunk mouse rat otter weasel raccoon rhino marmot squirrel pig mole black_bear "
                 "brown_bear panda polar_bear bear").split()
ANIMALPOSE = ["left_eye", "right_eye", "nose", "left_ear", "right_ear", "left_front_elbow", "right_front_elbow",
              "left_back_elbow", "right_back_elbow", "left_front_knee", "right_front_knee", "left_back_knee",
              "right_back_knee", "left_front_paw", "right_front_paw", "left_back_paw", "right_back_paw", "throat",
              "withers", "tailbase"]
HORSE10 = ["Nose", "Eye", "Nearknee", "Nearfrontfetlock", "Nearfrontfoot", "Offknee", "Offfrontfetlock",
           "Offfrontfoot", "Shoulder", "Midshoulder", "Elbow", "Girth", "Wither", "Nearhindhock", "Nearhindfetlock",
           "Nearhindfoot", "Hip", "Stifle", "Offhindhock", "Offhindfetlock", "Offhindfoot", "Ischium"]
ATRW = ["left_ear", "right_ear", "nose", "right_shoulder", "right_front_paw", "left_shoulder", "left_front_paw",
        "right_hip", "right_knee", "right_back_paw", "left_hip", "left_knee", "left_back_paw", "tail", "center"]
AK = ["Head_Mid_Top", "Eye_Left", "Eye_Right", "Mouth_Front_Top", "Mouth_Back_Left", "Mouth_Back_Right",
      "Mouth_Front_Bottom", "Shoulder_Left", "Shoulder_Right", "Elbow_Left", "Elbow_Right", "Wrist_Left",
      "Wrist_Right", "Torso_Mid_Back", "Hip_Left", "Hip_Right", "Knee_Left", "Knee_Right", "Ankle_Left",
      "Ankle_Right", "Tail_Top_Back", "Tail_Mid_Back", "Tail_End_Back"]
HAND = ["wrist"] + [f"{finger}{j}" for finger in ("thumb", "forefinger", "middle_finger", "ring_finger",
                                                    "pinky_finger") for j in range(1, 5)]
HAND_SKELETON = [[1 if j == 0 else 2 + 4 * f + j - 1, 2 + 4 * f + j] for f in range(5) for j in range(4)]
# DeepFashion2's 13 categories and their landmark counts: slices of one 294-landmark list.
DF2 = [("short_sleeved_shirt", 25), ("long_sleeved_shirt", 33), ("short_sleeved_outwear", 31),
       ("long_sleeved_outwear", 39), ("vest", 15), ("sling", 15), ("shorts", 10), ("trousers", 14), ("skirt", 8),
       ("short_sleeved_dress", 29), ("long_sleeved_dress", 37), ("vest_dress", 19), ("sling_dress", 19)]
TORSO = ["right_shoulder", "left_shoulder", "left_elbow", "left_hip", "right_hip", "right_elbow"]


def insect_legs(side: str) -> dict[str, tuple]:
    """An insect's three legs of 4 points on one side of a figure: arm, between arm and leg, leg."""
    s = "left" if side == "L" else "right"
    fore = limb(f"{s}_shoulder", f"{s}_wrist", 4)
    hind = limb(f"{s}_hip", f"{s}_ankle", 4)
    legs = {f"foreleg{side}{i + 1}": r for i, r in enumerate(fore)}
    legs.update({f"midleg{side}{i + 1}": ("mid", f, h) for i, (f, h) in enumerate(zip(fore, hind))})
    legs.update({f"hindleg{side}{i + 1}": r for i, r in enumerate(hind)})
    return legs


LEGS = {**insect_legs("L"), **insect_legs("R")}
THORAX = ("lerp", NECK, PELVIS, 0.3)


def torso_ring(n: int) -> list:
    """``n`` points evenly round the torso-and-arms outline (a garment's landmarks)."""
    ring = []
    for i in range(n):
        pos = len(TORSO) * i / n
        a, t = int(pos), pos - int(pos)
        ring.append(("lerp", TORSO[a], TORSO[(a + 1) % len(TORSO)], t))
    return ring


def _coco_extra(doc: dict, style: Style) -> None:
    """COCO's own file: a crowd region (RLE, no keypoints) and an unlabelled person in each split."""
    img = doc["images"][0]
    doc["annotations"] += [
        {"segmentation": {"counts": [0, img["width"] * img["height"]], "size": [img["height"], img["width"]]},
         "num_keypoints": 0, "area": 120.0, "iscrowd": 1, "keypoints": [0] * 51, "image_id": img["id"],
         "bbox": [0.0, 0.0, 12.0, 10.0], "category_id": 1, "id": 900000000 + img["id"]},
        {"segmentation": [[1.0, 1.0, 9.0, 1.0, 9.0, 9.0]], "num_keypoints": 0, "area": 32.0, "iscrowd": 0,
         "keypoints": [0] * 51, "image_id": img["id"], "bbox": [1.0, 1.0, 8.0, 8.0], "category_id": 1,
         "id": 900000001 + img["id"]}]


def _ap10k(doc: dict, style: Style) -> None:
    """AP-10K: one category per species (54), all with the same 17 keypoints and skeleton."""
    base = doc["categories"][0]
    doc["categories"] = [{**base, "id": i + 1, "name": species, "supercategory": "animal"}
                         for i, species in enumerate(AP10K_SPECIES)]
    for i, ann in enumerate(doc["annotations"]):
        ann["category_id"] = 1 + (7 * i) % len(AP10K_SPECIES)


def _animalpose(doc: dict, style: Style) -> None:
    """Animal-Pose's keypoints.json: images as an id -> file dict, nested [x, y, v], [x0, y0, x1, y1] boxes,
    no annotation ids, five species sharing one list, a 0-based skeleton."""
    doc["images"] = {str(img["id"]): img["file_name"] for img in doc["images"]}
    for i, ann in enumerate(doc["annotations"]):
        k = ann.pop("keypoints")
        ann["keypoints"] = [k[j:j + 3] for j in range(0, len(k), 3)]
        x, y, w, h = ann["bbox"]
        ann["bbox"] = [round(x), round(y), round(x + w), round(y + h)]
        ann["category_id"] = 1 + i % 5
    base = doc["categories"][0]
    doc["categories"] = [{**base, "id": i + 1, "name": n}
                         for i, n in enumerate(("dog", "cat", "sheep", "horse", "cow"))]


def _atrw(doc: dict, style: Style) -> None:
    """ATRW's official keypoint files name the image field ``filename`` (mmpose renames it)."""
    for img in doc["images"]:
        img["filename"] = img.pop("file_name")


def _panoptic(doc: dict, style: Style) -> None:
    """CMU Panoptic hands (mmpose's conversion): each hand carries the head size its PCKh is normalised by."""
    for ann in doc["annotations"]:
        ann["head_size"] = round(0.3 * ann["bbox"][3], 2)


def _deepfashion2(doc: dict, style: Style) -> None:
    """deepfashion2_to_coco.py: 13 categories, each listing all 294 landmark names "1".."294" and an empty
    skeleton; an item's keypoints are 294 float triples (NumPy zeros), zero outside its category's slice."""
    starts = [sum(n for _, n in DF2[:c]) for c in range(len(DF2))]
    doc["categories"] = [{"id": c + 1, "name": name, "supercategory": "clothes", "keypoints": style.names,
                          "skeleton": []} for c, (name, _) in enumerate(DF2)]
    for i, ann in enumerate(doc["annotations"]):
        c = i % len(DF2)
        lo, hi = 3 * starts[c], 3 * (starts[c] + DF2[c][1])
        ann["keypoints"] = [v if lo <= j < hi else 0.0 for j, v in enumerate(ann["keypoints"])]
        ann.update(category_id=c + 1, num_keypoints=sum(1 for v in ann["keypoints"][2::3] if v), pair_id=i // 2,
                   style=i % 3)


INSECT_LEGS = {side: [f"{leg}{side}{j}" for leg in ("foreleg", "midleg", "hindleg") for j in range(1, 5)]
               for side in "LR"}
LOCUST = ["head", "neck", "thorax", "abdomen1", "abdomen2", "anttipL", "antbaseL", "eyeL", *INSECT_LEGS["L"],
          "anttipR", "antbaseR", "eyeR", *INSECT_LEGS["R"]]
LOCUST_RECIPES = [EYES, NECK, THORAX, ("lerp", NECK, PELVIS, 0.6), PELVIS, ("lerp", EYES, "left_ear", 2.0), "left_ear",
                  "left_eye", *[LEGS[n] for n in INSECT_LEGS["L"]], ("lerp", EYES, "right_ear", 2.0), "right_ear",
                  "right_eye", *[LEGS[n] for n in INSECT_LEGS["R"]]]
FLY = ["head", "eyeL", "eyeR", "neck", "thorax", "abdomen", *INSECT_LEGS["R"], *INSECT_LEGS["L"], "wingL", "wingR"]
FLY_RECIPES = [EYES, "left_eye", "right_eye", NECK, THORAX, PELVIS, *[LEGS[n] for n in FLY[6:30]],
               ("lerp", "left_shoulder", "left_hip", 0.7), ("lerp", "right_shoulder", "right_hip", 0.7)]
HORSE_NEAR = limb("left_elbow", "left_wrist", 3)
HORSE_OFF = limb("right_elbow", "right_wrist", 3)
COCO_PERSON = dict(names=list(COCO), skeleton=COCO_SKELETON)
MPII_STYLE = ("id", "image_id", "category_id", "center", "scale", "keypoints", "num_keypoints", "iscrowd")
FACE_FIELDS = ("image_id", "id", "keypoints", "num_keypoints", "bbox", "iscrowd", "area", "category_id",
               "center", "scale")

STYLES: dict[str, Style] = {
    # --- people ---
    "coco": Style(**COCO_PERSON, image_extra={"license": 4, "coco_url": "", "date_captured": "2013-11-14 17:02:52",
                                              "flickr_url": ""}, finish=_coco_extra),
    "crowdpose": Style(CROWDPOSE, CROWDPOSE_RECIPES, COCO_SKELETON, ann_fields=CROWD_FIELDS,
                       file_name=lambda i, n: f"{100000 + n}.jpg", image_extra={"crowdIndex": 0.12}),
    "aic": Style(AIC, [*AIC[:12], HEAD_TOP, NECK], [[3, 2], [2, 1], [1, 14], [14, 4], [4, 5], [5, 6], [9, 8], [8, 7],
                                                    [7, 10], [10, 11], [11, 12], [13, 14], [1, 7], [4, 10]],
                 ann_fields=CONVERTED_FIELDS, file_name=lambda i, n: f"{n * 2654435761 % 2 ** 40:010x}.jpg"),
    "ochuman": Style(**COCO_PERSON, file_name=lambda i, n: f"{n:06d}.jpg"),
    "mhp": Style(MPII, MPII_RECIPES, [[1, 2], [2, 3], [3, 7], [7, 4], [4, 5], [5, 6], [7, 8], [8, 9], [9, 10],
                                      [11, 12], [12, 13], [13, 8], [8, 14], [14, 15], [15, 16]],
                 file_name=lambda i, n: f"{n}.jpg"),
    "exlpose": Style(CROWDPOSE, CROWDPOSE_RECIPES, COCO_SKELETON, ann_fields=CROWD_FIELDS,
                     file_name=lambda i, n: f"dark/imgs_{i // 4:04d}_vid{n:06d}_exp100_dark_{i:06d}.png"),
    "jhmdb": Style(JHMDB, [NECK, ("lerp", NECK, PELVIS, 0.6), EYES, *JHMDB[3:]],
                   [[1, 3], [1, 4], [1, 5], [1, 2], [2, 6], [2, 7], [4, 8], [5, 9], [6, 10], [7, 11], [8, 12],
                    [9, 13], [10, 14], [11, 15]], visibility=ONLY_0_2, floats=True, ann_fields=CONVERTED_FIELDS,
                   file_name=lambda i, n: f"Frisbee_catch/catch_f_cm_np1_ri_med_{i // 5}/{i % 5 + 1:05d}.png"),
    "coco_wholebody": Style(**COCO_PERSON, image_extra={"license": 4, "coco_url": "", "date_captured": "2013-11-19 "
                                                        "21:22:42", "flickr_url": ""}, finish=wholebody),
    # --- animals ---
    "ap10k": Style(AP10K, ["left_eye", "right_eye", "nose", NECK, PELVIS, "left_shoulder", "left_elbow", "left_wrist",
                           "right_shoulder", "right_elbow", "right_wrist", "left_hip", "left_knee", "left_ankle",
                           "right_hip", "right_knee", "right_ankle"],
                   [[1, 2], [1, 3], [2, 3], [3, 4], [4, 5], [4, 6], [6, 7], [7, 8], [4, 9], [9, 10], [10, 11], [5, 12],
                    [12, 13], [13, 14], [5, 15], [15, 16], [16, 17]], category=("antelope", "Bovidae"),
                   visibility=ONLY_0_2, image_extra={"license": 1, "background": 2},
                   ann_fields=("id", "image_id", "category_id", "bbox", "area", "iscrowd", "num_keypoints",
                               "keypoints"), finish=_ap10k),
    "animalpose": Style(ANIMALPOSE, ["left_eye", "right_eye", "nose", "left_ear", "right_ear", "left_elbow",
                                     "right_elbow", "left_knee", "right_knee", ("mid", "left_elbow", "left_wrist"),
                                     ("mid", "right_elbow", "right_wrist"), ("mid", "left_knee", "left_ankle"),
                                     ("mid", "right_knee", "right_ankle"), "left_wrist", "right_wrist",
                                     "left_ankle", "right_ankle", ("lerp", NECK, "nose", 0.5), NECK, PELVIS],
                        [[0, 1], [0, 2], [1, 2], [0, 3], [1, 4], [2, 17], [18, 19], [5, 9], [6, 10], [7, 11],
                         [8, 12], [9, 13], [10, 14], [11, 15], [12, 16]], category=("dog", "animal"),
                        visibility={0: 0, 1: 1, 2: 1}, rounded=True,
                        ann_fields=("keypoints", "num_keypoints", "image_id", "category_id", "bbox"),
                        file_name=lambda i, n: f"2007_{n:06d}.jpg", finish=_animalpose),
    "macaque": Style(**COCO_PERSON, category=("monkey", "animal"), visibility=ONLY_0_2, floats=True,
                     file_name=lambda i, n: f"{n * 2654435761 % 2 ** 64:016x}.jpg"),
    "horse10": Style(HORSE10, ["nose", "left_eye", *HORSE_NEAR, *HORSE_OFF, "left_shoulder", NECK, "left_elbow",
                               ("lerp", NECK, PELVIS, 0.4), ("lerp", NECK, EYES, 0.3),
                               *limb("left_knee", "left_ankle", 3),
                               "left_hip", ("mid", "left_hip", "left_knee"), *limb("right_knee", "right_ankle", 3),
                               PELVIS], [], category=("horse", "animal"), visibility=ONLY_0_2, floats=True,
                     one_per_image=True, ann_fields=CONVERTED_FIELDS,
                     file_name=lambda i, n: f"labeled-data/BrownHorseinShadow/{i:04d}.png"),
    "zebra": Style(["snout", "head", "neck", "forelegL1", "forelegR1", "hindlegL1", "hindlegR1", "tailbase",
                    "tailtip"],
                   ["nose", EYES, NECK, "left_wrist", "right_wrist", "left_ankle", "right_ankle", PELVIS,
                    ("lerp", NECK, PELVIS, 1.25)], [[2, 1], [3, 2], [4, 3], [5, 3], [6, 8], [7, 8], [8, 3], [9, 8]],
                   category=("zebra", "animal"), visibility=ONLY_0_2, floats=True, one_per_image=True,
                   zero_based_ids=True, ann_fields=CONVERTED_FIELDS, file_name=lambda i, n: f"{n}.jpg"),
    "locust": Style(LOCUST, LOCUST_RECIPES, [[2, 1], [3, 2], [4, 3], [5, 4]], category=("locust", "animal"),
                    visibility=ONLY_0_2, floats=True, one_per_image=True, zero_based_ids=True,
                    ann_fields=CONVERTED_FIELDS, file_name=lambda i, n: f"{n}.jpg"),
    "fly": Style(FLY, FLY_RECIPES, [[2, 1], [3, 1], [4, 1], [5, 4], [6, 5]], category=("fly", "animal"),
                 visibility=ONLY_0_2, floats=True, one_per_image=True, zero_based_ids=True,
                 ann_fields=CONVERTED_FIELDS, file_name=lambda i, n: f"{n}.jpg"),
    "atrw": Style(ATRW, ["left_ear", "right_ear", "nose", "right_shoulder", "right_wrist", "left_shoulder",
                         "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
                         PELVIS, ("lerp", NECK, PELVIS, 0.5)],
                  [[1, 3], [2, 3], [3, 15], [15, 4], [4, 5], [15, 6], [6, 7], [15, 14], [14, 8], [8, 9], [9, 10],
                   [14, 11], [11, 12], [12, 13]], category=("tiger", "animal"), one_per_image=True,
                  ann_fields=CONVERTED_FIELDS, file_name=lambda i, n: f"{n:06d}.jpg", finish=_atrw),
    "animal_kingdom": Style(AK, [HEAD_TOP, "left_eye", "right_eye", "nose", ("mid", "nose", "left_ear"),
                                 ("mid", "nose", "right_ear"), ("lerp", EYES, "nose", 1.6), "left_shoulder",
                                 "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                                 ("lerp", NECK, PELVIS, 0.5), "left_hip", "right_hip", "left_knee", "right_knee",
                                 "left_ankle", "right_ankle", PELVIS, ("lerp", PELVIS, KNEES, 0.3),
                                 ("lerp", PELVIS, KNEES, 0.6)], [], category=("animal", "animal"),
                            visibility={0: 0, 1: 1, 2: 1}, ann_fields=MPII_STYLE,
                            file_name=lambda i, n: f"AAACXZTV/AAACXZTV_f{n:06d}.jpg"),
    # --- hands: one hand per image, the 21 points fanned out in its box ---
    "onehand10k": Style(HAND, fan(), HAND_SKELETON, category=("hand", "hand"), visibility=ONLY_0_2,
                        one_per_image=True, floats=True, ann_fields=CONVERTED_FIELDS,
                        file_name=lambda i, n: f"Train/source/{n}.jpg"),
    "freihand": Style(HAND, fan(), HAND_SKELETON, category=("hand", "hand"), visibility=ONLY_0_2, one_per_image=True,
                      floats=True, ann_fields=CONVERTED_FIELDS, file_name=lambda i, n: f"training/rgb/{n:08d}.jpg"),
    "rhd": Style(HAND, fan(), HAND_SKELETON, category=("hand", "hand"), visibility=ONLY_0_2, one_per_image=True,
                 floats=True, ann_fields=CONVERTED_FIELDS, file_name=lambda i, n: f"training/color/{n:05d}.png"),
    "panoptic_hand": Style(HAND, fan(), HAND_SKELETON, category=("hand", "hand"), visibility=ONLY_0_2,
                           one_per_image=True, floats=True, ann_fields=CONVERTED_FIELDS, finish=_panoptic,
                           file_name=lambda i, n: f"hand_labels/manual_train/{n:09d}_01_l.jpg"),
    # --- fashion ---
    "deepfashion": Style(["left collar", "right collar", "left sleeve", "right sleeve", "left hem", "right hem"],
                         [("lerp", NECK, "left_shoulder", 0.8), ("lerp", NECK, "right_shoulder", 0.8),
                          ("mid", "left_shoulder", "left_elbow"), ("mid", "right_shoulder", "right_elbow"),
                          "left_hip", "right_hip"], None, category=("upper_body", "clothes"), one_per_image=True,
                         ann_fields=CONVERTED_FIELDS,
                         file_name=lambda i, n: f"img/WOMEN/Blouses_Shirts/id_{n:08d}/02_1_front.jpg"),
    "deepfashion2": Style([str(i) for i in range(1, 295)], [r for _, n in DF2 for r in torso_ring(n)], None,
                          category=("short_sleeved_shirt", "clothes"), rounded=True, floats=True,
                          image_extra={"coco_url": "", "date_captured": "", "flickr_url": "", "license": 0},
                          file_name=lambda i, n: f"{n:06d}.jpg", finish=_deepfashion2),
    # --- faces: mmpose's conversions list no keypoint names; MPII-style centre and scale beside the box ---
    "300w": Style([], face(68), [], category=("face", "person"), one_per_image=True, ann_fields=FACE_FIELDS,
                  file_name=lambda i, n: f"helen/trainset/{n:09d}_1.jpg"),
    "wflw": Style([], face(98), [], category=("face", "person"), one_per_image=True, ann_fields=FACE_FIELDS,
                  floats=True, file_name=lambda i, n: f"0--Parade/0_Parade_marchingband_1_{n}.jpg"),
}

"""Small KITTI annotation builders shared by the evaluator tests."""
import numpy as np

SIZES = {"Car": (3.9, 1.56, 1.6), "Pedestrian": (0.8, 1.73, 0.6), "Cyclist": (1.76, 1.73, 0.6),
         "Van": (5.0, 2.0, 1.9), "Person_sitting": (0.8, 1.2, 0.6), "Truck": (8.0, 3.0, 2.5),
         "DontCare": (-1.0, -1.0, -1.0)}


def obj(name, x, z, ry=0.0, height_px=60.0, trunc=0.0, occ=0, u=100.0, alpha=None, score=None):
    """One object: camera location (x, 1.6, z), 2D box of ``height_px`` at column ``u``."""
    l, h, w = SIZES[name]
    row = dict(name=name, truncated=trunc, occluded=occ,
               alpha=(-10.0 if name == "DontCare" else ry) if alpha is None else alpha,
               bbox=[u, 100.0, u + 40.0, 100.0 + height_px], dimensions=[l, h, w],
               location=[x, 1.6, z], rotation_y=ry)
    if score is not None:
        row["score"] = score
    return row


def anno(rows, with_score=False):
    """Stack object dicts into a KITTI annotation dict of arrays."""
    out = {"name": np.array([r["name"] for r in rows], dtype=str).reshape(-1),
           "truncated": np.array([r["truncated"] for r in rows], np.float64).reshape(-1),
           "occluded": np.array([r["occluded"] for r in rows], np.int64).reshape(-1),
           "alpha": np.array([r["alpha"] for r in rows], np.float64).reshape(-1),
           "bbox": np.array([r["bbox"] for r in rows], np.float64).reshape(-1, 4),
           "dimensions": np.array([r["dimensions"] for r in rows], np.float64).reshape(-1, 3),
           "location": np.array([r["location"] for r in rows], np.float64).reshape(-1, 3),
           "rotation_y": np.array([r["rotation_y"] for r in rows], np.float64).reshape(-1)}
    if with_score:
        out["score"] = np.array([r.get("score", 0.5) for r in rows], np.float64).reshape(-1)
    return out


def perfect_scene(num_frames=45):
    """Frames with one easy Car, Pedestrian and Cyclist each (>= 41 per class, so that all 41
    recall samples are filled), plus a DontCare region far away; detections equal to the ground
    truth with distinct scores."""
    gts, dts = [], []
    for f in range(num_frames):
        rows = [obj("Car", -4.0, 20.0 + f % 7, ry=0.3, u=100.0),
                obj("Pedestrian", 0.0, 15.0, ry=-1.0, u=300.0),
                obj("Cyclist", 4.0, 25.0, ry=2.0, u=500.0),
                obj("DontCare", 0.0, 0.0, u=900.0)]
        gts.append(anno(rows))
        dets = [dict(r, score=0.9 - 0.01 * f) for r in rows[:3]]
        dts.append(anno(dets, with_score=True))
    return gts, dts

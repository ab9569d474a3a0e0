"""Cut every labelled object's points of a KITTI split into a GT database (for GT sampling).

    python tools/create_gt_database.py --root data/synthetic_kitti3d
    python tools/create_gt_database.py --root data/kitti --split train
    python tools/create_gt_database.py --root data/kitti --with_image    # + image patches (MVX-Net paste)

Writes ``<root>/kitti_gt_database/<frame>_<type>_<k>.bin`` and ``<root>/kitti_dbinfos_<split>.json``
(the ``gt_sampler.info_path`` of a KittiObject dataset config).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from paddlexseg.datasets.gt_database import create_gt_database  # noqa: E402
from paddlexseg.tool_errors import run_tool  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="KITTI object root (ImageSets/, training/)")
    p.add_argument("--split", default="train", help="ImageSets split to cut (default train)")
    p.add_argument("--no_fov_crop", action="store_true",
                   help="keep points outside the camera view (default: crop as velodyne_reduced)")
    p.add_argument("--with_image", action="store_true",
                   help="also cut each object's image patch (gt_sampler.paste_image: true)")
    args = p.parse_args(argv)
    out = create_gt_database(args.root, split=args.split, fov_crop=not args.no_fov_crop,
                             with_image=args.with_image)
    objects = ", ".join(f"{k} {v}" for k, v in out["objects"].items())
    print(f"wrote {out['info_path']} ({out['frames']} frames; {objects})")


if __name__ == "__main__":
    run_tool(main)

"""Per-quantity statistics of two folders of scans (SemanticKITTI layout) side by side:
points per scan, range / z / remission percentiles, elevation per estimated beam, class
frequencies when labels exist. The table is Markdown.

    python tools/compare_scans.py data/synthetic_kitti/sequences/08 /path/to/real/sequences/00
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from paddlexseg.tool_errors import run_tool  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder_a", help="folder of .bin scans (searched recursively)")
    p.add_argument("folder_b", help="folder of .bin scans (searched recursively)")
    p.add_argument("--names", nargs=2, default=None, metavar=("A", "B"),
                   help="column titles (default: the folder names)")
    p.add_argument("--label_config", default="semantic-kitti",
                   help="label YAML for the class frequencies")
    p.add_argument("--max_scans", type=int, default=None, help="read at most N scans per folder")
    args = p.parse_args(argv)
    from paddlexseg.datasets.scan_stats import compare_table, scan_statistics
    stats = [scan_statistics(f, args.label_config, args.max_scans)
             for f in (args.folder_a, args.folder_b)]
    names = args.names or [os.path.basename(os.path.normpath(f))
                           for f in (args.folder_a, args.folder_b)]
    print(compare_table(*stats, names=names))


if __name__ == "__main__":
    run_tool(main)

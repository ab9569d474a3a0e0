"""Per-class point frequencies of a config's train_dataset (or of a label YAML's ``content``) and
the RangeNet++ class weights 1 / (content + epsilon), to paste into a loss's ``class_weights``.

    python tools/dataset_stats.py --config configs/rangenet/rangenet_darknet21_synthetic_quick.yml
    python tools/dataset_stats.py --label_config semantic-kitti     # the real data's frequencies
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from paddlexseg.config import load_config  # noqa: E402
from paddlexseg.datasets.stats import (class_weights_report,  # noqa: E402
                                       label_config_weights_report)
from paddlexseg.engine.builder import build_dataset  # noqa: E402
from paddlexseg.tool_errors import run_tool  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--config", help="count the classes of this config's train_dataset")
    which.add_argument("--label_config",
                       help="use the 'content' of this label YAML (name or path), e.g. "
                            "semantic-kitti: the frequencies of the real training set")
    p.add_argument("--epsilon", type=float, default=0.001, help="epsilon_w of the original")
    p.add_argument("--opts", nargs="+", default=[], help="config overrides (with --config)")
    args = p.parse_args(argv)
    if args.label_config:
        print(label_config_weights_report(args.label_config, args.epsilon)[1])
        return
    dataset = build_dataset(load_config(args.config, args.opts), "train_dataset")
    print(class_weights_report(dataset, args.epsilon)[2])


if __name__ == "__main__":
    run_tool(main)

"""Class proportions of a config's dataset (or of a label YAML's ``content``), a check that
every raw id is mapped, and the RangeNet++ class weights 1 / (content + epsilon), to paste into a
loss's ``class_weights``.

    python tools/dataset_stats.py --config configs/rangenet/rangenet_darknet21_synthetic_quick.yml
    python tools/dataset_stats.py --label_config semantic-kitti     # the real data's frequencies

With ``--config`` it prints the label YAML ``content:`` block (fraction per raw id) and the
per-class fractions; exits with ``error: ...`` listing every raw id the label config's
``learning_map`` does not map.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from paddlexseg.config import load_config  # noqa: E402
from paddlexseg.runtime import add_runtime_flags, setup_runtime  # noqa: E402
from paddlexseg.tool_errors import run_tool  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--config", help="count the classes of this config's dataset")
    which.add_argument("--label_config",
                       help="use the 'content' of this label YAML (name or path), e.g. "
                            "semantic-kitti: the frequencies of the real training set")
    p.add_argument("--dataset", default="train_dataset", choices=["train_dataset", "val_dataset"],
                   help="with --config: which dataset of the config to read")
    p.add_argument("--epsilon", type=float, default=0.001, help="epsilon_w of the original")
    p.add_argument("--opts", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config keys (with --config)")
    add_runtime_flags(p)
    args = p.parse_args(argv)
    setup_runtime(args.threads, import_paddle=True)
    from paddlexseg.datasets.stats import class_weights_report, label_config_weights_report
    if args.label_config:
        print(label_config_weights_report(args.label_config, args.epsilon)[1])
        return
    from paddlexseg.datasets.raw_stats import check_raw_ids, raw_content_yaml, raw_label_counts
    from paddlexseg.engine.builder import build_dataset
    dataset = build_dataset(load_config(args.config, args.opts), args.dataset)
    raw = raw_label_counts(dataset.files)
    check_raw_ids(raw, dataset.labels)
    print(raw_content_yaml(raw, dataset.labels))
    print(class_weights_report(dataset, args.epsilon)[2])


if __name__ == "__main__":
    run_tool(main)

"""Launched by test_distributed.py via ``python -m paddle.distributed.launch --nproc_per_node 2``."""
import copy
import os
import sys

import paddle

sys.path.insert(0, os.path.dirname(__file__))
import toy  # noqa: E402

from paddlexseg.config import validate  # noqa: E402
from paddlexseg.engine.trainer import Trainer  # noqa: E402

if __name__ == "__main__":
    paddle.set_device("cpu")
    cfg = validate(copy.deepcopy(toy.TOY_CFG))
    trainer = Trainer(cfg, sys.argv[1], do_eval=True, progress=False)
    trainer.train()
    rank = paddle.distributed.get_rank()
    state = {k: v.numpy() for k, v in trainer.model.state_dict().items()}
    paddle.save({k: paddle.to_tensor(v) for k, v in state.items()},
                os.path.join(sys.argv[1], f"rank{rank}.pdparams"))

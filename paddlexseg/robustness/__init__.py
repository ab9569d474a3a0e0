"""Robustness of LiDAR models to corrupted scans (SemanticKITTI-C / Robo3D spirit).

``corruptions``: eight corruptions at three severities; ``dataset``: the ``CorruptedScans``
data set wrapper (registered in DATASETS); ``evaluate``: per-corruption mIoU, table and chart.
"""
from paddlexseg._autoimport import import_submodules

import_submodules(__name__, __path__)

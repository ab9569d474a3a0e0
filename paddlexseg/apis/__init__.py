"""High-level entry points behind ``tools/predict.py``, ``tools/export.py`` and the deploy script.

* :func:`predict` (``apis/predict.py``): trained model -> SemanticKITTI ``.label`` files or label
  PNGs, dispatched on the model family (``apis/families.py``).
* :func:`export_model` (``apis/export.py``): ``paddle.jit.save`` plus ``deploy.yaml``.
* ``apis/range_io.py``, ``apis/range_predict.py``, ``apis/image_predict.py``: pre- and
  post-processing shared with ``deploy/python/infer.py``; ``apis/visualize.py``: PNG pictures.
"""
from .export import export_model
from .families import family_of
from .predict import predict

__all__ = ["predict", "export_model", "family_of"]

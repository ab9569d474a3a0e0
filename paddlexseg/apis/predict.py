"""``tools/predict.py``'s logic: build the model, load weights, dispatch on the model family.

Range models (RangeNet++, SqueezeSegV3) write SemanticKITTI ``.label`` files
(:mod:`paddlexseg.apis.range_predict`), point models (2DPASS, LiDAR-only) too
(:mod:`paddlexseg.apis.point_predict`); image models (PointRend) write label PNGs
(:mod:`paddlexseg.apis.image_predict`); 3-D detectors (SECOND) write KITTI ``label_2`` files
(:mod:`paddlexseg.apis.det_predict`). The family comes from the table in
:mod:`paddlexseg.apis.families`.
"""
from ..engine import builder
from ..engine.checkpoint import load_model_weights
from ..engine.logging import get_logger
from ..registry import ConfigError
from .det_predict import predict_detection, resolve_frames
from .families import family_of
from .image_predict import check_outputs, predict_image, resolve_images
from .inference import with_backend
from .point_predict import point_setup, predict_point
from .range_io import RANGENET_KNN, check_knn, require_knn_op, resolve_scans
from .range_predict import predict_range, range_setup

__all__ = ["predict", "resolve_knn", "PREDICTORS"]


def resolve_knn(cfg, use_knn=None):
    """KNN settings for range predictions.

    Args:
        cfg: the resolved config; ``metric.knn`` holds the configured settings.
        use_knn: None to follow the config (on when ``metric.knn`` is set), False for off,
            True for on (the config's settings, else RangeNet++'s k=5, search=5, sigma=1,
            cutoff=1).

    Returns:
        None or a ``{k, search, sigma, cutoff}`` dict.
    """
    metric = cfg.get("metric") or {}
    configured = check_knn(metric.get("knn") if isinstance(metric, dict) else None)
    if use_knn is False:
        return None
    if use_knn is True:
        return configured or dict(RANGENET_KNN)
    return configured


def _resolve_range(cfg, input_path, use_knn, bev, sequence):
    if resolve_knn(cfg, use_knn) is not None:
        require_knn_op()
    return resolve_scans(input_path, range_setup(cfg).sequences, sequence)


def _run_range(model, cfg, items, input_path, save_dir, use_knn, bev, sequence, progress):
    knn = resolve_knn(cfg, use_knn)
    get_logger().info(f"KNN post-processing: {'off' if knn is None else knn}")
    summary = predict_range(model, cfg, input_path, save_dir, knn=knn, bev=bev,
                            sequence=sequence, progress=progress, items=items)
    get_logger().info(f"wrote {summary['scans']} scans ({summary['points']} points) to "
                      f"{save_dir}/sequences in {summary['seconds']:.1f} s")
    return summary


def _resolve_image(cfg, input_path, use_knn, bev, sequence):
    if use_knn or bev or sequence is not None:
        raise ConfigError(f"--knn, --bev and --sequence apply to range (LiDAR) models only; "
                          f"model.type {cfg['model'].get('type')} is an image model")
    return resolve_images(input_path)


def _run_image(model, cfg, items, input_path, save_dir, use_knn, bev, sequence, progress,
               image_outputs=None):
    summary = predict_image(model, cfg, input_path, save_dir, progress=progress, items=items,
                            outputs=image_outputs)
    get_logger().info(f"wrote {summary['images']} images ({', '.join(summary['kinds'])}; "
                      f"labelid = the ids the dataset's official evaluator reads) to {save_dir} "
                      f"in {summary['seconds']:.1f} s")
    return summary


def _resolve_point(cfg, input_path, use_knn, bev, sequence):
    if use_knn:
        raise ConfigError(f"--knn applies to range (range-image) models only; model.type "
                          f"{cfg['model'].get('type')} predicts every point directly")
    return resolve_scans(input_path, point_setup(cfg).sequences, sequence)


def _run_point(model, cfg, items, input_path, save_dir, use_knn, bev, sequence, progress):
    get_logger().info(f"LiDAR-only inference, test-time views (model.num_vote): "
                      f"{getattr(model, 'num_vote', 1)}")
    summary = predict_point(model, cfg, input_path, save_dir, bev=bev, sequence=sequence,
                            progress=progress, items=items)
    get_logger().info(f"wrote {summary['scans']} scans ({summary['points']} points, "
                      f"{summary['outside']} outside the voxel volume predicted as "
                      f"unseen_points={summary['unseen_points']}) to "
                      f"{save_dir}/sequences in {summary['seconds']:.1f} s")
    return summary


def _resolve_detection(cfg, input_path, use_knn, bev, sequence):
    if use_knn or sequence is not None:
        raise ConfigError(f"--knn and --sequence do not apply to 3-D detectors (model.type "
                          f"{cfg['model'].get('type')}); BEV pictures are always written")
    split, ids = resolve_frames(input_path)
    return [(split, i) for i in ids]


def _run_detection(model, cfg, items, input_path, save_dir, use_knn, bev, sequence, progress):
    summary = predict_detection(model, cfg, items[0][0], [i for _, i in items], save_dir,
                                progress=progress)
    get_logger().info(f"wrote {summary['frames']} KITTI label_2 files ({summary['boxes']} "
                      f"boxes) to {summary['label_dir']}, BEV and camera PNGs to {save_dir} in "
                      f"{summary['seconds']:.1f} s")
    return summary


# family name -> (resolve the inputs before the model is built, predict)
PREDICTORS = {"range": (_resolve_range, _run_range), "image": (_resolve_image, _run_image),
              "point": (_resolve_point, _run_point),
              "detection": (_resolve_detection, _run_detection),
              "fusion_detection": (_resolve_detection, _run_detection)}


def predict(cfg, model_path, input_path, save_dir, use_knn=None, bev=False, sequence=None,
            progress=True, image_outputs=None, backend="dygraph", onednn=True):
    """Predict with a trained model and write the outputs under ``save_dir``.

    The inputs are listed and checked (missing files, empty folders, truncated scans) before
    the model is built, so bad input fails at once.

    Args:
        cfg: resolved config dict (:func:`paddlexseg.config.load_config`).
        model_path: ``.pdparams`` file or checkpoint folder.
        input_path: range and point models: a ``.bin``, a folder of ``.bin`` or a
            SemanticKITTI root; image models: an image or a folder of images.
        save_dir: output root.
        use_knn: range models only; see :func:`resolve_knn`.
        bev: range and point models: also write bird's-eye-view PNGs.
        sequence: range and point models: sequence name for loose scans (default "00").
        progress: show a tqdm bar.
        image_outputs: image models only: kinds of PNG to write ("labelid", "trainid",
            "color"; default :func:`~paddlexseg.apis.image_predict.default_outputs`).
        backend: ``dygraph`` or ``inference`` (Paddle Inference, oneDNN on CPU unless
            ``onednn`` is False; range and image models).

    Returns:
        the summary dict of the family's predictor.
    """
    family = family_of(cfg, predict_only=True)
    if family.name not in PREDICTORS:
        raise ConfigError(f"model.type: tools/predict.py does not predict {family.name} models "
                          f"({cfg['model'].get('type')}); evaluate with tools/val.py, or export "
                          f"with tools/export.py and run deploy/python/infer.py")
    resolve, run = PREDICTORS[family.name]
    if image_outputs is not None and family.name != "image":
        raise ConfigError(f"--image_outputs applies to image models only; model.type "
                          f"{cfg['model'].get('type')} is a {family.name} model")
    if family.name == "image":
        check_outputs(image_outputs)
    items = resolve(cfg, input_path, use_knn, bev, sequence)
    model = builder.build_model(cfg)
    path = load_model_weights(model, model_path)
    model.eval()
    model = with_backend(model, backend, onednn=onednn, cfg=cfg)
    get_logger().info(f"predicting {len(items)} inputs from {input_path} with {path} "
                      f"({family.name} model)")
    if family.name == "image":
        return run(model, cfg, items, input_path, save_dir, use_knn, bev, sequence, progress,
                   image_outputs)
    return run(model, cfg, items, input_path, save_dir, use_knn, bev, sequence, progress)

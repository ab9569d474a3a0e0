"""mmdet3d ``DeltaXYZWLHRBBoxCoder``
(``mmdet3d/models/task_modules/coders/delta_xyzwhlr_bbox_coder.py``),
also OpenPCDet's ``ResidualCoder`` and Paddle3D's ``ResidualCoder`` without sin/cos encoding.

Boxes are ``(x, y, z, l, w, h, yaw, extra...)`` with ``z`` the bottom centre. With the anchor's
diagonal ``d = sqrt(l_a^2 + w_a^2)`` and centres lifted to mid-height::

    dx = (x_g - x_a) / d,  dy = (y_g - y_a) / d,  dz = (zc_g - zc_a) / h_a,
    dl = log(l_g / l_a),   dw = log(w_g / w_a),   dh = log(h_g / h_a),   dr = yaw_g - yaw_a,

extra columns (e.g. velocities) as plain differences. Works on paddle Tensors (differentiable)
and NumPy arrays, any leading shape ``[..., 7 + E]``.
"""
import numpy as np
import paddle

__all__ = ["DeltaXYZWLHRBBoxCoder"]


def _ops(x):
    if isinstance(x, paddle.Tensor):
        return paddle.sqrt, paddle.log, paddle.exp, lambda parts: paddle.concat(parts, axis=-1)
    return np.sqrt, np.log, np.exp, lambda parts: np.concatenate(parts, axis=-1)


def _split(boxes, name):
    if boxes.shape[-1] < 7:
        raise ValueError(f"DeltaXYZWLHRBBoxCoder: {name} must end in 7 (+ extra) values, "
                         f"got shape {list(boxes.shape)}")
    return [boxes[..., i:i + 1] for i in range(7)], boxes[..., 7:]


class DeltaXYZWLHRBBoxCoder:
    """Encode ground truth against anchors and decode predicted deltas back to boxes."""

    def __init__(self, code_size=7):
        self.code_size = int(code_size)

    @staticmethod
    def encode(src_boxes, dst_boxes):
        """Deltas that turn ``src_boxes`` (anchors) into ``dst_boxes`` (targets).

        Args:
            src_boxes: float [..., 7 + E] anchors (paddle Tensor or NumPy).
            dst_boxes: float [..., 7 + E] targets of the same kind and shape.

        Returns:
            float [..., 7 + E] deltas (dx, dy, dz, dl, dw, dh, dr, extra...).
        """
        sqrt, log, _, cat = _ops(src_boxes)
        (xa, ya, za, la, wa, ha, ra), ca = _split(src_boxes, "src_boxes")
        (xg, yg, zg, lg, wg, hg, rg), cg = _split(dst_boxes, "dst_boxes")
        za = za + ha / 2
        zg = zg + hg / 2
        diagonal = sqrt(la ** 2 + wa ** 2)
        parts = [(xg - xa) / diagonal, (yg - ya) / diagonal, (zg - za) / ha,
                 log(lg / la), log(wg / wa), log(hg / ha), rg - ra]
        if ca.shape[-1]:
            parts.append(cg - ca)
        return cat(parts)

    @staticmethod
    def decode(anchors, deltas):
        """Apply ``deltas`` to ``anchors``; the inverse of :meth:`encode`.

        Args:
            anchors: float [..., 7 + E] (paddle Tensor or NumPy).
            deltas: float [..., 7 + E] of the same kind and shape.

        Returns:
            float [..., 7 + E] boxes (x, y, z bottom, l, w, h, yaw, extra...).
        """
        sqrt, _, exp, cat = _ops(anchors)
        (xa, ya, za, la, wa, ha, ra), ca = _split(anchors, "anchors")
        (xt, yt, zt, lt, wt, ht, rt), ct = _split(deltas, "deltas")
        za = za + ha / 2
        diagonal = sqrt(la ** 2 + wa ** 2)
        hg = exp(ht) * ha
        parts = [xt * diagonal + xa, yt * diagonal + ya, zt * ha + za - hg / 2,
                 exp(lt) * la, exp(wt) * wa, hg, rt + ra]
        if ca.shape[-1]:
            parts.append(ct + ca)
        return cat(parts)

import numpy as np
import paddle

from paddlexseg.models.twodpass.spvcnn import SPVCNN

KW = dict(num_classes=5, input_dims=4, hidden_size=8, scale_list=[2, 4, 8, 16],
          spatial_shape=[40, 40, 8], min_volume=[-10, -10, -2], max_volume=[10, 10, 1])


def _points(n=600, seed=0):
    rng = np.random.default_rng(seed)
    xyz = rng.uniform([-10, -10, -2], [10, 10, 1], (n, 3))
    pts = np.concatenate([xyz, rng.uniform(0, 1, (n, 1))], 1).astype(np.float32)
    return paddle.to_tensor(pts), paddle.to_tensor(np.repeat([0, 1], [n // 2, n - n // 2]))


def test_forward_shapes_and_gradients():
    paddle.seed(0)
    net = SPVCNN(**KW)
    pts, bidx = _points()
    out = net(pts, bidx, 2)
    assert out["logits"].shape == [600, 5]
    assert [scale for _, scale in out["layers"]] == [1, 2, 4, 8]
    for (feat, scale) in out["layers"]:
        assert feat.shape == [out["voxels"][scale].num_voxels, 8]
    out["logits"].sum().backward()
    missing = [n for n, p in net.named_parameters() if not p.stop_gradient and p.grad is None]
    assert not missing


def test_per_voxel_shortcuts_equal_the_per_point_original():
    paddle.seed(1)
    net = SPVCNN(**KW)
    net.eval()
    pts, bidx = _points(seed=2)
    with paddle.no_grad():
        out = net(pts, bidx, 2)
        vox = out["voxels"]
        # recompute the blocks the original way: per-point layer_out and concat classifier
        sparse = net.voxel_3d_generator(pts, vox[1], 2)
        per_point = []
        for block in net.spv_enc:
            last, cur = vox[block.last_scale], vox[block.scale]
            v = block.v_enc(sparse)
            enc = block.p_enc
            feats = sparse.feats + v.feats
            coarse, inv = enc.downsample(last.coors, feats)
            output = paddle.concat([enc.layer_in(feats), paddle.gather(enc.PPmodel(coarse), inv)],
                                   axis=1)
            pt = enc.layer_out(paddle.gather(output, last.coors_inv)).numpy()   # [N, C]
            inv_cur = cur.coors_inv.numpy()
            p_fea = np.stack([pt[inv_cur == i].mean(0) for i in range(cur.num_voxels)])
            per_point.append(p_fea[inv_cur])
            _, _, sparse = block(sparse, vox)
            v_inv = np.stack([v.feats.numpy()[last.coors_inv.numpy()][inv_cur == i].mean(0)
                              for i in range(cur.num_voxels)])
            assert np.allclose(sparse.feats.numpy(), p_fea + v_inv, atol=1e-4)
        naive = net.classifier(paddle.to_tensor(np.concatenate(per_point, 1))).numpy()
    assert np.allclose(out["logits"].numpy(), naive, atol=1e-4)


def test_sublayer_names_follow_the_original():
    names = set(SPVCNN(**KW).state_dict())
    for key in ("voxel_3d_generator.PPmodel.0.weight", "spv_enc.0.v_enc.0.layers_in.0.weight",
                "spv_enc.0.v_enc.1.layers.3.weight", "spv_enc.3.v_enc.1.layers.4._mean",
                "spv_enc.2.p_enc.PPmodel.5.weight", "spv_enc.1.p_enc.layer_out.2.bias",
                "spv_enc.0.p_enc.layer_in.0.weight", "classifier.2.weight"):
        assert key in names, key

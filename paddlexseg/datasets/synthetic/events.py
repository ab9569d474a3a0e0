"""Synthetic event-camera place-recognition data in the preprocessed MVSEC layout.

A camera drives twice along the same street lined with building facades (a procedural world
fixed by ``seed``): once as ``outdoor_day2`` (database-like: bright, clean, fast) and once as
``outdoor_day1`` (other lane, slower with a stronger speed wobble, dimmer and hazier light, a
shaded left side, higher and more uneven contrast thresholds, many more noise events). The
facades are drawn from a few shared styles (``num_styles``: base and window albedo, window
grid, height), so a single building says little about where it is: a place is the sequence
of building widths and styles on both sides (perceptual aliasing, as on real streets).

Each traversal renders the log intensity seen through a pinhole camera every ``step`` metres
and emits an event wherever a pixel's log intensity moved by more than its contrast threshold
since its last event, with timestamps interpolated between the two frames (the ESIM idea,
vectorised per frame), plus uniform background-activity noise. The stream is cut into samples
(:class:`paddlexseg.datasets.mvsec.SequenceWriter`) and a GPS-like track is written: positions
along a gentle arc (radius ``arc_radius``), parameterised by the distance driven, with a
little Gaussian noise.

Two stretches of the street are driven: the evaluation stretch ``[0, route_length]`` as
``outdoor_day2`` / ``outdoor_day1`` and, after a ``train_gap``, a disjoint training stretch
of ``train_length`` metres as ``outdoor_day2_train`` / ``outdoor_day1_train`` (same
conditions, other places), so that training can see both conditions without seeing the
evaluation places.

CLI: :func:`main` (``main(["--root", "data/synthetic/event_vpr"])``), wired into
``tools/generate_synthetic.py``.
"""
import argparse
import os
import time

import numpy as np

from ..mvsec import SequenceWriter, write_track

__all__ = ["generate_event_vpr", "main", "TRAVERSALS", "TRAIN_SUFFIX"]

# name -> lighting and driving of one traversal. gain/offset/sky/haze: log(gain * albedo +
# offset), sky brightness, fog colour weight; shade: albedo factor of the left facades;
# threshold_scale/sigma: contrast threshold mean factor and per-pixel spread; noise_hz:
# background-activity events per pixel per second.
TRAVERSALS = {
    "outdoor_day2": dict(gain=1.0, offset=0.02, sky=1.0, haze=0.6, shade=1.0, lane=0.0,
                         speed=9.0, speed_wobble=0.10, threshold_scale=1.0, threshold_sigma=0.02,
                         noise_hz=0.02, t0=1506117898.0),
    "outdoor_day1": dict(gain=0.5, offset=0.05, sky=0.7, haze=0.8, shade=0.6, lane=1.0,
                         speed=5.5, speed_wobble=0.25, threshold_scale=1.2, threshold_sigma=0.06,
                         noise_hz=0.12, t0=1506112000.0),
}
TRAIN_SUFFIX = "_train"


class _Street:
    """The procedural world: facade and road albedo as vectorised functions of position.

    Buildings take one of ``num_styles`` shared styles (albedos, window grid, height); only
    their widths, window phase and order along each side are unique.
    """

    def __init__(self, seed, length, num_styles=4, left=6.0, right=7.0):
        # one random stream per array, so that a longer street extends a shorter one
        streams = iter(np.random.default_rng([seed, 1000 + j]) for j in range(20))
        self.left, self.right = left, right
        styles = {key: next(streams).uniform(lo, hi, num_styles)
                  for key, lo, hi in (("base", 0.25, 0.75), ("window", 0.03, 0.95),
                                      ("col", 1.6, 3.2), ("row", 2.4, 3.4), ("height", 5.0, 14.0))}
        self.edges, self.buildings = {}, {}
        for side in ("left", "right"):
            n = int(length / 6.0) + 8
            self.edges[side] = np.cumsum(next(streams).uniform(6.0, 15.0, n)) - 20.0  # starts, m
            style = np.minimum((next(streams).uniform(0, 1, n) * num_styles).astype(np.int64),
                               num_styles - 1)
            self.buildings[side] = {key: v[style] for key, v in styles.items()}
            self.buildings[side]["phase"] = next(streams).uniform(0.0, 1.0, n)
        self.patches = next(streams).uniform(0.3, 0.38, 2 * int(length) + 400)  # per 0.5 m

    def facade(self, side, s, z):
        """Albedo of a facade point (s along the street, height z); NaN above the roof."""
        b = self.buildings[side]
        i = np.clip(np.searchsorted(self.edges[side], s) - 1, 0, len(b["base"]) - 1)
        u = s - self.edges[side][i]
        fc = (u / b["col"][i] + b["phase"][i]) % 1.0
        fr = (z / b["row"][i]) % 1.0
        window = (fc > 0.25) & (fc < 0.75) & (fr > 0.35) & (fr < 0.8) & (z > 1.0)
        alb = np.where(window, b["window"][i], b["base"][i])
        return np.where(z <= b["height"][i], alb, np.nan)

    def road(self, s, lateral):
        """Albedo of the road surface with a dashed centre line."""
        cell = np.clip(np.floor(2 * s).astype(np.int64) + 200, 0, len(self.patches) - 1)
        alb = self.patches[cell]
        dash = (np.abs(lateral - 1.5) < 0.12) & ((s % 6.0) < 3.0)
        return np.where(dash, 0.95, alb)


def _ray_hits(street, width, height, focal, cam_lateral, cam_height=1.5, fog=45.0):
    """Per-pixel ray geometry (fixed while the camera only moves forward).

    Returns:
        dict of flat [H*W] arrays: forward offset ``ds`` of the hit, its ``z`` (facade height)
        or ``lat`` (road lateral), the surface id (0 sky, 1 left, 2 right, 3 road) and the
        fog weight ``1 - exp(-distance / fog)``.
    """
    v, u = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    d_lat = ((width - 1) / 2.0 - u.ravel()) / focal          # left is +
    d_up = ((height - 1) / 2.0 - v.ravel()) / focal
    inf = np.full(d_lat.shape, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_left = np.where(d_lat > 0, (street.left - cam_lateral) / d_lat, inf)
        t_right = np.where(d_lat < 0, (-street.right - cam_lateral) / d_lat, inf)
        t_road = np.where(d_up < 0, cam_height / -d_up, inf)
    t_wall = np.minimum(t_left, t_right)
    surface = np.where(t_left < t_right, 1, 2)
    surface = np.where(t_road < t_wall, 3, surface)
    t_hit = np.minimum(t_wall, t_road)
    surface = np.where(np.isfinite(t_hit), surface, 0)
    t_hit = np.where(np.isfinite(t_hit), t_hit, 1e6)
    return dict(ds=t_hit, z=cam_height + t_hit * d_up, lat=cam_lateral + t_hit * d_lat,
                surface=surface, fog=1.0 - np.exp(-t_hit * np.sqrt(1 + d_lat ** 2 + d_up ** 2)
                                                  / fog))


def _render_log(street, rays, s_cam, light):
    """Log intensity [H*W] with the camera at distance ``s_cam`` along the street."""
    s = s_cam + rays["ds"]
    alb = np.full(s.shape, np.nan)
    for sid, side in ((1, "left"), (2, "right")):
        m = rays["surface"] == sid
        alb[m] = street.facade(side, s[m], rays["z"][m]) * (light["shade"] if sid == 1 else 1.0)
    m = rays["surface"] == 3
    alb[m] = street.road(s[m], rays["lat"][m])
    alb = np.where(np.isnan(alb), light["sky"], alb)
    alb = alb * (1.0 - rays["fog"]) + light["haze"] * light["sky"] * rays["fog"]
    return np.log(light["gain"] * alb + light["offset"])


def _frame_events(prev, cur, ref, thr, t_prev, dt, max_per_pixel=8):
    """ESIM-style events between two log frames; updates ``ref`` in place.

    Returns:
        float64 [n, 4] (t, pixel index, 0, polarity) sorted by t.
    """
    diff = cur - ref
    n = np.minimum(np.floor(np.abs(diff) / thr), max_per_pixel).astype(np.int64)
    pix = np.flatnonzero(n)
    if pix.size == 0:
        return np.zeros((0, 4))
    counts = n[pix]
    rep = np.repeat(pix, counts)
    j = np.arange(rep.size) - np.repeat(np.cumsum(counts) - counts, counts) + 1   # 1..n
    sign = np.sign(diff[rep])
    level = ref[rep] + sign * j * thr[rep]
    step = cur[rep] - prev[rep]
    safe = np.where(np.abs(step) > 1e-12, step, 1.0)
    frac = np.clip(np.where(np.abs(step) > 1e-12, (level - prev[rep]) / safe, 1.0), 0.0, 1.0)
    ref[pix] += np.sign(diff[pix]) * counts * thr[pix]
    ev = np.stack([t_prev + frac * dt, rep.astype(np.float64), np.zeros(rep.size), sign], axis=1)
    return ev[np.argsort(ev[:, 0], kind="stable")]


def _traverse(street, light, rng, width, height, focal, start, length, step, threshold):
    """Drive ``length`` metres from ``start``.

    Returns:
        (events float64 [N, 4] (t, x, y, p), track [M, 2] (s, t)).
    """
    rays = _ray_hits(street, width, height, focal, light["lane"])
    thr = np.clip(rng.normal(threshold * light["threshold_scale"], light["threshold_sigma"],
                             width * height), 0.05, None)
    s_cam, t = float(start), light["t0"]
    prev = _render_log(street, rays, s_cam, light)
    ref = prev.copy()
    chunks, track = [], [(s_cam, t)]
    phase = rng.uniform(0, 2 * np.pi)
    while s_cam < start + length:
        speed = light["speed"] * (1.0 + light["speed_wobble"] * np.sin(s_cam / 9.0 + phase))
        dt = step / speed
        s_cam += step
        cur = _render_log(street, rays, s_cam, light)
        ev = _frame_events(prev, cur, ref, thr, t, dt)
        n_noise = rng.poisson(light["noise_hz"] * width * height * dt)
        if n_noise:
            noise = np.stack([t + rng.uniform(0, dt, n_noise),
                              rng.integers(0, width * height, n_noise).astype(np.float64),
                              np.zeros(n_noise), rng.choice([-1.0, 1.0], n_noise)], axis=1)
            ev = np.concatenate([ev, noise])
            ev = ev[np.argsort(ev[:, 0], kind="stable")]
        chunks.append(ev)
        prev, t = cur, t + dt
        track.append((s_cam, t))
    ev = np.concatenate(chunks)
    pix = ev[:, 1].astype(np.int64)
    ev[:, 1], ev[:, 2] = pix % width, pix // width
    return ev, np.array(track)


def generate_event_vpr(root, width=346, height=260, route_length=200.0, train_length=200.0,
                       train_gap=60.0, step=0.2, contrast_threshold=0.3, num_styles=4,
                       events_per_sample=15000, time_window=None, arc_radius=400.0,
                       gps_noise=0.2, gps_rate=10.0, seed=0,
                       traversals=("outdoor_day2", "outdoor_day1")):
    """Write a synthetic two-traversal event VPR dataset under ``root``.

    Args:
        root: output folder (preprocessed layout of :mod:`paddlexseg.datasets.mvsec`).
        width, height: sensor size in pixels (DAVIS 346: 346 x 260).
        route_length: metres of the evaluation stretch (sequences named as ``traversals``).
        train_length: metres of the training stretch (``<name>_train`` sequences), which
            starts ``train_gap`` metres after the evaluation stretch ends; 0 writes none.
        train_gap: metres between the two stretches (keep it above the negative radius).
        step: metres between rendered frames.
        contrast_threshold: mean log-intensity threshold of the pixels (scaled per traversal).
        num_styles: number of facade styles shared by all buildings.
        events_per_sample, time_window: how the stream is cut into samples.
        arc_radius: radius of the arc the GPS positions follow (metres).
        gps_noise: std of the Gaussian noise on GPS positions (metres).
        gps_rate: GPS fixes per second.
        seed: fixes the world and every traversal.
        traversals: names from :data:`TRAVERSALS`.

    Returns:
        dict ``{sequence name: number of samples}``.
    """
    if route_length <= 0 or train_length < 0 or train_gap < 0:
        raise ValueError(f"need route_length > 0, train_length >= 0 and train_gap >= 0, got "
                         f"{route_length}, {train_length}, {train_gap}")
    if int(num_styles) < 1:
        raise ValueError(f"num_styles must be >= 1, got {num_styles}")
    for name in traversals:
        if name not in TRAVERSALS:
            raise ValueError(f"unknown traversal {name!r}; known: {sorted(TRAVERSALS)}")
    names = [n + suffix for suffix in ("", TRAIN_SUFFIX)[:2 if train_length else 1]
             for n in traversals]
    for name in names:       # stale samples of another run would mix into the new sequences
        folder = os.path.join(root, name)
        if os.path.isdir(folder) and any(f.endswith(".npy") for f in os.listdir(folder)):
            raise FileExistsError(f"{folder}: already holds samples; remove {root} (or pick "
                                  f"another --out folder) before generating")
    train_start = route_length + train_gap
    street = _Street(seed, train_start + train_length if train_length else route_length,
                     int(num_styles))
    focal = 0.65 * width
    stretches = [("", 0.0, route_length, 0)]
    if train_length:
        stretches.append((TRAIN_SUFFIX, train_start, train_length, 100))
    counts = {}
    for suffix, start, length, key in stretches:
        for k, name in enumerate(traversals):
            light = dict(TRAVERSALS[name])
            light["t0"] += 10 * key                       # the training drives come later
            trng = np.random.default_rng([seed, k + key])
            events, drive = _traverse(street, light, trng, width, height, focal, start, length,
                                      step, contrast_threshold)
            writer = SequenceWriter(root, name + suffix, events_per_sample, time_window)
            counts[name + suffix] = len(writer.add(events).close())
            t_gps = np.arange(drive[0, 1], drive[-1, 1], 1.0 / gps_rate)
            s_gps = np.interp(t_gps, drive[:, 1], drive[:, 0])
            x = arc_radius * np.sin(s_gps / arc_radius) + trng.normal(0, gps_noise, len(s_gps))
            y = arc_radius * (1 - np.cos(s_gps / arc_radius)) + trng.normal(0, gps_noise,
                                                                            len(s_gps))
            write_track(root, name + suffix, np.stack([x, y, t_gps], axis=1))
    return counts


def main(argv=None):
    """CLI: generate the synthetic event VPR dataset; prints samples per sequence."""
    p = argparse.ArgumentParser(description="Generate synthetic event-camera VPR data "
                                            "(preprocessed MVSEC layout).")
    p.add_argument("--out", "--root", dest="root", required=True, help="output folder")
    p.add_argument("--width", type=int, default=346)
    p.add_argument("--height", type=int, default=260)
    p.add_argument("--route_length", type=float, default=200.0,
                   help="metres of the evaluation stretch per traversal")
    p.add_argument("--train_length", type=float, default=200.0,
                   help="metres of the disjoint training stretch per traversal (0: none)")
    p.add_argument("--step", type=float, default=0.2, help="metres between rendered frames")
    p.add_argument("--num_styles", type=int, default=4, help="facade styles shared by buildings")
    p.add_argument("--events_per_sample", type=int, default=15000)
    p.add_argument("--time_window", type=float, default=None, help="seconds per sample "
                   "(instead of a fixed event count)")
    p.add_argument("--contrast_threshold", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    start = time.time()
    counts = generate_event_vpr(args.root, width=args.width, height=args.height,
                                route_length=args.route_length, train_length=args.train_length,
                                step=args.step, num_styles=args.num_styles,
                                contrast_threshold=args.contrast_threshold,
                                events_per_sample=args.events_per_sample,
                                time_window=args.time_window, seed=args.seed)
    for name, n in counts.items():
        print(f"{name}: {n} samples")
    print(f"wrote {args.root} in {time.time() - start:.1f} s")
    return counts


if __name__ == "__main__":
    main()

//! Global translation between two frames, by exhaustive search on a coarse pyramid level: the initial vector that
//! lets DIS ([`crate::DisParams::global_init`]) follow motions larger than its pyramid reaches.
//!
//! On a level whose shorter side is about [`SEARCH_SIDE`] pixels every integer shift that keeps at least
//! [`MIN_OVERLAP`] of the frame overlapping is scored by the variance of the difference over the overlap (the
//! mean-normalised SSD, robust to a brightness offset); the best shift is doubled and refined by ±1 px on each finer
//! level down to the level where the patch search starts, where a parabola through the neighbouring scores gives the
//! sub-pixel part. Sequential and exact: the result does not depend on threads.

use crate::plane::Plane;

/// Shorter side (pixels) of the level of the exhaustive search: the deepest level at least this large.
pub(crate) const SEARCH_SIDE: usize = 12;

/// Smallest overlap of the two frames, as a fraction of the frame, of a scored shift.
pub(crate) const MIN_OVERLAP: f64 = 0.5;

/// The level of the exhaustive search for a `w`×`h` frame (0 when the frame is already small).
pub(crate) fn search_level(w: usize, h: usize) -> usize {
    let mut l = 0;
    let mut m = w.min(h);
    while m / 2 >= SEARCH_SIDE {
        m /= 2;
        l += 1;
    }
    l
}

/// Variance of `b(x + d) − a(x)` over the overlap, or `None` when the overlap is below [`MIN_OVERLAP`].
fn score(a: &Plane, b: &Plane, dx: i64, dy: i64) -> Option<f64> {
    let (w, h) = (a.w as i64, a.h as i64);
    let (x0, x1) = (0.max(-dx), w.min(w - dx));
    let (y0, y1) = (0.max(-dy), h.min(h - dy));
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let count = ((x1 - x0) * (y1 - y0)) as f64;
    if count < MIN_OVERLAP * (w * h) as f64 {
        return None;
    }
    let (mut s, mut s2) = (0.0f64, 0.0f64);
    for y in y0..y1 {
        let ra = &a.data[(y * w + x0) as usize..(y * w + x1) as usize];
        let ob = ((y + dy) * w + x0 + dx) as usize;
        let rb = &b.data[ob..ob + ra.len()];
        let (mut ls, mut ls2) = (0.0f32, 0.0f32);
        for (p, q) in ra.iter().zip(rb) {
            let d = q - p;
            ls += d;
            ls2 += d * d;
        }
        s += ls as f64;
        s2 += ls2 as f64;
    }
    let mean = s / count;
    Some(s2 / count - mean * mean)
}

/// The best integer shift among `candidates` (ties: the earlier one), with its score.
fn best_of(a: &Plane, b: &Plane, candidates: impl Iterator<Item = (i64, i64)>) -> Option<((i64, i64), f64)> {
    let mut best: Option<((i64, i64), f64)> = None;
    for d in candidates {
        if let Some(c) = score(a, b, d.0, d.1) {
            if best.is_none_or(|(_, bc)| c < bc) {
                best = Some((d, c));
            }
        }
    }
    best
}

/// Sub-pixel offset in (−0.5, 0.5) of the minimum of a parabola through three scores at −1, 0, +1.
fn parabola(lo: Option<f64>, mid: f64, hi: Option<f64>) -> f64 {
    match (lo, hi) {
        (Some(l), Some(h)) => {
            let den = l - 2.0 * mid + h;
            if den > 0.0 {
                (0.5 * (l - h) / den).clamp(-0.5, 0.5)
            } else {
                0.0
            }
        }
        _ => 0.0,
    }
}

/// Number of translations kept from the exhaustive search (the best local minima of its score map): a scene with
/// depth moves in layers (a far wall one way, the floor near the camera the other way when the camera orbits), each
/// layer a local minimum of the global score.
pub(crate) const HYPOTHESES: usize = 4;

/// Translations `d` with `frame2(x + d) ≈ frame1(x)` on parts of the frame, best first, in pixels of level
/// `target`, from the images of levels `target..=target + a.len() - 1` (`a[i]`, `b[i]` hold level `target + i`;
/// the last is searched exhaustively, its [`HYPOTHESES`] best local minima refined on the finer levels).
pub(crate) fn global_shifts(a: &[&Plane], b: &[&Plane]) -> Vec<[f32; 2]> {
    let top = a.len() - 1;
    let (w, h) = (a[top].w as i64, a[top].h as i64);
    let (mw, mh) = (2 * w - 1, 2 * h - 1);
    let map: Vec<Option<f64>> =
        (0..mh * mw).map(|k| score(a[top], b[top], k % mw - (w - 1), k / mw - (h - 1))).collect();
    let at = |dx: i64, dy: i64| {
        let (x, y) = (dx + w - 1, dy + h - 1);
        if (0..mw).contains(&x) && (0..mh).contains(&y) {
            map[(y * mw + x) as usize]
        } else {
            None
        }
    };
    // Local minima (strictly below the neighbours that come earlier in scan order, not above the later ones).
    let mut minima: Vec<((i64, i64), f64)> = Vec::new();
    for dy in -(h - 1)..h {
        for dx in -(w - 1)..w {
            let Some(c) = at(dx, dy) else { continue };
            let is_min =
                [(-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)].iter().all(|&(x, y)| {
                    let earlier = (y, x) < (0, 0);
                    at(dx + x, dy + y).is_none_or(|o| if earlier { c < o } else { c <= o })
                });
            if is_min {
                minima.push(((dx, dy), c));
            }
        }
    }
    minima.sort_by(|x, y| x.1.total_cmp(&y.1).then((x.0 .0.abs() + x.0 .1.abs()).cmp(&(y.0 .0.abs() + y.0 .1.abs()))));
    minima.truncate(HYPOTHESES);
    let mut out: Vec<[f32; 2]> = Vec::with_capacity(minima.len());
    for (d0, _) in minima {
        let d = refine(a, b, d0);
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

/// Refines an integer shift of the coarsest of the levels `a`/`b` by ±1 px on each finer level, with a sub-pixel
/// parabola on the finest.
fn refine(a: &[&Plane], b: &[&Plane], mut d: (i64, i64)) -> [f32; 2] {
    for l in (0..a.len() - 1).rev() {
        let c = (2 * d.0, 2 * d.1);
        let near = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, -1), (-1, 1), (1, 1)];
        d = best_of(a[l], b[l], near.iter().map(|&(x, y)| (c.0 + x, c.1 + y))).map_or(c, |r| r.0);
    }
    let Some(mid) = score(a[0], b[0], d.0, d.1) else {
        return [d.0 as f32, d.1 as f32];
    };
    let fx = parabola(score(a[0], b[0], d.0 - 1, d.1), mid, score(a[0], b[0], d.0 + 1, d.1));
    let fy = parabola(score(a[0], b[0], d.0, d.1 - 1), mid, score(a[0], b[0], d.0, d.1 + 1));
    [(d.0 as f64 + fx) as f32, (d.1 as f64 + fy) as f32]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texture(w: usize, h: usize, dx: f32, dy: f32) -> Plane {
        let t = crate::synthetic::Texture::new(5);
        let mut p = Plane::zeros(w, h);
        for y in 0..h {
            for x in 0..w {
                p.data[y * w + x] = 255.0 * t.at(x as f32 - dx, y as f32 - dy);
            }
        }
        p
    }

    /// A texture moved by a third of the frame: the pyramid search finds the shift to a fraction of a pixel.
    #[test]
    fn finds_a_large_translation() {
        let (w, h) = (48, 40);
        for (dx, dy) in [(16.0f32, 0.0f32), (-13.4, 2.7), (0.0, 0.0), (5.5, -9.25)] {
            let a0 = texture(w, h, 0.0, 0.0);
            let b0 = texture(w, h, dx, dy);
            let levels = search_level(w, h);
            let (mut a, mut b) = (vec![a0], vec![b0]);
            for _ in 0..levels {
                a.push(a.last().unwrap().downsample2());
                b.push(b.last().unwrap().downsample2());
            }
            let g = global_shifts(&a.iter().collect::<Vec<_>>(), &b.iter().collect::<Vec<_>>())[0];
            assert!((g[0] - dx).abs() < 0.35 && (g[1] - dy).abs() < 0.35, "true ({dx}, {dy}), found {g:?}");
        }
    }

    #[test]
    fn search_level_keeps_the_side() {
        assert_eq!(search_level(48, 48), 2);
        assert_eq!(search_level(40, 40), 1);
        assert_eq!(search_level(32, 32), 1);
        assert_eq!(search_level(64, 64), 2);
        assert_eq!(search_level(20, 20), 0);
    }
}

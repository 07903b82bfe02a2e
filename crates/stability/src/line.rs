//! Exact decisions along lines: does moving one pixel (or a point of a 2-pixel square) inside its range change
//! the label?
//!
//! Along a line `x(t) = x + δ(t)` every pre-activation is piecewise affine in `t`; its pieces end where some
//! pre-activation crosses 0. [`LineWalker`] walks the pieces from one end of the segment to the other: on each piece
//! the activation pattern is fixed, so every logit is `a + d·t` and the margin `min_j (logit_c − logit_j)`, a
//! minimum of affine functions, is smallest at one of the piece's ends. The label changes somewhere on the segment
//! iff the margin is negative at some piece end — an exact decision up to floating-point rounding (f64).
//!
//! Only the neurons a moved pixel reaches are recomputed (its cone through the sparse layers), relative to the
//! pre-activations at `x`. Before walking, interval bounds over the same cone (the segment as a 1-D box) settle
//! most segments at the cost of one piece: when they prove the margin positive on the whole segment there is no
//! flip, and the pixel is effective when the input gradient of some logit at `x` is non-zero in that pixel
//! (otherwise the walk decides).

use crate::net::Net;

/// Most pieces walked on one segment (a guard; real segments cross far fewer breakpoints).
pub const MAX_PIECES: usize = 1_000_000;

/// What the walk along one segment found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineOutcome {
    /// Some logit has a non-zero slope on some piece of the segment (the logits are not constant on it).
    pub effective: bool,
    /// A point `t` of the segment where another class strictly beats the true class, if any (the walk stops there).
    pub flip: Option<f64>,
    /// Linear pieces visited.
    pub pieces: usize,
}

/// Walks lines through one image `x` of class `class` (reusable scratch space; one per thread).
pub struct LineWalker<'a> {
    net: &'a Net,
    class: usize,
    /// Pre-activations at `x`, per layer.
    base: Vec<Vec<f64>>,
    /// Per layer: accumulated change of the pre-activation (`a`, `d`) and the list of touched neurons.
    acc_a: Vec<Vec<f64>>,
    acc_d: Vec<Vec<f64>>,
    touched: Vec<Vec<u32>>,
    mark: Vec<Vec<bool>>,
    /// Per input: some logit's gradient at `x` is non-zero there.
    grad_nonzero: Vec<bool>,
    /// `logit_class − logit_j` at `x`.
    base_margins: Vec<f64>,
}

impl<'a> LineWalker<'a> {
    pub fn new(net: &'a Net, x: &[f64], class: usize) -> Self {
        let base = net.pre_activations(x);
        let widths: Vec<usize> = net.layers().iter().map(|l| l.n_out()).collect();
        LineWalker {
            net,
            class,
            base,
            acc_a: widths.iter().map(|&w| vec![0.0; w]).collect(),
            acc_d: widths.iter().map(|&w| vec![0.0; w]).collect(),
            touched: widths.iter().map(|_| Vec::new()).collect(),
            mark: widths.iter().map(|&w| vec![false; w]).collect(),
            grad_nonzero: net.jacobian(x).iter().fold(vec![false; x.len()], |mut acc, row| {
                acc.iter_mut().zip(row).for_each(|(a, g)| *a |= *g != 0.0);
                acc
            }),
            base_margins: Vec::new(),
        }
        .with_margins()
    }

    fn with_margins(mut self) -> Self {
        let l = self.base_logits();
        self.base_margins = l.iter().map(|v| l[self.class] - v).collect();
        self
    }

    /// Whether interval bounds over the cone of `input` (`(i, lo, hi)`: input `i` moved by an offset in
    /// `[lo, hi]`, others fixed) prove every margin positive; the last layer is folded into the margins.
    pub fn box_certified(&mut self, input: &[(usize, f64, f64)]) -> bool {
        let layers = self.net.layers();
        let last = layers.len() - 1;
        if last == 0 {
            return false; // a single affine map: the walk is one piece anyway
        }
        self.clear();
        // acc_a / acc_d hold the lower / upper change of each touched pre-activation.
        for &(i, lo, hi) in input {
            for &(o, w) in layers[0].col(i) {
                let (a, b) = if w > 0.0 { (w * lo, w * hi) } else { (w * hi, w * lo) };
                self.add(0, o, a, b);
            }
        }
        let k_classes = self.net.n_classes();
        let mut margin_lower = self.base_margins.clone();
        let mut w_by_class = vec![0.0; k_classes];
        for k in 0..last {
            for idx in 0..self.touched[k].len() {
                let o = self.touched[k][idx] as usize;
                let base = self.base[k][o];
                let bh = base.max(0.0);
                let (dl, du) = ((base + self.acc_a[k][o]).max(0.0) - bh, (base + self.acc_d[k][o]).max(0.0) - bh);
                if dl == 0.0 && du == 0.0 {
                    continue;
                }
                if k + 1 == last {
                    w_by_class.iter_mut().for_each(|v| *v = 0.0);
                    layers[last].col(o).iter().for_each(|&(c, w)| w_by_class[c as usize] = w);
                    for (j, m) in margin_lower.iter_mut().enumerate() {
                        let coef = w_by_class[self.class] - w_by_class[j];
                        *m += if coef > 0.0 { coef * dl } else { coef * du };
                    }
                } else {
                    for &(c, w) in layers[k + 1].col(o) {
                        let (a, b) = if w > 0.0 { (w * dl, w * du) } else { (w * du, w * dl) };
                        self.add(k + 1, c, a, b);
                    }
                }
            }
        }
        margin_lower.iter().enumerate().all(|(j, &m)| j == self.class || m > 0.0)
    }

    /// Whether some logit's gradient at `x` is non-zero in input `i` (such an input is effective at every ε).
    pub fn grad_nonzero(&self, i: usize) -> bool {
        self.grad_nonzero[i]
    }

    /// Per-pixel flips of `x` at every budget of `eps` (any order): `out[e][i]` is −1 (not effective), 0
    /// (effective, no flip) or 1 (flips), exactly as [`LineWalker::pixel`] decides, plus the pieces walked per
    /// budget. Budgets are visited from the largest down and a pixel's answer is reused at a smaller budget when it
    /// cannot change there: its segments are nested, so no flip on the larger one means none on the smaller, and a
    /// pixel is effective at every budget when the gradient at `x` moves it and at none when the larger segment
    /// does not move the logits. `certified[e]`: the whole ε-box is already proven label-preserving, so no segment
    /// inside it flips (only effectiveness is left to decide).
    pub fn pixel_maps(&mut self, x: &[f64], eps: &[f64], certified: &[bool]) -> (Vec<Vec<i8>>, Vec<usize>) {
        let mut order: Vec<usize> = (0..eps.len()).collect();
        order.sort_by(|&a, &b| eps[b].total_cmp(&eps[a]));
        let mut maps = vec![Vec::new(); eps.len()];
        let mut pieces = vec![0; eps.len()];
        let mut prev: Option<usize> = None;
        for &e in &order {
            let mut map = Vec::with_capacity(x.len());
            let previous: Option<Vec<i8>> = prev.map(|p: usize| std::mem::take(&mut maps[p]));
            for i in 0..x.len() {
                let reuse = previous.as_ref().map(|p| p[i]).filter(|&f| f == -1 || (f == 0 && self.grad_nonzero[i]));
                let f = match reuse {
                    Some(f) => f,
                    None if certified[e] && self.grad_nonzero[i] => 0,
                    None => {
                        let o = self.pixel(x, i, eps[e]);
                        pieces[e] += o.pieces;
                        if o.effective {
                            i8::from(o.flip.is_some())
                        } else {
                            -1
                        }
                    }
                };
                map.push(f);
            }
            if let (Some(p), Some(v)) = (prev, previous) {
                maps[p] = v;
            }
            maps[e] = map;
            prev = Some(e);
        }
        (maps, pieces)
    }

    /// Logits at `x`.
    pub fn base_logits(&self) -> &[f64] {
        &self.base[self.base.len() - 1]
    }

    fn add(&mut self, k: usize, o: u32, a: f64, d: f64) {
        let o_us = o as usize;
        if !self.mark[k][o_us] {
            self.mark[k][o_us] = true;
            self.touched[k].push(o);
        }
        self.acc_a[k][o_us] += a;
        self.acc_d[k][o_us] += d;
    }

    fn clear(&mut self) {
        for k in 0..self.touched.len() {
            for &o in &self.touched[k] {
                let o = o as usize;
                self.mark[k][o] = false;
                self.acc_a[k][o] = 0.0;
                self.acc_d[k][o] = 0.0;
            }
            self.touched[k].clear();
        }
    }

    /// One piece starting at `t0`: fills `logit_a/logit_d` (logits `a + d t` on the piece) and returns the end of
    /// the piece (the next breakpoint after `t0`, or `f64::INFINITY`).
    fn piece(&mut self, input: &[(usize, f64, f64)], t0: f64, logit_a: &mut [f64], logit_d: &mut [f64]) -> f64 {
        let net = self.net;
        let layers = net.layers();
        let last = layers.len() - 1;
        self.clear();
        for &(i, a, d) in input {
            for &(o, w) in layers[0].col(i) {
                self.add(0, o, w * a, w * d);
            }
        }
        let mut next = f64::INFINITY;
        for k in 0..last {
            for idx in 0..self.touched[k].len() {
                let o = self.touched[k][idx] as usize;
                let base = self.base[k][o];
                let za = base + self.acc_a[k][o];
                let zd = self.acc_d[k][o];
                let v = za + zd * t0;
                let tol = 1e-12 * (1.0 + za.abs() + (zd * t0).abs());
                let active = v > tol || (v.abs() <= tol && zd > 0.0);
                if zd != 0.0 {
                    let tc = -za / zd;
                    if tc > t0 + 1e-13 * (1.0 + t0.abs()) && tc < next {
                        next = tc;
                    }
                }
                let (ha, hd) = if active { (za, zd) } else { (0.0, 0.0) };
                let da = ha - base.max(0.0);
                if da != 0.0 || hd != 0.0 {
                    for &(c, w) in layers[k + 1].col(o) {
                        self.add(k + 1, c, w * da, w * hd);
                    }
                }
            }
        }
        logit_a.copy_from_slice(&self.base[last]);
        logit_d.iter_mut().for_each(|v| *v = 0.0);
        for &o in &self.touched[last] {
            let o = o as usize;
            logit_a[o] += self.acc_a[last][o];
            logit_d[o] = self.acc_d[last][o];
        }
        next
    }

    /// Walks the segment `t ∈ [lo, hi]` of the line whose input change is `Σ (a + d t) e_i` over `input`'s
    /// `(i, a, d)` entries.
    pub fn walk(&mut self, input: &[(usize, f64, f64)], lo: f64, hi: f64) -> LineOutcome {
        let k = self.net.n_classes();
        let (mut la, mut ld) = (vec![0.0; k], vec![0.0; k]);
        let mut out = LineOutcome { effective: false, flip: None, pieces: 0 };
        let mut t0 = lo;
        while out.pieces < MAX_PIECES {
            let next = self.piece(input, t0, &mut la, &mut ld);
            out.pieces += 1;
            let t1 = next.min(hi);
            if ld.iter().any(|&d| d != 0.0) {
                out.effective = true;
            }
            for t in [t0, t1] {
                if margin_at(&la, &ld, self.class, t) < 0.0 {
                    out.effective = true;
                    out.flip = Some(t);
                    return out;
                }
            }
            if t1 >= hi {
                break;
            }
            t0 = t1;
        }
        out
    }

    /// One pixel `i` moved alone over `[x_i − eps, x_i + eps] ∩ [0, 1]` (offsets `t` from `x_i`).
    pub fn pixel(&mut self, x: &[f64], i: usize, eps: f64) -> LineOutcome {
        let (lo, hi) = pixel_range(x[i], eps);
        if self.grad_nonzero[i] && self.box_certified(&[(i, lo, hi)]) {
            return LineOutcome { effective: true, flip: None, pieces: 0 };
        }
        self.walk(&[(i, 0.0, 1.0)], lo, hi)
    }
}

/// Offsets `[lo, hi]` that keep `x_i + t` in `[x_i − eps, x_i + eps] ∩ [0, 1]`.
pub fn pixel_range(xi: f64, eps: f64) -> (f64, f64) {
    ((-eps).max(-xi), eps.min(1.0 - xi))
}

fn margin_at(la: &[f64], ld: &[f64], class: usize, t: f64) -> f64 {
    let c = la[class] + ld[class] * t;
    la.iter()
        .zip(ld)
        .enumerate()
        .filter(|(j, _)| *j != class)
        .map(|(_, (a, d))| c - (a + d * t))
        .fold(f64::INFINITY, f64::min)
}

/// Whether some point of the square `[x_i ± eps] × [x_j ± eps]` (∩ [0, 1]², others fixed) changes the label,
/// decided on `2 (lines + 1)` segments: the two axes through `x` and `lines` evenly spaced segments in each
/// direction, each decided exactly along its length. A flip found is real; a flip confined between the segments is
/// missed, so this is a lower bound of the square's flip (and at least the OR of the two single-pixel flips).
pub fn pair_flip(walker: &mut LineWalker, x: &[f64], i: usize, j: usize, eps: f64, lines: usize) -> bool {
    let (ri, rj) = (pixel_range(x[i], eps), pixel_range(x[j], eps));
    if walker.box_certified(&[(i, ri.0, ri.1), (j, rj.0, rj.1)]) {
        return false;
    }
    for (fixed, moving, (flo, fhi), (mlo, mhi)) in [(i, j, ri, rj), (j, i, rj, ri)] {
        let steps = lines.max(2) - 1;
        let offsets = std::iter::once(0.0).chain((0..=steps).map(|s| flo + (fhi - flo) * s as f64 / steps as f64));
        for s in offsets {
            if walker.walk(&[(fixed, s, 0.0), (moving, 0.0, 1.0)], mlo, mhi).flip.is_some() {
                return true;
            }
        }
    }
    false
}

//! Szegedy et al.'s box-constrained minimal perturbation, solved by a batched projected L-BFGS (see the parent
//! module's docs for what is simplified).

use super::quantize::finalize;
use super::AttackOptions;
use crate::error::Result;
use crate::model::{argmax, Classifier};

/// Batched projected L-BFGS on `f(r) = c ‖r‖² − log p(target | x + r)`, `x + r ∈ [0, 1]`, for every row at once.
struct Lbfgs {
    memory: usize,
}

/// An accepted line-search step: new perturbation, objective, gradient.
type Accepted = (Vec<f32>, f64, Vec<f32>);

struct LbfgsState {
    r: Vec<f32>,
    f: f64,
    g: Vec<f32>,
    s: Vec<Vec<f32>>,
    y: Vec<Vec<f32>>,
    done: bool,
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (*x as f64) * (*y as f64)).sum()
}

impl Lbfgs {
    /// Objective and gradient for rows `x + r` with penalties `c`.
    fn eval(
        model: &Classifier,
        clean: &ndarray::Array2<f32>,
        rows: &[usize],
        rs: &[&[f32]],
        c: &[f64],
        target: &[usize],
    ) -> Result<Vec<(f64, Vec<f32>)>> {
        let d = clean.ncols();
        let mut x = ndarray::Array2::<f32>::zeros((rows.len(), d));
        for (j, &k) in rows.iter().enumerate() {
            x.row_mut(j).iter_mut().zip(clean.row(k)).zip(rs[j]).for_each(|((v, c0), r)| *v = c0 + r);
        }
        let t: Vec<usize> = rows.iter().map(|&k| target[k]).collect();
        let (logp, g, _) = model.log_prob_grad(x.view(), &t)?;
        Ok(rows
            .iter()
            .enumerate()
            .map(|(j, &k)| {
                let r = rs[j];
                let f = c[k] * dot(r, r) - logp[j] as f64;
                let grad = r.iter().zip(g.row(j)).map(|(ri, gi)| (2.0 * c[k]) as f32 * ri - gi).collect();
                (f, grad)
            })
            .collect())
    }

    /// Free-variable mask: a variable at a bound whose gradient pushes it outward is held.
    fn free(clean: ndarray::ArrayView1<f32>, r: &[f32], g: &[f32]) -> Vec<bool> {
        clean
            .iter()
            .zip(r)
            .zip(g)
            .map(|((c, ri), gi)| {
                let x = c + ri;
                !((x <= 0.0 && *gi > 0.0) || (x >= 1.0 && *gi < 0.0))
            })
            .collect()
    }

    fn direction(&self, st: &LbfgsState, free: &[bool]) -> Vec<f32> {
        let mut q: Vec<f64> = st.g.iter().zip(free).map(|(g, f)| if *f { *g as f64 } else { 0.0 }).collect();
        let m = st.s.len();
        let mut alpha = vec![0f64; m];
        let masked =
            |v: &[f32]| -> Vec<f64> { v.iter().zip(free).map(|(x, f)| if *f { *x as f64 } else { 0.0 }).collect() };
        let ss: Vec<Vec<f64>> = st.s.iter().map(|v| masked(v)).collect();
        let ys: Vec<Vec<f64>> = st.y.iter().map(|v| masked(v)).collect();
        let rho: Vec<f64> = (0..m).map(|i| 1.0 / ss[i].iter().zip(&ys[i]).map(|(a, b)| a * b).sum::<f64>()).collect();
        for i in (0..m).rev() {
            if !rho[i].is_finite() || rho[i] <= 0.0 {
                continue;
            }
            alpha[i] = rho[i] * ss[i].iter().zip(&q).map(|(a, b)| a * b).sum::<f64>();
            q.iter_mut().zip(&ys[i]).for_each(|(qv, yv)| *qv -= alpha[i] * yv);
        }
        if m > 0 {
            let yy: f64 = ys[m - 1].iter().map(|v| v * v).sum();
            let sy = 1.0 / rho[m - 1];
            if yy > 0.0 && sy > 0.0 && sy.is_finite() {
                q.iter_mut().for_each(|v| *v *= sy / yy);
            }
        }
        for i in 0..m {
            if !rho[i].is_finite() || rho[i] <= 0.0 {
                continue;
            }
            let beta = rho[i] * ys[i].iter().zip(&q).map(|(a, b)| a * b).sum::<f64>();
            q.iter_mut().zip(&ss[i]).for_each(|(qv, sv)| *qv += (alpha[i] - beta) * sv);
        }
        q.iter().map(|v| -*v as f32).collect()
    }

    /// Minimises for every row (warm start r = 0) with `iters` iterations at most.
    fn solve(
        &self,
        model: &Classifier,
        clean: &ndarray::Array2<f32>,
        c: &[f64],
        target: &[usize],
        iters: usize,
    ) -> Result<Vec<Vec<f32>>> {
        let (n, d) = clean.dim();
        let all: Vec<usize> = (0..n).collect();
        let zeros = vec![0f32; d];
        let init = Self::eval(model, clean, &all, &vec![zeros.as_slice(); n], c, target)?;
        let mut st: Vec<LbfgsState> = init
            .into_iter()
            .map(|(f, g)| LbfgsState { r: vec![0.0; d], f, g, s: Vec::new(), y: Vec::new(), done: false })
            .collect();
        for _ in 0..iters {
            let active: Vec<usize> = (0..n).filter(|&k| !st[k].done).collect();
            if active.is_empty() {
                break;
            }
            // Directions (descent is enforced by falling back to the projected gradient).
            let mut dirs: Vec<Vec<f32>> = Vec::with_capacity(active.len());
            for &k in &active {
                let free = Self::free(clean.row(k), &st[k].r, &st[k].g);
                let mut p = self.direction(&st[k], &free);
                if dot(&p, &st[k].g) >= 0.0 {
                    st[k].s.clear();
                    st[k].y.clear();
                    p = st[k].g.iter().zip(&free).map(|(g, f)| if *f { -g } else { 0.0 }).collect();
                }
                if st[k].s.is_empty() {
                    // First step (or after a reset): unit-length in L∞ units of one grey level.
                    let m = p.iter().fold(0f32, |a, v| a.max(v.abs()));
                    if m > 0.0 {
                        p.iter_mut().for_each(|v| *v *= (1.0 / 255.0) / m);
                    }
                }
                dirs.push(p);
            }
            // Projected Armijo backtracking, batched over the rows still searching.
            let mut t = vec![1f32; active.len()];
            let mut accepted: Vec<Option<Accepted>> = vec![None; active.len()];
            for _ in 0..20 {
                let pending: Vec<usize> = (0..active.len()).filter(|&j| accepted[j].is_none()).collect();
                if pending.is_empty() {
                    break;
                }
                let trials: Vec<Vec<f32>> = pending
                    .iter()
                    .map(|&j| {
                        let k = active[j];
                        st[k]
                            .r
                            .iter()
                            .zip(&dirs[j])
                            .zip(clean.row(k))
                            .map(|((r, p), c)| (c + r + t[j] * p).clamp(0.0, 1.0) - c)
                            .collect()
                    })
                    .collect();
                let rows: Vec<usize> = pending.iter().map(|&j| active[j]).collect();
                let refs: Vec<&[f32]> = trials.iter().map(|v| v.as_slice()).collect();
                let evals = Self::eval(model, clean, &rows, &refs, c, target)?;
                for ((&j, trial), (f, g)) in pending.iter().zip(trials).zip(evals) {
                    let k = active[j];
                    let step: Vec<f32> = trial.iter().zip(&st[k].r).map(|(a, b)| a - b).collect();
                    let decrease = dot(&st[k].g, &step);
                    if f <= st[k].f + 1e-4 * decrease || t[j] < 1e-6 {
                        accepted[j] = Some((trial, f, g));
                    } else {
                        t[j] *= 0.5;
                    }
                }
            }
            for (j, &k) in active.iter().enumerate() {
                let Some((r_new, f_new, g_new)) = accepted[j].take() else {
                    st[k].done = true;
                    continue;
                };
                let s: Vec<f32> = r_new.iter().zip(&st[k].r).map(|(a, b)| a - b).collect();
                let yv: Vec<f32> = g_new.iter().zip(&st[k].g).map(|(a, b)| a - b).collect();
                let improvement = st[k].f - f_new;
                if dot(&s, &yv) > 1e-12 {
                    st[k].s.push(s.clone());
                    st[k].y.push(yv);
                    if st[k].s.len() > self.memory {
                        st[k].s.remove(0);
                        st[k].y.remove(0);
                    }
                }
                let moved = s.iter().fold(0f32, |a, v| a.max(v.abs()));
                st[k].r = r_new;
                st[k].f = f_new;
                st[k].g = g_new;
                if moved < 1e-6 || improvement.abs() < 1e-9 * (1.0 + f_new.abs()) {
                    st[k].done = true;
                }
            }
        }
        Ok(st.into_iter().map(|s| s.r).collect())
    }
}

pub(super) fn lbfgs(
    model: &Classifier,
    clean: &ndarray::Array2<f32>,
    y: &[usize],
    opts: &AttackOptions,
) -> Result<ndarray::Array2<f32>> {
    let (n, d) = clean.dim();
    if n == 0 {
        return Ok(clean.clone());
    }
    // Target: the runner-up class of the clean image.
    let probs = model.predict_proba(clean.view())?;
    let target: Vec<usize> = (0..n)
        .map(|k| {
            let mut row = probs.row(k).to_vec();
            row[y[k]] = f32::NEG_INFINITY;
            argmax(&row).0
        })
        .collect();
    let solver = Lbfgs { memory: 10 };
    let mut c = vec![1.0f64; n];
    let mut c_ok: Vec<Option<f64>> = vec![None; n];
    let mut c_fail: Vec<Option<f64>> = vec![None; n];
    let mut best: Vec<Option<(f32, Vec<f32>)>> = vec![None; n];
    for _ in 0..opts.search_rounds {
        let rs = solver.solve(model, clean, &c, &target, opts.steps)?;
        let mut x = clean.clone();
        for (k, r) in rs.iter().enumerate() {
            x.row_mut(k).iter_mut().zip(r).for_each(|(v, ri)| *v = (*v + ri).clamp(0.0, 1.0));
        }
        // Success is judged on what will be written (quantised when asked).
        let judged = finalize(model, clean, &x, y, None, opts.quantize)?;
        let p = model.predict_proba(judged.view())?;
        for k in 0..n {
            let flipped = argmax(&p.row(k).to_vec()).0 != y[k];
            if flipped {
                let norm = judged.row(k).iter().zip(clean.row(k)).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt();
                if best[k].as_ref().map(|(b, _)| norm < *b).unwrap_or(true) {
                    best[k] = Some((norm, x.row(k).to_vec()));
                }
                c_ok[k] = Some(c_ok[k].map_or(c[k], |v: f64| v.max(c[k])));
            } else {
                c_fail[k] = Some(c_fail[k].map_or(c[k], |v: f64| v.min(c[k])));
            }
            c[k] = match (c_ok[k], c_fail[k]) {
                (Some(a), Some(b)) => (a * b).sqrt(),
                (Some(a), None) => a * 10.0,
                (None, Some(b)) => b / 10.0,
                (None, None) => c[k],
            };
        }
    }
    let mut out = ndarray::Array2::<f32>::zeros((n, d));
    for (k, b) in best.iter().enumerate() {
        match b {
            Some((_, row)) => out.row_mut(k).assign(&ndarray::ArrayView1::from(row)),
            None => out.row_mut(k).assign(&clean.row(k)),
        }
    }
    Ok(out)
}

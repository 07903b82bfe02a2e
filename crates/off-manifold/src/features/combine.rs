//! The logistic-regression combination of per-layer scores (Ma et al. 2018), trained on one half of each group and
//! evaluated on the other half.

use ndarray::{Array1, Array2};
use rand::seq::SliceRandom;
use serde::Serialize;

use super::mahalanobis::{cholesky, cholesky_solve};
use crate::stats::auroc;
use crate::{Result, ScoreColumn, ScoreError};

/// Candidate L2 penalties λ of the logistic regression (on the standardised weights, not the intercept): loss =
/// Σ log-loss + λ/2 ‖w‖². Each group's λ is chosen by [`CV_FOLDS`]-fold cross-validation on its training half
/// (largest mean held-out AUROC; ties go to the larger λ): with a few dozen training rows per group and five
/// scores per layer, a fixed small λ fits the training half far better than the test half.
pub const PENALTIES: [f64; 6] = [0.3, 1.0, 3.0, 10.0, 30.0, 100.0];
/// Folds of the penalty's cross-validation (fold of a training row: its position in the shuffled half mod folds).
pub const CV_FOLDS: usize = 5;
/// Newton iterations at most (the loss is strictly convex; it converges in far fewer).
const MAX_ITERATIONS: usize = 50;

/// A fitted logistic regression on standardised inputs.
#[derive(Debug, Clone, Serialize)]
pub struct LogisticModel {
    /// Input columns, their training means and standard deviations, and the weights.
    pub columns: Vec<String>,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub weights: Vec<f64>,
    pub intercept: f64,
}

impl LogisticModel {
    /// Fits on rows `x` (one value per column; non-finite values stand for the column's training mean) with
    /// labels 0/1 and L2 penalty `penalty`.
    pub fn fit(columns: Vec<String>, x: &Array2<f64>, y: &[f64], penalty: f64) -> Result<LogisticModel> {
        let (n, d) = x.dim();
        let mut mean = vec![0.0; d];
        let mut std = vec![1.0; d];
        for j in 0..d {
            let v: Vec<f64> = x.column(j).iter().copied().filter(|v| v.is_finite()).collect();
            if !v.is_empty() {
                let m = v.iter().sum::<f64>() / v.len() as f64;
                let s = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
                mean[j] = m;
                std[j] = if s > 0.0 { s } else { 1.0 };
            }
        }
        let mut model = LogisticModel { columns, mean, std, weights: vec![0.0; d], intercept: 0.0 };
        let z = Array2::from_shape_fn((n, d + 1), |(i, j)| if j == d { 1.0 } else { model.standardise(x[[i, j]], j) });
        let mut beta = Array1::<f64>::zeros(d + 1);
        for _ in 0..MAX_ITERATIONS {
            let p: Vec<f64> = (0..n).map(|i| sigmoid(z.row(i).dot(&beta))).collect();
            let mut grad = Array1::<f64>::zeros(d + 1);
            let mut hess = Array2::<f64>::zeros((d + 1, d + 1));
            for i in 0..n {
                let r = z.row(i);
                grad.scaled_add(p[i] - y[i], &r);
                let w = (p[i] * (1.0 - p[i])).max(1e-12);
                for a in 0..=d {
                    for b in 0..=a {
                        hess[[a, b]] += w * r[a] * r[b];
                    }
                }
            }
            for a in 0..d {
                grad[a] += penalty * beta[a];
                hess[[a, a]] += penalty;
            }
            hess[[d, d]] += 1e-9;
            for a in 0..=d {
                for b in 0..a {
                    hess[[b, a]] = hess[[a, b]];
                }
            }
            let l =
                cholesky(hess).ok_or_else(|| ScoreError::Numerical("logistic regression: singular Hessian".into()))?;
            let step = cholesky_solve(&l, grad.as_slice().expect("contiguous"));
            let mut change = 0.0f64;
            for (b, s) in beta.iter_mut().zip(&step) {
                *b -= s;
                change = change.max(s.abs());
            }
            if change < 1e-10 {
                break;
            }
        }
        model.weights = beta.iter().take(d).copied().collect();
        model.intercept = beta[d];
        Ok(model)
    }

    fn standardise(&self, v: f64, j: usize) -> f64 {
        if v.is_finite() {
            (v - self.mean[j]) / self.std[j]
        } else {
            0.0
        }
    }

    /// Probability of the positive class for one row.
    pub fn predict(&self, row: &[f64]) -> f64 {
        let s: f64 = row.iter().enumerate().map(|(j, &v)| self.weights[j] * self.standardise(v, j)).sum();
        sigmoid(s + self.intercept)
    }
}

fn sigmoid(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}

/// One group's combination.
#[derive(Debug, Clone, Serialize)]
pub struct GroupCombination {
    pub group: String,
    pub n_train: [usize; 2],
    pub n_test: [usize; 2],
    /// AUROC of the combined score on the test halves (None when a half is empty), and on the training halves.
    pub auroc_test: Option<f64>,
    pub auroc_train: Option<f64>,
    /// Best single column by its AUROC on the same test halves, for comparison.
    pub best_single: Option<(String, f64)>,
    /// The penalty chosen by cross-validation on the training half, and the mean held-out AUROC of each candidate
    /// (in the order of [`PENALTIES`]; None where a fold lacked a class).
    pub penalty: f64,
    pub cv_auroc: Vec<Option<f64>>,
    pub model: LogisticModel,
    /// Query rows of the training and test halves (positives = this group, negatives = the reference group).
    #[serde(skip)]
    pub rows: [Vec<usize>; 2],
    /// Combined score of every query row (the model applied to all of them).
    #[serde(skip)]
    pub values: Vec<f64>,
}

/// The combination of every group.
#[derive(Debug, Clone, Serialize)]
pub struct Combination {
    pub split: String,
    /// The candidate penalties (each group's choice is in its entry).
    pub penalties: Vec<f64>,
    pub groups: Vec<GroupCombination>,
}

/// Mean held-out AUROC of `penalty` over the folds of the training rows (row i of `x` is in fold i mod
/// [`CV_FOLDS`]); None when no fold has both classes in its held-out part.
fn cv_auroc(names: &[String], x: &Array2<f64>, y: &[f64], penalty: f64) -> Result<Option<f64>> {
    let n = y.len();
    let mut sum = 0.0;
    let mut count = 0usize;
    for f in 0..CV_FOLDS {
        let (fit_rows, held): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| i % CV_FOLDS != f);
        let has_both = |rows: &[usize]| rows.iter().any(|&i| y[i] > 0.5) && rows.iter().any(|&i| y[i] < 0.5);
        if !has_both(&fit_rows) || !has_both(&held) {
            continue;
        }
        let xf = x.select(ndarray::Axis(0), &fit_rows);
        let yf: Vec<f64> = fit_rows.iter().map(|&i| y[i]).collect();
        let m = LogisticModel::fit(names.to_vec(), &xf, &yf, penalty)?;
        let score = |i: usize| m.predict(x.row(i).as_slice().expect("standard layout"));
        let pos: Vec<f64> = held.iter().filter(|&&i| y[i] > 0.5).map(|&i| score(i)).collect();
        let neg: Vec<f64> = held.iter().filter(|&&i| y[i] < 0.5).map(|&i| score(i)).collect();
        if let Some(a) = auroc(&pos, &neg) {
            sum += a;
            count += 1;
        }
    }
    Ok((count > 0).then(|| sum / count as f64))
}

/// Seeded split of `rows`: shuffled, the first ⌈n/2⌉ are the training half.
fn halves(mut rows: Vec<usize>, seed: u64, stream: u64) -> (Vec<usize>, Vec<usize>) {
    rows.shuffle(&mut seeds::stream(seed, stream));
    let test = rows.split_off(rows.len().div_ceil(2));
    (rows, test)
}

/// Fits one logistic regression per group other than `reference_group` (see the module docs of
/// [`crate::features`]).
pub fn combine(columns: &[ScoreColumn], groups: &[String], reference_group: &str, seed: u64) -> Result<Combination> {
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let row = |i: usize| -> Vec<f64> { columns.iter().map(|c| c.values[i]).collect() };
    let mut order: Vec<&String> = Vec::new();
    for g in groups {
        if !order.contains(&g) {
            order.push(g);
        }
    }
    let of = |name: &str| -> Vec<usize> { (0..groups.len()).filter(|&i| groups[i] == name).collect() };
    let seed = seeds::sub_seed(seed, 0xC0B1);
    let (neg_train, neg_test) = halves(of(reference_group), seed, 0);
    let mut out = Vec::new();
    for (gi, g) in order.iter().enumerate() {
        if g.as_str() == reference_group {
            continue;
        }
        let (pos_train, pos_test) = halves(of(g), seed, gi as u64 + 1);
        // Positives and negatives interleaved, so that every fold of the cross-validation holds both classes.
        let mut train: Vec<usize> = Vec::with_capacity(pos_train.len() + neg_train.len());
        let mut y: Vec<f64> = Vec::with_capacity(train.capacity());
        for i in 0..pos_train.len().max(neg_train.len()) {
            for (rows, label) in [(&pos_train, 1.0), (&neg_train, 0.0)] {
                if let Some(&r) = rows.get(i) {
                    train.push(r);
                    y.push(label);
                }
            }
        }
        if pos_train.is_empty() || neg_train.is_empty() {
            continue;
        }
        let x = Array2::from_shape_fn((train.len(), names.len()), |(i, j)| columns[j].values[train[i]]);
        let cv_auroc = PENALTIES.iter().map(|&p| cv_auroc(&names, &x, &y, p)).collect::<Result<Vec<Option<f64>>>>()?;
        let mut penalty = PENALTIES[0];
        let mut best = f64::NEG_INFINITY;
        for (&p, a) in PENALTIES.iter().zip(&cv_auroc) {
            if let Some(a) = *a {
                if a >= best {
                    best = a;
                    penalty = p;
                }
            }
        }
        let model = LogisticModel::fit(names.clone(), &x, &y, penalty)?;
        let values: Vec<f64> = (0..groups.len()).map(|i| model.predict(&row(i))).collect();
        let pick = |rows: &[usize]| -> Vec<f64> { rows.iter().map(|&i| values[i]).collect() };
        let best_single = columns
            .iter()
            .filter_map(|c| {
                let p: Vec<f64> = pos_test.iter().map(|&i| c.values[i]).collect();
                let n: Vec<f64> = neg_test.iter().map(|&i| c.values[i]).collect();
                auroc(&p, &n).map(|a| (c.name.clone(), a))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        out.push(GroupCombination {
            group: g.to_string(),
            n_train: [pos_train.len(), neg_train.len()],
            n_test: [pos_test.len(), neg_test.len()],
            auroc_test: auroc(&pick(&pos_test), &pick(&neg_test)),
            auroc_train: auroc(&pick(&pos_train), &pick(&neg_train)),
            best_single,
            penalty,
            cv_auroc,
            model,
            rows: [train, pos_test.iter().chain(&neg_test).copied().collect()],
            values,
        });
    }
    Ok(Combination {
        split: format!(
            "per group: the {reference_group} rows are shuffled once and each other group's rows are shuffled (seeded \
             by the run's seed and the group's position); the first half (rounded up) of each is the training half \
             of a logistic regression of that group against {reference_group}, the rest the test half; auroc_test is \
             on the test halves only; each group's L2 penalty is chosen by {CV_FOLDS}-fold cross-validation on its \
             training half"
        ),
        penalties: PENALTIES.to_vec(),
        groups: out,
    })
}

//! Reference point clouds with known intrinsic dimension, for tests, calibration and benchmarks.
//!
//! * Simple shapes: uniform hyperballs and hypercubes (optionally rotated into a higher-dimensional space),
//!   hyperspheres, a Swiss roll, a helix, points near a linear subspace.
//! * The Hein–Audibert / Campadelli benchmark suite exactly as scikit-dimension 0.5's
//!   `skdim.datasets.BenchmarkManifolds` generates it (same 24 manifolds, same parametrisations, same intrinsic and
//!   embedding dimensions; the random numbers come from ChaCha8 instead of NumPy's Mersenne twister, so the samples
//!   are equal in distribution, not bit for bit).
//! * Synthetic f32 data for timing benchmarks ([`synthetic`]): power-law spectrum, isotropic noise, near a subspace.
//!
//! Every generator takes an explicit `seed` and is deterministic: same seed, same points, on every machine.

pub mod synthetic;

use ndarray::{s, Array2, Axis};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp1, StandardNormal};

/// Errors of the generators.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ManifoldError {
    #[error("unknown benchmark manifold {0:?} (see benchmark_manifolds::SUITE for the names)")]
    UnknownName(String),
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
}

/// A deterministic RNG for `(seed, stream)`: independent streams for independent items.
pub use seeds::stream as rng;

fn normal(r: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(r)
}

/// `n` points uniform in the unit `d`-ball (centred at the origin), as an `n × d` array.
pub fn hyperball(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut r = rng(seed, 0);
    let mut out = Array2::<f64>::zeros((n, d));
    for mut row in out.axis_iter_mut(Axis(0)) {
        let mut ss = 0.0;
        for x in row.iter_mut() {
            *x = normal(&mut r);
            ss += *x * *x;
        }
        // Direction uniform on the sphere, radius U^(1/d): uniform in the ball (same law as skdim's hyperBall).
        let u: f64 = r.random();
        let radius = u.powf(1.0 / d as f64) / ss.sqrt().max(f64::MIN_POSITIVE);
        row.mapv_inplace(|x| x * radius);
    }
    out
}

/// `n` points uniform in the unit hypercube `[0, 1]^d`.
pub fn hypercube(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut r = rng(seed, 0);
    Array2::from_shape_fn((n, d), |_| r.random::<f64>())
}

/// `n` points uniform on the unit `d`-sphere in R^(d+1).
pub fn hypersphere(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut r = rng(seed, 0);
    let mut out = Array2::<f64>::zeros((n, d + 1));
    for mut row in out.axis_iter_mut(Axis(0)) {
        let mut ss = 0.0;
        for x in row.iter_mut() {
            *x = normal(&mut r);
            ss += *x * *x;
        }
        let inv = 1.0 / ss.sqrt().max(f64::MIN_POSITIVE);
        row.mapv_inplace(|x| x * inv);
    }
    out
}

/// A random orthonormal `d × ambient` frame (rows orthonormal), from Gram–Schmidt on Gaussian vectors.
pub fn random_frame(d: usize, ambient: usize, seed: u64) -> Result<Array2<f64>, ManifoldError> {
    if d > ambient {
        return Err(ManifoldError::InvalidParameter(format!("cannot embed dimension {d} in {ambient}")));
    }
    let mut r = rng(seed, 1);
    let mut q = Array2::<f64>::zeros((d, ambient));
    for i in 0..d {
        loop {
            let mut v: Vec<f64> = (0..ambient).map(|_| normal(&mut r)).collect();
            for _ in 0..2 {
                for j in 0..i {
                    let dot: f64 = v.iter().zip(q.row(j)).map(|(a, b)| a * b).sum();
                    for (a, b) in v.iter_mut().zip(q.row(j)) {
                        *a -= dot * b;
                    }
                }
            }
            let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            if norm > 1e-6 {
                q.row_mut(i).iter_mut().zip(&v).for_each(|(a, b)| *a = b / norm);
                break;
            }
        }
    }
    Ok(q)
}

/// Rotates `points` (`n × d`) isometrically into R^`ambient` with a random orthonormal frame.
pub fn embed_linear(points: &Array2<f64>, ambient: usize, seed: u64) -> Result<Array2<f64>, ManifoldError> {
    let frame = random_frame(points.ncols(), ambient, seed)?;
    Ok(points.dot(&frame))
}

/// Adds i.i.d. Gaussian noise of standard deviation `sigma` to every coordinate.
pub fn add_gaussian_noise(points: &mut Array2<f64>, sigma: f64, seed: u64) {
    let mut r = rng(seed, 2);
    points.mapv_inplace(|x| x + sigma * normal(&mut r));
}

/// `n` points near a `d`-dimensional linear subspace of R^`ambient`: uniform coordinates in `[-1, 1]^d` along a
/// random orthonormal frame plus isotropic Gaussian noise of standard deviation `noise` (the benchmark data set).
pub fn linear_subspace(
    n: usize,
    d: usize,
    ambient: usize,
    noise: f64,
    seed: u64,
) -> Result<Array2<f64>, ManifoldError> {
    let coords = hypercube(n, d, seed).mapv(|x| 2.0 * x - 1.0);
    let mut out = embed_linear(&coords, ambient, seed)?;
    if noise > 0.0 {
        add_gaussian_noise(&mut out, noise, seed);
    }
    Ok(out)
}

/// Swiss roll (2-D) in R^3: skdim's `M7_Roll` parametrisation.
pub fn swiss_roll(n: usize, seed: u64) -> Array2<f64> {
    generate("M7_Roll", n, seed).expect("known name")
}

/// Helix (1-D) in R^3: skdim's `M5a_Helix1d`.
pub fn helix(n: usize, seed: u64) -> Array2<f64> {
    generate("M5a_Helix1d", n, seed).expect("known name")
}

/// One manifold of the benchmark suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub name: &'static str,
    /// True intrinsic dimension.
    pub dimension: usize,
    /// Embedding dimension (number of columns).
    pub ambient: usize,
    pub description: &'static str,
}

/// The 24 manifolds of skdim's `BenchmarkManifolds` (Hein & Audibert 2005; Campadelli et al. 2015), in skdim's order.
pub const SUITE: &[Spec] = &[
    Spec { name: "M1_Sphere", dimension: 10, ambient: 11, description: "10D sphere linearly embedded" },
    Spec { name: "M2_Affine_3to5", dimension: 3, ambient: 5, description: "Affine space" },
    Spec {
        name: "M3_Nonlinear_4to6",
        dimension: 4,
        ambient: 6,
        description: "Concentrated figure, mistakable with a 3D one",
    },
    Spec { name: "M4_Nonlinear", dimension: 4, ambient: 8, description: "Nonlinear manifold" },
    Spec { name: "M5a_Helix1d", dimension: 1, ambient: 3, description: "1D helix" },
    Spec { name: "M5b_Helix2d", dimension: 2, ambient: 3, description: "2D helix" },
    Spec { name: "M6_Nonlinear", dimension: 6, ambient: 36, description: "Nonlinear manifold" },
    Spec { name: "M7_Roll", dimension: 2, ambient: 3, description: "Swiss Roll" },
    Spec { name: "M8_Nonlinear", dimension: 12, ambient: 72, description: "Nonlinear (highly curved) manifold" },
    Spec { name: "M9_Affine", dimension: 20, ambient: 20, description: "Affine space" },
    Spec { name: "M10a_Cubic", dimension: 10, ambient: 11, description: "10D hypercube" },
    Spec { name: "M10b_Cubic", dimension: 17, ambient: 18, description: "17D hypercube" },
    Spec { name: "M10c_Cubic", dimension: 24, ambient: 25, description: "24D hypercube" },
    Spec { name: "M10d_Cubic", dimension: 70, ambient: 71, description: "70D hypercube" },
    Spec { name: "M11_Moebius", dimension: 2, ambient: 3, description: "Moebius band 10-times twisted" },
    Spec { name: "M12_Norm", dimension: 20, ambient: 20, description: "Isotropic multivariate Gaussian" },
    Spec { name: "M13a_Scurve", dimension: 2, ambient: 3, description: "2D S-curve" },
    Spec { name: "M13b_Spiral", dimension: 1, ambient: 13, description: "1D helix curve" },
    Spec { name: "Mbeta", dimension: 10, ambient: 40, description: "Manifold generated with a smooth nonuniform pdf" },
    Spec { name: "Mn1_Nonlinear", dimension: 18, ambient: 72, description: "Nonlinearly embedded manifold of high ID" },
    Spec { name: "Mn2_Nonlinear", dimension: 24, ambient: 96, description: "Nonlinearly embedded manifold of high ID" },
    Spec {
        name: "Mp1_Paraboloid",
        dimension: 3,
        ambient: 12,
        description: "3D paraboloid, nonlinearly embedded (Burr, alpha=1)",
    },
    Spec {
        name: "Mp2_Paraboloid",
        dimension: 6,
        ambient: 21,
        description: "6D paraboloid, nonlinearly embedded (Burr, alpha=1)",
    },
    Spec {
        name: "Mp3_Paraboloid",
        dimension: 9,
        ambient: 30,
        description: "9D paraboloid, nonlinearly embedded (Burr, alpha=1)",
    },
];

/// The spec of a suite manifold by name.
pub fn spec(name: &str) -> Result<Spec, ManifoldError> {
    SUITE.iter().copied().find(|s| s.name == name).ok_or_else(|| ManifoldError::UnknownName(name.to_string()))
}

/// `n` points of the suite manifold `name` (noise-free, as skdim's `BenchmarkManifolds().generate(name, n)`).
// One match arm per manifold of the suite (long because the suite is long, each arm a few lines).
pub fn generate(name: &str, n: usize, seed: u64) -> Result<Array2<f64>, ManifoldError> {
    let sp = spec(name)?;
    let (d, dim) = (sp.dimension, sp.ambient);
    let index = SUITE.iter().position(|s| s.name == name).unwrap_or(0) as u64;
    let mut r = rng(seed, 100 + index);
    let r = &mut r;
    let u = |r: &mut ChaCha8Rng| r.random::<f64>();
    let pi = std::f64::consts::PI;
    let mut out = Array2::<f64>::zeros((n, dim));
    match name {
        "M1_Sphere" => {
            for mut row in out.axis_iter_mut(Axis(0)) {
                let v: Vec<f64> = (0..=d).map(|_| normal(r)).collect();
                let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                for (j, x) in v.iter().enumerate() {
                    row[j] = x / norm;
                }
            }
        }
        "M2_Affine_3to5" => {
            let a = [[1.2, -0.5, 0.0], [0.5, 0.9, 0.0], [-0.5, -0.2, 1.0], [0.4, -0.9, -0.1], [1.1, -0.3, 0.0]];
            let b = [3.0, -1.0, 0.0, 0.0, 8.0];
            for mut row in out.axis_iter_mut(Axis(0)) {
                let p: Vec<f64> = (0..3).map(|_| 4.0 * u(r)).collect();
                for i in 0..5 {
                    row[i] = (0..3).map(|j| a[i][j] * p[j]).sum::<f64>() + b[i];
                }
            }
        }
        "M3_Nonlinear_4to6" => {
            for mut row in out.axis_iter_mut(Axis(0)) {
                let (p0, p1, p2, p3) = (u(r), u(r), u(r), u(r));
                row[0] = p1 * p1 * (2.0 * pi * p0).cos();
                row[1] = p2 * p2 * (2.0 * pi * p0).sin();
                row[2] = p1 + p2 + (p1 - p3).powi(2);
                row[3] = p1 - 2.0 * p2 + (p0 - p3).powi(2);
                row[4] = -p1 - 2.0 * p2 + (p2 - p3).powi(2);
                row[5] = p0 * p0 - p1 * p1 + p2 * p2 - p3 * p3;
            }
        }
        "M4_Nonlinear" | "M6_Nonlinear" | "M8_Nonlinear" => {
            // p uniform in [0,1]^d; features p_{i+1} cos(2π p_i), p_{i+1} sin(2π p_i) (cyclic), repeated m times.
            let m = dim / (2 * d);
            for mut row in out.axis_iter_mut(Axis(0)) {
                let p: Vec<f64> = (0..d).map(|_| u(r)).collect();
                let mut f = vec![0.0; 2 * d];
                for i in 0..d {
                    let next = p[(i + 1) % d];
                    f[2 * i] = next * (2.0 * pi * p[i]).cos();
                    f[2 * i + 1] = next * (2.0 * pi * p[i]).sin();
                }
                for rep in 0..m {
                    row.slice_mut(s![rep * 2 * d..(rep + 1) * 2 * d]).iter_mut().zip(&f).for_each(|(a, b)| *a = *b);
                }
            }
        }
        "M5a_Helix1d" => {
            for mut row in out.axis_iter_mut(Axis(0)) {
                let t = 2.0 * pi / n as f64 + u(r) * 2.0 * pi;
                row[0] = (2.0 + (8.0 * t).cos()) * t.cos();
                row[1] = (2.0 + (8.0 * t).cos()) * t.sin();
                row[2] = (8.0 * t).sin();
            }
        }
        "M5b_Helix2d" => {
            for mut row in out.axis_iter_mut(Axis(0)) {
                let rr = 10.0 * pi * u(r);
                let p = 10.0 * pi * u(r);
                row[0] = rr * p.cos();
                row[1] = rr * p.sin();
                row[2] = 0.5 * p;
            }
        }
        "M7_Roll" => {
            for mut row in out.axis_iter_mut(Axis(0)) {
                let t = 1.5 * pi * (1.0 + 2.0 * u(r));
                let p = 21.0 * u(r);
                row[0] = t * t.cos();
                row[1] = p;
                row[2] = t * t.sin();
            }
        }
        "M9_Affine" => {
            for mut row in out.axis_iter_mut(Axis(0)) {
                for j in 0..d {
                    row[j] = u(r) * 5.0 - 2.5;
                }
            }
        }
        "M10a_Cubic" | "M10b_Cubic" | "M10c_Cubic" | "M10d_Cubic" => {
            // Points on the faces of the (d+1)-cube: for each coordinate i, n/(2(d+1))+1 points with x_i = 0 and as
            // many with x_i = 1, the rest uniform; the first n are kept (skdim's order).
            let n_once = n / (2 * (d + 1)) + 1;
            let mut row_i = 0;
            'outer: for i in 0..=d {
                for side in [0.0, 1.0] {
                    for _ in 0..n_once {
                        if row_i == n {
                            break 'outer;
                        }
                        for j in 0..=d {
                            out[[row_i, j]] = if j == i { side } else { u(r) };
                        }
                        row_i += 1;
                    }
                }
            }
        }
        "M11_Moebius" => {
            for mut row in out.axis_iter_mut(Axis(0)) {
                let phi = u(r) * 2.0 * pi;
                let rad = u(r) * 2.0 - 1.0;
                row[0] = (1.0 + 0.5 * rad * (5.0 * phi).cos()) * phi.cos();
                row[1] = (1.0 + 0.5 * rad * (5.0 * phi).cos()) * phi.sin();
                row[2] = 0.5 * rad * (5.0 * phi).sin();
            }
        }
        "M12_Norm" => {
            for mut row in out.axis_iter_mut(Axis(0)) {
                for j in 0..d {
                    row[j] = normal(r);
                }
            }
        }
        "M13a_Scurve" => {
            for mut row in out.axis_iter_mut(Axis(0)) {
                let t = 3.0 * pi * (u(r) - 0.5);
                let p = 2.0 * u(r);
                row[0] = t.sin();
                row[1] = p;
                row[2] = t.signum() * (t.cos() - 1.0);
            }
        }
        "M13b_Spiral" => {
            for mut row in out.axis_iter_mut(Axis(0)) {
                let t = 10.0 * pi * u(r);
                row[0] = 100.0 * t.cos();
                row[1] = 100.0 * t.sin();
                row[2] = t;
            }
        }
        "Mbeta" => {
            let beta = Beta::new(10.0, 0.5).map_err(|e| ManifoldError::InvalidParameter(e.to_string()))?;
            for mut row in out.axis_iter_mut(Axis(0)) {
                let x: Vec<f64> = (0..d).map(|_| beta.sample(r)).collect();
                for i in 0..d {
                    let t1 = x[i] * (2.0 * pi * x[i]).cos().sin();
                    let t2 = x[i] * (2.0 * pi * x[i]).sin().cos();
                    row[i] = t1;
                    row[d + i] = t2;
                    row[2 * d + i] = t1;
                    row[3 * d + i] = t2;
                }
            }
        }
        "Mn1_Nonlinear" | "Mn2_Nonlinear" => {
            for mut row in out.axis_iter_mut(Axis(0)) {
                let x: Vec<f64> = (0..d).map(|_| u(r)).collect();
                for i in 0..d {
                    let t1 = (x[i] * x[d - 1 - i].cos()).tan();
                    let t2 = (x[d - 1 - i] * x[i].sin()).atan();
                    row[i] = t1;
                    row[d + i] = t2;
                    row[2 * d + i] = t1;
                    row[3 * d + i] = t2;
                }
            }
        }
        "Mp1_Paraboloid" | "Mp2_Paraboloid" | "Mp3_Paraboloid" => {
            for mut row in out.axis_iter_mut(Axis(0)) {
                let e: Vec<f64> = (0..=d).map(|_| Exp1.sample(r)).collect();
                let mut x: Vec<f64> = (1..=d).map(|i| 1.0 / (1.0 + e[i] / e[0])).collect();
                x.push(x.iter().map(|v| v * v).sum());
                let m = d + 1;
                for j in 0..m {
                    row[j] = x[j];
                    row[m + j] = x[j].sin();
                    row[2 * m + j] = x[j] * x[j];
                }
            }
        }
        _ => return Err(ManifoldError::UnknownName(name.to_string())),
    }
    Ok(out)
}

/// The whole suite: `(spec, points)` for each of the 24 manifolds, `n` points each.
pub fn suite(n: usize, seed: u64) -> Vec<(Spec, Array2<f64>)> {
    SUITE.iter().map(|sp| (*sp, generate(sp.name, n, seed).expect("every suite name is known"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_determinism() {
        for sp in SUITE {
            let a = generate(sp.name, 300, 7).unwrap();
            assert_eq!(a.dim(), (300, sp.ambient), "{}", sp.name);
            assert!(a.iter().all(|x| x.is_finite()), "{}", sp.name);
            let b = generate(sp.name, 300, 7).unwrap();
            assert_eq!(a, b, "{} not deterministic", sp.name);
            let c = generate(sp.name, 300, 8).unwrap();
            assert_ne!(a, c, "{} ignores the seed", sp.name);
        }
        assert!(matches!(generate("nope", 10, 0), Err(ManifoldError::UnknownName(_))));
    }

    #[test]
    fn ball_sphere_cube_geometry() {
        let b = hyperball(4000, 5, 1);
        let radii: Vec<f64> = b.axis_iter(Axis(0)).map(|r| r.dot(&r).sqrt()).collect();
        assert!(radii.iter().all(|&r| r <= 1.0));
        // P(r <= 0.5) = 0.5^5 for the uniform 5-ball.
        let frac = radii.iter().filter(|&&r| r <= 0.5).count() as f64 / 4000.0;
        assert!((frac - 0.5f64.powi(5)).abs() < 0.01, "{frac}");
        let s = hypersphere(500, 3, 2);
        assert!(s.axis_iter(Axis(0)).all(|r| (r.dot(&r) - 1.0).abs() < 1e-12));
        let c = hypercube(1000, 3, 3);
        assert!(c.iter().all(|&x| (0.0..1.0).contains(&x)));
        assert!((c.mean().unwrap() - 0.5).abs() < 0.02);
    }

    #[test]
    fn embedding_is_isometric() {
        let x = hypercube(50, 4, 1);
        let y = embed_linear(&x, 30, 9).unwrap();
        let d = |a: ndarray::ArrayView1<f64>, b: ndarray::ArrayView1<f64>| (&a - &b).mapv(|v| v * v).sum().sqrt();
        for i in 0..10 {
            assert!((d(x.row(i), x.row(i + 1)) - d(y.row(i), y.row(i + 1))).abs() < 1e-12);
        }
        assert!(embed_linear(&x, 3, 0).is_err());
    }

    #[test]
    fn suite_matches_definitions() {
        // Sphere rows have unit norm, cube rows sit on a face, the affine space spans exactly 3 dimensions.
        let s = generate("M1_Sphere", 100, 1).unwrap();
        assert!(s.axis_iter(Axis(0)).all(|r| (r.dot(&r) - 1.0).abs() < 1e-12));
        let c = generate("M10a_Cubic", 100, 1).unwrap();
        assert!(c.axis_iter(Axis(0)).all(|r| r.iter().take(11).any(|&x| x == 0.0 || x == 1.0)));
        let p = generate("Mp1_Paraboloid", 100, 1).unwrap();
        for r in p.axis_iter(Axis(0)) {
            let sq: f64 = (0..3).map(|j| r[j] * r[j]).sum();
            assert!((r[3] - sq).abs() < 1e-12);
        }
        let m = generate("M6_Nonlinear", 10, 1).unwrap();
        assert_eq!(m.slice(s![.., 0..12]), m.slice(s![.., 12..24]));
    }
}

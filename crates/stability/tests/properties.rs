//! Properties of the exact line walk, the verifiers and the attacks on tiny random ReLU networks (MLPs and
//! convnets on 3×3 and 4×4 images).

mod common;

use common::{argmax, nets, point, rng};
use rand::Rng;
use stability::line::{pair_flip, pixel_range, LineWalker};
use stability::verify::eps_box;
use stability::{crown, ibp, LowerSlope, Net};

/// Moves coordinate `i` of `x` by `t`.
fn moved(x: &[f64], i: usize, t: f64) -> Vec<f64> {
    let mut p = x.to_vec();
    p[i] += t;
    p
}

/// The exact per-pixel decision agrees with a dense 1-D scan (10 001 points): a flip the scan finds is always
/// found; a flip reported comes with a witness the plain forward pass confirms; the two agree on ≥ 99 % of the
/// segments; a pixel is effective iff the logits move along the scan.
#[test]
fn exact_pixel_flips_agree_with_a_dense_scan() {
    let (mut segments, mut agree, mut flips, mut effective, mut settled) = (0usize, 0usize, 0usize, 0usize, 0usize);
    for (n, net) in nets().iter().enumerate() {
        let mut r = rng(1000 + n as u64);
        for _ in 0..4 {
            let x = point(net.n_inputs(), &mut r);
            let class = argmax(&net.logits(&x));
            let mut walker = LineWalker::new(net, &x, class);
            for eps in [0.05, 0.2, 0.5] {
                for i in 0..net.n_inputs() {
                    let o = walker.pixel(&x, i, eps);
                    let (lo, hi) = pixel_range(x[i], eps);
                    let base = net.logits(&x);
                    let (mut scan_flip, mut moves) = (false, false);
                    for s in 0..=10_000 {
                        let t = lo + (hi - lo) * s as f64 / 10_000.0;
                        let l = net.logits(&moved(&x, i, t));
                        scan_flip |= stability::net::margin_of(&l, class).0 < 0.0;
                        moves |= l.iter().zip(&base).any(|(a, b)| (a - b).abs() > 1e-12);
                    }
                    if scan_flip {
                        assert!(o.flip.is_some(), "net {n} pixel {i} eps {eps}: the scan flips, the walk does not");
                    }
                    if let Some(t) = o.flip {
                        assert!((lo..=hi).contains(&t));
                        assert!(net.margin(&moved(&x, i, t), class) < 1e-9, "net {n} pixel {i}: witness does not flip");
                    }
                    assert_eq!(o.effective, moves, "net {n} pixel {i} eps {eps}: effective");
                    segments += 1;
                    agree += usize::from(o.flip.is_some() == scan_flip);
                    flips += usize::from(o.flip.is_some());
                    effective += usize::from(o.effective);
                    settled += usize::from(o.pieces == 0);
                }
            }
        }
    }
    assert!(agree as f64 >= 0.99 * segments as f64, "{agree}/{segments} agree");
    // Not vacuous: flips, non-flips, effective and non-effective pixels all occur.
    assert!(flips > 20 && flips < segments - 20, "{flips} flips of {segments}");
    assert!(effective > segments / 2 && effective < segments, "{effective} effective of {segments}");
    // Both paths ran: segments settled by the cone's interval bounds, and segments walked.
    assert!(settled > 20 && settled < segments - 20, "{settled} settled of {segments}");
}

/// Every vertex of the box and 3000 random points inside it: the margins never go below IBP's or CROWN's lower
/// bounds, hidden pre-activations stay inside their bounds, and no certified box holds a flip.
#[test]
fn verifiers_are_sound_on_vertices_and_samples() {
    let (mut boxes, mut certified) = (0, 0);
    for (n, net) in nets().iter().enumerate() {
        let d = net.n_inputs();
        let mut r = rng(2000 + n as u64);
        for trial in 0..8 {
            let x = point(d, &mut r);
            let class = argmax(&net.logits(&x));
            let eps = [0.01, 0.03, 0.1, 0.3][trial % 4];
            let (lo, hi) = eps_box(&x, eps);
            let bounds = [
                ibp(net, &lo, &hi, class),
                crown(net, &lo, &hi, class, LowerSlope::Adaptive),
                crown(net, &lo, &hi, class, LowerSlope::Zero),
            ];
            let mut points: Vec<Vec<f64>> = (0..1usize << d)
                .map(|m| (0..d).map(|i| if m >> i & 1 == 1 { hi[i] } else { lo[i] }).collect())
                .collect();
            points.extend((0..3000).map(|_| (0..d).map(|i| r.random_range(lo[i]..=hi[i])).collect()));
            for p in &points {
                let z = net.pre_activations(p);
                let logits = &z[z.len() - 1];
                for (bi, b) in bounds.iter().enumerate() {
                    for (j, &m) in b.margins.iter().enumerate() {
                        let v = logits[class] - logits[j];
                        assert!(
                            j == class || v >= m - 1e-9,
                            "net {n} bound {bi} eps {eps}: margin {j} = {v} below its bound {m}"
                        );
                    }
                    for (k, (l, u)) in b.hidden.iter().enumerate() {
                        for (o, &v) in z[k].iter().enumerate() {
                            assert!(
                                v >= l[o] - 1e-9 && v <= u[o] + 1e-9,
                                "net {n}: layer {k} neuron {o} out of bounds"
                            );
                        }
                    }
                    if b.certified() {
                        assert_eq!(argmax(logits), class, "net {n}: a certified box holds a flip");
                    }
                }
            }
            boxes += 1;
            certified += usize::from(bounds[1].certified());
        }
    }
    assert!(certified > 5 && certified < boxes, "{certified} of {boxes} boxes certified");
}

/// CROWN with the zero lower slope lies inside IBP everywhere (hidden bounds and margins); with the adaptive
/// DeepPoly slope its hidden bounds do (they are intersected), and its margins are tighter on most boxes.
#[test]
fn crown_bounds_lie_inside_ibp_bounds() {
    let (mut margins, mut tighter) = (0, 0);
    for (n, net) in nets().iter().enumerate() {
        let mut r = rng(3000 + n as u64);
        for trial in 0..20 {
            let x = point(net.n_inputs(), &mut r);
            let class = argmax(&net.logits(&x));
            let eps = [0.02, 0.05, 0.1, 0.2][trial % 4];
            let (lo, hi) = eps_box(&x, eps);
            let b = ibp(net, &lo, &hi, class);
            for slope in [LowerSlope::Zero, LowerSlope::Adaptive] {
                let c = crown(net, &lo, &hi, class, slope);
                for (k, ((cl, cu), (bl, bu))) in c.hidden.iter().zip(&b.hidden).enumerate() {
                    for o in 0..cl.len() {
                        assert!(
                            cl[o] >= bl[o] - 1e-9 && cu[o] <= bu[o] + 1e-9,
                            "net {n} layer {k} neuron {o} ({slope})"
                        );
                        assert!(cl[o] <= cu[o] + 1e-9);
                    }
                }
                for (j, (&cm, &bm)) in c.margins.iter().zip(&b.margins).enumerate() {
                    if j == class {
                        continue;
                    }
                    if slope == LowerSlope::Zero {
                        assert!(cm >= bm - 1e-9, "net {n} margin {j}: CROWN {cm} below IBP {bm}");
                    } else {
                        margins += 1;
                        tighter += usize::from(cm >= bm - 1e-9);
                    }
                }
            }
        }
    }
    assert!(tighter as f64 >= 0.9 * margins as f64, "adaptive CROWN tighter on {tighter} of {margins} margins");
}

/// The margin gradient matches central finite differences (away from ReLU kinks).
#[test]
fn margin_gradient_matches_finite_differences() {
    for (n, net) in nets().iter().enumerate() {
        let mut r = rng(4000 + n as u64);
        let x = point(net.n_inputs(), &mut r);
        let class = argmax(&net.logits(&x));
        let (m, g) = net.margin_grad(&x, class);
        assert!((m - net.margin(&x, class)).abs() < 1e-12);
        for (i, gi) in g.iter().enumerate() {
            let h = 1e-7;
            let fd = (net.margin(&moved(&x, i, h), class) - net.margin(&moved(&x, i, -h), class)) / (2.0 * h);
            assert!((fd - gi).abs() < 1e-5, "net {n} input {i}: {gi} vs {fd}");
        }
    }
}

/// PGD finds flips on boxes where one exists: whenever the exhaustive vertex search flips the label, PGD (20 steps,
/// 4 restarts) does too on ≥ 90 % of those boxes; it never goes below CROWN's bound.
#[test]
fn pgd_finds_flips_that_exist_and_respects_the_bounds() {
    let (mut flippable, mut found) = (0, 0);
    for (n, net) in nets().iter().enumerate() {
        let d = net.n_inputs();
        let mut r = rng(5000 + n as u64);
        for _ in 0..10 {
            let x = point(d, &mut r);
            let class = argmax(&net.logits(&x));
            let eps = 0.1;
            let (lo, hi) = eps_box(&x, eps);
            let vertex_flip = (0..1usize << d).any(|m| {
                let p: Vec<f64> = (0..d).map(|i| if m >> i & 1 == 1 { hi[i] } else { lo[i] }).collect();
                net.margin(&p, class) < 0.0
            });
            let o = stability::attack::pgd(net, &x, class, eps, 20, 4, &mut r);
            let c = crown(net, &lo, &hi, class, LowerSlope::Adaptive);
            assert!(o.margin >= c.min_margin() - 1e-9, "net {n}: PGD below the certified bound");
            if vertex_flip {
                flippable += 1;
                found += usize::from(o.margin < 0.0);
            }
        }
    }
    assert!(flippable >= 5, "only {flippable} flippable boxes");
    assert!(found as f64 >= 0.9 * flippable as f64, "PGD found {found} of {flippable}");
}

/// A pair's square flips whenever one of its pixels flips alone; a flip found is confirmed by the forward pass on
/// a dense 2-D grid (101 × 101) on ≥ 95 % of the pairs, and the grid never finds a flip the lines miss on more
/// than 5 %.
#[test]
fn pair_flips_agree_with_a_dense_grid() {
    let (mut pairs, mut agree) = (0, 0);
    for (n, net) in nets().iter().enumerate() {
        let d = net.n_inputs();
        let mut r = rng(6000 + n as u64);
        for _ in 0..8 {
            let x = point(d, &mut r);
            let class = argmax(&net.logits(&x));
            let mut walker = LineWalker::new(net, &x, class);
            let eps = 0.15;
            let (i, j) = (r.random_range(0..d), r.random_range(0..d));
            if i == j {
                continue;
            }
            let single = walker.pixel(&x, i, eps).flip.is_some() || walker.pixel(&x, j, eps).flip.is_some();
            let joint = pair_flip(&mut walker, &x, i, j, eps, 9);
            assert!(joint || !single, "net {n}: a single flip without a joint flip");
            let (ri, rj) = (pixel_range(x[i], eps), pixel_range(x[j], eps));
            let mut grid = false;
            for a in 0..=100 {
                for b in 0..=100 {
                    let mut p = x.clone();
                    p[i] += ri.0 + (ri.1 - ri.0) * a as f64 / 100.0;
                    p[j] += rj.0 + (rj.1 - rj.0) * b as f64 / 100.0;
                    grid |= net.margin(&p, class) < 0.0;
                }
            }
            pairs += 1;
            agree += usize::from(grid == joint);
        }
    }
    assert!(pairs > 50);
    assert!(agree as f64 >= 0.95 * pairs as f64, "{agree} of {pairs}");
}

/// Same seed, same report at 1 and 3 threads; the bracket holds on every image: certified ⇒ nothing flips; the
/// exported per-margin bounds agree with the reported minima and hold at the image.
#[test]
fn analyse_is_deterministic_and_bracketed() {
    let net: Net = common::convnet(4, 1, 3, 77);
    let mut r = rng(7);
    let rows: Vec<Vec<f64>> = (0..30).map(|_| point(16, &mut r)).collect();
    let labels: Vec<usize> = rows.iter().map(|x| argmax(&net.logits(x))).collect();
    let opts = stability::StabilityOptions {
        eps: vec![0.01, 0.05, 0.2],
        random_trials: 20,
        pairs_per_image: 30,
        seed: 3,
        ..Default::default()
    };
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| stability::analyse(&net, &rows, &labels, &opts, &|| {}).unwrap())
    };
    let (a, b) = (run(1), run(3));
    assert_eq!(a, b);
    assert_eq!(a.n_correct, 30);
    for (s, images) in a.summaries.iter().zip(&a.per_image) {
        assert!(s.stable_lower <= s.stable_upper + 1e-12, "eps {}: {} > {}", s.eps, s.stable_lower, s.stable_upper);
        for im in images {
            assert!(!(im.certified() && im.falsified()), "eps {}: row {} certified and falsified", s.eps, im.row);
            assert_eq!(im.n_flip, im.flips.iter().filter(|&&f| f == 1).count());
            assert_eq!(im.n_eff, im.flips.iter().filter(|&&f| f >= 0).count());
            // The exported margin bounds: +∞ at the label, their minima are the reported margins, and each lies
            // below the margin at the image itself (a point of the box).
            let logits = net.logits(&rows[im.row]);
            let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
            let [ib, cr, al] = &im.margin_bounds;
            assert_eq!(min(ib), im.ibp_margin);
            assert_eq!(min(cr), im.crown_margin);
            assert_eq!(min(al), im.alpha_margin.unwrap_or(im.crown_margin));
            for bounds in &im.margin_bounds {
                assert_eq!(bounds.len(), logits.len());
                assert_eq!(bounds[im.label], f64::INFINITY);
                for (j, &b) in bounds.iter().enumerate().filter(|&(j, _)| j != im.label) {
                    assert!(b <= logits[im.label] - logits[j] + 1e-9, "row {} class {j}: bound {b}", im.row);
                }
            }
        }
        let q = s.q_mean.unwrap();
        assert!((0.0..=1.0).contains(&q));
    }
    // Larger boxes: fewer certified, more falsified.
    assert!(a.summaries[0].stable_lower >= a.summaries[2].stable_lower);
    assert!(a.summaries[0].falsified <= a.summaries[2].falsified);
}

/// The per-pixel maps over several budgets (largest first, answers reused when they cannot change, certified boxes
/// skipped) equal the per-budget decisions of [`LineWalker::pixel`].
#[test]
fn pixel_maps_reuse_agrees_with_per_budget_walks() {
    let eps = [0.05, 0.3, 0.01, 0.15];
    let (mut compared, mut flips) = (0, 0);
    for (n, net) in nets().iter().enumerate() {
        let mut r = rng(8000 + n as u64);
        for _ in 0..4 {
            let x = point(net.n_inputs(), &mut r);
            let class = argmax(&net.logits(&x));
            let certified: Vec<bool> = eps
                .iter()
                .map(|&e| {
                    let (lo, hi) = eps_box(&x, e);
                    crown(net, &lo, &hi, class, LowerSlope::Adaptive).certified()
                })
                .collect();
            let mut walker = LineWalker::new(net, &x, class);
            let (maps, _) = walker.pixel_maps(&x, &eps, &certified);
            for (e, &budget) in eps.iter().enumerate() {
                for (i, &got) in maps[e].iter().enumerate() {
                    let o = walker.pixel(&x, i, budget);
                    let want = if o.effective { i8::from(o.flip.is_some()) } else { -1 };
                    assert_eq!(got, want, "net {n} eps {budget} pixel {i}");
                    compared += 1;
                    flips += usize::from(want == 1);
                }
            }
        }
    }
    assert!(flips > 10 && flips < compared - 10, "{flips} flips of {compared}");
}

/// α-CROWN: the bound with CROWN's own slopes is CROWN's bound; any slopes in [0, 1] give a sound bound (box
/// vertices and 2000 random points never go below it); the optimised margins are never looser than CROWN's and
/// tighter on some boxes.
#[test]
fn alpha_crown_is_sound_and_never_looser_than_crown() {
    use stability::alpha::{alpha_crown, bound_with_slopes, initial_slopes};
    let (mut margins, mut tighter) = (0, 0);
    for (n, net) in nets().iter().enumerate() {
        let d = net.n_inputs();
        let last = net.layers().last().unwrap();
        let mut r = rng(9000 + n as u64);
        for trial in 0..8 {
            let x = point(d, &mut r);
            let class = argmax(&net.logits(&x));
            let eps = [0.02, 0.05, 0.1, 0.2][trial % 4];
            let (lo, hi) = eps_box(&x, eps);
            let c = crown(net, &lo, &hi, class, LowerSlope::Adaptive);
            let a = alpha_crown(net, &c, &lo, &hi, class, 30);
            let mut grad: Vec<Vec<f64>> = c.hidden.iter().map(|(l, _)| vec![0.0; l.len()]).collect();
            let random: Vec<Vec<f64>> =
                c.hidden.iter().map(|(l, _)| l.iter().map(|_| r.random_range(0.0..=1.0)).collect()).collect();
            let mut points: Vec<Vec<f64>> = (0..1usize << d)
                .map(|m| (0..d).map(|i| if m >> i & 1 == 1 { hi[i] } else { lo[i] }).collect())
                .collect();
            points.extend((0..2000).map(|_| (0..d).map(|i| r.random_range(lo[i]..=hi[i])).collect()));
            for j in (0..net.n_classes()).filter(|&j| j != class) {
                // The margin row over the last hidden layer.
                let mut row = vec![0.0; last.n_in()];
                last.row(class).iter().for_each(|&(i, w)| row[i as usize] += w);
                last.row(j).iter().for_each(|&(i, w)| row[i as usize] -= w);
                let bias = last.bias()[class] - last.bias()[j];
                let own =
                    bound_with_slopes(net, &c.hidden, &row, bias, &lo, &hi, &initial_slopes(&c.hidden), &mut grad);
                assert!(
                    (own - c.margins[j]).abs() < 1e-9 * (1.0 + own.abs()),
                    "net {n}: {own} vs CROWN {}",
                    c.margins[j]
                );
                let any = bound_with_slopes(net, &c.hidden, &row, bias, &lo, &hi, &random, &mut grad);
                for p in &points {
                    let l = net.logits(p);
                    let v = l[class] - l[j];
                    assert!(v >= any - 1e-9, "net {n}: margin {v} below the random-slope bound {any}");
                    assert!(v >= a.margins[j] - 1e-9, "net {n}: margin {v} below the α-CROWN bound {}", a.margins[j]);
                }
                assert!(a.margins[j] >= c.margins[j] - 1e-12, "net {n}: α-CROWN looser than CROWN");
                margins += 1;
                tighter += usize::from(a.margins[j] > c.margins[j] + 1e-9);
            }
            if a.certified() {
                assert!(points.iter().all(|p| argmax(&net.logits(p)) == class), "net {n}: certified box flips");
            }
        }
    }
    assert!(tighter > 0, "α-CROWN never tightened any of {margins} margins");
}

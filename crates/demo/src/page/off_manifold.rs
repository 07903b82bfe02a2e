//! The report's section on fooling and adversarial images off the manifold.

use report::{box_chart, Axis, BoxGroup};
use serde_json::Value;

use super::Page;
use crate::config::Config;
use crate::data::OffManifoldData;
use crate::util::{fmt3, fmt_opt, Result};

impl Page<'_> {
    pub(super) fn off_manifold(&mut self, cfg: &Config, o: &OffManifoldData) -> Result<()> {
        let (h, w, _) = o.image_shape;
        let acc = &o.accuracy;
        let num = |v: &Value| v.as_f64().map(fmt3).unwrap_or_else(|| "n/a".into());
        self.doc.paragraph(&format!(
            "A small convnet trained on {} shapes10 renders ({h}×{w} RGB, ten object classes, every camera and light \
             parameter and the hue random) for {} epochs: accuracy train {}, validation {}, held-out renders {}. \
             The off-manifold scores compare each query with the training renders (k = {} neighbours); AUROC = \
             probability that an image of the group scores higher than a natural held-out render (1 = always, \
             0.5 = indistinguishable).",
            cfg.n_train,
            cfg.epochs,
            num(&acc["train"]),
            num(&acc["validation"]),
            num(&acc["heldout"]),
            cfg.score_k
        ));

        self.off_manifold_scores(o)?;
        self.fooling(o)?;
        self.adversarial(o)?;
        self.flip_rates(o)?;
        self.interpolation(o);
        Ok(())
    }

    /// Score distributions per group (box plots) and the AUROC table.
    fn off_manifold_scores(&mut self, o: &OffManifoldData) -> Result<()> {
        // Scores per group.
        let mut header: Vec<String> = vec!["file".into(), "group".into()];
        header.extend(o.columns.iter().map(|c| c.name.clone()));
        header.extend(o.columns.iter().map(|c| format!("{}_pct", c.name)));
        let rows: Vec<Vec<String>> = (0..o.query_ids.len())
            .map(|i| {
                let mut r = vec![o.query_ids[i].clone(), o.groups[i].clone()];
                r.extend(o.columns.iter().map(|c| output::fmt_f64(c.values[i])));
                r.extend(o.columns.iter().map(|c| output::fmt_f64(c.percentiles[i])));
                r
            })
            .collect();
        let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
        let scores_csv = self.csv("scores.csv", &header_refs, rows)?;
        let auroc_csv = self.csv(
            "auroc.csv",
            &["group", "score", "auroc"],
            o.aurocs.iter().map(|a| vec![a.group.clone(), a.score.clone(), fmt_opt(a.auroc)]).collect(),
        )?;
        let auroc_of = |group: &str, score: &str| {
            o.aurocs.iter().find(|a| a.group == group && a.score == score).and_then(|a| a.auroc)
        };
        let mut figs = Vec::new();
        for c in &o.columns {
            let groups: Vec<BoxGroup> = o
                .group_order
                .iter()
                .map(|g| {
                    let label = match auroc_of(g, &c.name) {
                        Some(a) => format!("{g} (AUROC {a:.2})"),
                        None => format!("{g} (reference)"),
                    };
                    let values = o.groups.iter().zip(&c.values).filter(|(x, _)| *x == g).map(|(_, &v)| v).collect();
                    BoxGroup { label, values }
                })
                .collect();
            let finite: Vec<f64> = c.values.iter().copied().filter(|v| v.is_finite()).collect();
            let (lo, hi) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
            let axis = if lo > 0.0 && hi / lo > 30.0 {
                Axis::log(&format!("{} (log scale)", c.name))
            } else {
                Axis::linear(&c.name)
            };
            figs.push(self.figure(
                &format!("scores_{}", c.name),
                box_chart(&format!("Off-manifold score: {}", c.name), &axis, &groups, 620)?,
                "Boxes: 25th–75th percentile, bar: median, whiskers: 5th–95th percentile, dots: every image.",
                &[&scores_csv, &auroc_csv],
            )?);
        }
        self.doc.figures(figs);
        let score_names: Vec<&str> = o.columns.iter().map(|c| c.name.as_str()).collect();
        let mut header = vec!["group", "n"];
        header.extend(score_names.iter().copied());
        let table: Vec<Vec<String>> = o
            .group_order
            .iter()
            .skip(1)
            .map(|g| {
                let mut r = vec![g.clone(), o.groups.iter().filter(|x| *x == g).count().to_string()];
                r.extend(score_names.iter().map(|s| auroc_of(g, s).map(|a| format!("{a:.3}")).unwrap_or("n/a".into())));
                r
            })
            .collect();
        self.doc.table(
            "auroc_table",
            "AUROC of each score against natural held-out renders",
            &header,
            &table,
            vec![auroc_csv],
        );
        self.side_by_side(o)
    }

    /// Pixel space against the classifier's feature space, per group.
    fn side_by_side(&mut self, o: &OffManifoldData) -> Result<()> {
        if o.side_by_side.is_empty() {
            return Ok(());
        }
        let feature_csv = self.csv(
            "feature_auroc.csv",
            &["group", "score", "auroc"],
            o.feature_aurocs.iter().map(|a| vec![a.group.clone(), a.score.clone(), fmt_opt(a.auroc)]).collect(),
        )?;
        let pair = |p: &Option<(String, f64)>| match p {
            Some((s, a)) => (s.clone(), format!("{a:.3}")),
            None => ("n/a".into(), "n/a".into()),
        };
        let rows: Vec<Vec<String>> = o
            .side_by_side
            .iter()
            .map(|s| {
                let (ps, pa) = pair(&s.pixel_best);
                let (fs, fa) = pair(&s.feature_best);
                vec![
                    s.group.clone(),
                    pa,
                    ps,
                    fa,
                    fs,
                    s.combined_test.map(|a| format!("{a:.3}")).unwrap_or("n/a".into()),
                ]
            })
            .collect();
        let header = ["group", "pixel AUROC", "pixel score", "feature AUROC", "feature score", "combined (test half)"];
        let side_csv = self.csv("side_by_side.csv", &header, rows.clone())?;
        self.doc.paragraph(
            "The same scores on the classifier's activations (layers conv1, conv2, conv3, hidden and logits; scores \
             LAYER.knn_kth, LAYER.knn_mean, LAYER.tangent, LAYER.lid, and LAYER.mahalanobis, the smallest Mahalanobis \
             distance to a class mean with a shared covariance, Lee et al. 2018), plus logits.softmax, −ln of the \
             classifier's largest softmax probability (Hendrycks & Gimpel 2017). The best single score of each space \
             is picked by its AUROC on all rows (optimistic); the combination is a logistic regression over every \
             feature-space score (Ma et al. 2018) trained on a seeded half of the group and of the natural renders \
             (penalty chosen by cross-validation on that half) and evaluated on the other halves. The PGD attack stops \
             as soon as the label changes, so its images sit next to a decision boundary, where the softmax score is \
             high: it is what separates them here, far more than any distance to the training activations. The group \
             adversarial_confident_8 is PGD at the same budget kept going until the wrong class has 0.99 softmax \
             probability: the confidence score cannot see it, and its row shows what the other feature-space scores \
             do on their own.",
        );
        self.doc.table(
            "feature_auroc_table",
            "AUROC against natural held-out renders: pixel space vs the classifier's feature space",
            &header,
            &rows,
            vec![side_csv, feature_csv],
        );
        Ok(())
    }

    /// The fooling-image gallery and its confidence table.
    fn fooling(&mut self, o: &OffManifoldData) -> Result<()> {
        let (h, w, ch) = o.image_shape;
        // Fooling images.
        let fool_csv = self.csv(
            "fooling.csv",
            &["method", "class", "confidence", "confidence_png", "reached", "generation"],
            o.fooling
                .iter()
                .map(|f| {
                    vec![
                        f.method.clone(),
                        f.class.clone(),
                        output::fmt_f64(f.confidence),
                        output::fmt_f64(f.confidence_png),
                        f.reached.to_string(),
                        f.generation.to_string(),
                    ]
                })
                .collect(),
        )?;
        if !o.fooling.is_empty() {
            let per_row = o.fooling.iter().filter(|f| f.method == o.fooling[0].method).count().max(1);
            let imgs: Vec<Vec<f32>> = o.fooling.iter().map(|f| f.image.clone()).collect();
            let png = pixels::gallery_png(&imgs, pixels::ImageShape::new(h, w, ch), per_row, 3)?;
            let rel = "plots/fooling_gallery.png".to_string();
            output::write_bytes(&self.out.join(&rel), &png)?;
            let methods: Vec<String> = {
                let mut m: Vec<String> = Vec::new();
                for f in &o.fooling {
                    if !m.contains(&f.method) {
                        m.push(f.method.clone());
                    }
                }
                m
            };
            self.doc.png(
                "fooling_gallery",
                &png,
                "fooling images",
                &format!(
                    "Fooling images, one row per method ({}), one column per class in class order; confidences in \
                     the table below.",
                    methods.join(", ")
                ),
                vec![fool_csv.clone(), rel],
                None,
            );
            let classes: Vec<String> = {
                let mut c: Vec<String> = Vec::new();
                for f in &o.fooling {
                    if !c.contains(&f.class) {
                        c.push(f.class.clone());
                    }
                }
                c
            };
            let mut header = vec!["class".to_string()];
            header.extend(methods.iter().map(|m| format!("{m} confidence")));
            let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
            let table: Vec<Vec<String>> = classes
                .iter()
                .map(|c| {
                    let mut r = vec![c.clone()];
                    for m in &methods {
                        r.push(
                            o.fooling
                                .iter()
                                .find(|f| &f.class == c && &f.method == m)
                                .map(|f| {
                                    format!("{:.4}{}", f.confidence_png, if f.reached { "" } else { " (not reached)" })
                                })
                                .unwrap_or_default(),
                        );
                    }
                    r
                })
                .collect();
            self.doc.table(
                "fooling_table",
                "Classifier confidence of each fooling image as written to PNG (target 0.99)",
                &header_refs,
                &table,
                vec![fool_csv],
            );
        }
        Ok(())
    }

    /// The gallery of adversarial examples (clean, perturbed, perturbation).
    fn adversarial(&mut self, o: &OffManifoldData) -> Result<()> {
        let (h, w, ch) = o.image_shape;
        // Adversarial examples and flip rates.
        if !o.adversarial_examples.is_empty() {
            let eps = o.flip_rates.last().map(|f| f.eps).unwrap_or(8.0 / 255.0).max(1e-6) as f32;
            let mut imgs: Vec<Vec<f32>> = o.adversarial_examples.iter().map(|e| e.0.clone()).collect();
            imgs.extend(o.adversarial_examples.iter().map(|e| e.1.clone()));
            imgs.extend(
                o.adversarial_examples
                    .iter()
                    .map(|e| e.1.iter().zip(&e.0).map(|(p, c)| 0.5 + 0.5 * (p - c) / eps).collect::<Vec<f32>>()),
            );
            let png = pixels::gallery_png(&imgs, pixels::ImageShape::new(h, w, ch), o.adversarial_examples.len(), 3)?;
            let rel = "plots/adversarial_examples.png".to_string();
            output::write_bytes(&self.out.join(&rel), &png)?;
            let ex_csv = self.csv(
                "adversarial_examples.csv",
                &["column", "original_class", "new_class"],
                o.adversarial_examples
                    .iter()
                    .enumerate()
                    .map(|(i, e)| vec![i.to_string(), e.2.clone(), e.3.clone()])
                    .collect(),
            )?;
            let labels: Vec<String> = o.adversarial_examples.iter().map(|e| format!("{}→{}", e.2, e.3)).collect();
            self.doc.png(
                "adversarial_gallery",
                &png,
                "adversarial examples",
                &format!(
                    "PGD (L∞, ε = {:.4}) on held-out renders: clean (top), perturbed (middle), perturbation scaled \
                     to ±ε (bottom, grey = 0). Labels: {}.",
                    eps,
                    labels.join(", ")
                ),
                vec![ex_csv, rel],
                None,
            );
        }
        Ok(())
    }

    /// Adversarial vs random flip rates.
    fn flip_rates(&mut self, o: &OffManifoldData) -> Result<()> {
        let flip_csv = self.csv(
            "flip_rates.csv",
            &[
                "attack",
                "norm",
                "eps",
                "n_attacked",
                "n_flipped",
                "flip_rate",
                "random_flip_rate_l2",
                "random_flip_rate_linf",
                "median_l2",
                "median_linf",
                "median_tangent_fraction",
                "median_random_tangent_fraction",
            ],
            o.flip_rates
                .iter()
                .map(|f| {
                    vec![
                        f.attack.clone(),
                        f.norm.clone(),
                        output::fmt_f64(f.eps),
                        f.n_attacked.to_string(),
                        f.n_flipped.to_string(),
                        output::fmt_f64(f.flip_rate),
                        fmt_opt(f.random_flip_rate_l2),
                        fmt_opt(f.random_flip_rate_linf),
                        fmt_opt(f.median_l2),
                        fmt_opt(f.median_linf),
                        fmt_opt(f.tangent_fraction),
                        fmt_opt(f.random_tangent_fraction),
                    ]
                })
                .collect(),
        )?;
        let opt3 = |x: Option<f64>| x.map(fmt3).unwrap_or_else(|| "n/a".into());
        let table: Vec<Vec<String>> = o
            .flip_rates
            .iter()
            .map(|f| {
                vec![
                    format!("{} ({}, ε = {:.4})", f.attack, f.norm, f.eps),
                    format!("{}/{}", f.n_flipped, f.n_attacked),
                    fmt3(f.flip_rate),
                    opt3(f.random_flip_rate_l2),
                    opt3(f.random_flip_rate_linf),
                    opt3(f.median_l2),
                    opt3(f.median_linf),
                    opt3(f.tangent_fraction),
                    opt3(f.random_tangent_fraction),
                ]
            })
            .collect();
        self.doc.table(
            "flip_rate_table",
            "Adversarial vs random flip rates: the random rates perturb each flipped image by random noise of the same \
             L2 norm / inside the same L∞ ball; tangent fraction: share of the perturbation's energy in the local \
             tangent space of the natural images (random direction for comparison)",
            &[
                "attack",
                "flipped",
                "adversarial flip rate",
                "random flip rate (same L2)",
                "random flip rate (same L∞ ball)",
                "median L2",
                "median L∞",
                "tangent fraction",
                "random tangent fraction",
            ],
            &table,
            vec![flip_csv],
        );
        Ok(())
    }

    /// Flow-morph vs cross-fade midpoints.
    fn interpolation(&mut self, o: &OffManifoldData) {
        let num = |v: &Value| v.as_f64().map(fmt3).unwrap_or_else(|| "n/a".into());
        let it = &o.interpolation;
        let med = &it["median_rmse_to_true_midpoint"];
        self.doc.table(
            "interpolation_table",
            &format!(
                "Midpoints (t = ½) between two renders {}° of yaw apart: RMS pixel error to the true midpoint render",
                it["yaw_step_degrees"]
            ),
            &["interpolation", "median RMSE to the true midpoint", "pairs where it is the closer one"],
            &[
                vec![
                    "flow morph".into(),
                    num(&med["flow_morph"]),
                    format!("{}/{}", it["pairs_where_morph_is_closer"], it["n_pairs"]),
                ],
                vec!["cross-fade".into(), num(&med["cross_fade"]), String::new()],
            ],
            vec![],
        );
    }
}

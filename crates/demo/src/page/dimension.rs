//! The report's section on the dimension of rendered image sets.

use report::{xy_chart, Axis, Legend, Point, Series, Style, XyChart};

use super::{ci_text, Page};
use crate::config::Config;
use crate::data::DimensionData;
use crate::util::{fmt_opt, Result};

impl Page<'_> {
    pub(super) fn dimension(&mut self, cfg: &Config, d: &DimensionData) -> Result<()> {
        self.doc.paragraph(&format!(
            "The object scene (a textured crate on a checkered floor) rendered at {s}×{s} grey (4×4 supersampling, \
             Gaussian blur σ = {b} px) with the first p of yaw, pitch, roll, distance, shift_x, shift_y, \
             light_azimuth free, each uniform in a window around the default pose; {n} images per set. True \
             dimension = p. Estimators with skdim's names and defaults; 95 % intervals (analytic for mle and twonn, \
             for imanifold the base interval mapped through the calibration where its local quadratic-graph test is \
             inconclusive, the decision bootstrapped over the tested points where it is conclusive — the \
             graph_test entry of each set's dim/results.json says which and why —, half-sampling refits for lpca).",
            s = cfg.dim_size,
            b = cfg.dim_blur,
            n = cfg.dim_n
        ));
        let mut rows = Vec::new();
        for s in &d.sets {
            for e in &s.estimates {
                rows.push(vec![
                    s.true_dimension.to_string(),
                    s.parameters.join(";"),
                    e.estimator.clone(),
                    output::fmt_f64(e.dimension),
                    fmt_opt(e.ci95.map(|c| c.0)),
                    fmt_opt(e.ci95.map(|c| c.1)),
                    e.ci_method.clone(),
                    s.n.to_string(),
                    output::fmt_f64(e.seconds),
                ]);
            }
        }
        let csv = self.csv(
            "dimension.csv",
            &[
                "true_dimension",
                "parameters",
                "estimator",
                "dimension",
                "ci_low",
                "ci_high",
                "ci_method",
                "n",
                "seconds",
            ],
            rows,
        )?;
        let p_max = d.sets.len() as f64;
        let truth = |label: &str| {
            Series::new(label, vec![Point::new(0.5, 0.5), Point::new(p_max + 0.5, p_max + 0.5)], Style::Dashed).color(7)
        };
        let series_for = |name: &str, offset: f64, color: usize| {
            let pts: Vec<Point> = d
                .sets
                .iter()
                .filter_map(|s| s.estimates.iter().find(|e| e.estimator == name).map(|e| (s.true_dimension, e)))
                .map(|(p, e)| match e.ci95 {
                    Some((lo, hi)) => Point::with_interval(p as f64 + offset, e.dimension, lo, hi),
                    None => Point::new(p as f64 + offset, e.dimension),
                })
                .collect();
            Series::new(name, pts, Style::Markers).color(color).marker_size(4)
        };
        let knn_names: Vec<&String> = d.estimators.iter().filter(|e| e.as_str() != "lpca").collect();
        let mut chart = XyChart::new(
            "Estimated vs true dimension (kNN estimators)",
            Axis::linear("true dimension (free parameters)").with_range(0.5, p_max + 0.5),
            Axis::linear("estimated dimension"),
        )
        .series(truth("truth (y = x)"));
        for (i, name) in knn_names.iter().enumerate() {
            let off = (i as f64 - (knn_names.len() as f64 - 1.0) / 2.0) * 0.12;
            chart = chart.series(series_for(name, off, i));
        }
        let f1 = self.figure(
            "dimension",
            xy_chart(&chart)?,
            "Estimates with 95 % intervals (markers offset sideways for legibility); dashed: the true dimension.",
            &[&csv],
        )?;
        let lp = XyChart::new(
            "Global PCA (lpca, FO rule) vs true dimension",
            Axis::linear("true dimension (free parameters)").with_range(0.5, p_max + 0.5),
            Axis::linear("estimated dimension"),
        )
        .series(truth("truth (y = x)"))
        .series(series_for("lpca", 0.0, 3));
        let f2 = self.figure(
            "dimension_lpca",
            xy_chart(&lp)?,
            "skdim lPCA().fit on the whole set: a linear estimator counts the directions a curved manifold spans, \
             so it overshoots; its local version is in the ID-vs-k curves.",
            &[&csv],
        )?;
        self.doc.figures(vec![f1, f2]);

        let mut header = vec!["true dimension", "free parameters"];
        header.extend(d.estimators.iter().map(String::as_str));
        let table: Vec<Vec<String>> = d
            .sets
            .iter()
            .map(|s| {
                let mut r = vec![s.true_dimension.to_string(), s.parameters.join(", ")];
                for name in &d.estimators {
                    r.push(
                        s.estimates
                            .iter()
                            .find(|e| &e.estimator == name)
                            .map(|e| ci_text(e.dimension, e.ci95))
                            .unwrap_or_default(),
                    );
                }
                r
            })
            .collect();
        self.doc.table(
            "dimension_table",
            "Estimated dimension [95 % interval] per set",
            &header,
            &table,
            vec![csv.clone()],
        );

        self.id_vs_k(d)
    }

    /// ID-vs-k curves, one chart per estimator.
    fn id_vs_k(&mut self, d: &DimensionData) -> Result<()> {
        let mut rows = Vec::new();
        for s in &d.sets {
            for c in &s.curves {
                rows.push(vec![
                    s.true_dimension.to_string(),
                    c.estimator.clone(),
                    c.k.to_string(),
                    output::fmt_f64(c.dimension),
                    fmt_opt(c.ci95.map(|x| x.0)),
                    fmt_opt(c.ci95.map(|x| x.1)),
                ]);
            }
        }
        let curve_csv =
            self.csv("id_vs_k.csv", &["true_dimension", "estimator", "k", "dimension", "ci_low", "ci_high"], rows)?;
        let mut figs = Vec::new();
        for name in &d.curve_estimators {
            let mut chart = XyChart::new(
                &format!("ID vs k: {name}"),
                Axis::linear("neighbourhood size k"),
                Axis::linear("estimated dimension"),
            )
            .size(440, 380)
            .legend(Legend::Right);
            let ks: Vec<f64> = d.sets.iter().flat_map(|s| s.curves.iter().map(|c| c.k as f64)).collect();
            let (k0, k1) = ks.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &k| (a.min(k), b.max(k)));
            for (i, s) in d.sets.iter().enumerate() {
                let pts: Vec<Point> = s
                    .curves
                    .iter()
                    .filter(|c| &c.estimator == name)
                    .map(|c| Point::new(c.k as f64, c.dimension))
                    .collect();
                chart = chart
                    .series(Series::new(&format!("p = {}", s.true_dimension), pts, Style::LineAndMarkers).color(i));
                let p = s.true_dimension as f64;
                if k0.is_finite() {
                    chart = chart
                        .series(Series::new("", vec![Point::new(k0, p), Point::new(k1, p)], Style::Dashed).color(i));
                }
            }
            let id = format!(
                "id_vs_k_{}",
                name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect::<String>()
            );
            figs.push(self.figure(
                &id,
                xy_chart(&chart)?,
                &format!("{name} at neighbourhood sizes k for each set; dashed: the true dimension of the set of the same colour."),
                &[&curve_csv],
            )?);
        }
        self.doc.figures(figs);
        Ok(())
    }
}

//! Stage 4: `report.html` and the data of every plot in `plots/` (CSV, the SVG itself, the gallery PNGs).

use std::path::Path;

use report::{box_chart, xy_chart, Axis, BoxGroup, Document, Figure, Legend, Point, Series, Style, XyChart};
use serde_json::{json, Value};

use crate::config::{Config, Stage};
use crate::data::{DimensionData, GeodesicData, OffManifoldData};
use crate::util::{fmt3, fmt_opt, gallery_png, Result};

/// How a stage ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Done,
    /// Not compiled into this binary (its crates are missing from the build).
    NotBuilt,
    Failed(String),
}

impl Status {
    pub fn key(&self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::NotBuilt => "not_built",
            Status::Failed(_) => "failed",
        }
    }
}

/// One stage's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRecord {
    pub stage: Stage,
    pub status: Status,
    pub seconds: f64,
}

/// What the stages produced.
#[derive(Debug, Default)]
pub struct Collected {
    pub dimension: Option<DimensionData>,
    pub geodesic: Option<GeodesicData>,
    pub off_manifold: Option<OffManifoldData>,
}

/// Writes plots/* and report.html; returns the list of placed figures for results.json.
pub fn write(out: &Path, cfg: &Config, records: &[StageRecord], c: &Collected, total_seconds: f64) -> Result<Value> {
    let mut doc = Document::new("imanifold demo");
    let mut page = Page { out, doc: &mut doc };
    page.doc.heading(1, "imanifold demo: the manifold of natural images, measured", None);
    page.doc.paragraph(&format!(
        "Mode {} (seed {}); {} stages; total {:.1} s on {} worker threads. Every number below is in results.json; \
         every plot's data is linked under it (CSV beside this file), and each stage folder holds the outputs in the \
         formats of the individual imanifold commands.",
        cfg.mode(),
        cfg.seed,
        records.len(),
        total_seconds,
        rayon::current_num_threads()
    ));
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.stage.title().to_string(),
                match &r.status {
                    Status::Done => "done".into(),
                    Status::NotBuilt => "left out: not built".into(),
                    Status::Failed(_) => "FAILED".into(),
                },
                format!("{:.1}", r.seconds),
                r.stage.folder().to_string(),
            ]
        })
        .collect();
    page.doc.table(
        "stages",
        "Stages and their wall-clock time",
        &["stage", "status", "seconds", "folder"],
        &rows,
        vec![],
    );

    for r in records {
        page.doc.heading(2, r.stage.title(), Some(r.stage.key()));
        match &r.status {
            Status::NotBuilt => {
                page.doc.note(&format!(
                    "This stage is left out: this build of imanifold does not contain it (needs {}). No numbers are \
                     shown for it.",
                    r.stage.crates()
                ));
                continue;
            }
            Status::Failed(msg) => {
                page.doc.failure(&format!("This stage failed and is left out of the report: {msg}"));
                continue;
            }
            Status::Done => {}
        }
        match r.stage {
            Stage::Dimension => {
                if let Some(d) = &c.dimension {
                    page.dimension(cfg, d)?;
                }
            }
            Stage::Geodesic => {
                if let Some(g) = &c.geodesic {
                    page.geodesic(cfg, g)?;
                }
            }
            Stage::OffManifold => {
                if let Some(o) = &c.off_manifold {
                    page.off_manifold(cfg, o)?;
                }
            }
        }
    }
    doc.write(&out.join("report.html"))?;
    let list: Vec<Value> =
        doc.figure_list().iter().map(|f| json!({"id": f.id, "kind": f.kind, "files": f.files})).collect();
    Ok(json!({"report": "report.html", "figures": list, "linked_files": doc.linked_files()}))
}

struct Page<'a> {
    out: &'a Path,
    doc: &'a mut Document,
}

fn cells(v: &[String]) -> Vec<String> {
    v.to_vec()
}

fn ci_text(d: f64, ci: Option<(f64, f64)>) -> String {
    match ci {
        Some((lo, hi)) => format!("{d:.2} [{lo:.2}, {hi:.2}]"),
        None => format!("{d:.2}"),
    }
}

impl Page<'_> {
    /// Writes `plots/<id>.svg` and returns the figure with its data files and SVG file linked.
    fn figure(&self, id: &str, svg: String, caption: &str, data: &[&str]) -> Result<Figure> {
        let svg_file = format!("plots/{id}.svg");
        output::write_bytes(&self.out.join(&svg_file), svg.as_bytes())?;
        let mut files: Vec<String> = data.iter().map(|s| s.to_string()).collect();
        files.push(svg_file);
        Ok(Figure { id: id.to_string(), svg, caption: caption.to_string(), files })
    }

    fn csv(&self, name: &str, header: &[&str], rows: Vec<Vec<String>>) -> Result<String> {
        let rel = format!("plots/{name}");
        output::write_csv(&self.out.join(&rel), header, rows)?;
        Ok(rel)
    }

    fn dimension(&mut self, cfg: &Config, d: &DimensionData) -> Result<()> {
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

        // ID-vs-k curves.
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

    fn geodesic(&mut self, cfg: &Config, g: &GeodesicData) -> Result<()> {
        let n = g.truth.len();
        self.doc.paragraph(&format!(
            "The turntable scene (a textured vase) at {s}×{s} grey, spin uniform over the full circle, {n} images. \
             Graph: the symmetrised {k}-NN graph of the images; weights: RMS optical-flow displacement plus the \
             photometric residual (flow geodesics), or pixel distance (Euclidean graph). True distance: the spin \
             difference on the circle (period {p}°). Rank agreement (Spearman) over all pairs.",
            s = cfg.geo_size,
            k = cfg.geo_k,
            p = g.period
        ));
        let true_d = |i: usize, j: usize| {
            let d = (g.truth[i] - g.truth[j]).abs();
            if g.period.is_finite() {
                let d = d % g.period;
                d.min(g.period - d)
            } else {
                d
            }
        };
        let mut rows = Vec::with_capacity(n * (n.saturating_sub(1)) / 2);
        for i in 0..n {
            for j in i + 1..n {
                rows.push(vec![
                    i.to_string(),
                    j.to_string(),
                    output::fmt_f64(true_d(i, j)),
                    output::fmt_f64(g.flow[[i, j]] as f64),
                    output::fmt_f64(g.euclidean_graph[[i, j]] as f64),
                    output::fmt_f64(g.pixel[[i, j]] as f64),
                ]);
            }
        }
        let pairs_csv = self.csv(
            "geodesic_pairs.csv",
            &["i", "j", "true_distance", "flow_geodesic", "euclidean_geodesic", "pixel_distance"],
            rows,
        )?;
        // Draw at most ~3000 pairs per scatter (every pair is in the CSV).
        let total = n * n.saturating_sub(1) / 2;
        let stride = total.div_ceil(3000).max(1);
        let mut figs = Vec::new();
        for (idx, (name, title, m)) in [
            ("flow", "Flow geodesic", &g.flow),
            ("euclidean_graph", "Euclidean-graph geodesic", &g.euclidean_graph),
            ("pixel", "Pixel distance", &g.pixel),
        ]
        .into_iter()
        .enumerate()
        {
            let mut pts = Vec::new();
            let mut t = 0usize;
            for i in 0..n {
                for j in i + 1..n {
                    if t.is_multiple_of(stride) {
                        pts.push(Point::new(true_d(i, j), m[[i, j]] as f64));
                    }
                    t += 1;
                }
            }
            let rho = g.correlations.iter().find(|c| c.name == name).map(|c| c.spearman).unwrap_or(f64::NAN);
            let chart = XyChart::new(
                &format!("{title}: Spearman {}", fmt3(rho)),
                Axis::linear(&format!("true distance (degrees of spin, period {})", g.period)),
                Axis::linear(if name == "flow" { "geodesic length (px of flow)" } else { "distance" }),
            )
            .size(440, 360)
            .legend(Legend::None)
            .series(Series::new("", pts, Style::Markers).color(idx).marker_size(2));
            figs.push(self.figure(
                &format!("geodesic_{name}"),
                xy_chart(&chart)?,
                &format!("{title} vs true distance for {} of {total} pairs.", total.div_ceil(stride)),
                &[&pairs_csv],
            )?);
        }
        self.doc.figures(figs);
        let table: Vec<Vec<String>> = g
            .correlations
            .iter()
            .map(|c| cells(&[c.name.clone(), fmt3(c.spearman), fmt3(c.pearson), c.pairs.to_string()]))
            .collect();
        self.doc.table(
            "geodesic_table",
            "Agreement with the true distance",
            &["distance", "Spearman", "Pearson", "pairs"],
            &table,
            vec![pairs_csv],
        );
        if let Some((nodes, coords)) = &g.embedding {
            if coords.ncols() >= 2 {
                let rows: Vec<Vec<String>> = nodes
                    .iter()
                    .enumerate()
                    .map(|(r, &i)| {
                        vec![
                            i.to_string(),
                            output::fmt_f64(g.truth[i]),
                            output::fmt_f64(coords[[r, 0]]),
                            output::fmt_f64(coords[[r, 1]]),
                        ]
                    })
                    .collect();
                let emb_csv = self.csv("geodesic_embedding.csv", &["row", "spin", "x0", "x1"], rows)?;
                let bins = 6usize;
                let period = if g.period.is_finite() { g.period } else { 360.0 };
                let width = period / bins as f64;
                let mut chart = XyChart::new("Isomap of the flow geodesics", Axis::linear("x0"), Axis::linear("x1"))
                    .size(420, 380)
                    .legend(Legend::Right);
                for b in 0..bins {
                    let pts: Vec<Point> = nodes
                        .iter()
                        .enumerate()
                        .filter(|(_, &i)| ((g.truth[i].rem_euclid(period) / width) as usize).min(bins - 1) == b)
                        .map(|(r, _)| Point::new(coords[[r, 0]], coords[[r, 1]]))
                        .collect();
                    chart = chart.series(
                        Series::new(
                            &format!("spin in [{:.0}°, {:.0}°)", b as f64 * width, (b + 1) as f64 * width),
                            pts,
                            Style::Markers,
                        )
                        .color(b)
                        .marker_size(4),
                    );
                }
                let f = self.figure(
                    "geodesic_isomap",
                    xy_chart(&chart)?,
                    "Classical MDS of the flow geodesics: a one-parameter periodic set should embed as a closed loop \
                     ordered by angle.",
                    &[&emb_csv],
                )?;
                self.doc.figures(vec![f]);
            }
        }
        Ok(())
    }

    fn off_manifold(&mut self, cfg: &Config, o: &OffManifoldData) -> Result<()> {
        let (h, w, ch) = o.image_shape;
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
            let png = gallery_png(&imgs, h, w, ch, per_row, 3)?;
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

        // Adversarial examples and flip rates.
        if !o.adversarial_examples.is_empty() {
            let eps = o.flip_rates.first().map(|f| f.eps).unwrap_or(8.0 / 255.0).max(1e-6) as f32;
            let mut imgs: Vec<Vec<f32>> = o.adversarial_examples.iter().map(|e| e.0.clone()).collect();
            imgs.extend(o.adversarial_examples.iter().map(|e| e.1.clone()));
            imgs.extend(
                o.adversarial_examples
                    .iter()
                    .map(|e| e.1.iter().zip(&e.0).map(|(p, c)| 0.5 + 0.5 * (p - c) / eps).collect::<Vec<f32>>()),
            );
            let png = gallery_png(&imgs, h, w, ch, o.adversarial_examples.len(), 3)?;
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_left_out_or_failed_are_said_so_and_show_no_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let records = vec![
            StageRecord { stage: Stage::Dimension, status: Status::NotBuilt, seconds: 0.0 },
            StageRecord { stage: Stage::Geodesic, status: Status::Failed("flow exploded".into()), seconds: 1.0 },
        ];
        let v = write(dir.path(), &Config::quick(0), &records, &Collected::default(), 1.0).unwrap();
        let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
        assert!(html.contains("left out") && html.contains(Stage::Dimension.crates()), "{html}");
        assert!(html.contains("failed") && html.contains("flow exploded"), "{html}");
        assert!(!html.contains("<svg"), "no plots for stages without data");
        assert_eq!(v["figures"].as_array().unwrap().len(), 1, "only the stage table: {v}");
    }

    #[test]
    fn ci_text_formats_intervals() {
        assert_eq!(ci_text(4.256, Some((4.1, 4.4))), "4.26 [4.10, 4.40]");
        assert_eq!(ci_text(2.0, None), "2.00");
    }
}

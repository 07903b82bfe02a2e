//! The report's section on flow geodesics.

use report::{xy_chart, Axis, Legend, Point, Series, Style, XyChart};

use super::{cells, Page};
use crate::config::Config;
use crate::data::GeodesicData;
use crate::util::{fmt3, Result};

impl Page<'_> {
    pub(super) fn geodesic(&mut self, cfg: &Config, g: &GeodesicData) -> Result<()> {
        let n = g.truth.len();
        self.doc.paragraph(&format!(
            "The turntable scene (a textured vase) at {s}×{s} grey, spin uniform over the full circle, {n} images. \
             Graph: the symmetrised {k}-NN graph of the images, less the edges the optical flow explains much worse \
             than their ends' best edges, with sampling gaps closed (`imanifold geodesic --graph relative`, the \
             default); weights: RMS optical-flow displacement plus the \
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
        self.isomap(g)
    }

    /// The Isomap (classical MDS) of the flow geodesics, coloured by angle.
    fn isomap(&mut self, g: &GeodesicData) -> Result<()> {
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
}

//! The report's section on label stability against the number of pixels.

use report::{xy_chart, Axis, Legend, Point, Series, Style, XyChart};

use super::Page;
use crate::config::Config;
use crate::data::{StabilityData, StabilityFit, StabilityPoint};
use crate::util::{fmt3, fmt_opt, Result};

/// `k/255` when ε is a whole number of 8-bit steps, else its decimal (text) and the same with `_` (file names).
fn eps_label(eps: f64) -> (String, String) {
    let k = (eps * 255.0).round();
    if k >= 1.0 && (eps * 255.0 - k).abs() < 1e-9 {
        (format!("{k}/255"), format!("{k}_255"))
    } else {
        (format!("{eps}"), format!("{eps}").replace('.', "p"))
    }
}

/// `ln p` for a drawable positive share.
fn ln_pos(p: Option<f64>) -> Option<f64> {
    p.filter(|p| *p > 0.0).map(f64::ln)
}

/// The three shares of the curve: name, label, value.
const SHARES: [(&str, &str); 3] =
    [("stable_lower", "certified"), ("stable_upper", "1 - attacked"), ("prediction", "(1-q)^n_eff")];

fn share(p: &StabilityPoint, name: &str) -> Option<f64> {
    match name {
        "stable_lower" => Some(p.stable_lower),
        "stable_upper" => Some(p.stable_upper),
        _ => p.prediction,
    }
}

fn pct(x: Option<f64>) -> String {
    x.map(|x| format!("{:.1} %", 100.0 * x)).unwrap_or_else(|| "n/a".into())
}

impl Page<'_> {
    pub(super) fn stability(&mut self, cfg: &Config, s: &StabilityData) -> Result<()> {
        self.doc.paragraph(&format!(
            "shapes10 rendered at {sizes} pixels a side from the same scene parameters; at each size the same \
             network (global average pooling before the classifier) is trained on {nt} renders for {ep} epochs and \
             the correctly classified ones of {nq} test renders are measured. An image is stable at ε when its whole \
             L∞ ε-box keeps the label. The stable share P is bracketed: certified by IBP / CROWN / α-CROWN (lower \
             end) and 1 − the share where PGD, random points or a single pixel found a flip (upper end). Next to it \
             the independence prediction (1 − q)^n_eff, where q is the share of effective pixels whose own \
             ε-interval already flips the label. If incorrect regions of different pixels are weakly correlated, \
             ln P falls linearly in n = H·W·3; the lines are least-squares fits of ln P against n (sizes with P = 0 \
             cannot be drawn and are left out of the fits). The stage folder holds the output of `imanifold \
             stability sweep`.",
            sizes = cfg.stability_sizes.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", "),
            nt = cfg.stability_n_train,
            ep = cfg.stability_epochs,
            nq = cfg.stability_n_test,
        ));
        let curve_csv = self.stability_curve_csv(s)?;
        let fits_csv = self.csv(
            "stability_fits.csv",
            &["eps", "p", "points", "slope", "intercept", "r2"],
            s.fits
                .iter()
                .map(|f| {
                    vec![
                        output::fmt_f64(f.eps),
                        f.p.clone(),
                        f.points.to_string(),
                        fmt_opt(f.slope),
                        fmt_opt(f.intercept),
                        fmt_opt(f.r2),
                    ]
                })
                .collect(),
        )?;
        let mut figs = Vec::new();
        for &eps in &s.eps {
            let (text, file) = eps_label(eps);
            let pts: Vec<&StabilityPoint> = s.points.iter().filter(|p| p.eps == eps).collect();
            let fits: Vec<&StabilityFit> = s.fits.iter().filter(|f| f.eps == eps).collect();
            let chart = curve_chart(&text, &pts, &fits);
            figs.push(self.figure(
                &format!("stability_curve_{file}"),
                xy_chart(&chart)?,
                &format!(
                    "ln P(stable) against n at ε = {text}: markers are measured shares (certified, 1 − attacked) \
                     and the prediction, dashed lines their fits (slope per input value in the legend)."
                ),
                &[&curve_csv, &fits_csv],
            )?);
        }
        self.doc.figures(figs);
        self.stability_table(s)
    }

    fn stability_curve_csv(&self, s: &StabilityData) -> Result<String> {
        let rows = s
            .points
            .iter()
            .map(|p| {
                let mut r = vec![output::fmt_f64(p.eps), p.size.to_string(), p.n.to_string()];
                r.extend(SHARES.iter().map(|(name, _)| fmt_opt(share(p, name))));
                r.extend(SHARES.iter().map(|(name, _)| fmt_opt(ln_pos(share(p, name)))));
                r
            })
            .collect();
        self.csv(
            "stability_curve.csv",
            &[
                "eps",
                "size",
                "n",
                "stable_lower",
                "stable_upper",
                "prediction",
                "ln_stable_lower",
                "ln_stable_upper",
                "ln_prediction",
            ],
            rows,
        )
    }

    /// Random uniform / corner flip rates against PGD's and the clean test error, per size and ε.
    fn stability_table(&mut self, s: &StabilityData) -> Result<()> {
        let header = [
            "eps",
            "size",
            "n",
            "images",
            "uniform flips",
            "corner flips",
            "PGD flips",
            "clean error",
            "q",
            "n_eff",
            "certified",
            "1 - attacked",
            "bracket width",
        ];
        let mut csv_rows = Vec::new();
        let mut rows = Vec::new();
        for p in &s.points {
            csv_rows.push(vec![
                output::fmt_f64(p.eps),
                p.size.to_string(),
                p.n.to_string(),
                p.n_images.to_string(),
                fmt_opt(p.random_uniform_flip_rate),
                fmt_opt(p.random_corner_flip_rate),
                output::fmt_f64(p.pgd_flip_rate),
                output::fmt_f64(p.clean_error),
                fmt_opt(p.q_mean),
                output::fmt_f64(p.n_eff_mean),
                output::fmt_f64(p.stable_lower),
                output::fmt_f64(p.stable_upper),
                output::fmt_f64(p.bracket_width),
            ]);
            rows.push(vec![
                eps_label(p.eps).0,
                format!("{0}×{0}", p.size),
                p.n.to_string(),
                p.n_images.to_string(),
                pct(p.random_uniform_flip_rate),
                pct(p.random_corner_flip_rate),
                pct(Some(p.pgd_flip_rate)),
                pct(Some(p.clean_error)),
                p.q_mean.map(|q| format!("{q:.2e}")).unwrap_or_else(|| "n/a".into()),
                format!("{:.0}", p.n_eff_mean),
                fmt3(p.stable_lower),
                fmt3(p.stable_upper),
                fmt3(p.bracket_width),
            ]);
        }
        let csv = self.csv(
            "stability_table.csv",
            &[
                "eps",
                "size",
                "n",
                "n_images",
                "random_uniform_flip_rate",
                "random_corner_flip_rate",
                "pgd_flip_rate",
                "clean_error",
                "q_mean",
                "n_eff_mean",
                "stable_lower",
                "stable_upper",
                "bracket_width",
            ],
            csv_rows,
        )?;
        self.doc.table(
            "stability_table",
            "Random vs adversarial vs ordinary error: flip rates of random uniform points and random corners of the \
             ε-box (images whose box was certified count as not flipped), of PGD, and the clean test error of the \
             size's model; q and n_eff of the per-pixel flips; the bracket of the stable share",
            &header,
            &rows,
            vec![csv],
        );
        Ok(())
    }
}

/// One ε's chart: ln of each share against n, with its fit line over the sizes' range.
fn curve_chart(eps_text: &str, pts: &[&StabilityPoint], fits: &[&StabilityFit]) -> XyChart {
    let mut chart = XyChart::new(
        &format!("ln P(stable) against n, ε = {eps_text}"),
        Axis::linear("n = H·W·3"),
        Axis::linear("ln P"),
    )
    .size(520, 380)
    .legend(Legend::Right);
    let (lo, hi) =
        pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.n as f64), b.max(p.n as f64)));
    for (k, (name, label)) in SHARES.iter().enumerate() {
        let measured: Vec<Point> =
            pts.iter().filter_map(|p| ln_pos(share(p, name)).map(|y| Point::new(p.n as f64, y))).collect();
        chart = chart.series(Series::new(label, measured, Style::Markers).color(k).marker_size(5));
        if let Some(f) = fits.iter().find(|f| f.p == *name) {
            if let (Some(slope), Some(icpt)) = (f.slope, f.intercept) {
                let line = vec![Point::new(lo, icpt + slope * lo), Point::new(hi, icpt + slope * hi)];
                chart =
                    chart.series(Series::new(&format!("fit {label}: slope {slope:.2e}"), line, Style::Dashed).color(k));
            }
        }
    }
    chart
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eps_labels_name_eight_bit_steps() {
        assert_eq!(eps_label(2.0 / 255.0), ("2/255".to_string(), "2_255".to_string()));
        assert_eq!(eps_label(0.015), ("0.015".to_string(), "0p015".to_string()));
        assert_eq!(ln_pos(Some(0.0)), None);
        assert_eq!(ln_pos(Some(1.0)), Some(0.0));
    }
}

//! Chart axes: linear or logarithmic, their drawing range and tick labels.

/// One axis of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub label: String,
    /// Logarithmic (base 10) scale.
    pub log: bool,
    /// Fixed range (in data units); `None`: the data range with a 5 % margin.
    pub range: Option<(f64, f64)>,
}

impl Axis {
    pub fn linear(label: &str) -> Self {
        Axis { label: label.to_string(), log: false, range: None }
    }
    pub fn log(label: &str) -> Self {
        Axis { label: label.to_string(), log: true, range: None }
    }
    pub fn with_range(mut self, lo: f64, hi: f64) -> Self {
        self.range = Some((lo, hi));
        self
    }
    /// Data value → drawing coordinate (log10 on a log axis); `None` when it cannot be drawn.
    pub(crate) fn map(&self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            return None;
        }
        if self.log {
            (v > 0.0).then(|| v.log10())
        } else {
            Some(v)
        }
    }
    pub(crate) fn unmap(&self, c: f64) -> f64 {
        if self.log {
            10f64.powf(c)
        } else {
            c
        }
    }
    /// Drawing range from the mapped data values (or the fixed range).
    pub(crate) fn span(&self, mapped: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
        if let Some((lo, hi)) = self.range {
            let (a, b) = (self.map(lo)?, self.map(hi)?);
            return (b > a).then_some((a, b));
        }
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in mapped {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !(lo.is_finite() && hi.is_finite()) {
            return None;
        }
        if hi - lo < 1e-12 * (1.0 + lo.abs()) {
            let pad = if self.log { 0.5 } else { 0.5 * lo.abs().max(1.0) };
            return Some((lo - pad, hi + pad));
        }
        let pad = 0.05 * (hi - lo);
        Some((lo - pad, hi + pad))
    }
}

/// Tick label: a short decimal representation.
pub fn format_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    let s = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

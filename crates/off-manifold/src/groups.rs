//! Per-group score distributions and AUROCs against the reference-like group.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::stats::{auroc, Distribution};
use crate::ScoreColumn;

/// One group of queries.
#[derive(Debug, Clone, Serialize)]
pub struct GroupStats {
    pub name: String,
    pub n: usize,
    /// Distribution of every score column.
    pub scores: BTreeMap<String, Distribution>,
    /// Distribution of every percentile column.
    pub percentiles: BTreeMap<String, Distribution>,
    /// AUROC of every score for separating this group (positive, larger score) from the reference group; absent
    /// for the reference group itself.
    pub auroc: BTreeMap<String, Option<f64>>,
}

/// Groups in order of first appearance, with the reference group named.
#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    /// `natural` if present, else the first group.
    pub reference_group: String,
    pub groups: Vec<GroupStats>,
}

/// Splits the queries by `groups` (one label per query) and summarises every column.
pub fn group_report(columns: &[ScoreColumn], groups: &[String]) -> GroupReport {
    let mut names: Vec<&String> = Vec::new();
    for g in groups {
        if !names.contains(&g) {
            names.push(g);
        }
    }
    let reference_group =
        names.iter().find(|n| n.as_str() == "natural").or(names.first()).map(|s| s.to_string()).unwrap_or_default();
    let pick = |values: &[f64], name: &str| -> Vec<f64> {
        values.iter().zip(groups).filter(|(_, g)| g.as_str() == name).map(|(&v, _)| v).collect()
    };
    let stats = names
        .iter()
        .map(|&name| {
            let mut scores = BTreeMap::new();
            let mut percentiles = BTreeMap::new();
            let mut aurocs = BTreeMap::new();
            for c in columns {
                let mine = pick(&c.values, name);
                scores.insert(c.name.to_string(), Distribution::of(&mine));
                percentiles.insert(c.name.to_string(), Distribution::of(&pick(&c.percentiles, name)));
                if *name != reference_group {
                    aurocs.insert(c.name.to_string(), auroc(&mine, &pick(&c.values, &reference_group)));
                }
            }
            GroupStats {
                name: name.clone(),
                n: groups.iter().filter(|g| *g == name).count(),
                scores,
                percentiles,
                auroc: aurocs,
            }
        })
        .collect();
    GroupReport { reference_group, groups: stats }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;

    #[test]
    fn groups_and_aurocs() {
        let col = ScoreColumn {
            name: "knn_kth".into(),
            method: Method::Knn,
            values: vec![1.0, 5.0, 2.0, 6.0, 3.0],
            percentiles: vec![0.1, 0.9, 0.2, 0.95, 0.3],
            calibration: vec![],
        };
        let g: Vec<String> = ["a", "noise", "natural", "noise", "natural"].iter().map(|s| s.to_string()).collect();
        let r = group_report(&[col], &g);
        assert_eq!(r.reference_group, "natural");
        let names: Vec<&str> = r.groups.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "noise", "natural"]);
        let noise = &r.groups[1];
        assert_eq!(noise.n, 2);
        assert_eq!(noise.auroc["knn_kth"], Some(1.0));
        assert_eq!(noise.scores["knn_kth"].median, 5.5);
        assert_eq!(r.groups[0].auroc["knn_kth"], Some(0.0));
        assert!(r.groups[2].auroc.is_empty());
        // Without a `natural` group the first group is the reference.
        let g2: Vec<String> = ["x", "y", "x", "y", "x"].iter().map(|s| s.to_string()).collect();
        let col2 = ScoreColumn {
            name: "lid".into(),
            method: Method::Lid,
            values: vec![1.0, 5.0, 2.0, 6.0, 3.0],
            percentiles: vec![0.0; 5],
            calibration: vec![],
        };
        let r2 = group_report(&[col2], &g2);
        assert_eq!(r2.reference_group, "x");
        assert_eq!(r2.groups[1].auroc["lid"], Some(1.0));
    }
}

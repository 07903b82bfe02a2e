//! The estimators and the registry that builds them from a name and skdim-named parameters.

use std::cell::RefCell;

use serde_json::{Map, Value};

use crate::{DimError, Estimator};

pub mod carter;
pub mod corrint;
pub mod danco;
pub mod ess;
pub mod fishers;
pub mod gride;
pub mod local;
pub mod mle;
pub mod pca;
pub mod twonn;

/// imanifold names of every estimator, in the order the documentation lists them.
pub fn names() -> Vec<&'static str> {
    vec![
        "pca",
        "lpca",
        "mle",
        "twonn",
        "gride",
        "corrint",
        "danco",
        "mind-ml",
        "ess",
        "fishers",
        "mom",
        "tle",
        "mada",
        "knn",
        "imanifold",
    ]
}

/// Canonical imanifold name for a user-given name (imanifold names and skdim class names, any case).
pub fn canonical(name: &str) -> Option<&'static str> {
    let lower = name.trim().to_ascii_lowercase().replace('_', "-");
    let c = match lower.as_str() {
        "pca" => "pca",
        "lpca" => "lpca",
        "mle" => "mle",
        "twonn" | "two-nn" => "twonn",
        "gride" => "gride",
        "corrint" => "corrint",
        "danco" => "danco",
        "mind-ml" | "mindml" => "mind-ml",
        "ess" => "ess",
        "fishers" => "fishers",
        "mom" => "mom",
        "tle" => "tle",
        "mada" => "mada",
        "knn" => "knn",
        "imanifold" | "default" => "imanifold",
        _ => return None,
    };
    Some(c)
}

/// Builds an estimator.
pub fn build(name: &str, params: &Map<String, Value>) -> Result<Box<dyn Estimator>, DimError> {
    let canon = canonical(name).ok_or_else(|| DimError::UnknownEstimator(name.to_string()))?;
    let p = Params::new(canon, params);
    let est: Box<dyn Estimator> = match canon {
        "pca" => Box::new(pca::Pca::from_params(&p, false)?),
        "lpca" => Box::new(pca::Pca::from_params(&p, true)?),
        "mle" => Box::new(mle::Mle::from_params(&p)?),
        "twonn" => Box::new(twonn::TwoNn::from_params(&p)?),
        "gride" => Box::new(gride::Gride::from_params(&p)?),
        "corrint" => Box::new(corrint::CorrInt::from_params(&p)?),
        "danco" => Box::new(danco::Danco::from_params(&p)?),
        "mind-ml" => Box::new(danco::MindMl::from_params(&p)?),
        "ess" => Box::new(ess::Ess::from_params(&p)?),
        "fishers" => Box::new(fishers::FisherS::from_params(&p)?),
        "mom" => Box::new(local::Mom::from_params(&p)?),
        "tle" => Box::new(local::Tle::from_params(&p)?),
        "mada" => Box::new(local::Mada::from_params(&p)?),
        "knn" => Box::new(carter::CarterKnn::from_params(&p)?),
        "imanifold" => Box::new(crate::corrected::Corrected::from_params(&p)?),
        _ => unreachable!("canonical names are all handled"),
    };
    p.finish()?;
    Ok(est)
}

/// Typed access to user parameters, with skdim's defaults; unknown keys are an error.
pub(crate) struct Params<'a> {
    est: &'static str,
    map: &'a Map<String, Value>,
    used: RefCell<Vec<String>>,
}

impl<'a> Params<'a> {
    pub fn new(est: &'static str, map: &'a Map<String, Value>) -> Self {
        Params { est, map, used: RefCell::new(Vec::new()) }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.used.borrow_mut().push(key.to_string());
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn invalid(&self, key: &str, value: impl std::fmt::Display, reason: impl Into<String>) -> DimError {
        DimError::InvalidParameter {
            estimator: self.est,
            param: key.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub fn f64(&self, key: &str, default: f64) -> Result<f64, DimError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_f64().filter(|x| x.is_finite()).ok_or_else(|| self.invalid(key, v, "expected a number")),
        }
    }

    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>, DimError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|x| Some(x as usize))
                .ok_or_else(|| self.invalid(key, v, "expected a non-negative integer")),
        }
    }

    pub fn usize(&self, key: &str, default: usize) -> Result<usize, DimError> {
        Ok(self.opt_usize(key)?.unwrap_or(default))
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool, DimError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Number(n)) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => Ok(n.as_u64() == Some(1)),
            Some(v) => Err(self.invalid(key, v, "expected true or false")),
        }
    }

    pub fn string(&self, key: &str, default: &str) -> Result<String, DimError> {
        match self.get(key) {
            None => Ok(default.to_string()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Ok(v.to_string()),
        }
    }

    pub fn opt_string(&self, key: &str) -> Option<String> {
        self.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// Errors on keys no accessor asked for.
    pub fn finish(&self) -> Result<(), DimError> {
        let used = self.used.borrow();
        if let Some(k) = self.map.keys().find(|k| !used.contains(k)) {
            let mut known: Vec<String> = used.clone();
            known.sort();
            known.dedup();
            return Err(DimError::UnknownParameter { estimator: self.est, param: k.clone(), known: known.join(", ") });
        }
        Ok(())
    }
}

/// `n_neighbors` of a local estimator: at least 2 (skdim caps at n − 1 at fit time; imanifold refuses instead).
pub(crate) fn n_neighbors(p: &Params, default: usize) -> Result<usize, DimError> {
    let k = p.usize("n_neighbors", default)?;
    if k < 2 {
        return Err(p.invalid("n_neighbors", k, "must be at least 2"));
    }
    Ok(k)
}

/// Reads `comb` (default `default`).
pub(crate) fn comb(p: &Params, default: &str) -> Result<crate::Comb, DimError> {
    crate::Comb::parse(p.est, &p.string("comb", default)?)
}

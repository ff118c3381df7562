//! What a store may keep: the rules, and how an artifact's value is scored.

use crate::{Result, StaleError};

/// What happens to an artifact a rule lets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Copied to the archive, then removed; `restore` brings it back.
    Archive,
    /// Removed for good.
    Delete,
}

/// How much an artifact is worth keeping, in [0, 1]: the weighted mean of
///
/// - recency: `0.5 ^ (idle / half_life)`, idle = seconds since last read or write;
/// - frequency: `ln(1 + reads) / ln(1 + most reads of any artifact)`;
/// - quality: its quality score clamped to [0, 1], 0.5 when it has none;
/// - training: 1 for training data, else 0.
///
/// When the store is over `max_total_bytes`, the least valuable go first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub recency: f64,
    pub frequency: f64,
    pub quality: f64,
    pub training: f64,
    /// Seconds for recency to halve.
    pub half_life: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            recency: 0.4,
            frequency: 0.3,
            quality: 0.2,
            training: 0.1,
            half_life: 7.0 * 86_400.0,
        }
    }
}

/// The rules. What is reachable from a ref version, a pin, a DAG root, a
/// kept tag or training data (through lineage, every ancestor too) is
/// always kept; every other artifact goes when one of the limits says so.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Seconds after its creation during which an artifact is never
    /// removed, reachable or not: its producer has time to name it, pin it
    /// or put what it was made into.
    pub grace: f64,
    /// Seconds since the last read or write.
    pub max_age: Option<f64>,
    /// Fewer reads than this, once older than `access_grace`.
    pub min_access_count: Option<u64>,
    /// Seconds an artifact has before `min_access_count` judges it.
    pub access_grace: f64,
    /// A quality score below this (artifacts without one are not judged).
    pub min_quality: Option<f64>,
    /// Stored bytes the store may hold; the least valuable go first.
    pub max_total_bytes: Option<u64>,
    /// Keep artifacts tagged `training_tag`, and their lineage.
    pub preserve_training: bool,
    pub training_tag: String,
    /// Artifacts with any of these tags are kept.
    pub keep_tags: Vec<String>,
    /// Only the last N versions of each name are kept by their name;
    /// `None`: every version is.
    pub keep_last_versions: Option<u32>,
    pub weights: Weights,
    pub action: Action,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            grace: 3_600.0,
            max_age: None,
            min_access_count: None,
            access_grace: 86_400.0,
            min_quality: None,
            max_total_bytes: None,
            preserve_training: true,
            training_tag: "training".into(),
            keep_tags: Vec::new(),
            keep_last_versions: None,
            weights: Weights::default(),
            action: Action::Archive,
        }
    }
}

impl Policy {
    /// Refuses settings that cannot mean anything.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(StaleError::Policy(what));
        if let Some(a) = self.max_age
            && !(a.is_finite() && a >= 0.0)
        {
            return bad(format!("max_age must be seconds >= 0, got {a}"));
        }
        if !(self.grace.is_finite() && self.grace >= 0.0) {
            return bad(format!("grace must be seconds >= 0, got {}", self.grace));
        }
        if !(self.access_grace.is_finite() && self.access_grace >= 0.0) {
            return bad(format!("access_grace must be seconds >= 0, got {}", self.access_grace));
        }
        if let Some(q) = self.min_quality
            && !q.is_finite()
        {
            return bad(format!("min_quality must be a number, got {q}"));
        }
        if self.keep_last_versions == Some(0) {
            return bad("keep_last_versions must be at least 1 (None keeps every version)".into());
        }
        let w = &self.weights;
        for (name, x) in [
            ("recency", w.recency),
            ("frequency", w.frequency),
            ("quality", w.quality),
            ("training", w.training),
        ] {
            if !(x.is_finite() && x >= 0.0) {
                return bad(format!("weight '{name}' must be >= 0, got {x}"));
            }
        }
        if w.recency + w.frequency + w.quality + w.training <= 0.0 {
            return bad("at least one weight must be positive".into());
        }
        if !(w.half_life.is_finite() && w.half_life > 0.0) {
            return bad(format!("half_life must be seconds > 0, got {}", w.half_life));
        }
        Ok(())
    }
}

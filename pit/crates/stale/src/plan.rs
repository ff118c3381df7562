//! Mark and decide: what is reachable is kept, with the rule that keeps it;
//! the rest is weighed against the limits. Pure: a snapshot in, a plan out.

use std::collections::HashMap;
use std::fmt;

use pit_artifacts::{Hash, Snapshot};

use crate::policy::{Action, Policy};

/// The rule that decided an artifact's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    Pinned,
    /// Named by a live DAG.
    Root,
    /// A version of a name (within `keep_last_versions`).
    Ref,
    /// Carries one of `keep_tags`.
    Tagged,
    Training,
    /// An ancestor of something kept by one of the rules above.
    Lineage,
    MaxAge,
    MinAccessCount,
    MinQuality,
    MaxTotalBytes,
    /// Younger than the policy's grace.
    Grace,
    /// Unreachable, but within every limit.
    WithinLimits,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::Pinned => "pinned",
            Rule::Root => "dag root",
            Rule::Ref => "ref",
            Rule::Tagged => "kept tag",
            Rule::Training => "training data",
            Rule::Lineage => "lineage",
            Rule::MaxAge => "max_age",
            Rule::MinAccessCount => "min_access_count",
            Rule::MinQuality => "min_quality",
            Rule::MaxTotalBytes => "max_total_bytes",
            Rule::Grace => "grace",
            Rule::WithinLimits => "within limits",
        }
    }

    /// Whether this rule keeps what it decides whatever the limits say.
    pub fn protects(self) -> bool {
        matches!(
            self,
            Rule::Pinned | Rule::Root | Rule::Ref | Rule::Tagged | Rule::Training | Rule::Lineage | Rule::Grace
        )
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Keep,
    Archive,
    Delete,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Keep => "keep",
            Verdict::Archive => "archive",
            Verdict::Delete => "delete",
        }
    }
}

/// One artifact's fate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub hash: Hash,
    pub verdict: Verdict,
    pub rule: Rule,
    /// See [`crate::Weights`].
    pub value: f64,
    pub stored_size: u64,
}

/// Every artifact's fate, and what it adds up to.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub decisions: Vec<Decision>,
    /// The journal position of the snapshot it was made from.
    pub seq: i64,
    /// When that snapshot was taken.
    pub taken: f64,
    pub kept_bytes: u64,
    pub freed_bytes: u64,
    /// Bytes over `max_total_bytes` that protected artifacts alone take.
    pub over_limit_bytes: u64,
}

impl Plan {
    /// The decisions that remove something.
    pub fn removals(&self) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().filter(|d| d.verdict != Verdict::Keep)
    }

    pub fn count(&self, verdict: Verdict) -> usize {
        self.decisions.iter().filter(|d| d.verdict == verdict).count()
    }
}

/// Decides every artifact of `snap` under `policy`; `roots` are hashes a
/// live DAG still needs.
pub fn plan(snap: &Snapshot, policy: &Policy, roots: &[Hash]) -> Plan {
    let n = snap.entries.len();
    let why = mark(snap, policy, roots);
    let now = snap.taken;
    let w = &policy.weights;
    let max_reads = snap.entries.iter().map(|e| e.access_count).max().unwrap_or(0);
    let freq_norm = (1.0 + max_reads as f64).ln().max(f64::MIN_POSITIVE);
    let training: Vec<bool> = {
        let mut t = vec![false; n];
        if let Some(list) = snap.tagged.get(&policy.training_tag) {
            for &i in list {
                t[i as usize] = true;
            }
        }
        t
    };
    let weight_sum = w.recency + w.frequency + w.quality + w.training;
    let evict = match policy.action {
        Action::Archive => Verdict::Archive,
        Action::Delete => Verdict::Delete,
    };
    let mut decisions: Vec<Decision> = snap
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let idle = (now - e.accessed).max(0.0);
            let recency = 0.5f64.powf(idle / w.half_life);
            let frequency = (1.0 + e.access_count as f64).ln() / freq_norm;
            let quality = e.quality.map_or(0.5, |q| q.clamp(0.0, 1.0));
            let train = if training[i] { 1.0 } else { 0.0 };
            let value =
                (w.recency * recency + w.frequency * frequency + w.quality * quality + w.training * train) / weight_sum;
            let (verdict, rule) = match why[i] {
                Some(rule) => (Verdict::Keep, rule),
                None => {
                    let age = (now - e.created).max(0.0);
                    if policy.max_age.is_some_and(|m| idle > m) {
                        (evict, Rule::MaxAge)
                    } else if policy
                        .min_access_count
                        .is_some_and(|m| age > policy.access_grace && e.access_count < m)
                    {
                        (evict, Rule::MinAccessCount)
                    } else if policy.min_quality.is_some_and(|m| e.quality.is_some_and(|q| q < m)) {
                        (evict, Rule::MinQuality)
                    } else {
                        (Verdict::Keep, Rule::WithinLimits)
                    }
                }
            };
            Decision {
                hash: e.hash,
                verdict,
                rule,
                value,
                stored_size: e.stored_size,
            }
        })
        .collect();
    let mut kept: u64 = decisions
        .iter()
        .filter(|d| d.verdict == Verdict::Keep)
        .map(|d| d.stored_size)
        .sum();
    let mut over = 0;
    if let Some(limit) = policy.max_total_bytes
        && kept > limit
    {
        let mut candidates: Vec<usize> = (0..n).filter(|&i| decisions[i].rule == Rule::WithinLimits).collect();
        // Least valuable first; of equal value, the longest idle, then the largest.
        candidates.sort_by(|&a, &b| {
            let (da, db) = (&decisions[a], &decisions[b]);
            da.value
                .total_cmp(&db.value)
                .then(snap.entries[a].accessed.total_cmp(&snap.entries[b].accessed))
                .then(db.stored_size.cmp(&da.stored_size))
        });
        for i in candidates {
            if kept <= limit {
                break;
            }
            decisions[i].verdict = evict;
            decisions[i].rule = Rule::MaxTotalBytes;
            kept -= decisions[i].stored_size;
        }
        over = kept.saturating_sub(limit);
    }
    let freed = decisions
        .iter()
        .filter(|d| d.verdict != Verdict::Keep)
        .map(|d| d.stored_size)
        .sum();
    Plan {
        decisions,
        seq: snap.seq,
        taken: snap.taken,
        kept_bytes: kept,
        freed_bytes: freed,
        over_limit_bytes: over,
    }
}

/// Why each artifact is reachable (`None`: it is not). Seeds in order of
/// precedence, then every ancestor through lineage.
fn mark(snap: &Snapshot, policy: &Policy, roots: &[Hash]) -> Vec<Option<Rule>> {
    let n = snap.entries.len();
    let mut why: Vec<Option<Rule>> = vec![None; n];
    let mut queue: Vec<u32> = Vec::new();
    let mut seed = |i: u32, rule: Rule, why: &mut Vec<Option<Rule>>| {
        if why[i as usize].is_none() {
            why[i as usize] = Some(rule);
            queue.push(i);
        }
    };
    for &i in &snap.pins {
        seed(i, Rule::Pinned, &mut why);
    }
    // The young are kept, and so what they were made from: their producer
    // may name them any moment, and the lineage must still be there.
    for (i, e) in snap.entries.iter().enumerate() {
        if snap.taken - e.created < policy.grace {
            seed(i as u32, Rule::Grace, &mut why);
        }
    }
    if !roots.is_empty() {
        let at: HashMap<Hash, u32> = snap
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.hash, i as u32))
            .collect();
        for r in roots {
            if let Some(&i) = at.get(r) {
                seed(i, Rule::Root, &mut why);
            }
        }
    }
    for i in kept_versions(snap, policy.keep_last_versions) {
        seed(i, Rule::Ref, &mut why);
    }
    for tag in &policy.keep_tags {
        for &i in snap.tagged.get(tag).map(Vec::as_slice).unwrap_or(&[]) {
            seed(i, Rule::Tagged, &mut why);
        }
    }
    if policy.preserve_training {
        for &i in snap.tagged.get(&policy.training_tag).map(Vec::as_slice).unwrap_or(&[]) {
            seed(i, Rule::Training, &mut why);
        }
    }
    // Inputs of each artifact, as a compressed adjacency list.
    let mut start = vec![0u32; n + 1];
    for &(a, _) in &snap.edges {
        start[a as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut inputs = vec![0u32; snap.edges.len()];
    for &(a, b) in &snap.edges {
        inputs[fill[a as usize] as usize] = b;
        fill[a as usize] += 1;
    }
    while let Some(i) = queue.pop() {
        for &j in &inputs[start[i as usize] as usize..start[i as usize + 1] as usize] {
            if why[j as usize].is_none() {
                why[j as usize] = Some(Rule::Lineage);
                queue.push(j);
            }
        }
    }
    why
}

/// Artifacts that are one of the last `keep` versions of some name.
fn kept_versions(snap: &Snapshot, keep: Option<u32>) -> impl Iterator<Item = u32> + '_ {
    snap.refs
        .iter()
        .filter(move |(rank, _)| keep.is_none_or(|k| *rank < k))
        .map(|&(_, i)| i)
}

//! Version requirements on extensions, as Cargo writes them (`^1.2`, `~1.2.3`,
//! `>=1, <3`, `=2.0.0`, `1.*`, pre-releases such as `^2.0.0-beta.1`), and their
//! translation to the version sets PubGrub solves over.

use std::ops::Bound;

use pubgrub::Ranges;
use semver::{Comparator, Op, Prerelease, Version, VersionReq};

use crate::KitError;

/// A parsed requirement, keeping the text the author wrote for messages.
#[derive(Debug, Clone)]
pub struct Requirement {
    pub text: String,
    pub req: VersionReq,
}

impl Requirement {
    pub fn parse(text: &str) -> Result<Self, KitError> {
        let trimmed = text.trim();
        let req = VersionReq::parse(trimmed).map_err(|e| {
            KitError::Requirement(format!(
                "{trimmed:?} is not a version requirement such as \"^1.2\": {e}"
            ))
        })?;
        Ok(Self {
            text: trimmed.to_owned(),
            req,
        })
    }

    /// Whether `v` satisfies it. A pre-release satisfies it only when one of
    /// its comparators names a pre-release of the same major.minor.patch, as
    /// Cargo and npm decide: `^1.0` never picks `1.1.0-rc.1`.
    pub fn matches(&self, v: &Version) -> bool {
        self.req.matches(v)
    }

    /// The set of versions it allows, exact on every version in `known`: the
    /// comparators' intervals, then corrected version by version where the
    /// pre-release rule (which no interval expresses) decides otherwise.
    pub fn ranges<'a>(&self, known: impl IntoIterator<Item = &'a Version>) -> Ranges<Version> {
        let mut set = Ranges::full();
        for c in &self.req.comparators {
            set = set.intersection(&comparator_hull(c));
        }
        for v in known {
            match (self.matches(v), set.contains(v)) {
                (true, false) => set = set.union(&Ranges::singleton(v.clone())),
                (false, true) => set = set.intersection(&Ranges::singleton(v.clone()).complement()),
                _ => {}
            }
        }
        set
    }
}

/// The smallest version of `major.minor.patch`: its lowest pre-release, so that
/// an exclusive bound there leaves out the pre-releases of the next release too.
fn floor(major: u64, minor: u64, patch: u64) -> Version {
    Version {
        major,
        minor,
        patch,
        pre: Prerelease::new("0").expect("0 is a pre-release"),
        build: Default::default(),
    }
}

fn version(c: &Comparator) -> Version {
    Version {
        major: c.major,
        minor: c.minor.unwrap_or(0),
        patch: c.patch.unwrap_or(0),
        pre: c.pre.clone(),
        build: Default::default(),
    }
}

/// The interval one comparator spans, ignoring the pre-release rule.
fn comparator_hull(c: &Comparator) -> Ranges<Version> {
    let (maj, min, pat) = (c.major, c.minor, c.patch);
    let v = version(c);
    // The first version past the part the comparator names.
    let next_minor = |m: u64| floor(maj, m + 1, 0);
    let next_major = || floor(maj + 1, 0, 0);
    let upto_named = || match (min, pat) {
        (Some(m), Some(p)) => floor(maj, m, p + 1),
        (Some(m), None) => next_minor(m),
        _ => next_major(),
    };
    let (lo, hi): (Bound<Version>, Bound<Version>) = match c.op {
        Op::Exact | Op::Wildcard => match (min, pat) {
            (Some(_), Some(_)) if c.op == Op::Exact => (Bound::Included(v.clone()), Bound::Included(v)),
            _ => (Bound::Included(v), Bound::Excluded(upto_named())),
        },
        Op::Greater => match (min, pat) {
            (Some(_), Some(_)) => (Bound::Excluded(v), Bound::Unbounded),
            _ => (Bound::Included(upto_named()), Bound::Unbounded),
        },
        Op::GreaterEq => (Bound::Included(v), Bound::Unbounded),
        Op::Less => (
            Bound::Unbounded,
            Bound::Excluded(if pat.is_some() {
                v
            } else {
                floor(maj, min.unwrap_or(0), 0)
            }),
        ),
        Op::LessEq => match (min, pat) {
            (Some(_), Some(_)) => (Bound::Unbounded, Bound::Included(v)),
            _ => (Bound::Unbounded, Bound::Excluded(upto_named())),
        },
        Op::Tilde => match min {
            Some(m) => (Bound::Included(v), Bound::Excluded(next_minor(m))),
            None => (Bound::Included(v), Bound::Excluded(next_major())),
        },
        Op::Caret => match (maj, min, pat) {
            (0, Some(0), Some(p)) => (Bound::Included(v), Bound::Excluded(floor(0, 0, p + 1))),
            (0, Some(m), _) => (Bound::Included(v), Bound::Excluded(floor(0, m + 1, 0))),
            _ => (Bound::Included(v), Bound::Excluded(next_major())),
        },
        // Op is non-exhaustive; a future operator is left to the correction
        // against known versions, which is exact whatever the hull.
        _ => (Bound::Unbounded, Bound::Unbounded),
    };
    Ranges::from_range_bounds((lo, hi))
}

/// A version set as a person reads it: `^1.2.0`, `~0.3.1`, `>=1.0.0, <1.4.0`, `1.0.0`.
pub fn describe(set: &Ranges<Version>) -> String {
    if set.is_empty() {
        return "no version".to_owned();
    }
    let parts: Vec<String> = set.iter().map(|(lo, hi)| segment(lo, hi)).collect();
    parts.join(" or ")
}

fn plain(v: &Version) -> String {
    // `<1.3.0-0` excludes 1.3.0's pre-releases too: to a reader, `<1.3.0`.
    if v.pre.as_str() == "0" {
        format!("{}.{}.{}", v.major, v.minor, v.patch)
    } else {
        v.to_string()
    }
}

fn segment(lo: &Bound<Version>, hi: &Bound<Version>) -> String {
    match (lo, hi) {
        (Bound::Unbounded, Bound::Unbounded) => "*".to_owned(),
        (Bound::Included(a), Bound::Included(b)) if a == b => a.to_string(),
        (Bound::Included(a), Bound::Excluded(b)) if b.pre.as_str() == "0" => {
            let caret = if a.major > 0 {
                (b.major, b.minor, b.patch) == (a.major + 1, 0, 0)
            } else if a.minor > 0 {
                (b.major, b.minor, b.patch) == (0, a.minor + 1, 0)
            } else {
                (b.major, b.minor, b.patch) == (0, 0, a.patch + 1)
            };
            if caret {
                format!("^{a}")
            } else if (b.major, b.minor, b.patch) == (a.major, a.minor + 1, 0) {
                format!("~{a}")
            } else {
                format!(">={a}, <{}", plain(b))
            }
        }
        _ => {
            let low = match lo {
                Bound::Included(a) => Some(format!(">={a}")),
                Bound::Excluded(a) => Some(format!(">{a}")),
                Bound::Unbounded => None,
            };
            let high = match hi {
                Bound::Included(b) => Some(format!("<={b}")),
                Bound::Excluded(b) => Some(format!("<{}", plain(b))),
                Bound::Unbounded => None,
            };
            [low, high].into_iter().flatten().collect::<Vec<_>>().join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn hulls_agree_with_semver_on_versions_they_were_not_corrected_for() {
        let probes: Vec<Version> = [
            "0.0.1",
            "0.0.2",
            "0.1.0",
            "0.1.5",
            "0.2.0",
            "1.0.0-alpha",
            "1.0.0",
            "1.1.9",
            "1.2.0-rc.1",
            "1.2.0",
            "1.2.3",
            "1.2.4",
            "1.3.0-beta",
            "1.3.0",
            "1.9.9",
            "2.0.0-0",
            "2.0.0",
            "2.5.1",
            "3.0.0",
        ]
        .iter()
        .map(|s| v(s))
        .collect();
        for text in [
            "^1.2",
            "^1.2.3",
            "^0.1",
            "^0.0.1",
            "^0",
            "~1.2",
            "~1.2.3",
            "~1",
            ">1.2",
            ">1.2.3",
            ">=1.2",
            "<1.3",
            "<=1.2",
            "<=1.2.3",
            "=1.2",
            "=1.2.3",
            "1.*",
            "1.2.*",
            "*",
            ">=1, <2",
            "^1.2.0-rc.1",
            ">=1.3.0-beta",
        ] {
            let r = Requirement::parse(text).unwrap();
            let set = r.ranges([]);
            for p in probes.iter().filter(|p| p.pre.is_empty()) {
                assert_eq!(set.contains(p), r.matches(p), "{text} on {p}");
            }
            let corrected = r.ranges(&probes);
            for p in &probes {
                assert_eq!(corrected.contains(p), r.matches(p), "{text} on {p} after correction");
            }
        }
    }

    #[test]
    fn sets_read_as_written() {
        for (text, shown) in [
            ("^1.2", "^1.2.0"),
            ("~1.2.3", "~1.2.3"),
            ("^0.3", "^0.3.0"),
            (">=1, <1.4", ">=1.0.0, <1.4.0"),
            ("=2.0.0", "2.0.0"),
        ] {
            assert_eq!(describe(&Requirement::parse(text).unwrap().ranges([])), shown);
        }
    }

    #[test]
    fn a_malformed_requirement_is_named() {
        let e = Requirement::parse("^^1").unwrap_err().to_string();
        assert!(e.contains("\"^^1\""), "{e}");
    }
}

//! Dependency resolution with PubGrub: the newest versions that satisfy every
//! requirement, or an explanation of why none exist, in PubGrub's words.

use std::collections::BTreeMap;

use std::cell::RefCell;
use std::cmp::Reverse;
use std::convert::Infallible;

use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyConstraints, DependencyProvider, Derived, External, Map,
    PackageResolutionStatistics, PubGrubError, Ranges, ReportFormatter, Reporter, Term,
};
use rustc_hash::FxHashMap;
use semver::Version;

use crate::KitError;
use crate::requirement::{Requirement, describe};

/// The request is solved as the dependencies of a package no extension can be
/// named (names start with a letter), so it never collides with one.
const ROOT: &str = "";

/// Every version of every package a registry offers, with each version's
/// requirements on other packages.
#[derive(Debug, Default, Clone)]
pub struct Index {
    packages: FxHashMap<String, BTreeMap<Version, Vec<(String, Requirement)>>>,
}

impl Index {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) `name@version` with its requirements.
    pub fn add(&mut self, name: &str, version: &str, requires: &[(String, String)]) -> Result<(), KitError> {
        if name.is_empty() {
            return Err(KitError::Requirement("a package needs a name".to_owned()));
        }
        let v = Version::parse(version)
            .map_err(|e| KitError::Requirement(format!("{name}: {version:?} is not a semantic version: {e}")))?;
        let mut deps = Vec::with_capacity(requires.len());
        for (dep, text) in requires {
            let r =
                Requirement::parse(text).map_err(|e| KitError::Requirement(format!("{name} {v} needs {dep}: {e}")))?;
            deps.push((dep.clone(), r));
        }
        self.packages.entry(name.to_owned()).or_default().insert(v, deps);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.packages.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    /// The newest version of each package reachable from `request` such that
    /// every requirement holds; `KitError::Unsolvable` explains a conflict.
    /// Only what PubGrub visits is converted to version sets, so a request
    /// touching a corner of a large registry costs that corner.
    pub fn resolve(&self, request: &[(String, String)]) -> Result<BTreeMap<String, Version>, KitError> {
        let parsed: Vec<(String, Requirement)> = request
            .iter()
            .map(|(dep, text)| {
                Ok((
                    dep.clone(),
                    Requirement::parse(text).map_err(|e| KitError::Requirement(format!("{dep}: {e}")))?,
                ))
            })
            .collect::<Result<_, KitError>>()?;
        let provider = Lazy {
            index: self,
            request: parsed,
            sets: RefCell::default(),
            texts: RefCell::default(),
        };
        let outcome = pubgrub::resolve(&provider, ROOT.to_owned(), Version::new(0, 0, 0));
        match outcome {
            Ok(chosen) => Ok(chosen.into_iter().filter(|(p, _)| p != ROOT).collect()),
            Err(PubGrubError::NoSolution(mut tree)) => {
                tree.collapse_no_versions();
                let texts = provider.texts.borrow();
                let explain = Explain {
                    texts: &texts,
                    index: self,
                };
                Err(KitError::Unsolvable(DefaultStringReporter::report_with_formatter(
                    &tree, &explain,
                )))
            }
            Err(e) => Err(KitError::Unsolvable(e.to_string())),
        }
    }
}

/// PubGrub's view of an [`Index`]: dependencies turned into version sets when
/// first asked for, each (package, requirement) once.
struct Lazy<'a> {
    index: &'a Index,
    request: Vec<(String, Requirement)>,
    sets: RefCell<FxHashMap<(String, String), Ranges<Version>>>,
    /// Each set's requirement as its author wrote it, for the explanation.
    texts: RefCell<FxHashMap<(String, Ranges<Version>), String>>,
}

impl Lazy<'_> {
    fn set(&self, dep: &str, r: &Requirement) -> Ranges<Version> {
        let key = (dep.to_owned(), r.text.clone());
        if let Some(found) = self.sets.borrow().get(&key) {
            return found.clone();
        }
        let known = self.index.packages.get(dep);
        let set = r.ranges(known.into_iter().flat_map(BTreeMap::keys));
        self.texts
            .borrow_mut()
            .entry((dep.to_owned(), set.clone()))
            .or_insert_with(|| r.text.clone());
        self.sets.borrow_mut().insert(key, set.clone());
        set
    }
}

impl DependencyProvider for Lazy<'_> {
    type P = String;
    type V = Version;
    type VS = Ranges<Version>;
    type M = String;
    type Err = Infallible;
    type Priority = (u32, Reverse<usize>);

    fn prioritize(
        &self,
        package: &String,
        range: &Ranges<Version>,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        // As pubgrub's offline provider: the most conflicted first, then the
        // package with the fewest versions left to try.
        let count = match self.index.packages.get(package) {
            Some(versions) => versions.keys().filter(|v| range.contains(v)).count(),
            None => 0,
        };
        if count == 0 {
            (u32::MAX, Reverse(0))
        } else {
            (stats.conflict_count(), Reverse(count))
        }
    }

    fn choose_version(&self, package: &String, range: &Ranges<Version>) -> Result<Option<Version>, Infallible> {
        if package == ROOT {
            return Ok(Some(Version::new(0, 0, 0)).filter(|v| range.contains(v)));
        }
        Ok(self
            .index
            .packages
            .get(package)
            .and_then(|vs| vs.keys().rev().find(|v| range.contains(v)).cloned()))
    }

    fn get_dependencies(
        &self,
        package: &String,
        version: &Version,
    ) -> Result<Dependencies<String, Ranges<Version>, String>, Infallible> {
        let deps: &[(String, Requirement)] = if package == ROOT {
            &self.request
        } else {
            match self.index.packages.get(package).and_then(|vs| vs.get(version)) {
                Some(deps) => deps,
                None => return Ok(Dependencies::Unavailable("it is not in the registry".to_owned())),
            }
        };
        let mut out: DependencyConstraints<String, Ranges<Version>> = Default::default();
        for (dep, r) in deps {
            let set = self.set(dep, r);
            // Two requirements on one package: both must hold.
            let merged = match out.get(dep) {
                Some(prev) => prev.intersection(&set),
                None => set,
            };
            out.insert(dep.clone(), merged);
        }
        Ok(Dependencies::Available(out))
    }
}

/// Words for the report: the request by that name, a requirement as its
/// author wrote it, any other set as `describe` reads it.
struct Explain<'a> {
    texts: &'a FxHashMap<(String, Ranges<Version>), String>,
    index: &'a Index,
}

type Ext = External<String, Ranges<Version>, String>;
type Terms = Map<String, Term<Ranges<Version>>>;
type Der = Derived<String, Ranges<Version>, String>;

impl Explain<'_> {
    fn set(&self, p: &str, set: &Ranges<Version>) -> String {
        match self.texts.get(&(p.to_owned(), set.clone())) {
            Some(text) => text.clone(),
            None => describe(set),
        }
    }

    /// `p` in `set`; a requirement's set `as_written` by its author, any other
    /// (the versions a package spans) as `describe` reads it.
    fn term(&self, p: &str, set: &Ranges<Version>, as_written: bool) -> String {
        if p == ROOT {
            "the request".to_owned()
        } else if *set == Ranges::full() {
            p.to_owned()
        } else if as_written {
            format!("{p} {}", self.set(p, set))
        } else {
            // PubGrub widens a version to the span that shares its dependencies;
            // when the registry has one version in that span, name the version.
            let mut inside = self
                .index
                .packages
                .get(p)
                .into_iter()
                .flat_map(|vs| vs.keys())
                .filter(|v| set.contains(v));
            match (inside.next(), inside.next()) {
                (Some(only), None) => format!("{p} {only}"),
                _ => format!("{p} {}", describe(set)),
            }
        }
    }
}

impl ReportFormatter<String, Ranges<Version>, String> for Explain<'_> {
    type Output = String;

    fn format_external(&self, external: &Ext) -> String {
        match external {
            External::NotRoot(..) => "the request is being solved".to_owned(),
            External::NoVersions(p, set) if *set == Ranges::full() => format!("no version of {p} is in the registry"),
            External::NoVersions(p, set) => format!("no version of {p} in the registry matches {}", self.set(p, set)),
            External::Custom(p, set, why) => format!("{} cannot be used: {why}", self.term(p, set, false)),
            External::FromDependencyOf(p, set_p, dep, set_dep) => {
                let needs = if p == ROOT { "asks for" } else { "depends on" };
                format!(
                    "{} {needs} {}",
                    self.term(p, set_p, false),
                    self.term(dep, set_dep, true)
                )
            }
        }
    }

    fn format_terms(&self, terms: &Terms) -> String {
        let all: Vec<_> = terms.iter().collect();
        match all.as_slice() {
            [] => "version solving failed".to_owned(),
            [(p, Term::Positive(_))] if p.as_str() == ROOT => "no set of versions satisfies the request".to_owned(),
            [(p, Term::Positive(set))] => format!("{} cannot be used", self.term(p, set, false)),
            [(p, Term::Negative(set))] => format!("{} is required", self.term(p, set, false)),
            [(p1, Term::Positive(r1)), (p2, Term::Negative(r2))]
            | [(p2, Term::Negative(r2)), (p1, Term::Positive(r1))] => self.format_external(
                &External::FromDependencyOf((*p1).clone(), r1.clone(), (*p2).clone(), r2.clone()),
            ),
            several => {
                let parts: Vec<String> = several
                    .iter()
                    .map(|(p, t)| match t {
                        Term::Positive(set) => self.term(p, set, false),
                        Term::Negative(set) => format!("not {}", self.term(p, set, false)),
                    })
                    .collect();
                format!("{} are incompatible", parts.join(" and "))
            }
        }
    }

    fn explain_both_external(&self, e1: &Ext, e2: &Ext, current: &Terms) -> String {
        format!(
            "Because {} and {}, {}.",
            self.format_external(e1),
            self.format_external(e2),
            self.format_terms(current)
        )
    }

    fn explain_both_ref(&self, id1: usize, d1: &Der, id2: usize, d2: &Der, current: &Terms) -> String {
        format!(
            "Because {} ({id1}) and {} ({id2}), {}.",
            self.format_terms(&d1.terms),
            self.format_terms(&d2.terms),
            self.format_terms(current)
        )
    }

    fn explain_ref_and_external(&self, id: usize, d: &Der, e: &Ext, current: &Terms) -> String {
        format!(
            "Because {} ({id}) and {}, {}.",
            self.format_terms(&d.terms),
            self.format_external(e),
            self.format_terms(current)
        )
    }

    fn and_explain_external(&self, e: &Ext, current: &Terms) -> String {
        format!(
            "And because {}, {}.",
            self.format_external(e),
            self.format_terms(current)
        )
    }

    fn and_explain_ref(&self, id: usize, d: &Der, current: &Terms) -> String {
        format!(
            "And because {} ({id}), {}.",
            self.format_terms(&d.terms),
            self.format_terms(current)
        )
    }

    fn and_explain_prior_and_external(&self, prior: &Ext, e: &Ext, current: &Terms) -> String {
        format!(
            "And because {} and {}, {}.",
            self.format_external(prior),
            self.format_external(e),
            self.format_terms(current)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reqs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
    }

    #[test]
    fn picks_the_newest_versions_that_fit() {
        let mut ix = Index::new();
        ix.add("a", "1.0.0", &reqs(&[("b", "^1.0")])).unwrap();
        ix.add("a", "1.1.0", &reqs(&[("b", "^1.2")])).unwrap();
        for v in ["1.0.0", "1.2.0", "1.3.5", "2.0.0", "2.1.0-beta.1"] {
            ix.add("b", v, &[]).unwrap();
        }
        let got = ix.resolve(&reqs(&[("a", "*")])).unwrap();
        assert_eq!(got["a"].to_string(), "1.1.0");
        assert_eq!(got["b"].to_string(), "1.3.5");
        let pre = ix.resolve(&reqs(&[("b", ">=2.1.0-beta.1")])).unwrap();
        assert_eq!(pre["b"].to_string(), "2.1.0-beta.1");
        let stable = ix.resolve(&reqs(&[("b", ">=2")])).unwrap();
        assert_eq!(
            stable["b"].to_string(),
            "2.0.0",
            "a pre-release is only picked when asked for"
        );
    }

    #[test]
    fn a_conflict_is_explained_by_name() {
        let mut ix = Index::new();
        ix.add("a", "1.0.0", &reqs(&[("b", "^2")])).unwrap();
        ix.add("c", "3.0.0", &reqs(&[("b", "^1")])).unwrap();
        ix.add("b", "1.4.0", &[]).unwrap();
        ix.add("b", "2.0.0", &[]).unwrap();
        let why = ix
            .resolve(&reqs(&[("a", "=1.0.0"), ("c", "3")]))
            .unwrap_err()
            .to_string();
        assert!(why.contains("a 1.0.0 depends on b ^2"), "{why}");
        assert!(why.contains("c 3.0.0 depends on b ^1"), "{why}");
        assert!(why.contains("a 1.0.0 and c 3.0.0 are incompatible"), "{why}");
        assert!(why.contains("the request asks for a =1.0.0"), "{why}");
        assert!(why.contains("no set of versions satisfies the request"), "{why}");
    }

    #[test]
    fn a_missing_package_is_named() {
        let mut ix = Index::new();
        ix.add("a", "1.0.0", &reqs(&[("ghost", "^1")])).unwrap();
        let why = ix.resolve(&reqs(&[("a", "^1")])).unwrap_err().to_string();
        assert!(why.contains("ghost"), "{why}");
    }
}

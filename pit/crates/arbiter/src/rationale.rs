//! The sentences that explain a scheduler decision to a person.

use crate::priority::{Conflict, Priority};

/// What the rationale needs to know about the resource at decision time.
pub(crate) struct Supply<'a> {
    pub name: &'a str,
    pub conflict: Conflict,
    pub capacity: f64,
    pub free: f64,
}

impl Supply<'_> {
    /// "'gpu' (model contention)"
    fn label(&self) -> String {
        format!("'{}' ({})", self.name, self.conflict.describe())
    }

    /// "3 of 4 free" / "7.5 of its 10 budget left"
    fn left(&self) -> String {
        match self.conflict {
            Conflict::CostLimit => format!("{} of its {} budget left", num(self.free), num(self.capacity)),
            _ => format!("{} of {} free", num(self.free), num(self.capacity)),
        }
    }
}

/// "alice (high)" or, for an aged request, "alice (high, aged from low)".
fn who(requester: &str, base: Priority, effective: Priority) -> String {
    if effective == base {
        format!("{requester} ({effective})")
    } else {
        format!("{requester} ({effective}, aged from {base})")
    }
}

pub(crate) fn granted_at_once(s: &Supply, amount: f64, requester: &str, priority: Priority) -> String {
    format!(
        "granted: {} had {}, {} needed; nobody waits, so {} is within its fair share",
        s.label(),
        s.left(),
        num(amount),
        who(requester, priority, priority)
    )
}

pub(crate) fn granted_from_queue(
    s: &Supply,
    amount: f64,
    requester: &str,
    base: Priority,
    effective: Priority,
    waited: f64,
    weight: f64,
) -> String {
    format!(
        "granted: {} had {}, {} needed; {} waited {}s and is next in line by priority and weighted fair share (weight {})",
        s.label(),
        s.left(),
        num(amount),
        who(requester, base, effective),
        num(waited),
        num(weight)
    )
}

pub(crate) fn denied(s: &Supply, amount: f64, requester: &str, priority: Priority) -> String {
    match s.conflict {
        Conflict::CostLimit => format!(
            "denied: {} has {}, {} needed by {}; a spent budget is never returned, so it cannot be satisfied",
            s.label(),
            s.left(),
            num(amount),
            who(requester, priority, priority)
        ),
        _ => format!(
            "denied: {} has a capacity of {}, {} needed by {}; it can never be satisfied",
            s.label(),
            num(s.capacity),
            num(amount),
            who(requester, priority, priority)
        ),
    }
}

/// `ahead`: waiting requests of equal or higher effective priority; `waiting`: all of them.
pub(crate) fn deferred(
    s: &Supply,
    amount: f64,
    requester: &str,
    priority: Priority,
    ahead: usize,
    waiting: usize,
) -> String {
    let head = format!(
        "deferred: {} has {}, {} needed by {}",
        s.label(),
        s.left(),
        num(amount),
        who(requester, priority, priority)
    );
    let fits = amount <= s.free;
    match (fits, ahead) {
        (false, 0) if waiting == 0 => format!("{head}; it is first in line and waits for a release"),
        (false, 0) => format!(
            "{head}; it is first in line by priority ({} of lower priority {}) and waits for a release",
            count(waiting),
            wait(waiting)
        ),
        (false, n) => format!("{head}; {} of equal or higher priority {} ahead", count(n), wait(n)),
        (true, 0) => format!(
            "{head}, but {} of lower priority already {} and a new request never overtakes at once; \
             the next release or tick orders it",
            count(waiting),
            wait(waiting)
        ),
        (true, n) => format!(
            "{head}, but {} of equal or higher priority {} ahead and none may be overtaken",
            count(n),
            wait(n)
        ),
    }
}

fn wait(n: usize) -> &'static str {
    if n == 1 { "waits" } else { "wait" }
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 request".to_owned()
    } else {
        format!("{n} requests")
    }
}

/// An amount as a person writes it: "4", "0.5", "1.333".
pub(crate) fn num(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 && x.abs() < 1e15 {
        return format!("{:.0}", x.round());
    }
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_a_person_wrote_them() {
        assert_eq!(num(4.0), "4");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(0.1 + 0.2), "0.3");
        assert_eq!(num(4.0 / 3.0), "1.333");
        assert_eq!(num(-2.0), "-2");
    }
}

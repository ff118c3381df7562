//! Conflict resolution on named resources (artifacts, files): readers–writer
//! locks taken a whole set at a time.
//!
//! A request names every resource it needs and is granted all of them at once
//! or none: nobody ever holds some locks while waiting for others, so no cycle
//! of waiting can form and there is no deadlock, provided an owner asks for
//! everything it needs in one request rather than requesting more while it
//! holds (that would be hold-and-wait again, one level up).
//!
//! Waiting requests are served first come, first served: a request is granted
//! only if no earlier waiting request conflicts with it on any resource, so a
//! writer is not starved by a stream of readers slipping past it.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::error::{ArbiterError, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Many holders at once (readers).
    Shared,
    /// One holder, nobody else (a writer).
    Exclusive,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Shared => "shared",
            Mode::Exclusive => "exclusive",
        }
    }
}

impl FromStr for Mode {
    type Err = ArbiterError;

    fn from_str(s: &str) -> Result<Mode> {
        match s {
            "shared" => Ok(Mode::Shared),
            "exclusive" => Ok(Mode::Exclusive),
            _ => Err(ArbiterError::InvalidArgument(format!(
                "unknown lock mode '{s}'; expected one of: shared, exclusive"
            ))),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A lock request's id; ids grow in order of request, which is the FIFO order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LockId(pub u64);

impl fmt::Display for LockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Clone, Debug)]
struct LockRequest {
    owner: u64,
    items: Box<[(Arc<str>, Mode)]>,
    granted: bool,
}

/// Who holds a resource; an entry exists only while somebody does.
#[derive(Clone, Debug, Default)]
struct Holders {
    shared: Vec<LockId>,
    exclusive: Option<LockId>,
}

impl Holders {
    fn admits(&self, mode: Mode) -> bool {
        match mode {
            Mode::Shared => self.exclusive.is_none(),
            Mode::Exclusive => self.exclusive.is_none() && self.shared.is_empty(),
        }
    }
}

/// How many waiting requests want a resource, by mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Wanted {
    shared: u32,
    exclusive: u32,
}

impl Wanted {
    fn blocks(&self, mode: Mode) -> bool {
        self.exclusive > 0 || (mode == Mode::Exclusive && self.shared > 0)
    }

    fn add(&mut self, mode: Mode) {
        match mode {
            Mode::Shared => self.shared += 1,
            Mode::Exclusive => self.exclusive += 1,
        }
    }
}

/// Readers–writer locks on named resources, granted a whole set at a time in
/// FIFO order.
///
/// All or nothing means no request ever holds some locks while it waits for
/// others (no hold-and-wait), so no cycle of waiting and no deadlock, as long
/// as an owner asks for everything it needs in one request. FIFO means a
/// request is granted only if no earlier waiting request conflicts with it,
/// so a writer is not starved by readers arriving after it.
#[derive(Clone, Debug, Default)]
pub struct LockTable {
    requests: FxHashMap<u64, LockRequest>,
    held: FxHashMap<Arc<str>, Holders>,
    /// Waiting ids, oldest first.
    queue: BTreeSet<u64>,
    /// What the waiting requests want, per resource: lets a new request check
    /// "no earlier waiting request conflicts" without walking the queue.
    wanted: FxHashMap<Arc<str>, Wanted>,
    next_id: u64,
}

impl LockTable {
    pub fn new() -> LockTable {
        LockTable::default()
    }

    /// Asks for every resource in `items` at once on behalf of `owner`.
    /// Returns the request's id and whether it was granted now; if not, it
    /// waits and a later [`release`](Self::release) or [`cancel`](Self::cancel)
    /// reports its grant.
    pub fn request(&mut self, owner: u64, items: &[(&str, Mode)]) -> Result<(LockId, bool)> {
        if items.is_empty() {
            return Err(ArbiterError::InvalidArgument(
                "a lock request needs at least one resource".to_owned(),
            ));
        }
        for (i, (name, _)) in items.iter().enumerate() {
            if name.is_empty() {
                return Err(ArbiterError::InvalidArgument(
                    "a lock resource name must not be empty".to_owned(),
                ));
            }
            if items[..i].iter().any(|(other, _)| other == name) {
                return Err(ArbiterError::InvalidArgument(format!(
                    "resource '{name}' appears twice in one lock request"
                )));
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let grant = items.iter().all(|&(name, mode)| {
            self.held.get(name).is_none_or(|h| h.admits(mode)) && !self.wanted.get(name).is_some_and(|w| w.blocks(mode))
        });
        let items: Box<[(Arc<str>, Mode)]> = items
            .iter()
            .map(|&(name, mode)| {
                // Reuse the resource's name if it is already held: one allocation fewer.
                let key = self
                    .held
                    .get_key_value(name)
                    .map_or_else(|| Arc::from(name), |(k, _)| k.clone());
                (key, mode)
            })
            .collect();
        let req = LockRequest {
            owner,
            items,
            granted: grant,
        };
        if grant {
            hold(&mut self.held, LockId(id), &req.items);
        } else {
            for (name, mode) in req.items.iter() {
                self.wanted.entry(name.clone()).or_default().add(*mode);
            }
            self.queue.insert(id);
        }
        self.requests.insert(id, req);
        Ok((LockId(id), grant))
    }

    /// Gives back a granted request's locks; returns the waiting requests that
    /// became granted, oldest first. A waiting or unknown id is
    /// [`ArbiterError::UnknownLock`].
    pub fn release(&mut self, id: LockId) -> Result<Vec<LockId>> {
        match self.requests.get(&id.0) {
            Some(r) if r.granted => {}
            _ => return Err(ArbiterError::UnknownLock(id.0)),
        }
        let req = self.requests.remove(&id.0).expect("checked above");
        for (name, mode) in req.items.iter() {
            let h = self.held.get_mut(name).expect("a granted item is held");
            match mode {
                Mode::Shared => h.shared.retain(|&x| x != id),
                Mode::Exclusive => h.exclusive = None,
            }
            if h.exclusive.is_none() && h.shared.is_empty() {
                self.held.remove(name);
            }
        }
        Ok(self.grant_waiting())
    }

    /// Withdraws a waiting request; returns the waiting requests that its
    /// departure unblocked, oldest first.
    pub fn cancel(&mut self, id: LockId) -> Result<Vec<LockId>> {
        match self.requests.get(&id.0) {
            Some(r) if r.granted => {
                return Err(ArbiterError::InvalidArgument(format!(
                    "lock request {id} is granted, not waiting; release it instead"
                )));
            }
            Some(_) => {}
            None => return Err(ArbiterError::UnknownLock(id.0)),
        }
        let req = self.requests.remove(&id.0).expect("checked above");
        self.queue.remove(&id.0);
        for (name, mode) in req.items.iter() {
            unwant(&mut self.wanted, name, *mode);
        }
        Ok(self.grant_waiting())
    }

    pub fn is_granted(&self, id: LockId) -> bool {
        self.requests.get(&id.0).is_some_and(|r| r.granted)
    }

    /// The owner a request was made for, while it is granted or waiting.
    pub fn owner(&self, id: LockId) -> Option<u64> {
        self.requests.get(&id.0).map(|r| r.owner)
    }

    /// Who holds `resource`: the distinct shared owners (ascending) and the
    /// exclusive owner, if any.
    pub fn holders(&self, resource: &str) -> (Vec<u64>, Option<u64>) {
        let Some(h) = self.held.get(resource) else {
            return (Vec::new(), None);
        };
        let mut shared: Vec<u64> = h.shared.iter().map(|id| self.requests[&id.0].owner).collect();
        shared.sort_unstable();
        shared.dedup();
        (shared, h.exclusive.map(|id| self.requests[&id.0].owner))
    }

    /// Requests waiting.
    pub fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// Requests granted and not yet released.
    pub fn granted(&self) -> usize {
        self.requests.len() - self.queue.len()
    }

    /// Checks, from the requests alone, that no resource has two exclusive
    /// holders or an exclusive holder beside shared ones, that the internal
    /// tables agree with the requests, and that every waiting request really is
    /// blocked (by a holder, or by an earlier waiting request it conflicts with).
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        // Rebuild the holders from the granted requests.
        let mut rebuilt: FxHashMap<&str, (u32, u32)> = FxHashMap::default();
        let mut granted: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, r)| r.granted)
            .map(|(&id, _)| id)
            .collect();
        granted.sort_unstable();
        for id in &granted {
            for (name, mode) in self.requests[id].items.iter() {
                let e = rebuilt.entry(name).or_default();
                match mode {
                    Mode::Shared => e.0 += 1,
                    Mode::Exclusive => e.1 += 1,
                }
            }
        }
        for (name, &(shared, exclusive)) in &rebuilt {
            if exclusive > 1 {
                return Err(format!("'{name}' has {exclusive} exclusive holders"));
            }
            if exclusive == 1 && shared > 0 {
                return Err(format!("'{name}' has an exclusive holder and {shared} shared ones"));
            }
            let h = self
                .held
                .get(*name)
                .ok_or(format!("'{name}' is held but has no holder entry"))?;
            if h.shared.len() as u32 != shared || u32::from(h.exclusive.is_some()) != exclusive {
                return Err(format!("'{name}': holder entry disagrees with the granted requests"));
            }
        }
        if self.held.len() != rebuilt.len() {
            return Err("a holder entry exists for a resource nobody holds".to_owned());
        }
        let waiting: BTreeSet<u64> = self
            .requests
            .iter()
            .filter(|(_, r)| !r.granted)
            .map(|(&id, _)| id)
            .collect();
        if waiting != self.queue {
            return Err("the wait queue disagrees with the waiting requests".to_owned());
        }
        // Walk the queue in order, as the grant rule does.
        let mut earlier: FxHashMap<&str, Wanted> = FxHashMap::default();
        for id in &self.queue {
            let req = &self.requests[id];
            let blocked = req.items.iter().any(|(name, mode)| {
                let by_holder = rebuilt
                    .get(&**name)
                    .is_some_and(|&(s, x)| x > 0 || (*mode == Mode::Exclusive && s > 0));
                by_holder || earlier.get(&**name).is_some_and(|w| w.blocks(*mode))
            });
            if !blocked {
                return Err(format!("lock request {id} waits although nothing blocks it"));
            }
            for (name, mode) in req.items.iter() {
                earlier.entry(name).or_default().add(*mode);
            }
        }
        let summary: FxHashMap<&str, Wanted> = earlier;
        if summary.len() != self.wanted.len() || self.wanted.iter().any(|(name, w)| summary.get(&**name) != Some(w)) {
            return Err("the per-resource wait summary disagrees with the queue".to_owned());
        }
        Ok(())
    }

    /// Grants, oldest first, every waiting request that no holder and no
    /// earlier waiting request blocks.
    fn grant_waiting(&mut self) -> Vec<LockId> {
        let mut out = Vec::new();
        if self.queue.is_empty() {
            return out;
        }
        let mut earlier: FxHashMap<Arc<str>, Wanted> = FxHashMap::default();
        let ids: Vec<u64> = self.queue.iter().copied().collect();
        for id in ids {
            let req = &self.requests[&id];
            let free = req.items.iter().all(|(name, mode)| {
                self.held.get(name).is_none_or(|h| h.admits(*mode))
                    && !earlier.get(name).is_some_and(|w| w.blocks(*mode))
            });
            if free {
                let items = req.items.clone();
                hold(&mut self.held, LockId(id), &items);
                for (name, mode) in items.iter() {
                    unwant(&mut self.wanted, name, *mode);
                }
                self.requests.get_mut(&id).expect("queued").granted = true;
                self.queue.remove(&id);
                out.push(LockId(id));
            } else {
                for (name, mode) in req.items.iter() {
                    earlier.entry(name.clone()).or_default().add(*mode);
                }
            }
        }
        out
    }
}

fn hold(held: &mut FxHashMap<Arc<str>, Holders>, id: LockId, items: &[(Arc<str>, Mode)]) {
    for (name, mode) in items {
        let h = held.entry(name.clone()).or_default();
        match mode {
            Mode::Shared => h.shared.push(id),
            Mode::Exclusive => h.exclusive = Some(id),
        }
    }
}

fn unwant(wanted: &mut FxHashMap<Arc<str>, Wanted>, name: &str, mode: Mode) {
    let w = wanted.get_mut(name).expect("a waiting item is wanted");
    match mode {
        Mode::Shared => w.shared -= 1,
        Mode::Exclusive => w.exclusive -= 1,
    }
    if *w == Wanted::default() {
        wanted.remove(name);
    }
}

//! Admission: requests for amounts of shared resources, granted, denied or
//! deferred by priority with aging, and shared fairly among requesters.

use std::collections::VecDeque;
use std::fmt;

use rustc_hash::FxHashMap;

use crate::error::{ArbiterError, Result};
use crate::fairness::{Drr, gini};
use crate::priority::{Conflict, Priority};
use crate::rationale::{self, Supply};

/// Relative slack when comparing amounts, so that float sums of grants and
/// releases do not turn an exact fit into a miss.
const FIT_SLACK: f64 = 1e-9;

/// The handle [`Scheduler::add_resource`] returns: resources are numbered in
/// order of addition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId(pub u32);

/// A request for `amount` of `resource` on behalf of `requester`.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub requester: String,
    pub resource: String,
    /// Finite and > 0, in the resource's unit.
    pub amount: f64,
    pub priority: Priority,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The amount is the requester's until released.
    Granted,
    /// It can never be satisfied; nothing is kept.
    Denied,
    /// It waits; a later release or tick grants it.
    Deferred,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [Verdict::Granted, Verdict::Denied, Verdict::Deferred];

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Granted => "granted",
            Verdict::Denied => "denied",
            Verdict::Deferred => "deferred",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What was decided about one request, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The request's id, for [`Scheduler::release`] and [`Scheduler::cancel`].
    pub request: u64,
    pub verdict: Verdict,
    /// One sentence naming the resource, the free and needed amounts, the
    /// priority and the fairness reason.
    pub rationale: String,
    pub requester: String,
    pub resource: String,
    /// The kind of conflict the resource stands for.
    pub conflict: Conflict,
    pub amount: f64,
    /// The effective priority at decision time (base raised by aging).
    pub priority: Priority,
    /// Seconds between submission and this decision.
    pub waited: f64,
}

/// One requester's record.
#[derive(Clone, Debug, PartialEq)]
pub struct RequesterStats {
    pub name: String,
    pub weight: f64,
    pub submitted: u64,
    pub granted: u64,
    pub denied: u64,
    pub deferred: u64,
    pub cancelled: u64,
    /// Σ granted amounts.
    pub served: f64,
    /// Σ and max of the seconds granted requests waited.
    pub total_wait: f64,
    pub max_wait: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SchedulerStats {
    /// In order of first appearance (submission or [`Scheduler::set_weight`]).
    pub requesters: Vec<RequesterStats>,
    /// Gini coefficient of served / weight over requesters that submitted at
    /// least once: 0 when every one got exactly its weight's share.
    pub gini: f64,
}

/// A deferred request.
#[derive(Clone, Debug)]
struct Waiting {
    id: u64,
    amount: f64,
    base: Priority,
    since: f64,
}

/// One requester's waiting requests on one resource, a FIFO per base
/// priority: within each, older means higher or equal effective priority, so
/// a head is always its queue's most urgent.
type Queues = [VecDeque<Waiting>; 5];

#[derive(Clone, Debug)]
struct Resource {
    name: String,
    capacity: f64,
    conflict: Conflict,
    /// Free capacity, or for a cost limit the budget left.
    free: f64,
    held: usize,
    waiting: usize,
    /// The largest amount ever asked for here: the DRR quantum of weight 1,
    /// so a requester of weight ≥ 1 can be served once every round.
    quantum: f64,
    queue: Drr<Queues>,
}

impl Resource {
    fn supply(&self) -> Supply<'_> {
        Supply {
            name: &self.name,
            conflict: self.conflict,
            capacity: self.capacity,
            free: self.free,
        }
    }

    fn fits(&self, amount: f64) -> bool {
        amount <= self.free + FIT_SLACK * self.capacity
    }
}

#[derive(Clone, Copy, Debug)]
enum Live {
    Waiting { resource: usize, requester: usize },
    Granted { resource: usize, amount: f64 },
}

/// Admits requests for shared resources.
///
/// A request is granted at once if its amount is free and nobody waits on the
/// resource (no barging); denied if it can never be satisfied; deferred
/// otherwise. Waiting requests are ordered by effective priority (base plus
/// one level per `aging_interval` seconds waited, capped at critical), then by
/// deficit round robin across requesters (quantum ∝ weight, cost = amount),
/// then first come first served within a requester. When the head of that
/// order does not fit, nothing behind it is granted: smaller requests never
/// jump it, so every request reaches the head and is served.
///
/// Aging is the starvation guard and should be slow next to ordinary waits:
/// older requests outrank younger ones, so when it is fast the order drifts
/// towards first come, first served and the weights matter less.
///
/// Time is the caller's: every call that can decide takes `now` in seconds.
#[derive(Clone, Debug)]
pub struct Scheduler {
    aging_interval: f64,
    resources: Vec<Resource>,
    resource_index: FxHashMap<String, usize>,
    requesters: Vec<RequesterStats>,
    requester_index: FxHashMap<String, usize>,
    live: FxHashMap<u64, Live>,
    next_id: u64,
}

impl Scheduler {
    /// `aging_interval`: the seconds a waiting request needs to rise one
    /// priority level. Finite and > 0.
    pub fn new(aging_interval: f64) -> Result<Scheduler> {
        if !(aging_interval.is_finite() && aging_interval > 0.0) {
            return Err(ArbiterError::InvalidArgument(format!(
                "aging_interval must be finite and > 0, got {aging_interval}"
            )));
        }
        Ok(Scheduler {
            aging_interval,
            resources: Vec::new(),
            resource_index: FxHashMap::default(),
            requesters: Vec::new(),
            requester_index: FxHashMap::default(),
            live: FxHashMap::default(),
            next_id: 1,
        })
    }

    pub fn aging_interval(&self) -> f64 {
        self.aging_interval
    }

    /// Adds a resource with `capacity` (finite and > 0) units. For a
    /// [`Conflict::CostLimit`] the capacity is a budget that grants spend.
    pub fn add_resource(&mut self, name: &str, capacity: f64, conflict: Conflict) -> Result<ResourceId> {
        if self.resource_index.contains_key(name) {
            return Err(ArbiterError::DuplicateResource(name.to_owned()));
        }
        if !(capacity.is_finite() && capacity > 0.0) {
            return Err(ArbiterError::InvalidArgument(format!(
                "resource '{name}': capacity must be finite and > 0, got {capacity}"
            )));
        }
        let id = self.resources.len();
        self.resources.push(Resource {
            name: name.to_owned(),
            capacity,
            conflict,
            free: capacity,
            held: 0,
            waiting: 0,
            quantum: 0.0,
            queue: Drr::default(),
        });
        self.resource_index.insert(name.to_owned(), id);
        Ok(ResourceId(id as u32))
    }

    /// Sets a requester's share weight (finite and > 0); unseen requesters weigh 1.
    pub fn set_weight(&mut self, requester: &str, weight: f64) -> Result<()> {
        if !(weight.is_finite() && weight > 0.0) {
            return Err(ArbiterError::InvalidArgument(format!(
                "requester '{requester}': weight must be finite and > 0, got {weight}"
            )));
        }
        let r = self.requester(requester);
        self.requesters[r].weight = weight;
        Ok(())
    }

    /// Free capacity (budget left, for a cost limit) of a resource.
    pub fn free(&self, resource: &str) -> Result<f64> {
        let r = self.resource(resource)?;
        Ok(self.resources[r].free)
    }

    /// Requests waiting, over all resources.
    pub fn waiting(&self) -> usize {
        self.resources.iter().map(|r| r.waiting).sum()
    }

    pub fn is_granted(&self, request: u64) -> bool {
        matches!(self.live.get(&request), Some(Live::Granted { .. }))
    }

    pub fn is_waiting(&self, request: u64) -> bool {
        matches!(self.live.get(&request), Some(Live::Waiting { .. }))
    }

    /// Decides a new request. A deferred one is granted later by
    /// [`release`](Self::release) or [`tick`](Self::tick); call `tick`
    /// periodically, since aging reorders the waiting requests.
    pub fn submit(&mut self, req: Request, now: f64) -> Result<Decision> {
        let r = self.resource(&req.resource)?;
        if !(req.amount.is_finite() && req.amount > 0.0) {
            return Err(ArbiterError::InvalidArgument(format!(
                "request for '{}' by '{}': amount must be finite and > 0, got {}",
                req.resource, req.requester, req.amount
            )));
        }
        if !now.is_finite() {
            return Err(ArbiterError::InvalidArgument(format!("now must be finite, got {now}")));
        }
        let who = self.requester(&req.requester);
        self.requesters[who].submitted += 1;
        let id = self.next_id;
        self.next_id += 1;
        let res = &mut self.resources[r];
        let never = match res.conflict {
            Conflict::CostLimit => !res.fits(req.amount),
            _ => req.amount > res.capacity * (1.0 + FIT_SLACK),
        };
        let (verdict, rationale) = if never {
            self.requesters[who].denied += 1;
            let why = rationale::denied(&res.supply(), req.amount, &req.requester, req.priority);
            (Verdict::Denied, why)
        } else if res.fits(req.amount) && res.waiting == 0 {
            let why = rationale::granted_at_once(&res.supply(), req.amount, &req.requester, req.priority);
            res.free -= req.amount;
            res.held += 1;
            res.quantum = res.quantum.max(req.amount);
            self.live.insert(
                id,
                Live::Granted {
                    resource: r,
                    amount: req.amount,
                },
            );
            let st = &mut self.requesters[who];
            st.granted += 1;
            st.served += req.amount;
            (Verdict::Granted, why)
        } else {
            let ahead = ahead_of(res, req.priority, now, self.aging_interval);
            let why = rationale::deferred(
                &res.supply(),
                req.amount,
                &req.requester,
                req.priority,
                ahead,
                res.waiting,
            );
            res.quantum = res.quantum.max(req.amount);
            res.waiting += 1;
            let flow = res.queue.get_or_insert(who, Queues::default);
            flow.data[req.priority as usize].push_back(Waiting {
                id,
                amount: req.amount,
                base: req.priority,
                since: now,
            });
            self.live.insert(
                id,
                Live::Waiting {
                    resource: r,
                    requester: who,
                },
            );
            self.requesters[who].deferred += 1;
            (Verdict::Deferred, why)
        };
        Ok(Decision {
            request: id,
            verdict,
            rationale,
            requester: req.requester,
            resource: req.resource,
            conflict: self.resources[r].conflict,
            amount: req.amount,
            priority: req.priority,
            waited: 0.0,
        })
    }

    /// Ends a grant: the amount returns to the resource (a cost limit's stays
    /// spent) and waiting requests that now fit are granted, in order; their
    /// decisions are returned.
    pub fn release(&mut self, request: u64, now: f64) -> Result<Vec<Decision>> {
        let (r, amount) = match self.live.get(&request) {
            Some(&Live::Granted { resource, amount }) => (resource, amount),
            Some(Live::Waiting { .. }) => {
                return Err(ArbiterError::InvalidArgument(format!(
                    "request {request} is still waiting, not granted; cancel it instead"
                )));
            }
            None => return Err(ArbiterError::UnknownRequest(request)),
        };
        self.live.remove(&request);
        let res = &mut self.resources[r];
        res.held -= 1;
        if res.conflict.returns_on_release() {
            res.free = if res.held == 0 {
                // Nothing held: free is exactly the capacity, whatever float
                // error the additions and subtractions left behind.
                res.capacity
            } else {
                (res.free + amount).min(res.capacity)
            };
        }
        let mut out = Vec::new();
        self.dispatch(r, now, &mut out);
        Ok(out)
    }

    /// Withdraws a waiting request. If it was the head that held the others
    /// back, they are granted by the next [`tick`](Self::tick) or release.
    pub fn cancel(&mut self, request: u64, _now: f64) -> Result<()> {
        let (r, who) = match self.live.get(&request) {
            Some(&Live::Waiting { resource, requester }) => (resource, requester),
            Some(Live::Granted { .. }) => {
                return Err(ArbiterError::InvalidArgument(format!(
                    "request {request} is granted, not waiting; release it instead"
                )));
            }
            None => return Err(ArbiterError::UnknownRequest(request)),
        };
        self.live.remove(&request);
        let res = &mut self.resources[r];
        let pos = res
            .queue
            .position(who)
            .expect("a waiting request's requester has a flow");
        let flow = res.queue.flow_mut(pos);
        for q in &mut flow.data {
            if let Some(i) = q.iter().position(|w| w.id == request) {
                q.remove(i);
                break;
            }
        }
        if flow.data.iter().all(VecDeque::is_empty) {
            res.queue.remove(pos);
        }
        res.waiting -= 1;
        self.requesters[who].cancelled += 1;
        Ok(())
    }

    /// Applies aging at `now` and grants, on every resource, the waiting
    /// requests that fit, in order.
    pub fn tick(&mut self, now: f64) -> Vec<Decision> {
        let mut out = Vec::new();
        for r in 0..self.resources.len() {
            if self.resources[r].waiting > 0 {
                self.dispatch(r, now, &mut out);
            }
        }
        out
    }

    pub fn stats(&self) -> SchedulerStats {
        let shares: Vec<f64> = self
            .requesters
            .iter()
            .filter(|s| s.submitted > 0)
            .map(|s| s.served / s.weight)
            .collect();
        SchedulerStats {
            requesters: self.requesters.clone(),
            gini: gini(&shares),
        }
    }

    fn resource(&self, name: &str) -> Result<usize> {
        self.resource_index
            .get(name)
            .copied()
            .ok_or_else(|| ArbiterError::UnknownResource(name.to_owned()))
    }

    fn requester(&mut self, name: &str) -> usize {
        if let Some(&i) = self.requester_index.get(name) {
            return i;
        }
        let i = self.requesters.len();
        self.requesters.push(RequesterStats {
            name: name.to_owned(),
            weight: 1.0,
            submitted: 0,
            granted: 0,
            denied: 0,
            deferred: 0,
            cancelled: 0,
            served: 0.0,
            total_wait: 0.0,
            max_wait: 0.0,
        });
        self.requester_index.insert(name.to_owned(), i);
        i
    }

    /// Grants the waiting requests of resource `r` in order while the head fits.
    fn dispatch(&mut self, r: usize, now: f64, out: &mut Vec<Decision>) {
        let interval = self.aging_interval;
        let Scheduler {
            resources,
            requesters,
            live,
            ..
        } = self;
        let res = &mut resources[r];
        while res.waiting > 0 {
            let Some(top) = top_level(&res.queue, now, interval) else {
                break;
            };
            let quantum = res.quantum;
            let cost = |q: &Queues| head_at(q, top, now, interval).map(|k| q[k][0].amount);
            let Some(pos) = res.queue.select(|who| requesters[who].weight * quantum, cost) else {
                break;
            };
            let k = head_at(&res.queue.flows()[pos].data, top, now, interval).expect("select named an eligible flow");
            let amount = res.queue.flows()[pos].data[k][0].amount;
            if !res.fits(amount) {
                break;
            }
            let who = res.queue.flows()[pos].key;
            let w = res.queue.flow_mut(pos).data[k].pop_front().expect("head exists");
            res.queue.charge(pos, amount);
            if res.queue.flows()[pos].data.iter().all(VecDeque::is_empty) {
                res.queue.remove(pos);
            }
            let waited = (now - w.since).max(0.0);
            let st = &mut requesters[who];
            let why = rationale::granted_from_queue(&res.supply(), amount, &st.name, w.base, top, waited, st.weight);
            res.free -= amount;
            res.held += 1;
            res.waiting -= 1;
            live.insert(w.id, Live::Granted { resource: r, amount });
            st.granted += 1;
            st.served += amount;
            st.total_wait += waited;
            st.max_wait = st.max_wait.max(waited);
            out.push(Decision {
                request: w.id,
                verdict: Verdict::Granted,
                rationale: why,
                requester: st.name.clone(),
                resource: res.name.clone(),
                conflict: res.conflict,
                amount,
                priority: top,
                waited,
            });
        }
    }
}

/// A waiting request's priority at `now`: one level up per `interval` waited.
fn effective(w: &Waiting, now: f64, interval: f64) -> Priority {
    let levels = ((now - w.since).max(0.0) / interval).floor();
    // `as` saturates, and NaN (never from validated inputs) becomes 0.
    w.base.raised(levels as u64)
}

/// The highest effective priority among the waiting requests.
fn top_level(queue: &Drr<Queues>, now: f64, interval: f64) -> Option<Priority> {
    queue
        .flows()
        .iter()
        .flat_map(|f| f.data.iter().filter_map(|q| q.front()))
        .map(|w| effective(w, now, interval))
        .max()
}

/// Which of a requester's queues holds its next request at level `top`: the
/// oldest among the heads at that level (none is above it, `top` being the
/// highest).
fn head_at(q: &Queues, top: Priority, now: f64, interval: f64) -> Option<usize> {
    (0..q.len())
        .filter(|&k| q[k].front().is_some_and(|w| effective(w, now, interval) == top))
        .min_by_key(|&k| q[k][0].id)
}

/// How many waiting requests on `res` are at or above `priority` at `now`.
fn ahead_of(res: &Resource, priority: Priority, now: f64, interval: f64) -> usize {
    res.queue
        .flows()
        .iter()
        .flat_map(|f| f.data.iter())
        // Effective priority falls along a queue (older first), so those at
        // or above `priority` are a prefix.
        .map(|q| q.partition_point(|w| effective(w, now, interval) >= priority))
        .sum()
}

//! The pool's state machine. It never blocks and never reads a clock: every
//! call takes `now` in seconds, and a caller that must wait (the Python
//! binding, a simulator) queues a ticket and polls it after `release`/`tick`.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashMap;

use crate::list::{Link, List, NIL};
use crate::predict::Usage;
use crate::{Event, Eviction, FunctionSpec, Health, InstanceState, PoolConfig, PoolError, Reason};

use InstanceState::{Busy, Cold, Cooling, Failed, Idle, Warming};

/// Proof of holding one instance. Its serial is unique over the pool's life,
/// so a released lease can never release the instance's next holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    pub instance: u32,
    pub serial: u64,
}

/// A lease handed out, and what it cost to get it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grant {
    pub lease: Lease,
    pub function: u32,
    /// The acquire had to start a cold instance.
    pub cold_start: bool,
    /// When the instance is hot: `now` on a hit, later while it warms.
    pub ready_at: f64,
    /// Seconds spent queued before the grant.
    pub waited: f64,
}

/// Where a queued acquire stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ticket {
    Waiting,
    Granted(Grant),
    TimedOut {
        waited: f64,
    },
    /// The pool shut down while it waited.
    Closed,
}

#[derive(Debug, Clone)]
struct Instance {
    func: u32,
    state: InstanceState,
    health: Health,
    /// Serial of the lease on it; 0 when none.
    lease: u64,
    leased_at: f64,
    ready_at: f64,
    idle_since: f64,
    cool_until: f64,
    warm_reason: Reason,
    cool_reason: Reason,
    uses: u64,
}

#[derive(Debug, Clone)]
struct Function {
    name: String,
    spec: FunctionSpec,
    /// Idle instances, least recently released first.
    idle: List,
    /// Cold instance slots, ready to warm.
    cold: Vec<u32>,
    /// Instances in each state, indexed by `InstanceState as usize`.
    counts: [u32; 6],
    /// Tickets queued for this function, oldest first.
    waiters: VecDeque<u64>,
    usage: Usage,
    hits: u64,
    misses: u64,
    cold_starts: u64,
}

#[derive(Debug, Clone)]
struct Waiter {
    func: u32,
    since: f64,
    deadline: f64,
    state: Ticket,
}

/// Counters over the pool's life.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolStats {
    pub acquires: u64,
    pub releases: u64,
    /// Acquires served by a hot idle instance.
    pub hits: u64,
    /// Acquires that had to wait for a warm-up or a queue.
    pub misses: u64,
    pub cold_starts: u64,
    pub evictions: u64,
    pub timeouts: u64,
    pub prewarms: u64,
    pub failures: u64,
    /// `transitions[from][to]`, indexed by `InstanceState as usize` (idle ↔ busy flips excluded).
    pub transitions: [[u64; 6]; 6],
    /// Transitions by `Reason as usize`.
    pub reasons: [u64; 7],
    pub events: u64,
    pub memory_used: u64,
    pub memory_budget: u64,
}

impl PoolStats {
    pub fn hit_rate(&self) -> f64 {
        let n = self.hits + self.misses;
        if n == 0 { 0.0 } else { self.hits as f64 / n as f64 }
    }
}

/// One function's view: its spec, its instances by state, its demand.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionStats {
    pub name: String,
    pub counts: [u32; 6],
    pub waiting: usize,
    pub hits: u64,
    pub misses: u64,
    pub cold_starts: u64,
    pub rate: f64,
    pub peak: f64,
    pub mean_hold: f64,
}

/// Instances of registered functions, kept warm or cold within a memory budget.
#[derive(Debug, Clone)]
pub struct Pool {
    config: PoolConfig,
    funcs: Vec<Function>,
    names: FxHashMap<String, u32>,
    inst: Vec<Instance>,
    lru_links: Vec<Link>,
    fn_links: Vec<Link>,
    /// Every idle instance, least recently released first.
    lru: List,
    warming: Vec<u32>,
    cooling: Vec<u32>,
    waiters: BTreeMap<u64, Waiter>,
    /// Tickets still waiting (the map also holds finished ones not yet taken).
    waiting: usize,
    /// The queue's oldest cold start waits for memory: newcomers may not warm.
    memory_blocked: bool,
    next_ticket: u64,
    serial: u64,
    events: VecDeque<Event>,
    /// Events not yet taken by a subscriber, kept whatever `event_capacity` says.
    pending: Option<Vec<Event>>,
    stats: PoolStats,
    closed: bool,
}

impl Pool {
    pub fn new(config: PoolConfig) -> Result<Self, PoolError> {
        config.check()?;
        let stats = PoolStats {
            memory_budget: config.memory_budget,
            ..PoolStats::default()
        };
        Ok(Pool {
            config,
            funcs: Vec::new(),
            names: FxHashMap::default(),
            inst: Vec::new(),
            lru_links: Vec::new(),
            fn_links: Vec::new(),
            lru: List::default(),
            warming: Vec::new(),
            cooling: Vec::new(),
            waiters: BTreeMap::new(),
            waiting: 0,
            memory_blocked: false,
            next_ticket: 1,
            serial: 0,
            events: VecDeque::new(),
            pending: None,
            stats,
            closed: false,
        })
    }

    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Registers a function; its instances start cold.
    pub fn register(&mut self, name: &str, spec: FunctionSpec) -> Result<u32, PoolError> {
        if self.closed {
            return Err(PoolError::Closed);
        }
        if name.is_empty() {
            return Err(PoolError::InvalidSpec("a function name must not be empty".into()));
        }
        spec.check(name)?;
        if spec.memory > self.config.memory_budget {
            return Err(PoolError::InvalidSpec(format!(
                "function '{name}': memory {} exceeds the pool's memory_budget {}, so it could never warm",
                spec.memory, self.config.memory_budget
            )));
        }
        if self.names.contains_key(name) {
            return Err(PoolError::DuplicateFunction(name.to_owned()));
        }
        let id = self.funcs.len() as u32;
        let first = self.inst.len() as u32;
        let n = spec.max_instances;
        for _ in 0..n {
            self.inst.push(Instance {
                func: id,
                state: Cold,
                health: Health::Unknown,
                lease: 0,
                leased_at: 0.0,
                ready_at: 0.0,
                idle_since: 0.0,
                cool_until: 0.0,
                warm_reason: Reason::UserRequest,
                cool_reason: Reason::UserRequest,
                uses: 0,
            });
            self.lru_links.push(Link::default());
            self.fn_links.push(Link::default());
        }
        let mut counts = [0; 6];
        counts[Cold as usize] = n;
        self.funcs.push(Function {
            name: name.to_owned(),
            spec,
            idle: List::default(),
            // Popped from the back: the lowest slot warms first.
            cold: (first..first + n).rev().collect(),
            counts,
            waiters: VecDeque::new(),
            usage: Usage::default(),
            hits: 0,
            misses: 0,
            cold_starts: 0,
        });
        self.names.insert(name.to_owned(), id);
        Ok(id)
    }

    pub fn function(&self, name: &str) -> Result<u32, PoolError> {
        self.names
            .get(name)
            .copied()
            .ok_or_else(|| PoolError::UnknownFunction(name.to_owned()))
    }

    pub fn function_name(&self, f: u32) -> &str {
        &self.funcs[f as usize].name
    }

    pub fn spec(&self, f: u32) -> &FunctionSpec {
        &self.funcs[f as usize].spec
    }

    pub fn functions(&self) -> impl Iterator<Item = &str> {
        self.funcs.iter().map(|f| f.name.as_str())
    }

    pub fn len_functions(&self) -> usize {
        self.funcs.len()
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn check_instance(&self, id: u32) -> Result<&Instance, PoolError> {
        self.inst.get(id as usize).ok_or(PoolError::UnknownInstance(id))
    }

    pub fn instance_state(&self, id: u32) -> Result<(u32, InstanceState, Health), PoolError> {
        let i = self.check_instance(id)?;
        Ok((i.func, i.state, i.health))
    }

    /// Instance ids of function `f`, each with its state and health.
    pub fn instances(&self, f: u32) -> Vec<(u32, InstanceState, Health)> {
        (0..self.inst.len() as u32)
            .filter(|&i| self.inst[i as usize].func == f)
            .map(|i| (i, self.inst[i as usize].state, self.inst[i as usize].health))
            .collect()
    }

    /// Instances a health check should look at: hot ones.
    pub fn hot_instances(&self) -> Vec<(u32, u32)> {
        self.inst
            .iter()
            .enumerate()
            .filter(|(_, i)| matches!(i.state, Idle | Busy))
            .map(|(id, i)| (id as u32, i.func))
            .collect()
    }

    pub fn stats(&self) -> PoolStats {
        self.stats.clone()
    }

    pub fn function_stats(&self, f: u32, now: f64) -> FunctionStats {
        let func = &self.funcs[f as usize];
        let tau = self.config.rate_tau;
        FunctionStats {
            name: func.name.clone(),
            counts: func.counts,
            waiting: func.waiters.len(),
            hits: func.hits,
            misses: func.misses,
            cold_starts: func.cold_starts,
            rate: func.usage.rate(now, tau),
            peak: func.usage.peak(),
            mean_hold: func.usage.hold,
        }
    }

    /// Hot instances (idle or busy) of every function, in registration order.
    pub fn hot_counts(&self) -> Vec<u32> {
        self.funcs
            .iter()
            .map(|f| f.counts[Idle as usize] + f.counts[Busy as usize])
            .collect()
    }

    /// Leases out now.
    pub fn busy(&self) -> u32 {
        self.inst.iter().filter(|i| i.lease != 0).count() as u32
    }

    /// Acquires waiting in line.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Tickets not yet taken, waiting or finished: someone may need waking.
    pub fn tickets(&self) -> usize {
        self.waiters.len()
    }

    /// Retained events with `seq >= since`, oldest first.
    pub fn events_since(&self, since: u64) -> impl Iterator<Item = &Event> {
        let first = self.events.front().map_or(0, |e| e.seq);
        self.events.iter().skip(since.saturating_sub(first) as usize)
    }

    /// From now on keep every event for [`Pool::take_pending`] (an event callback).
    pub fn subscribe(&mut self) {
        self.pending.get_or_insert_with(Vec::new);
    }

    /// Events since the last call, for a subscriber; empty unless subscribed.
    pub fn take_pending(&mut self) -> Vec<Event> {
        self.pending.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Whether a subscriber has events to take.
    #[inline]
    pub fn has_pending(&self) -> bool {
        self.pending.as_ref().is_some_and(|p| !p.is_empty())
    }

    /// Sequence number the next event will carry.
    pub fn event_seq(&self) -> u64 {
        self.stats.events
    }

    // ---- acquiring ----

    /// Leases an instance now if one is hot and idle, already warming, or can
    /// be warmed within the budget (evicting idle instances if need be);
    /// `None` means the caller must queue with [`Pool::enqueue`].
    pub fn try_acquire(&mut self, f: u32, now: f64) -> Result<Option<Grant>, PoolError> {
        if self.closed {
            return Err(PoolError::Closed);
        }
        let func = self.funcs.get(f as usize).ok_or(PoolError::UnknownInstance(f))?;
        if !func.waiters.is_empty() {
            // Queued acquires of this function go first.
            return Ok(None);
        }
        // Cold starts are granted in queue order, so a newcomer does not take
        // memory that an earlier waiter is waiting for; and it evicts only
        // what frees memory at once, since it will not wait for a cooldown.
        let may_warm = !self.memory_blocked;
        let grant = self.grant(f, now, now, may_warm, now);
        Ok(grant.ok())
    }

    /// Queues an acquire of `f` until `deadline`; the ticket is served in
    /// order by later `release`, `tick` and `serve` calls.
    pub fn enqueue(&mut self, f: u32, now: f64, deadline: f64) -> Result<u64, PoolError> {
        if self.closed {
            return Err(PoolError::Closed);
        }
        let func = self.funcs.get_mut(f as usize).ok_or(PoolError::UnknownInstance(f))?;
        let t = self.next_ticket;
        self.next_ticket += 1;
        self.waiting += 1;
        func.waiters.push_back(t);
        self.waiters.insert(
            t,
            Waiter {
                func: f,
                since: now,
                deadline,
                state: Ticket::Waiting,
            },
        );
        Ok(t)
    }

    pub fn ticket(&self, t: u64) -> Option<Ticket> {
        self.waiters.get(&t).map(|w| w.state)
    }

    /// Forgets a ticket that is no longer waiting, returning its outcome.
    pub fn take_ticket(&mut self, t: u64) -> Option<Ticket> {
        match self.waiters.get(&t)?.state {
            Ticket::Waiting => None,
            state => {
                self.waiters.remove(&t);
                Some(state)
            }
        }
    }

    /// Withdraws a ticket. A grant that raced the cancel is returned so the
    /// caller can release it.
    pub fn cancel_ticket(&mut self, t: u64, now: f64) -> Option<Grant> {
        let w = self.waiters.remove(&t)?;
        match w.state {
            Ticket::Waiting => {
                self.waiting -= 1;
                self.funcs[w.func as usize].waiters.retain(|&x| x != t);
                // It may have been holding back later cold starts.
                self.serve(now);
                None
            }
            Ticket::Granted(g) => Some(g),
            _ => None,
        }
    }

    /// Grants what queued tickets can now have, oldest first; returns how many.
    pub fn serve(&mut self, now: f64) -> usize {
        if self.waiting == 0 {
            self.memory_blocked = false;
            return 0;
        }
        let mut served = 0;
        let mut may_warm = true;
        let tickets: Vec<u64> = self
            .waiters
            .iter()
            .filter(|(_, w)| matches!(w.state, Ticket::Waiting))
            .map(|(&t, _)| t)
            .collect();
        for t in tickets {
            let w = &self.waiters[&t];
            if !matches!(w.state, Ticket::Waiting) {
                continue;
            }
            let f = w.func;
            if self.funcs[f as usize].waiters.front() != Some(&t) {
                continue;
            }
            let since = w.since;
            let deadline = w.deadline;
            match self.grant(f, now, since, may_warm, deadline) {
                Ok(g) => {
                    self.waiting -= 1;
                    self.funcs[f as usize].waiters.pop_front();
                    self.waiters.get_mut(&t).expect("ticket").state = Ticket::Granted(g);
                    served += 1;
                }
                Err(blocked_on_memory) => {
                    if blocked_on_memory {
                        may_warm = false;
                    }
                }
            }
        }
        self.memory_blocked = !may_warm;
        served
    }

    /// Hit, join a warming instance, or warm a cold one. `Err(true)` when only
    /// memory stood in the way, `Err(false)` when every instance is taken.
    fn grant(&mut self, f: u32, now: f64, since: f64, may_warm: bool, deadline: f64) -> Result<Grant, bool> {
        // Instances past their idle timeout with no tick yet to cool them go first.
        self.expire_idle(f, now);
        let tail = self.funcs[f as usize].idle.tail;
        if tail != NIL {
            return Ok(self.lease_idle(f, tail, now, since));
        }
        let joinable = self
            .warming
            .iter()
            .copied()
            .find(|&i| self.inst[i as usize].func == f && self.inst[i as usize].lease == 0);
        if let Some(id) = joinable {
            let ready_at = self.inst[id as usize].ready_at;
            let lease = self.lease(id, now);
            let func = &mut self.funcs[f as usize];
            func.misses += 1;
            self.stats.misses += 1;
            self.note_acquire(f, now);
            return Ok(Grant {
                lease,
                function: f,
                cold_start: false,
                ready_at,
                waited: now - since,
            });
        }
        if self.funcs[f as usize].cold.is_empty() {
            return Err(false);
        }
        if !may_warm || !self.make_room(f, now, deadline) {
            return Err(true);
        }
        let id = self.warm(f, now, Reason::UserRequest);
        let ready_at = self.inst[id as usize].ready_at;
        let lease = self.lease(id, now);
        let func = &mut self.funcs[f as usize];
        func.misses += 1;
        func.cold_starts += 1;
        self.stats.misses += 1;
        self.stats.cold_starts += 1;
        self.note_acquire(f, now);
        if ready_at <= now {
            self.finish_warmup(id);
        }
        Ok(Grant {
            lease,
            function: f,
            cold_start: true,
            ready_at,
            waited: now - since,
        })
    }

    #[inline]
    fn lease_idle(&mut self, f: u32, id: u32, now: f64, since: f64) -> Grant {
        let func = &mut self.funcs[f as usize];
        func.idle.remove(&mut self.fn_links, id);
        self.lru.remove(&mut self.lru_links, id);
        func.counts[Idle as usize] -= 1;
        func.counts[Busy as usize] += 1;
        // A queued acquire that gets a returned instance still waited: a miss.
        if since < now {
            func.misses += 1;
            self.stats.misses += 1;
        } else {
            func.hits += 1;
            self.stats.hits += 1;
        }
        self.inst[id as usize].state = Busy;
        let lease = self.lease(id, now);
        self.note_acquire(f, now);
        Grant {
            lease,
            function: f,
            cold_start: false,
            ready_at: now,
            waited: now - since,
        }
    }

    #[inline]
    fn lease(&mut self, id: u32, now: f64) -> Lease {
        self.serial += 1;
        let i = &mut self.inst[id as usize];
        i.lease = self.serial;
        i.leased_at = now;
        i.uses += 1;
        Lease {
            instance: id,
            serial: self.serial,
        }
    }

    #[inline]
    fn note_acquire(&mut self, f: u32, now: f64) {
        self.stats.acquires += 1;
        let concurrent = self.funcs[f as usize].counts[Busy as usize] + self.warming_leased(f);
        self.funcs[f as usize]
            .usage
            .on_acquire(now, self.config.rate_tau, concurrent);
    }

    fn warming_leased(&self, f: u32) -> u32 {
        if self.funcs[f as usize].counts[Warming as usize] == 0 {
            return 0;
        }
        self.warming
            .iter()
            .filter(|&&i| self.inst[i as usize].func == f && self.inst[i as usize].lease != 0)
            .count() as u32
    }

    fn free_memory(&self) -> u64 {
        self.config.memory_budget - self.stats.memory_used
    }

    /// Frees memory for one instance of `f`, for an acquire that can wait
    /// until `deadline` (`now`: not at all). Idle instances with no cooldown
    /// free their memory at once and go first, in the eviction policy's
    /// order; ones with a cooldown, and instances already cooling, count only
    /// if their memory is back by the deadline. Evicts nothing unless that
    /// suffices; true when the memory is free now.
    fn make_room(&mut self, f: u32, now: f64, deadline: f64) -> bool {
        let need = self.funcs[f as usize].spec.memory;
        let free = self.free_memory();
        if free >= need {
            return true;
        }
        let cooldown = |p: &Self, i: u32| p.funcs[p.inst[i as usize].func as usize].spec.cooldown;
        let mut order: Vec<u32> = self.lru.iter(&self.lru_links).collect();
        match self.config.eviction {
            Eviction::Lru => {}
            Eviction::Lfu => order.sort_by_key(|&i| self.inst[i as usize].uses),
            Eviction::Largest => order.sort_by_key(|&i| std::cmp::Reverse(self.memory_of(i))),
        }
        let (at_once, later): (Vec<u32>, Vec<u32>) = order.into_iter().partition(|&i| cooldown(self, i) <= 0.0);
        let later: Vec<u32> = later
            .into_iter()
            .filter(|&i| now + cooldown(self, i) <= deadline)
            .collect();
        let sum = |p: &Self, ids: &[u32]| -> u64 { ids.iter().map(|&i| p.memory_of(i)).sum() };
        let returning: u64 = self
            .cooling
            .iter()
            .filter(|&&i| self.inst[i as usize].cool_until <= deadline)
            .map(|&i| self.memory_of(i))
            .sum();
        let (victims, mut coming) = if free + sum(self, &at_once) >= need {
            (at_once, free)
        } else if free + sum(self, &at_once) + sum(self, &later) + returning >= need {
            (at_once.into_iter().chain(later).collect(), free + returning)
        } else {
            return false;
        };
        for id in victims {
            if coming >= need {
                break;
            }
            coming += self.memory_of(id);
            self.stats.evictions += 1;
            self.cool(id, now, Reason::ResourcePressure);
        }
        self.free_memory() >= need
    }

    fn memory_of(&self, id: u32) -> u64 {
        self.funcs[self.inst[id as usize].func as usize].spec.memory
    }

    /// Cold → warming. The caller has made room.
    fn warm(&mut self, f: u32, now: f64, reason: Reason) -> u32 {
        let func = &mut self.funcs[f as usize];
        let id = func.cold.pop().expect("a cold slot");
        let warmup = func.spec.warmup;
        self.stats.memory_used += func.spec.memory;
        let i = &mut self.inst[id as usize];
        i.ready_at = now + warmup;
        i.warm_reason = reason;
        i.health = Health::Unknown;
        self.warming.push(id);
        self.set_state(id, Warming, reason, now);
        id
    }

    // ---- releasing ----

    /// Returns a leased instance to the pool.
    #[inline]
    pub fn release(&mut self, lease: Lease, now: f64) -> Result<(), PoolError> {
        let id = self.check_lease(lease)?;
        let i = &mut self.inst[id as usize];
        i.lease = 0;
        let held = now - i.leased_at;
        let f = i.func;
        self.stats.releases += 1;
        self.funcs[f as usize].usage.on_release(held);
        match i.state {
            Busy if !self.closed => {
                i.state = Idle;
                i.idle_since = now;
                let func = &mut self.funcs[f as usize];
                func.counts[Busy as usize] -= 1;
                func.counts[Idle as usize] += 1;
                self.push_idle(id);
            }
            Busy | Warming if self.closed => self.cool(id, now, Reason::ScheduledCooldown),
            Failed => self.make_cold(id, now, Reason::ErrorRecovery),
            // Released before its warm-up ended: it turns idle when ready.
            _ => {}
        }
        if self.waiting > 0 {
            self.serve(now);
        }
        Ok(())
    }

    /// The holder reports that the instance broke: it fails and goes cold.
    pub fn fail(&mut self, lease: Lease, now: f64) -> Result<(), PoolError> {
        let id = self.check_lease(lease)?;
        let i = &mut self.inst[id as usize];
        i.lease = 0;
        let f = i.func;
        let held = now - i.leased_at;
        self.funcs[f as usize].usage.on_release(held);
        self.stats.releases += 1;
        self.stats.failures += 1;
        if self.inst[id as usize].state == Warming {
            self.warming.retain(|&x| x != id);
        }
        if self.inst[id as usize].state != Failed {
            self.set_state(id, Failed, Reason::ErrorRecovery, now);
        }
        self.make_cold(id, now, Reason::ErrorRecovery);
        self.serve(now);
        Ok(())
    }

    fn check_lease(&self, lease: Lease) -> Result<u32, PoolError> {
        let id = lease.instance;
        match self.inst.get(id as usize) {
            Some(i) if i.lease == lease.serial && lease.serial != 0 => Ok(id),
            Some(_) if lease.serial != 0 && lease.serial <= self.serial => Err(PoolError::InvalidLease(format!(
                "lease #{} on instance {id} was already released",
                lease.serial
            ))),
            _ => Err(PoolError::InvalidLease(format!(
                "lease #{} on instance {id} was not handed out by this pool",
                lease.serial
            ))),
        }
    }

    /// Whether the lease is still held.
    pub fn is_held(&self, lease: Lease) -> bool {
        self.check_lease(lease).is_ok()
    }

    /// State of a leased instance (warming until ready, then busy; failed if it broke).
    pub fn lease_state(&self, lease: Lease) -> Result<InstanceState, PoolError> {
        let id = self.check_lease(lease)?;
        Ok(self.inst[id as usize].state)
    }

    // ---- transitions ----

    fn set_state(&mut self, id: u32, to: InstanceState, reason: Reason, now: f64) {
        let i = &mut self.inst[id as usize];
        let from = i.state;
        i.state = to;
        let f = i.func;
        let func = &mut self.funcs[f as usize];
        func.counts[from as usize] -= 1;
        func.counts[to as usize] += 1;
        self.stats.transitions[from as usize][to as usize] += 1;
        self.stats.reasons[reason as usize] += 1;
        let seq = self.stats.events;
        self.stats.events += 1;
        let event = Event {
            seq,
            time: now,
            function: f,
            instance: id,
            from,
            to,
            reason,
        };
        if let Some(pending) = &mut self.pending {
            pending.push(event);
        }
        if self.config.event_capacity > 0 {
            if self.events.len() == self.config.event_capacity {
                self.events.pop_front();
            }
            self.events.push_back(event);
        }
    }

    /// Idle or warming → cooling, and on to cold when the cooldown is zero.
    fn cool(&mut self, id: u32, now: f64, reason: Reason) {
        let i = &self.inst[id as usize];
        let f = i.func;
        match i.state {
            Idle => {
                self.funcs[f as usize].idle.remove(&mut self.fn_links, id);
                self.lru.remove(&mut self.lru_links, id);
            }
            Warming => self.warming.retain(|&x| x != id),
            _ => {}
        }
        let cooldown = self.funcs[f as usize].spec.cooldown;
        self.inst[id as usize].cool_until = now + cooldown;
        self.inst[id as usize].cool_reason = reason;
        self.set_state(id, Cooling, reason, now);
        if cooldown <= 0.0 {
            self.make_cold(id, now, reason);
        } else {
            self.cooling.push(id);
        }
    }

    fn make_cold(&mut self, id: u32, now: f64, reason: Reason) {
        let f = self.inst[id as usize].func;
        if self.inst[id as usize].state == Cooling {
            self.cooling.retain(|&x| x != id);
        }
        self.set_state(id, Cold, reason, now);
        let func = &mut self.funcs[f as usize];
        func.cold.push(id);
        self.stats.memory_used -= func.spec.memory;
        self.inst[id as usize].health = Health::Unknown;
    }

    /// Records a health check's verdict; an unhealthy instance fails and goes
    /// cold (a leased one when its holder releases it).
    pub fn set_health(&mut self, id: u32, health: Health, now: f64) -> Result<(), PoolError> {
        let state = self.check_instance(id)?.state;
        self.inst[id as usize].health = health;
        if health != Health::Unhealthy || matches!(state, Cold | Failed) {
            return Ok(());
        }
        self.stats.failures += 1;
        match state {
            Idle => {
                let f = self.inst[id as usize].func;
                self.funcs[f as usize].idle.remove(&mut self.fn_links, id);
                self.lru.remove(&mut self.lru_links, id);
            }
            Warming => self.warming.retain(|&x| x != id),
            Cooling => self.cooling.retain(|&x| x != id),
            _ => {}
        }
        self.set_state(id, Failed, Reason::HealthCheckFailure, now);
        if self.inst[id as usize].lease == 0 {
            self.make_cold(id, now, Reason::ErrorRecovery);
            self.serve(now);
        }
        Ok(())
    }

    /// Cools an idle instance on request.
    pub fn cool_instance(&mut self, id: u32, now: f64) -> Result<bool, PoolError> {
        if self.check_instance(id)?.state != Idle {
            return Ok(false);
        }
        self.cool(id, now, Reason::UserRequest);
        self.serve(now);
        Ok(true)
    }

    // ---- time ----

    /// Runs every timer due by `now` in the order of its time, as if the
    /// pool had been ticked at each: warm-ups finish, idle instances time out,
    /// cooldowns end, the queue is served, and waits past their deadline
    /// expire. Returns how many tickets changed state.
    pub fn tick(&mut self, now: f64) -> usize {
        let mut changed = 0;
        while let Some(t) = self.next_deadline().filter(|&t| t <= now) {
            let (timers, tickets) = self.run_timers(t);
            changed += tickets;
            if timers == 0 && tickets == 0 {
                break;
            }
        }
        changed + self.serve(now)
    }

    /// Everything due at or before `t`; returns (timers run, tickets changed).
    fn run_timers(&mut self, t: f64) -> (usize, usize) {
        let mut timers = 0;
        let mut ready: Vec<u32> = self
            .warming
            .iter()
            .copied()
            .filter(|&i| self.inst[i as usize].ready_at <= t)
            .collect();
        ready.sort_by(|&a, &b| {
            self.inst[a as usize]
                .ready_at
                .total_cmp(&self.inst[b as usize].ready_at)
        });
        for id in ready {
            self.finish_warmup(id);
            timers += 1;
        }
        for f in 0..self.funcs.len() as u32 {
            timers += self.expire_idle(f, t);
        }
        let done: Vec<u32> = self
            .cooling
            .iter()
            .copied()
            .filter(|&i| self.inst[i as usize].cool_until <= t)
            .collect();
        for id in done {
            let (at, reason) = (self.inst[id as usize].cool_until, self.inst[id as usize].cool_reason);
            self.make_cold(id, at, reason);
            timers += 1;
        }
        // Served before deadlines are applied: memory freed at the very
        // moment a wait runs out still reaches it.
        let mut tickets = self.serve(t);
        let expired: Vec<u64> = self
            .waiters
            .iter()
            .filter(|(_, w)| matches!(w.state, Ticket::Waiting) && w.deadline <= t)
            .map(|(&k, _)| k)
            .collect();
        for k in expired {
            let w = self.waiters.get_mut(&k).expect("ticket");
            w.state = Ticket::TimedOut {
                waited: w.deadline - w.since,
            };
            let f = w.func;
            self.funcs[f as usize].waiters.retain(|&x| x != k);
            self.waiting -= 1;
            self.stats.timeouts += 1;
            tickets += 1;
            timers += 1;
        }
        (timers, tickets)
    }

    /// Puts an instance that just turned idle into the idle lists, keeping
    /// them ordered by `idle_since` (a late tick may finish a warm-up dated
    /// before releases already listed).
    #[inline]
    fn push_idle(&mut self, id: u32) {
        let since = self.inst[id as usize].idle_since;
        let f = self.inst[id as usize].func as usize;
        let mut after = self.funcs[f].idle.tail;
        while after != NIL && self.inst[after as usize].idle_since > since {
            after = self.fn_links[after as usize].prev;
        }
        self.funcs[f].idle.insert_after(&mut self.fn_links, after, id);
        let mut after = self.lru.tail;
        while after != NIL && self.inst[after as usize].idle_since > since {
            after = self.lru_links[after as usize].prev;
        }
        self.lru.insert_after(&mut self.lru_links, after, id);
    }

    /// Warming → busy when leased, else idle (and on to cooling if shutting down).
    fn finish_warmup(&mut self, id: u32) {
        self.warming.retain(|&x| x != id);
        let i = &self.inst[id as usize];
        let (at, reason, leased) = (i.ready_at, i.warm_reason, i.lease != 0);
        if leased {
            self.set_state(id, Busy, reason, at);
            return;
        }
        self.set_state(id, Idle, reason, at);
        self.inst[id as usize].idle_since = at;
        self.push_idle(id);
        if self.closed {
            self.cool(id, at, Reason::ScheduledCooldown);
        }
    }

    /// When `f`'s longest-idle instance is to cool: at its idle timeout, or,
    /// while prediction keeps it, when a use stops being expected. Expiry and
    /// `next_deadline` both ask this, so they can never disagree.
    #[inline]
    fn idle_due(&self, f: u32, before: f64) -> Option<f64> {
        let func = &self.funcs[f as usize];
        if func.idle.head == NIL {
            return None;
        }
        let due = self.inst[func.idle.head as usize].idle_since + func.spec.idle_timeout;
        if due > before || !self.config.predictive || self.closed {
            return Some(due);
        }
        let until = self.active_until(f);
        let counts = &func.counts;
        let ready = counts[Idle as usize] + counts[Busy as usize] + counts[Warming as usize];
        Some(if due < until && ready <= self.peak_want(f) {
            until
        } else {
            due
        })
    }

    /// Cools `f`'s instances idle past their time by `t`; returns how many.
    fn expire_idle(&mut self, f: u32, t: f64) -> usize {
        let mut n = 0;
        while let Some(due) = self.idle_due(f, t).filter(|&d| d <= t) {
            let head = self.funcs[f as usize].idle.head;
            self.cool(head, due, Reason::IdleTimeout);
            n += 1;
        }
        n
    }

    /// Earliest time a timer is due, if any: the next moment `tick` has work.
    pub fn next_deadline(&self) -> Option<f64> {
        let warm = self.warming.iter().map(|&i| self.inst[i as usize].ready_at);
        let cool = self.cooling.iter().map(|&i| self.inst[i as usize].cool_until);
        let idle = (0..self.funcs.len() as u32).filter_map(|f| self.idle_due(f, f64::INFINITY));
        let wait = self
            .waiters
            .values()
            .filter(|w| matches!(w.state, Ticket::Waiting))
            .map(|w| w.deadline);
        warm.chain(cool)
            .chain(idle)
            .chain(wait)
            .filter(|t| t.is_finite())
            .min_by(f64::total_cmp)
    }

    // ---- prediction ----

    /// Instances of `f` that recent demand says should be hot, or 0 when no
    /// use is expected within the horizon.
    pub fn desired(&self, f: u32, now: f64) -> u32 {
        if now >= self.active_until(f) {
            0
        } else {
            self.peak_want(f)
        }
    }

    /// Instances recent peaks of concurrent use call for, whether or not a
    /// use is expected soon.
    fn peak_want(&self, f: u32) -> u32 {
        let func = &self.funcs[f as usize];
        (func.usage.peak().ceil().max(1.0) as u32).min(func.spec.max_instances)
    }

    /// When a use of `f` stops being expected within the horizon.
    fn active_until(&self, f: u32) -> f64 {
        let c = &self.config;
        self.funcs[f as usize]
            .usage
            .active_until(c.rate_tau, c.prewarm_threshold / c.prewarm_horizon)
    }

    /// Functions that demand says should have more instances hot, with how many more.
    pub fn suggest_prewarm(&self, now: f64) -> Vec<(u32, u32)> {
        (0..self.funcs.len() as u32)
            .filter_map(|f| {
                let counts = &self.funcs[f as usize].counts;
                let have = counts[Idle as usize] + counts[Busy as usize] + counts[Warming as usize];
                let want = self.desired(f, now);
                (want > have).then(|| (f, want - have))
            })
            .collect()
    }

    /// Starts warming up to `n` instances of `f` with free memory (never
    /// evicting); returns how many started.
    pub fn prewarm(&mut self, f: u32, n: u32, now: f64) -> Result<u32, PoolError> {
        if self.closed {
            return Err(PoolError::Closed);
        }
        if f as usize >= self.funcs.len() {
            return Err(PoolError::UnknownInstance(f));
        }
        let mut started = 0;
        while started < n
            && !self.funcs[f as usize].cold.is_empty()
            && self.free_memory() >= self.funcs[f as usize].spec.memory
        {
            let id = self.warm(f, now, Reason::PredictivePrewarm);
            if self.inst[id as usize].ready_at <= now {
                self.finish_warmup(id);
            }
            started += 1;
        }
        self.stats.prewarms += u64::from(started);
        if started > 0 {
            self.serve(now);
        }
        Ok(started)
    }

    /// Follows every suggestion; returns how many instances started warming.
    pub fn prewarm_suggested(&mut self, now: f64) -> u32 {
        let mut n = 0;
        for (f, k) in self.suggest_prewarm(now) {
            n += self.prewarm(f, k, now).unwrap_or(0);
        }
        n
    }

    // ---- shutdown ----

    /// Refuses new work, wakes every queued acquire with `Closed`, and cools
    /// what is not leased; leased instances cool as they come back. Returns
    /// how many leases are still out.
    pub fn begin_shutdown(&mut self, now: f64) -> u32 {
        self.closed = true;
        let tickets: Vec<u64> = self.waiters.keys().copied().collect();
        for t in tickets {
            let w = self.waiters.get_mut(&t).expect("ticket");
            if matches!(w.state, Ticket::Waiting) {
                w.state = Ticket::Closed;
            }
        }
        self.waiting = 0;
        self.memory_blocked = false;
        for f in &mut self.funcs {
            f.waiters.clear();
        }
        let idle: Vec<u32> = self.lru.iter(&self.lru_links).collect();
        for id in idle {
            self.cool(id, now, Reason::ScheduledCooldown);
        }
        let warming: Vec<u32> = self
            .warming
            .iter()
            .copied()
            .filter(|&i| self.inst[i as usize].lease == 0)
            .collect();
        for id in warming {
            self.cool(id, now, Reason::ScheduledCooldown);
        }
        self.busy()
    }

    /// Shut down with nothing leased and nothing left to cool.
    pub fn is_drained(&self) -> bool {
        self.closed && self.busy() == 0 && self.cooling.is_empty() && self.warming.is_empty()
    }

    /// Checks the bookkeeping against the instances themselves; for tests.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut memory = 0;
        for (f, func) in self.funcs.iter().enumerate() {
            let mut counts = [0u32; 6];
            for i in self.inst.iter().filter(|i| i.func as usize == f) {
                counts[i.state as usize] += 1;
                if i.state.is_alive() {
                    memory += func.spec.memory;
                }
                if i.lease != 0 && !matches!(i.state, Busy | Warming | Failed) {
                    return Err(format!("{}: a leased instance is {}", func.name, i.state.name()));
                }
                if i.state == Busy && i.lease == 0 {
                    return Err(format!("{}: a busy instance has no lease", func.name));
                }
            }
            if counts != func.counts {
                return Err(format!(
                    "{}: counts {:?} but instances say {counts:?}",
                    func.name, func.counts
                ));
            }
            if func.idle.len != counts[Idle as usize] || func.cold.len() as u32 != counts[Cold as usize] {
                return Err(format!("{}: idle or cold list out of step", func.name));
            }
            if counts.iter().sum::<u32>() != func.spec.max_instances {
                return Err(format!("{}: instance slots lost", func.name));
            }
        }
        if memory != self.stats.memory_used {
            return Err(format!(
                "memory_used {} but instances hold {memory}",
                self.stats.memory_used
            ));
        }
        if memory > self.config.memory_budget {
            return Err(format!("memory {memory} over the budget {}", self.config.memory_budget));
        }
        if self.lru.len as usize != self.inst.iter().filter(|i| i.state == Idle).count() {
            return Err("the LRU list is out of step".into());
        }
        Ok(())
    }
}

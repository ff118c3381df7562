//! The DAG tracker: tasks, edges, states and the ready set.

use std::collections::VecDeque;

use petgraph::Direction::{Incoming, Outgoing};
use rustc_hash::FxHashMap;

use crate::bulk::{self, Csr};
use crate::error::{DagError, Result};
use crate::key::{Key, KeyIndex, KeyRef};
use crate::order::{Graph, TopoOrder, node};
use crate::state::{FailPolicy, TaskState};

/// Below this share of the graph a batch of edges goes through the
/// incremental order one edge at a time; above it one Kahn pass is cheaper.
const BULK_FRACTION: usize = 16;

/// A batch of keys, as extracted from Python lists or integer arrays.
#[derive(Clone, Debug)]
pub enum KeyBatch {
    Ints(Vec<i64>),
    Keys(Vec<Key>),
}

impl KeyBatch {
    pub fn len(&self) -> usize {
        match self {
            KeyBatch::Ints(v) => v.len(),
            KeyBatch::Keys(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> KeyRef<'_> {
        match self {
            KeyBatch::Ints(v) => KeyRef::Int(v[i]),
            KeyBatch::Keys(v) => v[i].as_ref(),
        }
    }
}

/// Tasks with keys, costs and payloads; dependency edges kept acyclic at
/// insertion; task states with a FIFO ready set.
///
/// Tasks are addressed by dense ids (`0..len`, in insertion order); keys map
/// to ids through [`DagTracker::id`].
#[derive(Clone, Debug)]
pub struct DagTracker {
    pub(crate) graph: Graph,
    pub(crate) keys: KeyIndex,
    pub(crate) state: Vec<TaskState>,
    pub(crate) cost: Vec<f64>,
    /// Predecessors not yet done.
    pub(crate) remaining: Vec<u32>,
    queued: Vec<bool>,
    ready: VecDeque<u32>,
    counts: [usize; 7],
    pub(crate) order: TopoOrder,
    pub(crate) payloads: FxHashMap<u32, Box<[u8]>>,
    pub(crate) fail_policy: FxHashMap<u32, FailPolicy>,
}

impl Default for DagTracker {
    fn default() -> Self {
        Self::new()
    }
}

fn check_cost(key: KeyRef<'_>, cost: f64) -> Result<()> {
    if cost.is_finite() && cost >= 0.0 {
        Ok(())
    } else {
        Err(DagError::Invalid(format!(
            "cost of task {key} must be a finite number >= 0, got {cost}"
        )))
    }
}

impl DagTracker {
    pub fn new() -> Self {
        DagTracker {
            graph: Graph::default(),
            keys: KeyIndex::new(),
            state: Vec::new(),
            cost: Vec::new(),
            remaining: Vec::new(),
            queued: Vec::new(),
            ready: VecDeque::new(),
            counts: [0; 7],
            order: TopoOrder::default(),
            payloads: FxHashMap::default(),
            fail_policy: FxHashMap::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.state.len()
    }

    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }

    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    // ---- keys --------------------------------------------------------------

    pub fn id(&self, key: KeyRef<'_>) -> Result<u32> {
        self.keys.get(key).ok_or_else(|| DagError::UnknownTask(key.to_owned()))
    }

    pub fn ids(&self, keys: &KeyBatch) -> Result<Vec<u32>> {
        if let (KeyBatch::Ints(v), true) = (keys, self.keys.is_identity()) {
            let n = self.len() as i64;
            if let Some(&bad) = v.iter().find(|&&k| !(0..n).contains(&k)) {
                return Err(DagError::UnknownTask(Key::Int(bad)));
            }
            return Ok(v.iter().map(|&k| k as u32).collect());
        }
        (0..keys.len()).map(|i| self.id(keys.get(i))).collect()
    }

    pub fn key(&self, id: u32) -> KeyRef<'_> {
        self.keys.key(id)
    }

    pub fn keys_are_ids(&self) -> bool {
        self.keys.is_identity()
    }

    // ---- building ----------------------------------------------------------

    /// Adds a task with no dependencies: it is ready at once.
    pub fn add_task(&mut self, key: KeyRef<'_>, cost: f64, payload: Option<Box<[u8]>>) -> Result<u32> {
        check_cost(key, cost)?;
        let id = self
            .keys
            .insert(key)
            .ok_or_else(|| DagError::DuplicateTask(key.to_owned()))?;
        self.push_tasks(1, Some(&[cost]));
        if let Some(p) = payload {
            self.payloads.insert(id, p);
        }
        Ok(id)
    }

    /// Adds many tasks; all or none. `costs` is one per key, or absent for 0.
    pub fn add_tasks(&mut self, keys: &KeyBatch, costs: Option<&[f64]>) -> Result<std::ops::Range<u32>> {
        let first = self.len();
        if let Some(c) = costs {
            if c.len() != keys.len() {
                return Err(DagError::Invalid(format!(
                    "add_tasks got {} keys but {} costs",
                    keys.len(),
                    c.len()
                )));
            }
            for (i, &cost) in c.iter().enumerate() {
                check_cost(keys.get(i), cost)?;
            }
        }
        let consecutive = match keys {
            KeyBatch::Ints(v) => self.keys.is_identity() && v.iter().enumerate().all(|(i, &k)| k == (first + i) as i64),
            KeyBatch::Keys(_) => false,
        };
        if consecutive {
            for i in 0..keys.len() {
                self.keys.insert(keys.get(i));
            }
        } else {
            for i in 0..keys.len() {
                if self.keys.insert(keys.get(i)).is_none() {
                    self.keys.truncate(first);
                    return Err(DagError::DuplicateTask(keys.get(i).to_owned()));
                }
            }
        }
        self.push_tasks(keys.len(), costs);
        Ok(first as u32..self.len() as u32)
    }

    fn push_tasks(&mut self, count: usize, costs: Option<&[f64]>) {
        let first = self.len() as u32;
        self.graph.reserve_nodes(count);
        for _ in 0..count {
            self.graph.add_node(());
        }
        self.state.resize(self.state.len() + count, TaskState::Ready);
        match costs {
            Some(c) => self.cost.extend_from_slice(c),
            None => self.cost.resize(self.cost.len() + count, 0.0),
        }
        self.remaining.resize(self.remaining.len() + count, 0);
        self.queued.resize(self.queued.len() + count, true);
        self.ready.extend(first..first + count as u32);
        self.counts[TaskState::Ready as usize] += count;
        self.order.extend(count);
    }

    /// Adds `src -> dst` (src must finish before dst starts). Returns false if
    /// the edge was already there.
    pub fn add_edge(&mut self, src: u32, dst: u32) -> Result<bool> {
        if self.graph.find_edge(node(src), node(dst)).is_some() {
            return Ok(false);
        }
        self.check_edge_states(std::iter::once((src, dst)))?;
        if let Err(path) = self.order.insert_edge(&self.graph, src, dst) {
            return Err(self.cycle_error(std::iter::once(src).chain(path)));
        }
        self.graph.add_edge(node(src), node(dst), ());
        self.apply_edge_states(std::iter::once((src, dst)));
        Ok(true)
    }

    /// Adds many edges; all or none. Returns how many were new.
    pub fn add_edges(&mut self, src: &[u32], dst: &[u32]) -> Result<usize> {
        if src.len() != dst.len() {
            return Err(DagError::Invalid(format!(
                "add_edges got {} sources but {} targets",
                src.len(),
                dst.len()
            )));
        }
        let n = self.len();
        if let Some(&bad) = src.iter().chain(dst).find(|&&v| v as usize >= n) {
            return Err(DagError::Invalid(format!("no task with id {bad}")));
        }
        if src.len() * BULK_FRACTION < n + self.edge_count() {
            return self.add_edges_incrementally(src, dst);
        }
        let csr = Csr::build(&self.graph, n, src, dst).map_err(|v| self.cycle_error([v, v].into_iter()))?;
        self.check_edge_states(csr.edges())?;
        let order =
            bulk::topological_order(&self.graph, &csr, n).map_err(|cycle| self.cycle_error(cycle.into_iter()))?;
        self.order.set(order);
        self.graph.reserve_edges(csr.len());
        for (s, d) in csr.edges() {
            self.graph.add_edge(node(s), node(d), ());
        }
        self.apply_edge_states(csr.edges());
        Ok(csr.len())
    }

    /// Few edges into a large graph: one incremental order update each, undone on a cycle.
    fn add_edges_incrementally(&mut self, src: &[u32], dst: &[u32]) -> Result<usize> {
        let mut fresh = Vec::new();
        let mut seen = rustc_hash::FxHashSet::default();
        for (&s, &d) in src.iter().zip(dst) {
            if s == d {
                return Err(self.cycle_error([s, s].into_iter()));
            }
            if self.graph.find_edge(node(s), node(d)).is_none() && seen.insert((s, d)) {
                fresh.push((s, d));
            }
        }
        self.check_edge_states(fresh.iter().copied())?;
        let first_edge = self.edge_count();
        for &(s, d) in &fresh {
            if let Err(path) = self.order.insert_edge(&self.graph, s, d) {
                // Removing the newest edge first keeps every other edge index stable.
                while self.edge_count() > first_edge {
                    let last = petgraph::graph::EdgeIndex::new(self.edge_count() - 1);
                    self.graph.remove_edge(last);
                }
                return Err(self.cycle_error(std::iter::once(s).chain(path)));
            }
            self.graph.add_edge(node(s), node(d), ());
        }
        self.apply_edge_states(fresh.iter().copied());
        Ok(fresh.len())
    }

    /// `graphlib`'s `add`: adds `task` and any missing `predecessors`, and an
    /// edge from each predecessor to `task`; all or none.
    pub fn add_with_predecessors(&mut self, task: KeyRef<'_>, predecessors: &[KeyRef<'_>]) -> Result<()> {
        let first = self.len();
        let id = |t: &mut Self, k: KeyRef<'_>| match t.keys.get(k) {
            Some(v) => Ok(v),
            None => t.add_task(k, 0.0, None),
        };
        let r = (|| {
            let n = id(self, task)?;
            let src = predecessors
                .iter()
                .map(|&p| id(self, p))
                .collect::<Result<Vec<u32>>>()?;
            self.add_edges(&src, &vec![n; src.len()]).map(|_| ())
        })();
        if r.is_err() {
            self.pop_tasks(first);
        }
        r
    }

    /// Removes the tasks with ids `>= first`, which must have no edges.
    fn pop_tasks(&mut self, first: usize) {
        let n = self.len();
        if first >= n {
            return;
        }
        for v in (first..n).rev() {
            self.graph.remove_node(node(v as u32));
            self.counts[self.state[v] as usize] -= 1;
            self.payloads.remove(&(v as u32));
        }
        self.state.truncate(first);
        self.cost.truncate(first);
        self.remaining.truncate(first);
        self.queued.truncate(first);
        self.ready.retain(|&v| (v as usize) < first);
        self.keys.truncate(first);
        self.order.retain_below(first as u32);
    }

    fn cycle_error(&self, path: impl Iterator<Item = u32>) -> DagError {
        DagError::Cycle {
            path: path.map(|v| self.key(v).to_owned()).collect(),
        }
    }

    /// A new dependency may only point at a task that has not started, unless
    /// the source is already done.
    fn check_edge_states(&self, edges: impl Iterator<Item = (u32, u32)>) -> Result<()> {
        for (s, d) in edges {
            let ds = self.state[d as usize];
            let ok = self.state[s as usize] == TaskState::Done
                || matches!(ds, TaskState::Pending | TaskState::Ready | TaskState::Skipped);
            if !ok {
                return Err(DagError::EdgeState {
                    src: self.key(s).to_owned(),
                    dst: self.key(d).to_owned(),
                    dst_state: ds,
                });
            }
        }
        Ok(())
    }

    fn apply_edge_states(&mut self, edges: impl Iterator<Item = (u32, u32)>) {
        let mut to_skip = Vec::new();
        for (s, d) in edges {
            let ss = self.state[s as usize];
            if ss == TaskState::Done {
                continue;
            }
            self.remaining[d as usize] += 1;
            if self.state[d as usize] == TaskState::Ready {
                self.set_state(d, TaskState::Pending);
            }
            if self.causes_skip(s) && self.state[d as usize] == TaskState::Pending {
                to_skip.push(d);
            }
        }
        for d in to_skip {
            if self.state[d as usize] == TaskState::Pending {
                self.set_state(d, TaskState::Skipped);
                self.skip_descendants(d);
            }
        }
    }

    // ---- states ------------------------------------------------------------

    pub fn state(&self, id: u32) -> TaskState {
        self.state[id as usize]
    }

    pub fn cost(&self, id: u32) -> f64 {
        self.cost[id as usize]
    }

    pub fn payload(&self, id: u32) -> Option<&[u8]> {
        self.payloads.get(&id).map(|p| &p[..])
    }

    /// Number of tasks in each state, indexed by `TaskState as usize`.
    pub fn counts(&self) -> [usize; 7] {
        self.counts
    }

    /// True while a task is ready or running (the `graphlib` meaning).
    pub fn is_active(&self) -> bool {
        self.counts[TaskState::Ready as usize] + self.counts[TaskState::Running as usize] > 0
    }

    fn set_state(&mut self, id: u32, to: TaskState) {
        let from = std::mem::replace(&mut self.state[id as usize], to);
        self.counts[from as usize] -= 1;
        self.counts[to as usize] += 1;
    }

    fn make_ready(&mut self, id: u32) {
        self.set_state(id, TaskState::Ready);
        // A task still in the queue from an earlier ready spell keeps that place.
        if !self.queued[id as usize] {
            self.queued[id as usize] = true;
            self.ready.push_back(id);
        }
    }

    fn transition(&self, id: u32, action: &'static str, allowed: &[TaskState], to: TaskState) -> Result<()> {
        let from = self.state[id as usize];
        if allowed.contains(&from) {
            Ok(())
        } else {
            Err(DagError::State {
                task: self.key(id).to_owned(),
                from,
                to,
                action,
            })
        }
    }

    /// Ready tasks in FIFO order, without taking them.
    pub fn ready(&self) -> Vec<u32> {
        self.ready
            .iter()
            .copied()
            .filter(|&v| self.state[v as usize] == TaskState::Ready)
            .collect()
    }

    /// Takes up to `max` ready tasks (oldest first) and marks them running.
    pub fn take_ready(&mut self, max: usize, out: &mut Vec<u32>) {
        let mut taken = 0;
        while taken < max {
            let Some(v) = self.ready.pop_front() else { break };
            self.queued[v as usize] = false;
            if self.state[v as usize] == TaskState::Ready {
                self.set_state(v, TaskState::Running);
                out.push(v);
                taken += 1;
            }
        }
    }

    /// ready -> running.
    pub fn start(&mut self, id: u32) -> Result<()> {
        self.transition(id, "start", &[TaskState::Ready], TaskState::Running)?;
        self.set_state(id, TaskState::Running);
        Ok(())
    }

    /// running -> done; appends the tasks that became ready to `out`.
    pub fn done(&mut self, id: u32, out: &mut Vec<u32>) -> Result<()> {
        self.transition(id, "done", &[TaskState::Running], TaskState::Done)?;
        self.set_state(id, TaskState::Done);
        self.release_successors(id, out);
        Ok(())
    }

    /// Marks every task done; all or none. Appends newly ready tasks to `out`.
    pub fn done_many(&mut self, ids: &[u32], out: &mut Vec<u32>) -> Result<()> {
        for (i, &id) in ids.iter().enumerate() {
            if let Err(e) = self.transition(id, "done", &[TaskState::Running], TaskState::Done) {
                for &undo in &ids[..i] {
                    self.state[undo as usize] = TaskState::Running;
                }
                return Err(e);
            }
            // Set here so that a repeated id fails the check above.
            self.state[id as usize] = TaskState::Done;
        }
        self.counts[TaskState::Running as usize] -= ids.len();
        self.counts[TaskState::Done as usize] += ids.len();
        for &id in ids {
            self.release_successors(id, out);
        }
        Ok(())
    }

    fn release_successors(&mut self, id: u32, out: &mut Vec<u32>) {
        let first = out.len();
        let mut edges = self.graph.neighbors_directed(node(id), Outgoing).detach();
        while let Some(w) = edges.next_node(&self.graph) {
            let w = w.index() as u32;
            let r = &mut self.remaining[w as usize];
            *r -= 1;
            if *r == 0 && self.state[w as usize] == TaskState::Pending {
                out.push(w);
            }
        }
        // petgraph walks the newest edge first; release in the order edges were added.
        out[first..].reverse();
        for &w in &out[first..] {
            self.make_ready(w);
        }
    }

    /// ready | running -> failed. `Skip` marks every pending descendant skipped;
    /// `Block` leaves them pending until the task is retried and done.
    pub fn fail(&mut self, id: u32, policy: FailPolicy) -> Result<()> {
        self.transition(id, "fail", &[TaskState::Ready, TaskState::Running], TaskState::Failed)?;
        self.set_state(id, TaskState::Failed);
        self.fail_policy.insert(id, policy);
        if policy == FailPolicy::Skip {
            self.skip_descendants(id);
        }
        Ok(())
    }

    /// pending | ready | running -> cancelled; pending descendants are skipped.
    pub fn cancel(&mut self, id: u32) -> Result<()> {
        self.transition(
            id,
            "cancel",
            &[TaskState::Pending, TaskState::Ready, TaskState::Running],
            TaskState::Cancelled,
        )?;
        self.set_state(id, TaskState::Cancelled);
        self.skip_descendants(id);
        Ok(())
    }

    /// failed | cancelled -> ready (or pending while a predecessor is unfinished).
    /// Descendants skipped because of this task go back to pending.
    pub fn retry(&mut self, id: u32) -> Result<()> {
        let to = if self.remaining[id as usize] == 0 {
            TaskState::Ready
        } else {
            TaskState::Pending
        };
        self.transition(id, "retry", &[TaskState::Failed, TaskState::Cancelled], to)?;
        self.fail_policy.remove(&id);
        if to == TaskState::Ready {
            self.make_ready(id);
        } else {
            self.set_state(id, TaskState::Pending);
        }
        if self.causes_skip_from_predecessors(id) {
            self.set_state(id, TaskState::Skipped);
            return Ok(());
        }
        self.unskip_descendants(id);
        Ok(())
    }

    /// Whether tasks that depend on `id` must be skipped.
    fn causes_skip(&self, id: u32) -> bool {
        match self.state[id as usize] {
            TaskState::Skipped | TaskState::Cancelled => true,
            TaskState::Failed => self.fail_policy.get(&id) == Some(&FailPolicy::Skip),
            _ => false,
        }
    }

    fn causes_skip_from_predecessors(&self, id: u32) -> bool {
        self.graph
            .neighbors_directed(node(id), Incoming)
            .any(|p| self.causes_skip(p.index() as u32))
    }

    fn skip_descendants(&mut self, id: u32) {
        let mut todo = vec![id];
        while let Some(v) = todo.pop() {
            let mut edges = self.graph.neighbors_directed(node(v), Outgoing).detach();
            while let Some(w) = edges.next_node(&self.graph) {
                let w = w.index() as u32;
                if self.state[w as usize] == TaskState::Pending {
                    self.set_state(w, TaskState::Skipped);
                    todo.push(w);
                }
            }
        }
    }

    fn unskip_descendants(&mut self, id: u32) {
        let mut seen = rustc_hash::FxHashSet::default();
        let mut todo = vec![id];
        while let Some(v) = todo.pop() {
            for w in self.graph.neighbors_directed(node(v), Outgoing) {
                let w = w.index() as u32;
                if self.state[w as usize] == TaskState::Skipped && seen.insert(w) {
                    todo.push(w);
                }
            }
        }
        let mut skipped: Vec<u32> = seen.into_iter().collect();
        skipped.sort_unstable_by_key(|&v| self.order.position(v));
        // In topological order, so each task sees its predecessors' final states.
        for v in skipped {
            if !self.causes_skip_from_predecessors(v) {
                self.set_state(v, TaskState::Pending);
            }
        }
    }

    // ---- structure ---------------------------------------------------------

    pub fn successors(&self, id: u32) -> Vec<u32> {
        self.neighbours(id, Outgoing)
    }

    pub fn predecessors(&self, id: u32) -> Vec<u32> {
        self.neighbours(id, Incoming)
    }

    fn neighbours(&self, id: u32, dir: petgraph::Direction) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .graph
            .neighbors_directed(node(id), dir)
            .map(|w| w.index() as u32)
            .collect();
        v.reverse(); // petgraph lists the newest edge first
        v
    }

    /// Every edge as `(src, dst)`: sources in id order, each one's edges in
    /// the order they were added (so a checkpoint round trip is byte-exact).
    pub fn edges(&self) -> Vec<(u32, u32)> {
        let (src, dst): (Vec<u32>, Vec<u32>) = self
            .graph
            .raw_edges()
            .iter()
            .map(|e| (e.source().index() as u32, e.target().index() as u32))
            .unzip();
        match Csr::build(&Graph::default(), self.len(), &src, &dst) {
            Ok(csr) => csr.edges().collect(),
            Err(_) => unreachable!("the graph holds no self-loop"),
        }
    }

    /// A topological order of all tasks.
    pub fn topological_order(&self) -> &[u32] {
        self.order.tasks()
    }

    pub(crate) fn from_parts(parts: Parts, strict: bool) -> Result<DagTracker> {
        let Parts {
            keys,
            state,
            cost,
            edges: (src, dst),
            ready_order,
            payloads,
            fail_policy,
        } = parts;
        let n = state.len();
        let invalid = |m: String| {
            if strict {
                DagError::Checkpoint(m)
            } else {
                DagError::Invalid(m)
            }
        };
        if keys.len() != n || cost.len() != n {
            return Err(invalid("task arrays differ in length".into()));
        }
        let mut t = DagTracker::new();
        t.keys = keys;
        t.graph.reserve_nodes(n);
        for _ in 0..n {
            t.graph.add_node(());
        }
        t.state = state;
        t.cost = cost;
        t.remaining = vec![0; n];
        t.queued = vec![false; n];
        t.order.extend(n);
        if let Some(&bad) = src.iter().chain(&dst).find(|&&v| v as usize >= n) {
            return Err(invalid(format!(
                "edge names task id {bad} but there are only {n} tasks"
            )));
        }
        let csr =
            Csr::build(&t.graph, n, &src, &dst).map_err(|v| invalid(format!("self-loop on task {}", t.key(v))))?;
        let order = bulk::topological_order(&t.graph, &csr, n).map_err(|cycle| {
            let DagError::Cycle { path } = t.cycle_error(cycle.into_iter()) else {
                unreachable!()
            };
            let names: Vec<String> = path.iter().map(Key::to_string).collect();
            invalid(format!("edges form a cycle: {}", names.join(" -> ")))
        })?;
        t.order.set(order);
        t.graph.reserve_edges(csr.len());
        for (s, d) in csr.edges() {
            t.graph.add_edge(node(s), node(d), ());
            if t.state[s as usize] != TaskState::Done {
                t.remaining[d as usize] += 1;
            }
        }
        if let Some(id) = fail_policy
            .keys()
            .find(|&&id| id as usize >= n || t.state[id as usize] != TaskState::Failed)
        {
            return Err(invalid(format!(
                "failure policy recorded for task id {id}, which is not failed"
            )));
        }
        t.fail_policy = fail_policy;
        // In topological order, so each task is judged on its predecessors' final states.
        // Skips can only come from these states; without any, no predecessor walk is needed.
        let skips_exist = t
            .state
            .iter()
            .any(|s| matches!(s, TaskState::Skipped | TaskState::Cancelled | TaskState::Failed));
        for v in t.order.tasks().to_vec() {
            let (s, r) = (t.state[v as usize], t.remaining[v as usize]);
            let cause = skips_exist
                && matches!(s, TaskState::Pending | TaskState::Skipped)
                && t.causes_skip_from_predecessors(v);
            let consistent = match s {
                TaskState::Ready | TaskState::Running | TaskState::Done | TaskState::Failed => r == 0,
                TaskState::Pending => r > 0 && !cause,
                TaskState::Skipped => cause,
                TaskState::Cancelled => true,
            };
            if !consistent {
                let why = match s {
                    TaskState::Pending if cause => "a predecessor is skipped, cancelled or failed with policy skip",
                    TaskState::Skipped => "no predecessor is skipped, cancelled or failed with policy skip",
                    _ if r == 0 => "every predecessor is done",
                    _ => "a predecessor is not done",
                };
                let fixed = match s {
                    _ if strict => None,
                    TaskState::Pending if cause => Some(TaskState::Skipped),
                    TaskState::Pending | TaskState::Skipped if r == 0 => Some(TaskState::Ready),
                    TaskState::Skipped => Some(TaskState::Pending),
                    _ => None,
                };
                match fixed {
                    Some(f) => t.state[v as usize] = f,
                    None => return Err(invalid(format!("task {} is {s} but {why}", t.key(v)))),
                }
            }
            t.counts[t.state[v as usize] as usize] += 1;
        }
        if let Some(&v) = ready_order.iter().find(|&&v| v as usize >= n) {
            return Err(invalid(format!(
                "ready queue names task id {v} but there are only {n} tasks"
            )));
        }
        // The saved queue order first, then any other ready task by id.
        for v in ready_order.into_iter().chain(0..n as u32) {
            if t.state[v as usize] == TaskState::Ready && !t.queued[v as usize] {
                t.queued[v as usize] = true;
                t.ready.push_back(v);
            }
        }
        if let Some(id) = payloads.keys().find(|&&id| id as usize >= n) {
            return Err(invalid(format!(
                "payload names task id {id} but there are only {n} tasks"
            )));
        }
        t.payloads = payloads;
        Ok(t)
    }

    /// The tasks `ids` (first occurrence wins) and the edges among them, as a
    /// new tracker. States are kept; a pending task whose unfinished
    /// predecessors all lie outside becomes ready.
    pub fn subgraph(&self, ids: &[u32]) -> Result<DagTracker> {
        let mut new_id = vec![u32::MAX; self.len()];
        let mut keep = Vec::with_capacity(ids.len());
        for &v in ids {
            if new_id[v as usize] == u32::MAX {
                new_id[v as usize] = keep.len() as u32;
                keep.push(v);
            }
        }
        let mut keys = KeyIndex::new();
        for &v in &keep {
            keys.insert(self.key(v));
        }
        let (mut src, mut dst) = (Vec::new(), Vec::new());
        for &v in &keep {
            for w in self.graph.neighbors_directed(node(v), Outgoing) {
                let nw = new_id[w.index()];
                if nw != u32::MAX {
                    src.push(new_id[v as usize]);
                    dst.push(nw);
                }
            }
        }
        fn remap<T: Clone>(m: &FxHashMap<u32, T>, new_id: &[u32]) -> FxHashMap<u32, T> {
            m.iter()
                .filter(|(v, _)| new_id[**v as usize] != u32::MAX)
                .map(|(v, x)| (new_id[*v as usize], x.clone()))
                .collect()
        }
        let parts = Parts {
            keys,
            state: keep.iter().map(|&v| self.state[v as usize]).collect(),
            cost: keep.iter().map(|&v| self.cost[v as usize]).collect(),
            edges: (src, dst),
            ready_order: self
                .ready()
                .into_iter()
                .filter(|&v| new_id[v as usize] != u32::MAX)
                .map(|v| new_id[v as usize])
                .collect(),
            payloads: remap(&self.payloads, &new_id),
            fail_policy: remap(&self.fail_policy, &new_id),
        };
        DagTracker::from_parts(parts, false)
    }
}

/// Everything a tracker is made of, for checkpoints and subgraphs.
pub(crate) struct Parts {
    pub keys: KeyIndex,
    pub state: Vec<TaskState>,
    pub cost: Vec<f64>,
    pub edges: (Vec<u32>, Vec<u32>),
    pub ready_order: Vec<u32>,
    pub payloads: FxHashMap<u32, Box<[u8]>>,
    pub fail_policy: FxHashMap<u32, FailPolicy>,
}

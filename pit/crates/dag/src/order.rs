//! A dynamic topological order (Pearce & Kelly, 2006) kept next to the graph.
//!
//! Adding an edge `x -> y` with `ord[x] < ord[y]` costs O(1). Otherwise only the
//! tasks whose positions lie between `ord[y]` and `ord[x]` and that are reachable
//! from `y` (forward) or reach `x` (backward) are visited and shuffled, so a live
//! DAG of millions of tasks never pays O(V+E) per edge.

use petgraph::Direction::{Incoming, Outgoing};
use petgraph::graph::{DiGraph, NodeIndex};

pub type Graph = DiGraph<(), (), u32>;

pub(crate) fn node(id: u32) -> NodeIndex<u32> {
    NodeIndex::new(id as usize)
}

#[derive(Clone, Debug, Default)]
pub(crate) struct TopoOrder {
    /// task -> position
    ord: Vec<u32>,
    /// position -> task
    at: Vec<u32>,
    mark: Vec<u32>,
    epoch: u32,
    forward: Vec<u32>,
    backward: Vec<u32>,
}

impl TopoOrder {
    pub fn extend(&mut self, count: usize) {
        let n = self.ord.len() as u32;
        let m = n + count as u32;
        self.ord.extend(n..m);
        self.at.extend(n..m);
        self.mark.resize(m as usize, 0);
    }

    /// Forgets the tasks with ids `>= first` (they must have no edges).
    pub fn retain_below(&mut self, first: u32) {
        self.at.retain(|&v| v < first);
        self.ord.truncate(first as usize);
        self.mark.truncate(first as usize);
        for (pos, &v) in self.at.iter().enumerate() {
            self.ord[v as usize] = pos as u32;
        }
    }

    pub fn position(&self, task: u32) -> u32 {
        self.ord[task as usize]
    }

    /// Tasks in a topological order.
    pub fn tasks(&self) -> &[u32] {
        &self.at
    }

    /// Replaces the order with `order`, which must be a topological order of every task.
    pub fn set(&mut self, order: Vec<u32>) {
        debug_assert_eq!(order.len(), self.ord.len());
        for (pos, &t) in order.iter().enumerate() {
            self.ord[t as usize] = pos as u32;
        }
        self.at = order;
    }

    /// Makes the order ready for the edge `x -> y`, which is not in `g` yet.
    ///
    /// Returns the path `y ..= x` when `y` already reaches `x`: the edge would
    /// close that path into a cycle, and nothing is changed.
    pub fn insert_edge(&mut self, g: &Graph, x: u32, y: u32) -> Result<(), Vec<u32>> {
        if x == y {
            return Err(vec![x]);
        }
        let (lb, ub) = (self.ord[y as usize], self.ord[x as usize]);
        if lb > ub {
            return Ok(());
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.mark.fill(0);
            self.epoch = 1;
        }
        if let Some(path) = self.search_forward(g, y, x, ub) {
            return Err(path);
        }
        self.search_backward(g, x, lb);
        self.reorder();
        Ok(())
    }

    fn search_forward(&mut self, g: &Graph, start: u32, target: u32, ub: u32) -> Option<Vec<u32>> {
        self.forward.clear();
        self.mark[start as usize] = self.epoch;
        self.forward.push(start);
        let mut stack = vec![(start, g.neighbors_directed(node(start), Outgoing))];
        while let Some((_, next)) = stack.last_mut() {
            let Some(w) = next.next() else {
                stack.pop();
                continue;
            };
            let w = w.index() as u32;
            if w == target {
                let mut path: Vec<u32> = stack.iter().map(|(v, _)| *v).collect();
                path.push(target);
                return Some(path);
            }
            if self.mark[w as usize] != self.epoch && self.ord[w as usize] < ub {
                self.mark[w as usize] = self.epoch;
                self.forward.push(w);
                stack.push((w, g.neighbors_directed(node(w), Outgoing)));
            }
        }
        None
    }

    fn search_backward(&mut self, g: &Graph, start: u32, lb: u32) {
        self.backward.clear();
        self.mark[start as usize] = self.epoch;
        self.backward.push(start);
        let mut todo = vec![start];
        while let Some(v) = todo.pop() {
            for w in g.neighbors_directed(node(v), Incoming) {
                let w = w.index() as u32;
                if self.mark[w as usize] != self.epoch && self.ord[w as usize] > lb {
                    self.mark[w as usize] = self.epoch;
                    self.backward.push(w);
                    todo.push(w);
                }
            }
        }
    }

    /// Gives the backward set the lowest of the freed positions, then the forward set.
    fn reorder(&mut self) {
        let ord = &mut self.ord;
        self.backward.sort_unstable_by_key(|&v| ord[v as usize]);
        self.forward.sort_unstable_by_key(|&v| ord[v as usize]);
        let mut slots: Vec<u32> = self
            .backward
            .iter()
            .chain(&self.forward)
            .map(|&v| ord[v as usize])
            .collect();
        slots.sort_unstable();
        for (&v, &pos) in self.backward.iter().chain(&self.forward).zip(&slots) {
            ord[v as usize] = pos;
            self.at[pos as usize] = v;
        }
    }
}

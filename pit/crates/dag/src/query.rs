//! Read-only questions about the graph: reachability, the critical path, JSON.

use petgraph::Direction::{self, Incoming, Outgoing};

use crate::key::KeyRef;
use crate::order::node;
use crate::tracker::DagTracker;

impl DagTracker {
    /// Every task that must finish before `id`, in topological order.
    pub fn ancestors(&self, id: u32) -> Vec<u32> {
        self.reach(id, Incoming)
    }

    /// Every task that waits on `id`, in topological order.
    pub fn descendants(&self, id: u32) -> Vec<u32> {
        self.reach(id, Outgoing)
    }

    fn reach(&self, id: u32, dir: Direction) -> Vec<u32> {
        let mut seen = vec![false; self.len()];
        seen[id as usize] = true;
        let mut found = Vec::new();
        let mut todo = vec![id];
        while let Some(v) = todo.pop() {
            for w in self.graph.neighbors_directed(node(v), dir) {
                let w = w.index() as u32;
                if !seen[w as usize] {
                    seen[w as usize] = true;
                    found.push(w);
                    todo.push(w);
                }
            }
        }
        found.sort_unstable_by_key(|&v| self.order.position(v));
        found
    }

    /// The path whose tasks' costs add up to the most, with that sum.
    /// Ties go to the path ending earliest in topological order.
    pub fn critical_path(&self) -> (f64, Vec<u32>) {
        let n = self.len();
        if n == 0 {
            return (0.0, Vec::new());
        }
        let mut best = self.cost.clone();
        let mut parent = vec![u32::MAX; n];
        for &v in self.topological_order() {
            let reach = best[v as usize];
            for w in self.graph.neighbors_directed(node(v), Outgoing) {
                let w = w.index();
                let through = reach + self.cost[w];
                if through > best[w] {
                    best[w] = through;
                    parent[w] = v;
                }
            }
        }
        let mut end = self.topological_order()[0];
        for &v in self.topological_order() {
            if best[v as usize] > best[end as usize] {
                end = v;
            }
        }
        let mut path = vec![end];
        while parent[*path.last().unwrap() as usize] != u32::MAX {
            path.push(parent[*path.last().unwrap() as usize]);
        }
        path.reverse();
        (best[end as usize], path)
    }

    /// `{"nodes": [{"id", "key", "state", "cost"}], "edges": [[src_id, dst_id]]}`
    /// for widgets; ids index `nodes`.
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Node<'a> {
            id: u32,
            key: KeyJson<'a>,
            state: &'static str,
            cost: f64,
        }
        #[derive(serde::Serialize)]
        #[serde(untagged)]
        enum KeyJson<'a> {
            Int(i64),
            Str(&'a str),
        }
        #[derive(serde::Serialize)]
        struct Doc<'a> {
            nodes: Vec<Node<'a>>,
            edges: Vec<[u32; 2]>,
        }
        let doc = Doc {
            nodes: (0..self.len() as u32)
                .map(|v| Node {
                    id: v,
                    key: match self.key(v) {
                        KeyRef::Int(i) => KeyJson::Int(i),
                        KeyRef::Str(s) => KeyJson::Str(s),
                    },
                    state: self.state(v).name(),
                    cost: self.cost(v),
                })
                .collect(),
            edges: self.edges().into_iter().map(|(s, d)| [s, d]).collect(),
        };
        serde_json::to_string(&doc).expect("plain structs always serialise")
    }
}

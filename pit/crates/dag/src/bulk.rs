//! Whole-graph passes for large batches: edges grouped by source, Kahn's
//! algorithm over the graph plus a batch, and finding a cycle when Kahn stalls.

use petgraph::Direction::Outgoing;

use crate::order::{Graph, node};

/// Edges grouped by source (compressed sparse rows), deduplicated.
#[derive(Clone, Debug, Default)]
pub(crate) struct Csr {
    offsets: Vec<u32>,
    targets: Vec<u32>,
}

impl Csr {
    /// Groups `src[i] -> dst[i]` by source with a counting sort (O(V+E)),
    /// dropping edges already in `g` and repeats within the batch.
    /// Returns `Err(task)` for a self-loop.
    pub fn build(g: &Graph, n: usize, src: &[u32], dst: &[u32]) -> Result<Csr, u32> {
        let mut offsets = vec![0u32; n + 1];
        for (&s, &d) in src.iter().zip(dst) {
            if s == d {
                return Err(s);
            }
            offsets[s as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut targets = vec![0u32; src.len()];
        for (&s, &d) in src.iter().zip(dst) {
            let slot = &mut fill[s as usize];
            targets[*slot as usize] = d;
            *slot += 1;
        }
        // Compact each row in place, keeping the first of repeated targets.
        let mut stamp = vec![u32::MAX; n];
        let mut write = 0usize;
        let mut start = 0usize;
        for s in 0..n {
            let end = offsets[s + 1] as usize;
            if end > start {
                for w in g.neighbors_directed(node(s as u32), Outgoing) {
                    stamp[w.index()] = s as u32;
                }
                for r in start..end {
                    let d = targets[r];
                    if stamp[d as usize] != s as u32 {
                        stamp[d as usize] = s as u32;
                        targets[write] = d;
                        write += 1;
                    }
                }
            }
            start = end;
            offsets[s + 1] = write as u32;
        }
        targets.truncate(write);
        Ok(Csr { offsets, targets })
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn row(&self, s: u32) -> &[u32] {
        match self.offsets.get(s as usize + 1) {
            Some(&end) => &self.targets[self.offsets[s as usize] as usize..end as usize],
            None => &[],
        }
    }

    pub fn edges(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.offsets.windows(2).enumerate().flat_map(move |(s, w)| {
            self.targets[w[0] as usize..w[1] as usize]
                .iter()
                .map(move |&d| (s as u32, d))
        })
    }
}

fn successors<'a>(g: &'a Graph, extra: &'a Csr, v: u32) -> impl Iterator<Item = u32> + 'a {
    let in_graph = (v as usize) < g.node_count();
    let own = in_graph
        .then(|| g.neighbors_directed(node(v), Outgoing))
        .into_iter()
        .flatten()
        .map(|w| w.index() as u32);
    own.chain(extra.row(v).iter().copied())
}

/// A topological order of `g` plus `extra` on tasks `0..n`, or a cycle
/// (first task repeated at the end) if there is none.
pub fn topological_order(g: &Graph, extra: &Csr, n: usize) -> Result<Vec<u32>, Vec<u32>> {
    let mut indegree = vec![0u32; n];
    for e in g.raw_edges() {
        indegree[e.target().index()] += 1;
    }
    for &d in &extra.targets {
        indegree[d as usize] += 1;
    }
    let mut order: Vec<u32> = (0..n as u32).filter(|&v| indegree[v as usize] == 0).collect();
    order.reserve(n - order.len());
    let mut head = 0;
    while head < order.len() {
        let v = order[head];
        head += 1;
        for w in successors(g, extra, v) {
            let d = &mut indegree[w as usize];
            *d -= 1;
            if *d == 0 {
                order.push(w);
            }
        }
    }
    if order.len() == n {
        Ok(order)
    } else {
        Err(find_cycle(g, extra, &indegree))
    }
}

/// Depth-first search among the tasks Kahn's algorithm could not place
/// (`indegree > 0`); every one of them lies on or after a cycle.
fn find_cycle(g: &Graph, extra: &Csr, indegree: &[u32]) -> Vec<u32> {
    const WHITE: u8 = 0;
    const GREY: u8 = 1;
    const BLACK: u8 = 2;
    let mut colour = vec![WHITE; indegree.len()];
    for root in (0..indegree.len() as u32).filter(|&v| indegree[v as usize] > 0) {
        if colour[root as usize] != WHITE {
            continue;
        }
        colour[root as usize] = GREY;
        let mut stack = vec![(root, successors(g, extra, root))];
        while let Some((v, next)) = stack.last_mut() {
            let v = *v;
            match next.next() {
                Some(w) if indegree[w as usize] > 0 => match colour[w as usize] {
                    WHITE => {
                        colour[w as usize] = GREY;
                        stack.push((w, successors(g, extra, w)));
                    }
                    GREY => {
                        let from = stack.iter().position(|(u, _)| *u == w).unwrap_or(0);
                        let mut cycle: Vec<u32> = stack[from..].iter().map(|(u, _)| *u).collect();
                        cycle.push(w);
                        return cycle;
                    }
                    _ => {}
                },
                Some(_) => {}
                None => {
                    colour[v as usize] = BLACK;
                    stack.pop();
                }
            }
        }
    }
    unreachable!("Kahn's algorithm stalled, so a cycle exists among the unplaced tasks")
}

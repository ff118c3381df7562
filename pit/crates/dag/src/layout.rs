//! A layered (Sugiyama-style) drawing of the DAG, for the inspector widget:
//! tasks in layers by longest path from the sources; an edge spanning
//! several layers bends through one point per layer it crosses; the order
//! within layers reduced in crossings by barycentre sweeps; coordinates
//! from those orders, each layer centred.

use crate::tracker::DagTracker;

/// Where everything goes. Coordinates are in layer and slot units: scale
/// them to pixels as the drawing needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    /// Per task (by id): its layer (0 for sources) and its x.
    pub layer: Vec<u32>,
    pub x: Vec<f32>,
    /// Per edge `(src, dst)`: the bend points (x, layer) between them, one per
    /// layer crossed; empty for an edge to the next layer.
    pub edges: Vec<Bent>,
    /// Edge crossings between adjacent layers, after reduction.
    pub crossings: u64,
    /// The widest layer, in slots.
    pub width: u32,
}

/// An edge `(src, dst, bend points (x, layer))`.
pub type Bent = (u32, u32, Vec<(f32, u32)>);

/// Edges bend through points only while there are fewer than this many in
/// all: a huge, deep DAG draws its long edges straight instead.
const MAX_BENDS: usize = 400_000;
const SWEEPS: usize = 8;

impl DagTracker {
    pub fn layout(&self) -> Layout {
        layered(self.len(), &self.edges(), self.topological_order())
    }
}

/// The layout of `n` tasks with `edges`, `topo` being a topological order.
pub fn layered(n: usize, edges: &[(u32, u32)], topo: &[u32]) -> Layout {
    let mut layer = vec![0u32; n];
    let mut preds: Vec<Vec<u32>> = vec![Vec::new(); n];
    for &(a, b) in edges {
        preds[b as usize].push(a);
    }
    for &v in topo {
        layer[v as usize] = preds[v as usize]
            .iter()
            .map(|&u| layer[u as usize] + 1)
            .max()
            .unwrap_or(0);
    }
    let depth = layer.iter().copied().max().map_or(0, |d| d as usize + 1);
    let bends: usize = edges
        .iter()
        .map(|&(a, b)| (layer[b as usize] - layer[a as usize] - 1) as usize)
        .sum();
    let bend = bends <= MAX_BENDS;

    // Vertices: the tasks, then one dummy per layer an edge crosses.
    let mut vlayer: Vec<u32> = layer.clone();
    let mut up: Vec<Vec<u32>> = vec![Vec::new(); n]; // neighbours one layer up
    let mut down: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut chains: Vec<Vec<u32>> = Vec::with_capacity(edges.len());
    for &(a, b) in edges {
        let (la, lb) = (layer[a as usize], layer[b as usize]);
        let mut prev = a;
        let mut chain = Vec::new();
        if bend {
            for l in la + 1..lb {
                let d = vlayer.len() as u32;
                vlayer.push(l);
                up.push(vec![prev]);
                down.push(Vec::new());
                down[prev as usize].push(d);
                chain.push(d);
                prev = d;
            }
        }
        if bend || lb == la + 1 {
            up[b as usize].push(prev);
            down[prev as usize].push(b);
        }
        chains.push(chain);
    }
    // Initial order: tasks in topological order, dummies after their source.
    let mut layers: Vec<Vec<u32>> = vec![Vec::new(); depth];
    let mut placed = vec![false; vlayer.len()];
    for &v in topo {
        let mut stack = vec![v];
        while let Some(u) = stack.pop() {
            if placed[u as usize] {
                continue;
            }
            placed[u as usize] = true;
            layers[vlayer[u as usize] as usize].push(u);
            for &d in down[u as usize].iter().rev() {
                if d as usize >= n {
                    stack.push(d);
                }
            }
        }
    }
    let mut pos = vec![0f32; vlayer.len()];
    let index = |layers: &Vec<Vec<u32>>, pos: &mut Vec<f32>| {
        for l in layers {
            for (i, &v) in l.iter().enumerate() {
                pos[v as usize] = i as f32;
            }
        }
    };
    index(&layers, &mut pos);
    let mut best = layers.clone();
    let mut best_crossings = count_crossings(&layers, &down, &pos);
    for sweep in 0..SWEEPS {
        let downward = sweep % 2 == 0;
        let order: Vec<usize> = if downward {
            (1..depth).collect()
        } else {
            (0..depth.saturating_sub(1)).rev().collect()
        };
        for l in order {
            let nbrs = if downward { &up } else { &down };
            let mut keyed: Vec<(f32, f32, u32)> = layers[l]
                .iter()
                .map(|&v| {
                    let ns = &nbrs[v as usize];
                    let bary = if ns.is_empty() {
                        pos[v as usize]
                    } else {
                        ns.iter().map(|&u| pos[u as usize]).sum::<f32>() / ns.len() as f32
                    };
                    (bary, pos[v as usize], v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
            layers[l] = keyed.into_iter().map(|k| k.2).collect();
            for (i, &v) in layers[l].iter().enumerate() {
                pos[v as usize] = i as f32;
            }
        }
        let c = count_crossings(&layers, &down, &pos);
        if c < best_crossings {
            best_crossings = c;
            best = layers.clone();
        }
        if c == 0 {
            break;
        }
    }
    index(&best, &mut pos);
    let width = best.iter().map(Vec::len).max().unwrap_or(0) as u32;
    // Centre each layer on the widest.
    for l in &best {
        let shift = (width as f32 - l.len() as f32) / 2.0;
        for &v in l {
            pos[v as usize] += shift;
        }
    }
    let edges_out = edges
        .iter()
        .zip(chains)
        .map(|(&(a, b), chain)| {
            (
                a,
                b,
                chain.iter().map(|&d| (pos[d as usize], vlayer[d as usize])).collect(),
            )
        })
        .collect();
    Layout {
        layer,
        x: pos[..n].to_vec(),
        edges: edges_out,
        crossings: best_crossings,
        width,
    }
}

/// Crossings between each pair of adjacent layers: pairs of edges whose
/// ends are in opposite orders (a Fenwick tree per layer pair).
fn count_crossings(layers: &[Vec<u32>], down: &[Vec<u32>], pos: &[f32]) -> u64 {
    let mut total = 0u64;
    for l in 0..layers.len().saturating_sub(1) {
        let width = layers[l + 1].len();
        let mut ends: Vec<(u32, u32)> = Vec::new();
        for &v in &layers[l] {
            for &w in &down[v as usize] {
                ends.push((pos[v as usize] as u32, pos[w as usize] as u32));
            }
        }
        ends.sort_unstable();
        let mut tree = vec![0u64; width + 1];
        for (seen, &(_, e)) in ends.iter().enumerate() {
            // Edges already seen that end after this one cross it.
            let mut i = e as usize + 1;
            let mut le = 0;
            while i > 0 {
                le += tree[i];
                i -= i & i.wrapping_neg();
            }
            total += seen as u64 - le;
            let mut i = e as usize + 1;
            while i <= width {
                tree[i] += 1;
                i += i & i.wrapping_neg();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_follow_the_longest_path_and_long_edges_bend() {
        // a -> b -> c, and a -> c: c is two layers down, a->c bends once.
        let l = layered(3, &[(0, 1), (1, 2), (0, 2)], &[0, 1, 2]);
        assert_eq!(l.layer, vec![0, 1, 2]);
        assert_eq!(l.edges[2].2.len(), 1);
        assert_eq!(l.edges[2].2[0].1, 1);
        assert_eq!(l.edges[0].2.len(), 0);
    }

    #[test]
    fn sweeps_untangle_a_crossed_bipartite_graph() {
        // Tops 0,1,2 and bottoms 3,4,5 wired in reverse: 0-5, 1-4, 2-3.
        let edges = [(0, 5), (1, 4), (2, 3)];
        let l = layered(6, &edges, &[0, 1, 2, 5, 4, 3]);
        assert_eq!(l.crossings, 0);
        for &(a, b) in &edges {
            assert_eq!(l.x[a as usize], l.x[b as usize], "straight down after untangling");
        }
    }

    #[test]
    fn crossings_are_counted() {
        let layers = vec![vec![0, 1], vec![2, 3]];
        let down = vec![vec![3], vec![2], vec![], vec![]];
        let pos = vec![0.0, 1.0, 0.0, 1.0];
        assert_eq!(count_crossings(&layers, &down, &pos), 1);
    }
}

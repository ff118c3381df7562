//! The mounted tree and the diff that keeps it in step with each render.
//!
//! Every mounted node has an id the page knows it by. A render matches the
//! new tree against the mounted one: siblings by key (or, without one, by
//! position) and type; matched nodes keep their ids and get only their prop
//! changes; the rest are created or removed. Among matched siblings, those
//! on a longest increasing run of old positions stay put and the others
//! move, so a reorder costs the fewest moves.
//!
//! Patches, as JSON, in the order a page applies them:
//!
//! ```text
//! {"op":"create","parent":7|null,"before":9|null,"node":{id,type,key,props,on,children}}
//! {"op":"remove","id":3}
//! {"op":"move","id":4,"parent":7,"before":9|null}     insertBefore(4, 9), null: append
//! {"op":"props","id":5,"set":{"label":"Stop"},"unset":["disabled"]}
//! {"op":"events","id":5,"on":["click"]}
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::node::Node;

/// A node as the page has it: the virtual node it was last rendered from
/// (shared, not copied) and the id the page knows it by.
#[derive(Debug, Clone)]
pub struct Mounted<H> {
    pub id: u64,
    pub node: Arc<Node<H>>,
    pub children: Vec<Mounted<H>>,
}

impl<H> Mounted<H> {
    /// The node with `id` in this subtree.
    pub fn find(&self, id: u64) -> Option<&Mounted<H>> {
        if self.id == id {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(id))
    }

    /// The tree as the page's JSON (`{id, type, key, props, on, children}`).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write_node(&mut out, self);
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VdomError {
    /// A type the registry does not hold.
    UnknownType { kind: String, known: Vec<String> },
    /// Two siblings with one key.
    DuplicateKey { key: String, parent: String },
}

impl fmt::Display for VdomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VdomError::UnknownType { kind, known } => write!(
                f,
                "'{kind}' is not a registered component type; registered: {}",
                known.join(", ")
            ),
            VdomError::DuplicateKey { key, parent } => {
                write!(
                    f,
                    "two children of a '{parent}' have the key '{key}'; keys must be unique among siblings"
                )
            }
        }
    }
}

impl std::error::Error for VdomError {}

/// A mounted tree and the ids it hands out.
#[derive(Debug)]
pub struct Vdom<H> {
    root: Option<Mounted<H>>,
    next_id: u64,
    registry: Option<HashSet<String>>,
}

impl<H: Clone> Default for Vdom<H> {
    fn default() -> Self {
        Vdom::new(None)
    }
}

impl<H: Clone> Vdom<H> {
    /// `registry`: the component types a tree may use (`None`: any).
    pub fn new(registry: Option<HashSet<String>>) -> Self {
        Vdom {
            root: None,
            next_id: 1,
            registry,
        }
    }

    pub fn root(&self) -> Option<&Mounted<H>> {
        self.root.as_ref()
    }

    /// Makes `node` the tree; returns the patches (a JSON array) that turn
    /// the page's tree into it. A tree that is refused changes nothing.
    pub fn render(&mut self, node: &Arc<Node<H>>) -> Result<String, VdomError> {
        self.check(node)?;
        let mut w = Writer::default();
        let root = match self.root.take() {
            Some(old) if old.node.kind == node.kind && old.node.key == node.key => self.patch(old, node, &mut w),
            old => {
                if let Some(old) = old {
                    w.remove(old.id);
                }
                let m = self.mount(node);
                w.create(None, None, &m);
                m
            }
        };
        self.root = Some(root);
        Ok(w.finish())
    }

    /// [`Vdom::render`] of a node not yet shared.
    pub fn render_node(&mut self, node: &Node<H>) -> Result<String, VdomError> {
        self.render(&Arc::new(node.clone()))
    }

    /// Forgets the mounted tree: the next render creates it whole (a page
    /// that reloads has nothing mounted).
    pub fn reset(&mut self) {
        self.root = None;
    }

    fn check(&self, node: &Node<H>) -> Result<(), VdomError> {
        if let Some(reg) = &self.registry
            && !reg.contains(&*node.kind)
            && &*node.kind != crate::TEXT
        {
            let mut known: Vec<String> = reg.iter().cloned().collect();
            known.sort();
            return Err(VdomError::UnknownType {
                kind: node.kind.to_string(),
                known,
            });
        }
        let mut keys = HashSet::new();
        for c in &node.children {
            if let Some(k) = &c.key
                && !keys.insert(k.clone())
            {
                return Err(VdomError::DuplicateKey {
                    key: k.to_string(),
                    parent: node.kind.to_string(),
                });
            }
            self.check(c)?;
        }
        Ok(())
    }

    fn mount(&mut self, node: &Arc<Node<H>>) -> Mounted<H> {
        let id = self.next_id;
        self.next_id += 1;
        Mounted {
            id,
            node: node.clone(),
            children: node.children.iter().map(|c| self.mount(c)).collect(),
        }
    }

    /// `old` and `node` match (type and key): only their differences go out.
    fn patch(&mut self, old: Mounted<H>, node: &Arc<Node<H>>, w: &mut Writer) -> Mounted<H> {
        if Arc::ptr_eq(&old.node, node) {
            return old; // the very same subtree: nothing can have changed
        }
        let before = &old.node;
        if before.props != node.props {
            let set: Vec<(&String, &Value)> = node
                .props
                .iter()
                .filter(|(k, v)| before.props.get(*k) != Some(v))
                .collect();
            let unset: Vec<&String> = before.props.keys().filter(|k| !node.props.contains_key(*k)).collect();
            w.props(old.id, &set, &unset);
        }
        if !before.events.iter().map(|e| &e.0).eq(node.events.iter().map(|e| &e.0)) {
            w.events(old.id, node.events.iter().map(|e| e.0.as_str()));
        }
        let children = self.patch_children(old.id, old.children, &node.children, w);
        Mounted {
            id: old.id,
            node: node.clone(),
            children,
        }
    }

    fn patch_children(
        &mut self,
        parent: u64,
        old: Vec<Mounted<H>>,
        new: &[Arc<Node<H>>],
        w: &mut Writer,
    ) -> Vec<Mounted<H>> {
        let same_shape = old.len() == new.len()
            && old
                .iter()
                .zip(new)
                .all(|(o, n)| o.node.kind == n.kind && o.node.key == n.key);
        if same_shape {
            return old.into_iter().zip(new).map(|(o, n)| self.patch(o, n, w)).collect();
        }
        // Keyed children match by key, the others by position; both by type.
        let by_slot: HashMap<Slot<'_>, usize> =
            old.iter().enumerate().map(|(i, o)| (slot(&o.node.key, i), i)).collect();
        let matched: Vec<Option<usize>> = new
            .iter()
            .enumerate()
            .map(|(j, n)| {
                by_slot
                    .get(&slot(&n.key, j))
                    .copied()
                    .filter(|&i| old[i].node.kind == n.kind)
            })
            .collect();
        let mut taken = vec![false; old.len()];
        for i in matched.iter().flatten() {
            taken[*i] = true;
        }
        for (o, t) in old.iter().zip(&taken) {
            if !t {
                w.remove(o.id);
            }
        }
        let stay = longest_increasing(&matched);
        let mut old: Vec<Option<Mounted<H>>> = old.into_iter().map(Some).collect();
        let mut out: Vec<Option<Mounted<H>>> = (0..new.len()).map(|_| None).collect();
        let mut before: Option<u64> = None;
        for j in (0..new.len()).rev() {
            let m = match matched[j] {
                Some(i) => {
                    let m = self.patch(old[i].take().expect("matched once"), &new[j], w);
                    if !stay[j] {
                        w.moved(m.id, parent, before);
                    }
                    m
                }
                None => {
                    let m = self.mount(&new[j]);
                    w.create(Some(parent), before, &m);
                    m
                }
            };
            before = Some(m.id);
            out[j] = Some(m);
        }
        out.into_iter().map(|m| m.expect("every slot filled")).collect()
    }
}

/// Where a child sits among its siblings, for matching.
#[derive(Hash, PartialEq, Eq)]
enum Slot<'a> {
    Key(&'a str),
    At(usize),
}

fn slot(key: &Option<Arc<str>>, i: usize) -> Slot<'_> {
    match key {
        Some(k) => Slot::Key(k),
        None => Slot::At(i),
    }
}

/// Which of the matched positions lie on a longest run of increasing old
/// positions (they keep their place; the others move). O(n log n).
fn longest_increasing(matched: &[Option<usize>]) -> Vec<bool> {
    let mut tails: Vec<usize> = Vec::new(); // index into matched, per run length
    let mut prev: Vec<Option<usize>> = vec![None; matched.len()];
    for (j, m) in matched.iter().enumerate() {
        let Some(v) = *m else { continue };
        let at = tails.partition_point(|&t| matched[t].expect("tails are matched") < v);
        if at > 0 {
            prev[j] = Some(tails[at - 1]);
        }
        if at == tails.len() {
            tails.push(j);
        } else {
            tails[at] = j;
        }
    }
    let mut stay = vec![false; matched.len()];
    let mut cur = tails.last().copied();
    while let Some(j) = cur {
        stay[j] = true;
        cur = prev[j];
    }
    stay
}

/// Patches written straight to JSON: no tree of values in between.
#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    fn start(&mut self, op: &str) {
        self.out.push(if self.out.is_empty() { '[' } else { ',' });
        self.out.push_str("{\"op\":\"");
        self.out.push_str(op);
        self.out.push('"');
    }

    fn create<H>(&mut self, parent: Option<u64>, before: Option<u64>, node: &Mounted<H>) {
        self.start("create");
        self.out.push_str(",\"parent\":");
        opt(&mut self.out, parent);
        self.out.push_str(",\"before\":");
        opt(&mut self.out, before);
        self.out.push_str(",\"node\":");
        write_node(&mut self.out, node);
        self.out.push('}');
    }

    fn remove(&mut self, id: u64) {
        self.start("remove");
        self.out.push_str(&format!(",\"id\":{id}}}"));
    }

    fn moved(&mut self, id: u64, parent: u64, before: Option<u64>) {
        self.start("move");
        self.out
            .push_str(&format!(",\"id\":{id},\"parent\":{parent},\"before\":"));
        opt(&mut self.out, before);
        self.out.push('}');
    }

    fn props(&mut self, id: u64, set: &[(&String, &Value)], unset: &[&String]) {
        self.start("props");
        self.out.push_str(&format!(",\"id\":{id},\"set\":{{"));
        for (i, (k, v)) in set.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            json_str(&mut self.out, k);
            self.out.push(':');
            self.out.push_str(&v.to_string());
        }
        self.out.push_str("},\"unset\":[");
        for (i, k) in unset.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            json_str(&mut self.out, k);
        }
        self.out.push_str("]}");
    }

    fn events<'a>(&mut self, id: u64, names: impl Iterator<Item = &'a str>) {
        self.start("events");
        self.out.push_str(&format!(",\"id\":{id},\"on\":["));
        for (i, n) in names.enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            json_str(&mut self.out, n);
        }
        self.out.push_str("]}");
    }

    fn finish(mut self) -> String {
        if self.out.is_empty() {
            return "[]".into();
        }
        self.out.push(']');
        self.out
    }
}

fn opt(out: &mut String, v: Option<u64>) {
    match v {
        Some(v) => out.push_str(&v.to_string()),
        None => out.push_str("null"),
    }
}

fn json_str(out: &mut String, s: &str) {
    out.push_str(&Value::String(s.to_owned()).to_string());
}

fn write_node<H>(out: &mut String, m: &Mounted<H>) {
    let n = &m.node;
    out.push_str(&format!("{{\"id\":{},\"type\":", m.id));
    json_str(out, &n.kind);
    out.push_str(",\"key\":");
    match &n.key {
        Some(k) => json_str(out, k),
        None => out.push_str("null"),
    }
    out.push_str(",\"props\":{");
    for (i, (k, v)) in n.props.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, k);
        out.push(':');
        out.push_str(&v.to_string());
    }
    out.push_str("},\"on\":[");
    for (i, (e, _)) in n.events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, e);
    }
    out.push_str("],\"children\":[");
    for (i, c) in m.children.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_node(out, c);
    }
    out.push_str("]}");
}

//! The patches of every render, applied to a simulated page the way the
//! front end applies them, must give exactly the new tree.

use std::collections::{BTreeMap, HashMap, HashSet};

use pit_vdom::{Node, Vdom, VdomError, to_html};
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Debug, Default)]
struct Page {
    nodes: HashMap<u64, El>,
    root: Option<u64>,
}

#[derive(Debug, Clone)]
struct El {
    kind: String,
    key: Option<String>,
    props: BTreeMap<String, Value>,
    on: Vec<String>,
    children: Vec<u64>,
    parent: Option<u64>,
}

impl Page {
    fn add(&mut self, v: &Value, parent: Option<u64>) -> u64 {
        let id = v["id"].as_u64().unwrap();
        assert!(!self.nodes.contains_key(&id), "id {id} created twice");
        let children: Vec<u64> = v["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| self.add(c, Some(id)))
            .collect();
        self.nodes.insert(
            id,
            El {
                kind: v["type"].as_str().unwrap().into(),
                key: v["key"].as_str().map(Into::into),
                props: v["props"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                on: v["on"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap().into())
                    .collect(),
                children,
                parent,
            },
        );
        id
    }

    fn detach(&mut self, id: u64) {
        if let Some(p) = self.nodes[&id].parent {
            self.nodes.get_mut(&p).unwrap().children.retain(|&c| c != id);
        } else if self.root == Some(id) {
            self.root = None;
        }
    }

    fn attach(&mut self, id: u64, parent: Option<u64>, before: Option<u64>) {
        self.nodes.get_mut(&id).unwrap().parent = parent;
        match parent {
            None => self.root = Some(id),
            Some(p) => {
                let kids = &mut self.nodes.get_mut(&p).unwrap().children;
                let at = before.map_or(kids.len(), |b| {
                    kids.iter().position(|&c| c == b).expect("before is a child")
                });
                kids.insert(at, id);
            }
        }
    }

    fn drop_subtree(&mut self, id: u64) {
        let el = self.nodes.remove(&id).unwrap();
        for c in el.children {
            self.drop_subtree(c);
        }
    }

    fn apply(&mut self, patches: &str) -> usize {
        let patches: Vec<Value> = serde_json::from_str(patches).expect("patches are JSON");
        for p in &patches {
            let id = p["id"].as_u64();
            match p["op"].as_str().unwrap() {
                "create" => {
                    let parent = p["parent"].as_u64();
                    let new = self.add(&p["node"], parent);
                    self.attach(new, parent, p["before"].as_u64());
                }
                "remove" => {
                    self.detach(id.unwrap());
                    self.drop_subtree(id.unwrap());
                }
                "move" => {
                    self.detach(id.unwrap());
                    self.attach(id.unwrap(), p["parent"].as_u64(), p["before"].as_u64());
                }
                "props" => {
                    let el = self.nodes.get_mut(&id.unwrap()).unwrap();
                    for (k, v) in p["set"].as_object().unwrap() {
                        el.props.insert(k.clone(), v.clone());
                    }
                    for k in p["unset"].as_array().unwrap() {
                        el.props.remove(k.as_str().unwrap());
                    }
                }
                "events" => {
                    let el = self.nodes.get_mut(&id.unwrap()).unwrap();
                    el.on = p["on"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e.as_str().unwrap().into())
                        .collect();
                }
                op => panic!("unknown op {op}"),
            }
        }
        patches.len()
    }

    fn same_as(&self, id: u64, n: &Node<()>) -> bool {
        let el = &self.nodes[&id];
        el.kind == *n.kind
            && el.key.as_deref() == n.key.as_deref()
            && el.props == n.props
            && el.on.iter().eq(n.events.iter().map(|e| &e.0))
            && el.children.len() == n.children.len()
            && el.children.iter().zip(&n.children).all(|(&c, nc)| self.same_as(c, nc))
    }
}

fn el(kind: &str, key: Option<&str>, children: Vec<Node<()>>) -> Node<()> {
    let mut n = Node::new(kind);
    if let Some(k) = key {
        n = n.key(k);
    }
    for c in children {
        n = n.child(c);
    }
    n
}

fn list(keys: &[&str]) -> Node<()> {
    el(
        "ul",
        None,
        keys.iter().map(|k| el("li", Some(k), vec![Node::text(*k)])).collect(),
    )
}

#[test]
fn a_reorder_moves_the_fewest_nodes_and_keeps_ids() {
    let mut v: Vdom<()> = Vdom::default();
    let mut page = Page::default();
    page.apply(&v.render_node(&list(&["a", "b", "c", "d", "e"])).unwrap());
    let ids_before: HashMap<String, u64> = page
        .nodes
        .iter()
        .filter_map(|(&id, e)| e.key.clone().map(|k| (k, id)))
        .collect();
    // e moves to the front: one move, nothing created or removed.
    let patches = v.render_node(&list(&["e", "a", "b", "c", "d"])).unwrap();
    let ops: Vec<Value> = serde_json::from_str(&patches).unwrap();
    assert_eq!(ops.len(), 1, "{patches}");
    assert_eq!(ops[0]["op"], "move");
    assert_eq!(ops[0]["id"], json!(ids_before["e"]));
    page.apply(&patches);
    assert!(page.same_as(page.root.unwrap(), &list(&["e", "a", "b", "c", "d"])));
    // A removal, an insert and a prop change.
    let mut next = list(&["e", "b", "x", "c", "d"]);
    let mut li: Node<()> = (*next.children[0]).clone();
    li = li.prop("class", "hot").on("click", ());
    next.children[0] = li.into();
    let patches = v.render_node(&next).unwrap();
    let ops: Vec<String> = serde_json::from_str::<Vec<Value>>(&patches)
        .unwrap()
        .iter()
        .map(|p| p["op"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = ops.clone();
    sorted.sort();
    assert_eq!(sorted, ["create", "events", "props", "remove"], "{patches}");
    page.apply(&patches);
    assert!(page.same_as(page.root.unwrap(), &next));
    assert_eq!(v.render_node(&next).unwrap(), "[]", "nothing changed, nothing sent");
}

#[test]
fn unknown_types_and_duplicate_keys_are_refused_and_change_nothing() {
    let registry: HashSet<String> = ["div", "button"].iter().map(|s| s.to_string()).collect();
    let mut v: Vdom<()> = Vdom::new(Some(registry));
    v.render_node(&el("div", None, vec![el("button", None, vec![])]))
        .unwrap();
    let e = v
        .render_node(&el("div", None, vec![el("marquee", None, vec![])]))
        .unwrap_err();
    assert!(matches!(e, VdomError::UnknownType { .. }));
    assert!(
        e.to_string()
            .contains("'marquee' is not a registered component type; registered: button, div")
    );
    let e = v
        .render_node(&el(
            "div",
            None,
            vec![el("div", Some("k"), vec![]), el("div", Some("k"), vec![])],
        ))
        .unwrap_err();
    assert!(e.to_string().contains("the key 'k'"), "{e}");
    assert_eq!(v.root().unwrap().children[0].node.kind.as_ref(), "button");
    assert_eq!(
        v.render_node(&el("div", None, vec![el("button", None, vec![])]))
            .unwrap(),
        "[]"
    );
}

#[test]
fn static_html_escapes_and_renders_the_library() {
    let tree: Node<()> = el("div", None, vec![])
        .prop("class", "box")
        .child(Node::text("<b>&"))
        .child(el("button", None, vec![]).prop("label", "Stop"))
        .child(
            el("data_table", None, vec![])
                .prop("columns", json!(["a", "b"]))
                .prop("rows", json!([[1, 2]])),
        )
        .child(el("line_chart", None, vec![]).prop("y", json!([1, 3, 2])));
    let html = to_html(&tree);
    assert!(
        html.starts_with("<div class=\"box\">&lt;b&gt;&amp;<button>Stop</button>"),
        "{html}"
    );
    assert!(html.contains("<th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>2</td>"));
    assert!(html.contains("<polyline"));
    let nasty: Node<()> = el("x onmouseover=alert(1)", None, vec![])
        .prop("href", "javascript:alert(1)")
        .prop("title", "\"><script>");
    let html = to_html(&nasty);
    assert_eq!(html, "<div title=\"&quot;&gt;&lt;script&gt;\"></div>");
    assert!(pit_vdom::safe_url("https://x.org/a") && pit_vdom::safe_url("/a:b") && pit_vdom::safe_url("#top"));
    assert!(!pit_vdom::safe_url(" JavaScript:alert(1)") && !pit_vdom::safe_url("data:text/html,x"));
}

// Random trees and random edits of them.
fn tree(depth: u32) -> BoxedStrategy<Node<()>> {
    let leaf = (0..3u8, 0..4u8, prop::option::of(0..6u8), any::<bool>())
        .prop_map(|(k, p, key, ev)| {
            let mut n: Node<()> = Node::new(["div", "span", "li"][k as usize]).prop("v", p);
            if let Some(key) = key {
                n = n.key(format!("k{key}"));
            }
            if ev {
                n = n.on("click", ());
            }
            n
        })
        .boxed();
    if depth == 0 {
        return leaf;
    }
    (leaf, prop::collection::vec(tree(depth - 1), 0..6))
        .prop_map(|(mut n, kids)| {
            let mut seen = HashSet::new();
            for mut k in kids {
                if let Some(key) = &k.key
                    && !seen.insert(key.clone())
                {
                    k.key = None;
                }
                n.children.push(k.into());
            }
            n
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn patches_turn_the_page_into_the_new_tree(a in tree(3), b in tree(3), c in tree(3)) {
        let mut v: Vdom<()> = Vdom::default();
        let mut page = Page::default();
        for t in [&a, &b, &a, &c] {
            page.apply(&v.render_node(t).unwrap());
            prop_assert!(page.same_as(page.root.unwrap(), t));
            prop_assert_eq!(page.nodes.len(), t.size(), "no node left behind");
        }
    }
}

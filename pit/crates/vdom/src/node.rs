//! Virtual nodes: what a UI says it wants, built fresh on every render.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

/// The component type of text nodes; their text is the prop `text`.
pub const TEXT: &str = "#text";

/// One virtual node. `H` is whatever stands for an event handler (a Python
/// callable in the binding); handlers are carried, never compared: a new
/// closure for the same event is not a change the page needs to hear of.
#[derive(Debug, Clone)]
pub struct Node<H> {
    /// A type from the component registry (`div`, `button`, `line_chart`…).
    pub kind: Arc<str>,
    /// Identity among siblings across renders; `None`: its position.
    pub key: Option<Arc<str>>,
    pub props: BTreeMap<String, Value>,
    /// Event name and handler, sorted by name.
    pub events: Vec<(String, H)>,
    pub children: Vec<Arc<Node<H>>>,
}

impl<H> Node<H> {
    pub fn new(kind: impl Into<Arc<str>>) -> Self {
        Node {
            kind: kind.into(),
            key: None,
            props: BTreeMap::new(),
            events: Vec::new(),
            children: Vec::new(),
        }
    }

    pub fn text(text: impl Into<String>) -> Self {
        let mut n = Node::new(TEXT);
        n.props.insert("text".into(), Value::String(text.into()));
        n
    }

    pub fn key(mut self, key: impl Into<Arc<str>>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn prop(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.props.insert(name.into(), value.into());
        self
    }

    pub fn on(mut self, event: impl Into<String>, handler: H) -> Self {
        let event = event.into();
        self.events.retain(|(e, _)| *e != event);
        self.events.push((event, handler));
        self.events.sort_by(|a, b| a.0.cmp(&b.0));
        self
    }

    pub fn child(mut self, child: Node<H>) -> Self {
        self.children.push(Arc::new(child));
        self
    }

    /// Nodes in this subtree, itself included.
    pub fn size(&self) -> usize {
        1 + self.children.iter().map(|c| c.size()).sum::<usize>()
    }
}

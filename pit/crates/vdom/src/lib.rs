//! The Pit's virtual DOM: research UIs (motifs, widgets) describe a tree of
//! component nodes on every render; [`Vdom::render`] turns the difference
//! from the last one into a short list of patches the page applies. The
//! same tree renders as static HTML ([`to_html`]) for saved notebooks.

mod diff;
mod html;
mod node;

pub use diff::{Mounted, Vdom, VdomError};
pub use html::{URL_PROPS, safe_url, to_html, valid_prop_name};
pub use node::{Node, TEXT};

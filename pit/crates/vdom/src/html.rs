//! A tree as static HTML: what a saved notebook or a static viewer shows
//! where the live widget cannot run.

use serde_json::Value;

use crate::node::{Node, TEXT};

/// Elements that take no children or closing tag.
const VOID: &[&str] = &["br", "hr", "img", "input"];

pub fn to_html<H>(node: &Node<H>) -> String {
    let mut out = String::new();
    write(&mut out, node);
    out
}

fn escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

fn style(v: &Value) -> String {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{}: {}", k.replace('_', "-"), text_of(Some(v))))
            .collect::<Vec<_>>()
            .join("; "),
        v => text_of(Some(v)),
    }
}

fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Prop names that are safe attribute names: no event handlers (`on…`),
/// nothing that could close the tag.
pub fn valid_prop_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_-:.".contains(c))
        && !name.to_ascii_lowercase().starts_with("on")
}

/// Props that hold addresses, and the addresses they may hold: http(s),
/// mailto, images as data, or relative ones. Never `javascript:`.
pub const URL_PROPS: &[&str] = &["href", "src", "action", "formaction", "xlink:href", "poster"];

pub fn safe_url(url: &str) -> bool {
    let url = url.trim_start();
    let scheme_end = url.find(':');
    let first_slash = url.find(['/', '?', '#']);
    match scheme_end {
        Some(i) if first_slash.is_none_or(|j| i < j) => {
            let scheme = url[..i].to_ascii_lowercase();
            matches!(scheme.as_str(), "http" | "https" | "mailto")
                || (scheme == "data" && url[i + 1..].to_ascii_lowercase().starts_with("image/"))
        }
        _ => true,
    }
}

/// `<tag attrs>` from the props that are plain values.
fn open(out: &mut String, tag: &str, node_props: &std::collections::BTreeMap<String, Value>, skip: &[&str]) {
    out.push('<');
    out.push_str(tag);
    for (k, v) in node_props {
        if skip.contains(&k.as_str()) || !valid_prop_name(k) {
            continue;
        }
        if URL_PROPS.contains(&k.as_str()) && !safe_url(&text_of(Some(v))) {
            continue;
        }
        let value = match (k.as_str(), v) {
            ("style", v) => style(v),
            (_, Value::Bool(false) | Value::Null | Value::Array(_) | Value::Object(_)) => continue,
            (_, Value::Bool(true)) => String::new(),
            (_, v) => text_of(Some(v)),
        };
        out.push(' ');
        out.push_str(if k == "class_name" { "class" } else { k });
        out.push_str("=\"");
        escape(out, &value);
        out.push('"');
    }
    out.push('>');
}

fn children<H>(out: &mut String, node: &Node<H>) {
    for c in &node.children {
        write(out, c);
    }
}

fn write<H>(out: &mut String, node: &Node<H>) {
    let p = &node.props;
    match &*node.kind {
        TEXT => escape(out, &text_of(p.get("text"))),
        "button" => {
            open(out, "button", p, &["label"]);
            escape(out, &text_of(p.get("label")));
            children(out, node);
            out.push_str("</button>");
        }
        "text_input" => {
            open(out, "input", p, &[]);
        }
        "slider" => {
            out.push_str("<input type=\"range\"");
            for k in ["min", "max", "step", "value"] {
                if let Some(v) = p.get(k) {
                    out.push_str(&format!(" {k}=\""));
                    escape(out, &text_of(Some(v)));
                    out.push('"');
                }
            }
            out.push('>');
        }
        "select" => {
            open(out, "select", p, &["options", "value"]);
            let chosen = text_of(p.get("value"));
            if let Some(Value::Array(options)) = p.get("options") {
                for o in options {
                    let o = text_of(Some(o));
                    out.push_str(if o == chosen { "<option selected>" } else { "<option>" });
                    escape(out, &o);
                    out.push_str("</option>");
                }
            }
            out.push_str("</select>");
        }
        "markdown" | "code_block" => {
            out.push_str(if &*node.kind == "code_block" {
                "<pre><code>"
            } else {
                "<div style=\"white-space: pre-wrap\">"
            });
            escape(out, &text_of(p.get("text")));
            out.push_str(if &*node.kind == "code_block" {
                "</code></pre>"
            } else {
                "</div>"
            });
        }
        "image" => open(out, "img", p, &[]),
        "data_table" => {
            out.push_str("<table>");
            if let Some(Value::Array(cols)) = p.get("columns") {
                out.push_str("<thead><tr>");
                for c in cols {
                    out.push_str("<th>");
                    escape(out, &text_of(Some(c)));
                    out.push_str("</th>");
                }
                out.push_str("</tr></thead>");
            }
            out.push_str("<tbody>");
            if let Some(Value::Array(rows)) = p.get("rows") {
                for r in rows {
                    out.push_str("<tr>");
                    let cells = match r {
                        Value::Array(cells) => cells.clone(),
                        v => vec![v.clone()],
                    };
                    for c in &cells {
                        out.push_str("<td>");
                        escape(out, &text_of(Some(c)));
                        out.push_str("</td>");
                    }
                    out.push_str("</tr>");
                }
            }
            out.push_str("</tbody></table>");
        }
        "line_chart" => line_chart(out, node),
        tag => {
            // A kind outside the registry may be anything: never let it
            // write markup of its own.
            let tag = if valid_tag(tag) { tag } else { "div" };
            open(out, tag, p, &[]);
            if !VOID.contains(&tag) {
                children(out, node);
                out.push_str("</");
                out.push_str(tag);
                out.push('>');
            }
        }
    }
}

/// `x` and `y` (or `y` alone) as an SVG polyline, 320 x 120.
fn line_chart<H>(out: &mut String, node: &Node<H>) {
    let nums = |k: &str| -> Vec<f64> {
        match node.props.get(k) {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_f64).collect(),
            _ => Vec::new(),
        }
    };
    let y = nums("y");
    let x = {
        let x = nums("x");
        if x.len() == y.len() {
            x
        } else {
            (0..y.len()).map(|i| i as f64).collect()
        }
    };
    let (w, h) = (320.0, 120.0);
    out.push_str(&format!("<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">"));
    if y.len() > 1 {
        let span = |v: &[f64]| {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (lo, if hi > lo { hi - lo } else { 1.0 })
        };
        let ((x0, xs), (y0, ys)) = (span(&x), span(&y));
        let points: Vec<String> = x
            .iter()
            .zip(&y)
            .map(|(a, b)| {
                format!(
                    "{:.1},{:.1}",
                    (a - x0) / xs * (w - 8.0) + 4.0,
                    h - 4.0 - (b - y0) / ys * (h - 8.0)
                )
            })
            .collect();
        out.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"{}\"/>",
            points.join(" ")
        ));
    }
    if let Some(t) = node.props.get("title") {
        out.push_str("<title>");
        escape(out, &text_of(Some(t)));
        out.push_str("</title>");
    }
    out.push_str("</svg>");
}

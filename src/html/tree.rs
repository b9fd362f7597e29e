//! A file tree drawn from a flat list of paths: each entry marked by its kind and, for what the
//! runtime adds, by the step or reason behind it.

use super::{kind_class, Html};
use std::collections::BTreeMap;

/// One path of a tree.
pub struct Entry {
    pub path: String,
    /// image, mount, device, symlink, file, mountpoint, hidden or dir.
    pub kind: &'static str,
    /// What follows the name: a symlink's target, a device's numbers, a filesystem type.
    pub label: String,
    /// Why the entry is there (a config field or the runtime's reason) …
    pub origin: Option<String>,
    /// … and where that is explained: a step of the page's plan, or a spec section.
    pub href: Option<String>,
}

#[derive(Default)]
struct Node<'a> {
    entry: Option<&'a Entry>,
    children: BTreeMap<&'a str, Node<'a>>,
}

/// `<ul class="tree">` of the entries, with "/" at the top; a directory no entry names is
/// drawn as a plain "dir". An entry there for the same reason as its parent (a device node in
/// the /dev tmpfs, a cgroup hierarchy in the cgroup mount) says it only in `data-origin`.
pub fn render_tree(h: &mut Html, entries: &[Entry]) {
    let mut root = Node::default();
    for e in entries {
        let mut node = &mut root;
        for c in e.path.split('/').filter(|c| !c.is_empty()) {
            node = node.children.entry(c).or_default();
        }
        node.entry = Some(e);
    }
    h.open("ul", &[("class", "tree")]);
    item(h, "/", "/", &root, None);
    h.close("ul");
}

fn item(h: &mut Html, name: &str, path: &str, node: &Node, parent_origin: Option<&str>) {
    let kind = node.entry.map_or("dir", |e| e.kind);
    let origin = node.entry.and_then(|e| e.origin.as_deref()).unwrap_or("");
    let mut attrs = vec![("class", kind_class(kind)), ("data-path", path), ("data-kind", kind)];
    if !origin.is_empty() {
        attrs.push(("data-origin", origin));
    }
    if let Some(href) = node.entry.and_then(|e| e.href.as_deref()) {
        attrs.push(("data-link", href));
    }
    h.open("li", &attrs).elem("span", &[("class", "name")], name);
    if !matches!(kind, "dir" | "image") {
        h.elem("span", &[("class", "badge")], kind);
    }
    if let Some(e) = node.entry {
        if !e.label.is_empty() {
            h.elem("span", &[("class", "label")], &e.label);
        }
        match (e.origin.as_ref().filter(|o| Some(o.as_str()) != parent_origin), &e.href) {
            (Some(o), Some(href)) => {
                h.elem("a", &[("class", "origin"), ("href", href)], o);
            }
            (Some(o), None) => {
                h.elem("span", &[("class", "origin label")], o);
            }
            _ => {}
        }
    }
    if !node.children.is_empty() {
        h.open("ul", &[]);
        for (child, sub) in &node.children {
            let child_path = if path == "/" {
                format!("/{child}")
            } else {
                format!("{path}/{child}")
            };
            item(h, child, &child_path, sub, node.entry.and_then(|e| e.origin.as_deref()));
        }
        h.close("ul");
    }
    h.close("li");
}

//! The page of `inspect --format html`: a live container's namespaces against the host's, its
//! process's identity, cgroup and limits, its mounts, and its files against the image's, drawn
//! from the JSON value `inspect --format json` prints.

use super::{legend, page, plain, render_tree, Entry, Html};
use serde_json::Value;

pub fn render(report: &Value) -> String {
    let id = report["id"].as_str().unwrap_or("");
    page(&format!("scrun inspect {id}"), |h| {
        h.elem("h1", &[], &format!("scrun inspect {id}"));
        h.elem(
            "p",
            &[("class", "sub")],
            &format!(
                "pid {} · {} · bundle {} · image {} · its root, from the init's mount namespace: {}",
                report["pid"],
                plain(&report["status"]),
                plain(&report["bundle"]),
                plain(&report["rootfs"]),
                plain(&report["container_root"]),
            ),
        );
        namespaces(h, &report["namespaces"]);
        h.elem("h2", &[], "Identity");
        section(h, &report["process"], |h, p| table(h, "process", p));
        h.elem("h2", &[], "Cgroup and limits");
        section(h, &report["cgroup"], |h, c| {
            h.open("ul", &[("id", "cgroup"), ("class", "tree")]);
            for line in c["lines"].as_array().into_iter().flatten() {
                h.elem("li", &[], &plain(line));
            }
            h.close("ul");
        });
        section(h, &report["limits"], limits);
        h.elem("h2", &[], "Mounts");
        section(h, &report["mounts"], mounts);
        h.elem("h2", &[], "Files: the image against what the container sees");
        section(h, &report["files"], |h, f| files(h, f, &report["mounts"]["entries"]));
    })
}

/// A section of the report, or why it could not be read.
fn section(h: &mut Html, v: &Value, f: impl FnOnce(&mut Html, &Value)) {
    match v["unreadable"].as_str() {
        Some(why) => {
            h.elem("p", &[("class", "bad")], &format!("unreadable: {why}"));
        }
        None => f(h, v),
    }
}

fn namespaces(h: &mut Html, ns: &Value) {
    h.elem("h2", &[], "Namespaces: the container's against the host's");
    h.open("table", &[("id", "namespaces")])
        .raw("<thead><tr><th>namespace</th><th>the container's</th><th>the host's</th><th></th></tr></thead><tbody>");
    for (kind, n) in ns.as_object().into_iter().flatten() {
        let own = n["own"].as_bool();
        let (class, says) = match own {
            Some(true) => ("own", "its own".to_string()),
            Some(false) => ("shared", "shared with the host".to_string()),
            None => ("bad", format!("unreadable: {}", plain(&n["unreadable"]))),
        };
        h.open(
            "tr",
            &[
                ("data-ns", kind),
                ("data-own", &own.map(|o| o.to_string()).unwrap_or_default()),
            ],
        )
        .elem("td", &[], kind)
        .elem("td", &[("class", "mono")], &plain(&n["inode"]))
        .elem("td", &[("class", "mono")], &plain(&n["host_inode"]))
        .elem("td", &[("class", class)], &says)
        .close("tr");
    }
    h.raw("</tbody>").close("table");
}

/// An object's fields as rows: an inner object of plain values on one line (uid: real 0 ·
/// effective 0 …), another as a table of its own.
fn table(h: &mut Html, id: &str, obj: &Value) {
    h.open("table", &[("id", id)]).raw("<tbody>");
    for (key, value) in obj.as_object().into_iter().flatten() {
        h.open("tr", &[("data-field", key)])
            .elem("th", &[], key)
            .open("td", &[("class", "mono")]);
        let inner = value.as_object().filter(|_| value["unreadable"].is_null());
        if let Some(fields) = inner.filter(|o| o.values().all(|v| !v.is_object())) {
            let line: Vec<String> = fields.iter().map(|(k, v)| format!("{k} {}", plain(v))).collect();
            h.text(&line.join(" · "));
        } else if inner.is_some() {
            table(h, "", value);
        } else if let Some(why) = value["unreadable"].as_str() {
            h.elem("span", &[("class", "bad")], &format!("unreadable: {why}"));
        } else {
            h.text(&plain(value));
        }
        h.close("td").close("tr");
    }
    h.raw("</tbody>").close("table");
}

fn limits(h: &mut Html, limits: &Value) {
    h.open("table", &[("id", "limits")])
        .raw("<thead><tr><th>limit</th><th>soft</th><th>hard</th><th>units</th></tr></thead><tbody>");
    for l in limits["resources"].as_array().into_iter().flatten() {
        h.open("tr", &[("data-rlimit", &plain(&l["rlimit"]))]);
        for key in ["rlimit", "soft", "hard", "units"] {
            h.elem("td", &[("class", "mono")], &plain(&l[key]));
        }
        h.close("tr");
    }
    h.raw("</tbody>").close("table");
}

fn mounts(h: &mut Html, mounts: &Value) {
    h.open("table", &[("id", "mounts")]).raw(
        "<thead><tr><th>mount point</th><th>type</th><th>source</th><th>options</th><th>why</th></tr></thead><tbody>",
    );
    for m in mounts["entries"].as_array().into_iter().flatten() {
        let path = plain(&m["mount_point"]);
        let why = plain(&m["why"]);
        let from = plain(&m["origin"]);
        let kind = if from == "added" { "mount" } else { "image" };
        h.open(
            "tr",
            &[
                ("class", super::kind_class(kind)),
                ("data-kind", kind),
                ("data-path", &path),
                ("data-origin", &why),
            ],
        )
        .elem("td", &[("class", "mono")], &path)
        .elem("td", &[], &plain(&m["fstype"]))
        .elem(
            "td",
            &[("class", "mono")],
            &format!("{}:{}", plain(&m["source"]), plain(&m["root"])),
        )
        .elem("td", &[("class", "mono")], &plain(&m["options"]))
        .elem("td", &[], &why)
        .close("tr");
    }
    h.raw("</tbody>").close("table");
}

fn files(h: &mut Html, files: &Value, mounts: &Value) {
    legend(
        h,
        &[
            ("mount", "a mount the runtime added"),
            ("device", "device node"),
            ("symlink", "symlink"),
            ("file", "a file bound over a path"),
            ("dir", "in an added mount"),
        ],
    );
    if let Some(why) = files["truncated"].as_str() {
        h.elem("p", &[("class", "bad")], &format!("the walk stopped early: {why}"));
    }
    let image: Vec<Entry> = files["image"]
        .as_array()
        .into_iter()
        .flatten()
        .map(image_entry)
        .collect();
    let mut seen: Vec<Entry> = files["image"]
        .as_array()
        .into_iter()
        .flatten()
        .map(image_entry)
        .collect();
    seen.extend(
        files["added"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| added_entry(f, mounts)),
    );
    h.open("div", &[("class", "cols")]);
    for (id, title, entries) in [
        ("image", "The image: its directory on disk", &image),
        ("instance", "What the container sees", &seen),
    ] {
        h.open("div", &[("class", "col"), ("id", id)]).elem("h3", &[], title);
        render_tree(h, entries);
        h.close("div");
    }
    h.close("div");
}

fn image_entry(f: &Value) -> Entry {
    Entry {
        path: plain(&f["path"]),
        kind: "image",
        label: entry_label(f),
        origin: None,
        href: None,
    }
}

/// What the container sees that the image does not hold: a mount point is the mount (or a
/// file bound there); anything else is what it is, in the added mount it sits in.
fn added_entry(f: &Value, mounts: &Value) -> Entry {
    let path = plain(&f["path"]);
    let mount = plain(&f["mount"]);
    let kind = match f["kind"].as_str().unwrap_or("") {
        "char" | "block" => "device",
        "symlink" => "symlink",
        "file" if path == mount => "file",
        _ if path == mount => "mount",
        _ => "dir",
    };
    // An entry inside a mount is there for the mount's reason.
    let why = f["why"].as_str().map(String::from).or_else(|| {
        mounts
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["mount_point"].as_str() == Some(&mount))
            .map(|m| plain(&m["why"]))
    });
    Entry {
        path,
        kind,
        label: entry_label(f),
        origin: why,
        href: None,
    }
}

fn entry_label(f: &Value) -> String {
    match (
        f["target"].as_str(),
        f["device"].as_str(),
        f["fstype"].as_str(),
        f["size"].as_u64(),
    ) {
        (Some(target), _, _, _) => format!("→ {target}"),
        (_, Some(device), _, _) => format!("{} {device}", plain(&f["kind"])),
        (_, _, Some(fstype), _) if f["mount"] == f["path"] => fstype.to_string(),
        (_, _, _, Some(size)) => format!("{size} bytes"),
        _ => String::new(),
    }
}

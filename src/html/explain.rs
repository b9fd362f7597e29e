//! The page of `explain --format html`: the image and the instance side by side, the plan, and
//! with a trace the waterfall of its steps. It reads only the JSON value `explain --format
//! json` prints, by its field names, so a new kind of step shows in the plan unchanged.

use super::trace::Timed;
use super::{legend, page, plain, render_tree, spec_link, Entry, Html};
use serde_json::Value;
use std::path::Path;

/// Keys of a step that the plan's columns show already.
const SHOWN: &[&str] = &["origin", "action", "side", "describe", "creates", "adds"];

pub fn render(explanation: &Value, trace: Option<&[Timed]>) -> String {
    let steps: &[Value] = explanation["steps"].as_array().map_or(&[], |v| v);
    let bundle = str_of(explanation, "bundle");
    page(&format!("scrun explain {bundle}"), |h| {
        h.elem("h1", &[], &format!("scrun explain {bundle}"));
        h.open("p", &[("class", "sub")])
            .text("rootfs ")
            .elem("code", &[], str_of(explanation, "rootfs"))
            .text(" · ");
        match explanation["exec"]["path"].as_str() {
            Some(path) => h.text("the program: ").elem("code", &[("id", "exec")], path),
            None => h.elem(
                "span",
                &[("class", "bad"), ("id", "exec")],
                &format!("the program cannot run: {}", str_of(&explanation["exec"], "error")),
            ),
        };
        h.close("p");
        legend(
            h,
            &[
                ("mount", "mounted by the runtime"),
                ("device", "device node"),
                ("symlink", "symlink"),
                ("file", "generated file, bound read-only"),
                ("mountpoint", "mount point made in the image on disk"),
                ("hidden", "in the image, hidden by a mount"),
            ],
        );
        h.open("div", &[("class", "cols")]);
        column(
            h,
            "image",
            "The image: the rootfs on disk",
            &image_entries(explanation, steps),
        );
        column(
            h,
            "instance",
            "The instance: what the process sees",
            &instance_entries(explanation, steps),
        );
        h.close("div");
        plan(h, steps);
        if let Some(trace) = trace {
            waterfall(h, trace, steps);
        }
    })
}

fn column(h: &mut Html, id: &str, title: &str, entries: &[Entry]) {
    h.open("div", &[("class", "col"), ("id", id)]).elem("h3", &[], title);
    render_tree(h, entries);
    h.close("div");
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn paths(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// The rootfs on disk, and the mount points scrun will make there.
fn image_entries(e: &Value, steps: &[Value]) -> Vec<Entry> {
    let mut out: Vec<Entry> = paths(&e["image"]).map(|p| plain_entry(p, "image")).collect();
    out.extend(paths(&e["instance"]["created_in_image"]).map(|p| added(p, "mountpoint", steps)));
    out
}

/// The image as the process sees it, then what the instance adds, later kinds winning on the
/// same path (a generated /etc file is a mount too).
fn instance_entries(e: &Value, steps: &[Value]) -> Vec<Entry> {
    let instance = &e["instance"];
    let files: Vec<&str> = paths(&instance["files"]).collect();
    // A directory mounted over hides what the image has below it.
    let covering: Vec<&str> = paths(&instance["mounts"]).filter(|m| !files.contains(m)).collect();
    let hidden = |p: &str| covering.iter().any(|m| p != *m && Path::new(p).starts_with(m));
    let mut out: Vec<Entry> = paths(&e["image"])
        .map(|p| plain_entry(p, if hidden(p) { "hidden" } else { "image" }))
        .collect();
    for (key, kind) in [
        ("created_in_image", "mountpoint"),
        ("mounts", "mount"),
        ("symlinks", "symlink"),
        ("devices", "device"),
        ("files", "file"),
    ] {
        out.extend(paths(&instance[key]).map(|p| added(p, kind, steps)));
    }
    out
}

fn plain_entry(path: &str, kind: &'static str) -> Entry {
    Entry {
        path: path.to_string(),
        kind,
        label: String::new(),
        origin: None,
        href: None,
    }
}

/// An entry the runtime adds, linked to the step that adds it.
fn added(path: &str, kind: &'static str, steps: &[Value]) -> Entry {
    let index = step_for(steps, kind, path);
    let step = index.map(|i| &steps[i]);
    Entry {
        path: path.to_string(),
        kind,
        label: step.map(|s| label(s, path, kind)).unwrap_or_default(),
        origin: step.map(|s| str_of(s, "origin").to_string()),
        href: index.map(|i| format!("#step-{}", i + 1)),
    }
}

/// The step behind an entry of the instance: the one that names the path, else (a cgroup
/// hierarchy below the cgroup mount) the mount it sits in.
fn step_for(steps: &[Value], kind: &str, path: &str) -> Option<usize> {
    let find = |f: &dyn Fn(&Value) -> bool| steps.iter().position(f);
    let is = |s: &Value, action: &str, key: &str| str_of(s, "action") == action && str_of(s, key) == path;
    match kind {
        "device" => find(&|s| is(s, "make_device", "path")),
        "symlink" => find(&|s| is(s, "symlink", "link")),
        "mountpoint" => {
            let prefix = format!("{path} (");
            find(&|s| paths(&s["creates"]).any(|c| c.starts_with(&prefix)))
        }
        _ => find(&|s| is(s, "mount", "destination") || is(s, "mask_path", "path") || is(s, "readonly_path", "path"))
            .or_else(|| {
                (path == "/dev/console")
                    .then(|| find(&|s| str_of(s, "action") == "console"))
                    .flatten()
            })
            .or_else(|| {
                steps
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| str_of(s, "action") == "mount")
                    .filter(|(_, s)| Path::new(path).starts_with(str_of(s, "destination")))
                    .max_by_key(|(_, s)| str_of(s, "destination").len())
                    .map(|(i, _)| i)
            }),
    }
}

/// What an entry's step says of it, after its name.
fn label(step: &Value, path: &str, kind: &str) -> String {
    match str_of(step, "action") {
        "mount" if kind == "mountpoint" => format!(
            "for the {} mount on {}",
            str_of(step, "fstype"),
            str_of(step, "destination")
        ),
        "mount" if str_of(step, "destination") == path => str_of(step, "fstype").to_string(),
        "mount" => format!("in the {} mount", str_of(step, "fstype")),
        "mask_path" => "masked".into(),
        "readonly_path" => "read-only".into(),
        "symlink" => format!("→ {}", str_of(step, "target")),
        "make_device" => format!("{} {}:{}", str_of(step, "kind"), step["major"], step["minor"]),
        _ => String::new(),
    }
}

fn plan(h: &mut Html, steps: &[Value]) {
    h.elem("h2", &[], "The plan, in order");
    h.open("table", &[("id", "plan")])
        .raw("<thead><tr><th>#</th><th>who</th><th>step</th><th>asked for by</th><th>details</th></tr></thead><tbody>");
    for (i, step) in steps.iter().enumerate() {
        let n = (i + 1).to_string();
        let origin = str_of(step, "origin");
        let side = str_of(step, "side");
        h.open(
            "tr",
            &[
                ("id", &format!("step-{n}")),
                ("data-step", &n),
                ("data-action", str_of(step, "action")),
                ("data-side", side),
                ("data-origin", origin),
            ],
        )
        .elem("td", &[], &n)
        .elem("td", &[("class", &format!("side-{side}"))], side)
        .elem("td", &[], str_of(step, "describe"))
        .open("td", &[]);
        match spec_link(origin) {
            Some(href) => h.elem("a", &[("href", &href)], origin),
            None => h.text(origin),
        };
        h.close("td").open("td", &[("class", "mono")]);
        details(h, step);
        h.close("td").close("tr");
    }
    h.raw("</tbody>").close("table");
}

/// The step's own fields, as `--format json` has them, on one line; an object, a list of
/// objects or a file's content folded below it. Null, false and empty fields are left out.
fn details(h: &mut Html, step: &Value) {
    let Some(fields) = step.as_object() else { return };
    let fields: Vec<_> = fields
        .iter()
        .filter(|(k, _)| !SHOWN.contains(&k.as_str()))
        .filter(|(_, v)| !matches!(v, Value::Null | Value::Bool(false)) && v.as_array().is_none_or(|a| !a.is_empty()))
        .collect();
    let folded = |v: &Value| {
        v.is_object()
            || v.as_array().is_some_and(|a| a.iter().any(Value::is_object))
            || v.as_str().is_some_and(|s| s.contains('\n'))
    };
    let line: Vec<String> = fields
        .iter()
        .filter(|(_, v)| !folded(v))
        .map(|(k, v)| format!("{k} {}", plain(v)))
        .collect();
    if !line.is_empty() {
        h.elem("div", &[], &line.join(" · "));
    }
    for (key, value) in fields.iter().filter(|(_, v)| folded(v)) {
        let body = match value.as_str() {
            Some(text) => text.to_string(),
            None => serde_json::to_string_pretty(value).unwrap_or_default(),
        };
        h.open("details", &[])
            .elem("summary", &[], key)
            .elem("pre", &[], &body)
            .close("details");
    }
    for c in paths(&step["creates"]) {
        h.elem("div", &[("class", "label")], &format!("creates {c}"));
    }
}

fn waterfall(h: &mut Html, trace: &[Timed], steps: &[Value]) {
    h.elem("h2", &[], "The setup as traced");
    let end = trace.iter().map(|t| t.end_micros).max().unwrap_or(1).max(1) as f64;
    let matched = match_steps(trace, steps);
    h.open("table", &[("id", "waterfall")])
        .raw("<thead><tr><th>start</th><th>took</th><th>who</th><th>step</th><th style=\"width:45%\">")
        .text(&format!("0 – {:.1} ms", end / 1000.0))
        .raw("</th></tr></thead><tbody>");
    for (t, step) in trace.iter().zip(&matched) {
        let side = match (t.side.as_str(), step) {
            ("", Some(i)) => str_of(&steps[*i], "side"),
            ("", None) => "runtime",
            (side, _) => side,
        };
        let took = t.micros.map(|m| format!("{m} µs")).unwrap_or_default();
        let n = step.map(|i| (i + 1).to_string()).unwrap_or_default();
        let mut attrs = vec![("class", "wf-row"), ("data-micros", took.trim_end_matches(" µs"))];
        if !n.is_empty() {
            attrs.push(("data-step", &n));
        }
        h.open("tr", &attrs)
            .elem("td", &[], &format!("{:.2} ms", t.start_micros() as f64 / 1000.0))
            .elem("td", &[], &took)
            .elem("td", &[("class", &format!("side-{side}"))], side)
            .open("td", &[]);
        match step {
            Some(_) => h.elem("a", &[("href", &format!("#step-{n}"))], &t.text),
            None => h.text(&t.text),
        };
        let left = t.start_micros() as f64 / end * 100.0;
        let width = t.micros.unwrap_or(0) as f64 / end * 100.0;
        h.close("td")
            .open("td", &[])
            .open("div", &[("class", &format!("wf wf-{side}"))])
            .open("div", &[("style", &format!("left:{left:.2}%;width:{width:.2}%"))])
            .close("div")
            .close("div")
            .close("td")
            .close("tr");
    }
    h.raw("</tbody>").close("table");
}

/// The plan step each traced line carries out, in order: same description (the state
/// directory aside, which explain does not know) and, where the line names it, same origin.
fn match_steps(trace: &[Timed], steps: &[Value]) -> Vec<Option<usize>> {
    let mut used = vec![false; steps.len()];
    trace
        .iter()
        .map(|t| {
            t.micros?;
            let i = steps.iter().enumerate().position(|(i, s)| {
                !used[i]
                    && same_step(str_of(s, "describe"), &t.text)
                    && t.origin.as_deref().is_none_or(|o| o == str_of(s, "origin"))
            })?;
            used[i] = true;
            Some(i)
        })
        .collect()
}

fn same_step(planned: &str, traced: &str) -> bool {
    const STATE_DIR: &str = "/run/scrun/ID/";
    match planned.split_once(STATE_DIR) {
        Some((before, after)) => traced
            .strip_prefix(before)
            .is_some_and(|dir| dir.starts_with('/') && dir.ends_with(&format!("/{after}"))),
        None => planned == traced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traced_steps_match_planned_ones_across_the_state_directory() {
        assert!(same_step("write /run/scrun/ID/hosts", "write /run/scrun/c1/hosts"));
        assert!(!same_step("write /run/scrun/ID/hosts", "write /run/scrun/c1/hostname"));
        assert!(same_step("mount proc on /proc", "mount proc on /proc"));
    }
}

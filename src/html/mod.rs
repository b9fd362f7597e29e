//! `--format html` of `explain` and `inspect`: one self-contained page (inline style sheet, no
//! script, nothing fetched: its Content-Security-Policy forbids it) that draws the same JSON
//! value the `--format json` output prints, so the page cannot tell another story than the
//! plan or the report. Every entry the runtime adds carries `data-kind`, `data-path` and
//! `data-origin`, which the browser tests read back from the DOM.

pub mod explain;
pub mod inspect;
pub mod trace;
mod tree;
mod writer;

pub use tree::{render_tree, Entry};
pub use writer::{escape, Html};

const STYLE: &str = r#"<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1600px}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.4em 0 .4em;border-bottom:1px solid #ccc}
code,.tree,td.mono{font-family:ui-monospace,monospace;font-size:12.5px}
.sub{color:#666;margin:0 0 1em}
.cols{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1.5em;align-items:start}
.col{overflow-x:auto;border:1px solid #ddd;border-radius:6px;padding:.5em 1em;background:#fcfcfc}
.col h3{margin:.2em 0 .5em;font-size:1em}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:1.1em}
ul.tree{padding-left:0}
ul.tree li{margin:1px 0}
ul.tree .name,ul.tree .badge{white-space:nowrap}
.badge{display:inline-block;font:11px system-ui,sans-serif;padding:0 .45em;border-radius:8px;margin-left:.4em;color:#fff;vertical-align:1px}
.k-mount>.name{color:#1a5fb4;font-weight:600}.k-mount>.badge{background:#1a5fb4}
.k-device>.name{color:#c64600;font-weight:600}.k-device>.badge{background:#c64600}
.k-symlink>.name{color:#813d9c;font-weight:600}.k-symlink>.badge{background:#813d9c}
.k-file>.name{color:#26803a;font-weight:600}.k-file>.badge{background:#26803a}
.k-mountpoint>.name{color:#777;border-bottom:1px dashed #999}.k-mountpoint>.badge{background:#999}
.k-hidden>.name{color:#aaa;text-decoration:line-through}.k-hidden>.badge{background:#bbb}
.k-dir>.name,.k-image>.name{color:#333}
.label{color:#555;margin-left:.4em}
a.origin{margin-left:.5em;color:#555;font-size:11.5px}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #eee;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3;font-weight:600}
tr:target{background:#fff3bf}
td.side-runtime{color:#1a5fb4}td.side-init{color:#26803a}td.side-start,td.side-delete{color:#813d9c}
details summary{cursor:pointer;color:#555}
.legend span{margin-right:1em}
#waterfall td:nth-child(-n+3){white-space:nowrap}
.wf{position:relative;height:14px;background:#f3f3f3;min-width:300px}
.wf>div{position:absolute;top:2px;height:10px;min-width:2px;border-radius:2px}
.wf-runtime>div{background:#1a5fb4}.wf-init>div{background:#26803a}
.own{color:#26803a;font-weight:600}.shared{color:#c64600;font-weight:600}
.bad{color:#b00}
</style>"#;

/// The whole page around `body`.
pub fn page(title: &str, body: impl FnOnce(&mut Html)) -> String {
    let mut h = Html::default();
    h.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        // Nothing is ever fetched, whatever a name in the page might say.
        .raw("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">")
        .elem("title", &[], title)
        .raw(STYLE)
        .raw("</head><body>");
    body(&mut h);
    h.raw("</body></html>\n");
    h.finish()
}

/// The badges' key.
pub fn legend(h: &mut Html, kinds: &[(&'static str, &str)]) {
    h.open("p", &[("class", "legend")]);
    for (kind, text) in kinds {
        h.open("span", &[("class", kind_class(kind))])
            .elem("span", &[("class", "badge")], kind)
            .text(" ")
            .text(text)
            .close("span");
    }
    h.close("p");
}

pub(crate) fn kind_class(kind: &str) -> &'static str {
    match kind {
        "mount" => "k-mount",
        "device" => "k-device",
        "symlink" => "k-symlink",
        "file" => "k-file",
        "mountpoint" => "k-mountpoint",
        "hidden" => "k-hidden",
        "image" => "k-image",
        _ => "k-dir",
    }
}

const RUNTIME_SPEC: &str = "https://github.com/opencontainers/runtime-spec/blob/main/";

/// The document section behind a step's origin: a config.json field of the runtime-spec, or
/// libcontainer's SPEC for what runc (and so scrun) does unasked. None for the runtime's own
/// reasons, which the origin text says in full.
pub fn spec_link(origin: &str) -> Option<String> {
    if origin.starts_with("runtime: libcontainer SPEC") {
        return Some("https://github.com/opencontainers/runc/blob/main/libcontainer/SPEC.md#filesystem".into());
    }
    if origin.starts_with("runtime:") {
        return None;
    }
    // "linux.cgroupsPath, linux.resources", "mounts[3]", "hooks.prestart[0]": the first field.
    let field = origin.split([',', '[', ' ']).next().unwrap_or(origin);
    let mut parts = field.split('.');
    let (doc, anchor) = match (parts.next()?, parts.next()) {
        ("linux", Some(f)) => (
            "config-linux.md",
            match f {
                "namespaces" => "namespaces",
                "uidMappings" | "gidMappings" => "user-namespace-mappings",
                "timeOffsets" => "offset-for-time-namespace",
                "devices" => "devices",
                "cgroupsPath" => "cgroups-path",
                "resources" => "control-groups",
                "netDevices" => "network-devices",
                "sysctl" => "sysctl",
                "seccomp" => "seccomp",
                "rootfsPropagation" => "rootfs-mount-propagation",
                "maskedPaths" => "masked-paths",
                "readonlyPaths" => "readonly-paths",
                "mountLabel" => "mount-label",
                "personality" => "personality",
                "memoryPolicy" => "memory-policy",
                "intelRdt" => "intelrdt",
                _ => "",
            },
        ),
        ("process", Some("capabilities" | "noNewPrivileges" | "oomScoreAdj" | "apparmorProfile" | "selinuxLabel")) => {
            ("config.md", "linux-process")
        }
        ("process", Some("user")) => ("config.md", "user"),
        ("process", _) => ("config.md", "process"),
        ("mounts", _) => ("config.md", "mounts"),
        ("root", _) => ("config.md", "root"),
        ("hostname", _) => ("config.md", "hostname"),
        ("domainname", _) => ("config.md", "domainname"),
        ("hooks", _) => ("config.md", "posix-platform-hooks"),
        _ => return None,
    };
    Some(if anchor.is_empty() {
        format!("{RUNTIME_SPEC}{doc}")
    } else {
        format!("{RUNTIME_SPEC}{doc}#{anchor}")
    })
}

/// A JSON scalar as it reads best: strings bare, the rest as JSON.
pub fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            a.iter().map(plain).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_link_to_their_spec_section() {
        let link = |o| spec_link(o).unwrap_or_default();
        assert!(link("mounts[3]").ends_with("config.md#mounts"));
        assert!(link("linux.cgroupsPath, linux.resources").ends_with("config-linux.md#cgroups-path"));
        assert!(link("linux.maskedPaths[2]").ends_with("config-linux.md#masked-paths"));
        assert!(link("hooks.prestart[0]").ends_with("config.md#posix-platform-hooks"));
        assert!(link("runtime: libcontainer SPEC, /dev").ends_with("SPEC.md#filesystem"));
        assert_eq!(spec_link("runtime: scrun, files a container expects in /etc"), None);
    }
}

//! The HTML pages of `explain` and `inspect`, loaded in a real browser (Debian's headless
//! chromium, in a network namespace of its own): every mount, device node, symlink and
//! generated file of the plan (`explain --format json` of the same bundle) or of the report
//! (`inspect --format json`) must be in the DOM the browser built, marked with its kind and
//! origin. Screenshots are kept under target/html-artifacts/.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Headless chromium with a profile (HOME, user data) of its own, removed on drop.
struct Browser {
    bin: PathBuf,
    home: PathBuf,
}

impl Browser {
    /// None, after saying why, when chromium is not installed and cannot be.
    fn new() -> Option<Browser> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/chromium.sh");
        let out = Command::new(&script)
            .stdin(Stdio::null())
            .output()
            .expect("run hack/chromium.sh");
        if !out.status.success() {
            eprintln!(
                "SKIPPED: no chromium for the browser tests (hack/chromium.sh failed: {})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        let home = std::env::temp_dir().join(unique_id("chromium-home"));
        std::fs::create_dir_all(&home).unwrap();
        Some(Browser {
            bin: PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()),
            home,
        })
    }

    /// Loads `page` in a new network namespace (nothing can leave it), with `action` (--dump-dom
    /// or --screenshot=…), and checks in chromium's own net log that the page fetched nothing.
    fn load(&self, page: &Path, action: &[&str]) -> Vec<u8> {
        let netlog = self.home.join("netlog.json");
        let out = Command::new("unshare")
            .args(["--net", "--"])
            .arg(&self.bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-proxy-server",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", self.home.join("profile").display()))
            .arg(format!("--log-net-log={}", netlog.display()))
            .args(action)
            .arg(format!("file://{}", page.display()))
            .env("HOME", &self.home)
            .stdin(Stdio::null())
            .output()
            .expect("run chromium");
        assert!(
            out.status.success(),
            "chromium failed on {}:\n{}",
            page.display(),
            describe(&out)
        );
        let log = std::fs::read_to_string(&netlog).expect("chromium's net log");
        for url in log.split("\"url\":\"").skip(1).filter_map(|s| s.split('"').next()) {
            // Debian's chromium asks its component updater and time service whatever the flags
            // say; in the empty network namespace that fails. Nothing else may be asked for.
            let browser_own = ["://update.googleapis.com/", "://clients2.google.com/"];
            assert!(
                url.starts_with("file:") || browser_own.iter().any(|h| url.contains(h)),
                "loading {} fetched {url}",
                page.display()
            );
        }
        out.stdout
    }

    fn dom(&self, page: &Path) -> String {
        String::from_utf8(self.load(page, &["--dump-dom"])).unwrap()
    }

    /// A screenshot kept as target/html-artifacts/NAME, checked to be a PNG of that width.
    fn screenshot(&self, page: &Path, name: &str) {
        let dir = target_dir().join("html-artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let png = dir.join(name);
        let _ = std::fs::remove_file(&png);
        self.load(
            page,
            &[&format!("--screenshot={}", png.display()), "--window-size=1400,1800"],
        );
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot {}: {e}", png.display()));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{} is not a PNG",
            png.display()
        );
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        assert_eq!(width, 1400, "{}", png.display());
        assert!(
            bytes.len() > 20_000,
            "{} is nearly empty ({} bytes)",
            png.display(),
            bytes.len()
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// An element of the dumped DOM: its attributes.
struct Element {
    attrs: BTreeMap<String, String>,
}

impl Element {
    fn attr(&self, name: &str) -> &str {
        self.attrs.get(name).map(String::as_str).unwrap_or("")
    }
}

/// Every `<tag …>` of `dom`, attributes decoded (chromium escapes `&`, `"`, `<`, `>` and nbsp).
fn elements(dom: &str, tag: &str) -> Vec<Element> {
    let open = format!("<{tag} ");
    let mut out = Vec::new();
    for (start, _) in dom.match_indices(&open) {
        let mut rest = &dom[start + open.len()..];
        let mut attrs = BTreeMap::new();
        loop {
            rest = rest.trim_start();
            if rest.starts_with('>') || rest.is_empty() {
                break;
            }
            let (name, after) = rest.split_once("=\"").expect("attribute with a quoted value");
            let (value, after) = after.split_once('"').expect("closing quote");
            let value = value
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&nbsp;", "\u{a0}")
                .replace("&amp;", "&");
            attrs.insert(name.to_string(), value);
            rest = after;
        }
        out.push(Element { attrs });
    }
    out
}

/// The markup of the element with this id, to its end tag.
fn by_id<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!(" id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let start = dom[..at].rfind('<').unwrap();
    let tag = &dom[start + 1..at].split(' ').next().unwrap();
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut depth = 0;
    let mut i = start;
    loop {
        let next_open = dom[i..].find(&open).map(|o| i + o);
        let next_close = dom[i..].find(&close).map(|c| i + c).expect("end tag");
        match next_open {
            Some(o) if o < next_close && dom[o + open.len()..].starts_with([' ', '>']) => {
                depth += 1;
                i = o + open.len();
            }
            Some(o) if o < next_close => i = o + open.len(),
            _ => {
                depth -= 1;
                i = next_close + close.len();
                if depth == 0 {
                    return &dom[start..i];
                }
            }
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Tree entries by path.
fn tree(markup: &str) -> BTreeMap<String, Element> {
    elements(markup, "li")
        .into_iter()
        .map(|e| (e.attr("data-path").to_string(), e))
        .collect()
}

/// The page of `explain --format html [--trace]` against `explain --format json` of the bundle
/// as it is now; returns the dumped DOM.
fn check_explain_page(rt: &Runtime, browser: &Browser, bundle: &Bundle, trace: Option<&Path>, shot: &str) -> String {
    let dir = bundle.path().to_str().unwrap();
    let plan: Value = serde_json::from_slice(&rt.run_ok(&["explain", "--format", "json", dir]).stdout).unwrap();
    let mut args = vec!["explain", "--format", "html"];
    if let Some(trace) = trace {
        args.extend(["--trace", trace.to_str().unwrap()]);
    }
    args.push(dir);
    let html = rt.run_ok(&args).stdout;
    let page = bundle.path().join("explain.html");
    std::fs::write(&page, &html).unwrap();
    let html = String::from_utf8(html).unwrap();

    // Nothing to fetch: no script, style sheet, image or frame; links only to the spec.
    for banned in ["<script", "<link", "<img", "<iframe"] {
        assert!(!html.contains(banned), "{banned} in the page");
    }
    assert_eq!(
        html.matches("http").count(),
        html.matches("href=\"https://github.com/opencontainers/").count() + html.matches("http-equiv").count(),
        "http outside the spec links"
    );

    let dom = browser.dom(&page);
    let steps = plan["steps"].as_array().unwrap();
    let rows = elements(by_id(&dom, "plan"), "tr");
    let rows: Vec<&Element> = rows.iter().filter(|r| r.attrs.contains_key("data-step")).collect();
    assert_eq!(rows.len(), steps.len(), "one plan row a step");
    for (row, step) in rows.iter().zip(steps) {
        assert_eq!(row.attr("data-action"), step["action"].as_str().unwrap());
        assert_eq!(row.attr("data-origin"), step["origin"].as_str().unwrap());
    }

    let instance = tree(by_id(&dom, "instance"));
    let image = tree(by_id(&dom, "image"));
    let origin_of = |field: &str, key: &str, path: &str| -> String {
        steps
            .iter()
            .find(|s| s[key] == path && s.get(field).is_some())
            .map(|s| s["origin"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no step with {key} {path}"))
    };
    let files = strings(&plan["instance"]["files"]);
    let mut checked = 0;
    for (set, kind) in [
        ("mounts", "mount"),
        ("devices", "device"),
        ("symlinks", "symlink"),
        ("files", "file"),
    ] {
        for path in strings(&plan["instance"][set]) {
            let e = instance
                .get(&path)
                .unwrap_or_else(|| panic!("{set}: {path} missing from the instance tree"));
            let want = if kind == "mount" && files.contains(&path) {
                "file"
            } else {
                kind
            };
            assert_eq!(e.attr("data-kind"), want, "{path}");
            assert!(!e.attr("data-origin").is_empty(), "{path} has no origin");
            // Its link goes to a plan step with the same origin.
            let href = e.attr("data-link").strip_prefix("#step-");
            let n: usize = href
                .unwrap_or_else(|| panic!("{path} links to no step"))
                .parse()
                .unwrap();
            assert_eq!(
                steps[n - 1]["origin"].as_str().unwrap(),
                e.attr("data-origin"),
                "{path}"
            );
            let own = match kind {
                "device" => Some(origin_of("major", "path", &path)),
                "symlink" => Some(origin_of("target", "link", &path)),
                _ => steps
                    .iter()
                    .find(|s| s["destination"] == path.as_str())
                    .map(|s| s["origin"].as_str().unwrap().to_string()),
            };
            if let Some(origin) = own {
                assert_eq!(e.attr("data-origin"), origin, "{path}");
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} entries planned");
    for path in strings(&plan["image"]) {
        assert_eq!(image.get(&path).map(|e| e.attr("data-kind")), Some("image"), "{path}");
    }
    for path in strings(&plan["instance"]["created_in_image"]) {
        let e = image.get(&path).unwrap_or_else(|| panic!("mount point {path} missing"));
        assert_eq!(e.attr("data-kind"), "mountpoint", "{path}");
    }
    browser.screenshot(&page, shot);
    dom
}

#[test]
fn explain_page_shows_every_planned_entry_in_a_browser() {
    let Some(browser) = Browser::new() else { return };
    let bundle = Bundle::new();
    bundle.config_mut(|c| {
        c["process"]["terminal"] = Value::Bool(true);
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "/data/cache", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}
        ));
    });
    // A hostile name in the image stays a name.
    let hostile = "a\"><img src=x onerror=alert(1)>";
    std::fs::write(bundle.rootfs().join(hostile), "").unwrap();
    // What the image has in /dev, the /dev tmpfs hides.
    std::fs::create_dir(bundle.rootfs().join("dev")).unwrap();
    std::fs::write(bundle.rootfs().join("dev/leftover"), "").unwrap();
    let dom = check_explain_page(&Runtime::new(), &browser, &bundle, None, "explain.png");
    let image = tree(by_id(&dom, "image"));
    assert_eq!(
        image.get(&format!("/{hostile}")).map(|e| e.attr("data-kind")),
        Some("image")
    );
    let instance = tree(by_id(&dom, "instance"));
    assert_eq!(instance["/dev/leftover"].attr("data-kind"), "hidden");
    assert_eq!(image["/dev/leftover"].attr("data-kind"), "image");
    // The image on disk has no /proc: scrun makes it, and the tree says so.
    assert!(dom.contains("data-path=\"/proc\" data-kind=\"mountpoint\""));
    assert!(!dom.contains("id=\"waterfall\""));
}

#[test]
fn explain_page_draws_the_trace_of_a_run() {
    let Some(browser) = Browser::new() else { return };
    let bundle = Bundle::new();
    bundle.set_args(&["/probe", "hello"]);
    let rt = Runtime::new();
    let id = unique_id("html-trace");
    let out = rt.run(&["run", "--trace", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", describe(&out));
    let trace = bundle.path().join("trace.txt");
    std::fs::write(&trace, &out.stderr).unwrap();
    assert_nothing_left(&rt, &id, bundle.path());

    let dom = check_explain_page(&rt, &browser, &bundle, Some(&trace), "explain-trace.png");
    let traced = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("trace "))
        .count();
    let rows = elements(by_id(&dom, "waterfall"), "tr");
    let rows: Vec<&Element> = rows.iter().filter(|r| r.attrs.contains_key("data-micros")).collect();
    assert_eq!(rows.len(), traced, "one waterfall row a traced line");
    // Every mount the init made is a traced step, linked to its plan step.
    let plan: Value = serde_json::from_slice(
        &rt.run_ok(&["explain", "--format", "json", bundle.path().to_str().unwrap()])
            .stdout,
    )
    .unwrap();
    for (i, step) in plan["steps"].as_array().unwrap().iter().enumerate() {
        if step["action"] == "mount" {
            let n = (i + 1).to_string();
            let row = rows.iter().find(|r| r.attr("data-step") == n);
            let row = row.unwrap_or_else(|| panic!("step {n} ({}) not in the waterfall", step["describe"]));
            assert!(
                row.attr("data-micros").parse::<u64>().is_ok(),
                "step {n} has no duration"
            );
        }
    }
}

#[test]
fn inspect_page_shows_the_live_container_in_a_browser() {
    let Some(browser) = Browser::new() else { return };
    let bundle = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id("html-inspect");
    rt.run_bg_ok(&["create", "--bundle", bundle.path().to_str().unwrap(), &id]);
    let report: Value = serde_json::from_slice(&rt.run_ok(&["inspect", "--format", "json", &id]).stdout).unwrap();
    let html = rt.run_ok(&["inspect", "--format", "html", &id]).stdout;
    let page = bundle.path().join("inspect.html");
    std::fs::write(&page, html).unwrap();
    let dom = browser.dom(&page);
    browser.screenshot(&page, "inspect.png");
    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, bundle.path());

    let ns = elements(by_id(&dom, "namespaces"), "tr");
    let ns: BTreeMap<&str, &str> = ns.iter().map(|r| (r.attr("data-ns"), r.attr("data-own"))).collect();
    for (kind, n) in report["namespaces"].as_object().unwrap() {
        assert_eq!(
            ns.get(kind.as_str()).copied(),
            Some(n["own"].to_string().as_str()),
            "{kind}"
        );
    }
    assert_eq!(ns.get("mnt"), Some(&"true"));

    let mounts = elements(by_id(&dom, "mounts"), "tr");
    let mounts: BTreeMap<&str, &Element> = mounts.iter().map(|m| (m.attr("data-path"), m)).collect();
    let entries = report["mounts"]["entries"].as_array().unwrap();
    for m in entries.iter().filter(|m| m["origin"] == "added") {
        let path = m["mount_point"].as_str().unwrap();
        let row = mounts.get(path).unwrap_or_else(|| panic!("mount {path} missing"));
        assert_eq!(row.attr("data-kind"), "mount", "{path}");
        assert_eq!(row.attr("data-origin"), m["why"].as_str().unwrap(), "{path}");
    }

    let seen = tree(by_id(&dom, "instance"));
    let added = report["files"]["added"].as_array().unwrap();
    let mut devices = 0;
    for f in added {
        let path = f["path"].as_str().unwrap();
        let e = seen
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from what the container sees"));
        let want = match f["kind"].as_str().unwrap() {
            "char" | "block" => "device",
            "symlink" => "symlink",
            "file" if f["mount"] == f["path"] => "file",
            _ if f["mount"] == f["path"] => "mount",
            _ => "dir",
        };
        assert_eq!(e.attr("data-kind"), want, "{path}");
        assert!(!e.attr("data-origin").is_empty(), "{path} has no origin");
        devices += (want == "device") as usize;
    }
    assert!(devices >= 6, "the default devices are in the page");
    for name in ["hostname", "hosts", "resolv.conf"] {
        let path = format!("/etc/{name}");
        assert_eq!(seen.get(&path).map(|e| e.attr("data-kind")), Some("file"), "{path}");
    }
}

//! A small HTML writer. Every text and attribute value goes through `escape`: file names from
//! the image, paths and strings from config.json and from a running container are hostile,
//! and none of them may open a tag or end an attribute in the page.

use std::fmt::Write;

#[derive(Default)]
pub struct Html {
    out: String,
}

/// `&`, `<`, `>` and both quotes as character references: safe in text and in a quoted
/// attribute alike.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
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
    out
}

impl Html {
    /// `<tag a="v" …>`. Tag and attribute names are the page's own literals; values are escaped.
    pub fn open(&mut self, tag: &'static str, attrs: &[(&'static str, &str)]) -> &mut Self {
        self.out.push('<');
        self.out.push_str(tag);
        for (name, value) in attrs {
            let _ = write!(self.out, " {name}=\"{}\"", escape(value));
        }
        self.out.push('>');
        self
    }

    pub fn close(&mut self, tag: &'static str) -> &mut Self {
        let _ = write!(self.out, "</{tag}>");
        self
    }

    pub fn text(&mut self, s: &str) -> &mut Self {
        self.out.push_str(&escape(s));
        self
    }

    /// An element holding only text.
    pub fn elem(&mut self, tag: &'static str, attrs: &[(&'static str, &str)], text: &str) -> &mut Self {
        self.open(tag, attrs).text(text).close(tag)
    }

    /// Markup the page itself holds (its style sheet), never data.
    pub fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.out.push_str(markup);
        self
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_stay_text() {
        let mut h = Html::default();
        h.elem(
            "li",
            &[("data-path", "/a\"><script>x</script>")],
            "<img src=x onerror=y>&'",
        );
        assert_eq!(
            h.finish(),
            "<li data-path=\"/a&quot;&gt;&lt;script&gt;x&lt;/script&gt;\">&lt;img src=x onerror=y&gt;&amp;&#39;</li>"
        );
    }
}

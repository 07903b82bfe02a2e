//! The HTML page: headings, text, figures, images, tables, links to data files; escaping and the inline style.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;

use crate::Result;

/// Escapes text for HTML element content and attribute values.
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

/// A figure of the page: inline SVG plus links to the files holding its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// HTML id (also the base name of the SVG file when one is written).
    pub id: String,
    pub svg: String,
    pub caption: String,
    /// Paths relative to the report of the data behind the figure (CSV / .npy) and of its SVG file, if written.
    pub files: Vec<String>,
}

/// What the page refers to, figure by figure.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureInfo {
    pub id: String,
    pub kind: &'static str,
    pub files: Vec<String>,
}

/// An HTML page being assembled.
#[derive(Debug, Clone, Default)]
pub struct Document {
    title: String,
    body: String,
    figures: Vec<FigureInfo>,
    links: Vec<String>,
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1380px;margin:2em auto;\
padding:0 1em;color:#222;line-height:1.45}h1{font-size:1.7em}h2{margin-top:2em;border-bottom:1px solid #ddd;\
padding-bottom:.2em}figure{display:inline-block;vertical-align:top;margin:.6em .8em .6em 0;max-width:100%}\
figure svg,figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.86em;color:#444;\
max-width:680px}.files{font-size:.8em;color:#666}.files a{color:#36c;margin-right:.6em}table{border-collapse:collapse;\
margin:.8em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f4f4f4}\
td:first-child,th:first-child{text-align:left}.note{background:#fff6dd;border-left:4px solid #e0b040;padding:.5em .8em;\
margin:.8em 0}.fail{background:#fde8e8;border-left:4px solid #d04040;padding:.5em .8em;margin:.8em 0}\
caption{caption-side:bottom;font-size:.85em;color:#555;text-align:left;padding-top:.3em}code{background:#f4f4f4;\
padding:0 .2em}img.pixelated{image-rendering:pixelated}";

/// The `<svg ...>` element of an SVG document (drops an XML declaration or doctype, which HTML does not allow).
fn svg_element(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

impl Document {
    pub fn new(title: &str) -> Self {
        Document { title: title.to_string(), ..Default::default() }
    }

    /// A heading (level 1–4).
    pub fn heading(&mut self, level: u8, text: &str, id: Option<&str>) {
        let l = level.clamp(1, 4);
        let id = id.map(|i| format!(" id=\"{}\"", escape(i))).unwrap_or_default();
        let _ = writeln!(self.body, "<h{l}{id}>{}</h{l}>", escape(text));
    }

    /// A paragraph of plain text (escaped).
    pub fn paragraph(&mut self, text: &str) {
        let _ = writeln!(self.body, "<p>{}</p>", escape(text));
    }

    /// A paragraph of trusted HTML (not escaped; the caller escapes any data it inserts).
    pub fn html(&mut self, html: &str) {
        self.body.push_str(html);
        self.body.push('\n');
    }

    /// A highlighted note (e.g. a stage left out and why).
    pub fn note(&mut self, text: &str) {
        let _ = writeln!(self.body, "<div class=\"note\">{}</div>", escape(text));
    }

    /// A highlighted failure message.
    pub fn failure(&mut self, text: &str) {
        let _ = writeln!(self.body, "<div class=\"fail\">{}</div>", escape(text));
    }

    fn file_links(&mut self, files: &[String]) -> String {
        if files.is_empty() {
            return String::new();
        }
        let mut s = String::from("<div class=\"files\">data: ");
        for f in files {
            let _ = write!(s, "<a href=\"{}\">{}</a>", escape(f), escape(f));
            self.links.push(f.clone());
        }
        s.push_str("</div>");
        s
    }

    /// Figures side by side (wrapping on narrow screens).
    pub fn figures(&mut self, figs: Vec<Figure>) {
        self.body.push_str("<div class=\"row\">\n");
        for f in figs {
            let links = self.file_links(&f.files);
            let _ = writeln!(
                self.body,
                "<figure id=\"{}\">{}<figcaption>{}{}</figcaption></figure>",
                escape(&f.id),
                svg_element(&f.svg),
                escape(&f.caption),
                links
            );
            self.figures.push(FigureInfo { id: f.id, kind: "svg", files: f.files });
        }
        self.body.push_str("</div>\n");
    }

    /// A PNG image embedded as a data URI, shown at `scale` times its pixel size without smoothing.
    pub fn png(&mut self, id: &str, png: &[u8], alt: &str, caption: &str, files: Vec<String>, width_px: Option<u32>) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(png);
        let links = self.file_links(&files);
        let width = width_px.map(|w| format!(" width=\"{w}\"")).unwrap_or_default();
        let _ = writeln!(
            self.body,
            "<figure id=\"{}\"><img class=\"pixelated\" alt=\"{}\"{width} src=\"data:image/png;base64,{b64}\">\
             <figcaption>{}{}</figcaption></figure>",
            escape(id),
            escape(alt),
            escape(caption),
            links
        );
        self.figures.push(FigureInfo { id: id.to_string(), kind: "png", files });
    }

    /// A table of text cells (escaped), with a caption and optional data files.
    pub fn table(&mut self, id: &str, caption: &str, header: &[&str], rows: &[Vec<String>], files: Vec<String>) {
        let links = self.file_links(&files);
        let mut s = format!("<table id=\"{}\"><caption>{}{}</caption><tr>", escape(id), escape(caption), links);
        for h in header {
            let _ = write!(s, "<th>{}</th>", escape(h));
        }
        s.push_str("</tr>");
        for r in rows {
            s.push_str("<tr>");
            for c in r {
                let _ = write!(s, "<td>{}</td>", escape(c));
            }
            s.push_str("</tr>");
        }
        s.push_str("</table>");
        self.body.push_str(&s);
        self.body.push('\n');
        self.figures.push(FigureInfo { id: id.to_string(), kind: "table", files });
    }

    /// Everything placed so far, in order.
    pub fn figure_list(&self) -> &[FigureInfo] {
        &self.figures
    }

    /// Every relative path the page links to (data files, SVG files), in order of appearance, without repeats.
    pub fn linked_files(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in &self.links {
            if !out.contains(l) {
                out.push(l.clone());
            }
        }
        out
    }

    /// The complete page.
    pub fn to_html(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" \
             content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n\
             <body>\n{}</body>\n</html>\n",
            escape(&self.title),
            self.body
        )
    }

    /// Writes the page atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        output::write_bytes(path, self.to_html().as_bytes())?;
        Ok(())
    }
}

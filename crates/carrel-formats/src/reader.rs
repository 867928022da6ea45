//! Reading an EPUB in the web reader: its spine, its table of contents, its
//! chapters as sanitized HTML, and its images and stylesheets.
//!
//! Addresses inside the book ("hrefs" here) are paths from the root of the
//! EPUB's zip, without `..` (`OEBPS/chapter1.xhtml`, `OEBPS/img/a.png`);
//! table-of-contents entries add a `#fragment`. Links and image sources in a
//! chapter's HTML stay as the book wrote them, relative to the chapter:
//! [`resolve_href`] turns them into book hrefs, so the server can rewrite
//! them to its own URLs.
//!
//! Chapters are cleaned with ammonia: no scripts, styles, event handlers,
//! forms, frames, objects or embeds survive; an image `src` must be a
//! relative reference inside the book; inline `style` attributes go through
//! [`sanitize_css`]. Resources are only images (raster and SVG) and
//! stylesheets; stylesheets are returned sanitized. SVG images are returned
//! as they are: serve them as images under the user-content CSP, never as
//! documents.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::Path;

use crate::bounds::Ctx;
use crate::epub::{Package, dir_of, first_image_ref, is_external, normalize, resolve, tags};
use crate::text::{decode_xml_bytes, html_to_text, percent_decode, squash};
use crate::xml::{self, Element};
use crate::zipsafe::SafeZip;
use crate::{FormatError, Limits};

/// At most this many table-of-contents entries are kept.
const MAX_TOC: usize = 10_000;

/// One document of the reading order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SpineItem {
    pub index: usize,
    /// The document's href in the book.
    pub href: String,
    pub media_type: String,
    /// False for documents outside the main reading order (`linear="no"`).
    pub linear: bool,
}

/// One entry of the table of contents.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TocEntry {
    pub title: String,
    /// A book href, with the fragment of the target if it has one.
    pub href: String,
    /// 0 for top-level entries.
    pub depth: usize,
}

/// One spine document, ready to show.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Chapter {
    pub title: Option<String>,
    /// The content of `<body>`, sanitized.
    pub body_html: String,
    /// The stylesheets the document links to, as book hrefs.
    pub stylesheets: Vec<String>,
    /// The document's own `<style>` elements, sanitized (empty if none).
    pub inline_css: String,
}

/// An EPUB opened for reading.
pub struct EpubBook {
    zip: SafeZip,
    limits: Limits,
    package: Package,
    spine: Vec<SpineItem>,
    toc: Vec<TocEntry>,
    /// Resources encrypted with more than font obfuscation (DRM).
    encrypted: HashSet<String>,
}

impl std::fmt::Debug for EpubBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpubBook")
            .field("opf", &self.package.opf_path)
            .field("spine", &self.spine.len())
            .field("toc", &self.toc.len())
            .finish()
    }
}

/// An href found in the document at `base` (a book href) as a book href,
/// fragment kept; `None` for external URLs and for paths that leave the book.
/// A bare fragment (`#note1`) resolves to `base` with that fragment.
pub fn resolve_href(base: &str, href: &str) -> Option<String> {
    let href = href.trim();
    if is_external(href) {
        return None;
    }
    let (path, fragment) = match href.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (href, None),
    };
    let base_path = base.split('#').next().unwrap_or(base);
    let path = if path.is_empty() {
        normalize(base_path)?
    } else {
        resolve(&dir_of(base_path), path)?
    };
    Some(match fragment {
        Some(f) if !f.is_empty() => format!("{path}#{f}"),
        _ => path,
    })
}

/// Refuses what is not a regular file, or is larger than `limits` allow.
fn regular_file_within(path: &Path, limits: &Limits) -> Result<(), FormatError> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(FormatError::NotAFile);
    }
    if meta.len() > limits.max_file_bytes {
        return Err(FormatError::TooLarge {
            size: meta.len(),
            max: limits.max_file_bytes,
        });
    }
    Ok(())
}

impl EpubBook {
    /// Opens the book: reads its package document, spine and table of
    /// contents (within `limits`).
    pub fn open(path: &Path, limits: &Limits) -> Result<EpubBook, FormatError> {
        regular_file_within(path, limits)?;
        let mut ctx = Ctx::new(limits);
        let mut zip = SafeZip::open(path, &mut ctx)?;
        let package = Package::open(&mut zip, &mut ctx)?;
        let spine: Vec<SpineItem> = package
            .spine
            .iter()
            .filter_map(|r| package.item(&r.idref).map(|item| (r, item)))
            .enumerate()
            .map(|(index, (r, item))| SpineItem {
                index,
                href: item.path.clone(),
                media_type: item.media_type.clone(),
                linear: r.linear,
            })
            .collect();
        let encrypted = encrypted_paths(&mut zip, limits);
        let mut book = EpubBook {
            zip,
            limits: limits.clone(),
            package,
            spine,
            toc: Vec::new(),
            encrypted,
        };
        book.toc = book.read_toc();
        Ok(book)
    }

    /// The reading order.
    pub fn spine(&self) -> Vec<SpineItem> {
        self.spine.clone()
    }

    /// The table of contents: the EPUB 3 navigation document's `toc` nav,
    /// else the EPUB 2 NCX; empty when the book has neither.
    pub fn toc(&self) -> Vec<TocEntry> {
        self.toc.clone()
    }

    /// The spine document at `index`, sanitized.
    pub fn chapter(&mut self, index: usize) -> Result<Chapter, FormatError> {
        let item = self
            .spine
            .get(index)
            .ok_or_else(|| FormatError::NotFound(format!("chapter {index}")))?
            .clone();
        if self.encrypted.contains(&item.href) {
            return Err(FormatError::Encrypted(format!(
                "{} is encrypted (DRM)",
                item.href
            )));
        }
        self.zip.reset_budget();
        let bytes = self
            .zip
            .read_name(&item.href, self.limits.max_xml_bytes as u64)?
            .ok_or_else(|| FormatError::NotFound(item.href.clone()))?;
        if item.media_type.contains("svg") {
            // An SVG spine item (a cover, a plate) is shown as an image of itself.
            let name = item.href.rsplit('/').next().unwrap_or(&item.href);
            return Ok(Chapter {
                title: None,
                body_html: format!(
                    "<div><img src=\"{}\" alt=\"\"></div>",
                    escape_attr(&percent_encode_path(name))
                ),
                stylesheets: Vec::new(),
                inline_css: String::new(),
            });
        }
        let doc = decode_xml_bytes(&bytes);
        Ok(chapter_of(&doc, &item.href))
    }

    /// Bytes this book holds in memory (see `SafeZip::resident_bytes`): a
    /// cache of open books weighs them by it.
    pub fn resident_bytes(&self) -> u64 {
        self.zip.resident_bytes()
    }

    /// An image, font or stylesheet of the book, with its media type.
    /// Stylesheets come back sanitized ([`sanitize_css`]); raster images
    /// must be what their bytes say (the type returned is the one read from
    /// the bytes); fonts are returned as `font/*`. Other resources, paths
    /// that leave the book and external URLs are refused.
    pub fn resource(&mut self, href: &str) -> Result<(Vec<u8>, String), FormatError> {
        self.zip.reset_budget();
        let href = href.trim();
        if is_external(href) {
            return Err(FormatError::BadPath(format!(
                "{href:.200} is not inside the book"
            )));
        }
        let path = href.split(['#', '?']).next().unwrap_or("");
        let path = normalize(&percent_decode(path))
            .ok_or_else(|| FormatError::BadPath(format!("{href:.200} leaves the book")))?;
        let index = self
            .zip
            .find(&path)
            .ok_or_else(|| FormatError::NotFound(path.clone()))?;
        let stored = self.zip.entries[index].name.clone();
        let declared = self
            .package
            .item_by_path(&stored)
            .map(|i| i.media_type.trim().to_ascii_lowercase())
            .filter(|m| !m.is_empty());
        let media_type = declared
            .as_deref()
            .and_then(font_media_type)
            .or_else(|| {
                media_type_of(&stored)
                    .starts_with("font/")
                    .then(|| media_type_of(&stored))
            })
            .map(str::to_owned)
            .or(declared)
            .unwrap_or_else(|| media_type_of(&stored).to_owned());
        if !servable(&media_type) {
            return Err(FormatError::Forbidden(format!(
                "{stored:.200} ({media_type:.80}) is not an image, a font or a stylesheet"
            )));
        }
        if self.encrypted.contains(&stored) {
            return Err(FormatError::Encrypted(format!(
                "{stored} is encrypted (DRM)"
            )));
        }
        let bytes = self.zip.read(index, self.limits.max_entry_bytes)?;
        if media_type == "text/css" {
            let css = decode_xml_bytes(&bytes);
            return Ok((sanitize_css(&css).into_bytes(), media_type));
        }
        if media_type.starts_with("image/") && media_type != "image/svg+xml" {
            let actual = raster_media_type(&bytes).ok_or_else(|| {
                FormatError::BadImage(format!("{stored:.200} is not a raster image"))
            })?;
            return Ok((bytes, actual.to_owned()));
        }
        Ok((bytes, media_type))
    }

    fn read_toc(&mut self) -> Vec<TocEntry> {
        let nav = self
            .package
            .manifest
            .iter()
            .find(|i| i.has_property("nav"))
            .map(|i| i.path.clone());
        if let Some(nav) = nav
            && let Some(root) = self.read_xml(&nav)
        {
            let toc = nav_toc(&root, &nav);
            if !toc.is_empty() {
                return toc;
            }
        }
        let ncx = self
            .package
            .spine_toc
            .as_deref()
            .and_then(|id| self.package.item(id))
            .or_else(|| {
                self.package
                    .manifest
                    .iter()
                    .find(|i| i.media_type == "application/x-dtbncx+xml")
            })
            .map(|i| i.path.clone());
        ncx.and_then(|ncx| self.read_xml(&ncx).map(|root| ncx_toc(&root, &ncx)))
            .unwrap_or_default()
    }

    fn read_xml(&mut self, path: &str) -> Option<Element> {
        let bytes = self
            .zip
            .read_name(path, self.limits.max_xml_bytes as u64)
            .ok()??;
        xml::parse(&bytes).ok().map(|p| p.root)
    }
}

/// A comic archive (CBZ) opened for reading page by page: its page images
/// in reading order (as [`crate::Format::Cbz`] extraction orders them).
pub struct ComicBook {
    zip: SafeZip,
    limits: Limits,
    /// (entry index, name), in reading order.
    pages: Vec<(usize, String)>,
}

impl std::fmt::Debug for ComicBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComicBook")
            .field("pages", &self.pages.len())
            .finish()
    }
}

impl ComicBook {
    /// Opens the archive and lists its pages (within `limits`); an archive
    /// without page images is [`FormatError::NotABook`].
    pub fn open(path: &Path, limits: &Limits) -> Result<ComicBook, FormatError> {
        regular_file_within(path, limits)?;
        let mut ctx = Ctx::new(limits);
        let zip = SafeZip::open(path, &mut ctx)?;
        ctx.check()?;
        let pages = crate::cbz::pages(&zip);
        if pages.is_empty() {
            return Err(FormatError::NotABook(
                "the archive holds no page images".into(),
            ));
        }
        Ok(ComicBook {
            zip,
            limits: limits.clone(),
            pages,
        })
    }

    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// The archive name of page `index` (0-based).
    pub fn page_name(&self, index: usize) -> Option<&str> {
        self.pages.get(index).map(|(_, n)| n.as_str())
    }

    /// Bytes this archive holds in memory (a cache weighs open books by it).
    pub fn resident_bytes(&self) -> u64 {
        self.zip.resident_bytes()
    }

    /// Page `index` (0-based) and its media type, read from its bytes: only
    /// raster images (JPEG, PNG, GIF, WebP, BMP) are returned.
    pub fn page(&mut self, index: usize) -> Result<(Vec<u8>, &'static str), FormatError> {
        let (entry, name) = self
            .pages
            .get(index)
            .ok_or_else(|| FormatError::NotFound(format!("page {}", index + 1)))?
            .clone();
        self.zip.reset_budget();
        let bytes = self.zip.read(entry, self.limits.max_entry_bytes)?;
        let media_type = raster_media_type(&bytes)
            .ok_or_else(|| FormatError::BadImage(format!("{name:.200} is not a raster image")))?;
        Ok((bytes, media_type))
    }
}

/// The paths encrypted with more than font obfuscation.
fn encrypted_paths(zip: &mut SafeZip, limits: &Limits) -> HashSet<String> {
    let Ok(Some(bytes)) = zip.read_name("META-INF/encryption.xml", limits.max_xml_bytes as u64)
    else {
        return HashSet::new();
    };
    let Ok(parsed) = xml::parse(&bytes) else {
        return HashSet::new();
    };
    parsed
        .root
        .descendants()
        .into_iter()
        .filter(|e| e.name == "EncryptedData")
        .filter(|e| {
            e.find("EncryptionMethod")
                .and_then(|m| m.attr("Algorithm"))
                .is_none_or(|a| !crate::epub::FONT_OBFUSCATION.contains(&a.trim()))
        })
        .filter_map(|e| e.find("CipherReference")?.attr("URI"))
        .filter_map(|uri| resolve("", uri))
        .collect()
}

fn toc_entry(title: &str, href: Option<&str>, base: &str, depth: usize) -> Option<TocEntry> {
    let title = squash(title);
    let href = href.and_then(|h| resolve_href(base, h))?;
    (!title.is_empty()).then_some(TocEntry { title, href, depth })
}

/// EPUB 3: the `nav` whose `epub:type` includes `toc` (else the first).
fn nav_toc(root: &Element, base: &str) -> Vec<TocEntry> {
    let navs: Vec<&Element> = root
        .descendants()
        .into_iter()
        .filter(|e| e.name == "nav")
        .collect();
    let Some(nav) = navs
        .iter()
        .find(|n| {
            n.attr("type")
                .is_some_and(|t| t.split_whitespace().any(|t| t == "toc"))
        })
        .or(navs.first())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(ol) = nav.find("ol") {
        nav_list(ol, base, 0, &mut out);
    }
    out
}

fn nav_list(ol: &Element, base: &str, depth: usize, out: &mut Vec<TocEntry>) {
    for li in ol.elements().filter(|e| e.name == "li") {
        if out.len() >= MAX_TOC {
            return;
        }
        let label = li.elements().find(|e| e.name == "a" || e.name == "span");
        if let Some(label) = label
            && let Some(entry) = toc_entry(&label.text(), label.attr("href"), base, depth)
        {
            out.push(entry);
        }
        if let Some(sub) = li.elements().find(|e| e.name == "ol") {
            nav_list(sub, base, depth + 1, out);
        }
    }
}

/// EPUB 2: the NCX's `navMap`.
fn ncx_toc(root: &Element, base: &str) -> Vec<TocEntry> {
    let mut out = Vec::new();
    if let Some(map) = root.find("navMap") {
        ncx_points(map, base, 0, &mut out);
    }
    out
}

fn ncx_points(parent: &Element, base: &str, depth: usize, out: &mut Vec<TocEntry>) {
    for point in parent.elements().filter(|e| e.name == "navPoint") {
        if out.len() >= MAX_TOC {
            return;
        }
        let label = point
            .child("navLabel")
            .and_then(|l| l.child("text"))
            .map(Element::text)
            .unwrap_or_default();
        let src = point.child("content").and_then(|c| c.attr("src"));
        if let Some(entry) = toc_entry(&label, src, base, depth) {
            out.push(entry);
        }
        ncx_points(point, base, depth + 1, out);
    }
}

fn media_type_of(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("bmp") => "image/bmp",
        Some("svg") => "image/svg+xml",
        Some("css") => "text/css",
        Some("otf") => "font/otf",
        Some("ttf") => "font/ttf",
        Some("woff") => "font/woff",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// The `font/*` type of a font's declared media type (EPUBs use several).
fn font_media_type(declared: &str) -> Option<&'static str> {
    Some(match declared {
        "font/otf"
        | "application/vnd.ms-opentype"
        | "application/x-font-opentype"
        | "application/font-sfnt" => "font/otf",
        "font/ttf" | "application/x-font-ttf" | "application/x-font-truetype" => "font/ttf",
        "font/woff" | "application/font-woff" | "application/x-font-woff" => "font/woff",
        "font/woff2" => "font/woff2",
        _ => return None,
    })
}

/// The media type of a raster image (JPEG, PNG, GIF, WebP, BMP) read from
/// its first bytes; `None` for anything else. Page images and book images
/// are served only as what their bytes are.
pub fn raster_media_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"BM") && bytes.len() > 26 {
        Some("image/bmp")
    } else {
        None
    }
}

fn servable(media_type: &str) -> bool {
    matches!(
        media_type,
        "image/jpeg"
            | "image/png"
            | "image/gif"
            | "image/webp"
            | "image/bmp"
            | "image/svg+xml"
            | "text/css"
            | "font/otf"
            | "font/ttf"
            | "font/woff"
            | "font/woff2"
    )
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn percent_encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Elements HTML parses without content: `<x/>` of any other is rewritten
/// `<x></x>` (XHTML's self-closing tags mean nothing to an HTML parser).
const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

fn expand_self_closing(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + html.len() / 16);
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let after = &rest[lt..];
        if after.starts_with("<!--") {
            let end = after.find("-->").map_or(after.len(), |e| e + 3);
            out.push_str(&after[..end]);
            rest = &after[end..];
            continue;
        }
        let Some(gt) = after.find('>') else {
            out.push_str(after);
            rest = "";
            break;
        };
        let tag = &after[..=gt];
        let name: String = tag[1..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, ':' | '-' | '_'))
            .collect();
        let local = xml::local(&name).to_ascii_lowercase();
        if !name.is_empty() && tag.ends_with("/>") && !VOID.contains(&local.as_str()) {
            out.push_str(tag[..tag.len() - 2].trim_end());
            out.push_str("></");
            out.push_str(&name);
            out.push('>');
        } else {
            out.push_str(tag);
        }
        rest = &after[gt + 1..];
    }
    out.push_str(rest);
    out
}

/// Inline `<svg>` blocks become the `<img>` of their first `<image>` (cover
/// pages), or go; ammonia does not keep SVG.
fn svg_to_img(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len());
    let mut at = 0;
    while let Some(start) = lower[at..].find("<svg").map(|s| s + at) {
        let Some(end) = lower[start..].find("</svg>").map(|e| start + e + 6) else {
            break;
        };
        out.push_str(&html[at..start]);
        if let Some(src) = first_image_ref(&html[start..end]) {
            out.push_str(&format!("<img src=\"{}\" alt=\"\">", escape_attr(&src)));
        }
        at = end;
    }
    out.push_str(&html[at..]);
    out
}

fn find_ci(hay: &str, lower_needle: &str) -> Option<usize> {
    hay.to_ascii_lowercase().find(lower_needle)
}

/// The text of the first `h1`–`h3` of a body.
fn first_heading(body: &str) -> Option<String> {
    let lower = body.to_ascii_lowercase();
    let (start, level) = ["<h1", "<h2", "<h3"]
        .iter()
        .filter_map(|t| lower.find(t).map(|p| (p, &t[1..])))
        .min()?;
    let open_end = start + body[start..].find('>')? + 1;
    let end = open_end + lower[open_end..].find(&format!("</{level}"))?;
    let text = squash(&html_to_text(&body[open_end..end]));
    (!text.is_empty()).then_some(text)
}

fn chapter_of(doc: &str, href: &str) -> Chapter {
    let base = dir_of(href);
    let head_end = find_ci(doc, "<body")
        .or_else(|| find_ci(doc, "</head>").map(|h| h + 7))
        .unwrap_or(0);
    let head = &doc[..head_end];
    let mut title = None;
    let mut stylesheets = Vec::new();
    let mut inline_css = String::new();
    for (name, tag) in tags(head) {
        if name == "link" {
            let attrs = crate::epub::tag_attrs(tag);
            let get = |k: &str| {
                attrs
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.as_str())
            };
            if get("rel").is_some_and(|r| r.to_ascii_lowercase().contains("stylesheet"))
                && let Some(path) = get("href").and_then(|h| resolve(&base, h))
                && !stylesheets.contains(&path)
            {
                stylesheets.push(path);
            }
        }
    }
    let lower_head = head.to_ascii_lowercase();
    if let Some(t) = lower_head.find("<title") {
        let open_end = head[t..].find('>').map(|e| t + e + 1);
        let close = lower_head[t..].find("</title>").map(|e| t + e);
        if let (Some(s), Some(e)) = (open_end, close)
            && s <= e
        {
            let text = html_to_text(&head[s..e]);
            if !text.is_empty() {
                title = Some(squash(&text));
            }
        }
    }
    let mut from = 0;
    while let Some(s) = lower_head[from..].find("<style").map(|s| s + from) {
        let Some(open_end) = head[s..].find('>').map(|e| s + e + 1) else {
            break;
        };
        let Some(close) = lower_head[open_end..]
            .find("</style>")
            .map(|e| open_end + e)
        else {
            break;
        };
        inline_css.push_str(&sanitize_css(&head[open_end..close]));
        from = close + 8;
    }

    let body = match find_ci(doc, "<body") {
        Some(b) => {
            let open_end = doc[b..].find('>').map_or(doc.len(), |e| b + e + 1);
            let close = doc
                .to_ascii_lowercase()
                .rfind("</body>")
                .filter(|&c| c >= open_end)
                .unwrap_or(doc.len());
            &doc[open_end..close]
        }
        // No <body>: everything after the head, if there is one.
        None => &doc[head_end..],
    };
    if title.is_none() {
        title = first_heading(body);
    }
    let prepared = svg_to_img(&expand_self_closing(body));
    Chapter {
        title,
        body_html: sanitize_html(&prepared),
        stylesheets,
        inline_css,
    }
}

/// A chapter body cleaned by ammonia (see the module documentation).
pub(crate) fn sanitize_html(html: &str) -> String {
    let mut b = ammonia::Builder::default();
    b.add_tags([
        "section", "main", "big", "tfoot", "dfn", "abbr", "cite", "sub", "sup", "small",
    ])
    .add_generic_attributes(["id", "class", "dir", "style", "epub:type", "role"])
    .add_tag_attributes("a", ["id", "name"])
    .add_tag_attributes("td", ["colspan", "rowspan"])
    .attribute_filter(|_element, attribute, value| match attribute {
        "src" => {
            let v = value.trim();
            (!v.is_empty() && !is_external(v) && !v.starts_with('/') && !v.starts_with('\\'))
                .then_some(Cow::Borrowed(value))
        }
        "style" => {
            let clean = sanitize_declarations(value);
            (!clean.is_empty()).then_some(Cow::Owned(clean))
        }
        _ => Some(Cow::Borrowed(value)),
    });
    b.clean(html).to_string()
}

// ---------------------------------------------------------------- CSS

/// A book's CSS made safe to serve: `@import` and other fetching or unknown
/// at-rules are dropped, and so is every declaration that loads from outside
/// the book (`url()` with a scheme, a network path or an absolute path;
/// `data:` URLs), runs code (`expression(`, `behavior`, `-moz-binding`,
/// `javascript:`) or pins content over the page (`position: fixed`).
/// Comments are dropped; escapes are decoded before anything is judged;
/// `<` is escaped so the result can sit in a `<style>` element.
pub fn sanitize_css(css: &str) -> String {
    let css = strip_css_comments(css);
    let mut out = String::new();
    css_rules(&css, &mut out, 0);
    out.replace('<', "\\3c ")
}

fn strip_css_comments(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut chars = css.char_indices().peekable();
    let mut quote: Option<char> = None;
    while let Some((i, c)) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == '\\' {
                    if let Some((_, n)) = chars.next() {
                        out.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '/' && css[i..].starts_with("/*") => {
                chars.next();
                let mut prev = ' ';
                for (_, n) in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
                out.push(' ');
            }
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

/// The byte index of the first of `targets` outside strings, parentheses
/// and braces.
fn find_top(s: &str, targets: &[char]) -> Option<(usize, char)> {
    let (mut parens, mut braces) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        if parens == 0 && braces == 0 && targets.contains(&c) {
            return Some((i, c));
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '(' => parens += 1,
            ')' => parens = parens.saturating_sub(1),
            '{' => braces += 1,
            '}' => braces = braces.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The index of the `}` closing the `{` at `open`.
fn matching_brace(s: &str, open: usize) -> Option<usize> {
    let inner = &s[open + 1..];
    find_top(inner, &['}']).map(|(i, _)| open + 1 + i)
}

fn at_rule_name(prelude: &str) -> Option<String> {
    let rest = prelude.strip_prefix('@')?;
    Some(css_normalize(
        &rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '\\')
            .collect::<String>(),
    ))
}

fn css_rules(s: &str, out: &mut String, depth: usize) {
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return;
        }
        let Some((i, c)) = find_top(rest, &['{', ';', '}']) else {
            return;
        };
        let prelude = rest[..i].trim();
        if c != '{' {
            // A statement at-rule, or stray text.
            if let Some(name) = at_rule_name(prelude)
                && (name == "charset" || name == "namespace")
                && css_safe_text(prelude)
            {
                out.push_str(prelude);
                out.push_str(";\n");
            }
            rest = &rest[i + 1..];
            continue;
        }
        let Some(close) = matching_brace(rest, i) else {
            return;
        };
        let body = &rest[i + 1..close];
        rest = &rest[close + 1..];
        let safe = !prelude.is_empty() && css_safe_text(prelude);
        match at_rule_name(prelude).as_deref() {
            None | Some("font-face" | "page") if safe => {
                out.push_str(prelude);
                out.push_str(" {");
                out.push_str(&sanitize_declarations(body));
                out.push_str("}\n");
            }
            Some(n)
                if safe
                    && depth < 8
                    && (matches!(n, "media" | "supports" | "layer" | "container")
                        || n.ends_with("keyframes")) =>
            {
                out.push_str(prelude);
                out.push_str(" {\n");
                css_rules(body, out, depth + 1);
                out.push_str("}\n");
            }
            _ => {} // @document, unknown at-rules, unsafe preludes
        }
    }
}

/// CSS text with escapes decoded, whitespace removed and lower-cased: the
/// form in which it is judged.
fn css_normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let mut hex = String::new();
            while hex.len() < 6 && chars.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                hex.push(chars.next().unwrap_or('0'));
            }
            if hex.is_empty() {
                if let Some(n) = chars.next() {
                    out.extend(n.to_lowercase());
                }
            } else {
                if chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                let decoded = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}');
                out.extend(decoded.to_lowercase());
            }
        } else if !c.is_whitespace() && !c.is_control() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Text that may stand in a selector or an at-rule prelude.
fn css_safe_text(s: &str) -> bool {
    let n = css_normalize(s);
    !(n.contains("url(")
        || n.contains("expression(")
        || n.contains("javascript:")
        || n.contains('\\'))
}

/// The declarations of a block (or a `style` attribute) that are safe.
pub(crate) fn sanitize_declarations(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let (decl, next) = match find_top(rest, &[';']) {
            Some((i, _)) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let decl = decl.trim();
        if !decl.is_empty() && css_safe_declaration(decl) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(decl);
            out.push(';');
        }
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    out
}

fn css_safe_declaration(decl: &str) -> bool {
    if decl.contains(['{', '}', '<']) {
        return false;
    }
    let n = css_normalize(decl);
    let Some((property, value)) = n.split_once(':') else {
        return false;
    };
    if matches!(
        property,
        "behavior" | "-ms-behavior" | "-moz-binding" | "binding"
    ) || property.is_empty()
    {
        return false;
    }
    if property == "position" && value.starts_with("fixed") {
        return false;
    }
    if [
        "expression(",
        "javascript:",
        "vbscript:",
        "@import",
        "-moz-binding",
    ]
    .iter()
    .any(|bad| value.contains(bad))
    {
        return false;
    }
    // Every url() must be a relative reference inside the book; image-set()
    // and src() take bare strings that are URLs too.
    let mut at = 0;
    while let Some(p) = value[at..].find("url(").map(|p| p + at) {
        let arg = value[p + 4..]
            .split(')')
            .next()
            .unwrap_or("")
            .trim_matches(|c| c == '"' || c == '\'');
        if arg.is_empty() || is_external(arg) || arg.starts_with('/') {
            return false;
        }
        at = p + 4;
    }
    if (value.contains("image-set(") || value.contains("src(")) && value.contains(['"', '\'']) {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn css_is_made_safe() {
        let css = r#"
            @charset "utf-8";
            @import url("http://evil.example/x.css");
            @import 'local.css';
            /* a comment with url(http://x) */
            body { color: red; background: url(../img/bg.png); position: fixed }
            .a { background: url( "https://evil.example/track.gif" ) ; margin: 0 }
            .b { width: expression(alert(1)); behavior: url(x.htc); -moz-binding: url(x.xml#b) }
            .c { background: u\72l(//evil.example/a.png); color: blue }
            .d { position : FIXED !important; top: 0 }
            .e { scroll-behavior: smooth; background-image: url(data:image/png;base64,AAAA) }
            @media screen and (min-width: 30em) { p { font-size: 1.1em; background: url(/abs.png) } }
            @font-face { font-family: X; src: url(fonts/x.otf) }
            @-moz-document url-prefix() { p { color: red } }
            p::after { content: "</style><script>" }
        "#;
        let out = sanitize_css(css);
        for bad in [
            "evil",
            "@import",
            "expression",
            "behavior: url",
            "binding",
            "fixed",
            "FIXED",
            "/abs.png",
            "data:",
            "url-prefix",
            "<",
        ] {
            assert!(!out.contains(bad), "{bad} in:\n{out}");
        }
        for good in [
            "@charset \"utf-8\";",
            "color: red;",
            "url(../img/bg.png)",
            "margin: 0;",
            "color: blue;",
            "top: 0;",
            "scroll-behavior: smooth;",
            "@media screen and (min-width: 30em)",
            "font-size: 1.1em;",
            "src: url(fonts/x.otf);",
        ] {
            assert!(out.contains(good), "{good} missing from:\n{out}");
        }
        assert_eq!(sanitize_css("p { color: red"), "");
        assert_eq!(sanitize_css("}}}{{{"), "");
        let deep = format!("{}p{{}}{}", "@media x {".repeat(10_000), "}".repeat(10_000));
        let _ = sanitize_css(&deep);
    }

    #[test]
    fn html_is_made_safe() {
        let html = r##"<p onclick="x()" class="c" id="p1" style="color: red; background: url(http://evil/x)">Hi
            <a href="ch2.xhtml#s1">next</a> <a href="https://example.org/">web</a>
            <a href="javascript:alert(1)">js</a></p>
            <script>alert(1)</script><style>p{}</style><iframe src="x.html"></iframe>
            <object data="x.swf"></object><form action="/x"><input name="q"></form>
            <img src="../images/a.png" alt="a"><img src="http://evil/track.gif"><img src="data:image/png;base64,AA">
            <img src="/etc/passwd">"##;
        let out = sanitize_html(html);
        for bad in [
            "onclick",
            "script",
            "alert",
            "iframe",
            "object",
            "<form",
            "<input",
            "evil",
            "data:",
            "/etc/passwd",
            "<style",
        ] {
            assert!(!out.contains(bad), "{bad} in {out}");
        }
        for good in [
            r#"href="ch2.xhtml#s1""#,
            r#"src="../images/a.png""#,
            r#"class="c""#,
            r#"id="p1""#,
            "color: red;",
            r#"href="https://example.org/""#,
        ] {
            assert!(out.contains(good), "{good} missing from {out}");
        }
    }

    #[test]
    fn xhtml_is_prepared() {
        assert_eq!(
            expand_self_closing("<a id=\"x\"/><br/><p/>"),
            "<a id=\"x\"></a><br/><p></p>"
        );
        assert_eq!(
            svg_to_img(r#"<div><svg xmlns:xlink="x"><image xlink:href="c.jpg"/></svg></div>"#),
            r#"<div><img src="c.jpg" alt=""></div>"#
        );
        let c = chapter_of(
            r#"<?xml version="1.0"?><html><head><title>One</title><link rel="stylesheet" href="../css/a.css"/><style>p { color: red; position: fixed }</style></head><body class="x"><h1>Chapter</h1><p>Text</p></body></html>"#,
            "OEBPS/text/ch1.xhtml",
        );
        assert_eq!(c.title.as_deref(), Some("One"));
        assert_eq!(c.stylesheets, ["OEBPS/css/a.css"]);
        assert!(c.inline_css.contains("color: red;") && !c.inline_css.contains("fixed"));
        assert_eq!(c.body_html, "<h1>Chapter</h1><p>Text</p>");
        let c = chapter_of("<p>No body</p><h2>Heading</h2>", "a.html");
        assert_eq!(c.title.as_deref(), Some("Heading"));
        assert_eq!(c.body_html, "<p>No body</p><h2>Heading</h2>");
    }

    #[test]
    fn hrefs() {
        assert_eq!(
            resolve_href("OEBPS/t/ch1.xhtml", "ch2.xhtml#a").as_deref(),
            Some("OEBPS/t/ch2.xhtml#a")
        );
        assert_eq!(
            resolve_href("OEBPS/t/ch1.xhtml", "#n1").as_deref(),
            Some("OEBPS/t/ch1.xhtml#n1")
        );
        assert_eq!(
            resolve_href("OEBPS/t/ch1.xhtml", "../img/a%20b.png").as_deref(),
            Some("OEBPS/img/a b.png")
        );
        assert_eq!(resolve_href("OEBPS/ch1.xhtml", "../../x"), None);
        assert_eq!(resolve_href("OEBPS/ch1.xhtml", "http://x/"), None);
    }
}

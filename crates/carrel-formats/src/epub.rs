//! EPUB 2 and 3: the package document (OPF) found through
//! `META-INF/container.xml`, its Dublin Core metadata (with EPUB 3
//! `refines` and calibre's series), the cover, and DRM.

use std::collections::HashMap;

use crate::bounds::Ctx;
use crate::meta::Meta;
use crate::text::percent_decode;
use crate::xml::{self, Element};
use crate::zipsafe::SafeZip;
use crate::{Format, FormatError, Found, RawCover};

/// Font obfuscation (IDPF, Adobe): not DRM.
pub(crate) const FONT_OBFUSCATION: [&str; 2] = [
    "http://www.idpf.org/2008/embedding",
    "http://ns.adobe.com/pdf/enc#RC",
];

/// One manifest item, its href resolved to a path in the zip.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub id: String,
    pub path: String,
    pub media_type: String,
    pub properties: String,
}

impl Item {
    pub fn has_property(&self, p: &str) -> bool {
        self.properties.split_whitespace().any(|x| x == p)
    }

    pub fn is_image(&self) -> bool {
        self.media_type.starts_with("image/")
    }

    pub fn is_xhtml(&self) -> bool {
        matches!(
            self.media_type.as_str(),
            "application/xhtml+xml" | "text/html" | "application/xml" | "text/x-oeb1-document"
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Itemref {
    pub idref: String,
    pub linear: bool,
}

/// The package document, read.
pub(crate) struct Package {
    pub opf_path: String,
    pub root: Element,
    pub manifest: Vec<Item>,
    pub spine: Vec<Itemref>,
    /// The NCX's manifest id (EPUB 2 `<spine toc=…>`).
    pub spine_toc: Option<String>,
    /// Guide references: (type, path in the zip).
    pub guide: Vec<(String, String)>,
}

impl Package {
    /// Finds and parses the OPF (problems recorded on `ctx`).
    pub fn open(zip: &mut SafeZip, ctx: &mut Ctx) -> Result<Package, FormatError> {
        let opf_path = find_opf(zip, ctx)?;
        ctx.check()?;
        let bytes = zip
            .read_name(&opf_path, ctx.limits.max_xml_bytes as u64)?
            .ok_or_else(|| FormatError::NotABook("no OPF package document".into()))?;
        let parsed = xml::parse(&bytes)
            .map_err(|e| FormatError::Malformed(format!("the OPF {opf_path:?} is not XML: {e}")))?;
        if let Some(e) = parsed.error {
            ctx.problem("bad_xml", format!("{opf_path}: {e}"));
        }
        let root = parsed.root;
        if root.name != "package" && root.find("metadata").is_none() {
            return Err(FormatError::NotABook(format!(
                "{opf_path:?} is not a package document"
            )));
        }
        let base = dir_of(&opf_path);
        let mut manifest = Vec::new();
        if let Some(m) = root.find("manifest") {
            for item in m.elements().filter(|e| e.name == "item") {
                let (Some(id), Some(href)) = (item.attr("id"), item.attr("href")) else {
                    continue;
                };
                let Some(path) = resolve(&base, href) else {
                    continue;
                };
                manifest.push(Item {
                    id: id.trim().to_owned(),
                    path,
                    media_type: item
                        .attr("media-type")
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase(),
                    properties: item.attr("properties").unwrap_or("").to_owned(),
                });
            }
        }
        let spine_el = root.find("spine");
        let spine = spine_el
            .map(|s| {
                s.elements()
                    .filter(|e| e.name == "itemref")
                    .filter_map(|e| {
                        Some(Itemref {
                            idref: e.attr("idref")?.trim().to_owned(),
                            linear: e.attr("linear").is_none_or(|l| l.trim() != "no"),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let spine_toc = spine_el
            .and_then(|s| s.attr("toc"))
            .map(|t| t.trim().to_owned());
        let guide = root
            .find("guide")
            .map(|g| {
                g.elements()
                    .filter(|e| e.name == "reference")
                    .filter_map(|r| {
                        Some((
                            r.attr("type")?.trim().to_ascii_lowercase(),
                            resolve(&base, r.attr("href")?)?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Package {
            opf_path,
            root,
            manifest,
            spine,
            spine_toc,
            guide,
        })
    }

    pub fn item(&self, id: &str) -> Option<&Item> {
        self.manifest.iter().find(|i| i.id == id)
    }

    pub fn item_by_path(&self, path: &str) -> Option<&Item> {
        self.manifest.iter().find(|i| i.path == path)
    }
}

/// The OPF's path: from the container, else the shallowest `.opf` in the zip.
fn find_opf(zip: &mut SafeZip, ctx: &mut Ctx) -> Result<String, FormatError> {
    let max = ctx.limits.max_xml_bytes as u64;
    match zip.read_name("META-INF/container.xml", max) {
        Ok(Some(bytes)) => match xml::parse(&bytes) {
            Ok(parsed) => {
                let rootfiles: Vec<&Element> = parsed
                    .root
                    .descendants()
                    .into_iter()
                    .filter(|e| e.name == "rootfile")
                    .collect();
                let chosen = rootfiles
                    .iter()
                    .find(|r| r.attr("media-type") == Some("application/oebps-package+xml"))
                    .or(rootfiles.first())
                    .and_then(|r| r.attr("full-path"));
                match chosen.and_then(|p| resolve("", p)) {
                    Some(path) => match zip.find(&path) {
                        Some(i) => return Ok(zip.entries[i].name.clone()),
                        None => ctx.problem(
                            "missing_opf",
                            format!("the container names {path:?}, which is not in the file"),
                        ),
                    },
                    None => ctx.problem("bad_container", "the container names no package document"),
                }
            }
            Err(e) => ctx.problem("bad_xml", format!("META-INF/container.xml: {e}")),
        },
        Ok(None) => ctx.problem("missing_container", "no META-INF/container.xml"),
        Err(e) => ctx.problem("bad_container", format!("META-INF/container.xml: {e}")),
    }
    zip.content_entries()
        .filter(|(_, e)| e.name.to_ascii_lowercase().ends_with(".opf"))
        .min_by_key(|(_, e)| (e.name.matches('/').count(), e.name.clone()))
        .map(|(_, e)| e.name.clone())
        .ok_or_else(|| FormatError::NotABook("no OPF package document".into()))
}

/// The folder part of a zip path, with its trailing slash ("" at the root).
pub(crate) fn dir_of(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => path[..=i].to_owned(),
        None => String::new(),
    }
}

/// An href (relative to `base`, a folder ending in `/` or "") as a zip path:
/// fragment dropped, `%XX` decoded, `.` and `..` resolved. `None` for
/// external URLs and for paths that would leave the book.
pub(crate) fn resolve(base: &str, href: &str) -> Option<String> {
    let href = href.trim();
    let href = href.split('#').next().unwrap_or("");
    let href = href.split('?').next().unwrap_or("");
    if href.is_empty() || is_external(href) {
        return None;
    }
    let href = percent_decode(href);
    let joined = match href.strip_prefix('/') {
        Some(abs) => abs.to_owned(),
        None => format!("{base}{href}"),
    };
    normalize(&joined)
}

/// Whether an href names something outside the book (a URL with a scheme,
/// or a network path).
pub(crate) fn is_external(href: &str) -> bool {
    let h = href.trim();
    if h.starts_with("//") || h.starts_with("\\\\") {
        return true;
    }
    match h.find(':') {
        Some(i) => {
            let scheme = &h[..i];
            !scheme.is_empty()
                && !scheme.contains('/')
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// `a/./b/../c` → `a/c`; `None` when `..` would climb out of the root.
pub(crate) fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split(['/', '\\']) {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Attributes of one tag's text (`img src="a.jpg" alt='x'`), values
/// unescaped.
pub(crate) fn tag_attrs(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = tag.as_bytes();
    let mut i = 0;
    // Skip the tag name.
    while i < b.len() && !b[i].is_ascii_whitespace() {
        i += 1;
    }
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        let name = &tag[start..i];
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let value = if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let vs = i + 1;
                i = vs;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                let v = &tag[vs..i.min(b.len())];
                i += 1;
                v
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                &tag[vs..i]
            };
            if !name.is_empty() {
                out.push((name.to_owned(), crate::text::unescape(value).into_owned()));
            }
        } else if !name.is_empty() {
            out.push((name.to_owned(), String::new()));
        } else {
            i += 1;
        }
    }
    out
}

/// The tags of an HTML or XHTML document: (lower-case local name, the tag's
/// text without `<` and `>`), comments and scripts skipped.
pub(crate) fn tags(html: &str) -> impl Iterator<Item = (String, &str)> {
    let mut rest = html;
    std::iter::from_fn(move || {
        loop {
            let lt = rest.find('<')?;
            let after = &rest[lt + 1..];
            if let Some(c) = after.strip_prefix("!--") {
                rest = c.find("-->").map(|e| &c[e + 3..]).unwrap_or("");
                continue;
            }
            let end = after.find('>')?;
            let tag = &after[..end];
            rest = &after[end + 1..];
            let name: String = tag
                .chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, ':' | '-' | '_'))
                .collect();
            if name.is_empty() {
                continue;
            }
            let local = xml::local(&name).to_ascii_lowercase();
            return Some((local, tag));
        }
    })
}

/// The first image an (X)HTML page shows: `<img src>` or SVG
/// `<image xlink:href>`.
pub(crate) fn first_image_ref(html: &str) -> Option<String> {
    for (name, tag) in tags(html) {
        let wanted = match name.as_str() {
            "img" => "src",
            "image" => "href",
            _ => continue,
        };
        if let Some((_, v)) = tag_attrs(tag)
            .into_iter()
            .find(|(k, _)| xml::local(k).eq_ignore_ascii_case(wanted))
            && !v.trim().is_empty()
        {
            return Some(v);
        }
    }
    None
}

/// Reads the metadata, cover and DRM of an EPUB.
pub(crate) fn extract(zip: &mut SafeZip, ctx: &mut Ctx) -> Result<Found, FormatError> {
    let package = Package::open(zip, ctx)?;
    let meta = read_metadata(&package.root, ctx);
    if meta.title.is_none() {
        ctx.check()?;
    }
    let encrypted = !ctx.out_of_time() && drm(zip, ctx);
    let cover = if ctx.out_of_time() {
        None
    } else {
        find_cover(zip, &package, ctx)
    };
    Ok(Found {
        format: Format::Epub,
        meta,
        cover,
        pages: None,
        encrypted,
    })
}

/// EPUB 3 `refines`: (id → [(property, value)]).
struct Refines(HashMap<String, Vec<(String, String)>>);

impl Refines {
    fn of(metadata: &[&Element]) -> Refines {
        let mut map: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for e in metadata.iter().filter(|e| e.name == "meta") {
            if let (Some(r), Some(p)) = (e.attr("refines"), e.attr("property")) {
                map.entry(r.trim().trim_start_matches('#').to_owned())
                    .or_default()
                    .push((p.trim().to_owned(), e.trimmed_text().unwrap_or_default()));
            }
        }
        Refines(map)
    }

    fn all<'a>(
        &'a self,
        id: Option<&str>,
        property: &'a str,
    ) -> impl Iterator<Item = &'a str> + use<'a> {
        id.and_then(|id| self.0.get(id.trim()))
            .into_iter()
            .flatten()
            .filter(move |(p, _)| p == property)
            .map(|(_, v)| v.as_str())
    }

    fn first(&self, id: Option<&str>, property: &str) -> Option<String> {
        self.all(id, property).next().map(str::to_owned)
    }
}

pub(crate) fn read_metadata(root: &Element, ctx: &mut Ctx) -> Meta {
    let mut meta = Meta::default();
    let Some(metadata) = root.find("metadata") else {
        ctx.problem("bad_opf", "the package document has no metadata");
        return meta;
    };
    let elems: Vec<&Element> = metadata.descendants().into_iter().skip(1).collect();
    let refines = Refines::of(&elems);
    let named = |name: &'static str| elems.iter().copied().filter(move |e| e.name == name);

    let titles: Vec<&Element> = named("title").collect();
    let title_type = |t: &Element| refines.first(t.attr("id"), "title-type");
    let main = titles
        .iter()
        .find(|t| title_type(t).as_deref() == Some("main"))
        .or_else(|| titles.iter().find(|t| title_type(t).is_none()))
        .or(titles.first());
    if let Some(t) = main {
        meta.set_title(&t.text());
    }
    if let Some(t) = titles
        .iter()
        .find(|t| title_type(t).as_deref() == Some("subtitle"))
    {
        meta.set_subtitle(&t.text());
    }

    for c in named("creator") {
        let id = c.attr("id");
        let roles: Vec<String> = c
            .attr("role")
            .into_iter()
            .chain(refines.all(id, "role"))
            .map(|r| r.trim().to_ascii_lowercase())
            .collect();
        if !roles.is_empty() && !roles.iter().any(|r| r == "aut") {
            continue;
        }
        let sort = c
            .attr("file-as")
            .map(str::to_owned)
            .or_else(|| refines.first(id, "file-as"));
        meta.add_author(&c.text(), sort.as_deref());
    }
    if let Some(l) = named("language").find_map(Element::trimmed_text) {
        meta.set_language(&l);
    }
    if let Some(p) = named("publisher").find_map(Element::trimmed_text) {
        meta.set_publisher(&p);
    }
    let dates: Vec<&Element> = named("date").collect();
    let date = dates
        .iter()
        .find(|d| {
            d.attr("event")
                .is_some_and(|e| e.to_ascii_lowercase().contains("publication"))
        })
        .or_else(|| dates.iter().find(|d| d.attr("event").is_none()))
        .or(dates.first());
    if let Some(d) = date {
        meta.set_year_from(&d.text());
    }
    if let Some(d) = named("description")
        .map(Element::text)
        .find(|t| !t.trim().is_empty())
    {
        meta.set_description_html(&d);
    }
    for s in named("subject") {
        meta.add_subject(&s.text());
    }
    for i in named("identifier") {
        let scheme = i
            .attr("scheme")
            .map(str::to_owned)
            .or_else(|| refines.first(i.attr("id"), "identifier-type"));
        meta.add_identifier(&i.text(), scheme.as_deref(), ctx);
    }

    // Series: EPUB 3 collections, then calibre's meta.
    let collections: Vec<(&Element, Option<String>)> = named("meta")
        .filter(|m| m.attr("property") == Some("belongs-to-collection"))
        .map(|m| (m, refines.first(m.attr("id"), "collection-type")))
        .collect();
    let series = collections
        .iter()
        .find(|(_, t)| t.as_deref() == Some("series"))
        .or_else(|| collections.iter().find(|(_, t)| t.is_none()));
    if let Some((m, _)) = series {
        let pos = refines.first(m.attr("id"), "group-position");
        meta.set_series(&m.text(), pos.as_deref());
    }
    let calibre = |name: &str| {
        named("meta")
            .find(|m| m.attr("name") == Some(name))
            .and_then(|m| m.attr("content"))
            .map(str::to_owned)
    };
    if let Some(s) = calibre("calibre:series") {
        meta.set_series(&s, calibre("calibre:series_index").as_deref());
    }
    meta
}

/// Whether `META-INF/encryption.xml` encrypts anything with more than font
/// obfuscation.
fn drm(zip: &mut SafeZip, ctx: &mut Ctx) -> bool {
    let bytes = match zip.read_name("META-INF/encryption.xml", ctx.limits.max_xml_bytes as u64) {
        Ok(Some(b)) => b,
        Ok(None) => return false,
        Err(e) => {
            ctx.problem("bad_encryption_xml", e.to_string());
            return false;
        }
    };
    let parsed = match xml::parse(&bytes) {
        Ok(p) => p,
        Err(e) => {
            ctx.problem("bad_xml", format!("META-INF/encryption.xml: {e}"));
            return false;
        }
    };
    let algorithms: Vec<&str> = parsed
        .root
        .descendants()
        .into_iter()
        .filter(|e| e.name == "EncryptionMethod")
        .filter_map(|e| e.attr("Algorithm"))
        .filter(|a| !FONT_OBFUSCATION.contains(&a.trim()))
        .collect();
    if algorithms.is_empty() {
        return false;
    }
    ctx.problem(
        "encrypted",
        format!(
            "the book is encrypted (DRM: {} resources, {})",
            algorithms.len(),
            crate::meta::clip_owned(algorithms[0], 100)
        ),
    );
    true
}

/// A cover candidate: a path in the zip, and whether it is a page that
/// shows the image rather than the image.
enum Candidate {
    Image(String, Option<String>),
    Page(String),
}

fn find_cover(zip: &mut SafeZip, package: &Package, ctx: &mut Ctx) -> Option<RawCover> {
    let meta_cover: Option<String> = package.root.find("metadata").and_then(|m| {
        m.descendants()
            .into_iter()
            .find(|e| e.name == "meta" && e.attr("name") == Some("cover"))
            .and_then(|e| e.attr("content"))
            .map(|c| c.trim().to_owned())
    });
    let as_candidate = |item: &Item| {
        if item.is_xhtml() {
            Candidate::Page(item.path.clone())
        } else {
            Candidate::Image(item.path.clone(), Some(item.media_type.clone()))
        }
    };
    let mut candidates: Vec<Candidate> = Vec::new();
    // 1. EPUB 3: properties="cover-image".
    for item in package
        .manifest
        .iter()
        .filter(|i| i.has_property("cover-image"))
    {
        candidates.push(Candidate::Image(
            item.path.clone(),
            Some(item.media_type.clone()),
        ));
    }
    // 2. EPUB 2: <meta name="cover" content="id">.
    if let Some(c) = &meta_cover {
        match package.item(c) {
            Some(item) => candidates.push(as_candidate(item)),
            None => {
                if let Some(path) = resolve(&dir_of(&package.opf_path), c)
                    && zip.find(&path).is_some()
                {
                    candidates.push(Candidate::Image(path, None));
                }
            }
        }
    }
    // 3. The guide's cover reference (often a page showing the image).
    for (kind, path) in &package.guide {
        if kind == "cover" || kind == "other.ms-coverimage-standard" {
            match package.item_by_path(path) {
                Some(item) => candidates.push(as_candidate(item)),
                None if crate::sniff::has_image_extension(path) => {
                    candidates.push(Candidate::Image(path.clone(), None));
                }
                None => candidates.push(Candidate::Page(path.clone())),
            }
        }
    }
    // 4. An image, then a page, whose id or name says "cover".
    let says_cover =
        |i: &Item| i.id.to_lowercase().contains("cover") || i.path.to_lowercase().contains("cover");
    for item in package
        .manifest
        .iter()
        .filter(|i| i.is_image() && says_cover(i))
    {
        candidates.push(Candidate::Image(
            item.path.clone(),
            Some(item.media_type.clone()),
        ));
    }
    for item in package
        .manifest
        .iter()
        .filter(|i| i.is_xhtml() && says_cover(i))
    {
        candidates.push(Candidate::Page(item.path.clone()));
    }

    let mut tried: Vec<String> = Vec::new();
    for candidate in candidates.into_iter().take(16) {
        if ctx.out_of_time() {
            return None;
        }
        let (path, declared) = match candidate {
            Candidate::Image(p, d) => (p, d),
            Candidate::Page(page) => {
                let Ok(Some(bytes)) = zip.read_name(&page, ctx.limits.max_xml_bytes as u64) else {
                    continue;
                };
                let html = crate::text::decode_xml_bytes(&bytes);
                let Some(src) = first_image_ref(&html) else {
                    continue;
                };
                let Some(path) = resolve(&dir_of(&page), &src) else {
                    continue;
                };
                let declared = package.item_by_path(&path).map(|i| i.media_type.clone());
                (path, declared)
            }
        };
        if tried.contains(&path) {
            continue;
        }
        tried.push(path.clone());
        match zip.read_name(&path, ctx.limits.max_entry_bytes) {
            Ok(Some(bytes)) => match crate::thumb::probe(&bytes, declared.as_deref()) {
                Ok(_) => return Some(RawCover { bytes, declared }),
                Err(e) => ctx.problem("bad_cover", format!("{path}: {e}")),
            },
            Ok(None) => ctx.problem("bad_cover", format!("{path}: not in the file")),
            Err(e) => ctx.problem(
                if e.code() == "zip_bomb" {
                    "zip_bomb"
                } else {
                    "bad_cover"
                },
                format!("{path}: {e}"),
            ),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_resolve_inside_the_book() {
        assert_eq!(
            resolve("OEBPS/", "a%20b.html#x").as_deref(),
            Some("OEBPS/a b.html")
        );
        assert_eq!(
            resolve("OEBPS/text/", "../img/c.jpg").as_deref(),
            Some("OEBPS/img/c.jpg")
        );
        assert_eq!(
            resolve("OEBPS/", "/META-INF/x").as_deref(),
            Some("META-INF/x")
        );
        assert_eq!(resolve("OEBPS/", "../../etc/passwd"), None);
        assert_eq!(resolve("", "http://example.org/x.jpg"), None);
        assert_eq!(resolve("", "//example.org/x.jpg"), None);
        assert_eq!(resolve("", "data:image/png;base64,xx"), None);
        assert_eq!(resolve("", "#frag"), None);
    }

    #[test]
    fn images_in_pages() {
        let html = r#"<html><!-- <img src="no.jpg"> --><body><svg><image width="1" xlink:href="cover.jpeg"/></svg><img src='x.png'></body></html>"#;
        assert_eq!(first_image_ref(html).as_deref(), Some("cover.jpeg"));
        assert_eq!(first_image_ref("<p>none</p>"), None);
        let a = tag_attrs(r#"img src="a&amp;b.jpg" alt='x y' hidden data-x=1 /"#);
        assert_eq!(a[0], ("src".into(), "a&b.jpg".into()));
        assert_eq!(a[1], ("alt".into(), "x y".into()));
        assert_eq!(a[2], ("hidden".into(), "".into()));
        assert_eq!(a[3], ("data-x".into(), "1".into()));
    }
}

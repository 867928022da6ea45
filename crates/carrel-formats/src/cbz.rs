//! CBZ: a zip of page images, in natural order, with an optional
//! `ComicInfo.xml` (the ComicRack schema).

use crate::bounds::Ctx;
use crate::meta::Meta;
use crate::sniff::has_image_extension;
use crate::text::natural_cmp;
use crate::xml::{self, Element};
use crate::zipsafe::SafeZip;
use crate::{Format, FormatError, Found, RawCover};

/// At most this many pages are tried, in order, for a readable cover.
const COVER_TRIES: usize = 8;

/// The page images of a comic archive, in reading order: (entry index, name).
/// Folders are allowed; macOS resource forks and dot files are skipped.
pub(crate) fn pages(zip: &SafeZip) -> Vec<(usize, String)> {
    let mut images: Vec<(usize, String)> = zip
        .content_entries()
        .filter(|(_, e)| has_image_extension(&e.name))
        .map(|(i, e)| (i, e.name.clone()))
        .collect();
    images.sort_by(|a, b| natural_cmp(&a.1, &b.1));
    images
}

pub(crate) fn extract(zip: &mut SafeZip, ctx: &mut Ctx) -> Result<Found, FormatError> {
    let images = pages(zip);
    let info = zip
        .content_entries()
        .filter(|(_, e)| {
            e.name
                .rsplit('/')
                .next()
                .is_some_and(|f| f.eq_ignore_ascii_case("ComicInfo.xml"))
        })
        .min_by_key(|(_, e)| e.name.matches('/').count())
        .map(|(i, _)| i);
    if images.is_empty() && info.is_none() {
        return Err(FormatError::NotABook(
            "the archive holds no page images".into(),
        ));
    }
    let mut meta = Meta::default();
    if let Some(i) = info {
        match zip.read(i, ctx.limits.max_xml_bytes as u64) {
            Ok(bytes) => match xml::parse(&bytes) {
                Ok(parsed) => {
                    if let Some(e) = parsed.error {
                        ctx.problem("bad_xml", format!("ComicInfo.xml: {e}"));
                    }
                    read_comic_info(&parsed.root, &mut meta, ctx);
                }
                Err(e) => ctx.problem("bad_xml", format!("ComicInfo.xml: {e}")),
            },
            Err(e) => ctx.problem("bad_comic_info", format!("ComicInfo.xml: {e}")),
        }
    }
    if meta.title.is_none() {
        ctx.check()?;
    }
    if images.is_empty() {
        ctx.problem("no_pages", "the archive holds no page images");
    }
    let mut cover = None;
    for (idx, name) in images.iter().take(COVER_TRIES) {
        if ctx.out_of_time() {
            break;
        }
        match zip.read(*idx, ctx.limits.max_entry_bytes) {
            Ok(bytes) => match crate::thumb::probe(&bytes, None) {
                Ok(_) => {
                    cover = Some(RawCover {
                        bytes,
                        declared: None,
                    });
                    break;
                }
                Err(e) => ctx.problem("bad_cover", format!("{name}: {e}")),
            },
            Err(e) => ctx.problem("bad_cover", format!("{name}: {e}")),
        }
    }
    Ok(Found {
        format: Format::Cbz,
        meta,
        cover,
        pages: Some(images.len().min(u32::MAX as usize) as u32),
        encrypted: false,
    })
}

fn read_comic_info(root: &Element, meta: &mut Meta, ctx: &mut Ctx) {
    let field = |name: &str| root.child(name).and_then(Element::trimmed_text);
    if let Some(t) = field("Title") {
        meta.set_title(&t);
    }
    if let Some(s) = field("Series") {
        meta.set_series(&s, field("Number").as_deref());
    }
    // Comma-separated lists of names written "First Last".
    for role in ["Writer", "Penciller"] {
        if let Some(names) = field(role) {
            for name in names.split([',', ';']) {
                meta.add_author(name, None);
            }
        }
    }
    if let Some(s) = field("Summary") {
        meta.set_description_html(&s);
    }
    if let Some(y) = field("Year").and_then(|y| y.parse::<i32>().ok())
        && y > 0
    {
        meta.year = Some(y);
    }
    if let Some(l) = field("LanguageISO") {
        meta.set_language(&l);
    }
    if let Some(p) = field("Publisher") {
        meta.set_publisher(&p);
    }
    for list in [field("Genre"), field("Tags")].into_iter().flatten() {
        for g in list.split(',') {
            meta.add_subject(g);
        }
    }
    if let Some(gtin) = field("GTIN") {
        meta.add_identifier(&gtin, None, ctx);
    }
}

//! What the browsing pages (`browse`) and the OPDS catalogs (`opds`) share:
//! their query parameters (checked into a [`Listing`], with stable error
//! codes), pagination, the search behind every list, facet counts over a
//! whole match set (cached a minute, as browsing asks for the same ones over
//! and over), the subjects with their counts, and language names.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use carrel_core::catalog::{Kind, Lang};
use carrel_db::catalog::Edition;
use carrel_search::{Facets, Filters, MAX_OFFSET, Query, Sort};

use crate::{Library, LibraryError};

/// Results per page, on the pages and in the feeds.
pub(crate) const PER_PAGE: usize = 20;
/// The longest query text accepted (bytes).
pub(crate) const MAX_QUERY: usize = 1000;
/// The longest author or subject name that can match anything (bytes).
pub(crate) const MAX_NAME: usize = 8 * 1024;
/// Facet counts and subject lists are reused this long.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// Facet count sets kept, at most.
const CACHE_ENTRIES: usize = 512;
/// Subjects listed, at most.
pub(crate) const MAX_SUBJECTS: usize = 100;
/// Records sampled (per sort order) to find the common subjects.
const SUBJECT_SAMPLE: usize = 400;

/// Subjects with their counts, most first.
pub(crate) type SubjectCounts = Arc<Vec<(String, u64)>>;

/// The state of the browsing pages and the feeds.
pub(crate) struct Catalog {
    pub lib: Arc<Library>,
    facets: Mutex<HashMap<String, (Instant, Facets)>>,
    subjects: Mutex<HashMap<bool, (Instant, SubjectCounts)>>,
}

/// The browsing pages and both OPDS catalogs.
pub fn routes(lib: Arc<Library>) -> Router {
    let cat = Arc::new(Catalog {
        lib,
        facets: Mutex::new(HashMap::new()),
        subjects: Mutex::new(HashMap::new()),
    });
    Router::new()
        .merge(crate::browse::routes())
        .merge(crate::opds::routes())
        .with_state(cat)
}

fn bad(code: &'static str, message: impl Into<String>) -> LibraryError {
    LibraryError::BadParam {
        code,
        message: message.into(),
    }
}

/// A query string, as parameter name → value (the last one wins).
pub(crate) type RawParams = HashMap<String, String>;

/// Which facet a filter belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Group {
    Language,
    Format,
    Kind,
    HasFile,
}

/// A checked list request: words, filters, order and page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Listing {
    pub q: String,
    pub lang: Option<String>,
    pub kind: Option<Kind>,
    pub format: Option<String>,
    pub has_file: Option<bool>,
    /// Only editions with files, whatever `has_file` says, and without
    /// saying so in links (the OPDS feeds).
    pub files_only: bool,
    /// From the path, not the query string.
    pub author: Option<String>,
    pub subject: Option<String>,
    pub sort: Sort,
    /// The order used when the request names none.
    pub default_sort: Sort,
    /// 1-based.
    pub page: usize,
}

impl Listing {
    pub(crate) fn new(default_sort: Sort) -> Self {
        Listing {
            q: String::new(),
            lang: None,
            kind: None,
            format: None,
            has_file: None,
            files_only: false,
            author: None,
            subject: None,
            sort: default_sort,
            default_sort,
            page: 1,
        }
    }

    /// Checks the query string of a list (`q` or `query`, `page`, `sort`,
    /// `lang`, `kind`, `format`, `has_file`); other parameters are ignored.
    pub(crate) fn parse(p: &RawParams, default_sort: Sort) -> Result<Self, LibraryError> {
        let mut l = Listing::new(default_sort);
        let get = |k: &str| p.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
        if let Some(q) = get("q").or_else(|| get("query")) {
            if q.len() > MAX_QUERY {
                return Err(bad(
                    "query_too_long",
                    format!(
                        "the query is {} bytes long; at most {MAX_QUERY} are accepted",
                        q.len()
                    ),
                ));
            }
            l.q = q.to_owned();
        }
        if let Some(s) = get("page") {
            l.page = parse_page(s, PER_PAGE)?;
        }
        if let Some(s) = get("sort") {
            l.sort = parse_sort(s)?;
        }
        if let Some(s) = get("lang") {
            let tag = Lang::parse(s).map_err(|_| {
                bad(
                    "bad_facet",
                    format!(
                        "lang {:?} is not a language tag (en, fr, pt-BR, …)",
                        clip(s, 40)
                    ),
                )
            })?;
            l.lang = Some(tag.as_str().to_owned());
        }
        if let Some(s) = get("kind") {
            l.kind = Some(Kind::parse(s).map_err(|_| {
                bad(
                    "bad_facet",
                    format!("kind {:?}: use book, article or comic", clip(s, 40)),
                )
            })?);
        }
        if let Some(s) = get("format") {
            let f = carrel_formats::Format::from_extension(s).ok_or_else(|| {
                bad(
                    "bad_facet",
                    format!(
                        "format {:?}: use epub, pdf, mobi, azw3, fb2 or cbz",
                        clip(s, 40)
                    ),
                )
            })?;
            l.format = Some(f.extension().to_owned());
        }
        if let Some(s) = get("has_file") {
            l.has_file = Some(match s {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    return Err(bad(
                        "bad_facet",
                        format!("has_file {:?}: use true or false", clip(s, 40)),
                    ));
                }
            });
        }
        Ok(l)
    }

    /// The search for page `self.page` of `per`.
    pub(crate) fn query(&self, per: usize, facets: bool) -> Query {
        Query {
            text: self.q.clone(),
            identifier: None,
            filters: Filters {
                kind: self.kind,
                language: self.lang.clone(),
                year_min: None,
                year_max: None,
                format: self.format.clone(),
                has_file: if self.files_only {
                    Some(true)
                } else {
                    self.has_file
                },
                author: self.author.clone(),
                subject: self.subject.clone(),
            },
            sort: self.sort,
            offset: offset(self.page, per),
            limit: if facets { 0 } else { per },
            facets,
            as_you_type: false,
        }
    }

    /// This list without the filter of one facet group.
    pub(crate) fn without(&self, g: Group) -> Listing {
        let mut l = self.clone();
        match g {
            Group::Language => l.lang = None,
            Group::Format => l.format = None,
            Group::Kind => l.kind = None,
            Group::HasFile => l.has_file = None,
        }
        l
    }

    pub(crate) fn with_page(&self, page: usize) -> Listing {
        Listing {
            page,
            ..self.clone()
        }
    }

    /// The query string that asks for this list (without `?`; empty when
    /// nothing differs from the defaults). Author and subject are in paths.
    pub(crate) fn query_string(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut add = |k: &str, v: &str| parts.push(format!("{k}={}", percent(v)));
        if !self.q.is_empty() {
            add("q", &self.q);
        }
        if let Some(v) = &self.lang {
            add("lang", v);
        }
        if let Some(v) = self.kind {
            add("kind", v.as_str());
        }
        if let Some(v) = &self.format {
            add("format", v);
        }
        if let Some(v) = self.has_file {
            add("has_file", if v { "true" } else { "false" });
        }
        if self.sort != self.default_sort {
            add("sort", sort_name(self.sort));
        }
        if self.page > 1 {
            add("page", &self.page.to_string());
        }
        parts.join("&")
    }

    /// `path` with this list's query string.
    pub(crate) fn href(&self, path: &str) -> String {
        let qs = self.query_string();
        if qs.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{qs}")
        }
    }

    /// The key of this list's match set (everything but order and page).
    fn match_key(&self) -> String {
        format!(
            "{:?}|{:?}|{:?}|{:?}|{}|{:?}|{:?}|{}",
            self.lang,
            self.kind,
            self.format,
            self.has_file,
            self.files_only,
            self.author,
            self.subject,
            self.q
        )
    }
}

/// The order's name in query strings.
pub(crate) fn sort_name(s: Sort) -> &'static str {
    match s {
        Sort::Relevance => "relevance",
        Sort::Newest => "newest",
        Sort::YearAsc => "year",
        Sort::YearDesc => "year-desc",
        Sort::Title => "title",
    }
}

fn parse_sort(s: &str) -> Result<Sort, LibraryError> {
    Ok(match s {
        "relevance" => Sort::Relevance,
        "newest" => Sort::Newest,
        "year" => Sort::YearAsc,
        "year-desc" => Sort::YearDesc,
        "title" => Sort::Title,
        _ => {
            return Err(bad(
                "bad_sort",
                format!(
                    "sort {:?}: use newest, title, year, year-desc or relevance",
                    clip(s, 40)
                ),
            ));
        }
    })
}

/// The deepest page that can be asked for with `per` results a page.
pub(crate) fn max_page(per: usize) -> usize {
    MAX_OFFSET / per.max(1) + 1
}

/// A page number from a query string: a whole number from 1 to
/// [`max_page`].
pub(crate) fn parse_page(s: &str, per: usize) -> Result<usize, LibraryError> {
    let max = max_page(per);
    let n = if s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<u64>().ok()
    } else {
        None
    };
    match n {
        Some(n) if n >= 1 && n <= max as u64 => Ok(n as usize),
        _ => Err(bad(
            "bad_page",
            format!("page {:?}: use a whole number from 1 to {max}", clip(s, 40)),
        )),
    }
}

/// The offset of a page's first result.
pub(crate) fn offset(page: usize, per: usize) -> usize {
    page.saturating_sub(1).saturating_mul(per)
}

/// The last page of `total` results (1 when there are none), never past
/// what can be paged to.
pub(crate) fn last_page(total: u64, per: usize) -> usize {
    let per = per.max(1) as u64;
    let pages = total.div_ceil(per).max(1);
    pages.min(max_page(per as usize) as u64) as usize
}

/// At most `n` bytes of `s`, cut at a character boundary.
pub(crate) fn clip(s: &str, n: usize) -> &str {
    let mut cut = s.len().min(n);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// Percent-encodes a path segment or query value (all but RFC 3986's
/// unreserved characters).
pub(crate) fn percent(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// One page of a list.
pub(crate) struct PageOf {
    pub total: u64,
    pub page: usize,
    pub per: usize,
    pub last: usize,
    /// In the order of the search.
    pub editions: Vec<Edition>,
}

/// Counts per facet group, each counted without its own group's filter.
#[derive(Default)]
pub(crate) struct GroupCounts {
    pub language: Vec<(String, u64)>,
    pub format: Vec<(String, u64)>,
    pub kind: Vec<(String, u64)>,
    pub has_file: Vec<(String, u64)>,
}

impl Catalog {
    /// One page of the list; a page past the last is `page_out_of_range`.
    pub(crate) async fn page(&self, l: &Listing, per: usize) -> Result<PageOf, LibraryError> {
        if name_too_long(l) {
            return Ok(PageOf {
                total: 0,
                page: 1,
                per,
                last: 1,
                editions: Vec::new(),
            })
            .and_then(|p| check_page(l, p));
        }
        let res = self.lib.search(l.query(per, false)).await?;
        let last = last_page(res.total, per);
        let p = PageOf {
            total: res.total,
            page: l.page,
            per,
            last,
            editions: Vec::new(),
        };
        let mut p = check_page(l, p)?;
        p.editions = self.lib.db().editions(&res.edition_ids()).await?;
        Ok(p)
    }

    /// Facet counts over a list's whole match set (cached a minute).
    pub(crate) async fn facets(&self, l: &Listing) -> Result<Facets, LibraryError> {
        if name_too_long(l) {
            return Ok(Facets::default());
        }
        let key = l.match_key();
        if let Some((at, f)) = self.facets.lock().expect("facet cache").get(&key)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(f.clone());
        }
        let mut q = l.with_page(1).query(PER_PAGE, true);
        q.sort = Sort::Newest;
        let f = self.lib.search(q).await?.facets.unwrap_or_default();
        let mut cache = self.facets.lock().expect("facet cache");
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now(), f.clone()));
        Ok(f)
    }

    /// Counts for each facet group, without that group's own filter (so a
    /// chosen language still shows the others to switch to).
    pub(crate) async fn group_counts(&self, l: &Listing) -> Result<GroupCounts, LibraryError> {
        Ok(GroupCounts {
            language: self.facets(&l.without(Group::Language)).await?.language,
            format: self.facets(&l.without(Group::Format)).await?.format,
            kind: self.facets(&l.without(Group::Kind)).await?.kind,
            has_file: self.facets(&l.without(Group::HasFile)).await?.has_file,
        })
    }

    /// The most common subjects with their number of editions, most first
    /// (at most [`MAX_SUBJECTS`]; `files_only`: editions with files).
    ///
    /// The index counts no subjects, so the candidates are the subjects of a
    /// sample (the newest records, the first by title, the latest by year),
    /// each then counted exactly with the subject filter. Cached a minute.
    pub(crate) async fn subjects(&self, files_only: bool) -> Result<SubjectCounts, LibraryError> {
        if let Some((at, s)) = self
            .subjects
            .lock()
            .expect("subject cache")
            .get(&files_only)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(s.clone());
        }
        let mut base = Listing::new(Sort::Newest);
        base.has_file = files_only.then_some(true);
        let mut ids = Vec::new();
        for sort in [Sort::Newest, Sort::Title, Sort::YearDesc] {
            let mut q = base.query(SUBJECT_SAMPLE, false);
            q.sort = sort;
            ids.extend(self.lib.search(q).await?.edition_ids());
        }
        ids.sort_unstable();
        ids.dedup();
        let mut seen: HashMap<String, u64> = HashMap::new();
        for e in self.lib.db().editions(&ids).await? {
            for s in &e.record.subjects {
                *seen.entry(s.clone()).or_default() += 1;
            }
        }
        let mut candidates: Vec<(String, u64)> = seen.into_iter().collect();
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        candidates.truncate(MAX_SUBJECTS);
        let mut counted = Vec::with_capacity(candidates.len());
        for (s, _) in candidates {
            let mut l = base.clone();
            l.subject = Some(s.clone());
            let n = self.lib.search(l.query(1, false)).await?.total;
            if n > 0 {
                counted.push((s, n));
            }
        }
        counted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let counted = Arc::new(counted);
        self.subjects
            .lock()
            .expect("subject cache")
            .insert(files_only, (Instant::now(), counted.clone()));
        Ok(counted)
    }
}

/// A name longer than any stored one matches nothing (and is not searched).
fn name_too_long(l: &Listing) -> bool {
    l.author.as_ref().is_some_and(|a| a.len() > MAX_NAME)
        || l.subject.as_ref().is_some_and(|s| s.len() > MAX_NAME)
}

fn check_page(l: &Listing, p: PageOf) -> Result<PageOf, LibraryError> {
    if l.page > p.last {
        return Err(bad(
            "page_out_of_range",
            format!(
                "page {} is past the last page ({}) of {} result{}",
                l.page,
                p.last,
                p.total,
                if p.total == 1 { "" } else { "s" }
            ),
        ));
    }
    Ok(p)
}

/// The English name of a language tag's primary language, when known.
pub(crate) fn language_name(tag: &str) -> Option<&'static str> {
    let primary = tag.split('-').next().unwrap_or(tag).to_ascii_lowercase();
    Some(match primary.as_str() {
        "ar" => "Arabic",
        "bg" => "Bulgarian",
        "ca" => "Catalan",
        "cs" => "Czech",
        "cy" => "Welsh",
        "da" => "Danish",
        "de" => "German",
        "el" => "Greek",
        "en" => "English",
        "eo" => "Esperanto",
        "es" => "Spanish",
        "et" => "Estonian",
        "eu" => "Basque",
        "fa" => "Persian",
        "fi" => "Finnish",
        "fr" => "French",
        "fy" => "Frisian",
        "ga" => "Irish",
        "gl" => "Galician",
        "grc" => "Ancient Greek",
        "he" => "Hebrew",
        "hi" => "Hindi",
        "hr" => "Croatian",
        "hu" => "Hungarian",
        "id" => "Indonesian",
        "is" => "Icelandic",
        "it" => "Italian",
        "ja" => "Japanese",
        "ko" => "Korean",
        "la" => "Latin",
        "lt" => "Lithuanian",
        "lv" => "Latvian",
        "nl" => "Dutch",
        "no" | "nb" | "nn" => "Norwegian",
        "pl" => "Polish",
        "pt" => "Portuguese",
        "ro" => "Romanian",
        "ru" => "Russian",
        "sk" => "Slovak",
        "sl" => "Slovenian",
        "sr" => "Serbian",
        "sv" => "Swedish",
        "th" => "Thai",
        "tl" => "Tagalog",
        "tr" => "Turkish",
        "uk" => "Ukrainian",
        "vi" => "Vietnamese",
        "yi" => "Yiddish",
        "zh" => "Chinese",
        _ => return None,
    })
}

/// "French (fr)", "English (en-US)", or the tag alone.
pub(crate) fn language_label(tag: &str) -> String {
    let canonical = Lang::parse(tag).map(|l| l.as_str().to_owned());
    let tag = canonical.as_deref().unwrap_or(tag);
    match language_name(tag) {
        Some(n) => format!("{n} ({tag})"),
        None => tag.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> RawParams {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pagination_maths() {
        assert_eq!(last_page(0, 20), 1);
        assert_eq!(last_page(1, 20), 1);
        assert_eq!(last_page(20, 20), 1);
        assert_eq!(last_page(21, 20), 2);
        assert_eq!(last_page(u64::MAX, 20), max_page(20));
        assert_eq!(max_page(20), 501);
        assert_eq!(offset(1, 20), 0);
        assert_eq!(offset(3, 20), 40);
        assert_eq!(offset(max_page(20), 20), MAX_OFFSET);
        assert_eq!(offset(usize::MAX, 20), usize::MAX);
        assert_eq!(parse_page("1", 20).unwrap(), 1);
        assert_eq!(parse_page("501", 20).unwrap(), 501);
        for s in [
            "0",
            "-1",
            "502",
            "1.5",
            "abc",
            "+3",
            " 2",
            "99999999999999999999999",
            "18446744073709551616",
        ] {
            let e = parse_page(s, 20).unwrap_err();
            assert_eq!(e.code(), "bad_page", "{s}");
        }
    }

    #[test]
    fn page_past_the_last_is_out_of_range() {
        let l = Listing::new(Sort::Newest).with_page(3);
        let p = |total| PageOf {
            total,
            page: 3,
            per: 20,
            last: last_page(total, 20),
            editions: Vec::new(),
        };
        assert!(check_page(&l, p(41)).is_ok());
        assert_eq!(
            check_page(&l, p(40)).err().unwrap().code(),
            "page_out_of_range"
        );
        // Page 1 of nothing is an empty list, not an error.
        assert!(check_page(&l.with_page(1), p(0)).is_ok());
    }

    #[test]
    fn parameters_are_checked_with_stable_codes() {
        let code = |pairs: &[(&str, &str)]| {
            Listing::parse(&params(pairs), Sort::Newest)
                .err()
                .map(|e| e.code())
        };
        assert_eq!(code(&[("lang", "fr"), ("kind", "book")]), None);
        assert_eq!(code(&[("lang", "<script>")]), Some("bad_facet"));
        assert_eq!(code(&[("kind", "novel")]), Some("bad_facet"));
        assert_eq!(code(&[("format", "exe")]), Some("bad_facet"));
        assert_eq!(code(&[("has_file", "maybe")]), Some("bad_facet"));
        assert_eq!(code(&[("sort", "random")]), Some("bad_sort"));
        assert_eq!(code(&[("page", "-4")]), Some("bad_page"));
        let long = "x".repeat(10_000);
        assert_eq!(code(&[("q", &long)]), Some("query_too_long"));
        assert_eq!(code(&[("query", &long)]), Some("query_too_long"));
        // Empty values are absent; unknown parameters are ignored.
        assert_eq!(code(&[("lang", ""), ("utm", "x")]), None);
    }

    #[test]
    fn query_strings_round_trip() {
        let p = params(&[
            ("q", "war & peace"),
            ("lang", "FR"),
            ("format", "EPUB"),
            ("sort", "title"),
            ("page", "2"),
        ]);
        let l = Listing::parse(&p, Sort::Newest).unwrap();
        assert_eq!(l.lang.as_deref(), Some("fr"));
        assert_eq!(l.format.as_deref(), Some("epub"));
        let qs = l.query_string();
        assert_eq!(
            qs,
            "q=war%20%26%20peace&lang=fr&format=epub&sort=title&page=2"
        );
        let back: RawParams = qs
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (
                    k.to_owned(),
                    percent_encoding::percent_decode_str(v)
                        .decode_utf8()
                        .unwrap()
                        .into_owned(),
                )
            })
            .collect();
        assert_eq!(Listing::parse(&back, Sort::Newest).unwrap(), l);
        // The default order and the first page are not written.
        assert_eq!(Listing::new(Sort::Title).href("/x"), "/x");
        assert_eq!(l.query(20, false).offset, 20);
    }

    #[test]
    fn language_labels() {
        assert_eq!(language_label("fr"), "French (fr)");
        assert_eq!(language_label("pt-BR"), "Portuguese (pt-BR)");
        assert_eq!(language_label("en-us"), "English (en-US)");
        assert_eq!(language_label("xx"), "xx");
    }
}

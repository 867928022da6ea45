//! Project Gutenberg's catalog (shared/corpus/meta/gutenberg) as
//! [`IndexDoc`]s, for the relevance test and the scale example.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use carrel_search::IndexDoc;

/// Where the corpus is: `CARREL_GUTENBERG_DIR`, or `shared/corpus/meta/gutenberg`
/// beside the checkout (the first ancestor that has it).
pub fn corpus_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("CARREL_GUTENBERG_DIR") {
        return Some(PathBuf::from(d));
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|a| a.join("shared/corpus/meta/gutenberg"))
        .find(|d| d.join("gutenberg_metadata.csv.gz").exists())
}

fn reader(path: &Path) -> csv::Reader<Box<dyn Read>> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let gz: Box<dyn Read> = Box::new(flate2::read::GzDecoder::new(file));
    csv::ReaderBuilder::new().flexible(true).from_reader(gz)
}

/// "Kennedy, John F. (John Fitzgerald)" → "John F. Kennedy"; names without
/// a comma stay as they are.
pub fn display_name(name: &str) -> String {
    let name = match name.find(" (") {
        Some(i) => &name[..i],
        None => name,
    };
    let mut parts = name.splitn(3, ", ");
    match (parts.next(), parts.next()) {
        (Some(last), Some(first)) => format!("{first} {last}"),
        _ => name.trim().to_owned(),
    }
}

/// One Gutenberg book.
#[derive(Clone, Debug)]
pub struct Book {
    pub id: i64,
    pub title: String,
    pub subtitle: Option<String>,
    /// Authors (a book with several has a row for each in the dump).
    pub authors: Vec<String>,
    pub aliases: Vec<String>,
    pub language: Option<String>,
    pub subjects: Vec<String>,
    pub has_text: bool,
}

impl Book {
    pub fn to_doc(&self) -> IndexDoc {
        IndexDoc {
            edition_id: self.id,
            work_id: self.id,
            title: self.title.clone(),
            subtitle: self.subtitle.clone(),
            authors: self.authors.clone(),
            author_aliases: self.aliases.clone(),
            subjects: self.subjects.clone(),
            language: self.language.clone(),
            has_file: self.has_text,
            formats: if self.has_text {
                vec!["epub".into(), "txt".into()]
            } else {
                vec![]
            },
            identifiers: vec![format!("gutenberg:{}", self.id)],
            added: self.id,
            ..IndexDoc::default()
        }
    }
}

/// Every book of the catalog, in id order.
pub fn load(dir: &Path) -> Vec<Book> {
    let mut aliases: HashMap<String, Vec<String>> = HashMap::new();
    let mut r = reader(&dir.join("gutenberg_authors.csv.gz"));
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let (id_c, alias_c, aliases_c) = (col("gutenberg_author_id"), col("alias"), col("aliases"));
    for rec in r.records().flatten() {
        let mut names: Vec<String> = Vec::new();
        for field in [alias_c, aliases_c] {
            for a in rec.get(field).unwrap_or("").split('/') {
                let a = display_name(a.trim());
                if !a.is_empty() && !names.contains(&a) {
                    names.push(a);
                }
            }
        }
        aliases.insert(rec.get(id_c).unwrap_or("").to_owned(), names);
    }
    let mut subjects: HashMap<i64, Vec<String>> = HashMap::new();
    let mut r = reader(&dir.join("gutenberg_subjects.csv.gz"));
    for rec in r.records().flatten() {
        if rec.get(1) == Some("lcsh")
            && let Ok(id) = rec.get(0).unwrap_or("").parse()
        {
            subjects
                .entry(id)
                .or_default()
                .push(rec.get(2).unwrap_or("").to_owned());
        }
    }
    let mut books = Vec::new();
    let mut r = reader(&dir.join("gutenberg_metadata.csv.gz"));
    for rec in r.records().flatten() {
        let Ok(id) = rec.get(0).unwrap_or("").parse::<i64>() else {
            continue;
        };
        let full = rec.get(1).unwrap_or("").replace('\r', "");
        let mut lines = full.lines();
        let title = lines.next().unwrap_or("").trim().to_owned();
        let rest: Vec<&str> = lines.map(str::trim).filter(|l| !l.is_empty()).collect();
        let author = rec.get(2).filter(|a| !a.is_empty()).map(display_name);
        let author_id = rec.get(3).unwrap_or("");
        let aliases_of = aliases.get(author_id).cloned().unwrap_or_default();
        if let Some(prev) = books.last_mut().filter(|b: &&mut Book| b.id == id) {
            prev.authors.extend(author);
            prev.aliases.extend(aliases_of);
            continue;
        }
        let mut subj = subjects.remove(&id).unwrap_or_default();
        for shelf in rec.get(5).unwrap_or("").split('/') {
            let shelf = shelf.trim().trim_start_matches("Category: ").trim();
            if !shelf.is_empty() && !subj.iter().any(|s| s == shelf) {
                subj.push(shelf.to_owned());
            }
        }
        books.push(Book {
            id,
            title,
            subtitle: (!rest.is_empty()).then(|| rest.join(" ")),
            authors: author.into_iter().collect(),
            aliases: aliases_of,
            language: rec
                .get(4)
                .and_then(|l| l.split('/').next())
                .map(str::to_owned),
            subjects: subj,
            has_text: rec.get(7) == Some("True"),
        });
    }
    books.sort_by_key(|b| b.id);
    books.dedup_by_key(|b| b.id);
    books
}

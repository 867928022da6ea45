//! Text folding for the library: the forms of titles and names that compare
//! equal when people would say they are the same.
//!
//! - [`fold`]: compatibility decomposition (NFKD), combining marks dropped,
//!   lower case, ligatures and a few letters that do not decompose spelled
//!   out, punctuation turned into spaces, spaces collapsed. "Les Misérables"
//!   and "les miserables" fold alike; "Æsop" folds to "aesop".
//! - [`sort_name`]: "Fyodor Dostoevsky" → "Dostoevsky, Fyodor".
//! - [`work_key`]: the key that groups editions into one work: the folded
//!   title without a leading article and the first author's folded surname.
//! - [`match_title`], [`match_surname`], [`venue_initial`]: the forms of an
//!   article's title, first author and journal compared when deduplicating
//!   articles that share no identifier (see `carrel_db::catalog::match_key`).

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Folded text is never longer than this many characters (titles of
/// megabytes are hostile, not literature).
pub const MAX_FOLDED: usize = 1024;

/// Folds `s` for comparison and search (see the module documentation).
pub fn fold(s: &str) -> String {
    if s.is_ascii() {
        fold_ascii(s)
    } else {
        fold_any(s)
    }
}

fn fold_any(s: &str) -> String {
    let mut f = Folded {
        out: String::with_capacity(s.len().min(MAX_FOLDED)),
        chars: 0,
        space: true, // no leading space
    };
    for c in s.nfkd() {
        if f.chars >= MAX_FOLDED {
            break;
        }
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'Æ' | 'æ' => f.push_str("ae"),
            'Œ' | 'œ' => f.push_str("oe"),
            'ß' => f.push_str("ss"),
            'Ø' | 'ø' => f.push('o'),
            'Đ' | 'đ' | 'Ð' | 'ð' => f.push('d'),
            'Ł' | 'ł' => f.push('l'),
            'Þ' | 'þ' => f.push_str("th"),
            'ı' => f.push('i'),
            // Apostrophes join words ("l'homme" → "lhomme", "o'brien" → "obrien").
            '\'' | '’' | 'ʼ' => {}
            c => c.to_lowercase().for_each(|c| f.push(c)),
        }
    }
    let mut out = f.out;
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// [`fold`] of ASCII text, byte by byte: NFKD leaves ASCII as it is and
/// it has no combining marks, so only case, apostrophes and separators
/// are left to do (the same rules, without decomposing every character;
/// imports fold every title and name).
fn fold_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_FOLDED));
    let mut space = true; // no leading space
    for b in s.bytes() {
        if out.len() >= MAX_FOLDED {
            break;
        }
        match b {
            b'\'' => {}
            b'a'..=b'z' | b'0'..=b'9' => {
                out.push(b as char);
                space = false;
            }
            b'A'..=b'Z' => {
                out.push(b.to_ascii_lowercase() as char);
                space = false;
            }
            _ if !space => {
                out.push(' ');
                space = true;
            }
            _ => {}
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

struct Folded {
    out: String,
    chars: usize,
    space: bool,
}

impl Folded {
    /// Letters and digits are kept; anything else becomes one space.
    fn push(&mut self, c: char) {
        if self.chars >= MAX_FOLDED {
            return;
        }
        if c.is_alphanumeric() {
            self.out.push(c);
            self.space = false;
            self.chars += 1;
        } else if !self.space {
            self.out.push(' ');
            self.space = true;
            self.chars += 1;
        }
    }

    fn push_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.push(c));
    }
}

/// "First Middle Last" → "Last, First Middle"; a name that already has a
/// comma, or is one word, is kept as written. Particles stay with the
/// surname ("Ludwig van Beethoven" → "van Beethoven, Ludwig").
pub fn sort_name(name: &str) -> String {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.contains(',') {
        return name;
    }
    let words: Vec<&str> = name.split(' ').collect();
    if words.len() < 2 {
        return name;
    }
    const PARTICLES: [&str; 12] = [
        "van", "von", "der", "den", "de", "da", "di", "du", "del", "della", "la", "le",
    ];
    let mut start = words.len() - 1;
    while start > 1 && PARTICLES.contains(&words[start - 1].to_lowercase().as_str()) {
        start -= 1;
    }
    format!("{}, {}", words[start..].join(" "), words[..start].join(" "))
}

/// Leading articles that titles are compared without.
const ARTICLES: [&str; 11] = [
    "the", "a", "an", "le", "la", "les", "der", "die", "das", "el", "il",
];

/// The key that groups editions into a work: folded title without a
/// leading article ("The", "A", "An", "Le", "La", "Les", "Der", "Die",
/// "Das", "El", "Il") plus the first author's folded surname.
pub fn work_key(title: &str, first_author: Option<&str>) -> String {
    let t = fold(title);
    let mut words = t.split(' ').peekable();
    if let Some(first) = words.peek()
        && ARTICLES.contains(first)
        && t.contains(' ')
    {
        words.next();
    }
    let title: Vec<&str> = words.collect();
    let author = first_author
        .map(|a| {
            let sorted = sort_name(a);
            let surname = sorted.split(',').next().unwrap_or("").to_owned();
            fold(&surname)
        })
        .unwrap_or_default();
    format!("{}|{}", title.join(" "), author)
}

/// An article's title as compared when deduplicating (folded words, one
/// space apart), with what bibliographic exports add to titles taken away:
///
/// - trailing notes in square brackets (`[Review]`, `[45 refs]`, `[Spanish]`,
///   `[Erratum appears in …]`) and a few in parentheses (`(Provisional
///   abstract)`, `(Structured abstract)`, `(multiple letters)`);
/// - the brackets of a title given in translation (`[Title in English]`);
/// - markup (`<i>`, `</sup>`) and character entities (`&amp;`);
/// - MEDLINE's `>or=` for `≥`; a Greek letter standing alone is spelled out
///   (`TNF-α` = `TNF-alpha`);
/// - a leading article and the word "and" (so `&` = `and`).
pub fn match_title(title: &str) -> String {
    let mut t = title.trim();
    loop {
        t = t.trim_end_matches([' ', '.', ',', ';', ':']);
        if let Some(open) = t.strip_suffix(']').and_then(|s| s.rfind('['))
            && open > 0
            && !t[open + 1..t.len() - 1].contains(']')
        {
            t = &t[..open];
            continue;
        }
        if let Some(open) = t.strip_suffix(')').and_then(|s| s.rfind('('))
            && open > 0
            && PAREN_NOTES.contains(&fold(&t[open + 1..t.len() - 1]).as_str())
        {
            t = &t[..open];
            continue;
        }
        break;
    }
    if let Some(inner) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        t = inner;
    }
    let folded = fold(&spell_out(t));
    let mut words: Vec<&str> = folded.split(' ').filter(|w| *w != "and").collect();
    if words.len() > 1 && ARTICLES.contains(&words[0]) {
        words.remove(0);
    }
    words.join(" ")
}

/// Notes in parentheses that databases append to titles.
const PAREN_NOTES: [&str; 8] = [
    "provisional abstract",
    "structured abstract",
    "abstract",
    "multiple letters",
    "review",
    "editorial",
    "letter",
    "authors transl",
];

/// Markup and entities out, `>or=` in, lone Greek letters spelled out.
fn spell_out(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() && out.len() < MAX_FOLDED * 4 {
        let c = chars[i];
        let rest = &chars[i + 1..];
        // A tag: `<`, an optional `/`, a letter, up to `>` (at most 64 characters).
        if c == '<' {
            let name = if rest.first() == Some(&'/') { 1 } else { 0 };
            if rest.get(name).is_some_and(char::is_ascii_alphabetic)
                && let Some(end) = rest.iter().take(64).position(|&c| c == '>')
            {
                out.push(' ');
                i += end + 2;
                continue;
            }
        }
        // An entity: `&name;` or `&#123;`.
        if c == '&'
            && let Some(end) = rest.iter().take(10).position(|&c| c == ';')
            && end > 0
            && rest[..end]
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == '#')
        {
            out.push(' ');
            i += end + 2;
            continue;
        }
        // `>or=`, `> or =`: `≥` as MEDLINE writes it (the `=` follows).
        if c == '>' || c == '<' {
            let skip = |mut k: usize| {
                while chars.get(k) == Some(&' ') {
                    k += 1;
                }
                k
            };
            let k = skip(i + 1);
            if chars.get(k..k + 2) == Some(&['o', 'r'][..]) {
                let e = skip(k + 2);
                if chars.get(e) == Some(&'=') {
                    out.push(c);
                    i = e;
                    continue;
                }
            }
        }
        let greek = |c: Option<&char>| c.is_some_and(|c| greek_name(*c).is_some());
        match greek_name(c) {
            Some(name)
                if !greek(i.checked_sub(1).and_then(|p| chars.get(p))) && !greek(rest.first()) =>
            {
                out.push(' ');
                out.push_str(name);
                out.push(' ');
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

fn greek_name(c: char) -> Option<&'static str> {
    Some(match c.to_lowercase().next()? {
        'α' => "alpha",
        'β' => "beta",
        'γ' => "gamma",
        'δ' => "delta",
        'ε' => "epsilon",
        'ζ' => "zeta",
        'η' => "eta",
        'θ' => "theta",
        'ι' => "iota",
        'κ' => "kappa",
        'λ' => "lambda",
        'μ' | 'µ' => "mu",
        'ν' => "nu",
        'ξ' => "xi",
        'π' => "pi",
        'ρ' => "rho",
        'σ' | 'ς' => "sigma",
        'τ' => "tau",
        'υ' => "upsilon",
        'φ' => "phi",
        'χ' => "chi",
        'ψ' => "psi",
        'ω' => "omega",
        _ => return None,
    })
}

/// The part of an author's sort name ("Le Quintrec, M.") compared when
/// deduplicating articles: the last word of the folded surname, without a
/// generational suffix ("quintrec"), so particles written or not
/// ("van der Graaf", "Graaf"), hyphens and "Jr." do not matter.
pub fn match_surname(sort: &str) -> String {
    let surname = fold(sort.split(',').next().unwrap_or(""));
    const SUFFIXES: [&str; 5] = ["jr", "sr", "ii", "iii", "iv"];
    surname
        .split(' ')
        .rfind(|w| !w.is_empty() && !SUFFIXES.contains(w))
        .unwrap_or("")
        .to_owned()
}

/// The first letter of a journal's folded name, without a leading article:
/// abbreviations keep it ("J Clin Oncol", "Journal of Clinical Oncology"),
/// and two journals with different ones are different journals.
pub fn venue_initial(journal: &str) -> Option<char> {
    let f = fold(journal);
    let mut words = f.split(' ').filter(|w| !w.is_empty());
    let first = words.next()?;
    let word = match words.next() {
        Some(second) if ARTICLES.contains(&first) => second,
        _ => first,
    };
    word.chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_folding_is_the_general_folding() {
        let long = "Ab'c, D-e ".repeat(300);
        for s in [
            "",
            " ",
            "Crime and Punishment: A Novel",
            "  LES   MISERABLES!! ",
            "l'homme qui rit",
            "O'Brien, Flann",
            "'''",
            "rock 'n' roll",
            "C++ & Rust -- 2nd ed.",
            "x\u{0}y\tz\u{7f}",
            "___a___",
            long.as_str(),
        ] {
            assert_eq!(fold_ascii(s), fold_any(s), "{s:?}");
        }
        let all: String = (0u8..128).map(char::from).collect();
        assert_eq!(fold_ascii(&all), fold_any(&all));
    }

    #[test]
    fn folding_ignores_case_accents_and_punctuation() {
        assert_eq!(fold("Les Misérables"), "les miserables");
        assert_eq!(fold("  LES   MISERABLES!! "), "les miserables");
        assert_eq!(
            fold("Crime and Punishment: A Novel"),
            "crime and punishment a novel"
        );
        assert_eq!(fold("Æsop’s Fables"), "aesops fables");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("Łódź"), "lodz");
        assert_eq!(fold("ﬁnance"), "finance"); // ligature (NFKD)
        assert_eq!(fold("Ｆｕｌｌｗｉｄｔｈ"), "fullwidth");
        assert_eq!(fold("Достоевский"), "достоевскии"); // Cyrillic stays Cyrillic (й decomposes)
        assert_eq!(fold("東京物語"), "東京物語");
        assert_eq!(fold(""), "");
        assert_eq!(fold("...---..."), "");
        assert_eq!(fold("a\u{0}b\u{202e}c"), "a b c"); // controls and bidi overrides are separators
    }

    #[test]
    fn hostile_sizes_are_bounded() {
        let long = "é".repeat(1_000_000);
        assert_eq!(fold(&long).chars().count(), MAX_FOLDED);
        let marks = format!("a{}", "\u{301}".repeat(100_000)); // a with 100,000 accents
        assert_eq!(fold(&marks), "a");
    }

    #[test]
    fn sort_names() {
        assert_eq!(sort_name("Fyodor Dostoevsky"), "Dostoevsky, Fyodor");
        assert_eq!(sort_name("Ursula K. Le Guin"), "Le Guin, Ursula K.");
        assert_eq!(sort_name("Ludwig van Beethoven"), "van Beethoven, Ludwig");
        assert_eq!(sort_name("Dostoevsky, Fyodor"), "Dostoevsky, Fyodor");
        assert_eq!(sort_name("Homer"), "Homer");
        assert_eq!(sort_name("  Jane   Austen "), "Austen, Jane");
    }

    #[test]
    fn editions_of_one_work_share_a_key() {
        let k = work_key("Les Misérables", Some("Victor Hugo"));
        assert_eq!(k, "miserables|hugo");
        assert_eq!(work_key("LES MISERABLES", Some("Hugo, Victor")), k);
        assert_ne!(work_key("Les Misérables", Some("Someone Else")), k);
        assert_eq!(work_key("The Hobbit", None), "hobbit|");
        assert_eq!(
            work_key("The", None),
            "the|",
            "a title that is only an article keeps it"
        );
    }

    #[test]
    fn match_titles_drop_what_exports_add() {
        let t = "HPV testing and monitoring of women after treatment of CIN 3: review of the literature and meta-analysis";
        let k = match_title(t);
        assert_eq!(
            k,
            "hpv testing monitoring of women after treatment of cin 3 review of the literature meta analysis"
        );
        for variant in [
            "HPV testing and monitoring of women after treatment of CIN 3: Review of the literature and meta-analysis.",
            "HPV testing and monitoring of women after treatment of CIN 3: review of the literature and meta-analysis. [Review] [45 refs]",
            "HPV testing and monitoring of women after treatment of CIN 3: review of the literature and meta-analysis (Provisional abstract)",
            "[HPV testing and monitoring of women after treatment of CIN 3: review of the literature and meta-analysis]. [Spanish]",
            "HPV testing &amp; monitoring of women after treatment of CIN 3: review of the <i>literature</i> and meta-analysis",
            "HPV testing & monitoring of women after treatment of CIN 3: review of the literature & meta-analysis",
        ] {
            assert_eq!(match_title(variant), k, "{variant}");
        }
        assert_eq!(
            match_title("Women >=30 years with LSIL"),
            match_title("Women >or=30 years with LSIL")
        );
        assert_eq!(match_title("Women > or = 30"), match_title("Women ≥30"));
        assert_eq!(
            match_title("Interferon-γ (IFN-γ) as a marker"),
            match_title("Interferon-gamma (IFN-gamma) as a marker")
        );
        assert_eq!(match_title("Growth of μ-opioid"), "growth of mu opioid");
        assert_eq!(
            match_title("Ελληνικά"),
            fold("Ελληνικά"),
            "Greek words stay words"
        );
        // Parentheses that are part of the title stay; so do numbers in brackets
        // that are the whole title.
        assert_ne!(match_title("Findings (ALTS)"), match_title("Findings"));
        assert_ne!(
            match_title("Results: part 1 (of 2)"),
            match_title("Results: part 2 (of 2)")
        );
        assert_eq!(match_title("[1]"), "1");
        assert_eq!(match_title("a < b and c > d"), "b c d");
        assert_eq!(match_title("<b>"), "");
        assert_eq!(match_title(""), "");
        let long = format!("{}<i", "x <y ".repeat(100_000));
        assert!(match_title(&long).len() <= MAX_FOLDED);
    }

    #[test]
    fn match_surnames_ignore_particles_and_suffixes() {
        assert_eq!(match_surname("Le Quintrec, M."), "quintrec");
        assert_eq!(match_surname("Quintrec, M."), "quintrec");
        assert_eq!(match_surname("van der Graaf, Y"), "graaf");
        assert_eq!(match_surname("Wright Jr., T C"), "wright");
        assert_eq!(match_surname("Wright, Jr"), "wright");
        assert_eq!(match_surname("Reid-Nicholson, M"), "nicholson");
        assert_eq!(
            match_surname("Sørensen, P. G."),
            match_surname("Sorensen, P. G.")
        );
        assert_eq!(match_surname("Homer"), "homer");
        assert_eq!(match_surname(""), "");
    }

    #[test]
    fn venue_initials_survive_abbreviation() {
        assert_eq!(venue_initial("Journal of Clinical Oncology"), Some('j'));
        assert_eq!(venue_initial("J Clin Oncol"), Some('j'));
        assert_eq!(venue_initial("The Lancet"), Some('l'));
        assert_eq!(venue_initial("Lancet"), Some('l'));
        assert_eq!(
            venue_initial("Obstetrical & Gynecological Survey"),
            Some('o')
        );
        assert_eq!(venue_initial("Émergences"), Some('e'));
        assert_eq!(venue_initial(" -- "), None);
    }
}

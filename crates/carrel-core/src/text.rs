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

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Folded text is never longer than this many characters (titles of
/// megabytes are hostile, not literature).
pub const MAX_FOLDED: usize = 1024;

/// Folds `s` for comparison and search (see the module documentation).
pub fn fold(s: &str) -> String {
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

/// The key that groups editions into a work: folded title without a
/// leading article ("The", "A", "An", "Le", "La", "Les", "Der", "Die",
/// "Das", "El", "Il") plus the first author's folded surname.
pub fn work_key(title: &str, first_author: Option<&str>) -> String {
    let t = fold(title);
    let mut words = t.split(' ').peekable();
    const ARTICLES: [&str; 11] = [
        "the", "a", "an", "le", "la", "les", "der", "die", "das", "el", "il",
    ];
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

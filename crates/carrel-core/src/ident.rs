//! Identifiers of books and articles, validated and normalized on
//! construction, so that two spellings of one identifier are one value:
//!
//! - [`Isbn`]: ISBN-13, with ISBN-10 converted to 13 (check digits verified).
//! - [`Doi`]: lower-cased, resolver prefixes (`https://doi.org/`, `doi:`) stripped.
//! - [`Issn`]: `NNNN-NNNC` with its check digit verified.
//! - [`ArxivId`]: new (`2101.00001`) and old (`hep-th/9901001`) forms, version kept apart.
//!
//! [`Identifier::detect`] recognizes a search query that is one of them, in
//! any of the forms people paste.

use std::fmt;

use crate::CoreError;

const MAX_INPUT: usize = 512;

fn invalid(what: &'static str) -> CoreError {
    CoreError::InvalidIdentifier(what)
}

/// Removes a case-insensitive prefix.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn strip_any<'a>(mut s: &'a str, prefixes: &[&str]) -> &'a str {
    for p in prefixes {
        if let Some(rest) = strip_prefix_ci(s, p) {
            s = rest.trim_start();
        }
    }
    s
}

/// An ISBN, always held as its 13 digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Isbn([u8; 13]);

impl Isbn {
    /// Parses ISBN-10 or ISBN-13, with or without hyphens and spaces, with
    /// an optional `ISBN`, `ISBN-13:` or `urn:isbn:` prefix.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        if s.len() > MAX_INPUT {
            return Err(invalid("ISBN too long"));
        }
        let s = strip_any(
            s.trim(),
            &[
                "urn:isbn:",
                "isbn-13",
                "isbn-10",
                "isbn13",
                "isbn10",
                "isbn",
            ],
        );
        let s = s.strip_prefix(':').unwrap_or(s).trim();
        let mut chars: Vec<u8> = Vec::with_capacity(13);
        for c in s.bytes() {
            match c {
                b'0'..=b'9' => chars.push(c - b'0'),
                b'X' | b'x' => chars.push(10),
                b'-' | b' ' => {}
                _ => {
                    return Err(invalid(
                        "ISBN has characters other than digits, X and hyphens",
                    ));
                }
            }
            if chars.len() > 13 {
                return Err(invalid("ISBN has more than 13 digits"));
            }
        }
        match chars.len() {
            10 => {
                if chars[..9].contains(&10) {
                    return Err(invalid("X is only allowed as an ISBN-10 check digit"));
                }
                let sum: u32 = chars
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| (10 - i as u32) * d as u32)
                    .sum();
                if !sum.is_multiple_of(11) {
                    return Err(invalid("ISBN-10 check digit does not match"));
                }
                let mut d = [0u8; 13];
                d[..3].copy_from_slice(&[9, 7, 8]);
                d[3..12].copy_from_slice(&chars[..9]);
                d[12] = isbn13_check(&d[..12]);
                Ok(Self(d))
            }
            13 => {
                if chars.contains(&10) {
                    return Err(invalid("ISBN-13 has no X"));
                }
                let mut d = [0u8; 13];
                d.copy_from_slice(&chars);
                if !(d[..3] == [9, 7, 8] || d[..3] == [9, 7, 9]) {
                    return Err(invalid("ISBN-13 starts with 978 or 979"));
                }
                if isbn13_check(&d[..12]) != d[12] {
                    return Err(invalid("ISBN-13 check digit does not match"));
                }
                Ok(Self(d))
            }
            _ => Err(invalid("an ISBN has 10 or 13 digits")),
        }
    }

    /// The ISBN-10 form, for 978 ISBNs (979 ones have none).
    pub fn to_isbn10(&self) -> Option<String> {
        if self.0[..3] != [9, 7, 8] {
            return None;
        }
        let body = &self.0[3..12];
        let sum: u32 = body
            .iter()
            .enumerate()
            .map(|(i, &d)| (10 - i as u32) * d as u32)
            .sum();
        let check = (11 - sum % 11) % 11;
        let mut s: String = body.iter().map(|d| char::from(b'0' + d)).collect();
        s.push(if check == 10 {
            'X'
        } else {
            char::from(b'0' + check as u8)
        });
        Some(s)
    }
}

fn isbn13_check(d: &[u8]) -> u8 {
    let sum: u32 = d
        .iter()
        .enumerate()
        .map(|(i, &x)| if i % 2 == 0 { x as u32 } else { 3 * x as u32 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl fmt::Display for Isbn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.0 {
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// A DOI: `10.<registrant>/<suffix>`, lower-cased (DOIs are
/// case-insensitive), without a resolver prefix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Doi(String);

impl Doi {
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        if s.len() > MAX_INPUT {
            return Err(invalid("DOI too long"));
        }
        let s = strip_any(
            s.trim(),
            &[
                "https://",
                "http://",
                "dx.doi.org/",
                "doi.org/",
                "www.doi.org/",
                "doi:",
                "info:doi/",
            ],
        );
        let s = s.to_lowercase();
        let Some((prefix, suffix)) = s.split_once('/') else {
            return Err(invalid("a DOI is 10.<registrant>/<suffix>"));
        };
        let registrant = prefix
            .strip_prefix("10.")
            .ok_or(invalid("a DOI starts with 10."))?;
        if registrant.is_empty() || !registrant.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
            return Err(invalid("a DOI's registrant is digits and dots"));
        }
        if suffix.is_empty() || suffix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("a DOI's suffix is not empty and has no spaces"));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Doi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISSN, held as `NNNN-NNNC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Issn([u8; 8]);

impl Issn {
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        if s.len() > MAX_INPUT {
            return Err(invalid("ISSN too long"));
        }
        let s = strip_any(s.trim(), &["urn:issn:", "issn"]);
        let s = s.strip_prefix(':').unwrap_or(s).trim();
        let mut d = Vec::with_capacity(8);
        for c in s.bytes() {
            match c {
                b'0'..=b'9' => d.push(c - b'0'),
                b'X' | b'x' => d.push(10),
                b'-' | b' ' => {}
                _ => {
                    return Err(invalid(
                        "ISSN has characters other than digits, X and a hyphen",
                    ));
                }
            }
            if d.len() > 8 {
                return Err(invalid("an ISSN has 8 digits"));
            }
        }
        if d.len() != 8 {
            return Err(invalid("an ISSN has 8 digits"));
        }
        if d[..7].contains(&10) {
            return Err(invalid("X is only allowed as an ISSN check digit"));
        }
        let sum: u32 = d[..7]
            .iter()
            .enumerate()
            .map(|(i, &x)| (8 - i as u32) * x as u32)
            .sum();
        if (11 - sum % 11) % 11 != d[7] as u32 {
            return Err(invalid("ISSN check digit does not match"));
        }
        let mut out = [0u8; 8];
        out.copy_from_slice(&d);
        Ok(Self(out))
    }
}

impl fmt::Display for Issn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |d: u8| if d == 10 { 'X' } else { char::from(b'0' + d) };
        for (i, d) in self.0.iter().enumerate() {
            if i == 4 {
                f.write_str("-")?;
            }
            write!(f, "{}", c(*d))?;
        }
        Ok(())
    }
}

/// An arXiv identifier without its version (`2101.00001`,
/// `hep-th/9901001`); the version, if given, is kept apart.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArxivId {
    id: String,
    version: Option<u32>,
}

impl ArxivId {
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        if s.len() > MAX_INPUT {
            return Err(invalid("arXiv id too long"));
        }
        let s = strip_any(
            s.trim(),
            &[
                "https://",
                "http://",
                "www.",
                "arxiv.org/abs/",
                "arxiv.org/pdf/",
                "arxiv:",
            ],
        );
        let s = s.strip_suffix(".pdf").unwrap_or(s);
        let (id, version) = match s.rsplit_once('v') {
            Some((id, v)) if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) => {
                let v: u32 = v.parse().map_err(|_| invalid("arXiv version too large"))?;
                (id, Some(v))
            }
            _ => (s, None),
        };
        let new_style = |id: &str| {
            let Some((yymm, num)) = id.split_once('.') else {
                return false;
            };
            let month = yymm.get(2..4).and_then(|m| m.parse::<u32>().ok());
            yymm.len() == 4
                && yymm.bytes().all(|c| c.is_ascii_digit())
                && matches!(month, Some(1..=12))
                && (num.len() == 4 || num.len() == 5)
                && num.bytes().all(|c| c.is_ascii_digit())
        };
        let old_style = |id: &str| {
            let Some((archive, num)) = id.split_once('/') else {
                return false;
            };
            !archive.is_empty()
                && archive.len() <= 20
                && archive
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c == b'-' || c == b'.')
                && archive.as_bytes()[0].is_ascii_lowercase()
                && num.len() == 7
                && num.bytes().all(|c| c.is_ascii_digit())
        };
        let lower = id.to_ascii_lowercase();
        if new_style(id) || old_style(&lower) {
            Ok(Self {
                id: if new_style(id) { id.to_owned() } else { lower },
                version,
            })
        } else {
            Err(invalid("an arXiv id is YYMM.NNNNN or archive/YYMMNNN"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.id
    }

    pub fn version(&self) -> Option<u32> {
        self.version
    }
}

impl fmt::Display for ArxivId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// An identifier a search query may be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identifier {
    Isbn(Isbn),
    Doi(Doi),
    Issn(Issn),
    Arxiv(ArxivId),
}

impl Identifier {
    /// The identifier a query is, if it is one as a whole. ISBNs are tried
    /// before ISSNs and arXiv ids, whose shapes cannot be confused with them.
    pub fn detect(query: &str) -> Option<Self> {
        let q = query.trim();
        if q.is_empty() || q.len() > MAX_INPUT {
            return None;
        }
        if let Ok(d) = Doi::parse(q) {
            return Some(Self::Doi(d));
        }
        if let Ok(a) = ArxivId::parse(q) {
            return Some(Self::Arxiv(a));
        }
        if let Ok(i) = Isbn::parse(q) {
            return Some(Self::Isbn(i));
        }
        Issn::parse(q).ok().map(Self::Issn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isbn_forms_are_one_value() {
        let a = Isbn::parse("978-0-306-40615-7").unwrap();
        for s in [
            "9780306406157",
            "0-306-40615-2",
            "0306406152",
            "ISBN 0-306-40615-2",
            "ISBN-13: 978-0-306-40615-7",
            "urn:isbn:9780306406157",
            " 978 0 306 40615 7 ",
        ] {
            assert_eq!(Isbn::parse(s).unwrap(), a, "{s}");
        }
        assert_eq!(a.to_string(), "9780306406157");
        assert_eq!(a.to_isbn10().as_deref(), Some("0306406152"));
        // ISBN-10 with X as its check digit.
        let x = Isbn::parse("0-8044-2957-X").unwrap();
        assert_eq!(x.to_isbn10().as_deref(), Some("080442957X"));
        assert_eq!(x.to_string(), "9780804429573");
        let n = Isbn::parse("979-10-90636-07-1").unwrap();
        assert_eq!(n.to_isbn10(), None);
    }

    #[test]
    fn bad_isbns_are_refused() {
        for s in [
            "978-0-306-40615-8", // check digit
            "0-306-40615-3",     // check digit
            "123-0-306-40615-7", // prefix
            "03064061X2",        // X inside
            "978030640615",      // 12 digits
            "97803064061570",    // 14 digits
            "978\u{0}0306406157",
            "",
            "ISBN",
            "١٢٣٤٥٦٧٨٩٠", // Arabic-Indic digits
        ] {
            assert!(Isbn::parse(s).is_err(), "{s:?}");
        }
        assert!(Isbn::parse(&"9".repeat(100_000)).is_err());
    }

    #[test]
    fn dois_are_normalized() {
        let d = Doi::parse("10.1000/XYZ123").unwrap();
        for s in [
            "https://doi.org/10.1000/xyz123",
            "http://dx.doi.org/10.1000/XYZ123",
            "doi:10.1000/xyz123",
            "DOI: 10.1000/xyz123",
            "doi.org/10.1000/xyz123",
        ] {
            assert_eq!(Doi::parse(s).unwrap(), d, "{s}");
        }
        assert_eq!(d.as_str(), "10.1000/xyz123");
        assert_eq!(
            Doi::parse("10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-0")
                .unwrap()
                .as_str(),
            "10.1002/(sici)1097-4571(199806)49:8<693::aid-asi4>3.0.co;2-0"
        );
        for s in [
            "10.1000",
            "11.1000/x",
            "10./x",
            "10.ab/x",
            "10.1000/",
            "10.1000/a b",
            "doi:",
        ] {
            assert!(Doi::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn issns_carry_their_check_digit() {
        assert_eq!(Issn::parse("0378-5955").unwrap().to_string(), "0378-5955");
        assert_eq!(
            Issn::parse("issn 03785955").unwrap().to_string(),
            "0378-5955"
        );
        assert_eq!(Issn::parse("2434-561x").unwrap().to_string(), "2434-561X");
        for s in ["0378-5954", "0378-595", "03X8-5955", "0378-59555"] {
            assert!(Issn::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn arxiv_ids_in_every_form() {
        let a = ArxivId::parse("2101.00001").unwrap();
        for s in [
            "arXiv:2101.00001",
            "https://arxiv.org/abs/2101.00001",
            "arxiv.org/pdf/2101.00001v2.pdf",
            "2101.00001v3",
        ] {
            assert_eq!(ArxivId::parse(s).unwrap().as_str(), a.as_str(), "{s}");
        }
        assert_eq!(ArxivId::parse("2101.00001v3").unwrap().version(), Some(3));
        let old = ArxivId::parse("arXiv:hep-th/9901001v1").unwrap();
        assert_eq!((old.as_str(), old.version()), ("hep-th/9901001", Some(1)));
        assert_eq!(
            ArxivId::parse("math.GT/0309136").unwrap().as_str(),
            "math.gt/0309136"
        );
        for s in [
            "2113.00001",
            "2101.001",
            "21010.00001",
            "hep-th/99",
            "/9901001",
            "2101.00001vx",
        ] {
            assert!(ArxivId::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn queries_that_are_identifiers() {
        assert!(matches!(
            Identifier::detect("0-306-40615-2"),
            Some(Identifier::Isbn(_))
        ));
        assert!(matches!(
            Identifier::detect("https://doi.org/10.1000/xyz123"),
            Some(Identifier::Doi(_))
        ));
        assert!(matches!(
            Identifier::detect("arXiv:2101.00001"),
            Some(Identifier::Arxiv(_))
        ));
        assert!(matches!(
            Identifier::detect("0378-5955"),
            Some(Identifier::Issn(_))
        ));
        for q in ["les miserables", "dostoyevsky", "1984", "2101", "", "   "] {
            assert_eq!(Identifier::detect(q), None, "{q:?}");
        }
    }
}

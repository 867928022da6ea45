//! Text analysis shared by indexing and querying: words are folded with
//! [`carrel_core::text::fold`] semantics (a fast path does the same for
//! ASCII words), Han and kana characters become one token each, and tokens
//! are cut at [`MAX_TOKEN_CHARS`].

use carrel_core::text::fold;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The name the word tokenizer is registered under.
pub(crate) const FOLD: &str = "carrel_fold";
/// The name the edge n-gram (prefix) tokenizer is registered under.
pub(crate) const EDGE: &str = "carrel_edge";
/// Tokens are cut to this many characters (index and query alike).
pub(crate) const MAX_TOKEN_CHARS: usize = 64;
/// The prefix field holds the prefixes of this many characters of each word.
pub(crate) const EDGE_MIN: usize = 2;
pub(crate) const EDGE_MAX: usize = 4;

/// Calls `emit(token, from, to)` for every token of `text`, with the byte
/// range of the word it came from.
pub(crate) fn for_each_token(text: &str, mut emit: impl FnMut(&str, usize, usize)) {
    let mut buf = String::new();
    let mut word_start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        if c.is_whitespace() {
            if let Some(start) = word_start.take() {
                word(&text[start..i], &mut buf, &mut |t| emit(t, start, i));
            }
        } else if word_start.is_none() {
            word_start = Some(i);
        }
    }
}

/// Tokens of one whitespace-free word.
fn word(w: &str, buf: &mut String, emit: &mut dyn FnMut(&str)) {
    if w.is_ascii() {
        // fold() on ASCII: lower case, apostrophes dropped, anything else
        // that is not a letter or digit separates.
        buf.clear();
        for b in w.bytes() {
            match b {
                b'a'..=b'z' | b'0'..=b'9' => buf.push(b as char),
                b'A'..=b'Z' => buf.push(b.to_ascii_lowercase() as char),
                b'\'' => {}
                _ => {
                    if !buf.is_empty() {
                        emit_cut(buf, emit);
                        buf.clear();
                    }
                }
            }
        }
        if !buf.is_empty() {
            emit_cut(buf, emit);
        }
    } else {
        let folded = fold(w);
        for part in folded.split(' ').filter(|p| !p.is_empty()) {
            if part.chars().any(is_cjk) {
                split_cjk(part, emit);
            } else {
                emit_cut(part, emit);
            }
        }
    }
}

fn emit_cut(t: &str, emit: &mut dyn FnMut(&str)) {
    match t.char_indices().nth(MAX_TOKEN_CHARS) {
        Some((cut, _)) => emit(&t[..cut]),
        None => emit(t),
    }
}

/// Han ideographs and kana are written without spaces: each is a token.
fn split_cjk(part: &str, emit: &mut dyn FnMut(&str)) {
    let mut run_start = None;
    for (i, c) in part.char_indices() {
        if is_cjk(c) {
            if let Some(s) = run_start.take() {
                emit_cut(&part[s..i], emit);
            }
            emit(&part[i..i + c.len_utf8()]);
        } else if run_start.is_none() {
            run_start = Some(i);
        }
    }
    if let Some(s) = run_start {
        emit_cut(&part[s..], emit);
    }
}

pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // hiragana, katakana
        | 0x31F0..=0x31FF    // katakana extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // compatibility ideographs
        | 0x20000..=0x2FA1F) // supplementary ideographs
}

/// The tokens of `text` as owned strings (queries, tests).
pub(crate) fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_token(text, |t, _, _| out.push(t.to_owned()));
    out
}

/// The tantivy tokenizer: folded words, or (`edge`) the 2–4 character
/// prefixes of each folded word.
#[derive(Clone, Default)]
pub(crate) struct FoldTokenizer {
    edge: bool,
    tokens: Vec<Token>,
}

impl FoldTokenizer {
    pub(crate) fn words() -> Self {
        Self::default()
    }

    pub(crate) fn edge() -> Self {
        Self {
            edge: true,
            tokens: Vec::new(),
        }
    }
}

impl Tokenizer for FoldTokenizer {
    type TokenStream<'a> = VecTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream<'a> {
        // Token strings are reused from one text to the next.
        let mut used = 0;
        let tokens = &mut self.tokens;
        let mut push = |text: &str, from: usize, to: usize| {
            if used == tokens.len() {
                tokens.push(Token::default());
            }
            let t = &mut tokens[used];
            t.text.clear();
            t.text.push_str(text);
            t.offset_from = from;
            t.offset_to = to;
            t.position = used;
            t.position_length = 1;
            used += 1;
        };
        let edge = self.edge;
        for_each_token(text, |t, from, to| {
            if edge {
                for (n, (i, c)) in t.char_indices().enumerate().skip(EDGE_MIN - 1) {
                    if n >= EDGE_MAX {
                        break;
                    }
                    push(&t[..i + c.len_utf8()], from, to);
                }
            } else {
                push(t, from, to);
            }
        });
        VecTokenStream {
            tokens: &self.tokens[..used],
            next: 0,
        }
    }
}

pub(crate) struct VecTokenStream<'a> {
    tokens: &'a [Token],
    next: usize,
}

impl TokenStream for VecTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        unreachable!("carrel tokens are not filtered after the tokenizer")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_fast_path_is_fold() {
        for s in [
            "Les Misérables",
            "Crime and Punishment: A Novel",
            "l'homme qui rit",
            "O'Brien, Flann",
            "rock 'n' roll",
            "C++ & Rust -- 2nd ed.",
            "x\u{0}y\tz",
            "___",
            "Æsop’s Fables",
            "ﬁnance",
            "Straße ŁÓDŹ",
        ] {
            let want: Vec<String> = fold(s)
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            assert_eq!(tokens(s), want, "{s:?}");
        }
    }

    #[test]
    fn cjk_characters_are_tokens() {
        assert_eq!(tokens("東京物語 1953"), ["東", "京", "物", "語", "1953"]);
        assert_eq!(tokens("abc東京"), ["abc", "東", "京"]);
        assert_eq!(tokens("Преступление и наказание")[0], "преступление");
    }

    #[test]
    fn long_tokens_are_cut() {
        let long = "a".repeat(1000);
        assert_eq!(tokens(&long), ["a".repeat(MAX_TOKEN_CHARS)]);
    }

    #[test]
    fn edge_tokens() {
        let mut t = FoldTokenizer::edge();
        let mut s = t.token_stream("Pride é Prejudicé");
        let mut got = Vec::new();
        while s.advance() {
            got.push(s.token().text.clone());
        }
        assert_eq!(got, ["pr", "pri", "prid", "pr", "pre", "prej"]);
    }
}

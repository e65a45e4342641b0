//! Small text helpers shared by the rules: a tokenizer that keeps byte spans, case-insensitive
//! phrase matching over words, and the FNV-1a hash that defines the evaluation split. No regex
//! engine: the patterns here are few and each is easier to read as code than as a regex.

/// What a token is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Letters (with inner apostrophes: "don't", "i'm").
    Alpha,
    /// ASCII digits.
    Digit,
    /// Any other single non-space character.
    Sym,
}

/// A token with its byte span in the original text.
#[derive(Debug, Clone)]
pub(crate) struct Token<'a> {
    pub text: &'a str,
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    /// Whether whitespace (or the start of the text) comes right before it.
    pub space_before: bool,
}

impl Token<'_> {
    pub fn is(&self, kind: Kind) -> bool {
        self.kind == kind
    }
    pub fn sym(&self, c: char) -> bool {
        self.kind == Kind::Sym && self.text.starts_with(c)
    }
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

/// Splits `text` into maximal runs of letters (with inner apostrophes), runs of ASCII digits,
/// and single other characters; whitespace separates and is dropped.
pub(crate) fn tokenize(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    let mut space_before = true;
    while i < chars.len() {
        let (start, c) = chars[i];
        if c.is_whitespace() {
            space_before = true;
            i += 1;
            continue;
        }
        let kind = if c.is_alphabetic() {
            Kind::Alpha
        } else if c.is_ascii_digit() {
            Kind::Digit
        } else {
            Kind::Sym
        };
        let mut j = i + 1;
        match kind {
            Kind::Alpha => {
                while j < chars.len() {
                    let c = chars[j].1;
                    let inner_apostrophe =
                        is_apostrophe(c) && chars.get(j + 1).is_some_and(|n| n.1.is_alphabetic());
                    if c.is_alphabetic() || inner_apostrophe {
                        j += 1;
                    } else {
                        break;
                    }
                }
            }
            Kind::Digit => {
                while j < chars.len() && chars[j].1.is_ascii_digit() {
                    j += 1;
                }
            }
            Kind::Sym => {}
        }
        let end = chars.get(j).map(|c| c.0).unwrap_or(text.len());
        out.push(Token {
            text: &text[start..end],
            kind,
            start,
            end,
            space_before,
        });
        space_before = false;
        i = j;
    }
    out
}

/// Lower-cased words (letters and digits only, apostrophes normalised to `'`), for phrase rules.
pub(crate) fn words(text: &str) -> Vec<String> {
    tokenize(text)
        .iter()
        .filter(|t| t.kind != Kind::Sym)
        .map(|t| t.text.to_lowercase().replace('\u{2019}', "'"))
        .collect()
}

/// One word of a phrase pattern: `*` at the end matches any word with that prefix, `a|b` matches
/// either alternative.
fn word_matches(pattern: &str, word: &str) -> bool {
    pattern.split('|').any(|alt| match alt.strip_suffix('*') {
        Some(prefix) => word.starts_with(prefix),
        None => alt == word,
    })
}

/// Finds the first occurrence of a space-separated phrase pattern in `words`; returns the index
/// of its first word.
pub(crate) fn find_phrase(words: &[String], phrase: &str) -> Option<usize> {
    let pat: Vec<&str> = phrase.split_whitespace().collect();
    if pat.is_empty() || pat.len() > words.len() {
        return None;
    }
    (0..=words.len() - pat.len())
        .find(|&i| pat.iter().zip(&words[i..]).all(|(p, w)| word_matches(p, w)))
}

/// The first phrase of `phrases` found in `words`, as it appears there.
pub(crate) fn first_phrase(words: &[String], phrases: &[&str]) -> Option<String> {
    phrases.iter().find_map(|p| {
        let n = p.split_whitespace().count();
        find_phrase(words, p).map(|i| words[i..i + n].join(" "))
    })
}

/// FNV-1a (64-bit) over the UTF-8 bytes: stable across runs, platforms and Rust versions, which
/// std's `RandomState` is not. It defines the held-out split of the intent data.
pub fn fnv1a64(text: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Damerau-Levenshtein distance (optimal string alignment) over chars, for typo'd keywords.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keep_spans_and_split_letters_from_digits() {
        let text = "order113542617735902, I'm @ LF-100234";
        let toks = tokenize(text);
        let shown: Vec<&str> = toks.iter().map(|t| t.text).collect();
        assert_eq!(
            shown,
            [
                "order",
                "113542617735902",
                ",",
                "I'm",
                "@",
                "LF",
                "-",
                "100234"
            ]
        );
        assert!(toks.iter().all(|t| &text[t.start..t.end] == t.text));
        assert!(!toks[1].space_before && toks[3].space_before);
    }

    #[test]
    fn phrases_match_words_prefixes_and_alternatives() {
        let w = words("I will SUE you, and my lawyers agree");
        assert_eq!(find_phrase(&w, "sue you|u"), Some(2));
        assert_eq!(
            first_phrase(&w, &["attorney*", "lawyer*"]),
            Some("lawyers".into())
        );
        assert_eq!(find_phrase(&w, "legal action"), None);
    }

    #[test]
    fn typo_distance_counts_transpositions_once() {
        assert_eq!(edit_distance("roder", "order"), 1);
        assert_eq!(edit_distance("purchqse", "purchase"), 1);
        assert_eq!(edit_distance("pucrhase", "purchase"), 1);
        assert_eq!(edit_distance("border", "order"), 1);
    }

    #[test]
    fn fnv_is_the_reference_fnv1a() {
        assert_eq!(fnv1a64(""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64("a"), 0xaf63dc4c8601ec8c);
    }
}

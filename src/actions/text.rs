//! Tokens for reading a request: lower-cased words and numbers with their byte spans, emails and
//! ids kept whole, sentence ends marked. Letters and digits glued together are split ("1000ml" →
//! "1000" "ml", "i7" → "i" "7") so that "15-inch", "15 inch" and "15inch" read alike; hyphens
//! and quotes separate words without ending a sentence.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Word,
    Num,
    /// A punctuation mark that is not a sentence end (, : ( ) > + % …).
    Sym,
    /// `.`, `!`, `?` or a line break: the end of a sentence.
    End,
    /// `;`: ends a clause but not a sentence ("exchange A to B; C to D; via paypal").
    Semi,
    Email,
    /// `credit_card_4190576`, `mia_garcia_4516`: letters and digits joined by underscores.
    Id,
}

#[derive(Debug, Clone)]
pub struct Tok {
    /// Lower-cased.
    pub text: String,
    /// `text` with a plural ending removed, for matching.
    pub stem: String,
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Tok {
    pub fn is(&self, w: &str) -> bool {
        self.text == w
    }
    pub fn is_word(&self) -> bool {
        matches!(self.kind, Kind::Word | Kind::Num)
    }
    pub fn is_break(&self) -> bool {
        matches!(self.kind, Kind::End)
    }
}

/// Removes an English plural ending: "boots" → "boot", "switches" → "switch", "glasses" →
/// "glass"; short words and "-ss"/"-us"/"-is" words stay.
pub fn stem(w: &str) -> String {
    let n = w.len();
    if n <= 3 || !w.is_ascii() {
        return w.to_string();
    }
    for suffix in ["ches", "shes", "sses", "xes"] {
        if w.ends_with(suffix) {
            return w[..n - 2].to_string();
        }
    }
    if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        return w[..n - 1].to_string();
    }
    w.to_string()
}

fn push(out: &mut Vec<Tok>, text: &str, kind: Kind, start: usize, end: usize) {
    let text = text.to_lowercase().replace('\u{2019}', "'");
    let stem = if kind == Kind::Word {
        stem(&text)
    } else {
        text.clone()
    };
    out.push(Tok {
        text,
        stem,
        kind,
        start,
        end,
    });
}

fn is_id(piece: &str) -> bool {
    let parts: Vec<&str> = piece.split('_').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

/// Tokenises `text`.
pub fn tokenize(text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut pos = 0;
    for piece in text.split_inclusive(|c: char| c.is_whitespace()) {
        let start = pos;
        pos += piece.len();
        let body = piece.trim_end();
        let had_newline = piece[body.len()..].contains('\n');
        let lead = body.len()
            - body
                .trim_start_matches(['(', '[', '{', '"', '\'', '<', '\u{201c}', '\u{2018}', '#'])
                .len();
        let core = body[lead..].trim_end_matches(|c: char| !c.is_alphanumeric());
        let core_start = start + lead;
        if core.contains('@') {
            push(
                &mut out,
                core,
                Kind::Email,
                core_start,
                core_start + core.len(),
            );
            tail(
                &mut out,
                &body[lead + core.len()..],
                core_start + core.len(),
            );
        } else if is_id(core) {
            push(
                &mut out,
                core,
                Kind::Id,
                core_start,
                core_start + core.len(),
            );
            tail(
                &mut out,
                &body[lead + core.len()..],
                core_start + core.len(),
            );
        } else {
            split_piece(&mut out, body, start);
        }
        if had_newline {
            let at = start + body.len();
            out.push(Tok {
                text: "\n".into(),
                stem: "\n".into(),
                kind: Kind::End,
                start: at,
                end: at,
            });
        }
    }
    out
}

/// Punctuation after an email or id.
fn tail(out: &mut Vec<Tok>, rest: &str, at: usize) {
    for (i, c) in rest.char_indices() {
        sym(out, c, at + i);
    }
}

fn sym(out: &mut Vec<Tok>, c: char, at: usize) {
    let kind = match c {
        '.' | '!' | '?' => Kind::End,
        ';' => Kind::Semi,
        '-' | '\'' | '"' | '\u{2019}' | '\u{2018}' | '\u{201c}' | '\u{201d}' | '_' | '#' | '*' => {
            return
        }
        _ => Kind::Sym,
    };
    out.push(Tok {
        text: c.to_string(),
        stem: c.to_string(),
        kind,
        start: at,
        end: at + c.len_utf8(),
    });
}

/// Splits a whitespace-free piece into words, numbers (with a decimal point inside) and marks.
fn split_piece(out: &mut Vec<Tok>, piece: &str, base: usize) {
    let chars: Vec<(usize, char)> = piece.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c.is_ascii_digit() {
            let mut j = i;
            while j + 1 < chars.len()
                && (chars[j + 1].1.is_ascii_digit()
                    || chars[j + 1].1 == '.'
                        && chars.get(j + 2).is_some_and(|x| x.1.is_ascii_digit())
                    || chars[j + 1].1 == ','
                        && chars.get(j + 2).is_some_and(|x| x.1.is_ascii_digit())
                        && chars.get(j + 4).is_some_and(|x| x.1.is_ascii_digit()))
            {
                j += 1;
            }
            let end = chars.get(j + 1).map_or(piece.len(), |x| x.0);
            let text: String = piece[at..end].chars().filter(|c| *c != ',').collect();
            out.push(Tok {
                text: text.clone(),
                stem: text,
                kind: Kind::Num,
                start: base + at,
                end: base + end,
            });
            i = j + 1;
        } else if c.is_alphabetic()
            || c == '\''
                && i > 0
                && chars[i - 1].1.is_alphabetic()
                && chars.get(i + 1).is_some_and(|x| x.1.is_alphabetic())
        {
            let mut j = i;
            while j + 1 < chars.len()
                && (chars[j + 1].1.is_alphabetic()
                    || (chars[j + 1].1 == '\'' || chars[j + 1].1 == '\u{2019}')
                        && chars.get(j + 2).is_some_and(|x| x.1.is_alphabetic()))
            {
                j += 1;
            }
            let end = chars.get(j + 1).map_or(piece.len(), |x| x.0);
            push(out, &piece[at..end], Kind::Word, base + at, base + end);
            i = j + 1;
        } else {
            sym(out, c, base + at);
            i += 1;
        }
    }
}

/// The words of `text`, stemmed, for matching against catalogue names and option values.
pub fn stems(text: &str) -> Vec<String> {
    tokenize(text)
        .into_iter()
        .filter(|t| t.is_word())
        .map(|t| normal_unit(&t.stem).to_string())
        .collect()
}

/// One spelling per unit, so "4 ft" matches "4 foot" and "2 liters" matches "2 litre".
pub fn normal_unit(w: &str) -> &str {
    match w {
        "foot" | "feet" | "ft" => "ft",
        "inch" | "inche" => "inch",
        "liter" | "litre" | "l" => "l",
        "colour" => "color",
        "grey" => "gray",
        "hr" | "hour" => "hour",
        "lb" | "lbs" | "pound" => "lb",
        "degree" | "deg" => "degree",
        "gig" | "gigabyte" => "gb",
        "terabyte" => "tb",
        _ => w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_numbers_split_and_ids_stay_whole() {
        let t: Vec<String> =
            tokenize("the 15-inch i7, 1000ml via credit_card_4190576; mia.g@x.com.")
                .iter()
                .map(|t| t.text.clone())
                .collect();
        assert_eq!(
            t,
            [
                "the",
                "15",
                "inch",
                "i",
                "7",
                ",",
                "1000",
                "ml",
                "via",
                "credit_card_4190576",
                ";",
                "mia.g@x.com",
                "."
            ]
        );
        assert_eq!(
            stems("Two Boots, glasses and switches"),
            ["two", "boot", "glass", "and", "switch"]
        );
        assert_eq!(tokenize("1.5 liters")[0].text, "1.5");
    }
}

//! Cutting a message into the clauses that may each carry a request: "Cancel order LF-100003 and
//! also, what's your return policy?" is two requests.
//!
//! Cuts are made at sentence ends (`.`, `?`, `!`, `;`, new lines) and at connectors that start a
//! new request: "and also", "also,", "plus", "and then", "as well as that", "oh and", "by the way",
//! "btw", "another thing", and ", and" / "and" followed by a new subject or question ("…, and I
//! want", "and can you", "and what"). A bare "and" does not cut ("size and colour"). Clauses are
//! classified by the caller; this module only cuts.

use super::text::{tokenize, Kind};

/// At most this many clauses are classified; the rest stays in the last one (a message with
/// dozens of sentences is rare and must not cost dozens of model calls).
pub const MAX_CLAUSES: usize = 8;

/// Abbreviations whose full stop does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "st", "no", "e.g", "i.e", "etc", "vs", "approx", "dept", "apt", "jr",
    "sr", "inc", "ltd", "co",
];

/// Words after "and" (or ", and") that start a new request.
const NEW_REQUEST_AFTER_AND: &[&str] = &[
    "i", "i'd", "i'm", "i'll", "i've", "also", "can", "could", "would", "will", "what", "what's",
    "whats", "how", "where", "when", "why", "is", "are", "do", "does", "please", "then", "tell",
    "let", "my", "cancel", "change", "update", "refund", "return", "exchange", "send", "check",
];

/// Connectors that always start a new clause (matched on lower-cased words; the connector
/// itself is dropped from both clauses).
const CONNECTORS: &[&[&str]] = &[
    &["and", "also"],
    &["and", "then"],
    &["and", "another", "thing"],
    &["another", "thing"],
    &["as", "well", "as", "that"],
    &["oh", "and"],
    &["by", "the", "way"],
    &["btw"],
    &["plus"],
    &["also"],
];

/// Cuts `text` into trimmed, non-empty clauses (at most [`MAX_CLAUSES`]). A message with no cut
/// gives one clause, the whole (trimmed) text.
pub fn split_clauses(text: &str) -> Vec<String> {
    let toks = tokenize(text);
    let lower: Vec<String> = toks
        .iter()
        .map(|t| t.text.to_lowercase().replace('\u{2019}', "'"))
        .collect();
    // Byte offsets where a cut happens: (cut_start, resume_at). Text in between is dropped.
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let n = toks.len();
    let mut i = 0;
    while i < n {
        let t = &toks[i];
        // Sentence ends: ".", "?", "!", ";" followed by a space or the end, and not after an
        // abbreviation or inside a number ("10.5", "LF-100234.").
        if t.kind == Kind::Sym && ".?!;".contains(t.text) {
            let mut j = i;
            while j + 1 < n
                && toks[j + 1].kind == Kind::Sym
                && ".?!;".contains(toks[j + 1].text)
                && !toks[j + 1].space_before
            {
                j += 1;
            }
            let at_end = j + 1 >= n || toks[j + 1].space_before;
            let abbreviation = t.text == "."
                && i > 0
                && ABBREVIATIONS.contains(&lower[i - 1].as_str())
                && !toks[i].space_before;
            if at_end && !abbreviation && j + 1 < n {
                cuts.push((toks[j].end, toks[j + 1].start));
            }
            i = j + 1;
            continue;
        }
        // New lines end a clause too.
        if i > 0 && t.space_before && text[toks[i - 1].end..t.start].contains('\n') {
            cuts.push((toks[i - 1].end, t.start));
        }
        // A connector at a word boundary. "also"/"plus" alone cut only at a clause start or after
        // a comma ("…, plus can you…"), never inside a noun phrase ("Larkfield Plus").
        let after_comma = i > 0 && toks[i - 1].kind == Kind::Sym && toks[i - 1].text == ",";
        let mut matched = None;
        for c in CONNECTORS {
            if c.iter()
                .enumerate()
                .all(|(k, w)| lower.get(i + k).is_some_and(|x| x == w))
            {
                let single = c.len() == 1;
                let ok = if single {
                    // "also," / ", also" / ", plus" / "plus, "
                    let next_comma = toks
                        .get(i + 1)
                        .is_some_and(|x| x.kind == Kind::Sym && x.text == ",");
                    (after_comma || next_comma) && t.text != "Plus"
                } else {
                    true
                };
                if ok && i > 0 {
                    matched = Some(c.len());
                }
                break;
            }
        }
        // ", and I want", "and can you", "and what's".
        if matched.is_none() && lower[i] == "and" && i > 0 {
            let next = lower.get(i + 1).map(String::as_str).unwrap_or("");
            let next2 = lower.get(i + 2).map(String::as_str).unwrap_or("");
            let subject_or_question = NEW_REQUEST_AFTER_AND.contains(&next)
                && !(next == "i"
                    && matches!(
                        next2,
                        "was" | "were" | "had" | "have" | "got" | "received" | "ordered" | "bought"
                    ))
                && (next != "my" || after_comma);
            if subject_or_question {
                matched = Some(1);
            }
        }
        if let Some(len) = matched {
            let end_tok = i + len - 1;
            // Swallow a comma right after the connector ("also, ").
            let resume = toks
                .get(end_tok + 1)
                .map(|x| {
                    if x.kind == Kind::Sym && x.text == "," {
                        toks.get(end_tok + 2).map_or(text.len(), |y| y.start)
                    } else {
                        x.start
                    }
                })
                .unwrap_or(text.len());
            let cut_start = if after_comma {
                toks[i - 1].start
            } else {
                t.start
            };
            cuts.push((cut_start, resume));
            i = end_tok + 1;
            continue;
        }
        i += 1;
    }
    let mut clauses = Vec::new();
    let mut from = 0;
    for (cut, resume) in cuts {
        if cut >= from {
            clauses.push(text[from..cut].to_string());
            from = resume;
        }
    }
    clauses.push(text[from..].to_string());
    let mut clauses: Vec<String> = clauses
        .into_iter()
        .map(|c| {
            c.trim()
                .trim_matches(|ch: char| ch == ',' || ch == '-' || ch.is_whitespace())
                .trim()
                .to_string()
        })
        .filter(|c| c.chars().any(char::is_alphanumeric))
        .collect();
    if clauses.len() > MAX_CLAUSES {
        let rest = clauses.split_off(MAX_CLAUSES - 1).join(" ");
        clauses.push(rest);
    }
    if clauses.is_empty() {
        clauses.push(text.trim().to_string());
    }
    clauses
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_sentences_and_request_connectors() {
        assert_eq!(
            split_clauses("cancel order LF-100003 and also what's your return policy?"),
            ["cancel order LF-100003", "what's your return policy?"]
        );
        assert_eq!(
            split_clauses("Hi! Where is my order? Also, can I change the address"),
            ["Hi!", "Where is my order?", "can I change the address"]
        );
        assert_eq!(
            split_clauses("I need a refund, and I want to unsubscribe"),
            ["I need a refund", "I want to unsubscribe"]
        );
        assert_eq!(
            split_clauses("cancel it, plus send me the invoice"),
            ["cancel it", "send me the invoice"]
        );
    }

    #[test]
    fn does_not_cut_inside_a_request() {
        assert_eq!(
            split_clauses("do you have it in size and colour options?"),
            ["do you have it in size and colour options?"]
        );
        assert_eq!(
            split_clauses("Is Larkfield Plus worth it"),
            ["Is Larkfield Plus worth it"]
        );
        assert_eq!(
            split_clauses("my boots are size 10.5, I want 11"),
            ["my boots are size 10.5, I want 11"]
        );
        assert_eq!(
            split_clauses("I received my order and the mug is cracked"),
            ["I received my order and the mug is cracked"]
        );
        assert_eq!(split_clauses("  "), [""]);
    }
}

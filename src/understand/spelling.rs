//! Repairs misspelt *keywords* before a message is embedded: "acnceling ordr" → "canceling
//! order", "erimbursements" → "reimbursements", "feecback" → "feedback".
//!
//! Why: MiniLM's word pieces shatter a misspelt keyword into fragments that carry little of its
//! meaning, and the keyword is often the one word that decides the intent. The repair is narrow on
//! purpose: a word is only ever changed *into* one of the intent-bearing keywords below, only when
//! it is one edit away (two for long keywords), never when it is itself a keyword or an inflection
//! of one ("charged", "items"), and never when it is a real word that happens to be close
//! ("shopping" is not "shipping", "policy" is not "police"). Everything else — names, products,
//! numbers, casing, punctuation — is left exactly as written. This module does not correct
//! spelling in general.

use std::borrow::Cow;

use super::text::{edit_distance, tokenize, Kind};

/// The words whose spelling decides intents.
const KEYWORDS: &[&str] = &[
    "order",
    "orders",
    "purchase",
    "purchases",
    "track",
    "tracking",
    "refund",
    "refunds",
    "reimbursement",
    "reimbursements",
    "reimburse",
    "money",
    "cancel",
    "cancelling",
    "canceling",
    "cancellation",
    "invoice",
    "invoices",
    "receipt",
    "account",
    "password",
    "feedback",
    "review",
    "complaint",
    "complain",
    "delivery",
    "deliver",
    "shipping",
    "shipment",
    "address",
    "payment",
    "payments",
    "methods",
    "newsletter",
    "subscribe",
    "unsubscribe",
    "subscription",
    "charges",
    "charge",
    "change",
    "agent",
    "human",
    "representative",
    "customer",
    "service",
    "support",
    "status",
    "return",
    "returns",
    "exchange",
    "policy",
    "options",
    "information",
    "register",
    "registration",
    "profile",
    "restitution",
    "compensation",
    "rebate",
    "parcel",
    "package",
    "article",
    "product",
    "products",
    "items",
    "modify",
    "update",
    "switch",
    "delete",
    "create",
    "premium",
    "standard",
    "platinum",
    "assistance",
    "penalty",
    "transaction",
    "shipped",
    "arrive",
    "arrival",
    "estimated",
];

/// Real words one or two edits from a keyword: left alone.
const NEAR_MISSES: &[&str] = &[
    "shopping",
    "skipping",
    "whipping",
    "assistant",
    "assistants",
    "resistance",
    "states",
    "stats",
    "statue",
    "older",
    "odder",
    "border",
    "honey",
    "monkey",
    "trick",
    "truck",
    "trace",
    "crack",
    "wrack",
    "trucking",
    "tacking",
    "cracking",
    "chance",
    "chargers",
    "charger",
    "crate",
    "swatch",
    "stems",
    "humane",
    "police",
    "produce",
    "shipper",
    "skipped",
    "debate",
    "relate",
    "translation",
    "formation",
    "condensation",
    "pavement",
    "subscriber",
    "agenda",
    "parcels",
    "revue",
    "statues",
    "profiles",
    "tracks",
    "trash",
    "ordinal",
];

/// Whether `w` is a keyword with an ending added or taken away ("items"/"item", "charged").
fn inflection_of_keyword(w: &str) -> bool {
    KEYWORDS.iter().any(|k| {
        let k = *k;
        w.strip_prefix(k)
            .is_some_and(|rest| matches!(rest, "s" | "es" | "d" | "ed" | "ing" | "er" | "ers"))
            || k.strip_prefix(w)
                .is_some_and(|rest| matches!(rest, "s" | "es" | "d" | "ed"))
            || k.strip_suffix('e').is_some_and(|stem| {
                w.strip_prefix(stem)
                    .is_some_and(|rest| matches!(rest, "ing" | "ed"))
            })
    })
}

/// The keyword a misspelt word stands for, if exactly one is closest.
fn repair(word: &str) -> Option<&'static str> {
    let w = word.to_lowercase();
    if w.chars().count() < 4
        || KEYWORDS.contains(&w.as_str())
        || NEAR_MISSES.contains(&w.as_str())
        || inflection_of_keyword(&w)
    {
        return None;
    }
    let len = w.chars().count() as isize;
    let mut best: Option<(usize, &'static str)> = None;
    let mut tie = false;
    for k in KEYWORDS
        .iter()
        .filter(|k| k.len() >= 5 && (k.len() as isize - len).abs() <= 2)
    {
        let allowed = if k.len() >= 9 { 2 } else { 1 };
        let d = edit_distance(&w, k);
        if d > allowed {
            continue;
        }
        match best {
            Some((bd, _)) if d > bd => {}
            Some((bd, bk)) if d == bd => tie |= !(bk.starts_with(*k) || k.starts_with(bk)),
            _ => {
                best = Some((d, k));
                tie = false;
            }
        }
    }
    best.filter(|_| !tie).map(|(_, k)| k)
}

/// `text` with misspelt keywords repaired; borrowed unchanged when there is nothing to repair.
pub fn repair_keywords(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut last = 0;
    for t in tokenize(text) {
        if t.kind != Kind::Alpha || t.text.contains(['\'', '\u{2019}']) {
            continue;
        }
        if let Some(k) = repair(t.text) {
            out.push_str(&text[last..t.start]);
            out.push_str(k);
            last = t.end;
        }
    }
    if last == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_keywords_are_repaired_and_nothing_else_changes() {
        assert_eq!(
            repair_keywords("acnceling ordr 00123842 pls"),
            "canceling order 00123842 pls"
        );
        assert_eq!(repair_keywords("cnl it"), "cnl it", "too short to tell");
        assert_eq!(
            repair_keywords("I want to teack purhase 00004587345, how?"),
            "I want to track purchase 00004587345, how?"
        );
        assert_eq!(
            repair_keywords("request erimbursements of my omney"),
            "request reimbursements of my money"
        );
        assert_eq!(
            repair_keywords("leave some feesback for Ms. Hawkings"),
            "leave some feedback for Ms. Hawkings"
        );
    }

    #[test]
    fn real_words_and_inflections_stay() {
        for t in [
            "I went shopping for items",
            "my assistant was charged twice",
            "the police state",
            "Older orders were shipped",
            "the swatch",
        ] {
            assert_eq!(repair_keywords(t), t);
        }
    }
}

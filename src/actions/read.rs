//! Reading what a customer asks to have done, against their own orders and the catalogue: which
//! operations (return, exchange, change, cancel, address, payment), on which orders and order
//! lines, to what, paid or refunded how, and why. The reading is general English over the
//! store's own names: product names and their head nouns ("the cleaner" is the Vacuum Cleaner),
//! option values, order numbers, payment methods as customers call them ("my PayPal", "the
//! gift card", "my Visa"), addresses written out or pointed at ("my default address", "the
//! address of my other order").
//!
//! A sentence is cut where an operation verb starts; each piece is one [`Wish`]. Verbs that are
//! negated ("I do not want to cancel"), inside an if-condition, or in a phrase that is not a
//! request ("changed my mind", "return policy") are not operations. A consequent of a negative
//! condition ("if that's not possible, cancel the order") is a fallback for the wish before it;
//! other conditional requests are kept but marked, and are not acted on.
//!
//! This module reads; it does not check policy or stock, and changes nothing.

use std::collections::BTreeMap;

use super::text::{normal_unit, stem, tokenize, Kind, Tok};
use crate::orders::{Address, Customer, Order, PaymentMethodKind, Product};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    Return,
    Exchange,
    Modify,
    Cancel,
}

/// How the customer named a payment method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayRef {
    Id(String),
    Kind(PaymentMethodKind),
    Brand(String),
    Original,
    StoreCredit,
}

/// An address written out, or pointed at.
#[derive(Debug, Clone, PartialEq)]
pub enum AddrRef {
    Written(Address),
    /// The customer's default address.
    Default,
    /// The address of another order (named by number).
    OfOrder(String),
    /// One of the customer's known addresses, by place words ("my NYC address").
    Place(Vec<String>),
}

/// A product named in the message, and what was said around it.
#[derive(Debug, Clone, Default)]
pub struct ItemRef {
    /// Candidate products (several when a word fits more than one: "kettle").
    pub products: Vec<String>,
    /// Words describing the item the customer has ("the small one", "the 17-inch").
    pub source: String,
    /// Words describing what they want instead (exchanges and changes).
    pub target: Option<String>,
    /// Tried when nothing fits `target` (the customer's fallback), or `Some("")` for "then
    /// leave this one".
    pub fallback: Option<String>,
    /// "both", "all", "two skateboards", "them".
    pub plural: bool,
    /// "one … and another …": this mention takes one more line of the same item.
    pub position: usize,
    /// The words that name it ("the cleaner").
    pub said: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Items,
    OrderAddress,
    DefaultAddress,
    /// "Update my address": the account's, an order's, or both is not said. Asked when the
    /// customer has an order whose address could still change.
    UnclearAddress,
    Payment,
}

/// One requested operation.
#[derive(Debug, Clone)]
pub struct Wish {
    pub verb: Verb,
    pub target: Target,
    /// Order numbers named for this operation.
    pub orders: Vec<String>,
    pub items: Vec<ItemRef>,
    /// Items to leave out ("everything except the coffee machine").
    pub except: Vec<ItemRef>,
    /// Every item (of the named or matching orders): "everything", "the whole order".
    pub all_items: bool,
    /// "all my pending orders", "both orders".
    pub all_orders: bool,
    /// "the whole order", "this order": one order, whichever is meant.
    pub one_order: bool,
    /// Words limiting the orders: "pending" → true (unshipped), "received" → false.
    pub pending: Option<bool>,
    pub payment: Vec<PayRef>,
    pub reason: Option<String>,
    pub address: Option<AddrRef>,
    /// Inside a condition the assistant cannot check ("if it costs less than $200, …").
    pub conditional: bool,
    /// Used only when the wish before it cannot be done.
    pub fallback_of_previous: bool,
    /// The customer has not decided ("I'm not sure yet", "let me think it over"): nothing is
    /// proposed for it; a confirmation is a safety net, not a licence.
    pub hesitant: bool,
    /// "The jigsaw puzzle in the same order": the order of the request before it.
    pub same_order_as_previous: bool,
    /// Preferred where only one of several requests can be done ("if you can only do one, I
    /// prefer the exchange"): planned first, so the other is the one that cannot be done.
    pub preferred: bool,
    pub text: String,
}

/// The catalogue's names, for finding product mentions.
pub struct Catalogue<'a> {
    pub products: &'a [Product],
    aliases: Vec<(Vec<String>, String, u8, usize)>,
}

/// A few everyday words for product types (general English, not any store's names).
const SYNONYMS: &[(&str, &str)] = &[
    ("bike", "bicycle"),
    ("phone", "smartphone"),
    ("cellphone", "smartphone"),
    ("bookcase", "bookshelf"),
    ("shelf", "bookshelf"),
    ("tee", "t-shirt"),
    ("watch", "wristwatch"),
    ("trainer", "sneakers"),
];

/// Head nouns too generic to name a product alone.
const GENERIC_HEADS: &[&str] = &["set", "kit", "item", "thing", "one"];

impl<'a> Catalogue<'a> {
    pub fn new(products: &'a [Product]) -> Self {
        let mut aliases: Vec<(Vec<String>, String, u8, usize)> = Vec::new();
        let value_words: std::collections::HashSet<String> = products
            .iter()
            .flat_map(|p| {
                p.options.iter().flat_map(|(k, vs)| {
                    vs.iter()
                        .chain(std::iter::once(k))
                        .flat_map(|v| super::text::stems(v))
                })
            })
            .collect();
        for (pi, p) in products.iter().enumerate() {
            let words = super::text::stems(&p.name);
            if words.is_empty() {
                continue;
            }
            aliases.push((words.clone(), words.concat(), 3, pi));
            let head = words.last().cloned().unwrap_or_default();
            if words.len() > 1 && !GENERIC_HEADS.contains(&head.as_str()) {
                aliases.push((vec![head.clone()], head.clone(), 2, pi));
            }
            if words.len() > 1 {
                let first = words[0].clone();
                let unique = products
                    .iter()
                    .filter(|o| super::text::stems(&o.name).first() == Some(&first))
                    .count()
                    == 1;
                if unique
                    && first.len() > 3
                    && !value_words.contains(&first)
                    && !GENERIC_HEADS.contains(&first.as_str())
                {
                    aliases.push((vec![first.clone()], first, 1, pi));
                }
            }
        }
        for (word, name) in SYNONYMS {
            let target = super::text::stems(name).concat();
            for (pi, p) in products.iter().enumerate() {
                if super::text::stems(&p.name).concat() == target {
                    let w = super::text::stems(word);
                    aliases.push((w.clone(), w.concat(), 2, pi));
                }
            }
        }
        // Longest first, so "smart watch" wins over "watch".
        aliases.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(b.2.cmp(&a.2)));
        Self { products, aliases }
    }

    pub fn product(&self, id: &str) -> Option<&'a Product> {
        self.products.iter().find(|p| p.id == id)
    }

    /// Product mentions among word tokens: (first word, word count, product ids).
    fn mentions(&self, w: &[&Tok]) -> Vec<(usize, usize, Vec<String>)> {
        let mut out: Vec<(usize, usize, Vec<String>)> = Vec::new();
        let mut i = 0;
        let st = |j: usize| normal_unit(&w[j].stem).to_string();
        while i < w.len() {
            let mut found: Option<(usize, Vec<String>, u8)> = None;
            for (words, joined, strength, pi) in &self.aliases {
                let n = words.len();
                let by_words = i + n <= w.len() && (0..n).all(|k| st(i + k) == words[k]);
                // "book shelf" = "bookshelf", "tshirt" = "t-shirt".
                let mut by_join = 0;
                for span in 1..=3usize.min(w.len() - i) {
                    let s: String = (i..i + span)
                        .map(|k| stem(&w[k].text))
                        .collect::<Vec<_>>()
                        .concat();
                    if (span > 1 || n > 1) && (stem(&s) == *joined || s == *joined) {
                        by_join = span;
                    }
                }
                let len = if by_words { n } else { by_join };
                if len == 0 {
                    continue;
                }
                if *strength == 1
                    && i + len < w.len()
                    && self
                        .aliases
                        .iter()
                        .any(|(ws, _, s, _)| *s >= 2 && ws.len() == 1 && ws[0] == st(i + len))
                {
                    continue;
                }
                let id = self.products[*pi].id.clone();
                match &mut found {
                    Some((l, ids, s)) if *l == len && *s == *strength => {
                        if !ids.contains(&id) {
                            ids.push(id)
                        }
                    }
                    Some((l, _, s)) if *l > len || *l == len && *s > *strength => {}
                    _ => found = Some((len, vec![id], *strength)),
                }
            }
            match found {
                Some((len, ids, _)) => {
                    out.push((i, len, ids));
                    i += len;
                }
                None => i += 1,
            }
        }
        out
    }
}

/// What the customer's own data offers the reader: their orders (for addresses and numbers).
pub struct Known<'a> {
    pub customer: &'a Customer,
    pub orders: &'a [Order],
}

fn verb_of(t: &[&Tok], i: usize) -> Option<Verb> {
    let w = t[i].text.as_str();
    let next = t.get(i + 1).map(|x| x.text.as_str()).unwrap_or("");
    let next2 = t.get(i + 2).map(|x| x.text.as_str()).unwrap_or("");
    let prev = if i > 0 { t[i - 1].text.as_str() } else { "" };
    Some(match w {
        "return" | "returning"
            if !matches!(
                next,
                "policy" | "window" | "label" | "status" | "instructions" | "period"
            ) && prev != "the"
                && prev != "a" =>
        {
            Verb::Return
        }
        "send" if next == "back" || next2 == "back" => Verb::Return,
        "refund"
            if matches!(
                next,
                "for" | "the" | "my" | "this" | "that" | "these" | "those" | "everything"
            ) && prev != "the" =>
        {
            Verb::Return
        }
        "exchange" | "exchanging" | "swap" | "swapping" | "replace" | "replacing" | "trade" => {
            Verb::Exchange
        }
        "modify" | "modifying" | "change" | "changing" | "switch" | "switching" | "update"
        | "updating" | "upgrade" | "downgrade" | "adjust" | "convert" | "edit" | "correct"
        | "fix"
            if !(matches!(next, "my" if next2 == "mind") || next == "of" && next2 == "plans")
                && next != "mind" =>
        {
            Verb::Modify
        }
        "cancel" | "cancelling" | "canceling" | "remove" | "removing" => Verb::Cancel,
        // "set my default address to …".
        "set" if t[i + 1..].iter().take(6).any(|x| x.text == "address") => Verb::Modify,
        // "could I pay for LF-100003 with my PayPal instead": a payment change. Without "instead"
        // it is a question about payment methods ("can I pay with PayPal?"), not a request.
        "pay" | "charge"
            if t[i + 1..]
                .iter()
                .take(8)
                .any(|x| matches!(x.text.as_str(), "with" | "using" | "via" | "by" | "to"))
                && t.iter().any(|x| x.text == "instead") =>
        {
            Verb::Modify
        }
        // "ship it to …", "deliver LF-100003 to …": an address change.
        "ship" | "deliver" | "redirect" | "reroute"
            if t[i + 1..].iter().take(5).any(|x| x.text == "to") =>
        {
            Verb::Modify
        }
        "need" | "want" if prev == "longer" => Verb::Cancel,
        // "also needs to be exchanged", "want it returned": a passive request.
        "returned" | "exchanged" | "cancelled" | "canceled" | "modified" | "changed"
        | "swapped" | "replaced"
            if i > 0
                && (matches!(prev, "be" | "been" | "it" | "them" | "get")
                // "I'd like the kettle from #W… swapped for …".
                || matches!(w, "returned" | "exchanged" | "swapped" | "replaced" | "cancelled" | "canceled") && t[i.saturating_sub(8)..i].iter().any(|x| matches!(x.text.as_str(), "like" | "want" | "need")) && !t[i.saturating_sub(8)..i].iter().any(|x| x.text == "if")) =>
        {
            match w {
                "returned" => Verb::Return,
                "exchanged" | "swapped" | "replaced" => Verb::Exchange,
                "cancelled" | "canceled" => Verb::Cancel,
                _ => Verb::Modify,
            }
        }
        _ => return None,
    })
}

fn negated(t: &[&Tok], i: usize) -> bool {
    negated_after(t, i, 0)
}

/// Whether the verb at `i` is negated by a word at or after `from` (the start of its clause: "if
/// it is not available, cancel the order" does not negate "cancel").
fn negated_after(t: &[&Tok], i: usize, from: usize) -> bool {
    let lo = i.saturating_sub(4).max(from.min(i));
    let window: Vec<&str> = t[lo..i].iter().map(|x| x.text.as_str()).collect();
    window.iter().enumerate().any(|(k, w)| {
        matches!(*w, "not" | "don't" | "dont" | "never" | "without" | "didn't" | "doesn't" | "won't")
            // "not only", "if not possible" are not negations of this verb.
            && !window.get(k + 1).is_some_and(|n| *n == "only" || *n == "possible")
    }) || t[lo..i].iter().any(|x| x.text == "no") && !t[lo..i].iter().any(|x| x.text == "longer")
}

const NEGATIVE_CONDITION: &[&str] = &[
    "not",
    "no",
    "cannot",
    "can't",
    "cant",
    "unavailable",
    "isn't",
    "impossible",
    "fails",
    "doesn't",
    "won't",
    "unable",
    "neither",
    "none",
    "nothing",
];

/// Where a cue sits relative to an "if" in its sentence.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cond {
    Plain,
    InCondition,
    AfterNegative,
    AfterOther,
}

fn condition_of(toks: &[Tok], sentence_start: usize, at: usize) -> Cond {
    let slice = &toks[sentence_start..at];
    let words: Vec<&str> = slice.iter().map(|t| t.text.as_str()).collect();
    if words.iter().any(|w| *w == "otherwise" || *w == "else") && !words.contains(&"if") {
        return Cond::AfterNegative;
    }
    // "When the agent asks for confirmation, return …": a time that is a condition too, when it
    // has a clause of its own ("I want to know when it ships and …" does not).
    let Some(if_at) = words
        .iter()
        .rposition(|w| *w == "if" || *w == "unless" || *w == "when")
    else {
        return Cond::Plain;
    };
    let after: &[&str] = &words[if_at + 1..];
    let closed = slice[if_at + 1..]
        .iter()
        .any(|t| t.text == "," || t.text == "then")
        || after
            .iter()
            .any(|w| matches!(*w, "i'd" | "i'll" | "please" | "just"));
    if words[if_at] == "when" && !slice[if_at + 1..].iter().any(|t| t.text == ",") {
        return Cond::Plain;
    }
    if !closed {
        // "If not, return it" closes at the comma; "if I can only do one" has no consequent yet.
        return Cond::InCondition;
    }
    let cond: Vec<&str> = after.iter().take_while(|w| **w != ",").copied().collect();
    if cond.first() == Some(&"not")
        || cond
            .iter()
            .any(|w| NEGATIVE_CONDITION.contains(w) || w.ends_with("n't"))
        || cond.is_empty()
    {
        Cond::AfterNegative
    } else {
        Cond::AfterOther
    }
}

/// Payment methods named in `t`.
pub fn payments(t: &[&Tok], customer: &Customer) -> Vec<PayRef> {
    let mut out: Vec<PayRef> = Vec::new();
    fn push(out: &mut Vec<PayRef>, p: PayRef) {
        if !out.contains(&p) {
            out.push(p)
        }
    }
    for i in 0..t.len() {
        let w = t[i].text.as_str();
        let next = t.get(i + 1).map(|x| x.text.as_str()).unwrap_or("");
        let prev = if i > 0 { t[i - 1].text.as_str() } else { "" };
        if t[i].kind == Kind::Id && customer.payment_methods.iter().any(|p| p.id == t[i].text) {
            push(&mut out, PayRef::Id(t[i].text.clone()));
            continue;
        }
        match w {
            "paypal" => push(&mut out, PayRef::Kind(PaymentMethodKind::Paypal)),
            "gift" if matches!(next, "card" | "cards") => {
                push(&mut out, PayRef::Kind(PaymentMethodKind::GiftCard))
            }
            "giftcard" | "gc" => push(&mut out, PayRef::Kind(PaymentMethodKind::GiftCard)),
            "credit" if next == "card" || next == "cards" => {
                push(&mut out, PayRef::Kind(PaymentMethodKind::CreditCard))
            }
            "store" if next == "credit" => push(&mut out, PayRef::StoreCredit),
            "visa" | "mastercard" | "amex" | "discover" => {
                push(&mut out, PayRef::Brand(w.to_string()))
            }
            "american" if next == "express" => push(&mut out, PayRef::Brand("amex".into())),
            "original" | "same"
                if matches!(next, "payment" | "method" | "card" | "way") || next == "form" =>
            {
                push(&mut out, PayRef::Original)
            }
            "card"
                if !matches!(prev, "gift" | "credit")
                    && !out
                        .iter()
                        .any(|p| matches!(p, PayRef::Kind(_) | PayRef::Brand(_)))
                    && matches!(prev, "my" | "the" | "a") =>
            {
                push(&mut out, PayRef::Kind(PaymentMethodKind::CreditCard))
            }
            _ => {}
        }
    }
    out
}

fn cancel_reason(text: &str) -> Option<String> {
    let t = text.to_lowercase();
    if t.contains("by mistake")
        || t.contains("by accident")
        || t.contains("accidentally")
        || t.contains("mistakenly")
        || t.contains("ordered it wrong")
        || t.contains("made a mistake")
    {
        Some("ordered by mistake".into())
    } else if t.contains("no longer need")
        || t.contains("don't need")
        || t.contains("do not need")
        || t.contains("no longer want")
        || t.contains("don't want")
        || t.contains("not needed")
        || t.contains("changed my mind")
        || t.contains("no need")
    {
        Some("no longer needed".into())
    } else {
        None
    }
}

const STATES: &[(&str, &str)] = &[
    ("alabama", "AL"),
    ("alaska", "AK"),
    ("arizona", "AZ"),
    ("arkansas", "AR"),
    ("california", "CA"),
    ("colorado", "CO"),
    ("connecticut", "CT"),
    ("delaware", "DE"),
    ("florida", "FL"),
    ("georgia", "GA"),
    ("hawaii", "HI"),
    ("idaho", "ID"),
    ("illinois", "IL"),
    ("indiana", "IN"),
    ("iowa", "IA"),
    ("kansas", "KS"),
    ("kentucky", "KY"),
    ("louisiana", "LA"),
    ("maine", "ME"),
    ("maryland", "MD"),
    ("massachusetts", "MA"),
    ("michigan", "MI"),
    ("minnesota", "MN"),
    ("mississippi", "MS"),
    ("missouri", "MO"),
    ("montana", "MT"),
    ("nebraska", "NE"),
    ("nevada", "NV"),
    ("new hampshire", "NH"),
    ("new jersey", "NJ"),
    ("new mexico", "NM"),
    ("new york", "NY"),
    ("north carolina", "NC"),
    ("north dakota", "ND"),
    ("ohio", "OH"),
    ("oklahoma", "OK"),
    ("oregon", "OR"),
    ("pennsylvania", "PA"),
    ("rhode island", "RI"),
    ("south carolina", "SC"),
    ("south dakota", "SD"),
    ("tennessee", "TN"),
    ("texas", "TX"),
    ("utah", "UT"),
    ("vermont", "VT"),
    ("virginia", "VA"),
    ("washington", "WA"),
    ("west virginia", "WV"),
    ("wisconsin", "WI"),
    ("wyoming", "WY"),
    ("district of columbia", "DC"),
];

fn state_code(s: &str) -> Option<String> {
    let l = s.trim().to_lowercase();
    if l.len() == 2 && STATES.iter().any(|(_, c)| c.eq_ignore_ascii_case(&l)) {
        return Some(l.to_uppercase());
    }
    STATES
        .iter()
        .find(|(n, _)| *n == l)
        .map(|(_, c)| c.to_string())
}

/// An address written out: "1234 Elm St, Springfield, IL, 62701", "101 Highway, New York,
/// 10001", "445 Maple Drive, Suite 394, Fort Worth, Texas, 76165".
pub fn written_address(text: &str) -> Option<Address> {
    let parts: Vec<&str> = text
        .split([',', '\n'])
        .map(|p| {
            p.trim()
                .trim_matches(|c: char| c == '(' || c == ')' || c == '.')
        })
        .filter(|p| !p.is_empty())
        .collect();
    // The street starts at a house number, possibly after other words ("… to 1234 Elm St").
    let street_at = |p: &str| -> Option<usize> {
        let words: Vec<&str> = p.split_whitespace().collect();
        (0..words.len().saturating_sub(1)).rev().find(|&i| {
            words[i].chars().all(|c| c.is_ascii_digit())
                && words[i].len() <= 6
                && words[i + 1].chars().next().is_some_and(char::is_alphabetic)
                && !(words[i].len() == 5 && i + 2 >= words.len())
        })
    };
    let start = parts.iter().position(|p| street_at(p).is_some())?;
    let line1 = {
        let words: Vec<&str> = parts[start].split_whitespace().collect();
        words[street_at(parts[start])?..].join(" ")
    };
    let mut line2 = None;
    let mut i = start + 1;
    if let Some(p) = parts.get(i) {
        let l = p.to_lowercase();
        if l.starts_with("suite")
            || l.starts_with("apt")
            || l.starts_with("unit")
            || l.starts_with("apartment")
            || l.starts_with('#')
        {
            line2 = Some(p.to_string());
            i += 1;
        }
    }
    let rest: Vec<&str> = parts[i..].to_vec();
    // The ZIP: five digits, alone or after the state ("IL 62701").
    // The ZIP may end the sentence ("… OR 97205. My orders can stay as they are").
    let is_zip = |w: &str| {
        let d = w.trim_end_matches(['.', '?', '!', ';', ')']);
        d.len() == 5 && d.chars().all(|c| c.is_ascii_digit())
    };
    let zip_at = rest.iter().position(|p| p.split_whitespace().any(is_zip))?;
    let zip_part: Vec<&str> = rest[zip_at].split_whitespace().collect();
    let zip = zip_part
        .iter()
        .find(|w| is_zip(w))?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .to_string();
    let zip_word = zip_part.iter().find(|w| is_zip(w)).copied().unwrap_or("");
    let before_zip: Vec<&str> = zip_part
        .iter()
        .take_while(|w| **w != zip_word)
        .copied()
        .collect();
    let mut fields: Vec<String> = rest[..zip_at].iter().map(|s| s.to_string()).collect();
    if !before_zip.is_empty() {
        fields.push(before_zip.join(" "));
    }
    fields.retain(|f| !matches!(f.to_lowercase().as_str(), "usa" | "us" | "united states"));
    let (city, region) = match fields.as_slice() {
        [city, state] => (city.clone(), state_code(state)?),
        [city_state] => {
            // "Springfield IL" or a city that is also a state's name ("New York").
            let words: Vec<&str> = city_state.split_whitespace().collect();
            match words.split_last() {
                Some((last, city))
                    if !city.is_empty() && state_code(last).is_some() && last.len() == 2 =>
                {
                    (city.join(" "), state_code(last)?)
                }
                _ => (city_state.clone(), state_code(city_state)?),
            }
        }
        _ => return None,
    };
    Some(Address {
        line1,
        line2,
        city,
        region,
        postcode: zip,
        country: "USA".into(),
    })
}

/// Place words for pointing at a known address: "NYC" → "new york".
fn place_words(t: &[&Tok]) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..t.len() {
        let w = t[i].text.as_str();
        let next = t.get(i + 1).map(|x| x.text.as_str()).unwrap_or("");
        match w {
            "nyc" => out.push("new york".into()),
            "la" if t[i].kind == Kind::Word => out.push("los angeles".into()),
            "dc" => out.push("washington".into()),
            "sf" => out.push("san francisco".into()),
            _ if w.len() > 2 && t[i].kind == Kind::Word => {
                out.push(w.to_string());
                if !next.is_empty() && t[i + 1].start <= t[i].end + 1 {
                    out.push(format!("{w} {next}"));
                }
            }
            _ => {}
        }
    }
    out
}

/// Words by which a customer says they have not made up their mind about the request they are
/// in (or the one the sentence adds to).
const UNDECIDED: &[&str] = &[
    "not sure yet",
    "not sure whether",
    "not sure if i",
    "not sure about",
    "not sure i want",
    "not sure i'll",
    "unsure whether",
    "unsure if",
    "unsure about",
    "haven't decided",
    "have not decided",
    "not decided",
    "still deciding",
    "undecided",
    "not certain",
    "second thoughts",
    "on the fence",
    "haven't made up my mind",
    "not made up my mind",
];

/// Words that hold everything back until the customer comes back ("don't do anything yet",
/// "let me think it over"). Inside an if-clause they are a fallback ("if not, do nothing"), not
/// hesitation.
const HOLD: &[&str] = &[
    "don't do anything",
    "do not do anything",
    "don't process",
    "do not process",
    "don't start",
    "do not start",
    "don't set anything",
    "don't set it up",
    "hold off",
    "nothing should be done",
    "don't change anything",
    "do not change anything",
    "don't make any change",
    "do not make any change",
    "before you do anything",
    "before you set anything",
    "before you change anything",
    "let me think",
    "think it over",
    "think about it",
    "sleep on it",
    "get back to you",
    "once i've decided",
    "once i have decided",
    "when i've decided",
    "before deciding",
    "before i decide",
    "before i confirm",
    "before confirming",
    "rethink",
    "re-think",
    "reconsider",
    "talk to my",
    "check with my",
    "anything yet",
    "nothing yet",
    "nothing for now",
    "anything for now",
    "wait until i",
    "wait till i",
];

/// Words just before a request verb that make it a thought, not a request ("I might return",
/// "thinking about cancelling", "considering returning").
fn tentative_before(t: &[&Tok], k: usize) -> bool {
    let lo = k.saturating_sub(3);
    (lo..k).any(|j| {
        let w = t[j].text.as_str();
        matches!(
            w,
            "maybe"
                | "perhaps"
                | "potentially"
                | "possibly"
                | "might"
                | "considering"
                | "contemplating"
        ) || w == "thinking"
            && matches!(t.get(j + 1).map(|x| x.text.as_str()), Some("about" | "of"))
            || w == "may" && j > 0 && t[j - 1].text == "i"
    })
}

fn holds_back(sentence: &str) -> bool {
    let l = sentence.to_lowercase().replace('\u{2019}', "'");
    HOLD.iter().any(|h| {
        l.find(h).is_some_and(|at| {
            !l[..at]
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| w == "if" || w == "unless")
        })
    })
}

fn undecided(text: &str) -> bool {
    let l = text.to_lowercase().replace('\u{2019}', "'");
    UNDECIDED.iter().any(|h| l.contains(h))
}

/// A sentence that ranks two requests of which only one may be possible ("if you can only do
/// one, I prefer the exchange", "if it has to be one or the other, the return"): the preferred
/// operation.
fn preference_between_requests(sentence: &str) -> Option<Verb> {
    let l = sentence.to_lowercase().replace('\u{2019}', "'");
    let only_one = [
        "only do one",
        "only one of",
        "only one is possible",
        "only one can",
        "one or the other",
        "can't do both",
        "cannot do both",
        "can not do both",
        "not both",
        "only one of these",
        "if only one",
        "either one but not",
    ]
    .iter()
    .any(|p| l.contains(p));
    if !only_one {
        return None;
    }
    let words: Vec<&str> = l
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    let verb = |w: &str| -> Option<Verb> {
        Some(match w {
            "return" | "returning" | "refund" => Verb::Return,
            "exchange" | "exchanging" | "swap" | "replacement" | "replacing" => Verb::Exchange,
            "cancel" | "cancellation" | "cancelling" | "canceling" => Verb::Cancel,
            "change" | "modification" | "changing" => Verb::Modify,
            _ => return None,
        })
    };
    let pref_at = words
        .iter()
        .position(|w| {
            matches!(
                *w,
                "prefer" | "preferably" | "rather" | "priority" | "prioritize" | "prioritise"
            ) || w.starts_with("prefer")
        })
        .or_else(|| {
            words.windows(2).position(|p| {
                p == ["matters", "more"] || p == ["more", "important"] || p == ["first", "choice"]
            })
        });
    let pref_at = pref_at?;
    words[pref_at..]
        .iter()
        .find_map(|w| verb(w))
        .or_else(|| words[..pref_at].iter().rev().find_map(|w| verb(w)))
}

/// Whether a message plainly asks for an operation (a request verb that is not negated, not
/// inside a condition, in a message that is not a question): guided actions take it even when
/// the intent model is unsure.
pub fn asks_for_operation(message: &str) -> bool {
    let toks = tokenize(message);
    let lower = message.trim().to_lowercase();
    let question = lower.ends_with('?')
        || [
            "how ", "can i ", "what ", "do you ", "is it ", "are ", "when ", "why ",
        ]
        .iter()
        .any(|q| lower.starts_with(q));
    if question {
        return false;
    }
    let wt: Vec<&Tok> = toks.iter().filter(|t| t.is_word()).collect();
    (0..wt.len()).any(|k| verb_of(&wt, k).is_some() && !negated(&wt, k))
}

/// Reads every operation the message asks for.
pub fn read(message: &str, catalogue: &Catalogue, known: &Known) -> Vec<Wish> {
    let toks = tokenize(message);
    // Sentence index of each token.
    let mut sentence = Vec::with_capacity(toks.len());
    let mut s = 0;
    for t in &toks {
        sentence.push(s);
        if t.is_break() {
            s += 1;
        }
    }
    let words: Vec<usize> = (0..toks.len())
        .filter(|&i| toks[i].is_word() || matches!(toks[i].kind, Kind::Id | Kind::Email))
        .collect();
    let wt: Vec<&Tok> = words.iter().map(|&i| &toks[i]).collect();
    let sentence_start = |i: usize| -> usize {
        (0..=i)
            .rev()
            .find(|&j| j == 0 || toks[j - 1].is_break())
            .unwrap_or(0)
    };

    // Order numbers as the understanding step finds them, located in the text.
    let entities = crate::understand::Entities::extract(message);
    let mut order_at: Vec<(usize, String, bool)> = Vec::new();
    for number in &entities.order_numbers {
        let digits: String = number.chars().filter(|c| c.is_ascii_digit()).collect();
        for (ti, t) in toks.iter().enumerate() {
            // Only a number standing alone ("#W2378156", "order 100234"), never the digits of a
            // payment id or an email.
            if t.kind == Kind::Num && t.text == digits && !digits.is_empty() {
                let before: Vec<&str> = toks[ti.saturating_sub(4)..ti]
                    .iter()
                    .map(|x| x.text.as_str())
                    .collect();
                let reference = before.windows(2).any(|w| w == ["same", "as"] || w == ["as", "order"] || w == ["as", "in"]) || before.last() == Some(&"as")
                    // "… as my other bottle (from order #W…)": the order of the item pointed at.
                    || before.contains(&"order") && before.iter().any(|w| matches!(*w, "from" | "in" | "on")) && toks[ti.saturating_sub(10)..ti].iter().any(|x| x.text == "other" || x.text == "same");
                if !order_at.iter().any(|(at, _, _)| *at == ti) {
                    order_at.push((ti, number.clone(), reference));
                }
            }
        }
    }

    // Per sentence: its text, whether it holds everything back, and a preference between
    // requests it states.
    let n_sentences = sentence.last().map_or(0, |s| s + 1);
    let sentence_text: Vec<String> = (0..n_sentences)
        .map(|si| {
            let first = sentence.iter().position(|&x| x == si).unwrap_or(0);
            let last = sentence.iter().rposition(|&x| x == si).unwrap_or(first);
            message[toks[first].start..toks[last].end].to_string()
        })
        .collect();
    let preference: Vec<Option<Verb>> = sentence_text
        .iter()
        .map(|t| preference_between_requests(t))
        .collect();
    let preferred_verb: Option<Verb> = preference.iter().flatten().next().copied();

    // Cues: operation verbs that are requests.
    let mut cues: Vec<(usize, Verb, Cond)> = Vec::new();
    let mut tentative: Vec<usize> = Vec::new();
    for (k, &ti) in words.iter().enumerate() {
        let Some(v) = verb_of(&wt, k) else { continue };
        // "If you can only do one, I prefer the exchange" ranks requests; it asks for none.
        if preference[sentence[ti]].is_some() {
            continue;
        }
        if tentative_before(&wt, k) {
            tentative.push(ti);
        }
        let boundary = (0..ti)
            .rev()
            .find(|&j| toks[j].is_break() || toks[j].kind == Kind::Semi || toks[j].text == ",");
        let clause_from = boundary.map_or(0, |b| words.iter().position(|&wi| wi > b).unwrap_or(k));
        if negated_after(&wt, k, clause_from)
            && !(v == Verb::Cancel && wt[k].text != "cancel" && wt[k].text != "remove")
        {
            continue;
        }
        let c = condition_of(&toks, sentence_start(ti), ti);
        if c == Cond::InCondition {
            continue;
        }
        // "cancel it, I no longer need it": the second is the reason, not another request.
        if matches!(wt[k].text.as_str(), "need" | "want")
            && cues
                .last()
                .is_some_and(|&(p, _, _)| sentence[p] == sentence[ti])
        {
            continue;
        }
        // "exchange or return the tablet": one operation, the first named.
        if let Some(&(prev, _, _)) = cues.last() {
            let between: Vec<&str> = toks[prev + 1..ti]
                .iter()
                .filter(|t| t.is_word())
                .map(|t| t.text.as_str())
                .collect();
            if between == ["or"] || between == ["and"] || between.is_empty() {
                continue;
            }
        }
        cues.push((ti, v, c));
    }

    let mut wishes: Vec<Wish> = Vec::new();
    for (ci, &(at, verb, cond)) in cues.iter().enumerate() {
        let start = if ci > 0 && sentence[cues[ci - 1].0] == sentence[at] {
            at
        } else {
            sentence_start(at)
        };
        let next_cue = cues.get(ci + 1).map(|c| c.0);
        let own_end = match next_cue {
            Some(n) if sentence[n] == sentence[at] => n,
            _ => (at..toks.len())
                .find(|&j| toks[j].is_break())
                .unwrap_or(toks.len()),
        };
        // Later sentences with no operation of their own add to this one.
        let ext_end = next_cue
            .map(&sentence_start)
            .unwrap_or(toks.len())
            .max(own_end);
        let own: Vec<&Tok> = toks[start..own_end].iter().collect();
        let own_words: Vec<&Tok> = own
            .iter()
            .copied()
            .filter(|t| t.is_word() || matches!(t.kind, Kind::Id | Kind::Email | Kind::Semi))
            .collect();
        // The wish's own words and the sentences that add to it.
        let text =
            message[toks[start].start..toks[ext_end.saturating_sub(1).max(start)].end].to_string();
        let lower = message[toks[start].start..toks[own_end.saturating_sub(1).max(start)].end]
            .to_lowercase();

        let mut w = Wish {
            verb,
            target: Target::Items,
            orders: order_at
                .iter()
                .filter(|(ti, _, r)| *ti >= start && *ti < own_end && !r)
                .map(|(_, n, _)| n.clone())
                .collect(),
            items: Vec::new(),
            except: Vec::new(),
            all_items: false,
            all_orders: false,
            one_order: false,
            pending: None,
            payment: payments(&own_words, known.customer),
            reason: cancel_reason(
                &message[toks[start].start..toks[ext_end.saturating_sub(1).max(start)].end],
            ),
            address: None,
            conditional: cond == Cond::AfterOther,
            fallback_of_previous: cond == Cond::AfterNegative,
            hesitant: false,
            same_order_as_previous: ["same order", "that same order", "same purchase"]
                .iter()
                .any(|p| lower.contains(p)),
            preferred: preferred_verb == Some(verb),
            text: text.clone(),
        };
        // "Cancel it if my sister hasn't bought one", "… unless my manager approves it": a
        // condition after the request that the store's data can't answer. Whether it is
        // possible, available, or not yet shipped is for the planner to check.
        if let Some(cond_at) =
            (at + 1..own_end).find(|&j| toks[j].text == "if" || toks[j].text == "unless")
        {
            let cond_end = (cond_at + 1..own_end)
                .find(|&j| toks[j].text == "," || toks[j].kind == Kind::Semi)
                .unwrap_or(own_end);
            let cond_words: Vec<&str> = toks[cond_at + 1..cond_end]
                .iter()
                .filter(|t| t.is_word())
                .map(|t| t.text.as_str())
                .collect();
            let checkable = cond_words.is_empty()
                || cond_words == ["not"]
                || cond_words.iter().any(|x| {
                    matches!(
                        *x,
                        "possible"
                            | "available"
                            | "stock"
                            | "can"
                            | "could"
                            | "shipped"
                            | "delivered"
                            | "pending"
                            | "arrived"
                            | "processed"
                            | "allowed"
                            | "necessary"
                            | "needed"
                            | "require"
                            | "requires"
                            | "mean"
                            | "means"
                    )
                });
            // "… if this would mean cancelling the whole order, don't": a limit, not a request.
            let rest = message[toks[cond_end.min(toks.len() - 1)].start
                ..toks[own_end.saturating_sub(1).max(cond_end.min(toks.len() - 1))].end]
                .to_lowercase();
            let limits = rest.contains("not") || rest.contains("n't") || rest.contains("no ");
            if !checkable && !limits {
                w.conditional = true;
            }
        }
        // Not decided: a thought ("I might return …"), doubt in its own words or the sentences
        // that add to it ("… but I'm not sure yet"), or a hold in its sentence.
        w.hesitant =
            tentative.contains(&at) || undecided(&text) || holds_back(&sentence_text[sentence[at]]);
        w.orders.dedup();
        let has = |x: &str| own_words.iter().any(|t| t.text == x);
        if own_words
            .iter()
            .any(|t| t.text == "pending" || t.text == "unshipped")
            || lower.contains("just placed")
            || lower.contains("not shipped")
            || lower.contains("haven't shipped")
        {
            w.pending = Some(true);
        } else if has("received")
            || has("delivered")
            || lower.contains("got") && verb != Verb::Cancel
        {
            w.pending = Some(false);
        }
        w.all_orders = lower.contains("all pending orders")
            || lower.contains("all my pending orders")
            || lower.contains("all orders")
            || lower.contains("all my orders")
            || lower.contains("both orders")
            || lower.contains("all possible orders")
            || lower.contains("all order")
            || lower.contains("all my pending order")
            || lower.contains("all the orders");
        w.one_order = [
            "whole order",
            "entire order",
            "the order",
            "this order",
            "that order",
            "my order",
            "just bought",
            "just received",
            "just got",
            "just ordered",
            "recent",
            "latest",
            "last order",
        ]
        .iter()
        .any(|p| lower.contains(p))
            && !w.all_orders;
        w.all_items = [
            "everything",
            "all items",
            "all the items",
            "all things",
            "all of the items",
            "whole order",
            "entire order",
            "all items in",
            "every item",
            "all possible",
        ]
        .iter()
        .any(|p| lower.contains(p))
            || verb == Verb::Cancel
                && (lower.contains("the order")
                    || lower.contains("this order")
                    || lower.contains("that order"))
                && !lower.contains("from the order")
                && !lower.contains("in the order");

        // Addresses and payment methods.
        if lower.contains("address")
            || matches!(
                toks[at].text.as_str(),
                "ship" | "deliver" | "redirect" | "reroute"
            )
        {
            // What changes is named outside the new address ("change my default address to …",
            // "ship order N to my default address"): the account's address, an order's, or
            // both. The account's address is not every order's address, and the reverse.
            let scope = address_scope(message, &toks, start, own_end);
            let ship_verb = matches!(
                toks[at].text.as_str(),
                "ship" | "deliver" | "redirect" | "reroute"
            );
            let named_orders = !w.orders.is_empty();
            let order_side = named_orders || ship_verb || scope.orders;
            w.address = address_ref(message, &toks, start, ext_end, &order_at);
            if w.verb != Verb::Modify && w.verb != Verb::Exchange {
                w.verb = Verb::Modify;
            }
            w.target = match (scope.account, order_side) {
                (true, false) => Target::DefaultAddress,
                (false, true) => Target::OrderAddress,
                (false, false) => Target::UnclearAddress,
                (true, true) => {
                    let mut account = w.clone();
                    account.target = Target::DefaultAddress;
                    account.orders.clear();
                    account.all_orders = false;
                    wishes.push(account);
                    Target::OrderAddress
                }
            };
            if w.target == Target::OrderAddress && !named_orders && scope.plural {
                w.all_orders = true;
            }
            if w.target == Target::OrderAddress && !scope.plural && !named_orders {
                // "my order's address": one order, whichever is meant (asked when several).
                w.all_orders = false;
                // "my laptop order": the order with the laptop.
                let before_dest: Vec<&Tok> = own_words
                    .iter()
                    .copied()
                    .take_while(|t| !(t.text == "to" && t.start > toks[at].start))
                    .collect();
                for (_, _, ids) in catalogue.mentions(&before_dest) {
                    w.items.push(ItemRef {
                        products: ids,
                        ..Default::default()
                    });
                }
            }
            wishes.push(w);
            continue;
        }
        // "pay … instead" names a payment method even when its words also name a product ("the
        // card", a gift card); otherwise product words mean an item change.
        let pay_verb = matches!(toks[at].text.as_str(), "pay" | "charge");
        if verb == Verb::Modify
            && (pay_verb
                || (lower.contains("payment") || has("pay") || lower.contains("paid with"))
                    && catalogue.mentions(&own_words).is_empty())
        {
            w.target = Target::Payment;
            wishes.push(w);
            continue;
        }

        // Items.
        // A later mention that points at another item of theirs ("the same colour as the
        // bottle in my other order", "to match my other bottle") describes what they want; it
        // is not one more item to change.
        let mentions: Vec<(usize, usize, Vec<String>)> = catalogue
            .mentions(&own_words)
            .into_iter()
            .enumerate()
            .filter(|(mi, (m_at, _, _))| {
                let before: Vec<&str> = own_words[m_at.saturating_sub(4)..*m_at]
                    .iter()
                    .map(|t| t.text.as_str())
                    .collect();
                let pointer = before.contains(&"other")
                    || before.contains(&"another")
                    || before.contains(&"same") && before.contains(&"as")
                    || before.contains(&"match")
                    || before.contains(&"matches");
                *mi == 0 || !pointer || before.contains(&"and")
            })
            .map(|(_, m)| m)
            .collect();
        let marker_words: &[&str] = match verb {
            Verb::Exchange => &["to", "for", "into", "with", "instead"],
            Verb::Modify => &["to", "for", "into", "instead"],
            _ => &[],
        };
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let text_of = |a: usize, b: usize| -> String {
            if a >= b || a >= own_words.len() {
                return String::new();
            }
            let b = b.min(own_words.len());
            message[own_words[a].start..own_words[b - 1].end].to_string()
        };
        let mut prev_end = 0;
        // Where the last item's description of what they want ends.
        let mut target_end = 0;
        for (mi, (m_at, m_len, ids)) in mentions.iter().enumerate() {
            let next_at = mentions.get(mi + 1).map(|m| m.0).unwrap_or(own_words.len());
            let before: Vec<&str> = own_words[m_at.saturating_sub(4)..*m_at]
                .iter()
                .map(|t| t.text.as_str())
                .collect();
            let b1 = before.last().copied().unwrap_or("");
            let b2 = if before.len() >= 2 {
                before[before.len() - 2]
            } else {
                ""
            };
            // A mention that only locates another ("the backpack I received with the vacuum
            // cleaner", "the charger, because it goes with the tablet").
            let locator = mi > 0
                && (verb == Verb::Return || verb == Verb::Cancel)
                && before.iter().any(|x| matches!(*x, "with" | "from" | "as"))
                && !before.contains(&"and");
            let excluded = before
                .iter()
                .any(|x| matches!(*x, "except" | "but" | "keep" | "keeping" | "excluding"))
                && !before.contains(&"and");
            if locator || excluded && verb == Verb::Return || excluded && verb == Verb::Cancel {
                if excluded {
                    w.except.push(ItemRef {
                        products: ids.clone(),
                        ..Default::default()
                    });
                }
                prev_end = m_at + m_len;
                continue;
            }
            // After an exchange target marker, a product name is the new item's description
            // ("… to a large red Fleece Jacket"), not another item.
            // The target may run right up to this mention ("for the cheapest Desk Lamp that's
            // available", "for a large red Fleece Jacket with a half zipper"): the words after it
            // still describe the new item.
            if let Some(last) = w.items.last_mut() {
                if *m_at <= target_end
                    && last.products.iter().any(|p| ids.contains(p))
                    && (verb == Verb::Exchange || verb == Verb::Modify)
                    && !before.contains(&"and")
                    && last.target.is_some()
                {
                    let ce = (m_at + m_len..next_at)
                        .find(|&j| own_words[j].kind == Kind::Semi)
                        .unwrap_or(next_at);
                    if *m_at == target_end && ce > m_at + m_len {
                        let more = text_of(*m_at, ce);
                        if let Some(t) = last.target.as_mut() {
                            t.push(' ');
                            t.push_str(&more);
                        }
                        target_end = ce;
                    }
                    prev_end = (m_at + m_len).max(target_end.min(next_at));
                    continue;
                }
            }
            // A product word that is an option value of the item just named describes it
            // ("Backpack {compartment: laptop}"): not another item.
            let same_clause =
                mi > 0 && !(mentions[mi - 1].0..*m_at).any(|k| own_words[k].kind == Kind::Semi);
            if let Some(prev) = w.items.last().filter(|_| same_clause) {
                let words = text_of(*m_at, m_at + m_len);
                if prev
                    .products
                    .iter()
                    .filter_map(|id| catalogue.product(id))
                    .any(|p| !super::variant::described_values(&words, p).is_empty())
                {
                    prev_end = prev_end.max(*m_at);
                    continue;
                }
            }
            let pos = seen.entry(ids.join("|")).or_insert(0);
            let position = *pos;
            *pos += 1;
            // "two skateboards": a plural where the product's own name is singular.
            let last = own_words[m_at + m_len - 1];
            let name_plural = ids.iter().filter_map(|id| catalogue.product(id)).any(|p| {
                p.name
                    .split_whitespace()
                    .last()
                    .is_some_and(|w| stem(&w.to_lowercase()) != w.to_lowercase())
            });
            let plural = matches!(b1, "both" | "all" | "two" | "three" | "four" | "them")
                || matches!(b2, "all" | "both")
                || last.text != last.stem && !name_plural;
            let marker = (m_at + m_len..next_at)
                .find(|&j| marker_words.contains(&own_words[j].text.as_str()));
            // A description ends at the next item or at a clause mark (';').
            let clause_end = |from: usize| {
                (from..next_at)
                    .find(|&j| own_words[j].kind == Kind::Semi)
                    .unwrap_or(next_at)
            };
            let (source, target) = match marker {
                Some(mk) => (
                    format!("{} {}", text_of(prev_end, *m_at), text_of(m_at + m_len, mk)),
                    Some(text_of(mk + 1, clause_end(mk + 1))),
                ),
                // No "to"/"for": what follows the item in its clause says what they want
                // ("my T-shirt because it is too big, one size smaller would be good").
                None if (verb == Verb::Exchange || verb == Verb::Modify)
                    && next_at == own_words.len()
                    && clause_end(m_at + m_len) > m_at + m_len =>
                {
                    (
                        text_of(prev_end, *m_at),
                        Some(text_of(m_at + m_len, clause_end(m_at + m_len))),
                    )
                }
                None => (
                    format!(
                        "{} {}",
                        text_of(prev_end, *m_at),
                        if verb == Verb::Exchange || verb == Verb::Modify {
                            String::new()
                        } else {
                            text_of(m_at + m_len, clause_end(m_at + m_len))
                        }
                    ),
                    None,
                ),
            };
            // "exchange X {…} to {…}": the target of an empty description is an identical item.
            let target = target.map(|t| {
                if t.trim_matches(|c: char| !c.is_alphanumeric()).is_empty() {
                    String::new()
                } else {
                    t
                }
            });
            if let Some(mk) = marker {
                target_end = clause_end(mk + 1);
            }
            let said = text_of(*m_at, m_at + m_len);
            w.items.push(ItemRef {
                products: ids.clone(),
                source,
                target,
                fallback: None,
                plural,
                position,
                said,
            });
            prev_end = match marker {
                Some(_) => next_at,
                None => m_at + m_len,
            };
        }
        // "I got two skateboards. I want to return them", "… two tablets; return the more
        // expensive one": a pronoun or "one" with no product of its own means the product named
        // last before it, when that names one product.
        let pointer_words = own_words
            .iter()
            .any(|t| matches!(t.text.as_str(), "it" | "them" | "one" | "ones" | "both"));
        if w.items.is_empty()
            && !w.all_items
            && w.orders.is_empty()
            && verb != Verb::Cancel
            && pointer_words
        {
            let prior: Vec<&Tok> = toks[..start]
                .iter()
                .filter(|t| t.is_word() || matches!(t.kind, Kind::Id))
                .collect();
            if let Some((p_at, p_len, ids)) = catalogue.mentions(&prior).last().cloned() {
                if ids.len() == 1 {
                    let last = prior[p_at + p_len - 1];
                    let plural = own_words
                        .iter()
                        .any(|t| matches!(t.text.as_str(), "them" | "both" | "ones"))
                        || (last.text != last.stem && !own_words.iter().any(|t| t.text == "one"));
                    let source = lower.clone();
                    let said = message[prior[p_at].start..last.end].to_string();
                    w.items.push(ItemRef {
                        products: ids,
                        source,
                        target: None,
                        fallback: None,
                        plural,
                        position: 0,
                        said,
                    });
                }
            }
        }

        // Following sentences without an operation: fallbacks and more details.
        let mut j = own_end;
        while j < ext_end {
            let s_end = (j..ext_end)
                .find(|&k| toks[k].is_break())
                .map(|k| k + 1)
                .unwrap_or(ext_end);
            let s_toks: Vec<&Tok> = toks[j..s_end]
                .iter()
                .filter(|t| t.is_word() || matches!(t.kind, Kind::Id | Kind::Email))
                .collect();
            if s_toks.is_empty() {
                j = s_end;
                continue;
            }
            let s_text = message[toks[j].start..toks[s_end - 1].end].to_string();
            let s_lower = s_text.to_lowercase();
            for p in payments(&s_toks, known.customer) {
                if !w.payment.contains(&p) {
                    w.payment.push(p);
                }
            }
            let ms = catalogue.mentions(&s_toks);
            let about: Option<usize> = ms.iter().find_map(|(_, _, ids)| {
                w.items
                    .iter()
                    .position(|it| it.products.iter().any(|p| ids.contains(p)))
            });
            let about = about.or(if w.items.len() == 1 { Some(0) } else { None });
            if let Some(ix) = about {
                if s_toks.first().is_some_and(|t| t.text == "if") {
                    let negative = s_toks
                        .iter()
                        .take_while(|t| !matches!(t.text.as_str(), "i'd" | "i" | "then"))
                        .any(|t| {
                            NEGATIVE_CONDITION.contains(&t.text.as_str()) || t.text.ends_with("n't")
                        });
                    let consequent = s_text
                        .split_once(',')
                        .map(|(_, c)| c.to_string())
                        .unwrap_or_default();
                    let c_lower = consequent.to_lowercase();
                    if negative {
                        let drop = c_lower.contains("only")
                            && ms.iter().any(|(_, _, ids)| {
                                w.items.iter().enumerate().any(|(k, it)| {
                                    k != ix && it.products.iter().any(|p| ids.contains(p))
                                })
                            })
                            || c_lower.contains("don't")
                            || c_lower.contains("do not")
                            || c_lower.contains("no exchange")
                            || c_lower.contains("skip")
                            || c_lower.contains("forget")
                            || c_lower.contains("nothing");
                        let base = w.items[ix].target.clone().unwrap_or_default();
                        w.items[ix].fallback = Some(if drop {
                            String::new()
                        } else {
                            format!("{base}, {consequent}")
                        });
                    } else if w.items[ix].target.is_some() {
                        let t = w.items[ix].target.get_or_insert_with(String::new);
                        t.push_str(", ");
                        t.push_str(&consequent);
                    }
                } else if let Some(t) = w.items[ix].target.as_mut() {
                    t.push_str(". ");
                    t.push_str(&s_text);
                } else if (verb == Verb::Exchange || verb == Verb::Modify) && w.items.len() == 1 {
                    w.items[ix].target = Some(s_text.clone());
                }
            }
            let _ = s_lower;
            j = s_end;
        }
        wishes.push(w);
    }
    // A sentence of its own that holds everything back ("Don't do anything for now", "Let me
    // think it over before you set anything up") covers every request in the message.
    let cue_sentences: Vec<usize> = cues.iter().map(|c| sentence[c.0]).collect();
    if (0..n_sentences).any(|si| !cue_sentences.contains(&si) && holds_back(&sentence_text[si])) {
        for w in &mut wishes {
            w.hesitant = true;
        }
    }
    // "For both orders, I'd prefer the Visa": a payment method said for every request, in a
    // sentence of its own, goes to those that name none.
    for (si, text) in sentence_text.iter().enumerate().take(n_sentences) {
        let l = text.to_lowercase();
        if cue_sentences.contains(&si)
            || ![
                "both orders",
                "all orders",
                "all of them",
                "everything",
                "for both",
                "for all",
                "each order",
                "any payment or refund",
                "any refund",
                "any payment",
            ]
            .iter()
            .any(|p| l.contains(p))
        {
            continue;
        }
        let st = tokenize(&sentence_text[si]);
        let sw: Vec<&Tok> = st
            .iter()
            .filter(|t| t.is_word() || matches!(t.kind, Kind::Id))
            .collect();
        let pays = payments(&sw, known.customer);
        if pays.is_empty() {
            continue;
        }
        for w in wishes.iter_mut().filter(|w| w.payment.is_empty()) {
            w.payment = pays.clone();
        }
    }
    // "Cancel the order. I no longer need it": the reason said elsewhere in the message, when
    // it says one only.
    if let Some(reason) = cancel_reason(message) {
        for w in wishes
            .iter_mut()
            .filter(|w| w.verb == Verb::Cancel && w.reason.is_none())
        {
            w.reason = Some(reason.clone());
        }
    }
    // "… to X, and change order N's address to it as well": the address said before.
    let mut last_address: Option<AddrRef> = None;
    for w in &mut wishes {
        if matches!(
            w.target,
            Target::OrderAddress | Target::DefaultAddress | Target::UnclearAddress
        ) {
            let l = w.text.to_lowercase();
            if w.address.is_none()
                && [
                    " there",
                    " to it",
                    "that address",
                    "the same address",
                    "same one",
                    "as well",
                    " too",
                ]
                .iter()
                .any(|p| l.contains(p))
            {
                w.address = last_address.clone();
            }
            if w.address.is_some() {
                last_address = w.address.clone();
            }
        }
    }
    wishes
}

/// Which addresses a request changes, from its words outside the new address.
#[derive(Debug, Clone, Copy, Default)]
struct AddressScope {
    /// The account's (default) address.
    account: bool,
    /// An order's shipping address.
    orders: bool,
    /// Several orders ("all my pending orders", "the order addresses").
    plural: bool,
}

/// The span of the new address in `toks[start..end]`: what follows its "to" ("… to my default
/// one", "… to 12 Elm St, Austin, TX 78701"), up to where another part of the request starts.
fn destination(toks: &[Tok], start: usize, end: usize) -> Option<(usize, usize)> {
    let to_at = (start..end).find(|&i| {
        (toks[i].text == "to" || toks[i].text == "into")
            && !(i > 0
                && matches!(
                    toks[i - 1].text.as_str(),
                    "want"
                        | "wants"
                        | "need"
                        | "needs"
                        | "like"
                        | "love"
                        | "wish"
                        | "have"
                        | "has"
                        | "going"
                        | "able"
                        | "trying"
                        | "hoping"
                        | "plan"
                        | "decided"
                        | "forgot"
                        | "how"
                        | "go"
                        | "goes"
                ))
    })?;
    let stop = (to_at + 1..end)
        .find(|&j| {
            let t = toks[j].text.as_str();
            toks[j].is_break()
                || toks[j].kind == Kind::Semi
                || t == "to"
                    && !matches!(
                        toks[j - 1].text.as_str(),
                        "want"
                            | "wants"
                            | "need"
                            | "needs"
                            | "like"
                            | "love"
                            | "wish"
                            | "have"
                            | "has"
                            | "going"
                            | "able"
                            | "trying"
                            | "hoping"
                            | "plan"
                            | "decided"
                            | "forgot"
                            | "how"
                            | "go"
                            | "goes"
                    )
                || matches!(t, "along" | "including" | "plus" | "together")
                || t == "as"
                    && toks.get(j + 1).is_some_and(|x| x.text == "well")
                    && toks.get(j + 2).is_some_and(|x| x.text == "as")
                || t == "and"
                    && toks[j + 1..end].iter().take(3).any(|x| {
                        x.text == "my" || x.text == "also" || x.text == "the" || x.text == "order"
                    })
        })
        .unwrap_or(end);
    Some((to_at + 1, stop))
}

fn address_scope(message: &str, toks: &[Tok], start: usize, end: usize) -> AddressScope {
    let end = end.min(toks.len());
    let dest = destination(toks, start, end);
    // An aside in brackets ("(it's in my profile)") says where to find the address, not what
    // changes.
    let mut depth = 0i32;
    let aside: Vec<bool> = (start..end)
        .map(|i| {
            if toks[i].text == "(" {
                depth += 1;
            }
            let inside = depth > 0;
            if toks[i].text == ")" {
                depth -= 1;
            }
            inside
        })
        .collect();
    let outside: Vec<&Tok> = (start..end)
        .filter(|i| !dest.is_some_and(|(a, b)| *i >= a && *i < b) && !aside[i - start])
        .map(|i| &toks[i])
        .filter(|t| t.is_word())
        .collect();
    let words: Vec<String> = outside
        .iter()
        .map(|t| message[t.start..t.end].to_lowercase())
        .collect();
    let has = |w: &str| words.iter().any(|x| x == w);
    let pair = |a: &str, b: &str| words.windows(2).any(|p| p[0] == a && p[1] == b);
    let account = has("default")
        || has("account")
        || has("account's")
        || has("profile")
        || pair("user", "address")
        || pair("on", "file")
        || has("billing");
    let plural = has("orders")
        || pair("order", "addresses")
        || has("all") && has("order")
        || has("both") && has("order");
    let orders = has("order")
        || plural
        || has("order's")
        || !account && (pair("shipping", "address") || pair("delivery", "address"));
    AddressScope {
        account,
        orders,
        plural,
    }
}

fn address_ref(
    message: &str,
    toks: &[Tok],
    start: usize,
    end: usize,
    order_at: &[(usize, String, bool)],
) -> Option<AddrRef> {
    let end = end.min(toks.len());
    if start >= end {
        return None;
    }
    let text = &message[toks[start].start..toks[end - 1].end];
    if let Some(a) = written_address(text) {
        return Some(AddrRef::Written(a));
    }
    if let Some((_, n, _)) = order_at
        .iter()
        .find(|(ti, _, r)| *ti >= start && *ti < end && *r)
    {
        return Some(AddrRef::OfOrder(n.clone()));
    }
    // The new address is what follows "to" ("change the order address to my default one"); the
    // words before it name what changes ("my default address to …").
    // Not the "to" of "I want to change …", "I'd like to update …".
    let to_at = (start..end).find(|&i| {
        (toks[i].text == "to" || toks[i].text == "into")
            && !(i > 0
                && matches!(
                    toks[i - 1].text.as_str(),
                    "want"
                        | "wants"
                        | "need"
                        | "needs"
                        | "like"
                        | "love"
                        | "wish"
                        | "have"
                        | "has"
                        | "going"
                        | "able"
                        | "trying"
                        | "hoping"
                        | "plan"
                        | "decided"
                        | "forgot"
                        | "how"
                ))
    });
    let (dest_start, dest_end) = match to_at {
        Some(i) => (
            i + 1,
            (i + 1..end)
                .find(|&j| {
                    toks[j].text == "to"
                        || toks[j].is_break()
                        || toks[j].text == "and"
                            && toks[j + 1..end]
                                .iter()
                                .take(3)
                                .any(|x| x.text == "my" || x.text == "also")
                })
                .unwrap_or(end),
        ),
        None => (start, end),
    };
    if dest_start >= dest_end {
        return None;
    }
    let lower = message[toks[dest_start].start..toks[dest_end - 1].end].to_lowercase();
    // Places are proper nouns ("my Chicago address", "the NYC one").
    let ws: Vec<&Tok> = toks[dest_start..dest_end]
        .iter()
        .filter(|t| {
            t.is_word()
                && t.text != "i"
                && message[t.start..].starts_with(|c: char| c.is_uppercase())
        })
        .collect();
    let places = place_words(&ws);
    if lower.contains("default")
        || lower.contains("profile")
        || lower.contains("on file")
        || lower.contains("my home address")
    {
        return Some(AddrRef::Default);
    }
    if !places.is_empty() {
        return Some(AddrRef::Place(places));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_addresses_are_read_with_or_without_a_state_code() {
        let a = written_address("to my new home: 1234 Elm St, Springfield, IL, 62701").unwrap();
        assert_eq!(
            (
                a.line1.as_str(),
                a.city.as_str(),
                a.region.as_str(),
                a.postcode.as_str()
            ),
            ("1234 Elm St", "Springfield", "IL", "62701")
        );
        let b = written_address("101 Highway, New York, 10001").unwrap();
        assert_eq!((b.city.as_str(), b.region.as_str()), ("New York", "NY"));
        let c = written_address("445 Maple Drive, Suite 394, Fort Worth, Texas, 76165").unwrap();
        assert_eq!(
            (c.line2.as_deref(), c.region.as_str()),
            (Some("Suite 394"), "TX")
        );
        assert!(written_address("the order from last week").is_none());
    }

    #[test]
    fn reasons_are_mapped_to_the_two_usual_ones() {
        assert_eq!(
            cancel_reason("I ordered it by mistake").as_deref(),
            Some("ordered by mistake")
        );
        assert_eq!(
            cancel_reason("I no longer need it").as_deref(),
            Some("no longer needed")
        );
        assert_eq!(cancel_reason("it's too expensive"), None);
    }
}

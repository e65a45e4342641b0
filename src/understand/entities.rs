//! The references a message carries: order numbers, emails, postcodes, tracking numbers, names,
//! τ-bench user ids, quantities and product option mentions. Rules only, no model.
//!
//! Precision comes before recall for order numbers: a wrong order number sends the order flow to
//! someone else's order, a missing one only makes it ask. A bare digit run therefore counts only
//! with an order word before it ("order", "purchase" and their typos, "#"), or, without one, when
//! it cannot be a phone number, postcode, price, quantity or date. This module does not look
//! anything up: whether an order exists, or an option is a real variant, is for the flows that
//! use these values.

use serde::{Deserialize, Serialize};

use super::text::{edit_distance, tokenize, Kind, Token};

/// What a message refers to. Every list is in order of appearance, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Entities {
    /// Order references, normalised: the store's `LF-100234` (from "LF-100234", "LF100234",
    /// "lf 100234"), τ-bench's `#W2378156` (from "#W2378156" or "W2378156"), and plain digit
    /// references ("#100234", "order 00123842") as digits without leading zeros, the form the
    /// order database and the evaluation data use.
    pub order_numbers: Vec<String>,
    pub emails: Vec<String>,
    /// US ZIP / ZIP+4, UK and Canadian postcodes, after "zip"/"postcode" or in address form.
    pub postcodes: Vec<String>,
    /// UPS (`1Z` + 16 characters), USPS (20–22 digits) and numbers after "tracking".
    pub tracking_numbers: Vec<String>,
    /// Capitalised names after "my name is", "I'm", "I am", "this is".
    pub names: Vec<String>,
    /// τ-bench style user ids such as `mia_garcia_4516` (the retail store's identity key).
    pub user_ids: Vec<String>,
    pub quantities: Vec<Quantity>,
    /// Raw option phrases ("size M in blue", "clicky switches", "500ml", "queen"): candidates
    /// for the exchange and stock flows to match against a product's real variants.
    pub options: Vec<String>,
}

/// "2 towels", "three pairs of socks".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantity {
    pub count: u32,
    /// The words after the number, lower-cased (may be empty for "x2", "qty 3").
    pub item: String,
}

impl Entities {
    /// The first order number mentioned, if any.
    pub fn first_order_number(&self) -> Option<&str> {
        self.order_numbers.first().map(String::as_str)
    }

    /// Extracts everything from `text`. Never fails: text with nothing recognisable gives empty
    /// lists.
    pub fn extract(text: &str) -> Entities {
        Extractor::new(text).run()
    }
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// A whitespace-separated piece of the text, with surrounding punctuation trimmed.
struct Chunk<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

fn chunks(text: &str) -> Vec<Chunk<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    for piece in text.split_whitespace() {
        let at = pos + text[pos..].find(piece).unwrap_or(0);
        pos = at + piece.len();
        let lead = piece.len()
            - piece
                .trim_start_matches(['(', '[', '{', '"', '\'', '<', '\u{201c}', '\u{2018}'])
                .len();
        let trimmed = piece[lead..].trim_end_matches([
            ')', ']', '}', '"', '\'', '>', ',', '.', ';', ':', '!', '?', '\u{201d}', '\u{2019}',
        ]);
        if !trimmed.is_empty() {
            out.push(Chunk {
                text: trimmed,
                start: at + lead,
                end: at + lead + trimmed.len(),
            });
        }
    }
    out
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn strip_zeros(d: &str) -> String {
    let s = d.trim_start_matches('0');
    if s.is_empty() {
        "0".into()
    } else {
        s.into()
    }
}

fn email(c: &str) -> Option<String> {
    let (local, domain) = c.split_once('@')?;
    let ok_local = !local.is_empty()
        && local
            .chars()
            .all(|ch| ch.is_alphanumeric() || "._%+-".contains(ch));
    let domain = domain.trim_end_matches('.');
    let (host, tld) = domain.rsplit_once('.')?;
    let ok_domain = !host.is_empty()
        && domain
            .chars()
            .all(|ch| ch.is_alphanumeric() || ".-".contains(ch))
        && tld.len() >= 2
        && tld.chars().all(|ch| ch.is_alphabetic());
    (ok_local && ok_domain).then(|| format!("{local}@{}", domain.to_lowercase()))
}

fn ups(c: &str) -> bool {
    // Bytes, not a slice of the text: the first two bytes may be part of one character.
    c.len() == 18
        && c.as_bytes()[..2].eq_ignore_ascii_case(b"1z")
        && c.chars().all(|ch| ch.is_ascii_alphanumeric())
}

/// `mia_garcia_4516`: lower-case letter groups joined by `_`, ending in 3–6 digits.
fn user_id(c: &str) -> bool {
    let parts: Vec<&str> = c.split('_').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|ch| ch.is_ascii_lowercase()))
        && all_digits(parts[parts.len() - 1])
        && (3..=6).contains(&parts[parts.len() - 1].len())
}

fn zip_us(c: &str) -> bool {
    match c.split_once('-') {
        Some((a, b)) => a.len() == 5 && b.len() == 4 && all_digits(a) && all_digits(b),
        None => c.len() == 5 && all_digits(c),
    }
}

/// Whether chunk `k` (a number) ends a place someone says they live at: going back over place
/// words (capitalised words, state names and codes, house and suite numbers, "in", "the"), a
/// residence word is reached ("live", "living", "residing", "located", "based", "from").
fn lives_at(text: &str, cs: &[Chunk], k: usize) -> bool {
    let mut j = k;
    let mut steps = 0;
    while j > 0 && steps < 10 {
        j -= 1;
        steps += 1;
        // A sentence mark between ends the place.
        if text[cs[j].end..cs[j + 1].start].contains(['.', '!', '?', ';']) {
            return false;
        }
        let w = cs[j].text;
        let l = w.to_lowercase();
        if matches!(
            l.as_str(),
            "live"
                | "lives"
                | "living"
                | "reside"
                | "resides"
                | "residing"
                | "located"
                | "based"
                | "from"
        ) {
            return true;
        }
        let place = matches!(
            l.as_str(),
            "in" | "at" | "the" | "on" | "near" | "usa" | "us" | "suite" | "apt" | "unit"
        ) || w.chars().next().is_some_and(char::is_uppercase)
            && w.chars()
                .all(|c| c.is_alphabetic() || c == '-' || c == '.' || c == '\'')
            || w.len() <= 6 && w.chars().all(|c| c.is_ascii_digit());
        if !place {
            return false;
        }
    }
    false
}

/// UK outward code: A9, A99, AA9, AA99, A9A, AA9A.
fn uk_outward(c: &str) -> bool {
    let b = c.as_bytes();
    let letters = b.iter().take_while(|x| x.is_ascii_alphabetic()).count();
    if !(1..=2).contains(&letters) || b.len() < letters + 1 || b.len() > letters + 2 {
        return false;
    }
    let rest = &b[letters..];
    rest[0].is_ascii_digit() && rest[1..].iter().all(|x| x.is_ascii_alphanumeric())
}

/// UK inward code: 9AA.
fn uk_inward(c: &str) -> bool {
    let b = c.as_bytes();
    b.len() == 3
        && b[0].is_ascii_digit()
        && b[1].is_ascii_alphabetic()
        && b[2].is_ascii_alphabetic()
}

/// Canadian forward sortation area (A9A) and local delivery unit (9A9).
fn ca_fsa(c: &str) -> bool {
    let b = c.as_bytes();
    b.len() == 3
        && b[0].is_ascii_alphabetic()
        && b[1].is_ascii_digit()
        && b[2].is_ascii_alphabetic()
}
fn ca_ldu(c: &str) -> bool {
    let b = c.as_bytes();
    b.len() == 3 && b[0].is_ascii_digit() && b[1].is_ascii_alphabetic() && b[2].is_ascii_digit()
}

fn is_upper(c: &str) -> bool {
    c.chars().all(|ch| !ch.is_alphabetic() || ch.is_uppercase())
}

const US_STATES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY",
];

/// Words after which a number is a postcode.
fn postcode_word(w: &str) -> bool {
    matches!(
        w,
        "zip" | "zipcode" | "postcode" | "postal" | "post" | "zip-code" | "postalcode"
    )
}

/// An order word, allowing the typos customers (and the Bitext data) make: "oder", "roder",
/// "purchaes", "ordered", "theorder", "cancelingpurchase".
fn order_word(w: &str) -> bool {
    if w.len() < 4 || w == "border" || w == "older" || w == "odor" {
        return false;
    }
    w.starts_with("order")
        || w.starts_with("purchase")
        || w.ends_with("order")
        || w.ends_with("purchase")
        || edit_distance(w, "order") <= 1
        || edit_distance(w, "purchase") <= 1
        || matches!(w, "confirmation" | "ref" | "reference")
}

/// Words that make a following number something other than an order reference.
fn not_order_context(w: &str) -> bool {
    matches!(
        w,
        "phone"
            | "call"
            | "calling"
            | "text"
            | "tel"
            | "telephone"
            | "mobile"
            | "cell"
            | "fax"
            | "whatsapp"
            | "extension"
            | "ext"
            | "zip"
            | "zipcode"
            | "postcode"
            | "postal"
            | "tracking"
            | "track"
            | "card"
            | "account"
            | "iban"
            | "routing"
            | "sku"
            | "item"
            | "model"
            | "invoice"
            | "bill"
            | "receipt"
            | "rma"
            | "ticket"
            | "case"
            | "apt"
            | "apartment"
            | "suite"
            | "unit"
            | "room"
            | "pin"
            | "ssn"
            | "isbn"
            | "upc"
            | "ean"
            | "serial"
            | "gift"
            | "voucher"
            | "coupon"
            | "code"
            | "reach"
            | "contact"
    )
}

/// Words after a number that make it a sum of money, a duration or a measure.
fn money_or_time(w: &str) -> bool {
    matches!(
        w,
        "dollars"
            | "dollar"
            | "usd"
            | "bucks"
            | "eur"
            | "euro"
            | "euros"
            | "pounds"
            | "gbp"
            | "cents"
            | "cad"
            | "times"
            | "days"
            | "hours"
            | "minutes"
            | "weeks"
            | "months"
            | "years"
            | "miles"
            | "km"
            | "points"
            | "percent"
            | "am"
            | "pm"
    )
}

/// Words after a number that make it an amount, a duration or a count rather than a reference.
fn amount_unit(w: &str) -> bool {
    money_or_time(w) || matches!(w, "items" | "pieces" | "pcs" | "units" | "pairs")
}

/// Words that suggest the message is about an order at all (for digit runs with no order word).
fn order_topic(w: &str) -> bool {
    order_word(w)
        || matches!(
            w,
            "package"
                | "parcel"
                | "shipment"
                | "delivery"
                | "delivered"
                | "shipped"
                | "cancel"
                | "refund"
                | "return"
                | "exchange"
                | "arrived"
                | "tracking"
                | "status"
                | "bought"
        )
}

const COLOURS: &[&str] = &[
    "black",
    "white",
    "grey",
    "gray",
    "navy",
    "blue",
    "red",
    "green",
    "yellow",
    "pink",
    "purple",
    "orange",
    "brown",
    "beige",
    "cream",
    "ivory",
    "tan",
    "camel",
    "olive",
    "sage",
    "teal",
    "turquoise",
    "burgundy",
    "maroon",
    "charcoal",
    "khaki",
    "coral",
    "mustard",
    "lavender",
    "lilac",
    "mint",
    "rust",
    "taupe",
    "silver",
    "gold",
    "oatmeal",
    "indigo",
    "ecru",
    "terracotta",
    "blush",
    "plum",
    "emerald",
    "cobalt",
    "ochre",
    "sand",
    "slate",
];
const MATERIALS: &[&str] = &[
    "cotton",
    "linen",
    "wool",
    "merino",
    "cashmere",
    "silk",
    "leather",
    "suede",
    "denim",
    "polyester",
    "nylon",
    "bamboo",
    "flannel",
    "fleece",
    "velvet",
    "jersey",
    "ceramic",
    "stoneware",
    "porcelain",
    "glass",
    "stainless",
    "steel",
    "wooden",
    "soy",
    "beeswax",
    "waffle",
    "percale",
    "sateen",
    "organic",
];
const FEATURES: &[&str] = &[
    "clicky",
    "linear",
    "tactile",
    "rgb",
    "backlit",
    "wireless",
    "wired",
    "bluetooth",
    "usb",
    "waterproof",
    "unscented",
    "scented",
    "v-neck",
    "vneck",
    "crewneck",
    "crew-neck",
    "long-sleeve",
    "long-sleeved",
    "short-sleeve",
    "short-sleeved",
    "sleeveless",
    "slim",
    "relaxed",
    "oversized",
    "hooded",
    "matte",
    "glossy",
    "glazed",
    "xxs",
    "xs",
    "xl",
    "xxl",
    "xxxl",
    "2xl",
    "3xl",
    "full-size",
];
/// Sizes that are ordinary words too ("a small problem"): only an option after an article or
/// "size", or before an option noun or "one".
const SOFT_SIZES: &[&str] = &[
    "small", "medium", "large", "petite", "tall", "twin", "queen", "king", "double", "single",
];
const LETTER_SIZES: &[&str] = &[
    "xxs", "xs", "s", "m", "l", "xl", "xxl", "xxxl", "2xl", "3xl",
];
/// Nouns that extend an option phrase ("clicky switches", "long sleeves", "blue glaze").
const OPTION_NOUNS: &[&str] = &[
    "switch",
    "switches",
    "backlight",
    "backlighting",
    "sleeve",
    "sleeves",
    "neck",
    "collar",
    "fit",
    "finish",
    "glaze",
    "scent",
    "colour",
    "color",
    "size",
    "version",
    "capacity",
    "edition",
    "pattern",
    "print",
    "weave",
    "one",
    "ones",
];
const MEASURE_UNITS: &[&str] = &[
    "ml", "l", "oz", "cm", "mm", "inch", "inches", "gb", "tb", "w", "mah", "ft", "lb", "lbs", "kg",
    "g",
];
const MULTIWORD_VALUES: &[&[&str]] = &[
    &["google", "home"],
    &["apple", "homekit"],
    &["amazon", "alexa"],
    &["thread", "count"],
];

fn number_word(w: &str) -> Option<u32> {
    Some(match w {
        "one" | "a" | "an" => 1,
        "two" | "couple" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" | "dozen" => 12,
        _ => return None,
    })
}

/// Title-case words after "I'm" that are not names.
const NOT_NAMES: &[&str] = &[
    "Sorry",
    "Very",
    "So",
    "Not",
    "Just",
    "Still",
    "Really",
    "Here",
    "Back",
    "Sure",
    "Glad",
    "Happy",
    "Upset",
    "Angry",
    "Done",
    "New",
    "Unable",
    "Interested",
    "Frustrated",
    "Disappointed",
    "Confused",
    "Tired",
    "Sick",
    "Fed",
    "Afraid",
    "Also",
    "Currently",
    "Now",
    "Again",
    "Larkfield",
    "The",
    "A",
    "An",
    "In",
    "At",
    "On",
    "From",
    "With",
    "About",
    "Your",
    "My",
    "Writing",
    "Trying",
    "Looking",
    "Waiting",
    "Calling",
    "Contacting",
    "Having",
    "Getting",
    "Going",
    "Reaching",
    "Hoping",
    "Wondering",
    "Please",
    "Hi",
    "Hello",
    "Hey",
    "Thanks",
    "Thank",
    "I",
    "It",
    "This",
    "That",
    "What",
    "Why",
    "How",
    "When",
    "Where",
    "Who",
    "Can",
    "Could",
    "Would",
    "Will",
    "Yes",
    "No",
    "Ok",
    "Okay",
    "Mad",
    "Furious",
    "Annoyed",
    "Pretty",
    "Quite",
    "Extremely",
    "Absolutely",
    "Completely",
    "Totally",
    "Ready",
    "Able",
    "Unhappy",
    "Satisfied",
    "Worried",
    "Concerned",
    "Missing",
    "Expecting",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Customer",
    "Order",
    "Urgent",
];

fn title_case(w: &str) -> bool {
    let mut cs = w.chars();
    matches!(cs.next(), Some(c) if c.is_uppercase()) && w.chars().skip(1).any(|c| c.is_lowercase())
}

fn looks_like_name(w: &str) -> bool {
    let l = w.to_lowercase();
    title_case(w)
        && !NOT_NAMES.contains(&w)
        && !["ing", "ous", "ful", "ible", "able"]
            .iter()
            .any(|s| l.ends_with(s))
}

struct Extractor<'a> {
    text: &'a str,
    toks: Vec<Token<'a>>,
    lower: Vec<String>,
    /// Tokens already used by an entity (an email's digits are not an order number).
    used: Vec<bool>,
    out: Entities,
}

impl<'a> Extractor<'a> {
    fn new(text: &'a str) -> Self {
        let toks = tokenize(text);
        let lower = toks
            .iter()
            .map(|t| t.text.to_lowercase().replace('\u{2019}', "'"))
            .collect();
        let used = vec![false; toks.len()];
        Self {
            text,
            toks,
            lower,
            used,
            out: Entities::default(),
        }
    }

    fn run(mut self) -> Entities {
        self.chunk_entities();
        self.prefixed_orders();
        self.long_digit_runs();
        self.digit_orders();
        self.names();
        self.quantities();
        self.options();
        self.out
    }

    fn mark(&mut self, start: usize, end: usize) {
        for (t, u) in self.toks.iter().zip(self.used.iter_mut()) {
            if t.start >= start && t.end <= end {
                *u = true;
            }
        }
    }

    /// Adjacent (no space) to the previous token.
    fn glued(&self, i: usize) -> bool {
        i > 0 && !self.toks[i].space_before
    }

    /// Entities that are whole whitespace-separated pieces: emails, UPS numbers, user ids, URLs,
    /// and postcodes (which span one or two pieces).
    fn chunk_entities(&mut self) {
        let text = self.text;
        let cs = chunks(text);
        for (k, c) in cs.iter().enumerate() {
            let lower = c.text.to_lowercase();
            if lower.contains("://") || lower.starts_with("www.") {
                self.mark(c.start, c.end);
            } else if let Some(e) = c.text.contains('@').then(|| email(c.text)).flatten() {
                push_unique(&mut self.out.emails, e);
                self.mark(c.start, c.end);
            } else if ups(c.text) {
                push_unique(&mut self.out.tracking_numbers, c.text.to_uppercase());
                self.mark(c.start, c.end);
            } else if user_id(c.text) {
                push_unique(&mut self.out.user_ids, c.text.to_string());
                self.mark(c.start, c.end);
            }
            // Postcodes: after a postcode word (up to two filler pieces between), in address form
            // after a state ("NY 10083"), or as ZIP+4 / an upper-case UK or Canadian code anywhere.
            let keyword = (k
                .checked_sub(1)
                .into_iter()
                .chain(k.checked_sub(2))
                .chain(k.checked_sub(3)))
            .any(|j| {
                let w = cs[j].text.to_lowercase();
                postcode_word(w.trim_end_matches(':'))
                    && cs[j + 1..k].iter().all(|f| {
                        matches!(
                            f.text.to_lowercase().as_str(),
                            "code" | "is" | "of" | "-" | "#" | "code:"
                        )
                    })
            });
            // "NY 10083", "Seattle, WA, 98193" (a comma may follow the state).
            let after_state = k > 0
                && US_STATES.contains(&cs[k - 1].text.trim_end_matches(','))
                && text[cs[k - 1].end..c.start]
                    .trim()
                    .trim_matches(',')
                    .trim()
                    .is_empty();
            // Where someone lives, said as a place: "I live in Denver, 80280", "residing in
            // Philadelphia 19031", "living in the Big Apple in 10108", "from Houston TX, 77004".
            let residence = zip_us(c.text) && lives_at(text, &cs, k);
            let next = cs.get(k + 1);
            if (keyword || after_state || residence) && zip_us(c.text)
                || c.text.len() == 10 && zip_us(c.text)
            {
                push_unique(&mut self.out.postcodes, c.text.to_string());
                self.mark(c.start, c.end);
                continue;
            }
            if let Some(n) = next.filter(|n| keyword || is_upper(c.text) && is_upper(n.text)) {
                let (a, b) = (c.text.to_uppercase(), n.text.to_uppercase());
                if uk_outward(&a) && uk_inward(&b) || ca_fsa(&a) && ca_ldu(&b) {
                    push_unique(&mut self.out.postcodes, format!("{a} {b}"));
                    self.mark(c.start, n.end);
                    continue;
                }
            }
            if keyword && (5..=7).contains(&c.text.len()) && c.text.is_ascii() {
                // Written without the space: "K1A0B1", "SW1A2AA".
                let u = c.text.to_uppercase();
                let (a, b) = u.split_at(u.len() - 3);
                if ca_fsa(a) && ca_ldu(b) || uk_outward(a) && uk_inward(b) {
                    push_unique(&mut self.out.postcodes, format!("{a} {b}"));
                    self.mark(c.start, c.end);
                }
            }
        }
    }

    /// "LF-100234", "LF100234", "#W2378156", "W2378156": the prefix makes these unambiguous.
    fn prefixed_orders(&mut self) {
        let n = self.toks.len();
        for i in 0..n {
            if self.used[i] || !self.toks[i].is(Kind::Alpha) {
                continue;
            }
            // The letters must start a word: not glued to letters or digits before them.
            if self.glued(i) && !self.toks[i - 1].is(Kind::Sym) {
                continue;
            }
            let l = self.lower[i].as_str();
            let digits_at = |j: usize| -> Option<usize> {
                let t = self.toks.get(j)?;
                let followed = self
                    .toks
                    .get(j + 1)
                    .is_some_and(|nx| !nx.space_before && !nx.is(Kind::Sym));
                (t.is(Kind::Digit) && !followed && !self.used[j]).then_some(j)
            };
            if l == "lf" {
                // "LF-100234", "LF–100234", "LF100234", "LF 100234".
                let j = match self.toks.get(i + 1) {
                    Some(t) if t.is(Kind::Sym) && "-–—".contains(t.text) && !t.space_before => {
                        i + 2
                    }
                    _ => i + 1,
                };
                if let Some(j) =
                    digits_at(j).filter(|&j| (4..=10).contains(&self.toks[j].text.len()))
                {
                    let d = self.toks[j].text;
                    push_unique(&mut self.out.order_numbers, format!("LF-{d}"));
                    (i..=j).for_each(|k| self.used[k] = true);
                }
            } else if l == "w" {
                if let Some(j) = digits_at(i + 1).filter(|&j| {
                    !self.toks[j].space_before && (5..=10).contains(&self.toks[j].text.len())
                }) {
                    let d = self.toks[j].text;
                    push_unique(&mut self.out.order_numbers, format!("#W{d}"));
                    (i..=j).for_each(|k| self.used[k] = true);
                    if i > 0 && self.toks[i - 1].sym('#') {
                        self.used[i - 1] = true;
                    }
                }
            }
        }
    }

    /// USPS tracking numbers, written whole or in groups ("9400 1000 0000 0000 0000 00"), and any
    /// number after "tracking".
    fn long_digit_runs(&mut self) {
        let n = self.toks.len();
        let mut i = 0;
        while i < n {
            if self.used[i]
                || !self.toks[i].is(Kind::Digit)
                || self.glued(i) && !self.toks[i - 1].is(Kind::Sym)
            {
                i += 1;
                continue;
            }
            let mut j = i;
            let mut digits = self.toks[i].text.to_string();
            while j + 1 < n
                && self.toks[j + 1].is(Kind::Digit)
                && self.toks[j + 1].space_before
                && !self.used[j + 1]
                && digits.len() < 22
            {
                j += 1;
                digits.push_str(self.toks[j].text);
            }
            // "tracking number 1Z…" is a tracking number; "tracking order 3707955617" is not: the
            // nearer of an order word and a tracking word decides.
            let after_tracking = self.lower[..i]
                .iter()
                .rev()
                .take(4)
                .find(|w| w.as_str() == "tracking" || w.as_str() == "track" || order_word(w))
                .is_some_and(|w| w == "tracking" || w == "track");
            let grouped = j > i && (20..=22).contains(&digits.len());
            if grouped
                || (20..=22).contains(&self.toks[i].text.len())
                || after_tracking && self.toks[i].text.len() >= 8
            {
                let end = if grouped { j } else { i };
                let value = if grouped {
                    digits
                } else {
                    self.toks[i].text.to_string()
                };
                push_unique(&mut self.out.tracking_numbers, value);
                (i..=end).for_each(|k| self.used[k] = true);
                i = end + 1;
            } else {
                i += 1;
            }
        }
    }

    /// The words before token `i` (nearest first), stopping at a sentence end.
    fn words_before(&self, i: usize, max: usize) -> Vec<&str> {
        let mut out = Vec::new();
        let mut k = i;
        while k > 0 && out.len() < max {
            k -= 1;
            let t = &self.toks[k];
            if t.is(Kind::Sym) && ".?!;".contains(t.text) {
                break;
            }
            if !t.is(Kind::Sym) {
                out.push(self.lower[k].as_str());
            }
        }
        out
    }

    /// Plain digit references: "order 00123842", "#100234", "purchase113542617735902".
    fn digit_orders(&mut self) {
        let n = self.toks.len();
        let topical = self.lower.iter().any(|w| order_topic(w));
        let mut last_order_tok: Option<usize> = None;
        for i in 0..n {
            let t = &self.toks[i];
            if self.used[i] || !t.is(Kind::Digit) {
                continue;
            }
            let len = t.text.len();
            let prev = i.checked_sub(1).map(|p| &self.toks[p]);
            let next = self.toks.get(i + 1);
            let next2 = self.toks.get(i + 2);
            // Glued to letters after it ("2nd", "500ml") or part of a number with separators
            // ("12.50", "1,200", "555-1234", "12/05/2024", "10:30").
            if next.is_some_and(|x| !x.space_before && (x.is(Kind::Alpha) || x.is(Kind::Digit))) {
                continue;
            }
            if next.is_some_and(|x| !x.space_before && x.is(Kind::Sym) && ".,-/:".contains(x.text))
                && next2.is_some_and(|y| !y.space_before && y.is(Kind::Digit))
            {
                continue;
            }
            if prev
                .is_some_and(|p| !t.space_before && p.is(Kind::Sym) && ".,-/:$£€".contains(p.text))
            {
                continue;
            }
            let hash = prev.is_some_and(|p| p.sym('#') && !t.space_before);
            let glued_word = prev.is_some_and(|p| !t.space_before && p.is(Kind::Alpha));
            if glued_word && !order_word(&self.lower[i - 1]) {
                continue; // "abc12345": a code of some other kind
            }
            let after = self.lower.get(i + 1).map(String::as_str).unwrap_or("");
            if amount_unit(after) {
                continue;
            }
            let before = self.words_before(if hash { i - 1 } else { i }, 4);
            // The nearest telling word decides: an order word makes it an order reference, a
            // phone/postcode/invoice word makes it something else.
            let mut verdict = None;
            for w in &before {
                if order_word(w) {
                    verdict = Some(true);
                    break;
                }
                if not_order_context(w) {
                    verdict = Some(false);
                    break;
                }
            }
            // "orders 123456 and 234567": a list continues the previous reference.
            let continues = last_order_tok.is_some_and(|p| {
                let between: Vec<&str> = self.lower[p + 1..i].iter().map(String::as_str).collect();
                !between.is_empty()
                    && between
                        .iter()
                        .all(|w| matches!(*w, "and" | "or" | "," | "&" | "/" | "#"))
            });
            let accept = match verdict {
                Some(v) => v && (hash && len >= 4 || len >= 5) && len <= 15,
                None if continues => (5..=15).contains(&len),
                // "#100234" with nothing telling before it.
                None if hash => (4..=15).contains(&len),
                // No order word at all: only lengths a phone number (10–11) or ZIP (5) cannot
                // have, and only in a message about an order.
                None => topical && matches!(len, 6..=9 | 12..=15),
            };
            if accept {
                push_unique(&mut self.out.order_numbers, strip_zeros(t.text));
                self.used[i] = true;
                if hash {
                    self.used[i - 1] = true;
                }
                last_order_tok = Some(i);
            }
        }
    }

    /// Capitalised words right after "my name is", "name's", "I'm", "I am", "this is".
    fn names(&mut self) {
        let n = self.toks.len();
        let mut i = 0;
        while i < n {
            let l = self.lower[i].as_str();
            let start = if l == "i'm" || l == "im" && self.toks[i].text == "Im" {
                Some(i + 1)
            } else if (l == "i" && self.lower.get(i + 1).is_some_and(|w| w == "am"))
                || (l == "this" && self.lower.get(i + 1).is_some_and(|w| w == "is"))
                || (l == "name" && self.lower.get(i + 1).is_some_and(|w| w == "is"))
            {
                Some(i + 2)
            } else if l == "name's" {
                Some(i + 1)
            } else if (l == "called" || l == "named")
                && self
                    .words_before(i, 6)
                    .iter()
                    .any(|w| matches!(*w, "am" | "i'm" | "im"))
            {
                // "I am an interesting guy called Noah Patel".
                Some(i + 1)
            } else {
                None
            };
            let Some(s) = start else {
                i += 1;
                continue;
            };
            let mut parts: Vec<String> = Vec::new();
            let mut k = s;
            while k < n && parts.len() < 3 {
                let t = &self.toks[k];
                if t.is(Kind::Alpha)
                    && looks_like_name(t.text)
                    && (parts.is_empty() || t.space_before)
                {
                    let mut part = t.text.to_string();
                    // Hyphenated names: "Mary-Jane".
                    while k + 2 < n
                        && self.toks[k + 1].sym('-')
                        && !self.toks[k + 1].space_before
                        && title_case(self.toks[k + 2].text)
                        && !self.toks[k + 2].space_before
                    {
                        part.push('-');
                        part.push_str(self.toks[k + 2].text);
                        k += 2;
                    }
                    parts.push(part);
                    k += 1;
                } else {
                    break;
                }
            }
            if !parts.is_empty() {
                push_unique(&mut self.out.names, parts.join(" "));
            }
            i = k.max(i + 1);
        }
    }

    /// "2 towels", "three pairs of socks", "x2", "qty 3".
    fn quantities(&mut self) {
        let n = self.toks.len();
        for i in 0..n {
            if self.used[i] {
                continue;
            }
            let t = &self.toks[i];
            let l = self.lower[i].as_str();
            // "x2", "qty 3", "quantity: 3".
            if l == "x" || l == "qty" || l == "quantity" {
                let j = if self.toks.get(i + 1).is_some_and(|s| s.sym(':')) {
                    i + 2
                } else {
                    i + 1
                };
                if let Some(d) = self
                    .toks
                    .get(j)
                    .filter(|d| d.is(Kind::Digit) && d.text.len() <= 3 && !self.used[j])
                {
                    if l != "x" || !d.space_before {
                        if let Ok(count) = d.text.parse() {
                            push_unique(
                                &mut self.out.quantities,
                                Quantity {
                                    count,
                                    item: String::new(),
                                },
                            );
                        }
                    }
                }
                continue;
            }
            let count = match t.kind {
                Kind::Digit if t.text.len() <= 3 => t.text.parse::<u32>().ok(),
                Kind::Alpha if l != "a" && l != "an" => number_word(l),
                _ => None,
            };
            let Some(count) = count.filter(|&c| c > 0) else {
                continue;
            };
            let prev = i.checked_sub(1).map(|p| &self.toks[p]);
            if prev.is_some_and(|p| !t.space_before && (p.is(Kind::Sym) || p.is(Kind::Alpha)))
                || self.words_before(i, 1).first().is_some_and(|w| {
                    matches!(
                        *w,
                        "size"
                            | "us"
                            | "uk"
                            | "eu"
                            | "of"
                            | "top"
                            | "last"
                            | "first"
                            | "within"
                            | "in"
                            | "by"
                            | "until"
                            | "under"
                            | "over"
                    )
                })
            {
                continue;
            }
            // The item: the next one to three words, stopping before a connector.
            let mut words = Vec::new();
            let mut k = i + 1;
            while k < n && words.len() < 4 {
                let nt = &self.toks[k];
                if !nt.is(Kind::Alpha) || !nt.space_before {
                    break;
                }
                let w = self.lower[k].as_str();
                if words.is_empty()
                    && (money_or_time(w)
                        || MEASURE_UNITS.contains(&w)
                        || matches!(
                            w,
                            "of" | "or"
                                | "and"
                                | "more"
                                | "to"
                                | "in"
                                | "x"
                                | "size"
                                | "st"
                                | "nd"
                                | "rd"
                                | "th"
                                | "day"
                                | "hour"
                                | "week"
                                | "month"
                                | "year"
                                | "minute"
                                | "dollar"
                                | "percent"
                                | "star"
                                | "stars"
                                | "business"
                                | "working"
                        ))
                {
                    words.clear();
                    break;
                }
                if matches!(
                    w,
                    "and"
                        | "or"
                        | "but"
                        | "to"
                        | "for"
                        | "from"
                        | "in"
                        | "on"
                        | "with"
                        | "that"
                        | "which"
                        | "please"
                        | "i"
                        | "is"
                        | "are"
                ) {
                    break;
                }
                words.push(w.to_string());
                // "pairs of socks": a container word carries on through "of".
                if matches!(
                    w,
                    "pair" | "pairs" | "set" | "sets" | "pack" | "packs" | "box" | "boxes"
                ) && self.lower.get(k + 1).is_some_and(|x| x == "of")
                {
                    words.push("of".into());
                    k += 2;
                    continue;
                }
                let descriptive = COLOURS.contains(&w)
                    || MATERIALS.contains(&w)
                    || FEATURES.contains(&w)
                    || SOFT_SIZES.contains(&w)
                    || matches!(
                        w,
                        "more"
                            | "extra"
                            | "new"
                            | "different"
                            | "identical"
                            | "matching"
                            | "light"
                            | "dark"
                            | "pale"
                    );
                // Up to the plural head noun ("2 bath towels"), or past adjectives for one item.
                let head_reached = if count > 1 {
                    w.ends_with('s') && !descriptive
                } else {
                    !descriptive
                };
                if head_reached || words.len() >= 3 {
                    break;
                }
                k += 1;
            }
            if words.is_empty()
                || t.is(Kind::Alpha)
                    && !matches!(words.last().map(String::as_str), Some(w) if w.ends_with('s') || count == 1)
            {
                continue;
            }
            // The word "one" is too common ("the blue one", "one more thing") to be a quantity.
            if l == "one" {
                continue;
            }
            push_unique(
                &mut self.out.quantities,
                Quantity {
                    count,
                    item: words.join(" "),
                },
            );
        }
    }

    /// Option phrases: runs of option values (colours, materials, features, sizes,
    /// measurements) and option nouns, bridged by "in"/"with" between two values.
    fn options(&mut self) {
        let n = self.toks.len();
        // Per token: 2 = a value, 1 = an option noun (extends a phrase), 0 = neither.
        let mut role = vec![0u8; n];
        let mut i = 0;
        while i < n {
            let l = self.lower[i].as_str();
            let t = &self.toks[i];
            let next_l = self.lower.get(i + 1).map(String::as_str).unwrap_or("");
            let prev_l = i
                .checked_sub(1)
                .map(|p| self.lower[p].as_str())
                .unwrap_or("");
            // "size M", "size 10.5", "size small".
            if l == "size" && i + 1 < n && self.toks[i + 1].space_before {
                let v = &self.toks[i + 1];
                let letter = v.is(Kind::Alpha)
                    && (LETTER_SIZES.contains(&next_l) || SOFT_SIZES.contains(&next_l));
                if letter || v.is(Kind::Digit) && v.text.len() <= 2 {
                    role[i] = 2;
                    role[i + 1] = 2;
                    // "10.5"
                    if v.is(Kind::Digit)
                        && self
                            .toks
                            .get(i + 2)
                            .is_some_and(|d| d.sym('.') && !d.space_before)
                        && self
                            .toks
                            .get(i + 3)
                            .is_some_and(|d| d.is(Kind::Digit) && !d.space_before)
                    {
                        role[i + 2] = 2;
                        role[i + 3] = 2;
                        i += 4;
                    } else {
                        i += 2;
                    }
                    continue;
                }
            }
            // "US 9", "EU 42", "UK 7": shoe sizes.
            if matches!(t.text, "US" | "EU" | "UK")
                && self
                    .toks
                    .get(i + 1)
                    .is_some_and(|d| d.is(Kind::Digit) && d.text.len() <= 2 && d.space_before)
            {
                role[i] = 2;
                role[i + 1] = 2;
                i += 2;
                continue;
            }
            // Measurements: "500ml", "1000 ml", "12 oz".
            if t.is(Kind::Digit)
                && !self.used[i]
                && MEASURE_UNITS.contains(&next_l)
                && (next_l != "l" && next_l != "g" && next_l != "w"
                    || !self.toks[i + 1].space_before)
            {
                role[i] = 2;
                role[i + 1] = 2;
                i += 2;
                continue;
            }
            // Multi-word values: "google home", "thread count".
            if let Some(m) = MULTIWORD_VALUES.iter().find(|m| {
                m.iter()
                    .enumerate()
                    .all(|(k, w)| self.lower.get(i + k).is_some_and(|x| x == w))
            }) {
                for r in role.iter_mut().skip(i).take(m.len()) {
                    *r = 2;
                }
                i += m.len();
                continue;
            }
            if t.is(Kind::Alpha) {
                let soft = SOFT_SIZES.contains(&l)
                    && (matches!(prev_l, "a" | "an" | "the" | "in" | "size" | "to" | "for")
                        && (i + 1 >= n
                            || !self.toks[i + 1].is(Kind::Alpha)
                            || OPTION_NOUNS.contains(&next_l)
                            || matches!(
                                next_l,
                                "in" | "instead"
                                    | "please"
                                    | "and"
                                    | "or"
                                    | "sheet"
                                    | "sheets"
                                    | "duvet"
                                    | "bed"
                                    | "set"
                            ))
                        || OPTION_NOUNS.contains(&next_l) && next_l != "one");
                let hyphenated = matches!(l, "v" | "crew" | "long" | "short" | "full")
                    && self
                        .toks
                        .get(i + 1)
                        .is_some_and(|d| d.sym('-') && !d.space_before);
                if hyphenated {
                    let joined = format!(
                        "{l}-{}",
                        self.lower.get(i + 2).map(String::as_str).unwrap_or("")
                    );
                    if FEATURES.contains(&joined.as_str()) {
                        role[i] = 2;
                        role[i + 1] = 2;
                        role[i + 2] = 2;
                        i += 3;
                        continue;
                    }
                }
                let black_friday = l == "black" && next_l == "friday";
                let colour = COLOURS.contains(&l)
                    && !black_friday
                    && !(l == "gold"
                        && matches!(next_l, "member" | "membership" | "tier" | "status"));
                let shade = matches!(l, "light" | "dark" | "pale" | "bright" | "deep")
                    && COLOURS.contains(&next_l);
                if colour || MATERIALS.contains(&l) || FEATURES.contains(&l) || soft || shade {
                    role[i] = 2;
                } else if OPTION_NOUNS.contains(&l) {
                    role[i] = 1;
                }
            }
            i += 1;
        }
        // Join runs; "in"/"with" bridge two values ("size M in blue"); "and"/"," separate.
        let mut k = 0;
        while k < n {
            if role[k] != 2 {
                k += 1;
                continue;
            }
            let start = k;
            let mut end = k;
            let mut j = k + 1;
            loop {
                if j < n && role[j] > 0 {
                    end = j;
                    j += 1;
                } else if j + 1 < n
                    && (matches!(self.lower[j].as_str(), "in" | "with") && role[j + 1] == 2
                        || self.toks[j].sym('-') && role[j + 1] > 0)
                {
                    end = j + 1;
                    j += 2;
                } else {
                    break;
                }
            }
            let phrase = &self.text[self.toks[start].start..self.toks[end].end];
            // A lone option noun is no option; trailing "one(s)" adds nothing.
            let phrase = phrase
                .trim_end_matches(" ones")
                .trim_end_matches(" one")
                .trim();
            if !phrase.is_empty() {
                push_unique(&mut self.out.options, phrase.to_string());
            }
            k = j;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_candidate_starting_with_a_multibyte_character_is_no_panic() {
        // Found by fuzz/fuzz_targets/understand.rs: 18 bytes starting with a 3-byte character
        // reached the UPS check, which sliced its first two bytes.
        assert!(!ups("\u{FFFD}ana@example.com"));
        let e = Entities::extract("my email is \u{FFFD}ana@example.com, order LF-100001");
        assert_eq!(e.first_order_number(), Some("LF-100001"));
    }

    use super::*;

    fn orders(text: &str) -> Vec<String> {
        Entities::extract(text).order_numbers
    }

    #[test]
    fn store_and_tau_order_numbers_in_every_spelling() {
        assert_eq!(orders("where is LF-100234?"), ["LF-100234"]);
        assert_eq!(orders("lf100234 hasn't arrived"), ["LF-100234"]);
        assert_eq!(
            orders("I received my order #W2378156 and W1234567."),
            ["#W2378156", "#W1234567"]
        );
        assert_eq!(orders("order #100234 please"), ["100234"]);
    }

    #[test]
    fn bare_numbers_need_an_order_word_even_a_misspelt_one() {
        assert_eq!(
            orders("i have to check the current status of purchase 00004587345"),
            ["4587345"]
        );
        assert_eq!(orders("cancel ordedr 3707955617"), ["3707955617"]);
        assert_eq!(
            orders("seeing order113542617735902 status"),
            ["113542617735902"]
        );
        assert_eq!(orders("help with roder 00123842"), ["123842"]);
        assert_eq!(orders("my orders 123456 and 234567"), ["123456", "234567"]);
        assert_eq!(orders("tracking order 3707955617"), ["3707955617"]);
        assert!(orders("tracking number 3707955617").is_empty());
    }

    #[test]
    fn phones_prices_zips_dates_and_invoices_are_not_orders() {
        assert!(orders("call me at 5551234567 about my order").is_empty());
        assert!(orders("my phone number is 07700900123").is_empty());
        assert!(orders("refund $1499 for my order").is_empty());
        assert!(orders("I expect a compensation of 12000 dollars").is_empty());
        assert!(orders("zip code 19122, order status?").is_empty());
        assert!(orders("ordered on 12/05/2024").is_empty());
        assert!(orders("download bill #85632").is_empty());
        assert!(orders("call 555-123-4567 about the order").is_empty());
    }

    #[test]
    fn contact_details_and_references() {
        let e = Entities::extract("I am Yusuf Rossi in zip code 19122. Email: Yusuf.Rossi@Example.com, tracking 1Z999AA10123456784");
        assert_eq!(e.names, ["Yusuf Rossi"]);
        assert_eq!(e.postcodes, ["19122"]);
        assert_eq!(e.emails, ["Yusuf.Rossi@example.com"]);
        assert_eq!(e.tracking_numbers, ["1Z999AA10123456784"]);
        let e = Entities::extract("I am mia_garcia_4516, ship to 10 Downing St, London SW1A 2AA or 215 River Road, New York, NY 10083-1234");
        assert_eq!(e.user_ids, ["mia_garcia_4516"]);
        assert_eq!(e.postcodes, ["SW1A 2AA", "10083-1234"]);
    }

    #[test]
    fn a_postcode_is_read_where_someone_says_they_live() {
        for (text, zip) in [
            ("I'm Dana Brooks and I live in Boulder, 80301.", "80301"),
            (
                "Hi, Sam Ortiz here, living in Portland, Oregon, 97209",
                "97209",
            ),
            (
                "My name is Lee Wong, residing in Austin 78701. My order is late",
                "78701",
            ),
            ("I am Ana Ruiz from Tucson AZ, 85701", "85701"),
            ("Kim Park, based in Salem, OR, 97301", "97301"),
            (
                "I live at 12 Birch Road, Apt 4, Madison, Wisconsin, 53703",
                "53703",
            ),
            (
                "I'm a guy called Tom Hale, living in the Windy City in 60601",
                "60601",
            ),
        ] {
            assert_eq!(Entities::extract(text).postcodes, [zip], "{text}");
        }
        assert_eq!(
            Entities::extract("I am a person called Tom Hale").names,
            ["Tom Hale"]
        );
        // A number that is not where someone lives stays what it is.
        for text in [
            "I live for 12345 reasons",
            "I bought 3 lamps. 80301 is my order",
            "order 80301 from the store",
        ] {
            assert!(Entities::extract(text).postcodes.is_empty(), "{text}");
        }
    }

    #[test]
    fn quantities_and_options() {
        let e = Entities::extract("I need 2 blue towels and three pairs of socks, size M in blue, with clicky switches and a 500ml bottle");
        assert_eq!(
            e.quantities,
            [
                Quantity {
                    count: 2,
                    item: "blue towels".into()
                },
                Quantity {
                    count: 3,
                    item: "pairs of socks".into()
                }
            ]
        );
        assert_eq!(
            e.options,
            ["blue", "size M in blue", "clicky switches", "500ml"]
        );
    }
}

//! Variant matching: from a customer's words about what they want instead ("the same one but
//! with clicky switches", "size M in blue", "one compatible with Google Home instead of Apple
//! HomeKit", "a bigger one", "the cheapest", "prefer battery > USB > AC") to one variant of the
//! same product, or to the short list to choose from, or to "none is available".
//!
//! Words are matched against the product's own option values and names, never against a fixed
//! vocabulary: an option value counts when its words appear; common words ("no", "high", "M",
//! "10") only next to their option's name ("size M", "high ventilation"). Options the customer
//! did not mention stay as they are where possible. This module reads one item's description; it
//! does not decide which item is meant, or whether the exchange is allowed.

use std::collections::{BTreeMap, BTreeSet};

use super::text::{normal_unit, stems, tokenize, Kind, Tok};
use crate::orders::{Product, Variant};

/// What the customer asked for, for one item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spec {
    /// Option → acceptable values (any of them).
    pub want: BTreeMap<String, BTreeSet<String>>,
    pub avoid: BTreeSet<(String, String)>,
    /// Options that must stay as they are.
    pub keep: BTreeSet<String>,
    /// Those of `keep` the customer named themselves ("same size"), not implied by "the same
    /// one but …" or "the 13-inch version".
    pub keep_said: BTreeSet<String>,
    /// Options the customer does not care about.
    pub free: BTreeSet<String>,
    /// Option → direction (+1 more, -1 less) and how many steps, when said.
    pub relative: BTreeMap<String, (i32, Option<usize>)>,
    /// Option → pick the largest (+1) or smallest (-1).
    pub extreme: BTreeMap<String, i32>,
    /// Soft preferences, best first.
    pub prefer: Vec<(String, String)>,
    /// -1 cheapest, +1 most expensive.
    pub price: i32,
    /// Must cost less than the current item.
    pub cheaper: bool,
    /// Must cost no more than the current item ("at the price I paid", "without paying more").
    pub at_most_paid: bool,
    /// "The same one", "an identical replacement": every option as it is.
    pub same_item: bool,
    /// Nothing at all was described.
    pub empty: bool,
}

impl Spec {
    /// For a fallback ("if no exact item is available, …"): what they named still holds, what
    /// "the same one" implied does not.
    pub fn relaxed(mut self) -> Self {
        self.same_item = false;
        self.keep = self.keep_said.clone();
        self
    }

    pub fn is_unconstrained(&self) -> bool {
        self.want.is_empty()
            && self.avoid.is_empty()
            && self.relative.is_empty()
            && self.extreme.is_empty()
            && self.price == 0
            && !self.cheaper
            && !self.at_most_paid
            && !self.same_item
            && self.prefer.is_empty()
    }
}

/// The outcome of matching.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    One(Variant),
    /// Several fit equally well: the customer picks.
    Several(Vec<Variant>),
    /// Nothing available fits; the reason says what was asked.
    None(String),
}

const COMMON: &[&str] = &[
    "yes",
    "no",
    "none",
    "high",
    "low",
    "medium",
    "small",
    "large",
    "full",
    "half",
    "standard",
    "basic",
    "fixed",
    "plain",
    "custom",
    "art",
    "light",
    "dark",
    "men",
    "women",
    "fresh",
    "manual",
    "automatic",
    "portable",
    "adjustable",
    "professional",
    "expert",
    "beginner",
    "intermediate",
    "wood",
    "analog",
    "digital",
    "white",
    "electric",
    "gas",
];

/// Words that point at an option without naming it.
fn adjective_key(w: &str) -> Option<&'static [&'static str]> {
    Some(match w {
        "big" | "bigger" | "biggest" | "large" | "larger" | "largest" | "small" | "smaller"
        | "smallest" | "size" => &[
            "size",
            "capacity",
            "frame size",
            "screen size",
            "piece count",
            "room size",
            "kit size",
            "diameter",
            "height",
            "length",
            "storage",
            "weight range",
        ],
        "long" | "longer" | "longest" | "short" | "shorter" | "shortest" => &["length"],
        "bright" | "brighter" | "brightest" | "dim" | "dimmer" | "dimmest" => &["brightness"],
        "easy" | "easier" | "easiest" | "hard" | "harder" | "hardest" | "difficult" => {
            &["difficulty level", "difficulty"]
        }
        "tall" | "taller" | "tallest" => &["height"],
        "thick" | "thicker" | "thin" | "thinner" => &["thickness"],
        "heavy" | "heavier" => &["weight range", "weight"],
        _ => return None,
    })
}

fn direction(w: &str) -> Option<i32> {
    Some(match w {
        "bigger" | "larger" | "more" | "higher" | "longer" | "taller" | "greater" | "brighter"
        | "heavier" | "thicker" | "harder" | "up" | "increase" => 1,
        "smaller" | "less" | "lower" | "shorter" | "fewer" | "dimmer" | "thinner" | "easier"
        | "down" | "decrease" | "lighter" => -1,
        _ => return None,
    })
}

fn extreme_word(w: &str) -> Option<i32> {
    Some(match w {
        "maximum" | "max" | "highest" | "largest" | "biggest" | "most" | "longest"
        | "brightest" | "hardest" | "best" | "maximized" | "maximize" => 1,
        "minimum" | "min" | "lowest" | "smallest" | "fewest" | "least" | "shortest" | "easiest"
        | "dimmest" => -1,
        _ => return None,
    })
}

/// Letter sizes by their words.
fn size_alias(w: &str) -> Option<&'static str> {
    Some(match w {
        "small" => "s",
        "medium" => "m",
        "large" => "l",
        _ => return None,
    })
}

/// The order of an option's values, when they have one: numbers, letter sizes, or the usual
/// small < medium < large scales. `None` for unordered options (colours).
pub fn value_order(values: &[String]) -> Option<Vec<String>> {
    let num = |v: &str| -> Option<f64> {
        let digits: String = v
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let n: f64 = digits.parse().ok()?;
        // Video resolutions are named two ways: "4K" by its width in thousands of pixels,
        // "1080p" by its height. On one scale (width): 1080p is 1920 wide, 4K about 4000.
        let unit = v
            .trim()
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
            .trim()
            .to_lowercase();
        Some(match unit.as_str() {
            "k" => n * 1000.0,
            "p" => n * 16.0 / 9.0,
            _ => n,
        })
    };
    if values.iter().all(|v| num(v).is_some()) {
        let mut v = values.to_vec();
        v.sort_by(|a, b| {
            num(a)
                .partial_cmp(&num(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        return Some(v);
    }
    const SCALES: &[&[&str]] = &[
        &["xxs", "xs", "s", "m", "l", "xl", "xxl", "xxxl"],
        &["portable", "small", "medium", "large"],
        &["low", "medium", "high"],
        &["beginner", "intermediate", "expert"],
        &["basic", "professional"],
        &["60%", "80%", "full size"],
    ];
    for scale in SCALES {
        if values
            .iter()
            .all(|v| scale.contains(&v.to_lowercase().as_str()))
        {
            let mut v = values.to_vec();
            v.sort_by_key(|x| {
                scale
                    .iter()
                    .position(|s| *s == x.to_lowercase())
                    .unwrap_or(0)
            });
            return Some(v);
        }
    }
    None
}

/// A found mention of an option value.
#[derive(Debug, Clone)]
struct Hit {
    key: String,
    value: String,
    at: usize,
    len: usize,
}

/// Word tokens only, with their positions in the full token list.
struct Words<'a> {
    toks: &'a [Tok],
    idx: Vec<usize>,
}

impl<'a> Words<'a> {
    fn new(toks: &'a [Tok]) -> Self {
        let idx = toks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_word())
            .map(|(i, _)| i)
            .collect();
        Self { toks, idx }
    }
    fn len(&self) -> usize {
        self.idx.len()
    }
    fn stem(&self, i: usize) -> &str {
        normal_unit(&self.toks[self.idx[i]].stem)
    }
    fn text(&self, i: usize) -> &str {
        &self.toks[self.idx[i]].text
    }
    /// Whether word `i` is followed by a sentence end or clause mark before word `i + 1`.
    fn sym_between(&self, i: usize, j: usize, what: &str) -> bool {
        if j >= self.len() || i >= j {
            return false;
        }
        self.toks[self.idx[i] + 1..self.idx[j]].iter().any(|t| {
            t.text == what || (what == "," && matches!(t.kind, Kind::Sym) && t.text == ",")
        })
    }
}

fn key_stems(key: &str) -> Vec<String> {
    stems(key)
}

/// Whether some word of `key` is within `window` words of positions `[at, at+len)`.
fn key_near(w: &Words, key: &str, at: usize, len: usize, window: usize) -> Option<usize> {
    let ks = key_stems(key);
    let generic = ["type", "size", "color"];
    let lo = at.saturating_sub(window);
    let hi = (at + len + window).min(w.len());
    let mut best: Option<usize> = None;
    for (j, stem) in (lo..hi).map(|j| (j, w.stem(j))) {
        if j >= at && j < at + len {
            continue;
        }
        if ks.iter().any(|k| {
            k == stem
                || (k.len() > 4
                    && stem.len() > 4
                    && (k.starts_with(stem) || stem.starts_with(k.as_str())))
        }) {
            // A distinctive word ("frame", "lens") counts for more than a generic one.
            let d = if j < at { at - j } else { j - (at + len - 1) };
            let weight = if generic.contains(&stem) && ks.len() > 1 {
                d + 2
            } else {
                d
            };
            best = Some(best.map_or(weight, |b| b.min(weight)));
        }
    }
    best
}

/// Every mention of one of `product`'s option values in `text`.
fn find_values(w: &Words, product: &Product) -> Vec<Hit> {
    let mut hits: Vec<Hit> = Vec::new();
    let letter_sizes = product
        .options
        .iter()
        .filter(|(_, vs)| vs.iter().any(|v| v == "M" || v == "S" || v == "L"))
        .map(|(k, _)| k.clone())
        .collect::<Vec<_>>();
    for (key, values) in &product.options {
        for value in values {
            let vs = stems(value);
            if vs.is_empty() {
                continue;
            }
            let needs_key = vs.len() == 1
                && (vs[0].len() <= 2
                    || vs[0].chars().all(|c| c.is_ascii_digit())
                    || COMMON.contains(&vs[0].as_str()));
            let mut i = 0;
            while i + vs.len() <= w.len() {
                let exact = (0..vs.len()).all(|k| w.stem(i + k) == vs[k]);
                // "Google Home" for "Google Assistant", "AC" for "AC adapter": a distinctive
                // first word of a longer value, when no other value of the product starts so.
                let first_only = !exact
                    && vs.len() > 1
                    && w.stem(i) == vs[0]
                    && vs[0].len() >= 2
                    && !COMMON.contains(&vs[0].as_str())
                    && !vs[0].chars().all(|c| c.is_ascii_digit())
                    && product
                        .options
                        .values()
                        .flatten()
                        .filter(|o| stems(o).first() == Some(&vs[0]))
                        .count()
                        == 1;
                if exact || first_only {
                    let len = if exact { vs.len() } else { 1 };
                    // "prefer art over animals": a common word ranked against another value is
                    // that value.
                    let ranked = i > 0
                        && matches!(
                            w.text(i - 1),
                            "prefer" | "preferably" | "over" | "than" | "rather"
                        );
                    if !needs_key || ranked || key_near(w, key, i, len, 2).is_some() {
                        hits.push(Hit {
                            key: key.clone(),
                            value: value.clone(),
                            at: i,
                            len,
                        });
                    }
                    i += len;
                    continue;
                }
                i += 1;
            }
        }
    }
    // Letter sizes by their words: "large red jacket", "a medium" (helmet sizes S/M/L).
    for key in &letter_sizes {
        for i in 0..w.len() {
            let word = w.stem(i);
            let alias = if word == "extra"
                && i + 1 < w.len()
                && (w.stem(i + 1) == "large" || w.stem(i + 1) == "small")
            {
                if w.stem(i + 1) == "large" {
                    Some("xl")
                } else {
                    Some("xs")
                }
            } else {
                size_alias(word)
            };
            if let Some(a) = alias {
                if let Some(v) = product.options[key].iter().find(|v| v.to_lowercase() == a) {
                    if !hits.iter().any(|h| h.at == i) {
                        hits.push(Hit {
                            key: key.clone(),
                            value: v.clone(),
                            at: i,
                            len: 1,
                        });
                    }
                }
            }
        }
    }
    // yes/no options named by their adjective: "waterproof" is yes, "not waterproof" no,
    // unless a value is written next to it ("waterproof: no").
    for (key, values) in &product.options {
        let yes = values.iter().find(|v| v.eq_ignore_ascii_case("yes"));
        let no = values.iter().find(|v| v.eq_ignore_ascii_case("no"));
        let (Some(yes), Some(no)) = (yes, no) else {
            continue;
        };
        let ks = key_stems(key);
        if ks.len() != 1 {
            continue;
        }
        for i in 0..w.len() {
            if w.stem(i) != ks[0] || hits.iter().any(|h| h.key == *key && h.at.abs_diff(i) <= 2) {
                continue;
            }
            let negated = (i.saturating_sub(2)..i)
                .any(|j| matches!(w.text(j), "not" | "non" | "no" | "without"));
            hits.push(Hit {
                key: key.clone(),
                value: if negated { no.clone() } else { yes.clone() },
                at: i,
                len: 1,
            });
        }
    }
    // "no backlight": the option's "none".
    for (key, values) in &product.options {
        let Some(none) = values.iter().find(|v| v.eq_ignore_ascii_case("none")) else {
            continue;
        };
        let ks = key_stems(key);
        for i in 1..w.len() {
            if ks.contains(&w.stem(i).to_string()) && matches!(w.text(i - 1), "no" | "without") {
                hits.push(Hit {
                    key: key.clone(),
                    value: none.clone(),
                    at: i - 1,
                    len: 2,
                });
            }
        }
    }
    // An option's own name can contain its values ("bagged/bagless"): words that are the name
    // are not a value.
    let mut name_spans: Vec<(usize, usize)> = Vec::new();
    for key in product.options.keys() {
        let ks = key_stems(key);
        if ks.len() < 2 {
            continue;
        }
        for i in 0..w.len().saturating_sub(ks.len() - 1) {
            if (0..ks.len()).all(|k| w.stem(i + k) == ks[k]) {
                name_spans.push((i, i + ks.len()));
            }
        }
    }
    hits.retain(|h| {
        !name_spans
            .iter()
            .any(|&(a, b)| h.at >= a && h.at + h.len <= b && b - a > h.len)
    });
    // A value two options share ("black" frame or lens): keep the one whose name is nearer.
    let mut out: Vec<Hit> = Vec::new();
    for h in &hits {
        let rivals: Vec<&Hit> = hits
            .iter()
            .filter(|o| o.at == h.at && o.key != h.key)
            .collect();
        if rivals.is_empty() {
            out.push(h.clone());
            continue;
        }
        let mine = key_near(w, &h.key, h.at, h.len, 3).unwrap_or(usize::MAX);
        if rivals
            .iter()
            .all(|r| key_near(w, &r.key, r.at, r.len, 3).unwrap_or(usize::MAX) > mine)
        {
            out.push(h.clone());
        } else if mine == usize::MAX
            && rivals
                .iter()
                .all(|r| key_near(w, &r.key, r.at, r.len, 3).is_none())
        {
            // Nothing says which: keep all, and let the rest of the spec decide.
            out.push(h.clone());
        }
    }
    // A longer value at the same place wins ("Wi-Fi + Cellular" over "Wi-Fi").
    let snapshot = out.clone();
    out.retain(|h| {
        !snapshot.iter().any(|o| {
            o.key == h.key && o.at <= h.at && o.at + o.len >= h.at + h.len && o.len > h.len
        })
    });
    out.sort_by_key(|h| h.at);
    out
}

/// Reads the option values `text` names for `product` (a description of the item the customer
/// has, to pick it among several).
pub fn described_values(text: &str, product: &Product) -> Vec<(String, String)> {
    let toks = tokenize(text);
    let w = Words::new(&toks);
    find_values(&w, product)
        .into_iter()
        .map(|h| (h.key, h.value))
        .collect()
}

/// Reads what the customer wants instead of `current` (an option map of `product`).
pub fn read_spec(text: &str, product: &Product, current: &BTreeMap<String, String>) -> Spec {
    let toks = tokenize(text);
    let w = Words::new(&toks);
    let mut spec = Spec {
        empty: w.len() == 0,
        ..Default::default()
    };
    let hits = find_values(&w, product);
    let covered = |i: usize| hits.iter().any(|h| i >= h.at && i < h.at + h.len);

    // Keys named by their words ("same size", "the capacity", "zoom").
    let key_at = |i: usize| -> Option<String> {
        product
            .options
            .keys()
            .find(|k| {
                let ks = key_stems(k);
                ks.len() == 1 && ks[0] == w.stem(i)
                    || ks.len() == 2
                        && i + 1 < w.len()
                        && ks[0] == w.stem(i)
                        && ks[1] == w.stem(i + 1)
            })
            .cloned()
    };

    for h in &hits {
        let before: Vec<&str> = (h.at.saturating_sub(3)..h.at).map(|j| w.text(j)).collect();
        let before2: Vec<&str> = (h.at.saturating_sub(2)..h.at).map(|j| w.text(j)).collect();
        let joined = before.join(" ");
        let avoid = joined.ends_with("instead of")
            || joined.ends_with("rather than")
            || before2.contains(&"not") && !before2.contains(&"if")
            || before2.last() == Some(&"than")
            || before2.last() == Some(&"over") && spec.prefer.iter().any(|p| p.0 == h.key);
        let prefer = before.iter().any(|x| {
            matches!(
                *x,
                "prefer" | "preferably" | "ideally" | "rather" | "preferred"
            )
        }) || w.sym_between(h.at.saturating_sub(1), h.at, ">")
            || h.at + h.len < w.len() && w.sym_between(h.at + h.len - 1, h.at + h.len, ">");
        let keep = before
            .iter()
            .any(|x| matches!(*x, "same" | "keep" | "keeping" | "still"));
        if avoid {
            spec.avoid.insert((h.key.clone(), h.value.clone()));
        } else if keep {
            // "same v-neck", "keeping the leather strap": the value they name, which is what
            // they have now, or what they mean by "the same".
            spec.want
                .entry(h.key.clone())
                .or_default()
                .insert(h.value.clone());
            spec.keep_said.insert(h.key.clone());
        } else if prefer
            || spec.prefer.iter().any(|p| p.0 == h.key) && !spec.want.contains_key(&h.key)
        {
            spec.prefer.push((h.key.clone(), h.value.clone()));
        } else {
            spec.want
                .entry(h.key.clone())
                .or_default()
                .insert(h.value.clone());
        }
    }
    // "prefer art over animal": what follows "over" is avoided only softly; drop it from want.
    let prefer_keys: Vec<String> = spec.prefer.iter().map(|p| p.0.clone()).collect();
    for k in prefer_keys {
        if let Some(vals) = spec.want.get(&k) {
            if vals.len() == 1 && spec.prefer.iter().filter(|p| p.0 == k).count() >= 1 {
                let v = vals.iter().next().cloned().unwrap_or_default();
                spec.prefer.push((k.clone(), v));
                spec.want.remove(&k);
            }
        }
    }

    let mut i = 0;
    while i < w.len() {
        let word = w.text(i);
        let stem = w.stem(i);
        // "same size", "same material and color", "keep the capacity and type".
        if matches!(word, "same" | "keep" | "keeping" | "still" | "unchanged") {
            let mut j = i + 1;
            while j < w.len() && j <= i + 6 {
                if let Some(k) = key_at(j) {
                    spec.keep.insert(k.clone());
                    spec.keep_said.insert(k);
                } else if !matches!(
                    w.text(j),
                    "the"
                        | "and"
                        | "its"
                        | "my"
                        | "a"
                        | "of"
                        | "but"
                        | "as"
                        | "or"
                        | "other"
                        | "it"
                ) && !covered(j)
                {
                    break;
                }
                j += 1;
            }
            if matches!(
                w.text((i + 1).min(w.len() - 1)),
                "one"
                    | "item"
                    | "thing"
                    | "product"
                    | "spec"
                    | "specs"
                    | "specification"
                    | "model"
                    | "pair"
            ) || i + 2 < w.len()
                && w.text(i + 1) == "exact"
                && matches!(w.text(i + 2), "same" | "one" | "item")
            {
                spec.same_item = true;
            }
        }
        // "a new identical one", "an identical replacement".
        if word == "identical" {
            spec.same_item = true;
        }
        // "the 13-inch version", "the blue variant": the item they have, with that changed.
        if matches!(word, "version" | "variant")
            && (i.saturating_sub(4)..i).any(|j| w.text(j) == "the")
        {
            spec.same_item = true;
        }
        if (word == "other" || word == "all")
            && i + 1 < w.len()
            && matches!(
                w.text(i + 1),
                "option"
                    | "options"
                    | "spec"
                    | "specs"
                    | "specifications"
                    | "features"
                    | "attributes"
            )
        {
            let before: Vec<&str> = (i.saturating_sub(4)..i).map(|j| w.text(j)).collect();
            if before
                .iter()
                .any(|x| matches!(*x, "without" | "same" | "keep" | "keeping" | "unchanged"))
            {
                for k in product.options.keys() {
                    if !spec.want.contains_key(k)
                        && !spec.relative.contains_key(k)
                        && !spec.extreme.contains_key(k)
                    {
                        spec.keep.insert(k.clone());
                    }
                }
            } else if before.iter().any(|x| matches!(*x, "care" | "matter"))
                || (i + 2 < w.len()
                    && matches!(w.text(i + 2), "are" | "is")
                    && (i + 3 < w.len() && w.text(i + 3) == "not"))
            {
                for k in product.options.keys() {
                    if !spec.want.contains_key(k) && !spec.keep.contains(k) {
                        spec.free.insert(k.clone());
                    }
                }
            }
        }
        // "do not care about waterproof or not".
        if word == "care"
            && (i.saturating_sub(3)..i).any(|j| matches!(w.text(j), "not" | "don't" | "dont"))
        {
            for j in i + 1..(i + 5).min(w.len()) {
                if let Some(k) = key_at(j) {
                    spec.free.insert(k.clone());
                    spec.want.remove(&k);
                }
            }
        }
        // Prices.
        if word == "cheapest"
            || word == "least" && i + 1 < w.len() && w.text(i + 1) == "expensive"
            || word == "lowest" && i + 1 < w.len() && w.text(i + 1) == "price"
        {
            spec.price = -1;
        } else if word == "most" && i + 1 < w.len() && w.text(i + 1) == "expensive"
            || matches!(word, "priciest")
            || word == "highest" && i + 1 < w.len() && w.text(i + 1) == "price"
        {
            spec.price = 1;
        } else if word == "cheaper"
            || word == "less" && i + 1 < w.len() && w.text(i + 1) == "expensive"
        {
            spec.cheaper = true;
        }
        // "at the price I paid", "for what I paid", "no more than I paid", "without paying more".
        if matches!(word, "paid" | "spent")
            && (i.saturating_sub(5)..i)
                .any(|j| matches!(w.text(j), "price" | "what" | "than" | "same" | "amount"))
        {
            spec.at_most_paid = true;
        }
        if word == "paying"
            && i + 1 < w.len()
            && matches!(w.text(i + 1), "more" | "extra")
            && (i.saturating_sub(2)..i).any(|j| matches!(w.text(j), "without" | "not" | "no"))
        {
            spec.at_most_paid = true;
        }
        // "1000 more pieces", "500 pieces less".
        if toks[w.idx[i]].kind == Kind::Num && i + 1 < w.len() {
            let n: f64 = word.parse().unwrap_or(0.0);
            let (dir, key_pos) = match (direction(w.text(i + 1)), i + 2 < w.len()) {
                (Some(d), true) => (Some(d), i + 2),
                _ => (
                    if i + 2 < w.len() {
                        direction(w.text(i + 2))
                    } else {
                        None
                    },
                    i + 1,
                ),
            };
            if let (Some(d), Some(k)) = (dir, key_at(key_pos)) {
                if let Some(cur) = current.get(&k).and_then(|c| {
                    c.chars()
                        .filter(|c| c.is_ascii_digit() || *c == '.')
                        .collect::<String>()
                        .parse::<f64>()
                        .ok()
                }) {
                    let target = cur + f64::from(d) * n;
                    if let Some(v) = product.options[&k].iter().find(|v| {
                        v.chars()
                            .filter(|c| c.is_ascii_digit() || *c == '.')
                            .collect::<String>()
                            .parse::<f64>()
                            .ok()
                            == Some(target)
                    }) {
                        spec.want.entry(k.clone()).or_default().clear();
                        spec.want.get_mut(&k).map(|s| s.insert(v.clone()));
                        i += 1;
                        continue;
                    }
                }
            }
        }
        // Comparatives: "bigger", "a less bright one", "larger frame size", "one size smaller".
        if let Some(d) = direction(word) {
            let steps = if (i.saturating_sub(3)..i)
                .any(|j| matches!(w.text(j), "one" | "slightly" | "a"))
                && (i.saturating_sub(3)..i).any(|j| matches!(w.text(j), "one" | "slightly"))
            {
                Some(1)
            } else {
                None
            };
            let mut key = None;
            for j in i + 1..(i + 4).min(w.len()) {
                if let Some(k) = key_at(j) {
                    key = Some(k);
                    break;
                }
                if let Some(ks) =
                    adjective_key(w.text(j)).or_else(|| adjective_key(&format!("{}er", w.stem(j))))
                {
                    key = ks
                        .iter()
                        .find(|k| product.options.contains_key(**k))
                        .map(|k| k.to_string());
                    break;
                }
                if matches!(w.text(j), "expensive" | "price" | "pricey") {
                    break;
                }
            }
            if key.is_none() && i > 0 {
                key = key_at(i - 1).or_else(|| if i > 1 { key_at(i - 2) } else { None });
            }
            if key.is_none() {
                if let Some(ks) = adjective_key(word) {
                    key = ks
                        .iter()
                        .find(|k| product.options.contains_key(**k))
                        .map(|k| k.to_string());
                }
            }
            let is_price = (i + 1..(i + 3).min(w.len()))
                .any(|j| matches!(w.text(j), "expensive" | "price" | "pricey"));
            if let (Some(k), false) = (key, is_price) {
                if product
                    .options
                    .get(&k)
                    .and_then(|v| value_order(v))
                    .is_some()
                {
                    spec.relative.insert(k, (d, steps));
                }
            }
        }
        if let Some(d) = extreme_word(word) {
            let is_price = (i + 1..(i + 3).min(w.len()))
                .any(|j| matches!(w.text(j), "expensive" | "price" | "pricey"));
            if !is_price {
                let mut key = None;
                for j in i + 1..(i + 4).min(w.len()) {
                    if let Some(k) = key_at(j) {
                        key = Some(k);
                        break;
                    }
                }
                if key.is_none() {
                    if let Some(ks) = adjective_key(word) {
                        key = ks
                            .iter()
                            .find(|k| product.options.contains_key(**k))
                            .map(|k| k.to_string());
                    }
                }
                if key.is_none() && i > 0 {
                    // "zoom capacity which has to be maximized"
                    key = (i.saturating_sub(6)..i).rev().find_map(&key_at);
                }
                if let Some(k) = key {
                    if product
                        .options
                        .get(&k)
                        .and_then(|v| value_order(v))
                        .is_some()
                    {
                        spec.extreme.insert(k, d);
                    }
                }
            }
        }
        let _ = stem;
        i += 1;
    }
    // "The same one but with clicky switches": everything else stays exactly as it is.
    if spec.same_item
        && (!spec.want.is_empty() || !spec.relative.is_empty() || !spec.extreme.is_empty())
    {
        for k in product.options.keys() {
            if !spec.want.contains_key(k)
                && !spec.relative.contains_key(k)
                && !spec.extreme.contains_key(k)
                && !spec.free.contains(k)
                && !spec.avoid.iter().any(|(a, _)| a == k)
                && !spec.prefer.iter().any(|(a, _)| a == k)
            {
                spec.keep.insert(k.clone());
            }
        }
    }
    for k in &spec.free {
        spec.keep.remove(k);
    }
    spec
}

fn numeric_rank(product: &Product, key: &str, value: &str) -> Option<usize> {
    let order = value_order(product.options.get(key)?)?;
    order.iter().position(|v| v == value)
}

/// Picks the variant of `product` that fits `spec` best, starting from `current`'s options.
/// `available` says whether a variant may be chosen (in stock, on sale).
pub fn choose(
    product: &Product,
    current: &BTreeMap<String, String>,
    current_price: i64,
    spec: &Spec,
    available: &dyn Fn(&Variant) -> bool,
) -> Choice {
    let mut wanted: Vec<String> = Vec::new();
    for (k, vs) in &spec.want {
        wanted.push(format!(
            "{k} {}",
            vs.iter().cloned().collect::<Vec<_>>().join(" or ")
        ));
    }
    let fits = |v: &Variant| -> bool {
        for (k, vals) in &spec.want {
            if !v.options.get(k).is_some_and(|x| vals.contains(x)) {
                return false;
            }
        }
        for (k, val) in &spec.avoid {
            if v.options.get(k) == Some(val) {
                return false;
            }
        }
        for k in &spec.keep {
            if v.options.get(k) != current.get(k) {
                return false;
            }
        }
        if spec.same_item
            && spec.want.is_empty()
            && spec.relative.is_empty()
            && spec.extreme.is_empty()
            && spec.price == 0
            && v.options != *current
        {
            return false;
        }
        for (k, (d, steps)) in &spec.relative {
            let (Some(cur), Some(new)) = (
                current.get(k).and_then(|c| numeric_rank(product, k, c)),
                v.options.get(k).and_then(|n| numeric_rank(product, k, n)),
            ) else {
                return false;
            };
            let delta = new as i64 - cur as i64;
            if delta.signum() != i64::from(*d) {
                return false;
            }
            if let Some(s) = steps {
                if delta.unsigned_abs() as usize != *s {
                    return false;
                }
            }
        }
        if spec.cheaper && v.price_cents >= current_price {
            return false;
        }
        if spec.at_most_paid && v.price_cents > current_price {
            return false;
        }
        true
    };
    let candidates: Vec<&Variant> = product
        .variants
        .iter()
        .filter(|v| fits(v) && available(v))
        .collect();
    if candidates.is_empty() {
        let any = product.variants.iter().any(fits);
        let what = if wanted.is_empty() {
            "what you described".to_string()
        } else {
            wanted.join(", ")
        };
        return Choice::None(if any {
            format!("the {} in {what} is not available right now", product.name)
        } else {
            format!("there is no {} with {what}", product.name)
        });
    }
    // Extremes narrow first: the largest zoom among those that fit.
    let mut pool: Vec<&Variant> = candidates;
    for (k, d) in &spec.extreme {
        let best = pool
            .iter()
            .filter_map(|v| v.options.get(k).and_then(|x| numeric_rank(product, k, x)))
            .map(|r| r as i64 * i64::from(*d))
            .max();
        if let Some(best) = best {
            pool.retain(|v| {
                v.options
                    .get(k)
                    .and_then(|x| numeric_rank(product, k, x))
                    .map(|r| r as i64 * i64::from(*d))
                    == Some(best)
            });
        }
    }
    if spec.price != 0 {
        let best = pool
            .iter()
            .map(|v| v.price_cents * i64::from(spec.price))
            .max()
            .unwrap_or(0);
        pool.retain(|v| v.price_cents * i64::from(spec.price) == best);
    }
    // Then: the best preference met, nearest comparative step, most options left as they are.
    let score = |v: &Variant| -> (i64, i64, i64) {
        let pref = spec
            .prefer
            .iter()
            .position(|(k, val)| v.options.get(k) == Some(val))
            .map_or(-(spec.prefer.len() as i64) - 1, |p| -(p as i64));
        let mut dist = 0i64;
        for (k, (_, steps)) in &spec.relative {
            if steps.is_none() {
                if let (Some(c), Some(n)) = (
                    current.get(k).and_then(|c| numeric_rank(product, k, c)),
                    v.options.get(k).and_then(|n| numeric_rank(product, k, n)),
                ) {
                    dist -= (n as i64 - c as i64).abs();
                }
            }
        }
        let same = v
            .options
            .iter()
            .filter(|(k, val)| !spec.free.contains(*k) && current.get(*k) == Some(*val))
            .count() as i64;
        (pref, dist, same)
    };
    let best = pool
        .iter()
        .map(|v| score(v))
        .max()
        .expect("pool is not empty");
    let top: Vec<Variant> = pool
        .into_iter()
        .filter(|v| score(v) == best)
        .cloned()
        .collect();
    match top.len() {
        1 => Choice::One(top.into_iter().next().expect("one")),
        _ => Choice::Several(top),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyboard() -> Product {
        let mut variants = Vec::new();
        let mut n = 0;
        for sw in ["clicky", "linear", "tactile"] {
            for bl in ["RGB", "none", "white"] {
                for size in ["full size", "80%"] {
                    n += 1;
                    // Clicky RGB full size is sold out.
                    let available = !(sw == "clicky" && bl == "RGB" && size == "full size");
                    variants.push(Variant {
                        item_id: format!("kb{n}"),
                        product_id: "kb".into(),
                        options: [("switch type", sw), ("backlight", bl), ("size", size)]
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                        price_cents: 10000 + n * 100,
                        available,
                        stock: None,
                    });
                }
            }
        }
        let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for v in &variants {
            for (k, x) in &v.options {
                let e = options.entry(k.clone()).or_default();
                if !e.contains(x) {
                    e.push(x.clone());
                }
            }
        }
        Product {
            id: "kb".into(),
            name: "Mechanical Keyboard".into(),
            category: String::new(),
            description: String::new(),
            tags: vec![],
            attributes: BTreeMap::new(),
            options,
            variants,
            url: None,
        }
    }

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_same_one_but_clicky_keeps_the_rest_and_says_when_it_is_sold_out() {
        let p = keyboard();
        let cur = opts(&[
            ("switch type", "linear"),
            ("backlight", "RGB"),
            ("size", "full size"),
        ]);
        let spec = read_spec("the same one but with clicky switches", &p, &cur);
        assert_eq!(spec.want["switch type"].iter().next().unwrap(), "clicky");
        assert!(matches!(
            choose(&p, &cur, 10000, &spec, &|v| v.available),
            Choice::None(_)
        ));
        let fallback = read_spec("clicky switches, no backlight", &p, &cur);
        match choose(&p, &cur, 10000, &fallback, &|v| v.available) {
            Choice::One(v) => assert_eq!(
                v.options,
                opts(&[
                    ("switch type", "clicky"),
                    ("backlight", "none"),
                    ("size", "full size")
                ])
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn instead_of_avoids_and_comparatives_move_along_the_option_order() {
        let p = keyboard();
        let cur = opts(&[
            ("switch type", "linear"),
            ("backlight", "white"),
            ("size", "80%"),
        ]);
        let spec = read_spec("a tactile one instead of linear, bigger", &p, &cur);
        assert!(spec
            .avoid
            .contains(&("switch type".to_string(), "linear".to_string())));
        assert_eq!(spec.relative.get("size"), Some(&(1, None)));
        match choose(&p, &cur, 10000, &spec, &|v| v.available) {
            Choice::One(v) => assert_eq!(v.options["size"], "full size"),
            other => panic!("{other:?}"),
        }
    }
}

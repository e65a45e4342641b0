//! Intent and order-number quality on labelled messages: accuracy and macro-F1 of the intent the
//! understanding step returns, per-intent precision/recall/F1, the most frequent confusions, and
//! exact match of the first order number it extracts.
//!
//! The development set is split by a fixed rule (see [`crate::understand::SPLIT_RULE`]): a line
//! is held out when `fnv1a64(text) % 5 == 0`. The head is trained on the other lines, so
//! [`Split::HeldOut`] is the honest figure; [`Split::All`] is for files never trained on (the
//! phrasing fixture) or for a look at the training fit.

use std::{fmt, str::FromStr, time::Instant};

use serde::Serialize;

use crate::{
    embed::Embedder,
    understand::{is_held_out, Intent, LabelledText, UnderstandError, Understander, SPLIT_RULE},
};

/// Which lines to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Only the held-out part of the development set.
    HeldOut,
    /// Every line.
    All,
}

impl FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "held-out" | "heldout" | "held_out" => Ok(Split::HeldOut),
            "all" => Ok(Split::All),
            _ => Err(format!("unknown split {s:?} (held-out or all)")),
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::HeldOut => "held-out",
            Split::All => "all",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct IntentScore {
    pub intent: Intent,
    /// Lines whose gold intent this is.
    pub support: usize,
    /// Lines predicted as this intent.
    pub predicted: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Confusion {
    pub expected: Intent,
    pub got: Intent,
    pub count: usize,
}

/// A line the step got wrong (intent or order number).
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub text: String,
    pub expected: Intent,
    pub got: Intent,
    pub confidence: f32,
    pub expected_order_number: Option<String>,
    pub got_order_number: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IntentReport {
    /// "held-out" or "all", and the split rule.
    pub split: String,
    pub n: usize,
    pub accuracy: f64,
    /// Mean F1 over every intent that is a gold label or a prediction.
    pub macro_f1: f64,
    /// Lines with an `order_number`.
    pub order_number_n: usize,
    /// Exact match of the first extracted order number on those lines; null when there are none.
    pub order_number_accuracy: Option<f64>,
    /// Lines labelled with several `intents`.
    pub multi_request_n: usize,
    /// Of those, the share whose requests have exactly the labelled intents (as a set).
    pub multi_request_accuracy: Option<f64>,
    pub per_intent: Vec<IntentScore>,
    /// The ten most frequent (expected, got) pairs among the errors.
    pub confusions: Vec<Confusion>,
    /// Up to 30 wrong lines, for reading.
    pub misses: Vec<Miss>,
    pub ms_per_message: f64,
}

/// Runs the understanding step on each selected line and scores it.
pub fn evaluate(
    understander: &Understander,
    embedder: &dyn Embedder,
    lines: &[LabelledText],
    split: Split,
) -> Result<IntentReport, UnderstandError> {
    let selected: Vec<&LabelledText> = lines
        .iter()
        .filter(|l| split == Split::All || is_held_out(&l.text))
        .collect();
    let started = Instant::now();
    let mut pairs: Vec<(Intent, Intent)> = Vec::with_capacity(selected.len());
    let (mut on_n, mut on_ok, mut multi_n, mut multi_ok) = (0usize, 0usize, 0usize, 0usize);
    let mut misses = Vec::new();
    for line in &selected {
        let u = understander.understand(embedder, &line.text)?;
        pairs.push((line.intent, u.intent));
        let got_on = u.entities.first_order_number().map(str::to_string);
        let on_wrong = line
            .order_number
            .as_ref()
            .is_some_and(|want| got_on.as_deref() != Some(want.as_str()));
        if let Some(_want) = &line.order_number {
            on_n += 1;
            on_ok += usize::from(!on_wrong);
        }
        if line.intents.len() > 1 {
            multi_n += 1;
            let mut want: Vec<Intent> = line.intents.clone();
            let mut got: Vec<Intent> = u.requests.iter().map(|r| r.intent).collect();
            want.sort();
            want.dedup();
            got.sort();
            multi_ok += usize::from(want == got);
        }
        if (u.intent != line.intent || on_wrong) && misses.len() < 30 {
            misses.push(Miss {
                text: line.text.clone(),
                expected: line.intent,
                got: u.intent,
                confidence: u.confidence,
                expected_order_number: line.order_number.clone(),
                got_order_number: got_on,
            });
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = pairs.len();
    let correct = pairs.iter().filter(|(a, b)| a == b).count();
    let mut intents: Vec<Intent> = pairs.iter().flat_map(|(a, b)| [*a, *b]).collect();
    intents.sort();
    intents.dedup();
    let per_intent: Vec<IntentScore> = intents
        .iter()
        .map(|&i| {
            let tp = pairs.iter().filter(|(a, b)| *a == i && *b == i).count();
            let support = pairs.iter().filter(|(a, _)| *a == i).count();
            let predicted = pairs.iter().filter(|(_, b)| *b == i).count();
            let ratio = |x: usize, y: usize| if y == 0 { 0.0 } else { x as f64 / y as f64 };
            let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            IntentScore {
                intent: i,
                support,
                predicted,
                precision,
                recall,
                f1,
            }
        })
        .collect();
    let macro_f1 = if per_intent.is_empty() {
        0.0
    } else {
        per_intent.iter().map(|s| s.f1).sum::<f64>() / per_intent.len() as f64
    };
    let mut confusions: Vec<Confusion> = Vec::new();
    for (a, b) in pairs.iter().filter(|(a, b)| a != b) {
        match confusions
            .iter_mut()
            .find(|c| c.expected == *a && c.got == *b)
        {
            Some(c) => c.count += 1,
            None => confusions.push(Confusion {
                expected: *a,
                got: *b,
                count: 1,
            }),
        }
    }
    confusions.sort_by(|x, y| {
        y.count
            .cmp(&x.count)
            .then(x.expected.cmp(&y.expected))
            .then(x.got.cmp(&y.got))
    });
    confusions.truncate(10);
    let share = |ok: usize, of: usize| (of > 0).then(|| ok as f64 / of as f64);
    Ok(IntentReport {
        split: match split {
            Split::HeldOut => format!("held-out: {SPLIT_RULE}"),
            Split::All => "all lines".to_string(),
        },
        n,
        accuracy: share(correct, n).unwrap_or(0.0),
        macro_f1,
        order_number_n: on_n,
        order_number_accuracy: share(on_ok, on_n),
        multi_request_n: multi_n,
        multi_request_accuracy: share(multi_ok, multi_n),
        per_intent,
        confusions,
        misses,
        ms_per_message: if n == 0 {
            0.0
        } else {
            elapsed * 1000.0 / n as f64
        },
    })
}

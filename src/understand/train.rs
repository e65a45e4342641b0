//! Fitting the intent head, and the labelled data it is fitted on.
//!
//! The model is multinomial logistic regression on MiniLM sentence embeddings, fitted by L-BFGS
//! on the class-weighted mean cross-entropy plus an L2 penalty on the weights (not the biases).
//! Class weights are balanced (n / (k · n_class)) so the intents the development set lacks, which
//! only the project's own examples teach, are not drowned by its 1,400 account questions.
//! Everything is deterministic: the data order is the files' order, the start is all zeros, and
//! gradients are summed over fixed chunks in a fixed order even when computed in parallel.
//!
//! The split of the development set is fixed: a line is **held out** when
//! `fnv1a64(text) % 5 == 0` (about 20%), hashing the text's UTF-8 bytes exactly as they appear in
//! the file. Training uses the rest plus `models/intent-examples.jsonl`; evaluation reports on the
//! held-out part. This module does not evaluate.

use std::path::Path;

use rayon::prelude::*;
use serde::Deserialize;

use super::{
    head::{softmax, IntentHead, TrainingInfo, HEAD_FORMAT},
    spelling::repair_keywords,
    text::fnv1a64,
    Intent, UnderstandError,
};
use crate::embed::Embedder;

/// The split rule, as printed by the trainer and the evaluation.
pub const SPLIT_RULE: &str = "a dev.jsonl line is held out when fnv1a64(text) % 5 == 0 (about 20%); training uses the other lines plus models/intent-examples.jsonl";

/// Whether a development-set line belongs to the held-out part.
pub fn is_held_out(text: &str) -> bool {
    fnv1a64(text).is_multiple_of(5)
}

/// One labelled message, from the development set, the examples file or the phrasing fixture.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledText {
    pub text: String,
    /// The message's (first) intent.
    pub intent: Intent,
    /// Every request in a multi-request message, in order; empty for single requests.
    pub intents: Vec<Intent>,
    /// The order reference the message contains, when the data says.
    pub order_number: Option<String>,
}

#[derive(Deserialize)]
struct Line {
    text: String,
    intent: String,
    #[serde(default)]
    intents: Vec<String>,
    #[serde(default)]
    order_number: Option<String>,
}

/// Parses JSON Lines `{"text", "intent", "intents"?, "order_number"?}` (other keys ignored;
/// blank lines skipped). `source` names the data in errors.
pub fn parse_jsonl(text: &str, source: &str) -> Result<Vec<LabelledText>, UnderstandError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |message: String| UnderstandError::Data {
            file: source.to_string(),
            line: n + 1,
            message,
        };
        let l: Line = serde_json::from_str(line).map_err(|e| err(e.to_string()))?;
        let intent: Intent = l
            .intent
            .parse()
            .map_err(|e: super::UnknownIntent| err(e.to_string()))?;
        let intents = l
            .intents
            .iter()
            .map(|s| s.parse())
            .collect::<Result<Vec<Intent>, _>>()
            .map_err(|e| err(e.to_string()))?;
        if !intents.is_empty() && intents[0] != intent {
            return Err(err(format!(
                "\"intent\" is {intent} but \"intents\" starts with {}",
                intents[0]
            )));
        }
        out.push(LabelledText {
            text: l.text,
            intent,
            intents,
            order_number: l.order_number.filter(|s| !s.is_empty()),
        });
    }
    Ok(out)
}

/// Reads a JSON Lines file of labelled messages.
pub fn read_jsonl(path: &Path) -> Result<Vec<LabelledText>, UnderstandError> {
    let text = std::fs::read_to_string(path).map_err(|e| UnderstandError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse_jsonl(&text, &path.display().to_string())
}

/// Knobs of the fit. The defaults are what `scripts/train-intents.sh` uses.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// L2 penalty on the weights, relative to the mean loss.
    pub l2: f32,
    pub max_iterations: usize,
    /// Stop when the loss improves by less than this (relative) in an iteration.
    pub tolerance: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        // l2 chosen by 4-fold cross-validation on the training part (folds 1–4 of the same
        // hash): 1e-4 under-fits unit-length features, 1e-6 and below gain nothing.
        Self {
            l2: 1e-5,
            max_iterations: 1000,
            tolerance: 1e-9,
        }
    }
}

/// The result of [`fit_softmax`].
#[derive(Debug, Clone)]
pub struct Fit {
    /// `k` rows of `dim` weights.
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
    pub iterations: usize,
    pub loss: f64,
    pub train_accuracy: f32,
}

/// Rows per gradient chunk: fixed, so the summation order (and the result) does not depend on
/// how many threads run.
const CHUNK: usize = 256;
/// L-BFGS history length.
const HISTORY: usize = 10;

struct Problem<'a> {
    x: &'a [Vec<f32>],
    y: &'a [usize],
    /// Per-example weight, normalised to sum to 1.
    w: Vec<f64>,
    k: usize,
    d: usize,
    l2: f64,
}

impl Problem<'_> {
    /// Loss and gradient at `theta` (`k*d` weights row by row, then `k` biases).
    fn eval(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let (k, d) = (self.k, self.d);
        let idx: Vec<usize> = (0..self.x.len()).collect();
        let parts: Vec<(f64, Vec<f64>)> = idx
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut g = vec![0f64; k * d + k];
                let mut loss = 0f64;
                let mut logits = vec![0f64; k];
                for &i in chunk {
                    let xi = &self.x[i];
                    for (c, z) in logits.iter_mut().enumerate() {
                        let row = &theta[c * d..(c + 1) * d];
                        *z = theta[k * d + c]
                            + row.iter().zip(xi).map(|(a, &b)| a * b as f64).sum::<f64>();
                    }
                    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = logits.iter().map(|z| (z - max).exp()).sum();
                    let log_z = max + sum.ln();
                    let wi = self.w[i];
                    loss += wi * (log_z - logits[self.y[i]]);
                    for c in 0..k {
                        let p = (logits[c] - log_z).exp();
                        let coef = wi * (p - if c == self.y[i] { 1.0 } else { 0.0 });
                        if coef != 0.0 {
                            g[c * d..(c + 1) * d]
                                .iter_mut()
                                .zip(xi)
                                .for_each(|(gv, &xv)| *gv += coef * xv as f64);
                            g[k * d + c] += coef;
                        }
                    }
                }
                (loss, g)
            })
            .collect();
        let mut loss = 0f64;
        let mut grad = vec![0f64; k * d + k];
        for (l, g) in parts {
            loss += l;
            grad.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
        }
        for j in 0..k * d {
            loss += 0.5 * self.l2 * theta[j] * theta[j];
            grad[j] += self.l2 * theta[j];
        }
        (loss, grad)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Fits softmax regression of labels `y` (in `0..k`) on features `x` by L-BFGS with an Armijo
/// backtracking line search. Rows of `x` must all have the same length.
pub fn fit_softmax(
    x: &[Vec<f32>],
    y: &[usize],
    k: usize,
    opts: &TrainOptions,
) -> Result<Fit, UnderstandError> {
    let d = x.first().map(Vec::len).unwrap_or(0);
    if x.is_empty() || x.len() != y.len() || d == 0 || k < 2 {
        return Err(UnderstandError::Training(format!(
            "need examples of at least two intents ({} rows, {} labels, {k} classes)",
            x.len(),
            y.len()
        )));
    }
    if x.iter().any(|r| r.len() != d) || y.iter().any(|&c| c >= k) {
        return Err(UnderstandError::Training(
            "ragged features or a label out of range".into(),
        ));
    }
    // Balanced class weights, then normalised so the loss is a weighted mean.
    let mut counts = vec![0usize; k];
    y.iter().for_each(|&c| counts[c] += 1);
    let present = counts.iter().filter(|&&c| c > 0).count() as f64;
    let raw: Vec<f64> = y
        .iter()
        .map(|&c| x.len() as f64 / (present * counts[c] as f64))
        .collect();
    let total: f64 = raw.iter().sum();
    let problem = Problem {
        x,
        y,
        w: raw.iter().map(|r| r / total).collect(),
        k,
        d,
        l2: opts.l2 as f64,
    };

    let n = k * d + k;
    let mut theta = vec![0f64; n];
    let (mut f, mut g) = problem.eval(&theta);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut iterations = 0;
    for it in 0..opts.max_iterations {
        iterations = it + 1;
        // Two-loop recursion: dir = -H·g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(s_hist.len());
        for (s, yv) in s_hist.iter().zip(&y_hist).rev() {
            let rho = 1.0 / dot(yv, s);
            let a = rho * dot(s, &q);
            q.iter_mut().zip(yv).for_each(|(qv, yy)| *qv -= a * yy);
            alphas.push((rho, a));
        }
        if let (Some(s), Some(yv)) = (s_hist.last(), y_hist.last()) {
            let gamma = dot(s, yv) / dot(yv, yv);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for ((s, yv), (rho, a)) in s_hist.iter().zip(&y_hist).zip(alphas.into_iter().rev()) {
            let b = rho * dot(yv, &q);
            q.iter_mut().zip(s).for_each(|(qv, sv)| *qv += (a - b) * sv);
        }
        let mut dir: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            dir = g.iter().map(|v| -v).collect();
            slope = dot(&g, &dir);
        }
        let mut step = if s_hist.is_empty() {
            1.0 / dot(&g, &g).sqrt().max(1e-12)
        } else {
            1.0
        };
        let (theta_new, f_new, g_new) = loop {
            let cand: Vec<f64> = theta
                .iter()
                .zip(&dir)
                .map(|(t, dv)| t + step * dv)
                .collect();
            let (fc, gc) = problem.eval(&cand);
            if fc <= f + 1e-4 * step * slope {
                break (cand, fc, gc);
            }
            step *= 0.5;
            if step < 1e-12 {
                break (theta.clone(), f, g.clone());
            }
        };
        let s: Vec<f64> = theta_new.iter().zip(&theta).map(|(a, b)| a - b).collect();
        let yv: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let improvement = (f - f_new) / f.abs().max(1e-12);
        let sy = dot(&s, &yv);
        theta = theta_new;
        f = f_new;
        g = g_new;
        if sy > 1e-12 {
            s_hist.push(s);
            y_hist.push(yv);
            if s_hist.len() > HISTORY {
                s_hist.remove(0);
                y_hist.remove(0);
            }
        }
        if improvement < opts.tolerance || g.iter().fold(0f64, |m, v| m.max(v.abs())) < 1e-7 {
            break;
        }
    }
    let weights: Vec<Vec<f32>> = (0..k)
        .map(|c| {
            theta[c * d..(c + 1) * d]
                .iter()
                .map(|&v| v as f32)
                .collect()
        })
        .collect();
    let bias: Vec<f32> = theta[k * d..].iter().map(|&v| v as f32).collect();
    let correct = x
        .iter()
        .zip(y)
        .filter(|(xi, &yi)| {
            let logits: Vec<f32> = weights
                .iter()
                .zip(&bias)
                .map(|(w, b)| b + w.iter().zip(xi.iter()).map(|(a, c)| a * c).sum::<f32>())
                .collect();
            let p = softmax(&logits);
            (0..k).max_by(|&a, &b| p[a].total_cmp(&p[b])) == Some(yi)
        })
        .count();
    Ok(Fit {
        weights,
        bias,
        iterations,
        loss: f,
        train_accuracy: correct as f32 / x.len() as f32,
    })
}

/// Embeds the training part of the development set (`dev`, already filtered to the training
/// part by the caller or not: held-out lines are dropped here) plus `examples`, and fits a head.
pub fn train_head(
    embedder: &dyn Embedder,
    dev: &[LabelledText],
    examples: &[LabelledText],
    opts: &TrainOptions,
) -> Result<IntentHead, UnderstandError> {
    let dev_train: Vec<&LabelledText> = dev.iter().filter(|l| !is_held_out(&l.text)).collect();
    let all: Vec<&LabelledText> = dev_train.iter().copied().chain(examples.iter()).collect();
    // Only intents with examples get a row: a row with no data would only learn "never".
    let labels: Vec<Intent> = Intent::ALL
        .into_iter()
        .filter(|i| all.iter().any(|l| l.intent == *i))
        .collect();
    let y: Vec<usize> = all
        .iter()
        .map(|l| {
            labels
                .iter()
                .position(|i| *i == l.intent)
                .expect("label is in the list built from the data")
        })
        .collect();
    // The same keyword repair the understanding step applies before embedding.
    let repaired: Vec<String> = all
        .iter()
        .map(|l| repair_keywords(&l.text).into_owned())
        .collect();
    let texts: Vec<&str> = repaired.iter().map(String::as_str).collect();
    let x = embedder.embed(&texts)?;
    let fit = fit_softmax(&x, &y, labels.len(), opts)?;
    Ok(IntentHead {
        format: HEAD_FORMAT,
        model_id: embedder.model_id().to_string(),
        dim: embedder.dim(),
        labels,
        weights: fit.weights,
        bias: fit.bias,
        training: TrainingInfo {
            dev_lines: dev_train.len(),
            example_lines: examples.len(),
            l2: opts.l2,
            iterations: fit.iterations,
            final_loss: fit.loss as f32,
            train_accuracy: fit.train_accuracy,
            split: SPLIT_RULE.to_string(),
        },
    })
}

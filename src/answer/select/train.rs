//! Fitting the answer selector, and the split of the development set it is fitted on.
//!
//! The model is binary logistic regression (does this passage fully answer the question, ePQA
//! label 2?) on the standardised [`super::FEATURES`], fitted by Newton's method on the mean
//! log-loss plus an L2 penalty on the weights (not the bias). With ~30 features the Hessian is
//! tiny, so Newton converges in a handful of exact steps and the result is deterministic.
//!
//! The answer threshold is chosen on the training part only: five-fold cross-validation over the
//! training cases (case `i` of the training part, in file order, is in fold `i % 5`) gives every
//! training case an out-of-fold best probability, and the threshold is the highest one at which
//! the out-of-fold coverage (answered / answerable) reaches the target. The final weights are then
//! fitted on the whole training part.
//!
//! The split is fixed: a case is **held out** when `fnv1a64(qid) % 5 == 0` (about 20%), hashing
//! the qid string's UTF-8 bytes. This module does not read files or evaluate; the CLI and
//! [`crate::eval::product_qa`] do.

use super::{
    features, AnswerSelector, Candidate, SelectError, TrainingInfo, FEATURES, SELECT_FORMAT,
};
use crate::understand::fnv1a64;

/// The split rule, as printed by the trainer and the evaluation.
pub const SPLIT_RULE: &str = "a product-qa case is held out when fnv1a64(qid) % 5 == 0 (about 20%); training uses the other cases";

/// Whether a case belongs to the held-out part.
pub fn is_held_out(qid: &str) -> bool {
    fnv1a64(qid).is_multiple_of(5)
}

/// Cross-validation folds used to choose the threshold.
const FOLDS: usize = 5;

/// One question with its candidates and their labels (0 irrelevant, 1 helpful, 2 fully answers).
#[derive(Debug, Clone)]
pub struct TrainingCase {
    pub question: String,
    /// (text, dense, quoted_dense) as [`Candidate`] holds them.
    pub candidates: Vec<(String, f32, Option<f32>)>,
    pub labels: Vec<u8>,
    /// Whether any passage of the case (retrieved or not) fully answers it.
    pub answerable: bool,
}

impl TrainingCase {
    fn rows(&self) -> Vec<Vec<f32>> {
        let c: Vec<Candidate> = self
            .candidates
            .iter()
            .map(|(t, d, q)| Candidate {
                text: t,
                dense: *d,
                quoted_dense: *q,
            })
            .collect();
        features(&self.question, &c)
    }
}

#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// L2 penalty on the (standardised) weights.
    pub l2: f64,
    pub max_iterations: usize,
    /// The out-of-fold coverage the threshold is set to reach.
    pub target_coverage: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            l2: 1e-3,
            max_iterations: 50,
            target_coverage: 0.52,
        }
    }
}

/// Precision, irrelevant, coverage and abstention of answering where the best probability
/// reaches a threshold: the figures the product-qa evaluation reports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    pub answered: usize,
    pub precision: f64,
    pub irrelevant: f64,
    pub coverage: f64,
    pub abstention: f64,
}

/// Per case: (best probability, label of that candidate, answerable). Cases without candidates
/// get probability 0 (never answered).
type Best = (f32, u8, bool);

fn figures(best: &[Best], threshold: f32) -> Figures {
    let answered: Vec<&Best> = best
        .iter()
        .filter(|b| b.0 >= threshold && b.0 > 0.0)
        .collect();
    let n = answered.len().max(1) as f64;
    let answerable = best.iter().filter(|b| b.2).count().max(1) as f64;
    let unanswerable = best.iter().filter(|b| !b.2).count().max(1) as f64;
    Figures {
        answered: answered.len(),
        precision: answered.iter().filter(|b| b.1 == 2).count() as f64 / n,
        irrelevant: answered.iter().filter(|b| b.1 == 0).count() as f64 / n,
        coverage: answered.iter().filter(|b| b.2).count() as f64 / answerable,
        abstention: best
            .iter()
            .filter(|b| !(b.2 || b.0 >= threshold && b.0 > 0.0))
            .count() as f64
            / unanswerable,
    }
}

/// The highest threshold whose coverage reaches `target` (the lowest best-probability among the
/// answerable cases that must be answered).
fn threshold_for_coverage(best: &[Best], target: f64) -> f32 {
    let mut answerable: Vec<f32> = best.iter().filter(|b| b.2).map(|b| b.0).collect();
    answerable.sort_by(|a, b| b.total_cmp(a));
    if answerable.is_empty() {
        return 0.5;
    }
    let need = ((target * answerable.len() as f64).ceil() as usize).clamp(1, answerable.len());
    answerable[need - 1]
}

/// A fitted linear model on standardised features.
struct Linear {
    mean: Vec<f32>,
    scale: Vec<f32>,
    weights: Vec<f32>,
    bias: f32,
    iterations: usize,
    loss: f64,
}

impl Linear {
    fn probability(&self, row: &[f32]) -> f32 {
        let z = self.bias
            + row
                .iter()
                .zip(&self.mean)
                .zip(&self.scale)
                .zip(&self.weights)
                .map(|(((x, m), s), w)| w * (x - m) / s)
                .sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }

    fn best(&self, case: &TrainingCase) -> Best {
        let p: Vec<f32> = case.rows().iter().map(|r| self.probability(r)).collect();
        match p
            .iter()
            .enumerate()
            .fold(None, |b: Option<(usize, f32)>, (i, &v)| {
                if b.is_some_and(|(_, bv)| bv >= v) {
                    b
                } else {
                    Some((i, v))
                }
            }) {
            Some((i, v)) => (v, case.labels[i], case.answerable),
            None => (0.0, 0, case.answerable),
        }
    }
}

/// Fits the selector on `cases` (the training part; the caller leaves the held-out part out).
pub fn fit(
    cases: &[TrainingCase],
    model_id: &str,
    held_out_cases: usize,
    opts: &TrainOptions,
) -> Result<AnswerSelector, SelectError> {
    if cases.len() < FOLDS * 2 {
        return Err(SelectError::Training(format!(
            "need at least {} cases, got {}",
            FOLDS * 2,
            cases.len()
        )));
    }
    if cases.iter().any(|c| c.candidates.len() != c.labels.len()) {
        return Err(SelectError::Training(
            "a case has a different number of candidates and labels".into(),
        ));
    }
    // Out-of-fold best probabilities, for the threshold.
    let mut oof: Vec<Best> = vec![(0.0, 0, false); cases.len()];
    for k in 0..FOLDS {
        let train: Vec<&TrainingCase> = cases
            .iter()
            .enumerate()
            .filter(|(i, _)| i % FOLDS != k)
            .map(|(_, c)| c)
            .collect();
        let model = fit_linear(&train, opts)?;
        for (i, c) in cases.iter().enumerate().filter(|(i, _)| i % FOLDS == k) {
            oof[i] = model.best(c);
        }
    }
    let threshold = threshold_for_coverage(&oof, opts.target_coverage);
    let at = figures(&oof, threshold);
    let all: Vec<&TrainingCase> = cases.iter().collect();
    let model = fit_linear(&all, opts)?;
    Ok(AnswerSelector {
        format: SELECT_FORMAT,
        model_id: model_id.to_string(),
        features: FEATURES.iter().map(|s| s.to_string()).collect(),
        mean: model.mean,
        scale: model.scale,
        weights: model.weights,
        bias: model.bias,
        threshold,
        training: TrainingInfo {
            split: SPLIT_RULE.to_string(),
            train_cases: cases.len(),
            held_out_cases,
            train_rows: cases.iter().map(|c| c.candidates.len()).sum(),
            l2: opts.l2 as f32,
            iterations: model.iterations,
            final_loss: model.loss as f32,
            threshold_rule: format!(
                "highest threshold whose {FOLDS}-fold out-of-fold coverage on the training part reaches {:.2} (training case i in fold i % {FOLDS})",
                opts.target_coverage
            ),
            oof_precision: at.precision as f32,
            oof_irrelevant: at.irrelevant as f32,
            oof_coverage: at.coverage as f32,
            oof_abstention: at.abstention as f32,
        },
    })
}

/// Standardises the rows and fits logistic regression by Newton's method.
fn fit_linear(cases: &[&TrainingCase], opts: &TrainOptions) -> Result<Linear, SelectError> {
    let mut x: Vec<Vec<f64>> = Vec::new();
    let mut y: Vec<f64> = Vec::new();
    for c in cases {
        for (row, &label) in c.rows().into_iter().zip(&c.labels) {
            x.push(row.into_iter().map(f64::from).collect());
            y.push(if label == 2 { 1.0 } else { 0.0 });
        }
    }
    let d = FEATURES.len();
    let n = x.len();
    if n == 0 || y.iter().all(|&v| v == y[0]) {
        return Err(SelectError::Training(
            "the training rows need both answering and non-answering passages".into(),
        ));
    }
    let mean: Vec<f64> = (0..d)
        .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n as f64)
        .collect();
    // A constant feature gets scale 1 (its standardised value is 0 everywhere, so its weight
    // stays 0 under the penalty).
    let scale: Vec<f64> = (0..d)
        .map(|j| {
            let var = x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n as f64;
            if var > 1e-12 {
                var.sqrt()
            } else {
                1.0
            }
        })
        .collect();
    for r in &mut x {
        for j in 0..d {
            r[j] = (r[j] - mean[j]) / scale[j];
        }
    }
    // theta = [weights…, bias].
    let loss_grad_hess = |theta: &[f64]| -> (f64, Vec<f64>, Vec<Vec<f64>>) {
        let mut loss = 0.0;
        let mut g = vec![0.0; d + 1];
        let mut h = vec![vec![0.0; d + 1]; d + 1];
        for (r, &yi) in x.iter().zip(&y) {
            let z = theta[d] + r.iter().zip(theta).map(|(a, b)| a * b).sum::<f64>();
            // log(1 + e^z) - y z, computed without overflow.
            loss += z.max(0.0) + (-z.abs()).exp().ln_1p() - yi * z;
            let p = 1.0 / (1.0 + (-z).exp());
            let w = p * (1.0 - p);
            for a in 0..=d {
                let xa = if a == d { 1.0 } else { r[a] };
                g[a] += (p - yi) * xa;
                for b in 0..=a {
                    let xb = if b == d { 1.0 } else { r[b] };
                    h[a][b] += w * xa * xb;
                }
            }
        }
        let nf = n as f64;
        loss /= nf;
        // The Hessian is symmetric: each pair of indices writes both halves.
        #[allow(clippy::needless_range_loop)]
        for a in 0..=d {
            g[a] /= nf;
            for b in 0..=a {
                h[a][b] /= nf;
                h[b][a] = h[a][b];
            }
        }
        for j in 0..d {
            loss += 0.5 * opts.l2 * theta[j] * theta[j];
            g[j] += opts.l2 * theta[j];
            h[j][j] += opts.l2;
        }
        (loss, g, h)
    };
    let mut theta = vec![0.0; d + 1];
    let (mut loss, mut g, mut h) = loss_grad_hess(&theta);
    let mut iterations = 0;
    while iterations < opts.max_iterations && g.iter().fold(0.0f64, |m, v| m.max(v.abs())) > 1e-9 {
        iterations += 1;
        let step = solve(&h, &g).ok_or_else(|| SelectError::Training("singular Hessian".into()))?;
        // Newton step with backtracking: the full step almost always holds, halving guards the
        // first iterations on badly separated data.
        let mut t = 1.0;
        loop {
            let cand: Vec<f64> = theta.iter().zip(&step).map(|(a, s)| a - t * s).collect();
            let (lc, gc, hc) = loss_grad_hess(&cand);
            if lc <= loss || t < 1e-6 {
                theta = cand;
                (loss, g, h) = (lc, gc, hc);
                break;
            }
            t *= 0.5;
        }
    }
    Ok(Linear {
        mean: mean.iter().map(|&v| v as f32).collect(),
        scale: scale.iter().map(|&v| v as f32).collect(),
        weights: theta[..d].iter().map(|&v| v as f32).collect(),
        bias: theta[d] as f32,
        iterations,
        loss,
    })
}

/// Solves `a x = b` for symmetric positive definite `a` (Cholesky). `None` when not positive
/// definite.
fn solve(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let v = a[i][i] - s;
                if v <= 0.0 {
                    return None;
                }
                l[i][i] = v.sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    let mut z = vec![0.0; n];
    for i in 0..n {
        z[i] = (b[i] - (0..i).map(|k| l[i][k] * z[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (z[i] - (i + 1..n).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    Some(x)
}

/// The figures of answering `best` at `threshold`, for the trainer's report.
pub fn figures_at(selector: &AnswerSelector, cases: &[TrainingCase], threshold: f32) -> Figures {
    let best: Vec<Best> = cases
        .iter()
        .map(|c| {
            let cands: Vec<Candidate> = c
                .candidates
                .iter()
                .map(|(t, d, q)| Candidate {
                    text: t,
                    dense: *d,
                    quoted_dense: *q,
                })
                .collect();
            let p = selector.probabilities(&c.question, &cands);
            match p
                .iter()
                .enumerate()
                .fold(None, |b: Option<(usize, f32)>, (i, &v)| {
                    if b.is_some_and(|(_, bv)| bv >= v) {
                        b
                    } else {
                        Some((i, v))
                    }
                }) {
                Some((i, v)) => (v, c.labels[i], c.answerable),
                None => (0.0, 0, c.answerable),
            }
        })
        .collect();
    figures(&best, threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(question: &str, passages: &[(&str, f32, u8)]) -> TrainingCase {
        TrainingCase {
            question: question.into(),
            candidates: passages
                .iter()
                .map(|(t, d, _)| (t.to_string(), *d, None))
                .collect(),
            labels: passages.iter().map(|p| p.2).collect(),
            answerable: passages.iter().any(|p| p.2 == 2),
        }
    }

    #[test]
    fn cholesky_solves_a_small_system() {
        let a = vec![vec![4.0, 2.0], vec![2.0, 3.0]];
        let x = solve(&a, &[2.0, 1.0]).unwrap();
        assert!(
            (4.0 * x[0] + 2.0 * x[1] - 2.0).abs() < 1e-12
                && (2.0 * x[0] + 3.0 * x[1] - 1.0).abs() < 1e-12
        );
        assert!(solve(&[vec![0.0]], &[1.0]).is_none());
    }

    #[test]
    fn learns_that_close_passages_answer_and_sets_a_threshold() {
        // Synthetic: the passage with the higher cosine answers; weak cases answer nothing.
        let cases: Vec<TrainingCase> = (0..40)
            .map(|i| {
                let hi = 0.5 + (i % 7) as f32 * 0.05;
                if i % 4 == 0 {
                    case(
                        "does it fit?",
                        &[("it is blue", 0.2, 0), ("nice colour", 0.25, 0)],
                    )
                } else {
                    case(
                        "does it fit?",
                        &[
                            ("yes it fits a standard frame", hi, 2),
                            ("nice colour", 0.2, 0),
                        ],
                    )
                }
            })
            .collect();
        let s = fit(&cases, "test", 0, &TrainOptions::default()).unwrap();
        let f = figures_at(&s, &cases, s.threshold);
        assert!(
            f.coverage >= 0.52 && f.precision > 0.9 && f.abstention > 0.9,
            "{f:?}"
        );
        // Deterministic: the same data gives the same file.
        assert_eq!(fit(&cases, "test", 0, &TrainOptions::default()).unwrap(), s);
    }
}

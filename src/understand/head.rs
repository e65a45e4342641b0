//! The learned intent head: multinomial logistic regression (softmax) over the 384-d,
//! L2-normalised MiniLM sentence embedding. Stored as JSON in `models/intent-head.json` (labels,
//! one weight row per label, biases, and how it was trained) so it can be reviewed, diffed and
//! committed; `scripts/train-intents.sh` writes it. This module predicts; `train` fits.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Intent, UnderstandError};

/// The file format version this code reads and writes.
pub const HEAD_FORMAT: u32 = 1;
/// Where the head lives under the models root.
pub const HEAD_FILE: &str = "intent-head.json";

/// How a head was trained (kept in the file so a reader can tell what it is looking at).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// Lines used from the development set (its training part) and from the project's own
    /// examples.
    pub dev_lines: usize,
    pub example_lines: usize,
    pub l2: f32,
    pub iterations: usize,
    pub final_loss: f32,
    pub train_accuracy: f32,
    /// The split rule, in words.
    pub split: String,
}

/// Softmax weights for each label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentHead {
    pub format: u32,
    /// The embedder the features came from; vectors from another model are meaningless here.
    pub model_id: String,
    pub dim: usize,
    pub labels: Vec<Intent>,
    /// `labels.len()` rows of `dim` weights.
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
    #[serde(default)]
    pub training: TrainingInfo,
}

impl IntentHead {
    /// Reads and checks a head file. A missing file names the script that makes it.
    pub fn load(path: &Path) -> Result<Self, UnderstandError> {
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => UnderstandError::HeadMissing {
                path: path.display().to_string(),
            },
            _ => UnderstandError::HeadFile {
                path: path.display().to_string(),
                message: e.to_string(),
            },
        })?;
        let head: IntentHead =
            serde_json::from_slice(&bytes).map_err(|e| UnderstandError::HeadFile {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        head.validate()
            .map_err(|message| UnderstandError::HeadFile {
                path: path.display().to_string(),
                message,
            })?;
        Ok(head)
    }

    /// Shape checks: a head that would index out of bounds or produce NaN is refused at load.
    pub fn validate(&self) -> Result<(), String> {
        if self.format != HEAD_FORMAT {
            return Err(format!(
                "format {} (this build reads {HEAD_FORMAT}); retrain with scripts/train-intents.sh",
                self.format
            ));
        }
        if self.labels.len() < 2 {
            return Err("fewer than two labels".into());
        }
        if self.weights.len() != self.labels.len() || self.bias.len() != self.labels.len() {
            return Err(format!(
                "{} labels but {} weight rows and {} biases",
                self.labels.len(),
                self.weights.len(),
                self.bias.len()
            ));
        }
        if self.dim == 0 || self.weights.iter().any(|r| r.len() != self.dim) {
            return Err(format!("a weight row is not {} long", self.dim));
        }
        if self
            .weights
            .iter()
            .flatten()
            .chain(&self.bias)
            .any(|x| !x.is_finite())
        {
            return Err("non-finite weight".into());
        }
        let mut seen = self.labels.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.labels.len() {
            return Err("a label appears twice".into());
        }
        Ok(())
    }

    /// Writes the head as JSON, weights rounded to 5 decimals (the file stays small and diffable;
    /// the rounding changes probabilities by far less than their reported precision).
    pub fn save(&self, path: &Path) -> Result<(), UnderstandError> {
        let round = |x: f32| (x as f64 * 1e5).round() / 1e5;
        let value = serde_json::json!({
            "format": self.format,
            "model_id": self.model_id,
            "dim": self.dim,
            "labels": self.labels,
            "bias": self.bias.iter().map(|&b| round(b)).collect::<Vec<_>>(),
            "training": self.training,
            "weights": self.weights.iter().map(|r| r.iter().map(|&w| round(w)).collect::<Vec<_>>()).collect::<Vec<_>>(),
        });
        // One label's row per line: readable diffs without a 10,000-line file.
        let mut out = String::from("{\n");
        let obj = value.as_object().expect("built as an object");
        let keys = [
            "format", "model_id", "dim", "labels", "bias", "training", "weights",
        ];
        for (k, key) in keys.iter().enumerate() {
            let v = &obj[*key];
            let body = if *key == "weights" {
                let rows: Vec<String> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| format!("    {r}"))
                    .collect();
                format!("[\n{}\n  ]", rows.join(",\n"))
            } else {
                v.to_string()
            };
            out.push_str(&format!(
                "  \"{key}\": {body}{}\n",
                if k + 1 < keys.len() { "," } else { "" }
            ));
        }
        out.push_str("}\n");
        let io = |e: std::io::Error| UnderstandError::HeadFile {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // Write then rename, so a reader never sees half a file.
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, out).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Class probabilities for one embedding, in `labels` order.
    pub fn probabilities(&self, x: &[f32]) -> Vec<f32> {
        let logits: Vec<f32> = self
            .weights
            .iter()
            .zip(&self.bias)
            .map(|(w, b)| b + w.iter().zip(x).map(|(a, c)| a * c).sum::<f32>())
            .collect();
        softmax(&logits)
    }

    /// Labels with their probabilities, most probable first (ties keep label order).
    pub fn ranked(&self, x: &[f32]) -> Vec<(Intent, f32)> {
        let mut r: Vec<(Intent, f32)> = self
            .labels
            .iter()
            .copied()
            .zip(self.probabilities(x))
            .collect();
        r.sort_by(|a, b| b.1.total_cmp(&a.1));
        r
    }
}

/// Numerically stable softmax.
pub(crate) fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|z| (z - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

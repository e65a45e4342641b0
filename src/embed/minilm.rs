//! all-MiniLM-L6-v2 (a 6-layer BERT) on candle, with sentence-transformers' pooling:
//! attention-masked mean over the last hidden state, then L2 normalisation.
//!
//! The forward pass is written out here rather than taken from candle-transformers' `BertModel`
//! because the embedding hot path decides the cost of every answer and every reindex: query, key
//! and value projections are fused into one matmul, weights are transposed once at load time so
//! every projection is a plain row-major GEMM, and batches are formed from texts of similar length
//! so padding is small.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::{
    cpu::{CpuBert, CpuLayer, Kernels, Weight},
    locate::ModelFiles,
    EmbedError, Embedder, Precision,
};

/// sentence-transformers' `max_seq_length` for this model: longer inputs are cut.
pub const MAX_TOKENS: usize = 256;
/// Texts per forward pass. Large enough to amortise per-op overhead, small enough to keep the
/// attention scores in cache.
const BATCH: usize = 32;

#[derive(serde::Deserialize)]
struct BertConfig {
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    layer_norm_eps: f64,
}

struct Layer {
    qkv_w: Tensor, // [hidden, 3*hidden]
    qkv_b: Tensor,
    out_w: Tensor, // [hidden, hidden]
    out_b: Tensor,
    ln1: (Tensor, Tensor),
    ff1_w: Tensor, // [hidden, intermediate]
    ff1_b: Tensor,
    ff2_w: Tensor, // [intermediate, hidden]
    ff2_b: Tensor,
    ln2: (Tensor, Tensor),
}

/// Weights as candle tensors, for the tensor forward pass (GPU).
struct Tensors {
    word: Tensor,
    position: Tensor,
    token_type0: Tensor, // [hidden]: every input is a single segment
    ln_emb: (Tensor, Tensor),
    layers: Vec<Layer>,
}

/// Which forward pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The packed CPU pass (`cpu.rs`): the default on CPU.
    PackedCpu,
    /// candle tensor ops on the model's device: the GPU path, also runnable on CPU for tests.
    Tensor,
}

/// The real embedder.
pub struct MiniLm {
    tokenizer: Tokenizer,
    device: Device,
    tensors: Option<Tensors>,
    heads: usize,
    hidden: usize,
    eps: f32,
    model_id: String,
    /// The packed CPU forward pass (see `cpu.rs`); `None` on a GPU, where the tensor path runs.
    cpu: Option<CpuBert>,
    precision: Precision,
}

fn file_err(path: &Path, message: impl ToString) -> EmbedError {
    EmbedError::ModelFile {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

impl MiniLm {
    /// Loads the model on the CPU (or the first CUDA device when built with `--features cuda`).
    pub fn load(files: &ModelFiles) -> Result<Self, EmbedError> {
        let device = default_device();
        let backend = if device.is_cpu() {
            Backend::PackedCpu
        } else {
            Backend::Tensor
        };
        Self::load_with(files, device, backend)
    }

    /// Where the forward pass runs, for the log: "cuda" or "cpu".
    pub fn device_name(&self) -> &'static str {
        if self.device.is_cuda() {
            "cuda"
        } else {
            "cpu"
        }
    }

    /// Loads on the CPU with the given kernels (which the CPU must support: see
    /// [`Kernels::available`]), whatever `SHOPKEEP_CPU_KERNELS` says: the parity tests run
    /// every level in one process.
    pub fn load_with_kernels(files: &ModelFiles, kernels: Kernels) -> Result<Self, EmbedError> {
        assert!(
            kernels.supported(),
            "this CPU cannot run the {kernels} kernels"
        );
        Self::load_inner(files, Device::Cpu, Backend::PackedCpu, kernels)
    }

    /// The CPU kernels the packed pass runs (`None` on the tensor path).
    pub fn kernels(&self) -> Option<Kernels> {
        self.cpu.as_ref().map(|c| c.kernels)
    }

    /// Which code embeds, for the log and `shopkeep bench embed`: e.g. `cpu avx2 fp32`,
    /// `cpu avx512 int8 (avx512-vnni)`, `cuda`.
    pub fn path(&self) -> String {
        match &self.cpu {
            None => format!("{} tensor", self.device_name()),
            Some(cpu) => match (self.precision, cpu.kernels.int8()) {
                (Precision::Int8, Some(i8k)) => format!("cpu {} int8 ({i8k})", cpu.kernels),
                (p, _) => format!("cpu {} {p}", cpu.kernels),
            },
        }
    }

    /// Loads for a given device and forward pass (`PackedCpu` needs the CPU device), with the
    /// kernels [`Kernels::from_env`] picks.
    pub fn load_with(
        files: &ModelFiles,
        device: Device,
        backend: Backend,
    ) -> Result<Self, EmbedError> {
        Self::load_inner(files, device, backend, Kernels::from_env())
    }

    fn load_inner(
        files: &ModelFiles,
        device: Device,
        backend: Backend,
        kernels: Kernels,
    ) -> Result<Self, EmbedError> {
        let cfg: BertConfig = serde_json::from_slice(
            &std::fs::read(&files.config).map_err(|e| file_err(&files.config, e))?,
        )
        .map_err(|e| file_err(&files.config, e))?;
        let mut tokenizer =
            Tokenizer::from_file(&files.tokenizer).map_err(|e| file_err(&files.tokenizer, e))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);

        let tensors = candle_core::safetensors::load(&files.weights, &device)
            .map_err(|e| file_err(&files.weights, e))?;
        let get = |name: &str| -> Result<Tensor, EmbedError> {
            tensors
                .get(name)
                .cloned()
                .ok_or_else(|| file_err(&files.weights, format!("tensor {name} missing")))
        };
        // Linear weights are stored [out, in]; keep them as [in, out] so x·W needs no transpose.
        let wt = |name: &str| -> Result<Tensor, EmbedError> { Ok(get(name)?.t()?.contiguous()?) };

        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let qkv_w = Tensor::cat(
                &[
                    wt(&format!("{p}.attention.self.query.weight"))?,
                    wt(&format!("{p}.attention.self.key.weight"))?,
                    wt(&format!("{p}.attention.self.value.weight"))?,
                ],
                1,
            )?
            .contiguous()?;
            let qkv_b = Tensor::cat(
                &[
                    get(&format!("{p}.attention.self.query.bias"))?,
                    get(&format!("{p}.attention.self.key.bias"))?,
                    get(&format!("{p}.attention.self.value.bias"))?,
                ],
                0,
            )?;
            layers.push(Layer {
                qkv_w,
                qkv_b,
                out_w: wt(&format!("{p}.attention.output.dense.weight"))?,
                out_b: get(&format!("{p}.attention.output.dense.bias"))?,
                ln1: (
                    get(&format!("{p}.attention.output.LayerNorm.weight"))?,
                    get(&format!("{p}.attention.output.LayerNorm.bias"))?,
                ),
                ff1_w: wt(&format!("{p}.intermediate.dense.weight"))?,
                ff1_b: get(&format!("{p}.intermediate.dense.bias"))?,
                ff2_w: wt(&format!("{p}.output.dense.weight"))?,
                ff2_b: get(&format!("{p}.output.dense.bias"))?,
                ln2: (
                    get(&format!("{p}.output.LayerNorm.weight"))?,
                    get(&format!("{p}.output.LayerNorm.bias"))?,
                ),
            });
        }
        // Only one copy of the weights stays in memory: the flat CPU one or the tensors.
        let (cpu, tensors) = match backend {
            Backend::PackedCpu if device.is_cpu() => {
                (Some(cpu_weights(&get, &layers, &cfg, kernels)?), None)
            }
            _ => (
                None,
                Some(Tensors {
                    word: get("embeddings.word_embeddings.weight")?,
                    position: get("embeddings.position_embeddings.weight")?,
                    token_type0: get("embeddings.token_type_embeddings.weight")?.get(0)?,
                    ln_emb: (
                        get("embeddings.LayerNorm.weight")?,
                        get("embeddings.LayerNorm.bias")?,
                    ),
                    layers,
                }),
            ),
        };
        Ok(Self {
            cpu,
            tokenizer,
            device,
            tensors,
            heads: cfg.num_attention_heads,
            hidden: cfg.hidden_size,
            eps: cfg.layer_norm_eps as f32,
            model_id: "sentence-transformers/all-MiniLM-L6-v2".to_string(),
            precision: Precision::Fp32,
        })
    }

    /// Sets the CPU pass's precision. `int8` needs the packed CPU pass with AVX2 or AVX-512
    /// kernels; elsewhere (the portable kernels, a GPU) the model stays fp32, with a warning, and
    /// [`MiniLm::precision`] says so.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        if precision == Precision::Int8 {
            if self.cpu.as_mut().is_some_and(CpuBert::quantize) {
                self.precision = Precision::Int8;
            } else {
                tracing::warn!("int8 embeddings need the CPU forward pass with AVX2 or AVX-512 kernels; running fp32");
            }
        }
        self
    }

    /// The precision in effect.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Token ids for each text ([CLS] … [SEP], truncated to [`MAX_TOKENS`]).
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, EmbedError> {
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        Ok(enc.into_iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// Runs one batch: the packed CPU pass, or the tensor pass on a GPU.
    fn forward(&self, batch: &[&Vec<u32>]) -> Result<Vec<Vec<f32>>, EmbedError> {
        match (&self.cpu, &self.tensors) {
            (Some(cpu), _) => Ok(cpu.forward(batch)),
            (None, Some(w)) => self.forward_tensors(w, batch),
            (None, None) => unreachable!("one of the two weight sets is always loaded"),
        }
    }

    /// The tensor forward pass (any candle device): one padded batch in, pooled, normalised
    /// vectors out.
    fn forward_tensors(
        &self,
        w: &Tensors,
        batch: &[&Vec<u32>],
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let b = batch.len();
        let t = batch.iter().map(|ids| ids.len()).max().unwrap_or(1).max(1);
        let h = self.hidden;
        let heads = self.heads;
        let dh = h / heads;

        let mut ids = vec![0u32; b * t];
        let mut mask = vec![0f32; b * t];
        for (i, seq) in batch.iter().enumerate() {
            ids[i * t..i * t + seq.len()].copy_from_slice(seq);
            mask[i * t..i * t + seq.len()]
                .iter_mut()
                .for_each(|m| *m = 1.0);
        }
        let ids = Tensor::from_vec(ids, b * t, &self.device)?;
        let mask = Tensor::from_vec(mask, (b, t), &self.device)?;

        // Embeddings: word + position + segment 0, then LayerNorm. Rows are packed [b*t, h].
        let pos = w.position.narrow(0, 0, t)?.repeat((b, 1))?;
        let x = w
            .word
            .index_select(&ids, 0)?
            .add(&pos)?
            .broadcast_add(&w.token_type0)?;
        let mut x = candle_nn::ops::layer_norm(&x, &w.ln_emb.0, &w.ln_emb.1, self.eps)?;

        // Additive attention bias: 0 for real tokens, a large negative for padding.
        let bias = ((mask.clone() - 1.0)? * 1e9)?.reshape((b, 1, 1, t))?;
        let scale = 1.0 / (dh as f64).sqrt();

        for layer in &w.layers {
            let qkv = x.matmul(&layer.qkv_w)?.broadcast_add(&layer.qkv_b)?; // [b*t, 3h]
            let split = |i: usize| -> candle_core::Result<Tensor> {
                qkv.narrow(1, i * h, h)?
                    .reshape((b, t, heads, dh))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = (split(0)? * scale)?;
            let k = split(1)?;
            let v = split(2)?;
            let scores = q.matmul(&k.t()?)?.broadcast_add(&bias)?; // [b, heads, t, t]
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b * t, h))?;
            let attn = ctx.matmul(&layer.out_w)?.broadcast_add(&layer.out_b)?;
            x = candle_nn::ops::layer_norm(&(attn + &x)?, &layer.ln1.0, &layer.ln1.1, self.eps)?;
            let ff = x
                .matmul(&layer.ff1_w)?
                .broadcast_add(&layer.ff1_b)?
                .gelu_erf()?;
            let ff = ff.matmul(&layer.ff2_w)?.broadcast_add(&layer.ff2_b)?;
            x = candle_nn::ops::layer_norm(&(ff + &x)?, &layer.ln2.0, &layer.ln2.1, self.eps)?;
        }

        // Masked mean pooling, then L2 normalisation.
        let x = x.reshape((b, t, h))?;
        let summed = x.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?; // [b, h]
        let counts = mask.sum_keepdim(1)?.clamp(1.0, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        let out = mean.broadcast_div(&norm)?.to_dtype(DType::F32)?;
        Ok(out.to_vec2::<f32>()?)
    }
}

impl Embedder for MiniLm {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.hidden
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // On one of rayon's threads (`scope`, unlike `in_place_scope`, runs its closure in the
        // pool): every parallel region inside (tokenizing, each matrix product, attention) then
        // starts from a worker whose partner is usually still spinning, where from an outside
        // thread each one was a round trip through the pool's sleeping threads and a lock.
        rayon::scope(|_| self.embed_here(texts))
    }
}

impl MiniLm {
    /// [`Embedder::embed`] on the calling thread.
    fn embed_here(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let tokens = self.tokenize(texts)?;
        // Sort by length (longest first, as sentence-transformers does) so each batch pads little.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(tokens[i].len()));
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&Vec<u32>> = chunk.iter().map(|&i| &tokens[i]).collect();
            for (&i, v) in chunk.iter().zip(self.forward(&batch)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

/// Copies the loaded tensors into the CPU pass's flat layout.
fn cpu_weights(
    get: &dyn Fn(&str) -> Result<Tensor, EmbedError>,
    layers: &[Layer],
    cfg: &BertConfig,
    kernels: Kernels,
) -> Result<CpuBert, EmbedError> {
    let flat =
        |t: &Tensor| -> Result<Vec<f32>, EmbedError> { Ok(t.flatten_all()?.to_vec1::<f32>()?) };
    let weight = |t: &Tensor| -> Result<Weight, EmbedError> {
        let (k, n) = t.dims2()?;
        Ok(Weight::new(flat(t)?, k, n, kernels))
    };
    let mut cpu_layers = Vec::with_capacity(layers.len());
    for l in layers {
        cpu_layers.push(CpuLayer {
            qkv_w: weight(&l.qkv_w)?,
            qkv_b: flat(&l.qkv_b)?,
            out_w: weight(&l.out_w)?,
            out_b: flat(&l.out_b)?,
            ln1_g: flat(&l.ln1.0)?,
            ln1_b: flat(&l.ln1.1)?,
            ff1_w: weight(&l.ff1_w)?,
            ff1_b: flat(&l.ff1_b)?,
            ff2_w: weight(&l.ff2_w)?,
            ff2_b: flat(&l.ff2_b)?,
            ln2_g: flat(&l.ln2.0)?,
            ln2_b: flat(&l.ln2.1)?,
        });
    }
    let intermediate = layers
        .first()
        .map(|l| l.ff1_b.dims1())
        .transpose()?
        .unwrap_or(cfg.hidden_size * 4);
    Ok(CpuBert {
        word: flat(&get("embeddings.word_embeddings.weight")?)?,
        position: flat(&get("embeddings.position_embeddings.weight")?)?,
        token_type0: flat(&get("embeddings.token_type_embeddings.weight")?.get(0)?)?,
        ln_g: flat(&get("embeddings.LayerNorm.weight")?)?,
        ln_b: flat(&get("embeddings.LayerNorm.bias")?)?,
        layers: cpu_layers,
        hidden: cfg.hidden_size,
        heads: cfg.num_attention_heads,
        intermediate,
        eps: cfg.layer_norm_eps as f32,
        kernels,
        scratch: Default::default(),
    })
}

fn default_device() -> Device {
    #[cfg(feature = "cuda")]
    match Device::new_cuda(0) {
        Ok(d) => return d,
        // A `cuda` build on a machine whose driver sees no GPU: the CPU pass still serves.
        Err(e) => tracing::warn!("no usable CUDA device ({e}); embedding on the CPU"),
    }
    Device::Cpu
}

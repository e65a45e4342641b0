//! The CPU forward pass of the BERT encoder, written for the shapes this model sees: many short
//! texts, each a few dozen tokens.
//!
//! Why not candle's tensor ops here: on CPU, per-op dispatch, allocation and the padded 4-D
//! batched attention cost more than the arithmetic for short texts. This pass instead
//! - packs the tokens of every text in a batch into one `[tokens, hidden]` matrix, so no FLOP is
//!   spent on padding and each projection is one GEMM (`gemm`, the kernel crate candle itself
//!   uses, with its runtime AVX2/AVX-512 dispatch);
//! - fuses QKV into one GEMM, writes biases as the GEMM's initial value, and runs attention per
//!   (text, head) directly on slices of the packed QKV matrix, in parallel;
//! - fuses residual + LayerNorm and uses a vectorisable erf for the exact (erf) GELU.
//! The weights are the same tensors candle loaded; the candle tensor path remains for CUDA.

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

/// One encoder layer's weights, row-major, linear weights as `[in, out]`.
pub struct CpuLayer {
    pub qkv_w: Vec<f32>,
    pub qkv_b: Vec<f32>,
    pub out_w: Vec<f32>,
    pub out_b: Vec<f32>,
    pub ln1_g: Vec<f32>,
    pub ln1_b: Vec<f32>,
    pub ff1_w: Vec<f32>,
    pub ff1_b: Vec<f32>,
    pub ff2_w: Vec<f32>,
    pub ff2_b: Vec<f32>,
    pub ln2_g: Vec<f32>,
    pub ln2_b: Vec<f32>,
}

pub struct CpuBert {
    pub word: Vec<f32>,
    pub position: Vec<f32>,
    pub token_type0: Vec<f32>,
    pub ln_g: Vec<f32>,
    pub ln_b: Vec<f32>,
    pub layers: Vec<CpuLayer>,
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub eps: f32,
}

/// Products at least this large (multiply-adds) use `gemm`'s own thread pool parallelism, which
/// splits the rows; a batch of questions or passages reaches it.
const PARALLEL_GEMM_MIN: usize = 40_000_000;

/// Products of at least this many multiply-adds but fewer rows (one or a few short texts) are
/// split by output columns across the threads instead: each thread then streams only its share
/// of the weight matrix, which is what bounds a lone question's latency. Below it, spreading the
/// work costs more than it saves.
const SPLIT_COLUMNS_MIN: usize = 1_500_000;

/// `dst[m×n] = bias (broadcast over rows) + lhs[m×k] · rhs[k×n]`, all row-major.
fn linear(dst: &mut [f32], lhs: &[f32], rhs: &[f32], bias: &[f32], m: usize, k: usize, n: usize) {
    debug_assert_eq!(dst.len(), m * n);
    debug_assert_eq!(lhs.len(), m * k);
    debug_assert_eq!(rhs.len(), k * n);
    for row in dst.chunks_exact_mut(n) {
        row.copy_from_slice(bias);
    }
    let threads = rayon::current_num_threads();
    let work = m * n * k;
    if threads > 1 && work >= SPLIT_COLUMNS_MIN && work < PARALLEL_GEMM_MIN {
        // Column blocks in multiples of 16 floats (one AVX-512 register) so no block straddles
        // a vector; each block writes only its own columns of `dst`.
        let block = (n.div_ceil(threads)).div_ceil(16) * 16;
        let (dst_at, lhs_at, rhs_at) = (dst.as_mut_ptr() as usize, lhs.as_ptr() as usize, rhs.as_ptr() as usize);
        (0..n.div_ceil(block)).into_par_iter().for_each(|b| {
            let (c0, c1) = (b * block, ((b + 1) * block).min(n));
            // SAFETY: as below, on the sub-matrices `dst[:, c0..c1]` and `rhs[:, c0..c1]` (same
            // row strides, offset by `c0` columns). Blocks cover disjoint columns of `dst`, so no
            // two threads write the same element; the inputs are only read.
            unsafe {
                gemm(m, c1 - c0, k, (dst_at as *mut f32).add(c0), 1, n as isize, true, lhs_at as *const f32, 1, k as isize, (rhs_at as *const f32).add(c0), 1, n as isize, 1.0, 1.0, false, false, false, Parallelism::None);
            }
        });
        return;
    }
    let par = if work >= PARALLEL_GEMM_MIN && threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: the slices have exactly the sizes and row-major strides passed (checked above in
    // debug builds, guaranteed by construction in `forward`), and `dst` does not alias the inputs.
    unsafe {
        gemm(m, n, k, dst.as_mut_ptr(), 1, n as isize, true, lhs.as_ptr(), 1, k as isize, rhs.as_ptr(), 1, n as isize, 1.0, 1.0, false, false, false, par);
    }
}

/// Runs `f` compiled for the best instruction set the CPU has. The kernels are plain loops the
/// compiler vectorises; without this they would be built for baseline x86-64 (SSE2) only.
macro_rules! multiversion {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$m])*
        fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn inner($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) { inner($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) { inner($($arg),*) }
                if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vl") {
                    // SAFETY: the features were detected on this CPU.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            inner($($arg),*)
        }
    };
}

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent partial sums let the compiler keep a whole vector register of them.
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

multiversion! {
    /// `x[i] = LayerNorm(x[i] + r[i])` per row (`r` may be empty for no residual).
    fn add_layer_norm(x: &mut [f32], r: &[f32], g: &[f32], b: &[f32], h: usize, eps: f32) {
        for (i, row) in x.chunks_exact_mut(h).enumerate() {
            if !r.is_empty() {
                for (v, add) in row.iter_mut().zip(&r[i * h..(i + 1) * h]) {
                    *v += add;
                }
            }
            let mean = row.iter().sum::<f32>() / h as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
            let inv = 1.0 / (var + eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(g).zip(b) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }
}

/// erf by Abramowitz & Stegun 7.1.28 (|error| < 3e-7): a polynomial and a power, no branches
/// beyond the sign, so it vectorises.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let p = 1.0 + a * (0.070_523_08 + a * (0.042_282_01 + a * (0.009_270_527 + a * (0.000_152_014_3 + a * (0.000_276_567_2 + a * 0.000_043_063_8)))));
    let p2 = p * p;
    let p4 = p2 * p2;
    let p8 = p4 * p4;
    let p16 = p8 * p8;
    let r = 1.0 - 1.0 / p16;
    r.copysign(x)
}

multiversion! {
    /// The exact GELU, `x · Φ(x)`.
    fn gelu(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

multiversion! {
    /// Self-attention of one text and one head. `qkv` holds the text's rows of the packed QKV
    /// matrix (`len × 3h`); the head's context is written to `out` (`len × dh`, row-major).
    fn attend(qkv: &[f32], len: usize, h: usize, head: usize, dh: usize, scale: f32, scores: &mut Vec<f32>, out: &mut [f32]) {
        let row = 3 * h;
        let (qo, ko, vo) = (head * dh, h + head * dh, 2 * h + head * dh);
        scores.clear();
        scores.resize(len, 0.0);
        for i in 0..len {
            let q = &qkv[i * row + qo..i * row + qo + dh];
            let mut max = f32::NEG_INFINITY;
            for (j, s) in scores.iter_mut().enumerate() {
                *s = dot(q, &qkv[j * row + ko..j * row + ko + dh]) * scale;
                max = max.max(*s);
            }
            let mut sum = 0.0;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            let inv = 1.0 / sum;
            let o = &mut out[i * dh..(i + 1) * dh];
            o.iter_mut().for_each(|v| *v = 0.0);
            for (j, s) in scores.iter().enumerate() {
                let p = s * inv;
                let v = &qkv[j * row + vo..j * row + vo + dh];
                for (o, v) in o.iter_mut().zip(v) {
                    *o += p * v;
                }
            }
        }
    }
}

impl CpuBert {
    /// Embeds a batch of token-id sequences: mean-pooled over each text's tokens, L2-normalised.
    pub fn forward(&self, batch: &[&Vec<u32>]) -> Vec<Vec<f32>> {
        let h = self.hidden;
        let dh = h / self.heads;
        let lens: Vec<usize> = batch.iter().map(|s| s.len().max(1)).collect();
        let offsets: Vec<usize> = lens.iter().scan(0, |acc, l| {
            let o = *acc;
            *acc += l;
            Some(o)
        }).collect();
        let n: usize = lens.iter().sum();

        // Embeddings, packed: row t of text s is word[id] + position[t] + segment 0.
        let mut x = vec![0f32; n * h];
        for (s, seq) in batch.iter().enumerate() {
            for t in 0..lens[s] {
                let id = seq.get(t).copied().unwrap_or(0) as usize;
                let dst = &mut x[(offsets[s] + t) * h..(offsets[s] + t + 1) * h];
                let (w, p) = (&self.word[id * h..(id + 1) * h], &self.position[t * h..(t + 1) * h]);
                for i in 0..h {
                    dst[i] = w[i] + p[i] + self.token_type0[i];
                }
            }
        }
        add_layer_norm(&mut x, &[], &self.ln_g, &self.ln_b, h, self.eps);

        let mut qkv = vec![0f32; n * 3 * h];
        let mut ctx = vec![0f32; n * h];
        let mut tmp = vec![0f32; n * h];
        let mut ff = vec![0f32; n * self.intermediate];
        let scale = 1.0 / (dh as f32).sqrt();
        // (text, head) pairs, each writing its own [len × dh] block of `heads_out`.
        let pairs: Vec<(usize, usize)> = (0..batch.len()).flat_map(|s| (0..self.heads).map(move |hd| (s, hd))).collect();
        let mut heads_out = vec![0f32; n * h];
        for layer in &self.layers {
            linear(&mut qkv, &x, &layer.qkv_w, &layer.qkv_b, n, h, 3 * h);

            // Attention. Blocks of `heads_out` are laid out text by text, head by head, so each
            // pair owns a disjoint slice and the pairs can run in parallel.
            let mut blocks: Vec<&mut [f32]> = Vec::with_capacity(pairs.len());
            let mut rest: &mut [f32] = &mut heads_out;
            for &(s, _) in &pairs {
                let (block, tail) = rest.split_at_mut(lens[s] * dh);
                blocks.push(block);
                rest = tail;
            }
            let work: usize = lens.iter().map(|l| l * l).sum::<usize>() * self.heads * dh;
            let run = |((s, hd), block): (&(usize, usize), &mut &mut [f32]), scores: &mut Vec<f32>| {
                let rows = &qkv[offsets[*s] * 3 * h..(offsets[*s] + lens[*s]) * 3 * h];
                attend(rows, lens[*s], h, *hd, dh, scale, scores, block);
            };
            if work > 200_000 {
                pairs.par_iter().zip(blocks.par_iter_mut()).for_each_init(Vec::new, |scores, item| run(item, scores));
            } else {
                let mut scores = Vec::new();
                pairs.iter().zip(blocks.iter_mut()).for_each(|item| run(item, &mut scores));
            }
            // Gather heads back into token rows: ctx[token, head*dh..] = block(text, head)[t].
            let mut at = 0;
            for (s, &len) in lens.iter().enumerate() {
                for hd in 0..self.heads {
                    for t in 0..len {
                        let src = &heads_out[at + t * dh..at + (t + 1) * dh];
                        ctx[(offsets[s] + t) * h + hd * dh..(offsets[s] + t) * h + (hd + 1) * dh].copy_from_slice(src);
                    }
                    at += len * dh;
                }
            }

            linear(&mut tmp, &ctx, &layer.out_w, &layer.out_b, n, h, h);
            add_layer_norm(&mut x, &tmp, &layer.ln1_g, &layer.ln1_b, h, self.eps);
            linear(&mut ff, &x, &layer.ff1_w, &layer.ff1_b, n, h, self.intermediate);
            gelu(&mut ff);
            linear(&mut tmp, &ff, &layer.ff2_w, &layer.ff2_b, n, self.intermediate, h);
            add_layer_norm(&mut x, &tmp, &layer.ln2_g, &layer.ln2_b, h, self.eps);
        }

        // Mean over each text's tokens (no padding exists to mask), then L2 normalisation.
        (0..batch.len())
            .map(|s| {
                let mut v = vec![0f32; h];
                for t in 0..lens[s] {
                    for (a, b) in v.iter_mut().zip(&x[(offsets[s] + t) * h..(offsets[s] + t + 1) * h]) {
                        *a += b;
                    }
                }
                let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
                v.iter_mut().for_each(|a| *a /= norm);
                v
            })
            .collect()
    }
}

//! The CPU forward pass of the BERT encoder, written for the shapes this model sees: many short
//! texts, each a few dozen tokens.
//!
//! Why not candle's tensor ops here: on CPU, per-op dispatch, allocation and the padded 4-D
//! batched attention cost more than the arithmetic for short texts. This pass instead
//! - packs the tokens of every text in a batch into one `[tokens, hidden]` matrix, so no FLOP is
//!   spent on padding and each projection is one matrix product: an AVX-512 kernel over weights
//!   packed once at load (see [`Weight`]), or `gemm` (the kernel crate candle uses) elsewhere;
//! - fuses QKV into one GEMM, writes biases as the GEMM's initial value, applies GELU to each
//!   tile of the feed-forward product while it is in cache, and runs attention per (text, head)
//!   directly on slices of the packed QKV matrix, in parallel (with AVX-512, 8 queries at a time:
//!   `avx512::attend32`);
//! - fuses residual + LayerNorm (in parallel over rows, with vectorised sums) and uses a
//!   vectorisable erf for the exact (erf) GELU;
//! - leaves no pass between the products on one thread, and is entered on a rayon worker (see
//!   `MiniLm::embed`), so the other core does not idle or sleep between parallel regions.
//! The weights are the same tensors candle loaded; the candle tensor path remains for CUDA.

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

/// One encoder layer's weights, row-major, linear weights as `[in, out]`.
pub struct CpuLayer {
    pub qkv_w: Weight,
    pub qkv_b: Vec<f32>,
    pub out_w: Weight,
    pub out_b: Vec<f32>,
    pub ln1_g: Vec<f32>,
    pub ln1_b: Vec<f32>,
    pub ff1_w: Weight,
    pub ff1_b: Vec<f32>,
    pub ff2_w: Weight,
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
    /// Activation buffers kept between calls (see [`Scratch`]).
    pub scratch: parking_lot::Mutex<Vec<Scratch>>,
}

/// One forward pass's activation matrices, reused by later passes.
///
/// Why: a batch of 32 passages needs about 18 MB of them; allocated afresh, every call paid for
/// mapping, zeroing and unmapping those pages again (page faults and zeroing were ~3% of a
/// passage batch's time). Buffers above [`SCRATCH_KEEP`] are dropped rather than kept, so one
/// long reindex batch does not pin its memory in a serving process for good.
#[derive(Default)]
pub struct Scratch {
    x: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    ff: Vec<f32>,
}

/// The most bytes of activations one pooled [`Scratch`] may keep, and how many are kept: the
/// server embeds on one worker (`embed::batch`) and a reindex on one thread, so two cover a
/// reindex beside a live server; more passes at once are rare and simply allocate.
const SCRATCH_KEEP: usize = 32 << 20;
const SCRATCH_POOL: usize = 2;

impl Scratch {
    fn bytes(&self) -> usize {
        4 * (self.x.capacity() + self.qkv.capacity() + self.ctx.capacity() + self.tmp.capacity() + self.ff.capacity())
    }
}

/// Sets `v` to `len` elements without clearing what it holds: every caller overwrites them all.
fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    v.resize(len, 0.0);
    &mut v[..len]
}

/// A linear layer's weight matrix `[k (in) × n (out)]`, in the layout its kernel reads.
///
/// On CPUs with AVX-512 the matrix is stored as column panels of 16 (one register wide): panel
/// `p` holds `W[0..k, 16p..16p+16]` contiguously. The kernel then streams each panel once per
/// block of rows with unit-stride loads, and nothing is repacked per call: the packing happens
/// once, at load. (`gemm` repacks its right-hand side on every call, which for the dozen rows
/// of one question costs as much as the arithmetic.) Elsewhere it stays row-major for `gemm`.
pub struct Weight {
    data: Vec<f32>,
    k: usize,
    n: usize,
    packed: bool,
    /// The int8 form, when [`Weight::quantize`] made one; the float data is then dropped.
    int8: Option<Int8Weight>,
}

/// A weight quantised for AVX-512 VNNI (`vpdpbusd`: 16 lanes × 4 unsigned-by-signed byte
/// products per instruction, four times the multiply-adds of an f32 FMA).
///
/// Symmetric per output column: `W[kk, c] ≈ scale[c] · q[kk, c]` with `q` in -127..=127. Laid out
/// as column panels of 16 like the f32 form, and within a panel as groups of 4 rows: the 64 bytes
/// of group `g` hold, for each of the panel's 16 columns, `q[4g..4g+4, c]`, exactly the operand
/// `vpdpbusd` multiplies with four consecutive activations broadcast to every lane.
struct Int8Weight {
    data: Vec<i8>,
    scale: Vec<f32>,
    /// `Σ_kk q[kk, c]`: removes the activations' zero point from the integer product.
    colsum: Vec<i32>,
}

impl Weight {
    /// From a row-major `[k × n]` matrix.
    pub fn new(row_major: Vec<f32>, k: usize, n: usize) -> Self {
        assert_eq!(row_major.len(), k * n, "weight matrix size");
        if !packed_kernel_available() || n % (F32_PANELS * PANEL) != 0 {
            return Self { data: row_major, k, n, packed: false, int8: None };
        }
        let mut data = vec![0f32; k * n];
        for p in 0..n / PANEL {
            for kk in 0..k {
                let dst = &mut data[(p * k + kk) * PANEL..(p * k + kk + 1) * PANEL];
                dst.copy_from_slice(&row_major[kk * n + p * PANEL..kk * n + (p + 1) * PANEL]);
            }
        }
        Self { data, k, n, packed: true, int8: None }
    }

    /// Element `(kk, c)` of the matrix, whatever its layout.
    fn at(&self, kk: usize, c: usize) -> f32 {
        if self.packed {
            self.data[((c / PANEL) * self.k + kk) * PANEL + c % PANEL]
        } else {
            self.data[kk * self.n + c]
        }
    }

    /// Switches this weight to int8 products. Returns false, leaving it f32, where the CPU lacks
    /// AVX-512 VNNI or the shape does not fit the kernel (`k` a multiple of 4, `n` of 64).
    pub fn quantize(&mut self) -> bool {
        if self.int8.is_some() {
            return true;
        }
        if !int8_kernel_available() || self.k % 4 != 0 || self.n % (I8_PANELS * PANEL) != 0 {
            return false;
        }
        let (k, n) = (self.k, self.n);
        let groups = k / 4;
        let mut data = vec![0i8; k * n];
        let mut scale = vec![0f32; n];
        let mut colsum = vec![0i32; n];
        for c in 0..n {
            let amax = (0..k).map(|kk| self.at(kk, c).abs()).fold(0f32, f32::max);
            let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
            scale[c] = s;
            let (p, j) = (c / PANEL, c % PANEL);
            for kk in 0..k {
                let q = (self.at(kk, c) / s).round().clamp(-127.0, 127.0) as i8;
                data[(p * groups + kk / 4) * 4 * PANEL + j * 4 + kk % 4] = q;
                colsum[c] += q as i32;
            }
        }
        self.int8 = Some(Int8Weight { data, scale, colsum });
        self.data = Vec::new();
        true
    }
}

fn int8_kernel_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVAILABLE.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vnni"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Floats per panel: one AVX-512 register.
const PANEL: usize = 16;
/// The int8 micro-kernel's shape, rows × panels, for the same reason as the f32 one's.
const I8_ROWS: usize = 6;
const I8_PANELS: usize = 4;
/// The f32 micro-kernel's shape: 6 rows × 4 panels = 24 accumulators, plus 4 weight vectors and a
/// broadcast. Measured on the 2-core Cascade Lake this was tuned on, 32 passages a batch: 6×4
/// ran 1.07× ONNX Runtime, 8×3 1.03×, 12×2 0.96× and 4×6 0.98×. Per step of `k`, 12×2 issues
/// 12 broadcasts and, as compiled, 12 pointer adds for its 24 multiply-adds (the rows are `k`
/// apart and there are too few registers for 12 row pointers); 6×4 issues 6 of each, so the
/// 4-wide front end no longer starves the two FMA units.
const F32_ROWS: usize = 6;
const F32_PANELS: usize = 4;
// The tiles' dispatch instantiates the kernels for 2..=6 rows.
const _: () = assert!(F32_ROWS <= 6 && I8_ROWS <= 6);
/// A tile (the unit of parallel work) is up to this many rows by this many groups of panels (of
/// [`F32_PANELS`] or [`I8_PANELS`]).
const TILE_ROWS: usize = 96;
const TILE_GROUPS: usize = 4;
/// A tile's panels and its rows of the input should stay in a core's L2 (1 MiB on the Xeons this
/// was tuned on) while each block of rows streams every panel of the tile past: these budgets
/// keep both within it with room to spare.
const TILE_PANEL_BYTES: usize = 256 * 1024;
const TILE_INPUT_BYTES: usize = 512 * 1024;

fn packed_kernel_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVAILABLE.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::PANEL;

    /// Panels per micro-kernel call (see [`super::F32_ROWS`]).
    pub const P: usize = super::F32_PANELS;
    /// Rows of `W` per block of [`tile`]: `P` panels' worth stays within half of L1.
    const KC: usize = 4096 / (P * PANEL);

    /// `dst[r, 0..16P] = init[r, 0..16P] + Σ_kk x[r, kk] · W[kk, 0..16P]` over `kc` rows of `W`,
    /// for `R` rows and one group of `P` panels. `init` is the bias (`ldi` = 0) for the first
    /// block of `k`, so no separate pass writes it into `dst`, and `dst` itself (`ldi` = `ldd`)
    /// after.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `dst` addresses `R` rows of `16P` floats at stride `ldd`, `init` at
    /// stride `ldi`; `x` addresses `R` rows of `kc` floats at stride `ldx`; `w` addresses `kc`
    /// rows of `P` panels `kw × 16` floats apart.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    pub unsafe fn kernel<const R: usize>(dst: *mut f32, ldd: usize, x: *const f32, ldx: usize, w: *const f32, kc: usize, kw: usize, init: *const f32, ldi: usize) {
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); P]; R];
            for r in 0..R {
                for p in 0..P {
                    acc[r][p] = _mm512_loadu_ps(init.add(r * ldi + p * PANEL));
                }
            }
            for kk in 0..kc {
                let mut wv = [_mm512_setzero_ps(); P];
                for p in 0..P {
                    wv[p] = _mm512_loadu_ps(w.add(p * kw * PANEL + kk * PANEL));
                }
                for r in 0..R {
                    let xv = _mm512_set1_ps(*x.add(r * ldx + kk));
                    for p in 0..P {
                        acc[r][p] = _mm512_fmadd_ps(xv, wv[p], acc[r][p]);
                    }
                }
            }
            for r in 0..R {
                for p in 0..P {
                    _mm512_storeu_ps(dst.add(r * ldd + p * PANEL), acc[r][p]);
                }
            }
        }
    }

    /// One tile: rows `r0..r1` of `dst`/`x`, panel groups `q0..q1`, in blocks of [`KC`] rows of
    /// `W`.
    ///
    /// Why blocks of `k`: a group of panels over all of `k` = 384 is 48 KiB or more, more than
    /// L1, so each row block would stream it from L2 again; [`KC`] rows of it stay in L1 for
    /// every row block of the tile. (Measured alone on one core: 3-10% faster for every product
    /// shape.)
    ///
    /// # Safety
    /// As [`kernel`], for every row and group in range (`bias` addresses `n` floats); no other
    /// thread writes this tile.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile(dst: *mut f32, x: *const f32, w: *const f32, k: usize, n: usize, bias: *const f32, (r0, r1): (usize, usize), (q0, q1): (usize, usize)) {
        unsafe {
            let mut k0 = 0;
            while k0 < k {
                let kc = KC.min(k - k0);
                for q in q0..q1 {
                    let (wq, bq) = (w.add(P * q * k * PANEL + k0 * PANEL), bias.add(P * q * PANEL));
                    let mut r = r0;
                    while r < r1 {
                        let rows = (r1 - r).min(super::F32_ROWS);
                        let (d, xr) = (dst.add(r * n + P * q * PANEL), x.add(r * k + k0));
                        let (init, ldi) = if k0 == 0 { (bq, 0) } else { (d as *const f32, n) };
                        macro_rules! call {
                            ($($n:literal)*) => {
                                match rows {
                                    $($n => kernel::<$n>(d, n, xr, k, wq, kc, k, init, ldi),)*
                                    _ => kernel::<1>(d, n, xr, k, wq, kc, k, init, ldi),
                                }
                            };
                        }
                        call!(6 5 4 3 2);
                        r += rows;
                    }
                }
                k0 += kc;
            }
        }
    }

    /// [`super::gelu`] 16 lanes at a time, with the erf polynomial's one division done as a
    /// reciprocal estimate refined by a Newton step (relative error ~1e-8, below f32's own):
    /// `vdivps` on 16 lanes takes as long as the rest of the polynomial, and GELU runs on every
    /// element of the widest activation matrix.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn gelu(x: &mut [f32]) {
        unsafe {
            let c = |v: f32| _mm512_set1_ps(v);
            let sign = _mm512_set1_epi32(i32::MIN);
            let mut chunks = x.chunks_exact_mut(PANEL);
            let one = c(1.0);
            let apply = |v: __m512| -> __m512 {
                let z = _mm512_mul_ps(v, c(std::f32::consts::FRAC_1_SQRT_2));
                // Beyond 8, erf is 1 in f32; clamping keeps p¹⁶ finite (its reciprocal estimate of
                // an infinity would turn the Newton step into NaN).
                let a = _mm512_min_ps(_mm512_abs_ps(z), c(8.0));
                // Abramowitz & Stegun 7.1.28, as in `super::erf`.
                let mut p = c(0.000_043_063_8);
                for k in [0.000_276_567_2, 0.000_152_014_3, 0.009_270_527, 0.042_282_01, 0.070_523_08, 1.0] {
                    p = _mm512_fmadd_ps(p, a, c(k));
                }
                let p2 = _mm512_mul_ps(p, p);
                let p4 = _mm512_mul_ps(p2, p2);
                let p8 = _mm512_mul_ps(p4, p4);
                let p16 = _mm512_mul_ps(p8, p8);
                let r = _mm512_rcp14_ps(p16);
                let r = _mm512_mul_ps(r, _mm512_fnmadd_ps(p16, r, c(2.0)));
                let erf_abs = _mm512_sub_ps(one, r);
                // erf is odd: give it z's sign.
                let erf = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(erf_abs), _mm512_and_si512(_mm512_castps_si512(z), sign)));
                _mm512_mul_ps(_mm512_mul_ps(c(0.5), v), _mm512_add_ps(one, erf))
            };
            for ch in &mut chunks {
                _mm512_storeu_ps(ch.as_mut_ptr(), apply(_mm512_loadu_ps(ch.as_ptr())));
            }
            let rest = chunks.into_remainder();
            if !rest.is_empty() {
                let m: __mmask16 = (1u32 << rest.len()).wrapping_sub(1) as __mmask16;
                let v = _mm512_maskz_loadu_ps(m, rest.as_ptr());
                _mm512_mask_storeu_ps(rest.as_mut_ptr(), m, apply(v));
            }
        }
    }

    /// Queries per block in [`attend32`]: 8 queries × 2 registers of context are 16 accumulators.
    const QB: usize = 8;

    /// Self-attention of one text and one head of size 32 (see `super::attend`), `QB` queries at
    /// a time.
    ///
    /// Why blocks of queries, in intrinsics: one query's scores against 16 keys are a chain of 32
    /// multiply-adds into one register, and its context a chain of `len`, each waiting on the
    /// last; `QB` queries side by side are independent chains that keep both FMA units busy and
    /// share every load of a key or value. (Left to the compiler, these loops came out as
    /// separate multiplies and adds over half-width registers: Rust never fuses `a * b + c`.)
    ///
    /// # Safety
    /// The CPU has AVX-512F; `qkv` holds `len ≥ 1` rows of `3h` floats, `out` `len × 32`, and
    /// `head · 32 + 32 ≤ h`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::needless_range_loop)] // as in `kernel`: `r` indexes several register arrays
    pub unsafe fn attend32(qkv: &[f32], len: usize, h: usize, head: usize, scale: f32, scratch: &mut Vec<f32>, out: &mut [f32]) {
        const DH: usize = 32;
        const KEYS: usize = super::KEYS;
        let row = 3 * h;
        let (qo, ko, vo) = (head * DH, h + head * DH, 2 * h + head * DH);
        // Keys padded to whole registers; the padding keys are zero and their scores -inf.
        let lp = len.div_ceil(KEYS) * KEYS;
        scratch.clear();
        scratch.resize(lp * DH + QB * lp + QB * DH, 0.0);
        let (kt, rest) = scratch.split_at_mut(DH * lp);
        let (scores, q) = rest.split_at_mut(QB * lp);
        // The head's keys, transposed to `32 × lp`: 16 keys' scores are then 32 multiply-adds of
        // a broadcast query element by a unit-stride row of keys.
        for j in 0..len {
            for d in 0..DH {
                kt[d * lp + j] = qkv[j * row + ko + d];
            }
        }
        let (qkv, kt) = (qkv.as_ptr(), kt.as_ptr());
        // SAFETY: every pointer below stays in its buffer: query and value rows `< len` of `qkv`
        // (columns `≤ 3h`), key rows `< 32` of `kt` (`32 × lp`), `scores` rows `< QB` of `lp`,
        // and `out` rows `< len` of 32.
        unsafe {
            let mut i0 = 0;
            while i0 < len {
                // The block's queries, scaled. Past the last query the block repeats it:
                // computed like the others, never written out, so no loop needs a tail.
                for r in 0..QB {
                    let i = (i0 + r).min(len - 1);
                    for d in 0..DH {
                        q[r * DH + d] = *qkv.add(i * row + qo + d) * scale;
                    }
                }
                for c in 0..lp / KEYS {
                    let mut acc = [_mm512_setzero_ps(); QB];
                    for d in 0..DH {
                        let k = _mm512_loadu_ps(kt.add(d * lp + c * KEYS));
                        for r in 0..QB {
                            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(*q.get_unchecked(r * DH + d)), k, acc[r]);
                        }
                    }
                    for r in 0..QB {
                        _mm512_storeu_ps(scores.as_mut_ptr().add(r * lp + c * KEYS), acc[r]);
                    }
                }
                let mut inv = [0f32; QB];
                for (s, inv) in scores.chunks_exact_mut(lp).zip(inv.iter_mut()) {
                    s[len..].fill(f32::NEG_INFINITY);
                    let mut mx = _mm512_set1_ps(f32::NEG_INFINITY);
                    for c in s.chunks_exact(KEYS) {
                        mx = _mm512_max_ps(mx, _mm512_loadu_ps(c.as_ptr()));
                    }
                    let max = _mm512_reduce_max_ps(mx);
                    let mut sums = [0f32; KEYS];
                    for c in s.chunks_exact_mut(KEYS) {
                        for (sum, v) in sums.iter_mut().zip(c) {
                            *v = super::exp_nonpositive(*v - max);
                            *sum += *v;
                        }
                    }
                    *inv = 1.0 / sums.iter().sum::<f32>();
                }
                // Σ_j p_j · v_j, normalised once at the end.
                let mut o0 = [_mm512_setzero_ps(); QB];
                let mut o1 = [_mm512_setzero_ps(); QB];
                for j in 0..len {
                    let v = qkv.add(j * row + vo);
                    let (v0, v1) = (_mm512_loadu_ps(v), _mm512_loadu_ps(v.add(PANEL)));
                    for r in 0..QB {
                        let p = _mm512_set1_ps(*scores.get_unchecked(r * lp + j));
                        o0[r] = _mm512_fmadd_ps(p, v0, o0[r]);
                        o1[r] = _mm512_fmadd_ps(p, v1, o1[r]);
                    }
                }
                for r in 0..QB.min(len - i0) {
                    let (dst, s) = (out.as_mut_ptr().add((i0 + r) * DH), _mm512_set1_ps(inv[r]));
                    _mm512_storeu_ps(dst, _mm512_mul_ps(o0[r], s));
                    _mm512_storeu_ps(dst.add(PANEL), _mm512_mul_ps(o1[r], s));
                }
                i0 += QB;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use super::PANEL;

    /// Row `r`'s quantisation: `x[r, kk] ≈ scale · (u[r, kk] - zero)`.
    #[derive(Clone, Copy)]
    pub struct RowQuant {
        pub scale: f32,
        pub zero: i32,
    }

    /// Panels per micro-kernel call (see [`super::I8_ROWS`]).
    const P: usize = super::I8_PANELS;

    /// `dst[r, 0..16P] += x[r, ·] · W[·, 0..16P]` for `R` rows and one group of `P` panels, from
    /// unsigned activation bytes and signed weight bytes, dequantised once at the end.
    ///
    /// # Safety
    /// The CPU has AVX-512F and VNNI; `dst` addresses `R` rows of `16P` floats at stride `ldd`;
    /// `x` addresses `R` rows of `4 · groups` bytes at stride `ldx`, `rq` their `R`
    /// quantisations; `w` addresses `P` consecutive int8 panels of `groups × 64` bytes; `scale`
    /// and `colsum` address the group's `16P` columns.
    #[target_feature(enable = "avx512f,avx512vnni")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    pub unsafe fn kernel<const R: usize>(dst: *mut f32, ldd: usize, x: *const u8, ldx: usize, rq: *const RowQuant, w: *const i8, groups: usize, scale: *const f32, colsum: *const i32) {
        unsafe {
            let mut acc = [[_mm512_setzero_si512(); P]; R];
            for g in 0..groups {
                let mut wv = [_mm512_setzero_si512(); P];
                for p in 0..P {
                    wv[p] = _mm512_loadu_si512(w.add((p * groups + g) * 4 * PANEL) as *const _);
                }
                for r in 0..R {
                    let xv = _mm512_set1_epi32(std::ptr::read_unaligned(x.add(r * ldx + 4 * g) as *const i32));
                    for p in 0..P {
                        acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], xv, wv[p]);
                    }
                }
            }
            for p in 0..P {
                let cs = _mm512_loadu_si512(colsum.add(p * PANEL) as *const _);
                let ws = _mm512_loadu_ps(scale.add(p * PANEL));
                for r in 0..R {
                    let q = *rq.add(r);
                    let (zero, s) = (_mm512_set1_epi32(q.zero), _mm512_set1_ps(q.scale));
                    let v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][p], _mm512_mullo_epi32(zero, cs)));
                    let d = dst.add(r * ldd + p * PANEL);
                    _mm512_storeu_ps(d, _mm512_fmadd_ps(v, _mm512_mul_ps(s, ws), _mm512_loadu_ps(d)));
                }
            }
        }
    }

    /// One tile: rows `r0..r1`, panel groups `q0..q1`.
    ///
    /// # Safety
    /// As [`kernel`], for every row and group in range; no other thread writes this tile.
    #[target_feature(enable = "avx512f,avx512vnni")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile(dst: *mut f32, x: *const u8, rq: *const RowQuant, w: &super::Int8Weight, k: usize, n: usize, (r0, r1): (usize, usize), (q0, q1): (usize, usize)) {
        unsafe {
            let groups = k / 4;
            for q in q0..q1 {
                let wq = w.data.as_ptr().add(P * q * groups * 4 * PANEL);
                let (scale, colsum) = (w.scale.as_ptr().add(P * q * PANEL), w.colsum.as_ptr().add(P * q * PANEL));
                let mut r = r0;
                while r < r1 {
                    let rows = (r1 - r).min(super::I8_ROWS);
                    let (d, xr, qr) = (dst.add(r * n + P * q * PANEL), x.add(r * k), rq.add(r));
                    macro_rules! call {
                        ($($n:literal)*) => {
                            match rows {
                                $($n => kernel::<$n>(d, n, xr, k, qr, wq, groups, scale, colsum),)*
                                _ => kernel::<1>(d, n, xr, k, qr, wq, groups, scale, colsum),
                            }
                        };
                    }
                    call!(6 5 4 3 2);
                    r += rows;
                }
            }
        }
    }
}

/// Products at least this large (multiply-adds) use `gemm`'s own thread pool parallelism, which
/// splits the rows; a batch of questions or passages reaches it. (Row-major weights only.)
const PARALLEL_GEMM_MIN: usize = 40_000_000;

/// Below this many multiply-adds, spreading a product over threads costs more than it saves.
const PARALLEL_MIN: usize = 1_500_000;

/// The units of parallel work of an `m × k` by `k × n` product with `elem`-byte elements, for a
/// kernel of `mr` rows by `width` panels: row blocks × panel-group blocks, sized so a tile's
/// panels and input rows stay in L2. (For the f32 feed-forward output, `k` = 1536: four groups
/// of panels would spill to L3 on every block of rows; one group and 84 rows fit.)
///
/// A product of few rows (one question: a dozen) has only a handful of such tiles, and with two
/// threads 9 tiles take as long as 10: fewer panel groups per tile then give each thread an even
/// share.
fn tiles(m: usize, k: usize, n: usize, elem: usize, width: usize, mr: usize) -> Vec<Tile> {
    let groups = n / (width * PANEL);
    let mut tile_groups = (TILE_PANEL_BYTES / (k * width * PANEL * elem)).clamp(1, TILE_GROUPS);
    let tile_rows = (TILE_INPUT_BYTES / (k * elem) / mr * mr).clamp(mr, TILE_ROWS);
    let min_tiles = 8 * rayon::current_num_threads();
    while tile_groups > 1 && m.div_ceil(tile_rows) * groups.div_ceil(tile_groups) < min_tiles {
        tile_groups -= 1;
    }
    (0..m.div_ceil(tile_rows))
        .flat_map(|rb| {
            (0..groups.div_ceil(tile_groups)).map(move |gb| ((rb * tile_rows, ((rb + 1) * tile_rows).min(m)), (gb * tile_groups, ((gb + 1) * tile_groups).min(groups))))
        })
        .collect()
}

type Tile = ((usize, usize), (usize, usize));

/// Runs `run` on every tile, across rayon's threads when `parallel` and there is more than one.
fn run_tiles(tiles: &[Tile], parallel: bool, run: impl Fn(&Tile) + Sync + Send) {
    if parallel && tiles.len() > 1 {
        tiles.par_iter().for_each(run);
    } else {
        tiles.iter().for_each(run);
    }
}

/// What [`linear`] applies to its output after the product.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Act {
    None,
    /// The exact GELU, applied per tile while the tile is still in cache (the feed-forward
    /// input); a separate pass over the whole `[tokens, intermediate]` matrix ran on one thread.
    Gelu,
}

/// `dst[m×n] = act(bias (broadcast over rows) + lhs[m×k] · W[k×n])`, row-major activations.
fn linear(dst: &mut [f32], lhs: &[f32], w: &Weight, bias: &[f32], m: usize, act: Act) {
    let (k, n) = (w.k, w.n);
    assert!(dst.len() == m * n && lhs.len() == m * k && bias.len() == n, "linear: shapes");
    let threads = rayon::current_num_threads();
    let work = m * n * k;
    // Each tile starts from the bias (the f32 kernel loads it into its accumulators; elsewhere
    // the prologue writes it into the tile's rows × columns) and applies the activation after it: both then run on the tile's thread, on data already in its cache,
    // instead of as serial passes over the whole output. Both closures are only called with one tile's rows (`< m`) and columns (`≤ n`), and tiles
    // are disjoint, so each touches `dst` only where no other thread does.
    let d = dst.as_mut_ptr() as usize;
    let prologue = |(r0, r1): (usize, usize), (c0, c1): (usize, usize)| {
        for r in r0..r1 {
            // SAFETY: row `r`, columns `c0..c1` of the `m × n` floats of `dst`, owned by this
            // tile (see above).
            unsafe { std::slice::from_raw_parts_mut((d as *mut f32).add(r * n + c0), c1 - c0) }.copy_from_slice(&bias[c0..c1]);
        }
    };
    let epilogue = |(r0, r1): (usize, usize), (c0, c1): (usize, usize)| {
        if act == Act::Gelu {
            for r in r0..r1 {
                // SAFETY: as in the prologue: this tile's part of row `r` of `dst`.
                gelu(unsafe { std::slice::from_raw_parts_mut((d as *mut f32).add(r * n + c0), c1 - c0) });
            }
        }
    };
    let cols = |width: usize, (q0, q1): (usize, usize)| (width * q0 * PANEL, width * q1 * PANEL);
    #[cfg(target_arch = "x86_64")]
    if let Some(q) = &w.int8 {
        let mut xq = vec![0u8; m * k];
        let mut rq = vec![vnni::RowQuant { scale: 1.0, zero: 0 }; m];
        quantize_rows(lhs, k, &mut xq, &mut rq);
        let (x, r) = (xq.as_ptr() as usize, rq.as_ptr() as usize);
        let run = |&(rows, groups): &Tile| {
            prologue(rows, cols(I8_PANELS, groups));
            // SAFETY: `int8` is only set when AVX-512F and VNNI were detected, for `k % 4 == 0`
            // and `n % 64 == 0`, with the layout `Weight::quantize` builds for exactly `k × n`;
            // `xq` and `rq` hold `m` rows; tiles cover disjoint rows × columns of `dst`.
            unsafe { vnni::tile(d as *mut f32, x as *const u8, r as *const vnni::RowQuant, q, k, n, rows, groups) };
            epilogue(rows, cols(I8_PANELS, groups));
        };
        // An int8 product costs about a quarter of the f32 one, so threads pay off only later.
        run_tiles(&tiles(m, k, n, 1, I8_PANELS, I8_ROWS), threads > 1 && work >= 4 * PARALLEL_MIN, run);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if w.packed {
        let tiles = tiles(m, k, n, 4, F32_PANELS, F32_ROWS);
        let (x, wp) = (lhs.as_ptr() as usize, w.data.as_ptr() as usize);
        let b = bias.as_ptr() as usize;
        let run = |&(rows, groups): &Tile| {
            // SAFETY: `packed` is only set when AVX-512F was detected; the shapes were asserted
            // above and the packed layout is built by `Weight::new` for exactly `k × n`; tiles
            // cover disjoint rows × columns of `dst`, so no two threads write the same element.
            unsafe { avx512::tile(d as *mut f32, x as *const f32, wp as *const f32, k, n, b as *const f32, rows, groups) };
            epilogue(rows, cols(F32_PANELS, groups));
        };
        run_tiles(&tiles, threads > 1 && work >= PARALLEL_MIN, run);
        return;
    }
    for row in dst.chunks_exact_mut(n) {
        row.copy_from_slice(bias);
    }
    let par = if work >= PARALLEL_GEMM_MIN && threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: the slices have exactly the sizes and row-major strides passed (asserted above),
    // and `dst` does not alias the inputs.
    unsafe {
        gemm(m, n, k, dst.as_mut_ptr(), 1, n as isize, true, lhs.as_ptr(), 1, k as isize, w.data.as_ptr(), 1, n as isize, 1.0, 1.0, false, false, false, par);
    }
    if act == Act::Gelu {
        gelu(dst);
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

/// `Σ f(x[i])` over 16 independent lanes, so that it vectorises: a plain `sum()` over floats
/// must add in order, one dependent add at a time (the compiler may not reassociate).
#[inline(always)]
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = x.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    acc.iter().sum::<f32>() + tail
}

multiversion! {
    /// `x[i] = LayerNorm(x[i] + r[i])` per row (`r` may be empty for no residual).
    fn add_layer_norm_rows(x: &mut [f32], r: &[f32], g: &[f32], b: &[f32], h: usize, eps: f32) {
        for (i, row) in x.chunks_exact_mut(h).enumerate() {
            if !r.is_empty() {
                for (v, add) in row.iter_mut().zip(&r[i * h..(i + 1) * h]) {
                    *v += add;
                }
            }
            let mean = lane_sum(row, |v| v) / h as f32;
            let var = lane_sum(row, |v| (v - mean) * (v - mean)) / h as f32;
            let inv = 1.0 / (var + eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(g).zip(b) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }
}

/// Rows per parallel LayerNorm task: a few microseconds of work, well above rayon's overhead.
const LN_ROWS: usize = 64;

/// [`add_layer_norm_rows`] over blocks of rows in parallel (it is one of the passes between the
/// matrix products, which on one thread left the other core idle).
fn add_layer_norm(x: &mut [f32], r: &[f32], g: &[f32], b: &[f32], h: usize, eps: f32) {
    if x.len() <= LN_ROWS * h || rayon::current_num_threads() < 2 {
        return add_layer_norm_rows(x, r, g, b, h, eps);
    }
    if r.is_empty() {
        x.par_chunks_mut(LN_ROWS * h).for_each(|x| add_layer_norm_rows(x, &[], g, b, h, eps));
    } else {
        x.par_chunks_mut(LN_ROWS * h).zip(r.par_chunks(LN_ROWS * h)).for_each(|(x, r)| add_layer_norm_rows(x, r, g, b, h, eps));
    }
}

multiversion! {
    /// Quantises each row of `x` (`m × k`) to unsigned bytes with its own scale and zero point.
    /// Per row rather than per tensor: a text's outlier activations then cost precision only in
    /// that row. The range always includes 0, so exact zeros stay exact.
    #[cfg(target_arch = "x86_64")]
    fn quantize_rows(x: &[f32], k: usize, out: &mut [u8], rq: &mut [vnni::RowQuant]) {
        for ((row, o), q) in x.chunks_exact(k).zip(out.chunks_exact_mut(k)).zip(rq.iter_mut()) {
            let (lo, hi) = row.iter().fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
            let zero = (-lo / scale).round().clamp(0.0, 255.0);
            let inv = 1.0 / scale;
            for (o, &v) in o.iter_mut().zip(row) {
                // Clamped to 0..=255 first, so adding a half and truncating rounds to nearest.
                *o = ((v * inv + zero).clamp(0.0, 255.0) + 0.5) as u8;
            }
            *q = vnni::RowQuant { scale, zero: zero as i32 };
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

/// The exact GELU, `x · Φ(x)`, in place.
fn gelu(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if packed_kernel_available() {
        // SAFETY: AVX-512F was detected.
        return unsafe { avx512::gelu(x) };
    }
    gelu_portable(x)
}

multiversion! {
    /// [`gelu`] in a plain loop the compiler vectorises.
    fn gelu_portable(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// `e^x` for `x ≤ 0` (softmax after subtracting the maximum), branch-free so that it
/// vectorises: `e^x = 2^n · e^r` with `n = round(x · log2 e)` and `|r| ≤ ln2 / 2`, `e^r` by its
/// degree-6 Taylor polynomial (relative error below 3e-7). libm's scalar `expf` was the largest
/// single cost of attention over long passages.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5 · 2^23: adding it rounds to an integer that then sits in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    // Below -87, e^x is under f32's normal range; clamping keeps 2^n's exponent field valid.
    let x = x.clamp(-87.0, 0.0);
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let i = t.to_bits() as i32 - MAGIC.to_bits() as i32;
    p * f32::from_bits(((i + 127) << 23) as u32)
}

/// Keys per block of the attention scores: one AVX-512 register.
const KEYS: usize = 16;

/// Self-attention of one text and one head. `qkv` holds the text's rows of the packed QKV
/// matrix (`len × 3h`); the head's context is written to `out` (`len × dh`, row-major).
/// `scratch` is reused between calls.
#[allow(clippy::too_many_arguments)]
fn attend(qkv: &[f32], len: usize, h: usize, head: usize, dh: usize, scale: f32, scratch: &mut Vec<f32>, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if dh == 32 && packed_kernel_available() {
        assert!(len > 0 && qkv.len() == len * 3 * h && out.len() == len * dh && head * dh + dh <= h, "attend: shapes");
        // SAFETY: AVX-512F was detected; the shapes were just asserted.
        return unsafe { avx512::attend32(qkv, len, h, head, scale, scratch, out) };
    }
    attend_portable(qkv, len, h, head, dh, scale, scratch, out)
}

multiversion! {
    /// [`attend`] in plain loops the compiler vectorises, for any head size and instruction set.
    fn attend_portable(qkv: &[f32], len: usize, h: usize, head: usize, dh: usize, scale: f32, scratch: &mut Vec<f32>, out: &mut [f32]) {
        // The head size as a constant: a query's context then lives in registers across keys.
        match dh {
            32 => attend_head::<32>(qkv, len, h, head, scale, scratch, out),
            64 => attend_head::<64>(qkv, len, h, head, scale, scratch, out),
            16 => attend_head::<16>(qkv, len, h, head, scale, scratch, out),
            128 => attend_head::<128>(qkv, len, h, head, scale, scratch, out),
            _ => panic!("attention head size {dh} is not one the CPU pass is built for (16, 32, 64, 128)"),
        }
    }
}

/// [`attend`] for head size `DH`; inlined into each of its instruction-set versions.
#[inline(always)]
fn attend_head<const DH: usize>(qkv: &[f32], len: usize, h: usize, head: usize, scale: f32, scratch: &mut Vec<f32>, out: &mut [f32]) {
    let row = 3 * h;
    let (qo, ko, vo) = (head * DH, h + head * DH, 2 * h + head * DH);
    // Keys padded to whole registers: every loop below runs on full vectors, no scalar tails.
    // The padding keys are zero and their scores are set to -inf, so they get no weight.
    let lp = len.div_ceil(KEYS) * KEYS;
    scratch.clear();
    scratch.resize(lp * (DH + 1), 0.0);
    let (kt, scores) = scratch.split_at_mut(DH * lp);
    // The head's keys, transposed to `dh × lp`: a query's scores against a block of 16 keys are
    // then `dh` unit-stride multiply-adds into one register, instead of 16 short dot products
    // each ending in a horizontal sum.
    for j in 0..len {
        let k: &[f32; DH] = qkv[j * row + ko..j * row + ko + DH].try_into().expect("head slice");
        for (d, &kd) in k.iter().enumerate() {
            kt[d * lp + j] = kd;
        }
    }
    for i in 0..len {
        let mut q = [0f32; DH];
        for (q, &v) in q.iter_mut().zip(&qkv[i * row + qo..i * row + qo + DH]) {
            *q = v * scale;
        }
        for (c, s) in scores.chunks_exact_mut(KEYS).enumerate() {
            let mut acc = [0f32; KEYS];
            for (d, &qd) in q.iter().enumerate() {
                let k = &kt[d * lp + c * KEYS..d * lp + (c + 1) * KEYS];
                for (a, &kv) in acc.iter_mut().zip(k) {
                    *a += qd * kv;
                }
            }
            s.copy_from_slice(&acc);
        }
        scores[len..].fill(f32::NEG_INFINITY);
        let mut mx = [f32::NEG_INFINITY; KEYS];
        for c in scores.chunks_exact(KEYS) {
            for (m, &v) in mx.iter_mut().zip(c) {
                *m = m.max(v);
            }
        }
        let max = mx.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let mut sums = [0f32; KEYS];
        for c in scores.chunks_exact_mut(KEYS) {
            for (sum, v) in sums.iter_mut().zip(c) {
                *v = exp_nonpositive(*v - max);
                *sum += *v;
            }
        }
        let inv = 1.0 / sums.iter().sum::<f32>();
        // Σ_j p_j · v_j, normalised once at the end.
        let mut o = [0f32; DH];
        for (j, &p) in scores[..len].iter().enumerate() {
            let v: &[f32; DH] = qkv[j * row + vo..j * row + vo + DH].try_into().expect("head slice");
            for (o, &v) in o.iter_mut().zip(v) {
                *o += p * v;
            }
        }
        for (dst, o) in out[i * DH..(i + 1) * DH].iter_mut().zip(o) {
            *dst = o * inv;
        }
    }
}

impl CpuBert {
    /// Switches every matrix product to int8 (see [`Int8Weight`]). Returns false, and stays
    /// fp32, on a CPU without AVX-512 VNNI.
    pub fn quantize(&mut self) -> bool {
        if !int8_kernel_available() {
            return false;
        }
        let mut all = true;
        for l in &mut self.layers {
            for w in [&mut l.qkv_w, &mut l.out_w, &mut l.ff1_w, &mut l.ff2_w] {
                all &= w.quantize();
            }
        }
        all
    }

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

        let mut bufs = self.scratch.lock().pop().unwrap_or_default();
        let Scratch { x, qkv, ctx, tmp, ff } = &mut bufs;
        let (x, qkv, ctx, tmp, ff) = (sized(x, n * h), sized(qkv, n * 3 * h), sized(ctx, n * h), sized(tmp, n * h), sized(ff, n * self.intermediate));
        // Embeddings, packed: row t of text s is word[id] + position[t] + segment 0.
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
        add_layer_norm(x, &[], &self.ln_g, &self.ln_b, h, self.eps);

        let scale = 1.0 / (dh as f32).sqrt();
        let pairs: Vec<(usize, usize)> = (0..batch.len()).flat_map(|s| (0..self.heads).map(move |hd| (s, hd))).collect();
        for layer in &self.layers {
            linear(qkv, x, &layer.qkv_w, &layer.qkv_b, n, Act::None);

            // Attention per (text, head), each pair computing its context in a scratch block and
            // copying it into its own columns of its text's rows of `ctx`, on its own thread.
            let work: usize = lens.iter().map(|l| l * l).sum::<usize>() * self.heads * dh;
            let c = ctx.as_mut_ptr() as usize;
            let run = |&(s, hd): &(usize, usize), (scratch, block): &mut (Vec<f32>, Vec<f32>)| {
                let (off, len) = (offsets[s], lens[s]);
                block.resize(len * dh, 0.0);
                attend(&qkv[off * 3 * h..(off + len) * 3 * h], len, h, hd, dh, scale, scratch, block);
                for (t, src) in block.chunks_exact(dh).enumerate() {
                    // SAFETY: `ctx` holds `n × h` floats and row `off + t < n`, columns
                    // `hd·dh..(hd+1)·dh ≤ h`: this pair's alone, as (text, head) pairs are
                    // distinct and texts' rows disjoint; nothing else touches `ctx` meanwhile.
                    unsafe { std::slice::from_raw_parts_mut((c as *mut f32).add((off + t) * h + hd * dh), dh) }.copy_from_slice(src);
                }
            };
            if work > 200_000 {
                pairs.par_iter().for_each_init(Default::default, |bufs, pair| run(pair, bufs));
            } else {
                let mut bufs = Default::default();
                pairs.iter().for_each(|pair| run(pair, &mut bufs));
            }

            linear(tmp, ctx, &layer.out_w, &layer.out_b, n, Act::None);
            add_layer_norm(x, tmp, &layer.ln1_g, &layer.ln1_b, h, self.eps);
            linear(ff, x, &layer.ff1_w, &layer.ff1_b, n, Act::Gelu);
            linear(tmp, ff, &layer.ff2_w, &layer.ff2_b, n, Act::None);
            add_layer_norm(x, tmp, &layer.ln2_g, &layer.ln2_b, h, self.eps);
        }

        // Mean over each text's tokens (no padding exists to mask), then L2 normalisation.
        let pooled = (0..batch.len())
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
            .collect();
        let mut pool = self.scratch.lock();
        if bufs.bytes() <= SCRATCH_KEEP && pool.len() < SCRATCH_POOL {
            pool.push(bufs);
        }
        drop(pool);
        pooled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_softmax_exponential_matches_libm() {
        let mut x = -90.0f32;
        while x <= 0.0 {
            let (ours, libm) = (exp_nonpositive(x), x.exp());
            assert!((ours - libm).abs() <= 1e-6 * libm + 1e-37, "e^{x}: {ours} vs {libm}");
            x += 0.013;
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
    }

    #[test]
    fn int8_products_stay_within_a_percent_of_fp32() {
        // 13 rows (whole blocks of rows and a tail) by 128 columns (two groups of panels),
        // k = 48; activations with an outlier column, as BERT's have.
        let (m, k, n) = (13, 48, 128);
        let lhs: Vec<f32> = (0..m * k).map(|i| if i % k == 5 { 12.0 } else { ((i * 37 % 101) as f32 - 40.0) / 50.0 }).collect();
        let w: Vec<f32> = (0..k * n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 480.0).collect();
        let bias: Vec<f32> = (0..n).map(|i| i as f32 / 10.0).collect();
        let mut weight = Weight::new(w.clone(), k, n);
        if !weight.quantize() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI, so there is no int8 kernel to test");
            return;
        }
        let mut got = vec![0f32; m * n];
        linear(&mut got, &lhs, &weight, &bias, m, Act::None);
        let want: Vec<f32> = (0..m * n).map(|i| bias[i % n] + (0..k).map(|kk| lhs[(i / n) * k + kk] * w[kk * n + i % n]).sum::<f32>()).collect();
        let err = got.iter().zip(&want).map(|(g, w)| (g - w) * (g - w)).sum::<f32>().sqrt();
        let norm = want.iter().map(|w| w * w).sum::<f32>().sqrt();
        assert!(err / norm < 0.01, "relative error {}", err / norm);
    }

    #[test]
    fn the_gelu_kernels_agree_with_the_exact_gelu() {
        // Two whole registers and a tail; from deep negative to large positive, and the
        // outliers BERT's activations have.
        let mut x: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) / 3.0).collect();
        x.extend([-1e4, -60.0, -15.0, 15.0, 60.0, 1e4]);
        let (mut fast, mut plain) = (x.clone(), x.clone());
        gelu(&mut fast);
        gelu_portable(&mut plain);
        for ((f, p), &v) in fast.iter().zip(&plain).zip(&x) {
            let exact = 0.5 * v as f64 * (1.0 + libm_erf(v as f64 / std::f64::consts::SQRT_2));
            assert!((*f as f64 - exact).abs() < 1e-5 * (1.0 + exact.abs()), "gelu({v}) = {f}, exact {exact}");
            assert!((f - p).abs() <= 1e-6 * (1.0 + p.abs()), "gelu({v}): {f} vs {p}");
        }
    }

    /// erf by its Taylor series (|x| < 3) or continued fraction, in f64: a reference only.
    fn libm_erf(x: f64) -> f64 {
        if x.abs() < 3.0 {
            let (mut term, mut sum, mut n) = (x, x, 0.0);
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -x * x / n;
                sum += term / (2.0 * n + 1.0);
            }
            2.0 / std::f64::consts::PI.sqrt() * sum
        } else {
            // erfc(x) ≈ e^{-x²} / (x √π) · (1 - 1/(2x²) + 3/(4x⁴)) is ample beyond 3.
            let y = x.abs();
            let erfc = (-y * y).exp() / (y * std::f64::consts::PI.sqrt()) * (1.0 - 1.0 / (2.0 * y * y) + 3.0 / (4.0 * y.powi(4)));
            (1.0 - erfc).copysign(x)
        }
    }

    #[test]
    fn attention_kernels_agree() {
        // Lengths below, at and past a block of 8 queries and 16 keys; head 2 of 12 (h = 384).
        let (h, dh) = (384, 32);
        for len in [1, 8, 13, 37] {
            let qkv: Vec<f32> = (0..len * 3 * h).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
            let (mut want, mut got) = (vec![0f32; len * dh], vec![0f32; len * dh]);
            attend_portable(&qkv, len, h, 2, dh, 0.17, &mut Vec::new(), &mut want);
            attend(&qkv, len, h, 2, dh, 0.17, &mut Vec::new(), &mut got);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() < 1e-4, "len {len}, element {i}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn packed_and_row_major_products_agree() {
        // 13 rows exercises full blocks of rows and a tail; 192 columns whole groups of panels
        // for either kernel shape; k = 300 several blocks of the AVX-512 kernel's k, the last
        // one partial.
        for (m, k, n) in [(13, 40, 192), (13, 300, 192)] {
            let lhs: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
            let w: Vec<f32> = (0..k * n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
            let bias: Vec<f32> = (0..n).map(|i| i as f32 / 10.0).collect();
            let mut got = vec![0f32; m * n];
            linear(&mut got, &lhs, &Weight::new(w.clone(), k, n), &bias, m, Act::None);
            for r in 0..m {
                for c in 0..n {
                    let want: f32 = bias[c] + (0..k).map(|kk| lhs[r * k + kk] * w[kk * n + c]).sum::<f32>();
                    assert!((got[r * n + c] - want).abs() < 1e-4, "k {k} ({r},{c}): {} vs {want}", got[r * n + c]);
                }
            }
        }
    }
}

//! The CPU forward pass of the BERT encoder, written for the shapes this model sees: many short
//! texts, each a few dozen tokens.
//!
//! Why not candle's tensor ops here: on CPU, per-op dispatch, allocation and the padded 4-D
//! batched attention cost more than the arithmetic for short texts. This pass instead
//! - packs the tokens of every text in a batch into one `[tokens, hidden]` matrix, so no FLOP is
//!   spent on padding and each projection is one matrix product: a hand-written AVX-512 or AVX2
//!   kernel over weights packed once at load (see [`Weight`]), or `gemm` (the kernel crate
//!   candle uses) on the portable path;
//! - fuses QKV into one GEMM, writes biases as the GEMM's initial value, applies GELU to each
//!   tile of the feed-forward product while it is in cache, and runs attention per (text, head)
//!   directly on slices of the packed QKV matrix, in parallel (with AVX-512 or AVX2, 8 queries
//!   at a time: `avx512::attend32`, `avx2::attend32`);
//! - fuses residual + LayerNorm (in parallel over rows, with vectorised sums) and uses a
//!   vectorisable erf for the exact (erf) GELU;
//! - leaves no pass between the products on one thread, and is entered on a rayon worker (see
//!   `MiniLm::embed`), so the other core does not idle or sleep between parallel regions.
//!
//! The weights are the same tensors candle loaded; the candle tensor path remains for CUDA.
//!
//! Which kernels run is chosen once, at load ([`Kernels`]: AVX-512, AVX2 with or without
//! AVX-VNNI, or portable), from what the CPU has, and can be forced with `SHOPKEEP_CPU_KERNELS`.
//! Why hand-written kernels at all, where `gemm` exists: `gemm` repacks its right-hand side on
//! every call, which for the dozen rows of one question costs as much as the arithmetic, and
//! below its threading threshold runs on one core. Measured on a shared 2-core AMD EPYC (AVX-512
//! machine, each path forced), one question at a time, p50: portable (`gemm`) 10-11 ms, the
//! packed AVX2 kernels 2.2 ms in a quiet minute (4.5 in a busy one); the figures for every
//! path are in the README's Speed section. The portable path (`gemm` and loops the compiler vectorises) is the
//! reference the parity tests compare every other path with.

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

/// The instruction sets the hand-written kernels are built for, best first.
///
/// Chosen at load from the CPU ([`Kernels::detect`]), or forced by the environment variable
/// [`KERNELS_ENV`] (`avx512`, `avx2-vnni`, `avx2`, `portable`), e.g. to measure the AVX2 path on
/// an AVX-512 machine or to rule the kernels out when chasing a wrong vector. A forced level the
/// CPU lacks falls back to the best it has, with a warning (running it would fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// AVX-512F/VL f32 kernels; int8 with AVX-512 VNNI (`vpdpbusd` on zmm), or the AVX2 int8
    /// kernel where the CPU lacks VNNI.
    Avx512,
    /// AVX2 + FMA f32 kernels; int8 with AVX-VNNI (`vpdpbusd` on ymm).
    Avx2Vnni,
    /// AVX2 + FMA f32 kernels; int8 weights with `vpmaddwd` (see [`Int8Kernel::Madd`]).
    /// The AMD EPYCs before Zen 4 and most Intel CPUs before Ice Lake are this.
    Avx2,
    /// `gemm` and plain loops, compiled for baseline x86-64 (or whatever the target is): no
    /// hand-written kernel, no int8.
    Portable,
}

/// The environment variable that forces a [`Kernels`] level.
pub const KERNELS_ENV: &str = "SHOPKEEP_CPU_KERNELS";

impl Kernels {
    /// Every level, best first.
    pub const ALL: [Kernels; 4] = [
        Kernels::Avx512,
        Kernels::Avx2Vnni,
        Kernels::Avx2,
        Kernels::Portable,
    ];

    /// Whether this CPU can run the level.
    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let avx2 = has!("avx2") && has!("fma");
            match self {
                Kernels::Avx512 => avx2 && has!("avx512f") && has!("avx512vl"),
                Kernels::Avx2Vnni => avx2 && has!("avxvnni"),
                Kernels::Avx2 => avx2,
                Kernels::Portable => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Kernels::Portable
        }
    }

    /// The levels this CPU can run, best first (the parity tests run each).
    pub fn available() -> Vec<Kernels> {
        Self::ALL.into_iter().filter(|k| k.supported()).collect()
    }

    /// The best level this CPU has.
    pub fn detect() -> Kernels {
        Self::ALL
            .into_iter()
            .find(|k| k.supported())
            .unwrap_or(Kernels::Portable)
    }

    /// [`KERNELS_ENV`]'s level when it names one this CPU has, else [`Kernels::detect`].
    pub fn from_env() -> Kernels {
        let Ok(value) = std::env::var(KERNELS_ENV) else {
            return Self::detect();
        };
        match value.parse::<Kernels>() {
            Ok(k) if k.supported() => k,
            Ok(k) => {
                let best = Self::detect();
                tracing::warn!(
                    "{KERNELS_ENV}={value}: this CPU cannot run the {k} kernels; using {best}"
                );
                best
            }
            Err(e) => {
                let best = Self::detect();
                tracing::warn!("{KERNELS_ENV}: {e}; using {best}");
                best
            }
        }
    }

    /// The int8 product kernel at this level, if it has one.
    pub(crate) fn int8(self) -> Option<Int8Kernel> {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Kernels::Avx512 if std::arch::is_x86_feature_detected!("avx512vnni") => {
                    Some(Int8Kernel::Vnni512)
                }
                Kernels::Avx512 | Kernels::Avx2 => Some(Int8Kernel::Madd),
                Kernels::Avx2Vnni => Some(Int8Kernel::VnniYmm),
                Kernels::Portable => None,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            None
        }
    }
}

impl std::fmt::Display for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kernels::Avx512 => "avx512",
            Kernels::Avx2Vnni => "avx2-vnni",
            Kernels::Avx2 => "avx2",
            Kernels::Portable => "portable",
        })
    }
}

impl std::str::FromStr for Kernels {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.to_string().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown CPU kernels {s:?} (avx512, avx2-vnni, avx2 or portable)")
            })
    }
}

/// The int8 matrix kernels (see [`Int8Weight`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Int8Kernel {
    /// AVX-512 VNNI: `vpdpbusd` on zmm, 64 multiply-adds per instruction.
    Vnni512,
    /// AVX-VNNI: `vpdpbusd` on ymm, 32.
    VnniYmm,
    /// AVX2: int8 weights sign-extended to 16 bits as they are loaded (`vpmovsxbw`), 12-bit
    /// activations, and `vpmaddwd` (16 lanes of 16-bit products summed in pairs into 32 bits):
    /// 16 multiply-adds per instruction, twice an f32 FMA's, from a quarter of the weight bytes.
    /// Why not `vpmaddubsw` (32 byte products into 16-bit pair sums): those sums saturate
    /// unless weights or activations lose a bit, and with 7-bit weights the vectors fell below
    /// cosine 0.99 to fp32 (0.9896 for the shortest text); it then needs a `vpmaddwd` by ones
    /// anyway, so it issues as many multiplies per multiply-add as this.
    Madd,
}

impl Int8Kernel {
    /// Rows of `W` per group in the weight layout: what one lane's instruction sums.
    fn group(self) -> usize {
        match self {
            Int8Kernel::Madd => 2,
            _ => 4,
        }
    }

    /// The quantisation levels of an activation row above its minimum: 8 bits for the unsigned
    /// bytes `vpdpbusd` takes, 12 for the 16-bit lanes of `vpmaddwd` (the most for which a
    /// product over k = 1536 stays within 32 bits: 1536 · 4095 · 127 < 2³¹).
    fn act_levels(self) -> f32 {
        match self {
            Int8Kernel::Madd => 4095.0,
            _ => 255.0,
        }
    }
}

impl std::fmt::Display for Int8Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Int8Kernel::Vnni512 => "avx512-vnni",
            Int8Kernel::VnniYmm => "avx-vnni",
            Int8Kernel::Madd => "avx2-vpmaddwd",
        })
    }
}

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
    /// The kernels every product, attention, GELU and LayerNorm of this model run.
    pub kernels: Kernels,
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
        4 * (self.x.capacity()
            + self.qkv.capacity()
            + self.ctx.capacity()
            + self.tmp.capacity()
            + self.ff.capacity())
    }
}

/// Sets `v` to `len` elements without clearing what it holds: every caller overwrites them all.
fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    v.resize(len, 0.0);
    &mut v[..len]
}

/// A linear layer's weight matrix `[k (in) × n (out)]`, in the layout its kernel reads.
///
/// For the AVX-512 and AVX2 kernels the matrix is stored as column panels of 16 floats (one
/// zmm, two ymm): panel `p` holds `W[0..k, 16p..16p+16]` contiguously. The kernel then streams
/// each panel once per block of rows with unit-stride loads, and nothing is repacked per call:
/// the packing happens once, at load. (`gemm` repacks its right-hand side on every call, which
/// for the dozen rows of one question costs as much as the arithmetic.) On the portable path it
/// stays row-major for `gemm`.
pub struct Weight {
    data: Vec<f32>,
    k: usize,
    n: usize,
    packed: bool,
    kernels: Kernels,
    /// The int8 form, when [`Weight::quantize`] made one; the float data is then dropped.
    int8: Option<Int8Weight>,
}

/// A weight quantised for the int8 kernels ([`Int8Kernel`]): `vpdpbusd` (16 or 8 lanes × 4
/// unsigned-by-signed byte products per instruction) or `vpmaddubsw` + `vpmaddwd`.
///
/// Symmetric per output column: `W[kk, c] ≈ scale[c] · q[kk, c]` with `q` in -127..=127. Laid
/// out as column panels of 16 like the f32 form, and within a panel as groups of 4 rows (2 for
/// [`Int8Kernel::Madd`]): the 64 bytes of group `g` hold, for each of the panel's 16 columns,
/// `q[4g..4g+4, c]`, exactly the operand `vpdpbusd` multiplies with four consecutive
/// activations broadcast to every lane (on ymm, the first 32 bytes are columns 0..8, the next
/// 32 columns 8..16). For `Madd` the 32 bytes of a group hold `q[2g..2g+2, c]` per column,
/// which sign-extend to the 16-bit pairs `vpmaddwd` multiplies with two activations.
struct Int8Weight {
    data: Vec<i8>,
    scale: Vec<f32>,
    /// `Σ_kk q[kk, c]`: removes the activations' zero point from the integer product.
    colsum: Vec<i32>,
    kernel: Int8Kernel,
}

impl Weight {
    /// From a row-major `[k × n]` matrix, laid out for `kernels`.
    pub fn new(row_major: Vec<f32>, k: usize, n: usize, kernels: Kernels) -> Self {
        assert_eq!(row_major.len(), k * n, "weight matrix size");
        if kernels == Kernels::Portable || !n.is_multiple_of(F32_PANELS * PANEL) {
            return Self {
                data: row_major,
                k,
                n,
                packed: false,
                kernels,
                int8: None,
            };
        }
        let mut data = vec![0f32; k * n];
        for p in 0..n / PANEL {
            for kk in 0..k {
                let dst = &mut data[(p * k + kk) * PANEL..(p * k + kk + 1) * PANEL];
                dst.copy_from_slice(&row_major[kk * n + p * PANEL..kk * n + (p + 1) * PANEL]);
            }
        }
        Self {
            data,
            k,
            n,
            packed: true,
            kernels,
            int8: None,
        }
    }

    /// Element `(kk, c)` of the matrix, whatever its layout.
    fn at(&self, kk: usize, c: usize) -> f32 {
        if self.packed {
            self.data[((c / PANEL) * self.k + kk) * PANEL + c % PANEL]
        } else {
            self.data[kk * self.n + c]
        }
    }

    /// Switches this weight to int8 products. Returns false, leaving it f32, where its kernels
    /// have no int8 form (portable) or the shape does not fit the kernel (`k` a multiple of 4,
    /// `n` of 64).
    pub fn quantize(&mut self) -> bool {
        if self.int8.is_some() {
            return true;
        }
        let Some(kernel) = self.kernels.int8() else {
            return false;
        };
        if !self.k.is_multiple_of(4) || !self.n.is_multiple_of(I8_PANELS * PANEL) {
            return false;
        }
        let (k, n) = (self.k, self.n);
        let gr = kernel.group();
        let groups = k / gr;
        let qmax = 127.0;
        let mut data = vec![0i8; k * n];
        let mut scale = vec![0f32; n];
        let mut colsum = vec![0i32; n];
        for c in 0..n {
            let amax = (0..k).map(|kk| self.at(kk, c).abs()).fold(0f32, f32::max);
            let s = if amax > 0.0 { amax / qmax } else { 1.0 };
            scale[c] = s;
            let (p, j) = (c / PANEL, c % PANEL);
            for kk in 0..k {
                let q = (self.at(kk, c) / s).round().clamp(-qmax, qmax) as i8;
                data[(p * groups + kk / gr) * gr * PANEL + j * gr + kk % gr] = q;
                colsum[c] += q as i32;
            }
        }
        self.int8 = Some(Int8Weight {
            data,
            scale,
            colsum,
            kernel,
        });
        self.data = Vec::new();
        true
    }
}

/// Floats per panel: one AVX-512 register.
const PANEL: usize = 16;
/// How far ahead (rows of a panel, 64 bytes each) the first row block of a tile prefetches its
/// weights: 4 KiB, a few hundred cycles of the kernel, about one memory latency.
const PREFETCH_ROWS: usize = 64;
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
    /// rows of `P` panels `kw × 16` floats apart. With `PF`, each panel is prefetched
    /// [`super::PREFETCH_ROWS`] rows ahead (see [`tile`]).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    pub unsafe fn kernel<const R: usize, const PF: bool>(
        dst: *mut f32,
        ldd: usize,
        x: *const f32,
        ldx: usize,
        w: *const f32,
        kc: usize,
        kw: usize,
        init: *const f32,
        ldi: usize,
    ) {
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
                    if PF {
                        // A prefetch never faults, so running past the panel's end is harmless
                        // (`wrapping_add`: the address may be outside the allocation).
                        _mm_prefetch::<_MM_HINT_T0>(
                            w.wrapping_add(p * kw * PANEL + (kk + super::PREFETCH_ROWS) * PANEL)
                                as *const i8,
                        );
                    }
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

    /// One tile: rows `r0..r1` of `dst`/`x`, panel groups `q0..q1`, each group in blocks of
    /// [`KC`] rows of `W`.
    ///
    /// Why blocks of `k`: a group of panels over all of `k` = 384 is 48 KiB or more, more than
    /// L1, so each row block would stream it from L2 again; [`KC`] rows of it stay in L1 for
    /// every row block of the tile. (Measured alone on one core: 3-10% faster for every product
    /// shape.) Why a group's blocks one after another (rather than every group's first block,
    /// then every group's second): each panel is then read from memory front to back in one
    /// run, and the first row block prefetches it ahead. With few rows (one question: a dozen)
    /// there is little arithmetic per byte of `W` and the product waits on memory; in 4 KiB
    /// runs the hardware prefetcher never got ahead. (One question at a time on a shared
    /// 2-core EPYC, interleaved with the previous order: 345 → 368 questions/s, best of three;
    /// on the AVX2 kernel, whose tiles are one panel wide, the change was larger: 8.2 → 4.5 ms
    /// p50 in the same busy minutes.)
    ///
    /// # Safety
    /// As [`kernel`], for every row and group in range (`bias` addresses `n` floats); no other
    /// thread writes this tile.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile(
        dst: *mut f32,
        x: *const f32,
        w: *const f32,
        k: usize,
        n: usize,
        bias: *const f32,
        (r0, r1): (usize, usize),
        (q0, q1): (usize, usize),
    ) {
        unsafe {
            for q in q0..q1 {
                let bq = bias.add(P * q * PANEL);
                let mut k0 = 0;
                while k0 < k {
                    let kc = KC.min(k - k0);
                    let wq = w.add(P * q * k * PANEL + k0 * PANEL);
                    let mut r = r0;
                    while r < r1 {
                        let rows = (r1 - r).min(super::F32_ROWS);
                        let (d, xr) = (dst.add(r * n + P * q * PANEL), x.add(r * k + k0));
                        let (init, ldi) = if k0 == 0 {
                            (bq, 0)
                        } else {
                            (d as *const f32, n)
                        };
                        macro_rules! call {
                            ($pf:literal; $($n:literal)*) => {
                                match rows {
                                    $($n => kernel::<$n, $pf>(d, n, xr, k, wq, kc, k, init, ldi),)*
                                    _ => kernel::<1, $pf>(d, n, xr, k, wq, kc, k, init, ldi),
                                }
                            };
                        }
                        if r == r0 {
                            call!(true; 6 5 4 3 2);
                        } else {
                            call!(false; 6 5 4 3 2);
                        }
                        r += rows;
                    }
                    k0 += kc;
                }
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
                for k in [
                    0.000_276_567_2,
                    0.000_152_014_3,
                    0.009_270_527,
                    0.042_282_01,
                    0.070_523_08,
                    1.0,
                ] {
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
                let erf = _mm512_castsi512_ps(_mm512_or_si512(
                    _mm512_castps_si512(erf_abs),
                    _mm512_and_si512(_mm512_castps_si512(z), sign),
                ));
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
    pub unsafe fn attend32(
        qkv: &[f32],
        len: usize,
        h: usize,
        head: usize,
        scale: f32,
        scratch: &mut Vec<f32>,
        out: &mut [f32],
    ) {
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
                            acc[r] = _mm512_fmadd_ps(
                                _mm512_set1_ps(*q.get_unchecked(r * DH + d)),
                                k,
                                acc[r],
                            );
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
    pub unsafe fn kernel<const R: usize>(
        dst: *mut f32,
        ldd: usize,
        x: *const u8,
        ldx: usize,
        rq: *const RowQuant,
        w: *const i8,
        groups: usize,
        scale: *const f32,
        colsum: *const i32,
    ) {
        unsafe {
            let mut acc = [[_mm512_setzero_si512(); P]; R];
            for g in 0..groups {
                let mut wv = [_mm512_setzero_si512(); P];
                for p in 0..P {
                    wv[p] = _mm512_loadu_si512(w.add((p * groups + g) * 4 * PANEL) as *const _);
                }
                for r in 0..R {
                    let xv = _mm512_set1_epi32(std::ptr::read_unaligned(
                        x.add(r * ldx + 4 * g) as *const i32
                    ));
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
                    let v = _mm512_cvtepi32_ps(_mm512_sub_epi32(
                        acc[r][p],
                        _mm512_mullo_epi32(zero, cs),
                    ));
                    let d = dst.add(r * ldd + p * PANEL);
                    _mm512_storeu_ps(
                        d,
                        _mm512_fmadd_ps(v, _mm512_mul_ps(s, ws), _mm512_loadu_ps(d)),
                    );
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
    pub unsafe fn tile(
        dst: *mut f32,
        x: *const u8,
        rq: *const RowQuant,
        w: &super::Int8Weight,
        k: usize,
        n: usize,
        (r0, r1): (usize, usize),
        (q0, q1): (usize, usize),
    ) {
        unsafe {
            let groups = k / 4;
            for q in q0..q1 {
                let wq = w.data.as_ptr().add(P * q * groups * 4 * PANEL);
                let (scale, colsum) = (
                    w.scale.as_ptr().add(P * q * PANEL),
                    w.colsum.as_ptr().add(P * q * PANEL),
                );
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

/// The AVX2 (+ FMA) kernels: the same algorithms as [`avx512`]'s, on 8-lane ymm registers, for
/// the CPUs many stores run (AMD EPYC before Zen 4, Intel before Ice Lake, and the AVX-VNNI
/// Atom-class Xeons). Weights are in the same 16-column panels; each panel is two registers.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::PANEL;

    /// Rows per f32 micro-kernel call: 6 rows × one panel (two registers) = 12 accumulators,
    /// with the panel's two weight vectors and a broadcast, 15 of the 16 ymm registers (the shape
    /// BLIS uses on Haswell and Zen).
    pub const ROWS: usize = 6;
    /// Rows of `W` per block of [`tile`]: 192 rows of one panel are 12 KiB, in L1 beside the
    /// block's rows of `x` (6 × 192 floats), and 384 and 1536 are whole multiples of it.
    const KC: usize = 192;

    /// `dst[r, 0..16] = init[r, 0..16] + Σ_kk x[r, kk] · W[kk, 0..16]` over `kc` rows of one
    /// panel, for `R` rows (see `avx512::kernel`).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `dst` addresses `R` rows of 16 floats at stride `ldd`, `init`
    /// at stride `ldi`; `x` addresses `R` rows of `kc` floats at stride `ldx`; `w` addresses
    /// `kc` rows of 16 floats. `PF` prefetches as in `avx512::kernel`.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    pub unsafe fn kernel<const R: usize, const PF: bool>(
        dst: *mut f32,
        ldd: usize,
        x: *const f32,
        ldx: usize,
        w: *const f32,
        kc: usize,
        init: *const f32,
        ldi: usize,
    ) {
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            for r in 0..R {
                acc[r][0] = _mm256_loadu_ps(init.add(r * ldi));
                acc[r][1] = _mm256_loadu_ps(init.add(r * ldi + 8));
            }
            for kk in 0..kc {
                let (w0, w1) = (
                    _mm256_loadu_ps(w.add(kk * PANEL)),
                    _mm256_loadu_ps(w.add(kk * PANEL + 8)),
                );
                if PF {
                    // Never faults; past the panel's end it fetches the next panel, read next.
                    _mm_prefetch::<_MM_HINT_T0>(
                        w.wrapping_add((kk + super::PREFETCH_ROWS) * PANEL) as *const i8,
                    );
                }
                for r in 0..R {
                    let xv = _mm256_broadcast_ss(&*x.add(r * ldx + kk));
                    acc[r][0] = _mm256_fmadd_ps(xv, w0, acc[r][0]);
                    acc[r][1] = _mm256_fmadd_ps(xv, w1, acc[r][1]);
                }
            }
            for r in 0..R {
                _mm256_storeu_ps(dst.add(r * ldd), acc[r][0]);
                _mm256_storeu_ps(dst.add(r * ldd + 8), acc[r][1]);
            }
        }
    }

    /// One tile: rows `r0..r1` of `dst`/`x`, panels `p0..p1`, each panel in blocks of [`KC`]
    /// rows of `W` (see `avx512::tile`: here the tile's panels are one run of memory, read
    /// front to back).
    ///
    /// # Safety
    /// As [`kernel`], for every row and panel in range (`bias` addresses `n` floats); no other
    /// thread writes this tile.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile(
        dst: *mut f32,
        x: *const f32,
        w: *const f32,
        k: usize,
        n: usize,
        bias: *const f32,
        (r0, r1): (usize, usize),
        (p0, p1): (usize, usize),
    ) {
        unsafe {
            for p in p0..p1 {
                let bp = bias.add(p * PANEL);
                let mut k0 = 0;
                while k0 < k {
                    let kc = KC.min(k - k0);
                    let wp = w.add(p * k * PANEL + k0 * PANEL);
                    let mut r = r0;
                    while r < r1 {
                        let rows = (r1 - r).min(ROWS);
                        let (d, xr) = (dst.add(r * n + p * PANEL), x.add(r * k + k0));
                        let (init, ldi) = if k0 == 0 {
                            (bp, 0)
                        } else {
                            (d as *const f32, n)
                        };
                        macro_rules! call {
                            ($pf:literal; $($n:literal)*) => {
                                match rows {
                                    $($n => kernel::<$n, $pf>(d, n, xr, k, wp, kc, init, ldi),)*
                                    _ => kernel::<1, $pf>(d, n, xr, k, wp, kc, init, ldi),
                                }
                            };
                        }
                        if r == r0 {
                            call!(true; 6 5 4 3 2);
                        } else {
                            call!(false; 6 5 4 3 2);
                        }
                        r += rows;
                    }
                    k0 += kc;
                }
            }
        }
    }

    /// `dst[r, 0..16] += x[r, ·] · W[·, 0..16]` for `R` rows and one int8 panel, dequantised
    /// once at the end (see `vnni::kernel`). `T` is the activations' type: `u8` for AVX-VNNI's
    /// `vpdpbusd` on ymm (`VNNI`: groups of 4 rows), `u16` (12-bit) for `vpmaddwd` (groups of 2;
    /// weights sign-extended as they are loaded).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA (and AVX-VNNI when `VNNI`); `dst` addresses `R` rows of 16
    /// floats at stride `ldd`; `x` addresses `R` rows of `k` activations at stride `ldx`, `rq`
    /// their `R` quantisations; `w` addresses one int8 panel of `k × 16` bytes in the kernel's
    /// layout; `scale` and `colsum` address its 16 columns.
    #[inline(always)]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    unsafe fn int8_kernel<const R: usize, const VNNI: bool, T>(
        dst: *mut f32,
        ldd: usize,
        x: *const T,
        ldx: usize,
        rq: *const super::vnni::RowQuant,
        w: *const i8,
        k: usize,
        scale: *const f32,
        colsum: *const i32,
    ) {
        unsafe {
            let mut acc = [[_mm256_setzero_si256(); 2]; R];
            // Each step: 4 bytes of activations (VNNI) or two 16-bit ones, in one 32-bit lane.
            let per = if VNNI { 4 } else { 2 };
            for g in 0..k / per {
                let wg = w.add(g * per * PANEL);
                let (w0, w1) = if VNNI {
                    (
                        _mm256_loadu_si256(wg as *const _),
                        _mm256_loadu_si256(wg.add(32) as *const _),
                    )
                } else {
                    (
                        _mm256_cvtepi8_epi16(_mm_loadu_si128(wg as *const _)),
                        _mm256_cvtepi8_epi16(_mm_loadu_si128(wg.add(16) as *const _)),
                    )
                };
                for r in 0..R {
                    let xv = _mm256_set1_epi32(std::ptr::read_unaligned(
                        x.add(r * ldx + per * g) as *const i32
                    ));
                    if VNNI {
                        acc[r][0] = _mm256_dpbusd_avx_epi32(acc[r][0], xv, w0);
                        acc[r][1] = _mm256_dpbusd_avx_epi32(acc[r][1], xv, w1);
                    } else {
                        acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(xv, w0));
                        acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(xv, w1));
                    }
                }
            }
            for half in 0..2 {
                let cs = _mm256_loadu_si256(colsum.add(half * 8) as *const _);
                let ws = _mm256_loadu_ps(scale.add(half * 8));
                for r in 0..R {
                    let q = *rq.add(r);
                    let (zero, s) = (_mm256_set1_epi32(q.zero), _mm256_set1_ps(q.scale));
                    let v = _mm256_cvtepi32_ps(_mm256_sub_epi32(
                        acc[r][half],
                        _mm256_mullo_epi32(zero, cs),
                    ));
                    let d = dst.add(r * ldd + half * 8);
                    _mm256_storeu_ps(
                        d,
                        _mm256_fmadd_ps(v, _mm256_mul_ps(s, ws), _mm256_loadu_ps(d)),
                    );
                }
            }
        }
    }

    /// Rows per int8 micro-kernel call: 6 × 2 accumulators as in the f32 kernel with
    /// `vpdpbusd`; `vpmaddwd`'s products need a register of their own before the add, so 5.
    pub const fn int8_rows(vnni: bool) -> usize {
        if vnni {
            6
        } else {
            5
        }
    }

    /// One int8 tile: rows `r0..r1`, panels `p0..p1`.
    ///
    /// # Safety
    /// As [`int8_kernel`], for every row and panel in range; no other thread writes this tile.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn int8_tile<const VNNI: bool, T>(
        dst: *mut f32,
        x: *const T,
        rq: *const super::vnni::RowQuant,
        w: &super::Int8Weight,
        k: usize,
        n: usize,
        (r0, r1): (usize, usize),
        (p0, p1): (usize, usize),
    ) {
        unsafe {
            for p in p0..p1 {
                let wp = w.data.as_ptr().add(p * k * PANEL);
                let (scale, colsum) = (
                    w.scale.as_ptr().add(p * PANEL),
                    w.colsum.as_ptr().add(p * PANEL),
                );
                let mut r = r0;
                while r < r1 {
                    let rows = (r1 - r).min(int8_rows(VNNI));
                    let (d, xr, qr) = (dst.add(r * n + p * PANEL), x.add(r * k), rq.add(r));
                    macro_rules! call {
                        ($($n:literal)*) => {
                            match rows {
                                $($n => int8_kernel::<$n, VNNI, T>(d, n, xr, k, qr, wp, k, scale, colsum),)*
                                _ => int8_kernel::<1, VNNI, T>(d, n, xr, k, qr, wp, k, scale, colsum),
                            }
                        };
                    }
                    if VNNI {
                        call!(6 5 4 3 2);
                    } else {
                        call!(5 4 3 2);
                    }
                    r += rows;
                }
            }
        }
    }

    /// [`int8_tile`] with `vpmaddwd`, from 12-bit activations.
    ///
    /// # Safety
    /// As [`int8_tile`]; the CPU has AVX2 and FMA; the weights are in `Madd`'s layout.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn int8_tile_madd(
        dst: *mut f32,
        x: *const u16,
        rq: *const super::vnni::RowQuant,
        w: &super::Int8Weight,
        k: usize,
        n: usize,
        rows: (usize, usize),
        panels: (usize, usize),
    ) {
        unsafe { int8_tile::<false, u16>(dst, x, rq, w, k, n, rows, panels) }
    }

    /// [`int8_tile`] with AVX-VNNI, from byte activations.
    ///
    /// # Safety
    /// As [`int8_tile`]; the CPU has AVX2, FMA and AVX-VNNI.
    #[target_feature(enable = "avx2,fma,avxvnni")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn int8_tile_vnni(
        dst: *mut f32,
        x: *const u8,
        rq: *const super::vnni::RowQuant,
        w: &super::Int8Weight,
        k: usize,
        n: usize,
        rows: (usize, usize),
        panels: (usize, usize),
    ) {
        unsafe { int8_tile::<true, u8>(dst, x, rq, w, k, n, rows, panels) }
    }

    /// [`super::gelu`] 8 lanes at a time, the erf polynomial's division done as a reciprocal
    /// estimate (12 bits) refined by one Newton step (about 23), as in `avx512::gelu`.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gelu(x: &mut [f32]) {
        unsafe {
            let c = |v: f32| _mm256_set1_ps(v);
            let sign = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MIN));
            let one = c(1.0);
            let apply = |v: __m256| -> __m256 {
                let z = _mm256_mul_ps(v, c(std::f32::consts::FRAC_1_SQRT_2));
                // Beyond 8, erf is 1 in f32; the clamp keeps p¹⁶ finite (see `avx512::gelu`).
                let a = _mm256_min_ps(_mm256_andnot_ps(sign, z), c(8.0));
                let mut p = c(0.000_043_063_8);
                for k in [
                    0.000_276_567_2,
                    0.000_152_014_3,
                    0.009_270_527,
                    0.042_282_01,
                    0.070_523_08,
                    1.0,
                ] {
                    p = _mm256_fmadd_ps(p, a, c(k));
                }
                let p2 = _mm256_mul_ps(p, p);
                let p4 = _mm256_mul_ps(p2, p2);
                let p8 = _mm256_mul_ps(p4, p4);
                let p16 = _mm256_mul_ps(p8, p8);
                let r = _mm256_rcp_ps(p16);
                let r = _mm256_mul_ps(r, _mm256_fnmadd_ps(p16, r, c(2.0)));
                let erf = _mm256_or_ps(_mm256_sub_ps(one, r), _mm256_and_ps(z, sign));
                _mm256_mul_ps(_mm256_mul_ps(c(0.5), v), _mm256_add_ps(one, erf))
            };
            let mut chunks = x.chunks_exact_mut(8);
            for ch in &mut chunks {
                _mm256_storeu_ps(ch.as_mut_ptr(), apply(_mm256_loadu_ps(ch.as_ptr())));
            }
            let rest = chunks.into_remainder();
            if !rest.is_empty() {
                let mut buf = [0f32; 8];
                buf[..rest.len()].copy_from_slice(rest);
                _mm256_storeu_ps(buf.as_mut_ptr(), apply(_mm256_loadu_ps(buf.as_ptr())));
                rest.copy_from_slice(&buf[..rest.len()]);
            }
        }
    }

    /// Queries per block in [`attend32`]: 8 queries' scores against 8 keys are 8 accumulators.
    const QB: usize = 8;

    /// Self-attention of one text and one head of size 32 (see `super::attend` and
    /// `avx512::attend32`, whose reasons apply here), `QB` queries at a time. The context is
    /// summed 4 queries × 16 dimensions at a time: 8 accumulators, where 8 queries × 32 would
    /// need all 16 registers and more.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `qkv` holds `len ≥ 1` rows of `3h` floats, `out` `len × 32`,
    /// and `head · 32 + 32 ≤ h`.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::needless_range_loop)]
    pub unsafe fn attend32(
        qkv: &[f32],
        len: usize,
        h: usize,
        head: usize,
        scale: f32,
        scratch: &mut Vec<f32>,
        out: &mut [f32],
    ) {
        const DH: usize = 32;
        const KEYS: usize = super::KEYS;
        let row = 3 * h;
        let (qo, ko, vo) = (head * DH, h + head * DH, 2 * h + head * DH);
        let lp = len.div_ceil(KEYS) * KEYS;
        scratch.clear();
        scratch.resize(lp * DH + QB * lp + QB * DH, 0.0);
        let (kt, rest) = scratch.split_at_mut(DH * lp);
        let (scores, q) = rest.split_at_mut(QB * lp);
        for j in 0..len {
            for d in 0..DH {
                kt[d * lp + j] = qkv[j * row + ko + d];
            }
        }
        let (qkv, kt) = (qkv.as_ptr(), kt.as_ptr());
        // SAFETY: as in `avx512::attend32`: every pointer stays in its buffer.
        unsafe {
            let mut i0 = 0;
            while i0 < len {
                // Past the last query the block repeats it, never written out.
                for r in 0..QB {
                    let i = (i0 + r).min(len - 1);
                    for d in 0..DH {
                        q[r * DH + d] = *qkv.add(i * row + qo + d) * scale;
                    }
                }
                for c in 0..lp / 8 {
                    let mut acc = [_mm256_setzero_ps(); QB];
                    for d in 0..DH {
                        let k = _mm256_loadu_ps(kt.add(d * lp + c * 8));
                        for r in 0..QB {
                            acc[r] = _mm256_fmadd_ps(
                                _mm256_broadcast_ss(q.get_unchecked(r * DH + d)),
                                k,
                                acc[r],
                            );
                        }
                    }
                    for r in 0..QB {
                        _mm256_storeu_ps(scores.as_mut_ptr().add(r * lp + c * 8), acc[r]);
                    }
                }
                let mut inv = [0f32; QB];
                for (s, inv) in scores.chunks_exact_mut(lp).zip(inv.iter_mut()) {
                    s[len..].fill(f32::NEG_INFINITY);
                    let mut mx = [f32::NEG_INFINITY; KEYS];
                    for c in s.chunks_exact(KEYS) {
                        for (m, &v) in mx.iter_mut().zip(c) {
                            *m = m.max(v);
                        }
                    }
                    let max = mx.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
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
                for quad in 0..QB / 4 {
                    for half in 0..2 {
                        let mut o = [[_mm256_setzero_ps(); 2]; 4];
                        for j in 0..len {
                            let v = qkv.add(j * row + vo + half * 16);
                            let (v0, v1) = (_mm256_loadu_ps(v), _mm256_loadu_ps(v.add(8)));
                            for r in 0..4 {
                                let p = _mm256_broadcast_ss(
                                    scores.get_unchecked((quad * 4 + r) * lp + j),
                                );
                                o[r][0] = _mm256_fmadd_ps(p, v0, o[r][0]);
                                o[r][1] = _mm256_fmadd_ps(p, v1, o[r][1]);
                            }
                        }
                        for r in 0..4 {
                            let qi = quad * 4 + r;
                            if i0 + qi < len {
                                let (dst, s) = (
                                    out.as_mut_ptr().add((i0 + qi) * DH + half * 16),
                                    _mm256_set1_ps(inv[qi]),
                                );
                                _mm256_storeu_ps(dst, _mm256_mul_ps(o[r][0], s));
                                _mm256_storeu_ps(dst.add(8), _mm256_mul_ps(o[r][1], s));
                            }
                        }
                    }
                }
                i0 += QB;
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
    // At most TILE_GROUPS groups of 4 panels' columns, whatever the kernel's width.
    let mut tile_groups =
        (TILE_PANEL_BYTES / (k * width * PANEL * elem)).clamp(1, TILE_GROUPS * 4 / width);
    let tile_rows = (TILE_INPUT_BYTES / (k * elem) / mr * mr).clamp(mr, TILE_ROWS);
    let min_tiles = 8 * rayon::current_num_threads();
    while tile_groups > 1 && m.div_ceil(tile_rows) * groups.div_ceil(tile_groups) < min_tiles {
        tile_groups -= 1;
    }
    (0..m.div_ceil(tile_rows))
        .flat_map(|rb| {
            (0..groups.div_ceil(tile_groups)).map(move |gb| {
                (
                    (rb * tile_rows, ((rb + 1) * tile_rows).min(m)),
                    (gb * tile_groups, ((gb + 1) * tile_groups).min(groups)),
                )
            })
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
    assert!(
        dst.len() == m * n && lhs.len() == m * k && bias.len() == n,
        "linear: shapes"
    );
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
            unsafe { std::slice::from_raw_parts_mut((d as *mut f32).add(r * n + c0), c1 - c0) }
                .copy_from_slice(&bias[c0..c1]);
        }
    };
    let epilogue = |(r0, r1): (usize, usize), (c0, c1): (usize, usize)| {
        if act == Act::Gelu {
            for r in r0..r1 {
                // SAFETY: as in the prologue: this tile's part of row `r` of `dst`.
                gelu(w.kernels, unsafe {
                    std::slice::from_raw_parts_mut((d as *mut f32).add(r * n + c0), c1 - c0)
                });
            }
        }
    };
    let cols = |width: usize, (q0, q1): (usize, usize)| (width * q0 * PANEL, width * q1 * PANEL);
    #[cfg(target_arch = "x86_64")]
    if let Some(q) = &w.int8 {
        let mut rq = vec![
            vnni::RowQuant {
                scale: 1.0,
                zero: 0
            };
            m
        ];
        // Bytes for `vpdpbusd`, 12 bits in 16 for `vpmaddwd` (see `Int8Kernel::act_levels`).
        let (mut x8, mut x16) = (Vec::new(), Vec::new());
        let x = if q.kernel == Int8Kernel::Madd {
            x16.resize(m * k, 0u16);
            quantize_rows(
                w.kernels,
                lhs,
                k,
                q.kernel.act_levels(),
                &mut Quantised::U16(&mut x16),
                &mut rq,
            );
            x16.as_ptr() as usize
        } else {
            x8.resize(m * k, 0u8);
            quantize_rows(
                w.kernels,
                lhs,
                k,
                q.kernel.act_levels(),
                &mut Quantised::U8(&mut x8),
                &mut rq,
            );
            x8.as_ptr() as usize
        };
        let r = rq.as_ptr() as usize;
        let (width, rows) = match q.kernel {
            Int8Kernel::Vnni512 => (I8_PANELS, I8_ROWS),
            Int8Kernel::VnniYmm => (1, avx2::int8_rows(true)),
            Int8Kernel::Madd => (1, avx2::int8_rows(false)),
        };
        let run = |&(rows, groups): &Tile| {
            prologue(rows, cols(width, groups));
            let (d, r) = (d as *mut f32, r as *const vnni::RowQuant);
            // SAFETY: `int8` is only set with a kernel its `Kernels` level has, so the CPU has
            // the kernel's features (`Kernels::supported`, `Kernels::int8`), for `k % 4 == 0` and
            // `n % 64 == 0`, with the layout `Weight::quantize` builds for the kernel for exactly
            // `k × n`; the activations (bytes, or 16-bit for `Madd`) and `rq` hold `m` rows;
            // tiles cover disjoint rows × columns of `dst`.
            unsafe {
                match q.kernel {
                    Int8Kernel::Vnni512 => vnni::tile(d, x as *const u8, r, q, k, n, rows, groups),
                    Int8Kernel::VnniYmm => {
                        avx2::int8_tile_vnni(d, x as *const u8, r, q, k, n, rows, groups)
                    }
                    Int8Kernel::Madd => {
                        avx2::int8_tile_madd(d, x as *const u16, r, q, k, n, rows, groups)
                    }
                }
            }
            epilogue(rows, cols(width, groups));
        };
        // An int8 product costs about a quarter of the f32 one, so threads pay off only later.
        run_tiles(
            &tiles(m, k, n, 1, width, rows),
            threads > 1 && work >= 4 * PARALLEL_MIN,
            run,
        );
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if w.packed {
        let (x, wp) = (lhs.as_ptr() as usize, w.data.as_ptr() as usize);
        let b = bias.as_ptr() as usize;
        let avx512 = w.kernels == Kernels::Avx512;
        let (width, rows) = if avx512 {
            (F32_PANELS, F32_ROWS)
        } else {
            (1, avx2::ROWS)
        };
        let tiles = tiles(m, k, n, 4, width, rows);
        let run = |&(rows, groups): &Tile| {
            let (d, x, wp, b) = (
                d as *mut f32,
                x as *const f32,
                wp as *const f32,
                b as *const f32,
            );
            // SAFETY: `packed` is only set for the AVX-512 and AVX2 levels, which `Kernels`
            // only hands out where the CPU has their features; the shapes were asserted above
            // and the packed layout is built by `Weight::new` for exactly `k × n`; tiles cover
            // disjoint rows × columns of `dst`, so no two threads write the same element.
            unsafe {
                if avx512 {
                    avx512::tile(d, x, wp, k, n, b, rows, groups)
                } else {
                    avx2::tile(d, x, wp, k, n, b, rows, groups)
                }
            }
            epilogue(rows, cols(width, groups));
        };
        run_tiles(&tiles, threads > 1 && work >= PARALLEL_MIN, run);
        return;
    }
    for row in dst.chunks_exact_mut(n) {
        row.copy_from_slice(bias);
    }
    let par = if work >= PARALLEL_GEMM_MIN && threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: the slices have exactly the sizes and row-major strides passed (asserted above),
    // and `dst` does not alias the inputs.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            true,
            lhs.as_ptr(),
            1,
            k as isize,
            w.data.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
    if act == Act::Gelu {
        gelu(w.kernels, dst);
    }
}

/// Defines `f(kernels, ...)`, running `f`'s body compiled for the instruction set of the
/// [`Kernels`] level passed. The bodies are plain loops the compiler vectorises; without this
/// they would be built for baseline x86-64 (SSE2) only. Taking the level rather than detecting
/// the best makes a forced level (`SHOPKEEP_CPU_KERNELS`) hold for these loops too, so the AVX2
/// path measured on an AVX-512 machine is the AVX2 path throughout.
macro_rules! multiversion {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$m])*
        fn $name(kernels: Kernels, $($arg: $ty),*) {
            #[inline(always)]
            fn inner($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) { inner($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) { inner($($arg),*) }
                match kernels {
                    // SAFETY: `Kernels` hands out a level only where the CPU has its features.
                    Kernels::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    Kernels::Avx2 | Kernels::Avx2Vnni => return unsafe { avx2($($arg),*) },
                    Kernels::Portable => {}
                }
            }
            let _ = kernels;
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
fn add_layer_norm(
    kernels: Kernels,
    x: &mut [f32],
    r: &[f32],
    g: &[f32],
    b: &[f32],
    h: usize,
    eps: f32,
) {
    if x.len() <= LN_ROWS * h || rayon::current_num_threads() < 2 {
        return add_layer_norm_rows(kernels, x, r, g, b, h, eps);
    }
    if r.is_empty() {
        x.par_chunks_mut(LN_ROWS * h)
            .for_each(|x| add_layer_norm_rows(kernels, x, &[], g, b, h, eps));
    } else {
        x.par_chunks_mut(LN_ROWS * h)
            .zip(r.par_chunks(LN_ROWS * h))
            .for_each(|(x, r)| add_layer_norm_rows(kernels, x, r, g, b, h, eps));
    }
}

/// Quantised activations: bytes, or 16-bit lanes holding up to 12 bits.
#[cfg(target_arch = "x86_64")]
enum Quantised<'a> {
    U8(&'a mut [u8]),
    U16(&'a mut [u16]),
}

multiversion! {
    /// Quantises each row of `x` (`m × k`) to `levels + 1` unsigned levels (255: bytes; 4095:
    /// 12 bits in 16) with its own scale and zero point. Per row rather than per tensor: a
    /// text's outlier activations then cost precision only in that row. The range always
    /// includes 0, so exact zeros stay exact.
    #[cfg(target_arch = "x86_64")]
    fn quantize_rows(x: &[f32], k: usize, levels: f32, out: &mut Quantised, rq: &mut [vnni::RowQuant]) {
        for (i, (row, q)) in x.chunks_exact(k).zip(rq.iter_mut()).enumerate() {
            let (lo, hi) = row.iter().fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let scale = if hi > lo { (hi - lo) / levels } else { 1.0 };
            let zero = (-lo / scale).round().clamp(0.0, levels);
            let inv = 1.0 / scale;
            // Clamped to 0..=levels first, so adding a half and truncating rounds to nearest.
            match out {
                Quantised::U8(o) => {
                    for (o, &v) in o[i * k..(i + 1) * k].iter_mut().zip(row) {
                        *o = ((v * inv + zero).clamp(0.0, levels) + 0.5) as u8;
                    }
                }
                Quantised::U16(o) => {
                    for (o, &v) in o[i * k..(i + 1) * k].iter_mut().zip(row) {
                        *o = ((v * inv + zero).clamp(0.0, levels) + 0.5) as u16;
                    }
                }
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
    let p = 1.0
        + a * (0.070_523_08
            + a * (0.042_282_01
                + a * (0.009_270_527
                    + a * (0.000_152_014_3 + a * (0.000_276_567_2 + a * 0.000_043_063_8)))));
    let p2 = p * p;
    let p4 = p2 * p2;
    let p8 = p4 * p4;
    let p16 = p8 * p8;
    let r = 1.0 - 1.0 / p16;
    r.copysign(x)
}

/// The exact GELU, `x · Φ(x)`, in place.
fn gelu(kernels: Kernels, x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    match kernels {
        // SAFETY: `Kernels` hands out a level only where the CPU has its features.
        Kernels::Avx512 => return unsafe { avx512::gelu(x) },
        // SAFETY: as above.
        Kernels::Avx2 | Kernels::Avx2Vnni => return unsafe { avx2::gelu(x) },
        Kernels::Portable => {}
    }
    gelu_portable(kernels, x)
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
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let i = t.to_bits() as i32 - MAGIC.to_bits() as i32;
    p * f32::from_bits(((i + 127) << 23) as u32)
}

/// Keys per block of the attention scores: one AVX-512 register.
const KEYS: usize = 16;

/// Self-attention of one text and one head. `qkv` holds the text's rows of the packed QKV
/// matrix (`len × 3h`); the head's context is written to `out` (`len × dh`, row-major).
/// `scratch` is reused between calls.
#[allow(clippy::too_many_arguments)]
fn attend(
    kernels: Kernels,
    qkv: &[f32],
    len: usize,
    h: usize,
    head: usize,
    dh: usize,
    scale: f32,
    scratch: &mut Vec<f32>,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if dh == 32 && kernels != Kernels::Portable {
        assert!(
            len > 0 && qkv.len() == len * 3 * h && out.len() == len * dh && head * dh + dh <= h,
            "attend: shapes"
        );
        // SAFETY: `Kernels` hands out a level only where the CPU has its features; the shapes
        // were just asserted.
        return unsafe {
            if kernels == Kernels::Avx512 {
                avx512::attend32(qkv, len, h, head, scale, scratch, out)
            } else {
                avx2::attend32(qkv, len, h, head, scale, scratch, out)
            }
        };
    }
    attend_portable(kernels, qkv, len, h, head, dh, scale, scratch, out)
}

multiversion! {
    #[allow(clippy::too_many_arguments)]
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
fn attend_head<const DH: usize>(
    qkv: &[f32],
    len: usize,
    h: usize,
    head: usize,
    scale: f32,
    scratch: &mut Vec<f32>,
    out: &mut [f32],
) {
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
        let k: &[f32; DH] = qkv[j * row + ko..j * row + ko + DH]
            .try_into()
            .expect("head slice");
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
            let v: &[f32; DH] = qkv[j * row + vo..j * row + vo + DH]
                .try_into()
                .expect("head slice");
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
    /// fp32, on the portable path (which has no int8 kernel).
    pub fn quantize(&mut self) -> bool {
        if self.kernels.int8().is_none() {
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
        let offsets: Vec<usize> = lens
            .iter()
            .scan(0, |acc, l| {
                let o = *acc;
                *acc += l;
                Some(o)
            })
            .collect();
        let n: usize = lens.iter().sum();

        let mut bufs = self.scratch.lock().pop().unwrap_or_default();
        let Scratch {
            x,
            qkv,
            ctx,
            tmp,
            ff,
        } = &mut bufs;
        let (x, qkv, ctx, tmp, ff) = (
            sized(x, n * h),
            sized(qkv, n * 3 * h),
            sized(ctx, n * h),
            sized(tmp, n * h),
            sized(ff, n * self.intermediate),
        );
        // Embeddings, packed: row t of text s is word[id] + position[t] + segment 0.
        for (s, seq) in batch.iter().enumerate() {
            for t in 0..lens[s] {
                let id = seq.get(t).copied().unwrap_or(0) as usize;
                let dst = &mut x[(offsets[s] + t) * h..(offsets[s] + t + 1) * h];
                let (w, p) = (
                    &self.word[id * h..(id + 1) * h],
                    &self.position[t * h..(t + 1) * h],
                );
                for i in 0..h {
                    dst[i] = w[i] + p[i] + self.token_type0[i];
                }
            }
        }
        let kernels = self.kernels;
        add_layer_norm(kernels, x, &[], &self.ln_g, &self.ln_b, h, self.eps);

        let scale = 1.0 / (dh as f32).sqrt();
        let pairs: Vec<(usize, usize)> = (0..batch.len())
            .flat_map(|s| (0..self.heads).map(move |hd| (s, hd)))
            .collect();
        for layer in &self.layers {
            linear(qkv, x, &layer.qkv_w, &layer.qkv_b, n, Act::None);

            // Attention per (text, head), each pair computing its context in a scratch block and
            // copying it into its own columns of its text's rows of `ctx`, on its own thread.
            let work: usize = lens.iter().map(|l| l * l).sum::<usize>() * self.heads * dh;
            let c = ctx.as_mut_ptr() as usize;
            let run = |&(s, hd): &(usize, usize), (scratch, block): &mut (Vec<f32>, Vec<f32>)| {
                let (off, len) = (offsets[s], lens[s]);
                block.resize(len * dh, 0.0);
                attend(
                    kernels,
                    &qkv[off * 3 * h..(off + len) * 3 * h],
                    len,
                    h,
                    hd,
                    dh,
                    scale,
                    scratch,
                    block,
                );
                for (t, src) in block.chunks_exact(dh).enumerate() {
                    // SAFETY: `ctx` holds `n × h` floats and row `off + t < n`, columns
                    // `hd·dh..(hd+1)·dh ≤ h`: this pair's alone, as (text, head) pairs are
                    // distinct and texts' rows disjoint; nothing else touches `ctx` meanwhile.
                    unsafe {
                        std::slice::from_raw_parts_mut(
                            (c as *mut f32).add((off + t) * h + hd * dh),
                            dh,
                        )
                    }
                    .copy_from_slice(src);
                }
            };
            if work > 200_000 {
                pairs
                    .par_iter()
                    .for_each_init(Default::default, |bufs, pair| run(pair, bufs));
            } else {
                let mut bufs = Default::default();
                pairs.iter().for_each(|pair| run(pair, &mut bufs));
            }

            linear(tmp, ctx, &layer.out_w, &layer.out_b, n, Act::None);
            add_layer_norm(kernels, x, tmp, &layer.ln1_g, &layer.ln1_b, h, self.eps);
            linear(ff, x, &layer.ff1_w, &layer.ff1_b, n, Act::Gelu);
            linear(tmp, ff, &layer.ff2_w, &layer.ff2_b, n, Act::None);
            add_layer_norm(kernels, x, tmp, &layer.ln2_g, &layer.ln2_b, h, self.eps);
        }

        // Mean over each text's tokens (no padding exists to mask), then L2 normalisation.
        let pooled = (0..batch.len())
            .map(|s| {
                let mut v = vec![0f32; h];
                for t in 0..lens[s] {
                    for (a, b) in v
                        .iter_mut()
                        .zip(&x[(offsets[s] + t) * h..(offsets[s] + t + 1) * h])
                    {
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
            assert!(
                (ours - libm).abs() <= 1e-6 * libm + 1e-37,
                "e^{x}: {ours} vs {libm}"
            );
            x += 0.013;
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
    }

    #[test]
    fn int8_products_stay_within_a_percent_of_fp32() {
        // 13 rows (whole blocks of rows and a tail) by 128 columns (two groups of panels),
        // k = 48; activations with an outlier column, as BERT's have. Every int8 kernel this CPU
        // has.
        let (m, k, n) = (13, 48, 128);
        let lhs: Vec<f32> = (0..m * k)
            .map(|i| {
                if i % k == 5 {
                    12.0
                } else {
                    ((i * 37 % 101) as f32 - 40.0) / 50.0
                }
            })
            .collect();
        let w: Vec<f32> = (0..k * n)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 480.0)
            .collect();
        let bias: Vec<f32> = (0..n).map(|i| i as f32 / 10.0).collect();
        let want: Vec<f32> = (0..m * n)
            .map(|i| {
                bias[i % n]
                    + (0..k)
                        .map(|kk| lhs[(i / n) * k + kk] * w[kk * n + i % n])
                        .sum::<f32>()
            })
            .collect();
        let mut tested = 0;
        for kernels in Kernels::available() {
            let mut weight = Weight::new(w.clone(), k, n, kernels);
            if !weight.quantize() {
                continue;
            }
            tested += 1;
            let mut got = vec![0f32; m * n];
            linear(&mut got, &lhs, &weight, &bias, m, Act::None);
            let err = got
                .iter()
                .zip(&want)
                .map(|(g, w)| (g - w) * (g - w))
                .sum::<f32>()
                .sqrt();
            let norm = want.iter().map(|w| w * w).sum::<f32>().sqrt();
            assert!(
                err / norm < 0.01,
                "{kernels} ({:?}): relative error {}",
                kernels.int8(),
                err / norm
            );
        }
        if tested == 0 {
            eprintln!("skipped: this CPU has no int8 kernel (it needs AVX2)");
        }
    }

    #[test]
    fn the_16_bit_int8_products_do_not_overflow_at_the_widest_k() {
        // The worst case for `vpmaddwd`'s 32-bit sums: k = 1536 (the feed-forward output),
        // every activation at the top of its 12 bits and every weight at ±127.
        if !Kernels::Avx2.supported() {
            eprintln!("skipped: no AVX2");
            return;
        }
        let (m, k, n) = (6, 1536, 64);
        let lhs = vec![1f32; m * k];
        let w: Vec<f32> = (0..k * n)
            .map(|i| if (i % n) % 2 == 0 { -1.0 } else { 1.0 })
            .collect();
        let bias = vec![0f32; n];
        let mut weight = Weight::new(w.clone(), k, n, Kernels::Avx2);
        assert!(weight.quantize());
        let mut got = vec![0f32; m * n];
        linear(&mut got, &lhs, &weight, &bias, m, Act::None);
        for (i, g) in got.iter().enumerate() {
            let want = if (i % n) % 2 == 0 {
                -(k as f32)
            } else {
                k as f32
            };
            assert!(
                (g - want).abs() < 1e-3 * want.abs(),
                "element {i}: {g} vs {want}"
            );
        }
    }

    #[test]
    fn kernel_levels_parse_and_the_best_is_available() {
        for k in Kernels::ALL {
            assert_eq!(k.to_string().parse::<Kernels>(), Ok(k));
        }
        assert_eq!(" AVX2 ".parse::<Kernels>(), Ok(Kernels::Avx2));
        assert!("sse".parse::<Kernels>().is_err());
        assert!(Kernels::detect().supported());
        assert_eq!(Kernels::available().first(), Some(&Kernels::detect()));
        assert!(Kernels::available().contains(&Kernels::Portable));
    }

    #[test]
    fn the_gelu_kernels_agree_with_the_exact_gelu() {
        // Two whole registers and a tail; from deep negative to large positive, and the
        // outliers BERT's activations have.
        let mut x: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) / 3.0).collect();
        x.extend([-1e4, -60.0, -15.0, 15.0, 60.0, 1e4]);
        let mut plain = x.clone();
        gelu_portable(Kernels::Portable, &mut plain);
        for kernels in Kernels::available() {
            let mut fast = x.clone();
            gelu(kernels, &mut fast);
            for ((f, p), &v) in fast.iter().zip(&plain).zip(&x) {
                let exact = 0.5 * v as f64 * (1.0 + libm_erf(v as f64 / std::f64::consts::SQRT_2));
                assert!(
                    (*f as f64 - exact).abs() < 1e-5 * (1.0 + exact.abs()),
                    "{kernels}: gelu({v}) = {f}, exact {exact}"
                );
                assert!(
                    (f - p).abs() <= 1e-6 * (1.0 + p.abs()),
                    "{kernels}: gelu({v}): {f} vs {p}"
                );
            }
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
            let erfc = (-y * y).exp() / (y * std::f64::consts::PI.sqrt())
                * (1.0 - 1.0 / (2.0 * y * y) + 3.0 / (4.0 * y.powi(4)));
            (1.0 - erfc).copysign(x)
        }
    }

    #[test]
    fn attention_kernels_agree() {
        // Lengths below, at and past a block of 8 queries and 16 keys; head 2 of 12 (h = 384).
        let (h, dh) = (384, 32);
        for len in [1, 8, 13, 37] {
            let qkv: Vec<f32> = (0..len * 3 * h)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                .collect();
            let mut want = vec![0f32; len * dh];
            attend_portable(
                Kernels::Portable,
                &qkv,
                len,
                h,
                2,
                dh,
                0.17,
                &mut Vec::new(),
                &mut want,
            );
            for kernels in Kernels::available() {
                let mut got = vec![0f32; len * dh];
                attend(
                    kernels,
                    &qkv,
                    len,
                    h,
                    2,
                    dh,
                    0.17,
                    &mut Vec::new(),
                    &mut got,
                );
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() < 1e-4,
                        "{kernels}: len {len}, element {i}: {g} vs {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn packed_and_row_major_products_agree() {
        // 13 rows exercises full blocks of rows and a tail; 192 columns whole groups of panels
        // for either kernel shape; k = 300 several blocks of the AVX-512 kernel's k, the last
        // one partial.
        for (m, k, n) in [(13, 40, 192), (13, 300, 192)] {
            let lhs: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let w: Vec<f32> = (0..k * n)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
                .collect();
            let bias: Vec<f32> = (0..n).map(|i| i as f32 / 10.0).collect();
            for kernels in Kernels::available() {
                let mut got = vec![0f32; m * n];
                linear(
                    &mut got,
                    &lhs,
                    &Weight::new(w.clone(), k, n, kernels),
                    &bias,
                    m,
                    Act::None,
                );
                for r in 0..m {
                    for c in 0..n {
                        let want: f32 = bias[c]
                            + (0..k)
                                .map(|kk| lhs[r * k + kk] * w[kk * n + c])
                                .sum::<f32>();
                        assert!(
                            (got[r * n + c] - want).abs() < 1e-4,
                            "{kernels}, k {k} ({r},{c}): {} vs {want}",
                            got[r * n + c]
                        );
                    }
                }
            }
        }
    }
}

//! 2-D convolution as im2col + one matrix product, on channel-last (NHWC) activations.
//!
//! Hand-written because candle 0.11's CPU convolution is slow for this network where it matters: the input
//! gradient of `conv2d` is a direct (scalar-loop) `conv_transpose2d`, and the kernel gradient a tiled im2col with
//! scalar gathers. Profiled training spent about 60 % of its time there. Here a convolution is
//! `im2col(x) · Wᵀ`: the forward pass is one gemm, the kernel gradient one gemm (candle's matmul backward) and the
//! input gradient one gemm plus a scatter-add ([`Col2Im`]). The result equals `Tensor::conv2d` up to float
//! rounding (checked by the tests below).
//!
//! Layout: an activation of `n` images of `h × w` pixels with `c` channels is a contiguous `(n, h, w, c)` tensor;
//! [`Im2Col`] turns it into `(n·ho·wo, k·k·c)` rows, columns ordered `(ky, kx, channel)`. Both ops are deterministic
//! whatever the thread count: each output value is written by one thread, sums run in a fixed order.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Geometry of one convolution: square kernel `k`, zero padding `pad`, `stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvGeometry {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvGeometry {
    pub fn out_hw(&self) -> (usize, usize) {
        ((self.h + 2 * self.pad - self.k) / self.stride + 1, (self.w + 2 * self.pad - self.k) / self.stride + 1)
    }

    fn col_width(&self) -> usize {
        self.k * self.k * self.c
    }

    /// For output pixel (oy, ox) and kernel offset (ky, kx): the input pixel, if inside the image.
    #[inline]
    fn source(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let iy = (oy * self.stride + ky).checked_sub(self.pad)?;
        let ix = (ox * self.stride + kx).checked_sub(self.pad)?;
        (iy < self.h && ix < self.w).then_some((iy, ix))
    }
}

fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, len: usize, op: &str) -> Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) if end - start == len => Ok(&data[start..end]),
        _ => Err(candle_core::Error::Msg(format!("{op}: input must be a contiguous tensor of {len} values"))),
    }
}

/// `(n, h, w, c)` → `(n·ho·wo, k·k·c)`: the receptive field of every output pixel as one row (zeros outside).
pub(crate) struct Im2Col(pub ConvGeometry);

/// The adjoint of [`Im2Col`]: `(n·ho·wo, k·k·c)` → `(n, h, w, c)`, summing every column entry into the input pixel
/// it was copied from.
pub(crate) struct Col2Im(pub ConvGeometry);

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "imanifold-im2col"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        let src = contiguous_f32(storage, layout, g.n * g.h * g.w * g.c, self.name())?;
        let (ho, wo) = g.out_hw();
        let cw = g.col_width();
        let mut out = vec![0f32; g.n * ho * wo * cw];
        if !out.is_empty() {
            out.par_chunks_mut(ho * wo * cw).enumerate().for_each(|(img, dst)| {
                let src = &src[img * g.h * g.w * g.c..(img + 1) * g.h * g.w * g.c];
                for oy in 0..ho {
                    for ox in 0..wo {
                        let row = &mut dst[(oy * wo + ox) * cw..(oy * wo + ox + 1) * cw];
                        for ky in 0..g.k {
                            for kx in 0..g.k {
                                if let Some((iy, ix)) = g.source(oy, ox, ky, kx) {
                                    let o = (ky * g.k + kx) * g.c;
                                    let s = (iy * g.w + ix) * g.c;
                                    row[o..o + g.c].copy_from_slice(&src[s..s + g.c]);
                                }
                            }
                        }
                    }
                }
            });
        }
        Ok((CpuStorage::F32(out), Shape::from((g.n * ho * wo, cw))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad_res.contiguous()?.apply_op1(Col2Im(self.0))?))
    }
}

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "imanifold-col2im"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        let (ho, wo) = g.out_hw();
        let cw = g.col_width();
        let src = contiguous_f32(storage, layout, g.n * ho * wo * cw, self.name())?;
        let mut out = vec![0f32; g.n * g.h * g.w * g.c];
        if !out.is_empty() {
            out.par_chunks_mut(g.h * g.w * g.c).enumerate().for_each(|(img, dst)| {
                let src = &src[img * ho * wo * cw..(img + 1) * ho * wo * cw];
                for oy in 0..ho {
                    for ox in 0..wo {
                        let row = &src[(oy * wo + ox) * cw..(oy * wo + ox + 1) * cw];
                        for ky in 0..g.k {
                            for kx in 0..g.k {
                                if let Some((iy, ix)) = g.source(oy, ox, ky, kx) {
                                    let o = (ky * g.k + kx) * g.c;
                                    let d = (iy * g.w + ix) * g.c;
                                    dst[d..d + g.c].iter_mut().zip(&row[o..o + g.c]).for_each(|(a, b)| *a += b);
                                }
                            }
                        }
                    }
                }
            });
        }
        Ok((CpuStorage::F32(out), Shape::from((g.n, g.h, g.w, g.c))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad_res.contiguous()?.apply_op1(Im2Col(self.0))?))
    }
}

/// Convolution of NHWC activations `x` (`(n, h, w, c_in)`, any layout) with a kernel in candle's/PyTorch's
/// `(c_out, c_in, k, k)` layout and a bias `(c_out)`. Returns `(n, ho, wo, c_out)`.
pub(crate) fn conv2d_nhwc(x: &Tensor, kernel: &Tensor, bias: &Tensor, stride: usize) -> Result<Tensor> {
    let (n, h, w, c) = x.dims4()?;
    let (c_out, c_in, k, k2) = kernel.dims4()?;
    if c_in != c || k != k2 {
        return Err(candle_core::Error::Msg(format!(
            "conv: kernel {:?} does not fit input {:?}",
            kernel.dims(),
            x.dims()
        )));
    }
    let g = ConvGeometry { n, h, w, c, k, stride, pad: k / 2 };
    let (ho, wo) = g.out_hw();
    let cols = x.contiguous()?.apply_op1(Im2Col(g))?;
    // Kernel columns in (ky, kx, channel) order to match the im2col rows.
    let wmat = kernel.permute((0, 2, 3, 1))?.reshape((c_out, k * k * c))?;
    cols.matmul(&wmat.t()?)?.broadcast_add(&bias.reshape((1, c_out))?)?.reshape((n, ho, wo, c_out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use rand::{Rng, SeedableRng};

    fn random(shape: &[usize], seed: u64) -> Tensor {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    /// Value and both gradients agree with candle's own conv2d (NCHW) for odd/even sizes, strides 1–2, kernels 1–5.
    #[test]
    fn matches_candle_conv2d_and_its_gradients() {
        for (i, &(n, h, w, c, c_out, k, stride)) in [
            (2, 7, 6, 3, 4, 3, 1),
            (3, 8, 8, 2, 5, 3, 2),
            (1, 9, 5, 1, 3, 5, 2),
            (2, 5, 5, 4, 2, 1, 1),
            // Square: candle's own conv2d backward breaks on non-square inputs with stride 3 (it derives the
            // output padding of both axes from the height).
            (2, 7, 7, 3, 3, 3, 3),
        ]
        .iter()
        .enumerate()
        {
            let seed = 10 * i as u64;
            let x = Var::from_tensor(&random(&[n, h, w, c], seed)).unwrap();
            let kern = Var::from_tensor(&random(&[c_out, c, k, k], seed + 1)).unwrap();
            let bias = Var::from_tensor(&random(&[c_out], seed + 2)).unwrap();
            let weights =
                random(&[n, (h + 2 * (k / 2) - k) / stride + 1, (w + 2 * (k / 2) - k) / stride + 1, c_out], 7);

            let ours = conv2d_nhwc(x.as_tensor(), kern.as_tensor(), &bias, stride).unwrap();
            let reference = x
                .as_tensor()
                .permute((0, 3, 1, 2))
                .unwrap()
                .conv2d(kern.as_tensor(), k / 2, stride, 1, 1)
                .unwrap()
                .broadcast_add(&bias.reshape((1, c_out, 1, 1)).unwrap())
                .unwrap()
                .permute((0, 2, 3, 1))
                .unwrap();
            assert_eq!(ours.dims(), reference.dims(), "case {i}");
            assert!(max_abs_diff(&ours, &reference) < 1e-5, "case {i}: forward differs");

            let g1 = (ours * &weights).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (reference * &weights).unwrap().sum_all().unwrap().backward().unwrap();
            for (name, v) in [("input", x.as_tensor()), ("kernel", kern.as_tensor()), ("bias", bias.as_tensor())] {
                let (a, b) = (g1.get(v).unwrap(), g2.get(v).unwrap());
                assert!(max_abs_diff(a, b) < 1e-4, "case {i}: {name} gradient differs");
            }
        }
    }

    /// Col2Im is the adjoint of Im2Col: <im2col(x), y> = <x, col2im(y)>.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        let g = ConvGeometry { n: 2, h: 5, w: 4, c: 3, k: 3, stride: 2, pad: 1 };
        let (ho, wo) = g.out_hw();
        let x = random(&[g.n, g.h, g.w, g.c], 1);
        let y = random(&[g.n * ho * wo, g.k * g.k * g.c], 2);
        let lhs = (x.apply_op1(Im2Col(g)).unwrap() * &y).unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        let rhs = (y.apply_op1(Col2Im(g)).unwrap() * &x).unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!((lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
    }
}

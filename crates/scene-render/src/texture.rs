//! Mipmapped RGB textures: procedural textures are baked into images once at scene load, image textures are
//! resampled to power-of-two sizes; sampling is trilinear (bilinear within a level, linear between levels) with the
//! level chosen from the texel footprint of one output pixel, and repeat wrapping.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone)]
struct Level {
    w: usize,
    h: usize,
    data: Vec<[f32; 3]>,
}

/// An RGB texture with its full mip chain (level 0 first, down to 1×1).
#[derive(Debug, Clone)]
pub struct Texture {
    levels: Vec<Level>,
}

impl Texture {
    /// Builds a texture and its mip chain from a row-major RGB image whose sides are powers of two.
    pub(crate) fn from_rgb(w: usize, h: usize, data: Vec<[f32; 3]>) -> Texture {
        debug_assert!(w.is_power_of_two() && h.is_power_of_two() && data.len() == w * h);
        let mut levels = vec![Level { w, h, data }];
        loop {
            let prev = levels.last().expect("at least one level");
            if prev.w == 1 && prev.h == 1 {
                break;
            }
            // 2×2 box filter (along one axis only once the other reached 1): exact for power-of-two sizes.
            let (nw, nh) = ((prev.w / 2).max(1), (prev.h / 2).max(1));
            let (sx, sy) = (prev.w / nw, prev.h / nh);
            let mut data = Vec::with_capacity(nw * nh);
            let inv = 1.0 / (sx * sy) as f32;
            for y in 0..nh {
                for x in 0..nw {
                    let mut acc = [0.0f32; 3];
                    for dy in 0..sy {
                        for dx in 0..sx {
                            let p = prev.data[(y * sy + dy) * prev.w + x * sx + dx];
                            acc[0] += p[0];
                            acc[1] += p[1];
                            acc[2] += p[2];
                        }
                    }
                    data.push([acc[0] * inv, acc[1] * inv, acc[2] * inv]);
                }
            }
            levels.push(Level { w: nw, h: nh, data });
        }
        Texture { levels }
    }

    /// Trilinear sample at texture coordinates (u, v) (repeat wrapping; v = 0 is the first image row) for a pixel
    /// whose footprint has derivatives (du/dx, dv/dx) and (du/dy, dv/dy) per output pixel.
    #[inline]
    pub(crate) fn sample(&self, u: f32, v: f32, dudx: f32, dvdx: f32, dudy: f32, dvdy: f32) -> [f32; 3] {
        let l0 = &self.levels[0];
        let (tw, th) = (l0.w as f32, l0.h as f32);
        // Squared footprint lengths (avoids hypot, a slow libm call, in this hot path); lod = log2(ρ) = ½·log2(ρ²).
        let ax2 = (dudx * tw) * (dudx * tw) + (dvdx * th) * (dvdx * th);
        let ay2 = (dudy * tw) * (dudy * tw) + (dvdy * th) * (dvdy * th);
        let rho2 = ax2.max(ay2);
        let max_level = (self.levels.len() - 1) as f32;
        let lod = if rho2 > 1.0 { (0.5 * rho2.log2()).min(max_level) } else { 0.0 };
        if !lod.is_finite() || lod <= 0.0 {
            return bilinear(l0, u, v);
        }
        let i = fast_floor(lod);
        let t = lod - i;
        let i = i as usize;
        let a = bilinear(&self.levels[i], u, v);
        if t <= 0.0 || i + 1 >= self.levels.len() {
            return a;
        }
        let b = bilinear(&self.levels[i + 1], u, v);
        [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
    }
}

#[inline]
fn bilinear(l: &Level, u: f32, v: f32) -> [f32; 3] {
    let x = u * l.w as f32 - 0.5;
    let y = v * l.h as f32 - 0.5;
    if !(x.is_finite() && y.is_finite()) {
        return l.data[0];
    }
    let (xf, yf) = (fast_floor(x), fast_floor(y));
    let (fx, fy) = (x - xf, y - yf);
    // Sizes are powers of two, so `& (w - 1)` is a repeat wrap that is also right for negative coordinates
    // (two's complement); the f32 → i64 cast saturates, so huge coordinates cannot overflow.
    let (mx, my) = (l.w as i64 - 1, l.h as i64 - 1);
    let (x0, y0) = (xf as i64, yf as i64);
    let (x0, x1) = ((x0 & mx) as usize, ((x0 + 1) & mx) as usize);
    let (y0, y1) = ((y0 & my) as usize, ((y0 + 1) & my) as usize);
    let r0 = y0 * l.w;
    let r1 = y1 * l.w;
    let (p00, p10, p01, p11) = (l.data[r0 + x0], l.data[r0 + x1], l.data[r1 + x0], l.data[r1 + x1]);
    let mut out = [0.0f32; 3];
    for c in 0..3 {
        let top = p00[c] + (p10[c] - p00[c]) * fx;
        let bot = p01[c] + (p11[c] - p01[c]) * fx;
        out[c] = top + (bot - top) * fy;
    }
    out
}

/// floor() without a libm call (f32::floor is a function call on x86-64 without SSE4.1); exact for |x| < 2³¹.
#[inline]
fn fast_floor(x: f32) -> f32 {
    let t = x as i32 as f32;
    if t > x {
        t - 1.0
    } else {
        t
    }
}

fn lerp3(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

/// Checkerboard with `checks` × `checks` squares per unit of texture coordinates.
pub(crate) fn checker(colors: [[f32; 3]; 2], checks: u32) -> Texture {
    let size = (checks as usize * 32).next_power_of_two().clamp(64, 2048);
    let c = checks as usize;
    let mut data = Vec::with_capacity(size * size);
    for y in 0..size {
        for x in 0..size {
            let parity = (x * c / size + y * c / size) % 2;
            data.push(colors[parity]);
        }
    }
    Texture::from_rgb(size, size, data)
}

/// `count` pairs of stripes along u per unit of texture coordinates (stripes are constant along v).
pub(crate) fn stripes(colors: [[f32; 3]; 2], count: u32) -> Texture {
    let size = (count as usize * 32).next_power_of_two().clamp(64, 2048);
    let c = count as usize * 2;
    let row: Vec<[f32; 3]> = (0..size).map(|x| colors[(x * c / size) % 2]).collect();
    let mut data = Vec::with_capacity(size * size);
    for _ in 0..size {
        data.extend_from_slice(&row);
    }
    Texture::from_rgb(size, size, data)
}

/// Smooth periodic value noise: `scale` lattice cells per unit, `octaves` octaves (each twice the frequency, half
/// the amplitude), quintic interpolation, mapped linearly between the two colours. Deterministic for a seed.
pub(crate) fn noise(colors: [[f32; 3]; 2], scale: u32, octaves: u32, seed: u64) -> Texture {
    let max_cells = scale as usize * (1usize << (octaves.saturating_sub(1)).min(10));
    let size = (max_cells * 8).next_power_of_two().clamp(64, 1024);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut acc = vec![0.0f32; size * size];
    let mut amp = 1.0f32;
    let mut total = 0.0f32;
    for o in 0..octaves {
        let cells = scale as usize * (1usize << o.min(10));
        let lattice: Vec<f32> = (0..cells * cells).map(|_| rng.random::<f32>()).collect();
        let fade = |t: f32| t * t * t * (t * (t * 6.0 - 15.0) + 10.0);
        for y in 0..size {
            let gy = (y as f32 + 0.5) / size as f32 * cells as f32;
            let (iy, ty) = (gy.floor() as usize % cells, fade(gy - gy.floor()));
            let iy1 = (iy + 1) % cells;
            for x in 0..size {
                let gx = (x as f32 + 0.5) / size as f32 * cells as f32;
                let (ix, tx) = (gx.floor() as usize % cells, fade(gx - gx.floor()));
                let ix1 = (ix + 1) % cells;
                let a = lattice[iy * cells + ix] + (lattice[iy * cells + ix1] - lattice[iy * cells + ix]) * tx;
                let b = lattice[iy1 * cells + ix] + (lattice[iy1 * cells + ix1] - lattice[iy1 * cells + ix]) * tx;
                acc[y * size + x] += amp * (a + (b - a) * ty);
            }
        }
        total += amp;
        amp *= 0.5;
    }
    let data = acc.iter().map(|&n| lerp3(colors[0], colors[1], (n / total).clamp(0.0, 1.0))).collect();
    Texture::from_rgb(size, size, data)
}

/// An image texture (any size) resampled to the nearest power-of-two sides (at most 2048).
pub(crate) fn from_image(img: &image::DynamicImage) -> Result<Texture, String> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return Err("image is empty".into());
    }
    let pot = |n: usize| -> usize {
        let up = n.next_power_of_two();
        let down = up / 2;
        let p = if down >= 1 && n - down < up - n { down } else { up };
        p.clamp(1, 2048)
    };
    let (tw, th) = (pot(w), pot(h));
    let rgb = if (tw, th) == (w, h) {
        img.to_rgb32f()
    } else {
        img.resize_exact(tw as u32, th as u32, image::imageops::FilterType::CatmullRom).to_rgb32f()
    };
    let data = rgb.pixels().map(|p| [p[0].clamp(0.0, 1.0), p[1].clamp(0.0, 1.0), p[2].clamp(0.0, 1.0)]).collect();
    Ok(Texture::from_rgb(tw, th, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mip_chain_preserves_mean_and_ends_at_one_texel() {
        let t = noise([[0.0, 0.0, 0.0], [1.0, 0.5, 0.25]], 4, 3, 7);
        let mean = |l: &Level| l.data.iter().map(|p| p[0] as f64).sum::<f64>() / l.data.len() as f64;
        let m0 = mean(&t.levels[0]);
        for l in &t.levels {
            assert!((mean(l) - m0).abs() < 1e-4);
        }
        let last = t.levels.last().unwrap();
        assert_eq!((last.w, last.h), (1, 1));
    }

    #[test]
    fn minified_checker_converges_to_its_mean() {
        let t = checker([[0.0; 3], [1.0; 3]], 8);
        // A footprint of a whole texture per pixel selects the 1×1 level: the average grey.
        let c = t.sample(0.3, 0.7, 1.0, 0.0, 0.0, 1.0);
        assert!((c[0] - 0.5).abs() < 1e-4, "{c:?}");
        // Magnified: inside a square the exact colour.
        let c = t.sample(1.0 / 32.0, 1.0 / 32.0, 1e-4, 0.0, 0.0, 1e-4);
        assert!(c[0] < 1e-6, "{c:?}");
        // Repeat wrapping: u and u + 3 sample the same value.
        let a = t.sample(0.123, 0.456, 1e-3, 0.0, 0.0, 1e-3);
        let b = t.sample(3.123, -1.544, 1e-3, 0.0, 0.0, 1e-3);
        assert!((a[0] - b[0]).abs() < 1e-3);
    }
}

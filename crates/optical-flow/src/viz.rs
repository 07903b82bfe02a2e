//! Middlebury colour-wheel visualisation of flow (Baker et al., "A Database and Evaluation Methodology for Optical
//! Flow", IJCV 2011): hue encodes direction, saturation encodes magnitude relative to a maximum radius.

use ndarray::ArrayView3;

use crate::metrics::check_flow;
use crate::FlowError;

/// The 55-colour wheel: red→yellow (15 steps), yellow→green (6), green→cyan (4), cyan→blue (11), blue→magenta (13),
/// magenta→red (6), as in the Middlebury code.
fn wheel() -> Vec<[f32; 3]> {
    let segments: [(usize, [f32; 3], [f32; 3]); 6] = [
        (15, [255.0, 0.0, 0.0], [255.0, 255.0, 0.0]),
        (6, [255.0, 255.0, 0.0], [0.0, 255.0, 0.0]),
        (4, [0.0, 255.0, 0.0], [0.0, 255.0, 255.0]),
        (11, [0.0, 255.0, 255.0], [0.0, 0.0, 255.0]),
        (13, [0.0, 0.0, 255.0], [255.0, 0.0, 255.0]),
        (6, [255.0, 0.0, 255.0], [255.0, 0.0, 0.0]),
    ];
    let mut cols = Vec::with_capacity(55);
    for (n, from, to) in segments {
        for i in 0..n {
            let t = i as f32 / n as f32;
            cols.push([0, 1, 2].map(|c| (from[c] + t * (to[c] - from[c])).floor()));
        }
    }
    cols
}

/// Colour of one flow vector already divided by the maximum radius (so `|(u, v)| ≤ 1` inside the wheel). Vectors
/// longer than 1 are drawn darkened (×0.75), as in the Middlebury code.
pub fn middlebury_color(u: f32, v: f32) -> [u8; 3] {
    color_with(&wheel(), u, v)
}

fn color_with(cols: &[[f32; 3]], u: f32, v: f32) -> [u8; 3] {
    if !(u.is_finite() && v.is_finite()) {
        return [0, 0, 0];
    }
    let n = cols.len();
    let rad = (u * u + v * v).sqrt();
    let a = (-v).atan2(-u) / std::f32::consts::PI;
    let fk = (a + 1.0) / 2.0 * (n - 1) as f32;
    let k0 = (fk.floor() as usize).min(n - 1);
    let k1 = (k0 + 1) % n;
    let f = fk - k0 as f32;
    let mut out = [0u8; 3];
    for c in 0..3 {
        let col0 = cols[k0][c] / 255.0;
        let col1 = cols[k1][c] / 255.0;
        let mut col = (1.0 - f) * col0 + f * col1;
        if rad <= 1.0 {
            col = 1.0 - rad * (1.0 - col);
        } else {
            col *= 0.75;
        }
        out[c] = (255.0 * col).round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// Colour-wheel image of a flow field. `max_radius` is the magnitude drawn fully saturated; `None` uses the largest
/// magnitude in the field (a zero field is white).
pub fn flow_to_rgb(flow: ArrayView3<f32>, max_radius: Option<f32>) -> Result<image::RgbImage, FlowError> {
    let (h, w, _) = flow.dim();
    check_flow(flow, h, w, "flow")?;
    let maxr = match max_radius {
        Some(r) if r.is_finite() && r > 0.0 => r,
        Some(r) => {
            return Err(FlowError::InvalidParam {
                name: "max_radius",
                value: r.to_string(),
                reason: "must be a finite number > 0".into(),
            })
        }
        None => flow
            .outer_iter()
            .flat_map(|row| row.outer_iter().map(|p| (p[0] * p[0] + p[1] * p[1]).sqrt()).collect::<Vec<_>>())
            .fold(0.0f32, f32::max)
            .max(1e-6),
    };
    let cols = wheel();
    let mut img = image::RgbImage::new(w as u32, h as u32);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (xu, yu) = (x as usize, y as usize);
        px.0 = color_with(&cols, flow[[yu, xu, 0]] / maxr, flow[[yu, xu, 1]] / maxr);
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_directions_match_middlebury() {
        assert_eq!(wheel().len(), 55);
        assert_eq!(middlebury_color(0.0, 0.0), [255, 255, 255]);
        // Rightward motion is red-ish in the Middlebury wheel; leftward cyan-ish; down (v > 0) greenish-yellow;
        // up blue-violet.
        let right = middlebury_color(1.0, 0.0);
        assert!(right[0] > 200 && right[2] < 60, "{right:?}");
        let left = middlebury_color(-1.0, 0.0);
        assert!(left[0] < 60 && left[1] > 150 && left[2] > 150, "{left:?}");
        let down = middlebury_color(0.0, 1.0);
        assert!(down[1] > 150 && down[2] < 60, "{down:?}");
        let up = middlebury_color(0.0, -1.0);
        assert!(up[2] > 150 && up[1] < 60, "{up:?}");
        // Half magnitude is paler (closer to white) than full magnitude.
        let half = middlebury_color(0.5, 0.0);
        assert!(half[2] > right[2]);
    }
}

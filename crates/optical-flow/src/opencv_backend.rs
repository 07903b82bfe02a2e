//! OpenCV's DIS and Farneback through the `opencv` crate (cargo feature `opencv`), used as references.
//!
//! Frames are passed as 8-bit grey images (values in [0, 1] scaled by 255 and rounded), as OpenCV's DIS requires.

use ndarray::Array3;
use opencv::core::{Mat, Vec2f};
use opencv::prelude::*;
use opencv::video;

use crate::{Flow, FlowError, FlowMethod, OpencvDisPreset, PreparedFrame};

fn cv_err(e: opencv::Error) -> FlowError {
    FlowError::Opencv(e.to_string())
}

fn to_mat(f: &PreparedFrame) -> Result<Mat, FlowError> {
    let m = Mat::new_rows_cols_with_data(f.height as i32, f.width as i32, &f.bytes).map_err(cv_err)?;
    m.try_clone().map_err(cv_err)
}

pub(crate) fn flow(method: &FlowMethod, frame1: &PreparedFrame, frame2: &PreparedFrame) -> Result<Flow, FlowError> {
    let a = to_mat(frame1)?;
    let b = to_mat(frame2)?;
    let mut out = Mat::default();
    match method {
        FlowMethod::OpencvDis(preset) => {
            let p = match preset {
                OpencvDisPreset::Medium => video::DISOpticalFlow_PRESET_MEDIUM,
                OpencvDisPreset::Fast => video::DISOpticalFlow_PRESET_FAST,
            };
            let mut dis = video::DISOpticalFlow::create(p).map_err(cv_err)?;
            dis.calc(&a, &b, &mut out).map_err(cv_err)?;
        }
        FlowMethod::OpencvFarneback => {
            video::calc_optical_flow_farneback(&a, &b, &mut out, 0.5, 5, 15, 3, 5, 1.2, 0).map_err(cv_err)?;
        }
        other => return Err(FlowError::Opencv(format!("{} is not an OpenCV method", other.name()))),
    }
    let (h, w) = (frame1.height, frame1.width);
    if out.rows() as usize != h || out.cols() as usize != w {
        return Err(FlowError::Opencv(format!(
            "OpenCV returned a {}×{} flow for a {w}×{h} frame",
            out.cols(),
            out.rows()
        )));
    }
    let data = out.data_typed::<Vec2f>().map_err(cv_err)?;
    let mut f = Array3::<f32>::zeros((h, w, 2));
    for (k, v) in data.iter().enumerate() {
        f[[k / w, k % w, 0]] = v[0];
        f[[k / w, k % w, 1]] = v[1];
    }
    Ok(f)
}

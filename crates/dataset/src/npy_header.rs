//! The `.npy` header, parsed and checked against the file length before any data is read or allocated.
//!
//! Format (NumPy's `format.py`): magic `\x93NUMPY`, version major/minor, header length (u16 little-endian for version
//! 1, u32 for versions 2 and 3), then a Python dict literal with `descr`, `fortran_order` and `shape`.

use std::io::Read;
use std::path::Path;

use crate::{DatasetError, Result};

/// Element types the loaders read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dtype {
    F32,
    F64,
    U8,
    U16,
}

impl Dtype {
    pub(crate) fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
            Dtype::U8 => 1,
            Dtype::U16 => 2,
        }
    }
}

/// What a header declares, validated against the file length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Bytes of array data (= product of the shape × element size; equals the file length after the header).
    pub data_bytes: u128,
}

const MAGIC: &[u8] = b"\x93NUMPY";
/// NumPy refuses headers longer than this by default; so do we (it bounds what is read before any check).
const MAX_HEADER: usize = 1 << 20;

/// Reads and checks the header of the `.npy` at `path` (reads only the header bytes).
pub(crate) fn read_header(path: &Path) -> Result<Header> {
    let io = |e: std::io::Error| DatasetError::Io { path: path.to_path_buf(), message: e.to_string() };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let file_len = f.metadata().map_err(io)?.len();
    let mut pre = Vec::with_capacity(12);
    (&mut f).take(12).read_to_end(&mut pre).map_err(io)?;
    let (start, len) = header_span(path, &pre)?;
    let mut text = pre.get(start..).unwrap_or(&[]).to_vec();
    let rest = len.saturating_sub(text.len());
    (&mut f).take(rest as u64).read_to_end(&mut text).map_err(io)?;
    text.truncate(len);
    parse(path, &text, len, (start + len) as u64, file_len)
}

fn ferr(path: &Path, message: String) -> DatasetError {
    DatasetError::Format { path: path.to_path_buf(), message }
}

/// (header text start, header text length) from the first 12 bytes.
fn header_span(path: &Path, pre: &[u8]) -> Result<(usize, usize)> {
    if pre.len() < 10 || &pre[..6] != MAGIC {
        return Err(ferr(path, "not a .npy file (no \\x93NUMPY magic at the start)".into()));
    }
    let (start, len) = match pre[6] {
        1 => (10, u16::from_le_bytes([pre[8], pre[9]]) as usize),
        2 | 3 if pre.len() >= 12 => (12, u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as usize),
        2 | 3 => return Err(ferr(path, "file ends inside the .npy preamble".into())),
        v => return Err(ferr(path, format!(".npy format version {v}.{} is not supported (1, 2 or 3)", pre[7]))),
    };
    if len > MAX_HEADER {
        return Err(ferr(
            path,
            format!(".npy header declares {len} bytes (more than {MAX_HEADER}): not a real header"),
        ));
    }
    Ok((start, len))
}

fn parse(path: &Path, text: &[u8], len: usize, data_start: u64, file_len: u64) -> Result<Header> {
    if text.len() < len {
        return Err(ferr(path, format!("file ends inside the .npy header ({} of {len} header bytes)", text.len())));
    }
    let text = std::str::from_utf8(text).map_err(|_| ferr(path, ".npy header is not text".into()))?;
    let dict = text.trim_end_matches(['\n', ' ', '\0']).trim();
    let descr = value_of(dict, "descr").ok_or_else(|| ferr(path, format!(".npy header has no 'descr': {dict}")))?;
    let descr = unquote(descr).ok_or_else(|| {
        ferr(path, format!("dtype {descr} is not supported: expected float32, float64, uint8 or uint16"))
    })?;
    let dtype = match descr.trim_start_matches(['<', '>', '|', '=']) {
        "f4" => Dtype::F32,
        "f8" => Dtype::F64,
        "u1" => Dtype::U8,
        "u2" => Dtype::U16,
        _ => {
            return Err(ferr(
                path,
                format!("dtype '{descr}' is not supported: expected float32, float64, uint8 or uint16"),
            ))
        }
    };
    let order = value_of(dict, "fortran_order")
        .ok_or_else(|| ferr(path, format!(".npy header has no 'fortran_order': {dict}")))?;
    if !matches!(order, "True" | "False") {
        return Err(ferr(path, format!(".npy header: fortran_order is {order}, expected True or False")));
    }
    let shape_text =
        value_of(dict, "shape").ok_or_else(|| ferr(path, format!(".npy header has no 'shape': {dict}")))?;
    let shape = parse_shape(shape_text)
        .ok_or_else(|| ferr(path, format!(".npy header: shape {shape_text} is not a tuple of sizes")))?;
    let elements = shape.iter().try_fold(1u128, |a, &s| a.checked_mul(s as u128));
    let Some(data_bytes) = elements.and_then(|e| e.checked_mul(dtype.size() as u128)) else {
        return Err(ferr(path, format!("shape {shape:?} declares more values than can be addressed")));
    };
    let found = file_len.saturating_sub(data_start) as u128;
    if data_bytes != found {
        let which = if found < data_bytes { "shorter" } else { "longer" };
        return Err(ferr(
            path,
            format!(
                "file {which} than its header declares: expected {data_bytes} bytes of data (shape {shape:?}, \
                 dtype '{descr}'), found {found}"
            ),
        ));
    }
    Ok(Header { dtype, shape, data_bytes })
}

/// The raw text of the value of `key` in a flat Python dict literal (up to the next top-level comma or `}`).
fn value_of<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    let body = dict.strip_prefix('{')?.strip_suffix('}')?;
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut start = 0;
    let mut items = Vec::new();
    for (i, c) in body.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                items.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&body[start..]);
    items.into_iter().find_map(|item| {
        let (k, v) = item.split_once(':')?;
        (unquote(k.trim())? == key).then(|| v.trim())
    })
}

fn unquote(s: &str) -> Option<&str> {
    let s = s.trim();
    if s.len() >= 2 && ((s.starts_with('\'') && s.ends_with('\'')) || (s.starts_with('"') && s.ends_with('"'))) {
        Some(&s[1..s.len() - 1])
    } else {
        None
    }
}

fn parse_shape(s: &str) -> Option<Vec<usize>> {
    let inner = s.strip_prefix('(')?.strip_suffix(')')?.trim();
    if inner.is_empty() {
        return Some(Vec::new());
    }
    inner.trim_end_matches(',').split(',').map(|p| p.trim().trim_end_matches('L').parse::<usize>().ok()).collect()
}

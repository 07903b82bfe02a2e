//! Property tests of the scene-file reader under hostile bytes: random files and mutated valid scene files never
//! panic; each is either a scene or an error whose message names the file.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use scene_render::Scene;

/// A folder with the shipped scene files and their assets (meshes, textures), so mutated files resolve them.
fn scenes_copy() -> (tempfile::TempDir, Vec<(String, Vec<u8>)>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/scenes");
    let tmp = tempfile::tempdir().unwrap();
    let mut tomls = Vec::new();
    for e in fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = fs::read(&p).unwrap();
        fs::write(tmp.path().join(&name), &bytes).unwrap();
        if name.ends_with(".toml") {
            tomls.push((name, bytes));
        }
    }
    tomls.sort();
    (tmp, tomls)
}

/// Reads `bytes` as the scene file `dir/name`: Ok, or an error naming that file.
fn read_as(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let path: PathBuf = dir.join(name);
    fs::write(&path, bytes).unwrap();
    match Scene::from_toml_path(&path) {
        Ok(_) => Ok(()),
        Err(e) => {
            let message = e.to_string();
            if message.contains(&path.display().to_string()) {
                Ok(())
            } else {
                Err(format!("error does not name {}: {message}", path.display()))
            }
        }
    }
}

/// One byte-level edit: replace, insert or delete at a position (taken modulo the length).
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes that matter to TOML and numbers, and any byte at all.
    let byte = prop_oneof![prop::sample::select(b"[]{}=\".,-+e0123456789\n#'\\ ".to_vec()), any::<u8>(),];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<usize>(), prop::collection::vec(byte, 1..6)).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Edit::Delete(i, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, e: &Edit) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match e {
        Edit::Replace(i, b) => {
            if !bytes.is_empty() {
                let i = at(*i, bytes.len());
                bytes[i] = *b;
            }
        }
        Edit::Insert(i, b) => {
            let i = at(*i, bytes.len() + 1);
            bytes.splice(i..i, b.iter().copied());
        }
        Edit::Delete(i, n) => {
            let i = at(*i, bytes.len());
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_refused_naming_the_file(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let (dir, _) = scenes_copy();
        prop_assert!(read_as(dir.path(), "random.toml", &bytes).is_ok(), "{:?}", read_as(dir.path(), "random.toml", &bytes));
    }

    #[test]
    fn mutated_scene_files_parse_or_are_refused_naming_the_file(
        which in 0usize..4,
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let (dir, tomls) = scenes_copy();
        let (name, original) = &tomls[which % tomls.len()];
        let mut bytes = original.clone();
        for e in &edits {
            apply(&mut bytes, e);
        }
        let r = read_as(dir.path(), &format!("mutated-{name}"), &bytes);
        prop_assert!(r.is_ok(), "{:?}", r);
    }
}

#[test]
fn the_shipped_scene_files_read() {
    let (dir, tomls) = scenes_copy();
    assert_eq!(tomls.len(), 4);
    for (name, _) in &tomls {
        Scene::from_toml_path(&dir.path().join(name)).unwrap();
    }
}

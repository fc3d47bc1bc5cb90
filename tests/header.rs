//! `include/cachekit.h` must be exactly what cbindgen generates from the
//! current source. Regenerate with `ci/gen-header.sh`.

use std::path::PathBuf;

#[test]
fn the_checked_in_header_is_what_cbindgen_generates() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(&root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let path = root.join("include/cachekit.h");
    if std::env::var_os("CACHEKIT_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let current = std::fs::read(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "include/cachekit.h is stale: run ci/gen-header.sh and commit the result"
    );
}

//! Helpers shared by the trainer's integration tests.

use std::path::{Path, PathBuf};

/// Root of the real-speech test data: `$WIDEN_TESTDATA` or `<workspace>/.cache/testdata`.
pub fn testdata() -> PathBuf {
    let dir = std::env::var_os("WIDEN_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/testdata"));
    assert!(
        dir.join("ktuberling/fr").is_dir(),
        "real-speech test data missing at {}: run scripts/setup-tests.sh (or set WIDEN_TESTDATA)",
        dir.display()
    );
    dir
}

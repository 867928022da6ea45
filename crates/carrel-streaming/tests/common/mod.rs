//! What the crate's tests on real media share: the corpus, and whether
//! ffmpeg's tools are here (where they must be, `CARREL_REQUIRE_FFPROBE`
//! as `./test` sets it, their absence fails the test instead of skipping it).
#![allow(dead_code)] // each test binary uses its own part

use std::path::PathBuf;

/// A file of `../shared/corpus/media`.
pub fn corpus(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/media")
        .join(rel)
}

/// Whether `tool` (ffmpeg, ffprobe) runs here and the corpus file `needs`
/// is present; false (with a visible message) only where they may be missing.
pub fn have(tool: &str, needs: &str) -> bool {
    let ok = std::process::Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
        && corpus(needs).exists();
    if !ok {
        assert!(
            std::env::var_os("CARREL_REQUIRE_FFPROBE").is_none(),
            "{tool} and ../shared/corpus/media are required (scripts/install-test-deps)"
        );
        eprintln!("SKIPPING: no {tool} or no media corpus here");
    }
    ok
}

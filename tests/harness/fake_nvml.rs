//! The fake libnvidia-ml (`bins/anklume-gpud/tests/fixtures/fake_nvml.c`)
//! built with `cc` once per test binary. Shared by the crates that run
//! anklume-gpud for real (`#[path]`-included from a crate two levels
//! below the repository root).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn fake_nvml() -> &'static Path {
    static BUILT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &BUILT
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("libnvidia-ml.so.1");
            let source = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../bins/anklume-gpud/tests/fixtures/fake_nvml.c");
            let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
                .args(["-shared", "-fPIC", "-O1", "-o"])
                .arg(&out)
                .arg(&source)
                .status()
                .expect("a C compiler (cc) to build the fake NVML");
            assert!(status.success(), "cc failed on {}", source.display());
            (dir, out)
        })
        .1
}

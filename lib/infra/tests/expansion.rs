//! A small file of aliases to long strings must not expand to gigabytes:
//! the loader bounds the expanded size in bytes, refuses past it with a
//! located error, and its memory stays bounded (issue 9, item 13). Every
//! binary shares this loader, the daemons included, which re-read the
//! infra on calls any local user may make.

use std::path::Path;
use std::process::Command;

use anklume_infra::{NestingContext, load};

const CHILD_ENV: &str = "ANKLUME_EXPANSION_CHILD";

/// ~101 KB: one 100,000-byte string, aliased 16 × 16 × 16 × 20 times
/// (81,920 copies, 8.2 GB expanded), far under the node cap.
fn string_bomb() -> String {
    let mut text = format!("project_name: demo\nbig: &s {}\n", "x".repeat(100_000));
    let mut prev = "s".to_owned();
    for level in 1..=3 {
        let aliases = vec![format!("*{prev}"); 16].join(", ");
        text.push_str(&format!("l{level}: &l{level} [{aliases}]\n"));
        prev = format!("l{level}");
    }
    let aliases = vec![format!("*{prev}"); 20].join(", ");
    text.push_str(&format!("l4: [{aliases}]\n"));
    text
}

/// Peak resident memory of this process so far, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

#[test]
fn an_expansion_in_bytes_is_refused_with_a_location_and_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("infra.yml");
    let text = string_bomb();
    assert!((100_000..110_000).contains(&text.len()), "{}", text.len());
    std::fs::write(&path, &text).unwrap();

    // In a child process, so the peak memory measured is the load's alone.
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_loads_the_file",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the loader died ({:?}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let error = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ERROR: "))
        .unwrap_or_else(|| panic!("no error reported:\n{stdout}"));
    let expected = format!("{}:5:", path.display());
    assert!(error.starts_with(&expected), "{error}");
    assert!(
        error.contains("YAML document too large: more than 64 MiB after expanding aliases"),
        "{error}"
    );
    let peak: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PEAK_KIB: "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no peak reported:\n{stdout}"));
    eprintln!("peak RSS of the loading child: {} MiB", peak / 1024);
    assert!(peak < 256 * 1024, "peak RSS {} MiB", peak / 1024);
}

/// The child's half: loads the file named by the environment and prints
/// the first error and its own peak memory. Run only by the test above.
#[test]
#[ignore = "run by an_expansion_in_bytes_is_refused_with_a_location_and_bounded_memory"]
fn child_loads_the_file() {
    let path = std::env::var(CHILD_ENV).expect("run by the parent test");
    let loaded = load(Path::new(&path), &NestingContext::default()).unwrap();
    assert!(loaded.infra.is_none());
    println!("\nERROR: {}", loaded.report.errors[0]);
    println!("PEAK_KIB: {}", peak_rss_kib());
}

//! What anklume-gen prints: the contract's exact lines (§8, §10), and the
//! JSON report of `validate --format json`.

use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use anklume_generator::{Cleanup, FileStatus, SyncOptions, SyncSummary};
use anklume_infra::{Infra, Loaded, SourceError};

/// Prints warnings, notices and errors. Returns the infra when valid.
pub fn print_findings(loaded: &Loaded) -> Option<&Infra> {
    let report = &loaded.report;
    for warning in &report.warnings {
        eprintln!("WARNING: {warning}");
    }
    for notice in &report.notices {
        eprintln!("INFO: {notice}");
    }
    if !report.errors.is_empty() {
        eprintln!("Validation errors:");
        for error in &report.errors {
            eprintln!("  - {error}");
        }
    }
    loaded.infra.as_ref()
}

fn prefix(options: SyncOptions) -> &'static str {
    if options.dry_run { "[DRY-RUN] " } else { "" }
}

pub fn print_start(infra: &Infra, options: SyncOptions) {
    println!(
        "{}Generating files for {} domain(s)...",
        prefix(options),
        infra.domains.len()
    );
}

/// `base_dir/path`, without a leading `./` for the current directory.
fn shown(base_dir: &Path, path: &Path) -> PathBuf {
    if base_dir.as_os_str().is_empty() || base_dir == Path::new(".") {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}

pub fn print_summary(summary: &SyncSummary, base_dir: &Path, options: SyncOptions) {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let p = prefix(options);
    for file in &summary.files {
        let verb = match file.status {
            FileStatus::Written => "Written",
            FileStatus::Unchanged => "Unchanged",
            FileStatus::WouldWrite => "Would write",
        };
        let _ = writeln!(
            out,
            "  {p}{verb}: {}",
            shown(base_dir, &file.path).display()
        );
    }
    if !summary.orphans.is_empty() {
        let _ = writeln!(out, "\nOrphan files ({}):", summary.orphans.len());
        for orphan in &summary.orphans {
            let path = shown(base_dir, &orphan.path);
            if orphan.protected {
                let _ = writeln!(
                    out,
                    "  PROTECTED (ephemeral=false): {} — manual removal required",
                    path.display()
                );
            } else {
                let _ = writeln!(out, "  ORPHAN: {}", path.display());
            }
        }
    }
    for (path, action) in &summary.cleanup {
        let path = shown(base_dir, path);
        match action {
            Cleanup::Deleted => {
                let _ = writeln!(out, "  Deleted: {}", path.display());
            }
            Cleanup::SkippedProtected => {
                let _ = writeln!(out, "  Skipped (protected): {}", path.display());
            }
        }
    }
    if !options.dry_run {
        let _ = writeln!(out, "\nDone.");
    }
}

pub fn print_valid(loaded: &Loaded, infra: &Infra) {
    let policies = infra.network_policies.as_ref().map_or(0, Vec::len);
    println!(
        "Valid: {}: {} domain(s), {} machine(s), {} network polic{}.",
        loaded.source.main_file().display(),
        infra.domains.len(),
        infra.machines().count(),
        policies,
        if policies == 1 { "y" } else { "ies" }
    );
}

/// The JSON report; returns whether the infra is valid.
pub fn print_json(path: &Path, result: &Result<Loaded, SourceError>) -> bool {
    let json = match result {
        Ok(loaded) => {
            let summary = loaded.infra.as_ref().map(|infra| {
                serde_json::json!({
                    "domains": infra.domains.len(),
                    "machines": infra.machines().count(),
                    "network_policies": infra.network_policies.as_ref().map_or(0, Vec::len),
                })
            });
            serde_json::json!({
                "valid": loaded.infra.is_some(),
                "infra": loaded.source.main_file().display().to_string(),
                "errors": loaded.report.errors,
                "warnings": loaded.report.warnings,
                "notices": loaded.report.notices,
                "summary": summary,
            })
        }
        Err(e) => serde_json::json!({
            "valid": false,
            "infra": path.display().to_string(),
            "errors": [{ "message": e.to_string() }],
            "warnings": [],
            "notices": [],
            "summary": null,
        }),
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&json).expect("JSON of plain data")
    );
    matches!(result, Ok(l) if l.infra.is_some())
}

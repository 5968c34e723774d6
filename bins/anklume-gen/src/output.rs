//! What anklume-gen prints: the contract's exact lines (§8, §10), and the
//! JSON report of `validate --format json`.

use std::io::{BufWriter, Write as _};
use std::path::Path;

use anklume_generator::roles;
use anklume_generator::{Cleanup, FileStatus, SyncFailure, SyncOptions, SyncSummary};
use anklume_infra::{Infra, Loaded, SourceError, escape_controls};

/// Anything shown on a terminal: control characters escaped (`\x1b`,
/// `\n`, `\0`), since names and paths come from files anyone may write.
pub fn safe(value: &impl std::fmt::Display) -> String {
    escape_controls(&value.to_string()).into_owned()
}

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

/// Warns about roles neither shipped nor in `roles_custom/` (next to the
/// infra): `make apply` refuses them, so say it before.
pub fn warn_unknown_roles(loaded: &Loaded, infra: &Infra) {
    let dir = roles::roles_custom_dir(&loaded.source);
    for unknown in roles::unknown_roles(infra, &dir) {
        eprintln!("WARNING: {}", safe(&unknown));
    }
}

/// Warns about a UI whose Ollama or STT server is in another domain that
/// no network policy opens (the sync names the policy to add), or that has
/// no static IP there (its name would not resolve across bridges).
pub fn warn_ai_wiring(infra: &Infra) {
    for missing in anklume_generator::ai_wiring::unreachable(infra) {
        eprintln!("WARNING: {}", safe(&missing));
    }
    for unaddressed in anklume_generator::ai_wiring::unaddressed(infra) {
        eprintln!("WARNING: {}", safe(&unaddressed));
    }
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

/// `base_dir/path` for a terminal, without a leading `./` for the current
/// directory.
fn shown(base_dir: &Path, path: &Path) -> String {
    let full = if base_dir.as_os_str().is_empty() || base_dir == Path::new(".") {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    };
    safe(&full.display())
}

/// Said once when another sync holds the lock.
pub fn print_lock_wait(base_dir: &Path) {
    eprintln!(
        "waiting for the lock on {} held by another sync…",
        safe(&base_dir.display())
    );
}

/// Why the sync stopped, and exactly what it had written by then.
pub fn print_failure(failure: &SyncFailure, base_dir: &Path) {
    for error in &failure.errors {
        eprintln!("ERROR: {}", safe(error));
    }
    if failure.written.is_empty() && failure.not_written.is_empty() {
        eprintln!("Nothing was written: every file is as it was before this sync.");
        return;
    }
    if failure.written.is_empty() {
        eprintln!("Nothing was written.");
    } else {
        eprintln!("Written before the failure ({}):", failure.written.len());
        for path in &failure.written {
            eprintln!("  Written: {}", shown(base_dir, path));
        }
    }
    if !failure.not_written.is_empty() {
        eprintln!("NOT written ({}):", failure.not_written.len());
        for path in &failure.not_written {
            eprintln!("  Not written: {}", shown(base_dir, path));
        }
    }
    eprintln!(
        "Each file is either as before or fully updated, but the tree is partly updated: fix the error and sync again."
    );
}

pub fn print_summary(summary: &SyncSummary, base_dir: &Path, options: SyncOptions) {
    print_version_notes(summary, base_dir, options);
    let mut out = BufWriter::new(std::io::stdout().lock());
    let p = prefix(options);
    for path in &summary.removed_temps {
        let _ = writeln!(
            out,
            "  Removed leftover temporary file: {}",
            shown(base_dir, path)
        );
    }
    for file in &summary.files {
        let verb = match file.status {
            FileStatus::Written => "Written",
            FileStatus::Unchanged => "Unchanged",
            FileStatus::WouldWrite => "Would write",
        };
        let _ = writeln!(out, "  {p}{verb}: {}", shown(base_dir, &file.path));
    }
    if !summary.orphans.is_empty() {
        let _ = writeln!(out, "\nOrphan files ({}):", summary.orphans.len());
        for orphan in &summary.orphans {
            let path = shown(base_dir, &orphan.path);
            if orphan.protected {
                let _ = writeln!(
                    out,
                    "  PROTECTED (ephemeral=false): {path} — manual removal required"
                );
            } else {
                let _ = writeln!(out, "  ORPHAN: {path}");
            }
        }
    }
    for (path, action) in &summary.cleanup {
        let path = shown(base_dir, path);
        match action {
            Cleanup::Deleted => {
                let _ = writeln!(out, "  Deleted: {path}");
            }
            Cleanup::SkippedProtected => {
                let _ = writeln!(out, "  Skipped (protected): {path}");
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
        safe(&loaded.source.main_file().display()),
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

/// One warning per other anklume version found in the tree's managed
/// headers (`# generated by anklume <version>`).
fn print_version_notes(summary: &SyncSummary, base_dir: &Path, options: SyncOptions) {
    use anklume_generator::managed::{VERSION, is_older};
    let mut versions: std::collections::BTreeMap<Option<&str>, usize> = Default::default();
    for (_, version) in &summary.other_versions {
        *versions.entry(version.as_deref()).or_default() += 1;
    }
    let verb = if options.dry_run {
        "would be re-generated"
    } else {
        "are re-generated"
    };
    let base = safe(&base_dir.display().to_string());
    for (version, count) in versions {
        match version {
            Some(v) if !is_older(v, VERSION) => eprintln!(
                "WARNING: {count} file(s) under {base} were generated by a newer anklume ({}) than this one ({VERSION}); \
                 their managed sections {verb} by the older one. Use the newer anklume-gen.",
                safe(&v)
            ),
            Some(v) => eprintln!(
                "WARNING: {count} file(s) under {base} were generated by an older anklume ({}); \
                 this is anklume {VERSION}: their managed sections {verb} (see docs/lifecycle.md).",
                safe(&v)
            ),
            None => eprintln!(
                "WARNING: {count} file(s) under {base} were generated by an older anklume (no version marker); \
                 this is anklume {VERSION}: their managed sections {verb} (see docs/lifecycle.md)."
            ),
        }
    }
}

//! The one model of anklume's `infra.yml`: loading (a file or an `infra/`
//! directory), validation with located messages, and addressing. Every
//! anklume binary uses this crate, so they never read the infra differently.
//!
//! ```no_run
//! use anklume_infra::{load, NestingContext};
//! let loaded = load(std::path::Path::new("infra.yml"), &NestingContext::from_env())?;
//! match loaded.infra {
//!     Some(infra) => println!("{} domain(s)", infra.domains.len()),
//!     None => loaded.report.errors.iter().for_each(|e| eprintln!("{e}")),
//! }
//! # Ok::<(), anklume_infra::SourceError>(())
//! ```

pub mod addressing;
mod check;
pub mod context;
pub mod diagnostic;
pub mod location;
pub mod model;
pub mod restrictions;
pub mod source;
pub mod terminal;
pub mod value;
mod yaml;

use std::path::Path;
use std::sync::Arc;

pub use addressing::{BRIDGE_PREFIX, BaseSubnet, DomainNetwork};
pub use context::NestingContext;
pub use diagnostic::{Diagnostic, Report};
pub use location::Location;
pub use model::*;
pub use source::{InfraSource, SourceError};
pub use terminal::escape_controls;
pub use value::{Mapping, MappingBuilder, Value};

/// Name of the firewall VM that `firewall_mode: vm` adds.
pub const FIREWALL_VM: &str = "sys-firewall";

/// The outcome of loading: the model when the input is valid, and the
/// findings either way.
#[derive(Debug)]
pub struct Loaded {
    pub source: InfraSource,
    /// `Some` exactly when `report.errors` is empty.
    pub infra: Option<Infra>,
    pub report: Report,
}

/// Loads and validates the infra at `path` (file or `infra/` directory).
/// `Err` only when there is nothing to read; invalid content is reported
/// in [`Loaded::report`].
pub fn load(path: &Path, context: &NestingContext) -> Result<Loaded, SourceError> {
    let source = InfraSource::locate(path)?;
    let mut report = Report::default();
    // Duplicate keys do not stop the checks: every problem is reported.
    let infra = source.read(&mut report)?.and_then(|root| {
        let file: Arc<str> = Arc::from(source.main_file().display().to_string());
        check::check(root.as_ref(), &file, context, &mut report)
    });
    Ok(Loaded {
        source,
        infra,
        report,
    })
}

/// The closest of `known` to `word`, when it is close enough to be a typo;
/// for the "did you mean" of every message.
pub fn suggestion<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    check::keys::suggestion(word, known)
}

/// Why an infra cannot be used: nothing to read there, or invalid content.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    /// Nothing to read. A missing infra says "no infra yet at PATH": what
    /// a daemon reports on a fresh install until the infra is written.
    #[error("{}", source_message(.0))]
    Source(#[from] SourceError),
    #[error("{path} is invalid: {}", join_errors(.errors))]
    Invalid {
        path: String,
        errors: Vec<Diagnostic>,
    },
}

fn source_message(e: &SourceError) -> String {
    match e {
        SourceError::NotFound(path) => format!("no infra yet at {path}"),
        other => other.to_string(),
    }
}

fn join_errors(errors: &[Diagnostic]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Loads the infra at `path` as a typed result: the model, or why there is
/// none. What every daemon uses (the generator wants the whole report).
pub fn load_valid(path: &Path, context: &NestingContext) -> Result<Infra, InfraError> {
    let loaded = load(path, context)?;
    loaded.infra.ok_or_else(|| InfraError::Invalid {
        path: path.display().to_string(),
        errors: loaded.report.errors,
    })
}

/// Validates infra text as if read from `file_name`; for editors, tests and
/// fuzzing. Never panics, whatever the input.
pub fn load_str(text: &str, file_name: &str, context: &NestingContext) -> (Option<Infra>, Report) {
    let mut report = Report::default();
    let file: Arc<str> = Arc::from(file_name);
    let infra = match source::parse_text(text, &file, &mut report) {
        Some(root) => check::check(root.as_ref(), &file, context, &mut report),
        None => None,
    };
    (infra, report)
}

/// Parses one YAML document into plain data, with the same reader (and the
/// same refusal of duplicate keys) as the infra; an empty document is
/// `Value::Null`. For reading back generated files.
pub fn parse_yaml(text: &str, file_name: &str) -> Result<Value, Vec<Diagnostic>> {
    let mut report = Report::default();
    let root = source::parse_text(text, &Arc::from(file_name), &mut report);
    match root {
        Some(root) if report.is_valid() => Ok(root.map_or(Value::Null, |n| n.to_value())),
        _ => Err(report.errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_valid_gives_the_model_or_a_typed_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("infra.yml");
        let context = NestingContext::default();
        assert!(matches!(
            load_valid(&path, &context),
            Err(InfraError::Source(SourceError::NotFound(_)))
        ));
        assert_eq!(
            load_valid(&path, &context).unwrap_err().to_string(),
            format!("no infra yet at {}", path.display())
        );
        std::fs::write(&path, "project_name: t\nglobal: {}\ndomains: {}\n").unwrap();
        assert!(load_valid(&path, &context).is_ok());
        std::fs::write(
            &path,
            "project_name: t\nglobal: {}\ndomains:\n  pro:\n    subnet_id: 999\n",
        )
        .unwrap();
        let err = load_valid(&path, &context).unwrap_err();
        assert!(matches!(&err, InfraError::Invalid { errors, .. } if !errors.is_empty()));
        assert!(
            err.to_string()
                .starts_with(&format!("{} is invalid: ", path.display())),
            "{err}"
        );
    }
}

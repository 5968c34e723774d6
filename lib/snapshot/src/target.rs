//! Targets of snapshot calls: `instance:<name>`, `domain:<name>` or `all`,
//! resolved through the host's infra (a domain is an Incus project).

use std::fmt;

use anklume_infra::Infra;

use crate::EngineError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Instance(String),
    Domain(String),
    All,
}

impl Target {
    pub fn parse(text: &str) -> Result<Self, EngineError> {
        match text.split_once(':') {
            _ if text == "all" => Ok(Target::All),
            Some(("instance", name)) if !name.is_empty() => Ok(Target::Instance(name.to_owned())),
            Some(("domain", name)) if !name.is_empty() => Ok(Target::Domain(name.to_owned())),
            _ => Err(EngineError::InvalidArgument(format!(
                "invalid target '{}': use instance:<name>, domain:<name> or all",
                shown(text)
            ))),
        }
    }

    /// The domains (projects) to look in, and for an instance target the
    /// instance's name.
    pub fn scope<'a>(
        &'a self,
        infra: &'a Infra,
    ) -> Result<Vec<(&'a str, Option<&'a str>)>, EngineError> {
        match self {
            Target::All => Ok(infra
                .domains
                .iter()
                .map(|d| (d.name.as_str(), None))
                .collect()),
            Target::Domain(name) => infra
                .domain(name)
                .map(|d| vec![(d.name.as_str(), None)])
                .ok_or_else(|| {
                    EngineError::NotFound(format!("no domain '{}' in the infra", shown(name)))
                }),
            Target::Instance(name) => infra
                .machine(name)
                .map(|m| vec![(m.domain.as_str(), Some(m.name.as_str()))])
                .ok_or_else(|| {
                    EngineError::NotFound(format!("no instance '{}' in the infra", shown(name)))
                }),
        }
    }
}

/// Most characters of an argument echoed back in a message.
pub const SHOWN_CHARS: usize = 64;

/// An argument as echoed in a message: cut to [`SHOWN_CHARS`] characters
/// (a 10,000-character name must not come back whole), control characters
/// escaped.
pub fn shown(text: &str) -> String {
    let count = text.chars().count();
    let head: String = text.chars().take(SHOWN_CHARS).collect();
    let head = head.escape_debug().to_string();
    if count > SHOWN_CHARS {
        format!("{head}… ({count} characters)")
    } else {
        head
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Instance(name) => write!(f, "instance:{}", shown(name)),
            Target::Domain(name) => write!(f, "domain:{}", shown(name)),
            Target::All => f.write_str("all"),
        }
    }
}

/// Snapshot names anklume accepts: what Incus accepts, minus surprises.
pub fn check_snapshot_name(name: &str) -> Result<(), EngineError> {
    let mut chars = name.chars();
    let valid = name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(EngineError::InvalidArgument(format!(
            "invalid snapshot name '{}': letters, digits, '-', '_' and '.', starting with a letter or digit, at most 63 characters",
            shown(name)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(Target::parse("all").unwrap(), Target::All);
        assert_eq!(
            Target::parse("domain:pro").unwrap(),
            Target::Domain("pro".into())
        );
        assert_eq!(
            Target::parse("instance:pro-dev").unwrap(),
            Target::Instance("pro-dev".into())
        );
        for bad in ["", "pro", "domain:", "machine:x", "ALL"] {
            assert!(
                matches!(Target::parse(bad), Err(EngineError::InvalidArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn echoed_arguments_are_cut() {
        let long = "x".repeat(10_000);
        for err in [
            Target::parse(&long).unwrap_err(),
            check_snapshot_name(&long).unwrap_err(),
        ] {
            let message = err.to_string();
            assert!(message.len() < 400, "{} bytes: {message}", message.len());
            assert!(message.contains("(10000 characters)"), "{message}");
        }
        assert_eq!(shown("a\nb"), "a\\nb");
        assert_eq!(shown("short"), "short");
    }

    #[test]
    fn snapshot_names() {
        assert!(check_snapshot_name("before-upgrade_1.2").is_ok());
        for bad in ["", "-x", "a/b", "a b", &"x".repeat(64)] {
            assert!(check_snapshot_name(bad).is_err(), "{bad}");
        }
    }
}

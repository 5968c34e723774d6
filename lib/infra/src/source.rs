//! Finding and reading the infra: one `infra.yml` file, or an `infra/`
//! directory (`base.yml`, `domains/*.yml`, `policies.yml`) merged into the
//! same document, each node still pointing at the file it came from.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::Report;
use crate::location::Location;
use crate::yaml::{Entry, Node, NodeKind, Scalar, parse_document};

/// Problems that stop loading before validation can start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}/base.yml not found in infra directory.")]
    MissingBase(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where the infra lives, once the file/directory question is settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InfraSource {
    File(PathBuf),
    Directory(PathBuf),
}

impl InfraSource {
    /// Resolves `path`: a directory is the split form, a file the single
    /// form; when `path` does not exist, the other form is tried
    /// (`infra.yml` ↔ `infra/`).
    pub fn locate(path: &Path) -> Result<Self, SourceError> {
        if path.is_dir() {
            return Ok(Self::Directory(path.to_path_buf()));
        }
        if path.exists() {
            return Ok(Self::File(path.to_path_buf()));
        }
        let without_extension = path.with_extension("");
        let is_yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        );
        if is_yaml && without_extension.is_dir() {
            return Ok(Self::Directory(without_extension));
        }
        if !is_yaml {
            let file = path.with_extension("yml");
            if file.is_file() {
                return Ok(Self::File(file));
            }
        }
        Err(SourceError::NotFound(path.display().to_string()))
    }

    /// The merged document, with duplicate-key and override findings in
    /// `report`. `Ok(None)` when a file could not be parsed (reported);
    /// `Ok(Some(None))` for an empty document.
    pub(crate) fn read(&self, report: &mut Report) -> Result<Option<Option<Node>>, SourceError> {
        match self {
            Self::File(path) => read_yaml(path, report),
            Self::Directory(dir) => read_directory(dir, report),
        }
    }

    /// The name used in locations for the main file.
    pub fn main_file(&self) -> PathBuf {
        match self {
            Self::File(path) => path.clone(),
            Self::Directory(dir) => dir.join("base.yml"),
        }
    }
}

/// `Ok(None)` on a syntax error (already reported); `Ok(Some(None))` for an
/// empty file.
fn read_yaml(path: &Path, report: &mut Report) -> Result<Option<Option<Node>>, SourceError> {
    let io = |source| SourceError::Io {
        path: path.display().to_string(),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let file: Arc<str> = Arc::from(path.display().to_string());
    let Ok(text) = String::from_utf8(bytes) else {
        report.error(None, format!("{file}: not valid UTF-8 text"));
        return Ok(None);
    };
    Ok(parse_text(&text, &file, report))
}

/// Parses `text` as the file `file`, reporting syntax errors and
/// duplicate keys.
pub(crate) fn parse_text(text: &str, file: &Arc<str>, report: &mut Report) -> Option<Option<Node>> {
    match parse_document(text, file) {
        Ok((node, problems)) => {
            report.errors.extend(problems);
            Some(node)
        }
        Err(syntax) => {
            report.errors.push(syntax);
            None
        }
    }
}

fn read_directory(dir: &Path, report: &mut Report) -> Result<Option<Option<Node>>, SourceError> {
    let base_path = dir.join("base.yml");
    if !base_path.is_file() {
        return Err(SourceError::MissingBase(dir.display().to_string()));
    }
    let Some(base) = read_yaml(&base_path, report)? else {
        return Ok(None);
    };
    // An empty base.yml is an empty mapping: the checks then say which
    // required keys are missing.
    let mut base = base.unwrap_or_else(|| Node {
        kind: NodeKind::Map(Vec::new()),
        location: Location::file_start(&Arc::from(base_path.display().to_string())),
    });
    let base_location = base.location.clone();
    let NodeKind::Map(top) = &mut base.kind else {
        return Ok(Some(Some(base))); // Not a mapping: the checks report it.
    };

    let domains_dir = dir.join("domains");
    if domains_dir.is_dir() {
        // A domains/ directory supplies `domains`, even when it adds none.
        entry_or_insert(top, "domains", &base_location);
    }
    for path in domain_files(&domains_dir)? {
        let Some(node) = read_yaml(&path, report)? else {
            return Ok(None);
        };
        let Some(node) = node else {
            continue; // An empty domain file adds nothing.
        };
        merge_domains(top, &node, &path, report);
    }

    let policies_path = dir.join("policies.yml");
    if policies_path.is_file() {
        let Some(node) = read_yaml(&policies_path, report)? else {
            return Ok(None);
        };
        if let Some(node) = node {
            match node.get("network_policies") {
                Some(policies) => {
                    entry_or_insert(top, "network_policies", &node.location).value =
                        policies.value.clone();
                }
                None => report.warning(
                    Some(&node.location),
                    format!(
                        "{} has no network_policies key, ignored",
                        policies_path.display()
                    ),
                ),
            }
        }
    }
    Ok(Some(Some(base)))
}

/// Merges the domains of one `domains/*.yml` file into `domains`: a new
/// name is appended, a known one replaces the body in place (warned).
fn merge_domains(top: &mut Vec<Entry>, node: &Node, path: &Path, report: &mut Report) {
    let Some(domains) = node.entries() else {
        report.error(
            Some(&node.location),
            format!(
                "{} must be a mapping of domain name to domain, got {}",
                path.display(),
                node.type_name()
            ),
        );
        return;
    };
    let target = entry_or_insert(top, "domains", &node.location);
    if target.value.is_null() {
        target.value = Node {
            kind: NodeKind::Map(Vec::new()),
            location: node.location.clone(),
        };
    }
    let NodeKind::Map(existing) = &mut target.value.kind else {
        return; // `domains` of the wrong type: the checks report it.
    };
    // The message names the file as the original did: its file name.
    let file = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    for domain in domains {
        let name = domain.key.display();
        match existing.iter_mut().find(|e| e.key.display() == name) {
            Some(slot) => {
                report.warning(
                    Some(&domain.key.location),
                    format!("Domain '{name}' in {file} overrides existing definition."),
                );
                slot.value = domain.value.clone();
            }
            None => existing.push(domain.clone()),
        }
    }
}

/// `domains/*.yml`, sorted by file name. A missing directory is no domains.
fn domain_files(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(SourceError::Io {
                path: dir.display().to_string(),
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn entry_or_insert<'a>(top: &'a mut Vec<Entry>, key: &str, near: &Location) -> &'a mut Entry {
    let position = top.iter().position(|e| e.key.display() == key);
    let index = position.unwrap_or_else(|| {
        let scalar = |text: &str| Node {
            kind: NodeKind::Scalar(Scalar {
                text: text.into(),
                plain: true,
                tag: None,
            }),
            location: near.clone(),
        };
        top.push(Entry {
            key: scalar(key),
            value: scalar("null"),
        });
        top.len() - 1
    });
    &mut top[index]
}

//! The managed section of a generated file: the block between the markers
//! belongs to anklume-gen, every other byte to the user.

/// First line of the managed block.
pub const START_MARKER: &str = "# === MANAGED BY infra.yml ===";
/// The line after it, for people opening the file.
pub const NOTICE: &str = "# Do not edit this section — it will be overwritten by `make sync`";
/// Last line of the managed block.
pub const END_MARKER: &str = "# === END MANAGED ===";
/// Where a new file invites the user's own variables.
pub const USER_FOOTER: &str = "# Your custom variables below:";

/// Why a file's managed section cannot be updated safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkerError {
    #[error(
        "has the line '{START_MARKER}' but no '{END_MARKER}' after it; fix the markers by hand"
    )]
    MissingEnd,
}

/// The content of a new file.
pub fn new_file(managed_yaml: &str) -> String {
    let mut out = String::with_capacity(managed_yaml.len() + 200);
    out.push_str("---\n");
    push_block(&mut out, managed_yaml);
    out.push('\n');
    out.push_str(USER_FOOTER);
    out.push('\n');
    out
}

/// `existing` with its managed section set to `managed_yaml`. The text
/// between the markers is replaced literally (no pattern substitution, so
/// `\` and `$` in values survive); every byte outside them is kept. A file
/// without markers gets the block after its `---` (or `---` and the block
/// on top when it has none).
pub fn update(existing: &str, managed_yaml: &str) -> Result<String, MarkerError> {
    match find_block(existing)? {
        Some((inner_start, inner_end)) => {
            let mut out = String::with_capacity(existing.len() + managed_yaml.len());
            out.push_str(&existing[..inner_start]);
            out.push_str(NOTICE);
            out.push('\n');
            out.push_str(managed_yaml);
            out.push_str(&existing[inner_end..]);
            Ok(out)
        }
        None => Ok(insert_block(existing, managed_yaml)),
    }
}

fn push_block(out: &mut String, managed_yaml: &str) {
    out.push_str(START_MARKER);
    out.push('\n');
    out.push_str(NOTICE);
    out.push('\n');
    out.push_str(managed_yaml);
    out.push_str(END_MARKER);
    out.push('\n');
}

/// Byte range of the text strictly between the marker lines: from the
/// start of the line after the start marker to the start of the end
/// marker's line.
fn find_block(text: &str) -> Result<Option<(usize, usize)>, MarkerError> {
    let Some(start_line) = find_line(text, START_MARKER, 0) else {
        return Ok(None);
    };
    let inner_start = text[start_line..]
        .find('\n')
        .map_or(text.len(), |i| start_line + i + 1);
    let end_line = find_line(text, END_MARKER, inner_start).ok_or(MarkerError::MissingEnd)?;
    Ok(Some((inner_start, end_line)))
}

/// Offset of the first line at or after `from` that is exactly `line`
/// (trailing spaces or `\r` tolerated).
fn find_line(text: &str, line: &str, from: usize) -> Option<usize> {
    let mut offset = from;
    for candidate in text[from..].split_inclusive('\n') {
        if candidate.trim_end() == line {
            return Some(offset);
        }
        offset += candidate.len();
    }
    None
}

fn insert_block(existing: &str, managed_yaml: &str) -> String {
    let mut out = String::with_capacity(existing.len() + managed_yaml.len() + 200);
    // The document start, if any, comes after comments, blank lines and
    // directives at the top of the file.
    let mut offset = 0;
    for line in existing.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") {
            let after = offset + line.len();
            out.push_str(&existing[..after]);
            if !line.ends_with('\n') {
                out.push('\n');
            }
            push_block(&mut out, managed_yaml);
            out.push_str(&existing[after..]);
            return out;
        }
        let header = trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('%');
        if !header {
            break;
        }
        offset += line.len();
    }
    out.push_str("---\n");
    push_block(&mut out, managed_yaml);
    out.push_str(existing);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "a: 1\n";

    #[test]
    fn new_file_layout() {
        assert_eq!(
            new_file(YAML),
            format!("---\n{START_MARKER}\n{NOTICE}\na: 1\n{END_MARKER}\n\n{USER_FOOTER}\n")
        );
    }

    #[test]
    fn update_replaces_only_between_markers() {
        let old =
            format!("# mine\n---\n{START_MARKER}\n{NOTICE}\na: 0\nb: 0\n{END_MARKER}\n\nmine: 1\n");
        let new = update(&old, YAML).unwrap();
        assert_eq!(
            new,
            format!("# mine\n---\n{START_MARKER}\n{NOTICE}\na: 1\n{END_MARKER}\n\nmine: 1\n")
        );
        assert_eq!(update(&new, YAML).unwrap(), new);
    }

    #[test]
    fn replacement_is_literal() {
        let yaml = "path: 'C:\\new\\$1 \\1 ${x}'\n";
        let once = update(&new_file("x: 1\n"), yaml).unwrap();
        assert!(once.contains(yaml));
        assert_eq!(update(&once, yaml).unwrap(), once);
    }

    #[test]
    fn file_without_markers_keeps_its_content() {
        assert_eq!(
            update("---\nmine: 1\n", YAML).unwrap(),
            format!("---\n{START_MARKER}\n{NOTICE}\na: 1\n{END_MARKER}\nmine: 1\n")
        );
        assert_eq!(
            update("mine: 1\n", YAML).unwrap(),
            format!("---\n{START_MARKER}\n{NOTICE}\na: 1\n{END_MARKER}\nmine: 1\n")
        );
        assert_eq!(
            update("# head\n---\nmine: 1\n", YAML).unwrap(),
            format!("# head\n---\n{START_MARKER}\n{NOTICE}\na: 1\n{END_MARKER}\nmine: 1\n")
        );
    }

    #[test]
    fn start_without_end_is_refused() {
        let broken = format!("---\n{START_MARKER}\na: 1\n");
        assert_eq!(update(&broken, YAML), Err(MarkerError::MissingEnd));
    }
}

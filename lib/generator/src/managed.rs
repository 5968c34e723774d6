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

/// `existing` with its managed sections set to `managed_yaml`. The text
/// between the markers is replaced literally (no pattern substitution, so
/// `\` and `$` in values survive); every byte outside them is kept. A file
/// holding several managed blocks gets every one of them replaced, as the
/// original generator did: a stale second block is never left behind. A
/// file without markers gets the block on top, then one empty line, then
/// its content (see [`insert_block`]).
pub fn update(existing: &str, managed_yaml: &str) -> Result<String, MarkerError> {
    let blocks = find_blocks(existing)?;
    if blocks.is_empty() {
        return Ok(insert_block(existing, managed_yaml));
    }
    let mut out = String::with_capacity(existing.len() + managed_yaml.len());
    let mut kept_from = 0;
    for (inner_start, inner_end) in blocks {
        out.push_str(&existing[kept_from..inner_start]);
        out.push_str(NOTICE);
        out.push('\n');
        out.push_str(managed_yaml);
        kept_from = inner_end;
    }
    out.push_str(&existing[kept_from..]);
    Ok(out)
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

/// Byte ranges of the text strictly between each pair of marker lines:
/// from the start of the line after a start marker to the start of the
/// next end marker's line.
fn find_blocks(text: &str) -> Result<Vec<(usize, usize)>, MarkerError> {
    let mut blocks = Vec::new();
    let mut from = 0;
    while let Some(start_line) = find_line(text, START_MARKER, from) {
        let inner_start = text[start_line..]
            .find('\n')
            .map_or(text.len(), |i| start_line + i + 1);
        let end_line = find_line(text, END_MARKER, inner_start).ok_or(MarkerError::MissingEnd)?;
        blocks.push((inner_start, end_line));
        from = end_line;
    }
    Ok(blocks)
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

/// The block for a file that has none, laid out byte for byte as the
/// original generator did, so switching tools on one tree shows no diff:
/// `---`, the block, one empty line, then the file as it was. A file that
/// already opens with a document start (after comments, blank lines or
/// directives) keeps it, and the block goes right after it, still followed
/// by one empty line: a second `---` would make a second YAML document,
/// which Ansible refuses (the original's one layout bug).
fn insert_block(existing: &str, managed_yaml: &str) -> String {
    let mut out = String::with_capacity(existing.len() + managed_yaml.len() + 200);
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
            out.push('\n');
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
    out.push('\n');
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
    fn file_without_markers_gets_the_block_on_top_then_one_empty_line() {
        let block = format!("{START_MARKER}\n{NOTICE}\na: 1\n{END_MARKER}\n");
        assert_eq!(
            update("mine: 1\n", YAML).unwrap(),
            format!("---\n{block}\nmine: 1\n")
        );
        assert_eq!(
            update("---\nmine: 1\n", YAML).unwrap(),
            format!("---\n{block}\nmine: 1\n")
        );
        assert_eq!(
            update("# head\n---\nmine: 1\n", YAML).unwrap(),
            format!("# head\n---\n{block}\nmine: 1\n")
        );
        assert_eq!(update("", YAML).unwrap(), format!("---\n{block}\n"));
    }

    #[test]
    fn every_managed_block_is_replaced() {
        let old = format!(
            "---\n{START_MARKER}\n{NOTICE}\na: 0\n{END_MARKER}\n\nmine: 1\n{START_MARKER}\nstale: 1\n{END_MARKER}\ntail: 2\n"
        );
        let new = update(&old, YAML).unwrap();
        assert_eq!(
            new,
            format!(
                "---\n{START_MARKER}\n{NOTICE}\na: 1\n{END_MARKER}\n\nmine: 1\n{START_MARKER}\n{NOTICE}\na: 1\n{END_MARKER}\ntail: 2\n"
            )
        );
        assert!(!new.contains("stale"));
        assert_eq!(update(&new, YAML).unwrap(), new);
    }

    #[test]
    fn start_without_end_is_refused() {
        let broken = format!("---\n{START_MARKER}\na: 1\n");
        assert_eq!(update(&broken, YAML), Err(MarkerError::MissingEnd));
    }
}

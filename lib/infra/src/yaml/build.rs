//! Builds the [`Node`] tree from the parser's events: resolves anchors and
//! aliases, applies `<<` merge keys (PyYAML does, and Ansible users rely on
//! it), and refuses what YAML would silently accept but a user never means:
//! duplicate keys, more than one document, absurd nesting or alias bombs.

use std::collections::HashMap;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use compact_str::CompactString;

use super::{CoreTag, Entry, Node, NodeKind, Resolved, Scalar};
use crate::diagnostic::Diagnostic;
use crate::location::Location;

/// Deeper than any real infra; keeps every later recursive walk safe.
const MAX_DEPTH: usize = 128;
/// Nodes after alias expansion; a billion-laughs document stops here.
const MAX_NODES: usize = 1_000_000;
/// Bytes after alias expansion, at least: a few aliases of one long string
/// stay under the node cap yet expand to gigabytes. The real limit grows
/// with the input ([`EXPANSION_FACTOR`] times its size).
const MIN_EXPANDED_BYTES: usize = 64 << 20;
/// How much larger than its text a document may grow by aliases and merge
/// keys; real infras (anchors for shared profiles) stay far below.
const EXPANSION_FACTOR: usize = 64;

/// The memory a document may take once aliases are expanded.
fn max_expanded_bytes(input_len: usize) -> usize {
    input_len
        .saturating_mul(EXPANSION_FACTOR)
        .max(MIN_EXPANDED_BYTES)
}

/// What a tree costs: its nodes, and the bytes they take (each node's own
/// size plus the text of its scalars).
#[derive(Clone, Copy, Debug, Default)]
struct Cost {
    nodes: usize,
    bytes: usize,
}

impl Cost {
    fn scalar(text: &str) -> Self {
        Self {
            nodes: 1,
            bytes: size_of::<Node>() + text.len(),
        }
    }

    fn collection() -> Self {
        Self {
            nodes: 1,
            bytes: size_of::<Node>(),
        }
    }

    fn add(self, other: Self) -> Self {
        Self {
            nodes: self.nodes.saturating_add(other.nodes),
            bytes: self.bytes.saturating_add(other.bytes),
        }
    }
}

/// Parses one YAML document. `Ok(None)` is an empty document. Duplicate
/// keys are reported all at once (the first definition is kept so the rest
/// of the checks can still run); syntax errors stop the parse.
pub(crate) fn parse_document(
    text: &str,
    file: &Arc<str>,
) -> Result<(Option<Node>, Vec<Diagnostic>), Diagnostic> {
    let mut builder = Builder {
        file: Arc::clone(file),
        stack: Vec::new(),
        items: Vec::new(),
        entries: Vec::new(),
        anchors: HashMap::new(),
        spent: Cost::default(),
        max_bytes: max_expanded_bytes(text.len()),
        root: None,
        documents: 0,
        problems: Vec::new(),
    };
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| {
            let m = e.marker();
            Diagnostic::new(
                Some(&Location::new(file, m.line(), m.col() + 1)),
                format!("YAML syntax error: {}", e.info()),
            )
        })?;
        builder.on_event(event, span)?;
    }
    Ok((builder.root, builder.problems))
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    /// Children of the open sequences / mappings, innermost last.
    items: Vec<Node>,
    entries: Vec<Entry>,
    anchors: HashMap<usize, (Node, Cost)>,
    /// What the document has cost so far, aliases expanded.
    spent: Cost,
    max_bytes: usize,
    root: Option<Node>,
    documents: usize,
    problems: Vec<Diagnostic>,
}

/// An open collection. Its children sit on the builder's scratch stacks
/// from `start` on, so each finished collection is one exact allocation.
enum Frame {
    Seq {
        start: usize,
        location: Location,
        anchor: usize,
    },
    Map {
        start: usize,
        merged: Vec<Entry>,
        pending_key: Option<Node>,
        /// Key → entry index (from `start`), built once a mapping grows
        /// large; small mappings are scanned (cheaper than hashing keys).
        index: Option<HashMap<KeyId, usize>>,
        location: Location,
        anchor: usize,
    },
}

/// How keys are compared for duplicates: by type and text, so `1` and
/// `"1"` are different keys, as in YAML.
#[derive(Hash, PartialEq, Eq)]
enum KeyId {
    Scalar(&'static str, String),
    Other(String),
}

impl Builder {
    fn location(&self, span: Span) -> Location {
        Location::new(&self.file, span.start.line(), span.start.col() + 1)
    }

    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<(), Diagnostic> {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Diagnostic::new(
                        Some(&self.location(span)),
                        "expected a single YAML document, found another one here",
                    ));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag
                    .filter(|t| t.is_yaml_core_schema())
                    .map(|t| CoreTag::from_suffix(&t.suffix));
                let node = Node {
                    kind: NodeKind::Scalar(Scalar {
                        text: CompactString::from(text.as_ref()),
                        plain: style == ScalarStyle::Plain,
                        tag,
                    }),
                    location: self.location(span),
                };
                self.count(Cost::scalar(&text), span)?;
                self.finish(node, anchor)?;
            }
            Event::Alias(id) => {
                let Some(size) = self.anchors.get(&id).map(|(_, cost)| *cost) else {
                    return Err(Diagnostic::new(
                        Some(&self.location(span)),
                        "YAML alias refers to an unknown anchor",
                    ));
                };
                // Count before copying, so an alias bomb stops before it
                // allocates.
                self.count(size, span)?;
                let node = self.anchors[&id].0.clone();
                self.finish(node, 0)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.open(span)?;
                self.stack.push(Frame::Seq {
                    start: self.items.len(),
                    location: self.location(span),
                    anchor,
                });
            }
            Event::MappingStart(anchor, _) => {
                self.open(span)?;
                self.stack.push(Frame::Map {
                    start: self.entries.len(),
                    merged: Vec::new(),
                    pending_key: None,
                    index: None,
                    location: self.location(span),
                    anchor,
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    start,
                    location,
                    anchor,
                }) = self.stack.pop()
                {
                    let items = self.items.split_off(start);
                    let node = Node {
                        kind: NodeKind::Seq(items),
                        location,
                    };
                    self.finish(node, anchor)?;
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    start,
                    merged,
                    location,
                    anchor,
                    ..
                }) = self.stack.pop()
                {
                    let entries = apply_merge(merged, self.entries.split_off(start));
                    let node = Node {
                        kind: NodeKind::Map(entries),
                        location,
                    };
                    self.finish(node, anchor)?;
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn open(&mut self, span: Span) -> Result<(), Diagnostic> {
        self.count(Cost::collection(), span)?;
        if self.stack.len() >= MAX_DEPTH {
            return Err(Diagnostic::new(
                Some(&self.location(span)),
                format!("YAML nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    /// Adds `cost` to what the document has cost, refusing it past the
    /// limits; called before anything is copied.
    fn count(&mut self, cost: Cost, span: Span) -> Result<(), Diagnostic> {
        self.spent = self.spent.add(cost);
        if self.spent.nodes > MAX_NODES {
            return Err(Diagnostic::new(
                Some(&self.location(span)),
                format!(
                    "YAML document too large: more than {MAX_NODES} nodes after expanding aliases"
                ),
            ));
        }
        if self.spent.bytes > self.max_bytes {
            return Err(Diagnostic::new(
                Some(&self.location(span)),
                format!(
                    "YAML document too large: more than {} MiB after expanding aliases \
                     (the limit is {EXPANSION_FACTOR} times the file's size, at least {} MiB)",
                    self.max_bytes >> 20,
                    MIN_EXPANDED_BYTES >> 20
                ),
            ));
        }
        Ok(())
    }

    /// Hands a complete node to its parent (or makes it the root).
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), Diagnostic> {
        if anchor != 0 {
            let cost = cost_of_tree(&node);
            self.anchors.insert(anchor, (node.clone(), cost));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { .. }) => self.items.push(node),
            Some(Frame::Map {
                pending_key: pending @ None,
                ..
            }) => *pending = Some(node),
            Some(Frame::Map {
                start,
                merged,
                pending_key,
                index,
                ..
            }) => {
                let entries = &mut self.entries;
                let start = *start;
                let key = pending_key.take().expect("pending key present");
                if is_merge_key(&key) {
                    merge_sources(&node, merged)
                        .map_err(|message| Diagnostic::new(Some(&node.location), message))?;
                    return Ok(());
                }
                if let Some(first) = find_key(&entries[start..], index, &key) {
                    let first_line = entries[start + first].key.location.line;
                    self.problems.push(Diagnostic::new(
                        Some(&key.location),
                        format!(
                            "duplicate key '{}' (first defined at line {first_line})",
                            key.display(),
                        ),
                    ));
                } else {
                    if let Some(index) = index {
                        index.insert(key_id(&key), entries.len() - start);
                    }
                    entries.push(Entry { key, value: node });
                }
            }
        }
        Ok(())
    }
}

/// Mappings larger than this get a hash index for duplicate detection.
const INDEX_FROM: usize = 32;

/// Index of the entry whose key equals `key`.
fn find_key(
    entries: &[Entry],
    index: &mut Option<HashMap<KeyId, usize>>,
    key: &Node,
) -> Option<usize> {
    if index.is_none() && entries.len() >= INDEX_FROM {
        *index = Some(
            entries
                .iter()
                .enumerate()
                .map(|(i, e)| (key_id(&e.key), i))
                .collect(),
        );
    }
    match index {
        Some(index) => index.get(&key_id(key)).copied(),
        None => entries.iter().position(|e| same_key(&e.key, key)),
    }
}

/// Keys are equal when they have the same type and value: `1` and `"1"`
/// differ, as in YAML.
fn same_key(a: &Node, b: &Node) -> bool {
    match (a.resolved(), b.resolved()) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a.display() == b.display(),
        _ => false,
    }
}

fn key_id(key: &Node) -> KeyId {
    match key.resolved() {
        Some(Resolved::Str(s)) => KeyId::Scalar("str", s.to_owned()),
        Some(Resolved::Null) => KeyId::Scalar("null", String::new()),
        Some(Resolved::Bool(b)) => KeyId::Scalar("bool", b.to_string()),
        Some(Resolved::Int(i)) => KeyId::Scalar("int", i.to_string()),
        Some(Resolved::Float(f)) => KeyId::Scalar("float", f.to_string()),
        None => KeyId::Other(key.display()),
    }
}

fn is_merge_key(key: &Node) -> bool {
    key.scalar()
        .is_some_and(|s| s.plain && s.tag.is_none() && s.text == "<<")
}

/// Collects the entries a `<<` value brings: a mapping, or a list of them
/// where earlier mappings win.
fn merge_sources(value: &Node, merged: &mut Vec<Entry>) -> Result<(), String> {
    let sources: Vec<&Node> = match &value.kind {
        NodeKind::Map(_) => vec![value],
        NodeKind::Seq(items) => items.iter().collect(),
        NodeKind::Scalar(_) => {
            return Err("'<<' merge key needs a mapping or a list of mappings".into());
        }
    };
    for source in sources {
        let Some(entries) = source.entries() else {
            return Err("'<<' merge key needs a mapping or a list of mappings".into());
        };
        for entry in entries {
            if !merged.iter().any(|m| same_key(&m.key, &entry.key)) {
                merged.push(entry.clone());
            }
        }
    }
    Ok(())
}

/// Merged entries come first (as PyYAML orders them); a key written in the
/// mapping itself overrides a merged one.
fn apply_merge(merged: Vec<Entry>, entries: Vec<Entry>) -> Vec<Entry> {
    if merged.is_empty() {
        return entries;
    }
    let mut out: Vec<Entry> = merged
        .into_iter()
        .filter(|m| !entries.iter().any(|e| same_key(&e.key, &m.key)))
        .collect();
    out.extend(entries);
    out
}

fn cost_of_tree(node: &Node) -> Cost {
    match &node.kind {
        NodeKind::Scalar(s) => Cost::scalar(&s.text),
        NodeKind::Seq(items) => items.iter().fold(Cost::collection(), |cost, item| {
            cost.add(cost_of_tree(item))
        }),
        NodeKind::Map(entries) => entries.iter().fold(Cost::collection(), |cost, e| {
            cost.add(cost_of_tree(&e.key)).add(cost_of_tree(&e.value))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Option<Node>, Vec<Diagnostic>), Diagnostic> {
        parse_document(text, &Arc::from("t.yml"))
    }

    #[test]
    fn nodes_carry_one_based_line_and_column() {
        let (root, _) = parse("a:\n  b: 1\n").unwrap();
        let root = root.unwrap();
        let b = &root.get("a").unwrap().value.get("b").unwrap();
        assert_eq!((b.key.location.line, b.key.location.column), (2, 3));
        assert_eq!(b.value.location.to_string(), "t.yml:2:6");
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_lines() {
        let (_, problems) = parse("a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].to_string(),
            "t.yml:3:1: duplicate key 'a' (first defined at line 1)"
        );
    }

    #[test]
    fn merge_keys_fill_in_without_overriding() {
        let (root, problems) = parse("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n").unwrap();
        assert!(problems.is_empty());
        let m = root.unwrap().get("m").unwrap().value.to_value();
        assert_eq!(m.get("x"), Some(&crate::Value::Int(1)));
        assert_eq!(m.get("y"), Some(&crate::Value::Int(3)));
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            bomb.push_str(&format!(
                "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        assert!(parse(&bomb).unwrap_err().message.contains("too large"));
        // Few nodes, long strings: the byte bound stops it.
        let long = format!("s: &s {}\n", "x".repeat(100_000));
        let strings = long
            + "l1: &l1 [*s, *s, *s, *s, *s, *s, *s, *s]\n"
            + "l2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]\n"
            + "l3: &l3 [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]\n"
            + "l4: [*l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3]\n";
        let Err(err) = parse(&strings) else {
            panic!("a 400 MB expansion was accepted");
        };
        assert!(err.message.contains("MiB after expanding aliases"), "{err}");
        assert_eq!(err.location.map(|l| l.line), Some(5));
        let deep = "[".repeat(500) + &"]".repeat(500);
        let err = parse(&deep).unwrap_err();
        assert!(
            err.message.contains("nesting") || err.message.contains("recursion"),
            "{err}"
        );
    }

    #[test]
    fn a_second_document_is_refused() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("t.yml:2:1: expected a single YAML document")
        );
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.message.starts_with("YAML syntax error"), "{err}");
        assert!(err.location.is_some());
    }
}

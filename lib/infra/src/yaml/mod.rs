//! The YAML layer: parse text into a tree of [`Node`]s that remember where
//! they came from, and resolve scalars to typed values. Nothing outside this
//! crate sees these types; the rest of the suite works on the typed model.

mod build;
mod scalar;

pub(crate) use build::parse_document;
pub(crate) use scalar::Resolved;

use compact_str::CompactString;

use crate::location::Location;
use crate::value::Value;

/// One YAML node and the place it starts in the input.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub kind: NodeKind,
    pub location: Location,
}

#[derive(Clone, Debug)]
pub(crate) enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub key: Node,
    pub value: Node,
}

/// A scalar as written: its text, whether it was plain (unquoted, so its
/// type comes from its text) and an explicit core-schema tag, if any.
/// Most scalars are short (names, IPs, images): `CompactString` keeps them
/// inline, which keeps a 10,000-machine infra well under 50 MB.
#[derive(Clone, Debug)]
pub(crate) struct Scalar {
    pub text: CompactString,
    pub plain: bool,
    pub tag: Option<CoreTag>,
}

/// An explicit YAML core-schema tag (`!!str`, `!!int`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CoreTag {
    Str,
    Null,
    Bool,
    Int,
    Float,
    /// Any other core tag (`!!map`, `!!seq`, …): resolution as untagged.
    Other,
}

impl CoreTag {
    pub fn from_suffix(suffix: &str) -> Self {
        match suffix {
            "str" => Self::Str,
            "null" => Self::Null,
            "bool" => Self::Bool,
            "int" => Self::Int,
            "float" => Self::Float,
            _ => Self::Other,
        }
    }
}

impl Node {
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn items(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The entry whose key is the string `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries()?
            .iter()
            .find(|e| e.key.scalar().is_some_and(|s| s.text == key))
    }

    pub fn resolved(&self) -> Option<Resolved<'_>> {
        self.scalar().map(Scalar::resolve)
    }

    pub fn is_null(&self) -> bool {
        matches!(self.resolved(), Some(Resolved::Null))
    }

    /// A string value: any scalar that is not null, bool or number.
    pub fn as_str(&self) -> Option<&str> {
        match self.resolved()? {
            Resolved::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A boolean where one is expected: YAML 1.2 `true`/`false`, and the
    /// YAML 1.1 forms (`yes`, `no`, `on`, `off`) that Ansible users write.
    pub fn as_bool(&self) -> Option<bool> {
        let scalar = self.scalar()?;
        match scalar.resolve() {
            Resolved::Bool(b) => Some(b),
            Resolved::Str(_) if scalar.plain => scalar::yaml11_bool(&scalar.text),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self.resolved()? {
            Resolved::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The type name used in messages, as the original (Python) tool
    /// printed it: `str`, `int`, `float`, `bool`, `list`, `dict`, `null`.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Seq(_) => "list",
            NodeKind::Map(_) => "dict",
            NodeKind::Scalar(s) => match s.resolve() {
                Resolved::Null => "null",
                Resolved::Bool(_) => "bool",
                Resolved::Int(_) => "int",
                Resolved::Float(_) => "float",
                Resolved::Str(_) => "str",
            },
        }
    }

    /// The node as a person would recognise it in a message: scalars as
    /// written, collections in flow style.
    pub fn display(&self) -> String {
        match &self.kind {
            NodeKind::Scalar(s) => s.text.to_string(),
            NodeKind::Seq(items) => {
                let items: Vec<String> = items.iter().map(Node::display).collect();
                format!("[{}]", items.join(", "))
            }
            NodeKind::Map(entries) => {
                let entries: Vec<String> = entries
                    .iter()
                    .map(|e| format!("{}: {}", e.key.display(), e.value.display()))
                    .collect();
                format!("{{{}}}", entries.join(", "))
            }
        }
    }

    /// Plain data, for values copied verbatim into the generated tree.
    pub fn to_value(&self) -> Value {
        match &self.kind {
            NodeKind::Scalar(s) => match s.resolve() {
                Resolved::Null => Value::Null,
                Resolved::Bool(b) => Value::Bool(b),
                Resolved::Int(i) => Value::Int(i),
                Resolved::Float(f) => Value::Float(f),
                Resolved::Str(s) => Value::String(s.to_owned()),
            },
            NodeKind::Seq(items) => Value::Seq(items.iter().map(Node::to_value).collect()),
            NodeKind::Map(entries) => Value::Map(
                entries
                    .iter()
                    .map(|e| (e.key.to_value(), e.value.to_value()))
                    .collect(),
            ),
        }
    }
}

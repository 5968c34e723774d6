//! Plain data copied verbatim from the infra into the generated tree
//! (Incus `config`, `devices`, profiles, network policies): YAML's data
//! model without any YAML syntax attached.

/// A YAML value. Mappings keep their input order, because the generated
/// files must keep the user's key order.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Value>),
    Map(Mapping),
}

/// An ordered mapping. Lookups are linear: the mappings copied verbatim are
/// small, and keeping order matters more than lookup speed here.
pub type Mapping = Vec<(Value, Value)>;

impl Value {
    pub fn str(s: impl Into<String>) -> Self {
        Value::String(s.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Mapping> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value of string key `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// Serialises as the data it holds (JSON output of tools, tests).
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::String(s) => serializer.serialize_str(s),
            Value::Seq(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                items
                    .iter()
                    .try_for_each(|item| seq.serialize_element(item))?;
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                entries
                    .iter()
                    .try_for_each(|(k, v)| map.serialize_entry(k, v))?;
                map.end()
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

/// Builds a mapping from `(key, value)` pairs, leaving out absent values:
/// the generated files omit keys whose value is null or absent.
#[derive(Default)]
pub struct MappingBuilder(Mapping);

impl MappingBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn entry(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.push((Value::from(key), value.into()));
        self
    }

    /// Adds the entry only when there is a value that is not null.
    pub fn optional(mut self, key: &str, value: Option<impl Into<Value>>) -> Self {
        if let Some(value) = value.map(Into::into).filter(|v: &Value| !v.is_null()) {
            self.0.push((Value::from(key), value));
        }
        self
    }

    pub fn build(self) -> Value {
        Value::Map(self.0)
    }
}

//! Errors, warnings and notices found while loading an infra, each with the
//! place in the input it concerns.

use std::fmt;

use crate::location::Location;
use crate::terminal::escape_controls;

/// One finding about the input. `message` is the contract's exact wording;
/// the location, when known, is printed in front of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub location: Option<Location>,
    pub message: String,
}

/// Serialised flat, as editors and CI annotators expect:
/// `{"file", "line", "column", "message"}` (location keys absent when unknown).
impl serde::Serialize for Diagnostic {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        if let Some(location) = &self.location {
            map.serialize_entry("file", &*location.file)?;
            map.serialize_entry("line", &location.line)?;
            map.serialize_entry("column", &location.column)?;
        }
        map.serialize_entry("message", &self.message)?;
        map.end()
    }
}

impl Diagnostic {
    pub fn new(location: Option<&Location>, message: impl Into<String>) -> Self {
        Self {
            location: location.cloned(),
            message: message.into(),
        }
    }
}

/// For people: control characters of the input are shown escaped (see
/// [`crate::terminal`]); the JSON form keeps the message as it is.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = escape_controls(&self.message);
        match &self.location {
            Some(location) => {
                let location = location.to_string();
                write!(f, "{}: {message}", escape_controls(&location))
            }
            None => f.write_str(&message),
        }
    }
}

/// Everything found about one input: errors make it invalid; warnings and
/// notices (the `INFO:` lines) do not.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    pub notices: Vec<Diagnostic>,
}

impl Report {
    pub fn error(&mut self, location: Option<&Location>, message: impl Into<String>) {
        self.errors.push(Diagnostic::new(location, message));
    }

    pub fn warning(&mut self, location: Option<&Location>, message: impl Into<String>) {
        self.warnings.push(Diagnostic::new(location, message));
    }

    pub fn notice(&mut self, message: impl Into<String>) {
        self.notices.push(Diagnostic::new(None, message));
    }

    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

//! Where something is in the user's input: `file:line:column`.

use std::fmt;
use std::sync::Arc;

/// A position in an input file. Lines and columns count from 1, columns in
/// characters, as editors show them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: Arc<str>,
    pub line: u32,
    pub column: u32,
}

impl Location {
    pub fn new(file: &Arc<str>, line: usize, column: usize) -> Self {
        Self {
            file: Arc::clone(file),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }

    /// The start of a file, for problems that concern the whole document.
    pub fn file_start(file: &Arc<str>) -> Self {
        Self::new(file, 1, 1)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

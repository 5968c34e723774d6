//! The command line of anklume-proxy as a library: the binary parses it, and
//! the Debian packaging (`packaging/`) writes the man pages and shell
//! completions from the same definition.

pub mod cli;

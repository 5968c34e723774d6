//! Writes [`Value`]s as YAML in the style of the original generator
//! (PyYAML's block style): two-space indent, list items indented under
//! their key, key order kept, strings quoted only when a YAML 1.1 reader
//! (Ansible's PyYAML) or a YAML 1.2 reader would otherwise take them for
//! another type, or when they contain YAML syntax.
//!
//! Hand-written rather than a serializer crate because the exact layout
//! and quoting are part of the contract: byte-stable output is what lets a
//! re-sync leave files untouched.

use std::fmt::Write as _;
use std::sync::LazyLock;

use anklume_infra::Value;
use regex::Regex;

/// The value as a YAML block, ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    match value {
        Value::Map(entries) if !entries.is_empty() => write_map(&mut out, entries, 0),
        Value::Seq(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        _ => {
            write_inline(&mut out, value);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// Entries at column `col`; the first one starts where the cursor is (so a
/// mapping can open on a `- ` line).
fn write_map(out: &mut String, entries: &[(Value, Value)], col: usize) {
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 {
            indent(out, col);
        }
        write_key(out, key);
        out.push(':');
        write_nested(out, value, col);
    }
}

fn write_seq(out: &mut String, items: &[Value], col: usize) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            indent(out, col);
        }
        out.push_str("- ");
        match item {
            Value::Map(entries) if !entries.is_empty() => write_map(out, entries, col + 2),
            Value::Seq(inner) if !inner.is_empty() => write_seq(out, inner, col + 2),
            _ => {
                write_inline(out, item);
                out.push('\n');
            }
        }
    }
}

/// The value of a mapping entry whose key sits at column `col`.
fn write_nested(out: &mut String, value: &Value, col: usize) {
    match value {
        Value::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            indent(out, col + 2);
            write_map(out, entries, col + 2);
        }
        Value::Seq(items) if !items.is_empty() => {
            out.push('\n');
            indent(out, col + 2);
            write_seq(out, items, col + 2);
        }
        _ => {
            out.push(' ');
            write_inline(out, value);
            out.push('\n');
        }
    }
}

fn write_key(out: &mut String, key: &Value) {
    match key {
        Value::Map(_) | Value::Seq(_) => {
            // A collection as a key: rare, written as a one-line flow node.
            write_flow(out, key);
        }
        _ => write_inline(out, key),
    }
}

/// Scalars, and empty collections as `{}` / `[]`.
fn write_inline(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&float_text(*f)),
        Value::String(s) => write_string(out, s),
        Value::Map(_) | Value::Seq(_) => write_flow(out, value),
    }
}

fn write_flow(out: &mut String, value: &Value) {
    match value {
        Value::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_flow(out, k);
                out.push_str(": ");
                write_flow(out, v);
            }
            out.push('}');
        }
        Value::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_flow(out, item);
            }
            out.push(']');
        }
        Value::String(s) if !is_flow_safe(s) => write_quoted(out, s),
        scalar => write_inline(out, scalar),
    }
}

/// A float that both YAML 1.1 and 1.2 read back as the same float: PyYAML
/// needs a dot in the mantissa and a sign in the exponent.
fn float_text(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    let text = format!("{f:?}");
    match text.split_once('e') {
        None => text,
        Some((mantissa, exponent)) => {
            let mantissa = if mantissa.contains('.') {
                mantissa.to_owned()
            } else {
                format!("{mantissa}.0")
            };
            let exponent = if exponent.starts_with('-') {
                exponent.to_owned()
            } else {
                format!("+{exponent}")
            };
            format!("{mantissa}e{exponent}")
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else {
        write_quoted(out, s);
    }
}

fn write_quoted(out: &mut String, s: &str) {
    if s.chars().all(is_printable) {
        out.push('\'');
        for c in s.chars() {
            if c == '\'' {
                out.push('\'');
            }
            out.push(c);
        }
        out.push('\'');
    } else {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\0' => out.push_str("\\0"),
                c if is_printable(c) => out.push(c),
                c if (c as u32) <= 0xFF => {
                    let _ = write!(out, "\\x{:02X}", c as u32);
                }
                c if (c as u32) <= 0xFFFF => {
                    let _ = write!(out, "\\u{:04X}", c as u32);
                }
                c => {
                    let _ = write!(out, "\\U{:08X}", c as u32);
                }
            }
        }
        out.push('"');
    }
}

/// Characters that may appear as-is in a scalar: no control characters, no
/// Unicode line separators or BOM, which YAML readers treat specially.
fn is_printable(c: char) -> bool {
    !c.is_control()
        && !matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}'
        )
}

/// Whether `s` can be written unquoted in block context and read back as
/// the same string by YAML 1.1 and 1.2 readers.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let last = s.chars().next_back().unwrap_or(first);
    if first == ' ' || last == ' ' || !s.chars().all(is_printable) {
        return false;
    }
    let second_is_space = s[first.len_utf8()..]
        .chars()
        .next()
        .is_none_or(|c| c == ' ');
    if "#,[]{}&*!|>'\"%@`".contains(first) || ("-?:".contains(first) && second_is_space) {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || last == ':' {
        return false;
    }
    !resolves_to_non_string(s)
}

/// Strings safe inside a flow collection: also free of flow indicators.
fn is_flow_safe(s: &str) -> bool {
    is_plain_safe(s) && !s.contains([',', '[', ']', '{', '}'])
}

/// PyYAML's implicit resolvers (YAML 1.1) and the YAML 1.2 core schema:
/// any plain text either would read as null, bool, number, timestamp or
/// merge key.
fn resolves_to_non_string(s: &str) -> bool {
    static YAML_1_1: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(concat!(
            r"^(?:",
            // bool (and the y/n of the 1.1 spec, which some readers use)
            r"yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|y|Y|n|N",
            // null
            r"|~|null|Null|NULL",
            // int
            r"|[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+",
            r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+",
            // float
            r"|[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?",
            r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?",
            r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*",
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
            // merge, value
            r"|<<|=",
            // timestamp
            r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]",
            r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?",
            r")$"
        ))
        .expect("valid resolver pattern")
    });
    static YAML_1_2: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(concat!(
            r"^(?:",
            r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+",
            r"|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?",
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
            r")$"
        ))
        .expect("valid resolver pattern")
    });
    // Fast path: most strings (names, images, paths) start with a letter
    // that no resolver accepts.
    let first = s.as_bytes()[0];
    if first.is_ascii_alphabetic() && !b"yYnNtTfFoO".contains(&first) {
        return false;
    }
    YAML_1_1.is_match(s) || YAML_1_2.is_match(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anklume_infra::MappingBuilder;

    #[test]
    fn block_style_with_indented_lists() {
        let value = MappingBuilder::new()
            .entry("name", "pro-dev")
            .entry(
                "roles",
                Value::Seq(vec!["base_system".into(), "dev".into()]),
            )
            .entry(
                "net",
                MappingBuilder::new()
                    .entry("subnet", "10.100.2.0/24")
                    .build(),
            )
            .entry(
                "policies",
                Value::Seq(vec![
                    MappingBuilder::new()
                        .entry("from", "a")
                        .entry("ports", Value::Seq(vec![Value::Int(80), Value::Int(443)]))
                        .build(),
                ]),
            )
            .entry("empty", Value::Map(vec![]))
            .entry("none", Value::Seq(vec![]))
            .entry("nothing", Value::Null)
            .build();
        assert_eq!(
            to_yaml(&value),
            "name: pro-dev\nroles:\n  - base_system\n  - dev\nnet:\n  subnet: 10.100.2.0/24\n\
             policies:\n  - from: a\n    ports:\n      - 80\n      - 443\nempty: {}\nnone: []\nnothing: null\n"
        );
    }

    #[test]
    fn strings_are_quoted_only_when_needed() {
        let cases = [
            ("10.100", "'10.100'"),
            ("true", "'true'"),
            ("yes", "'yes'"),
            ("0123", "'0123'"),
            ("", "''"),
            ("1e3", "'1e3'"),
            ("12:30", "'12:30'"),
            ("2024-01-02", "'2024-01-02'"),
            ("~", "'~'"),
            ("10.100.1.10", "10.100.1.10"),
            ("images:debian/13", "images:debian/13"),
            ("it's", "it's"),
            ("a: b", "'a: b'"),
            ("#x", "'#x'"),
            ("- x", "'- x'"),
            ("-x", "-x"),
            (" lead", "' lead'"),
            ("two\nlines", "\"two\\nlines\""),
            ("tab\there", "\"tab\\there\""),
            ("don't: x", "'don''t: x'"),
            ("Centralized firewall VM — x", "Centralized firewall VM — x"),
            ("2GiB", "2GiB"),
            ("<<", "'<<'"),
        ];
        for (input, expected) in cases {
            let mut out = String::new();
            write_string(&mut out, input);
            assert_eq!(out, expected, "{input:?}");
        }
    }

    #[test]
    fn floats_read_back_as_floats_in_yaml_1_1() {
        assert_eq!(float_text(1.0), "1.0");
        assert_eq!(float_text(1e100), "1.0e+100");
        assert_eq!(float_text(-2.5e-7), "-2.5e-7");
        assert_eq!(float_text(f64::NEG_INFINITY), "-.inf");
    }
}

//! Scalar resolution: which type a scalar's text stands for, following the
//! YAML 1.2 core schema (what `serde`-style loaders and PyYAML agree on for
//! the forms that matter here).

use super::{CoreTag, Scalar};

/// A scalar's typed reading.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Scalar {
    pub fn resolve(&self) -> Resolved<'_> {
        let text = self.text.as_str();
        match self.tag {
            Some(CoreTag::Str) => return Resolved::Str(text),
            Some(CoreTag::Null) => return Resolved::Null,
            Some(CoreTag::Bool) => {
                return core_bool(text).map_or(Resolved::Str(text), Resolved::Bool);
            }
            Some(CoreTag::Int) => return core_int(text).map_or(Resolved::Str(text), Resolved::Int),
            Some(CoreTag::Float) => {
                return core_float(text)
                    .or_else(|| core_int(text).map(|i| i as f64))
                    .map_or(Resolved::Str(text), Resolved::Float);
            }
            _ => {}
        }
        if !self.plain {
            return Resolved::Str(text);
        }
        resolve_plain(text)
    }
}

pub(crate) fn resolve_plain(text: &str) -> Resolved<'_> {
    // Fast path: most scalars are names, images or paths, which start with
    // a character no non-string form starts with.
    let first = text.as_bytes().first().copied().unwrap_or(b'~');
    if !(first.is_ascii_digit() || b"+-.~nNtTfF".contains(&first)) {
        return Resolved::Str(text);
    }
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        Resolved::Null
    } else if let Some(b) = core_bool(text) {
        Resolved::Bool(b)
    } else if let Some(i) = core_int(text) {
        Resolved::Int(i)
    } else if let Some(f) = core_float(text) {
        Resolved::Float(f)
    } else {
        Resolved::Str(text)
    }
}

fn core_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// YAML 1.1 booleans that are strings in YAML 1.2.
pub(crate) fn yaml11_bool(text: &str) -> Option<bool> {
    match text {
        "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn core_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(hex) = digits.strip_prefix("0x") {
        (16, hex)
    } else if let Some(oct) = digits.strip_prefix("0o") {
        (8, oct)
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Sign only for decimals, as in the core schema.
    if radix != 10 && digits.len() != text.len() - 2 {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

fn core_float(text: &str) -> Option<f64> {
    let unsigned = text.trim_start_matches(['-', '+']);
    if text.len() - unsigned.len() > 1 {
        return None;
    }
    match unsigned {
        ".inf" | ".Inf" | ".INF" => {
            return Some(if text.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        ".nan" | ".NaN" | ".NAN" if unsigned.len() == text.len() => return Some(f64::NAN),
        _ => {}
    }
    // [0-9]* ( . [0-9]* )? ( [eE] [-+]? [0-9]+ )? with at least one digit
    // before the exponent.
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = digits(whole)
        && fraction.is_none_or(digits)
        && (whole.len() + fraction.map_or(0, str::len)) > 0;
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    // A bare integer is an int, not a float.
    if !mantissa_ok || !exponent_ok || (fraction.is_none() && exponent.is_none()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema_forms_resolve_to_their_types() {
        assert_eq!(resolve_plain("~"), Resolved::Null);
        assert_eq!(resolve_plain(""), Resolved::Null);
        assert_eq!(resolve_plain("True"), Resolved::Bool(true));
        assert_eq!(resolve_plain("yes"), Resolved::Str("yes"));
        assert_eq!(resolve_plain("-12"), Resolved::Int(-12));
        assert_eq!(resolve_plain("0x1F"), Resolved::Int(31));
        assert_eq!(resolve_plain("0o17"), Resolved::Int(15));
        assert_eq!(resolve_plain("0123"), Resolved::Int(123));
        assert_eq!(resolve_plain("10.100"), Resolved::Float(10.1));
        assert_eq!(resolve_plain("1e3"), Resolved::Float(1000.0));
        assert_eq!(resolve_plain(".5"), Resolved::Float(0.5));
        assert_eq!(resolve_plain("-.inf"), Resolved::Float(f64::NEG_INFINITY));
        assert_eq!(resolve_plain("10.100.1.1"), Resolved::Str("10.100.1.1"));
        assert_eq!(resolve_plain("1_000"), Resolved::Str("1_000"));
        assert_eq!(resolve_plain("."), Resolved::Str("."));
        assert_eq!(resolve_plain("e3"), Resolved::Str("e3"));
        assert_eq!(resolve_plain("+-1"), Resolved::Str("+-1"));
        assert_eq!(
            resolve_plain("99999999999999999999"),
            Resolved::Str("99999999999999999999")
        );
    }
}

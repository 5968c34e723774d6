//! Names that become Incus objects, Ansible groups and file names: domain
//! names (project, bridge `net-<d>`, file stem) and machine names (Incus
//! instance, host_vars file). Accepted exactly as Incus accepts them.

use crate::addressing::{MAX_INTERFACE_NAME, bridge_name};

/// `^[a-z0-9][a-z0-9-]*$`
pub(crate) fn is_domain_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The longest domain name whose bridge `net-<d>` fits an interface name.
pub(crate) const MAX_DOMAIN_NAME: usize = MAX_INTERFACE_NAME - "net-".len();

/// Whether the domain's bridge name is too long for Linux (and Incus):
/// the kernel would truncate it in nftables, so two long domains collide.
pub(crate) fn bridge_too_long(domain: &str) -> bool {
    bridge_name(domain).len() > MAX_INTERFACE_NAME
}

/// Why Incus (6.0, `IsHostname`) refuses `name` as an instance name, in
/// its own words; `None` when it accepts it: letters, digits and `-`,
/// 1–63 characters, no leading or trailing `-`, not a number. Such names
/// are also safe file names (`host_vars/<name>.yml`).
pub(crate) fn instance_name_error(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 63 {
        Some("Name must be 1-63 characters long")
    } else if name.starts_with('-') {
        Some(r#"Name must not start with "-" character"#)
    } else if name.ends_with('-') {
        Some(r#"Name must not end with "-" character"#)
    } else if name.bytes().all(|b| b.is_ascii_digit()) {
        Some("Name cannot be a number")
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Some("Name can only contain alphanumeric and hyphen characters")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names() {
        assert!(is_domain_name("pro-2"));
        assert!(is_domain_name("0lab"));
        assert!(!is_domain_name("Pro"));
        assert!(!is_domain_name("-pro"));
        assert!(!is_domain_name(""));
        assert!(!bridge_too_long(&"a".repeat(MAX_DOMAIN_NAME)));
        assert!(bridge_too_long(&"a".repeat(MAX_DOMAIN_NAME + 1)));
    }

    #[test]
    fn instance_names_as_incus_accepts_them() {
        for ok in [
            "pro-dev",
            "0-db",
            "123-hotel",
            "a",
            "Web-01",
            "1dev",
            &"a".repeat(63),
        ] {
            assert_eq!(instance_name_error(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("007", "Name cannot be a number"),
            (
                "db.local",
                "Name can only contain alphanumeric and hyphen characters",
            ),
            (
                "Web_01",
                "Name can only contain alphanumeric and hyphen characters",
            ),
            (
                "../etc",
                "Name can only contain alphanumeric and hyphen characters",
            ),
            ("-db", r#"Name must not start with "-" character"#),
            ("db-", r#"Name must not end with "-" character"#),
            ("", "Name must be 1-63 characters long"),
            (&"a".repeat(64), "Name must be 1-63 characters long"),
            (
                "é",
                "Name can only contain alphanumeric and hyphen characters",
            ),
        ] {
            assert_eq!(instance_name_error(bad), Some(why), "{bad}");
        }
    }
}

//! Bridges (`net-<d>`, in the default project) and a domain's profiles:
//! reads of the declared ones, creates and updates within the declaration.

use serde_json::Value;

use crate::decide::{Allowed, Decision, Rule, allow, config_within, deny};
use crate::declared::{Declared, DeclaredProject};
use crate::filter::ListFilter;
use crate::objects::{Subject, body_object, check_config, check_devices, check_fields};
use crate::request::Request;

pub fn networks(
    d: &Declared,
    req: &Request<'_>,
    rest: &[&str],
    object: &mut Option<String>,
) -> Decision {
    let read = req.is_read();
    match rest {
        [] if read => Ok((
            Rule::Read,
            Allowed {
                filter: Some(ListFilter::Networks),
                ..Allowed::default()
            },
        )),
        [] if req.method == "POST" => {
            let body = body_object(req.body)?;
            check_fields(body, &["config"])?;
            let name = body.get("name").and_then(Value::as_str).unwrap_or("");
            *object = Some(name.to_string());
            let Some(n) = d.networks.get(name) else {
                return deny(
                    Rule::UndeclaredNetwork,
                    format!("network {name} is not declared"),
                );
            };
            if body
                .get("type")
                .is_some_and(|t| !matches!(t.as_str(), Some("bridge" | "")))
            {
                return deny(
                    Rule::UndeclaredNetwork,
                    format!("network {name} must be a bridge"),
                );
            }
            config_within(req, &format!("network {name}"), None, &n.config)
        }
        [name, sub @ ..] => {
            *object = Some((*name).to_string());
            let Some(n) = d.networks.get(*name) else {
                return deny(
                    Rule::UndeclaredNetwork,
                    format!("network {name} is not declared"),
                );
            };
            match (req.method, sub) {
                ("GET" | "HEAD", _) => allow(Rule::Read),
                ("PUT" | "PATCH", []) => {
                    config_within(req, &format!("network {name}"), req.current, &n.config)
                }
                ("DELETE", []) => deny(
                    Rule::DeleteDeclared,
                    format!("network {name} is declared by the host's infra"),
                ),
                ("POST", []) => deny(Rule::Rename, format!("network {name} cannot be renamed")),
                _ => deny(
                    Rule::DefaultDeny,
                    format!("{} {} is not allowed", req.method, req.path),
                ),
            }
        }
        _ => deny(
            Rule::DefaultDeny,
            format!("{} {} is not allowed", req.method, req.path),
        ),
    }
}

pub fn profiles(
    p: &DeclaredProject,
    project: &str,
    req: &Request<'_>,
    rest: &[&str],
    object: &mut Option<String>,
) -> Decision {
    let check = |name: &str, body: &serde_json::Map<String, Value>| -> Decision {
        let Some(profile) = p.profiles.get(name) else {
            return deny(
                Rule::UndeclaredProfile,
                format!("profile {name} is not declared in project {project}"),
            );
        };
        check_fields(body, &["config", "devices"])?;
        let what = format!("profile {name} of project {project}");
        let subject = Subject {
            what: &what,
            current: req.current,
        };
        check_config(&subject, body.get("config"), &profile.config)?;
        check_devices(
            &subject,
            body.get("devices"),
            &profile.devices,
            &p.bridge,
            None,
        )?;
        allow(Rule::Declared)
    };
    match (req.method, rest) {
        ("GET" | "HEAD", _) => allow(Rule::Read),
        ("POST", []) => {
            let body = body_object(req.body)?;
            let name = body.get("name").and_then(Value::as_str).unwrap_or("");
            *object = Some(name.to_string());
            check(name, body)
        }
        (method, [name]) => {
            *object = Some((*name).to_string());
            match method {
                "PUT" | "PATCH" => check(name, body_object(req.body)?),
                "DELETE" if p.profiles.contains_key(*name) => deny(
                    Rule::DeleteDeclared,
                    format!("profile {name} is declared by the host's infra"),
                ),
                "DELETE" => allow(Rule::Orphan),
                _ => deny(Rule::Rename, format!("profile {name} cannot be renamed")),
            }
        }
        _ => deny(
            Rule::DefaultDeny,
            format!("{} {} is not allowed", req.method, req.path),
        ),
    }
}

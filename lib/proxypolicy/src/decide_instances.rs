//! Instances: creates and updates within the declaration, state, exec,
//! files, console and snapshots on declared instances, reads of any
//! instance of an anklume project, deletion of orphans only.

use serde_json::Value;

use crate::decide::{Allowed, Decision, Rule, deny};
use crate::declared::{DeclaredInstance, DeclaredProject};
use crate::objects::{
    Subject, body_object, check_config, check_devices, check_fields, check_profiles,
};
use crate::request::Request;

pub fn instances(
    p: &DeclaredProject,
    project: &str,
    req: &Request<'_>,
    rest: &[&str],
    object: &mut Option<String>,
) -> Decision {
    let method = req.method;
    if req.is_read() {
        if let Some(name) = rest.first() {
            *object = Some((*name).to_string());
        }
        return Ok((Rule::Read, Allowed::default()));
    }
    let [name, sub @ ..] = rest else {
        if method == "POST" {
            return create(p, project, req, object);
        }
        return deny(
            Rule::DefaultDeny,
            format!("{method} {} is not allowed", req.path),
        );
    };
    *object = Some((*name).to_string());
    let declared = p.instances.get(*name);
    let undeclared = || {
        deny(
            Rule::UndeclaredInstance,
            format!("instance {name} is not declared in project {project}"),
        )
    };
    match (method, sub) {
        ("PUT" | "PATCH", []) => match declared {
            Some(i) => update(p, i, name, req),
            None => undeclared(),
        },
        ("DELETE", []) if declared.is_some() => deny(
            Rule::DeleteDeclared,
            format!("instance {name} is declared by the host's infra"),
        ),
        ("DELETE", []) => Ok((Rule::Orphan, Allowed::default())),
        ("POST", []) => deny(
            Rule::Rename,
            format!("instance {name} cannot be renamed or moved"),
        ),
        ("PUT", ["state"]) if declared.is_none() => {
            // An orphan may be stopped (`incus delete --force` stops first).
            let action = req
                .body
                .and_then(|b| b.get("action"))
                .and_then(Value::as_str);
            if action == Some("stop") {
                Ok((Rule::Orphan, Allowed::default()))
            } else {
                undeclared()
            }
        }
        (
            _,
            [
                "state" | "exec" | "console" | "files" | "sftp" | "snapshots" | "logs",
                ..,
            ],
        ) if declared.is_some() => Ok((Rule::InstanceOperation, Allowed::default())),
        (
            _,
            [
                "state" | "exec" | "console" | "files" | "sftp" | "snapshots" | "logs",
                ..,
            ],
        ) => undeclared(),
        _ => deny(
            Rule::DefaultDeny,
            format!("{method} {} is not allowed", req.path),
        ),
    }
}

fn create(
    p: &DeclaredProject,
    project: &str,
    req: &Request<'_>,
    object: &mut Option<String>,
) -> Decision {
    let body = body_object(req.body)?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or("");
    *object = Some(name.to_string());
    let Some(i) = p.instances.get(name) else {
        return deny(
            Rule::UndeclaredInstance,
            format!("instance {name} is not declared in project {project}"),
        );
    };
    let what = format!("instance {name}");
    if let Some(kind) = body.get("type").filter(|t| !t.is_null())
        && kind.as_str() != Some(i.kind.as_str())
    {
        return deny(
            Rule::InstanceType,
            format!("type {kind} is not declared for {what}"),
        );
    }
    let source = body.get("source");
    let get = |k: &str| {
        source
            .and_then(|s| s.get(k))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let by_alias = get("alias").is_some() && get("alias") == i.image.as_deref();
    let by_fingerprint = get("alias").is_none()
        && get("fingerprint").is_some()
        && get("fingerprint") == req.image_fingerprint;
    if get("type") != Some("image") || !(by_alias || by_fingerprint) {
        let shown = source.map_or_else(|| "none".to_string(), Value::to_string);
        return deny(
            Rule::ImageSource,
            format!("source {shown} is not declared for {what}"),
        );
    }
    if let Some(k) = [
        "server",
        "properties",
        "base-image",
        "source",
        "instance_only",
    ]
    .iter()
    .find(|k| {
        source
            .and_then(|s| s.get(**k))
            .is_some_and(|v| !v.is_null() && v != "" && v != false)
    }) {
        return deny(
            Rule::ImageSource,
            format!("source.{k} is not declared for {what}"),
        );
    }
    check_body(p, i, name, body, None)
}

fn update(p: &DeclaredProject, i: &DeclaredInstance, name: &str, req: &Request<'_>) -> Decision {
    let body = body_object(req.body)?;
    if body.get("restore").is_some_and(|r| r.is_string()) {
        // Restoring a snapshot of a declared instance.
        check_fields(body, &["restore", "stateful"])?;
        return Ok((Rule::InstanceOperation, Allowed::default()));
    }
    check_body(p, i, name, body, req.current)
}

fn check_body(
    p: &DeclaredProject,
    i: &DeclaredInstance,
    name: &str,
    body: &serde_json::Map<String, Value>,
    current: Option<&Value>,
) -> Decision {
    check_fields(
        body,
        &[
            "source",
            "config",
            "devices",
            "profiles",
            "architecture",
            "ephemeral",
            "stateful",
            "start",
        ],
    )?;
    let what = format!("instance {name}");
    let subject = Subject {
        what: &what,
        current,
    };
    check_config(&subject, body.get("config"), &i.config)?;
    let gpu_claims = check_devices(
        &subject,
        body.get("devices"),
        &i.devices,
        &p.bridge,
        Some(name),
    )?;
    check_profiles(&subject, body.get("profiles"), &i.profiles)?;
    if body.get("ephemeral").and_then(Value::as_bool) == Some(true) {
        return deny(
            Rule::UndeclaredKey,
            format!("ephemeral is not declared for {what}"),
        );
    }
    Ok((
        Rule::Declared,
        Allowed {
            gpu_claims,
            ..Allowed::default()
        },
    ))
}

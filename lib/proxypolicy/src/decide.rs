//! The verdict on one request: default deny, then the policy table of
//! `docs/admin-proxy.md`, route by route.

use serde_json::Value;

use crate::declared::{Declared, DeclaredProject, Strings};
use crate::filter::ListFilter;
use crate::objects::{Subject, body_object, check_config, check_fields, key_rule};
use crate::request::Request;
pub use crate::rule::Rule;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub rule: Rule,
    /// `anklume-proxy: denied: <what>`, as Incus clients show it.
    pub message: String,
}

impl Denial {
    pub fn new(rule: Rule, detail: String) -> Self {
        Self {
            rule,
            message: format!("anklume-proxy: denied: {detail}"),
        }
    }
}

/// A GPU device the request would give an instance: anklume-gpud must
/// admit it (`Claim(instance, gpu)`, gpu `""` = any) before forwarding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuClaim {
    pub instance: String,
    pub gpu: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowed {
    /// A list response to filter to anklume's objects.
    pub filter: Option<ListFilter>,
    pub gpu_claims: Vec<GpuClaim>,
    /// The query to forward instead of the client's (events: only the
    /// project and the operation/lifecycle types, never incusd's logs).
    pub query: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub rule: Rule,
    pub outcome: Result<Allowed, Denial>,
    /// The project and object the request is about, for the audit log.
    pub project: Option<String>,
    pub object: Option<String>,
}

impl Verdict {
    pub fn is_allowed(&self) -> bool {
        self.outcome.is_ok()
    }

    pub fn denial(&self) -> Option<&Denial> {
        self.outcome.as_ref().err()
    }
}

/// Whether the policy needs the request's JSON body to decide (creates and
/// updates of objects, instance state changes); other bodies (file
/// contents) stream through unread.
pub fn needs_json_body(method: &str, path: &str) -> bool {
    if !matches!(method, "POST" | "PUT" | "PATCH") {
        return false;
    }
    let s: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        s.as_slice(),
        ["1.0", "projects" | "networks" | "profiles" | "instances"]
            | ["1.0", "projects" | "networks" | "profiles" | "instances", _]
            | ["1.0", "instances", _, "state"]
    )
}

/// What each route answers (shared by the decide_* modules).
pub(crate) type Decision = Result<(Rule, Allowed), Denial>;

pub(crate) fn allow(rule: Rule) -> Decision {
    Ok((rule, Allowed::default()))
}

pub(crate) fn deny(rule: Rule, detail: impl Into<String>) -> Decision {
    Err(Denial::new(rule, detail.into()))
}

/// A create or update of a config-only object (a project, a bridge): the
/// body holds only `config`, within `declared`; `current` is the object as
/// incusd has it now (None on create: nothing can be "sent back").
pub(crate) fn config_within(
    req: &Request<'_>,
    what: &str,
    current: Option<&Value>,
    declared: &Strings,
) -> Decision {
    let body = body_object(req.body)?;
    check_fields(body, &["config"])?;
    check_config(&Subject { what, current }, body.get("config"), declared)?;
    allow(Rule::Declared)
}

/// The verdict on `req`; `owns_operation` says whether an operation id was
/// created by this client's own requests.
pub fn decide(
    declared: &Declared,
    req: &Request<'_>,
    owns_operation: &dyn Fn(&str) -> bool,
) -> Verdict {
    let mut v = Verdict {
        rule: Rule::DefaultDeny,
        outcome: Ok(Allowed::default()),
        project: req.project().map(str::to_string),
        object: None,
    };
    let decision = route(declared, req, owns_operation, &mut v.object);
    match decision {
        Ok((rule, allowed)) => {
            v.rule = rule;
            v.outcome = Ok(allowed);
        }
        Err(denial) => {
            v.rule = denial.rule;
            v.outcome = Err(denial);
        }
    }
    v
}

fn route(
    d: &Declared,
    req: &Request<'_>,
    owns_operation: &dyn Fn(&str) -> bool,
    object: &mut Option<String>,
) -> Decision {
    let Some(segments) = req.segments.as_ref() else {
        return deny(Rule::BadPath, format!("{} is not a plain path", req.path));
    };
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let read = req.is_read();
    let Some(project) = req.project() else {
        return deny(Rule::ForeignProject, "the request names two projects");
    };
    if req.all_projects()
        && !(read && matches!(s.as_slice(), ["1.0", "instances" | "networks" | "profiles"]))
    {
        return deny(
            Rule::AllProjects,
            "all-projects is only allowed on instance, network and profile lists",
        );
    }
    let anklume = d.projects.get(project);
    let in_anklume = |what: &str| -> Result<&DeclaredProject, Denial> {
        anklume.ok_or_else(|| {
            Denial::new(
                Rule::ForeignProject,
                format!("project {project} is not an anklume project ({what})"),
            )
        })
    };
    match s.as_slice() {
        [] | ["1.0"] if read => allow(Rule::Read),
        ["1.0"] => deny(Rule::ServerConfig, "the server configuration is the host's"),
        ["1.0", "certificates", ..] => {
            deny(Rule::Certificates, "certificates and trust are the host's")
        }
        ["1.0", "cluster", ..] => deny(Rule::Cluster, "the cluster is the host's"),
        ["1.0", "storage-pools"] | ["1.0", "storage-pools", _] if read => allow(Rule::Read),
        ["1.0", "storage-pools", _, "volumes", ..] if read => {
            in_anklume("storage volumes").map(|_| (Rule::Read, Allowed::default()))
        }
        ["1.0", "storage-pools", ..] => deny(Rule::StoragePools, "storage pools are the host's"),
        ["1.0", "images", ..] if read => {
            if project == "default" || anklume.is_some() {
                allow(Rule::Read)
            } else {
                in_anklume("images").map(|_| (Rule::Read, Allowed::default()))
            }
        }
        ["1.0", "images", ..] => deny(
            Rule::Images,
            "images are imported on the host (incus_images)",
        ),
        ["1.0", "projects"] if read => Ok((
            Rule::Read,
            Allowed {
                filter: Some(ListFilter::Projects),
                ..Allowed::default()
            },
        )),
        ["1.0", "projects"] if req.method == "POST" => create_project(d, req, object),
        ["1.0", "projects", name, rest @ ..] => {
            *object = Some((*name).to_string());
            let Some(p) = d.projects.get(*name) else {
                return deny(
                    Rule::ForeignProject,
                    format!("project {name} is not an anklume project"),
                );
            };
            match (req.method, rest) {
                ("GET" | "HEAD", _) => allow(Rule::Read),
                ("PUT" | "PATCH", []) => {
                    config_within(req, &format!("project {name}"), req.current, &p.config)
                }
                ("DELETE", []) => deny(
                    Rule::DeleteDeclared,
                    format!("project {name} is declared by the host's infra"),
                ),
                ("POST", []) => deny(Rule::Rename, format!("project {name} cannot be renamed")),
                _ => deny(
                    Rule::DefaultDeny,
                    format!("{} {} is not allowed", req.method, req.path),
                ),
            }
        }
        ["1.0", "networks", rest @ ..] => {
            if project != "default" && anklume.is_none() {
                return deny(
                    Rule::ForeignProject,
                    format!("project {project} is not an anklume project"),
                );
            }
            crate::decide_resources::networks(d, req, rest, object)
        }
        ["1.0", "profiles", rest @ ..] => {
            crate::decide_resources::profiles(in_anklume("profiles")?, project, req, rest, object)
        }
        ["1.0", "instances"] if read && req.all_projects() => Ok((
            Rule::Read,
            Allowed {
                filter: Some(ListFilter::Instances),
                ..Allowed::default()
            },
        )),
        ["1.0", "instances", rest @ ..] => {
            crate::decide_instances::instances(in_anklume("instances")?, project, req, rest, object)
        }
        ["1.0", "operations"] if read => {
            in_anklume("operations").map(|_| (Rule::Read, Allowed::default()))
        }
        ["1.0", "operations", id, ..] => {
            *object = Some((*id).to_string());
            if owns_operation(id) {
                allow(Rule::OwnOperation)
            } else {
                deny(
                    Rule::ForeignOperation,
                    format!("operation {id} was not started through this proxy"),
                )
            }
        }
        ["1.0", "events"] if read => {
            in_anklume("events")?;
            events(req, project)
        }
        _ => deny(
            Rule::DefaultDeny,
            format!("{} {} is not allowed", req.method, req.path),
        ),
    }
}

fn create_project(d: &Declared, req: &Request<'_>, object: &mut Option<String>) -> Decision {
    let body = body_object(req.body)?;
    check_fields(body, &["config"])?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or("");
    *object = Some(name.to_string());
    let Some(p) = d.projects.get(name) else {
        return deny(
            Rule::UndeclaredProject,
            format!("project {name} is not declared"),
        );
    };
    config_within(req, &format!("project {name}"), None, &p.config)
}

/// The rule an undeclared config key falls under (for the docs' table).
pub fn rule_of_key(key: &str) -> Rule {
    key_rule(key)
}

/// Event types an admin domain may follow: its operations and its objects'
/// lifecycle, never incusd's `logging` (host-wide).
const EVENT_TYPES: [&str; 2] = ["operation", "lifecycle"];

fn events(req: &Request<'_>, project: &str) -> Decision {
    let asked: Vec<&str> = req
        .params("type")
        .flat_map(|t| t.split(','))
        .filter(|t| !t.is_empty())
        .collect();
    let types: Vec<&str> = if asked.is_empty() {
        EVENT_TYPES.to_vec()
    } else {
        if let Some(t) = asked.iter().find(|t| !EVENT_TYPES.contains(t)) {
            return deny(
                Rule::DefaultDeny,
                format!("events of type {t} are the host's"),
            );
        }
        asked
    };
    Ok((
        Rule::Read,
        Allowed {
            query: Some(format!("project={project}&type={}", types.join(","))),
            ..Allowed::default()
        },
    ))
}

//! One request of the admin domain: the policy's verdict, GPU admission,
//! then forwarding to incusd — upgrades (exec, console, events websockets)
//! passed through byte for byte, list responses filtered, the operations
//! this client started remembered.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use anklume_daemon::LastValid;
use anklume_proxypolicy::{
    Declared, Request as PolicyRequest, Rule, Verdict, decide, filter_list, needs_json_body,
    pin_gpu_devices,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{
    CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, IF_MATCH, TRANSFER_ENCODING, UPGRADE,
};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::audit;
use crate::gpu::GpuAdmission;
use crate::pool::Pool;
use crate::upstream::{self, Body, full};

/// The largest JSON body the policy reads (Incus objects are small).
const MAX_JSON: usize = 4 << 20;
/// How many operation ids are remembered (oldest forgotten first).
const MAX_OPERATIONS: usize = 16_384;

pub struct Proxy {
    pub declared: LastValid<Declared>,
    pub incus: PathBuf,
    pool: Pool,
    pub gpu: Box<dyn GpuAdmission>,
    operations: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl Proxy {
    pub fn new(declared: Declared, incus: PathBuf, gpu: Box<dyn GpuAdmission>) -> Self {
        Self {
            declared: LastValid::new(declared),
            pool: Pool::new(incus.clone()),
            incus,
            gpu,
            operations: Mutex::default(),
        }
    }

    fn owns(&self, id: &str) -> bool {
        self.operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .contains(id)
    }

    fn remember(&self, id: &str) {
        let mut ops = self
            .operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if ops.0.insert(id.to_string()) {
            ops.1.push_back(id.to_string());
            if ops.1.len() > MAX_OPERATIONS
                && let Some(old) = ops.1.pop_front()
            {
                ops.0.remove(&old);
            }
        }
    }
}

/// An Incus-style error response (what `incus` and Ansible print).
pub fn error(status: StatusCode, message: &str) -> Response<Body> {
    let body = json!({
        "type": "error", "status": "", "status_code": 0, "operation": "",
        "error_code": status.as_u16(), "error": message, "metadata": null,
    });
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(full(body.to_string()))
        .unwrap_or_else(|_| Response::new(full("")))
}

pub async fn handle(
    proxy: Arc<Proxy>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    match serve(&proxy, req, &method, &path, &query).await {
        Ok(resp) => Ok(resp),
        Err((status, message)) => {
            eprintln!("anklume-proxy: {method} {path}: {message}");
            Ok(error(status, &message))
        }
    }
}

type Failure = (StatusCode, String);

async fn serve(
    proxy: &Proxy,
    req: Request<Incoming>,
    method: &str,
    path: &str,
    query: &str,
) -> Result<Response<Body>, Failure> {
    let (mut parts, body) = req.into_parts();
    let (json_body, body) = if needs_json_body(method, path) {
        let bytes = Limited::new(body, MAX_JSON)
            .collect()
            .await
            .map_err(|e| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the request body: {e}"),
                )
            })?
            .to_bytes();
        let value = if bytes.is_empty() {
            None
        } else {
            Some(serde_json::from_slice::<Value>(&bytes).map_err(|e| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("anklume-proxy: denied: the body is not JSON: {e}"),
                )
            })?)
        };
        (value, full(bytes))
    } else {
        (None, body.boxed())
    };
    let current = current_object(proxy, method, path, query).await;
    let declared = proxy.declared.get();
    let request = PolicyRequest::new(method, path, query, json_body.as_ref())
        .with_current(current.as_ref().map(|(value, _)| value));
    let fingerprint = image_fingerprint(proxy, &declared, &request).await;
    let request = request.with_image_fingerprint(fingerprint.as_deref());
    let verdict = decide(&declared, &request, &|id| proxy.owns(id));
    let mutating = !matches!(method, "GET" | "HEAD");
    let allowed = match &verdict.outcome {
        Ok(allowed) => allowed.clone(),
        Err(denial) => {
            audit::log(
                method,
                path_query(path, query).as_str(),
                &verdict,
                Some(403),
                None,
            );
            return Ok(error(StatusCode::FORBIDDEN, &denial.message));
        }
    };
    for claim in &allowed.gpu_claims {
        if let Err(why) = proxy.gpu.claim(&claim.instance, &claim.gpu).await {
            let message = format!("anklume-proxy: denied: {why}");
            let gpu_verdict = Verdict {
                rule: Rule::Gpu,
                ..verdict.clone()
            };
            audit::log(
                method,
                &path_query(path, query),
                &gpu_verdict,
                Some(403),
                Some(&message),
            );
            return Ok(error(StatusCode::FORBIDDEN, &message));
        }
    }
    let body = if allowed.gpu_claims.is_empty() {
        body
    } else {
        let pinned = pin_to_gpud(proxy, path, query, json_body, current, &mut parts).await;
        pinned.unwrap_or(body)
    };
    let upgrade = parts.headers.contains_key(UPGRADE);
    let client_side = upgrade.then(|| {
        let mut shell = Request::new(());
        *shell.extensions_mut() = std::mem::take(&mut parts.extensions);
        hyper::upgrade::on(shell)
    });
    if let Some(query) = &allowed.query {
        parts.uri = format!("{path}?{query}").parse().map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("cannot rewrite the query: {e}"),
            )
        })?;
    }
    let forwarded = Request::from_parts(parts, body);
    let mut resp = proxy
        .pool
        .send(forwarded)
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e))?;
    let status = resp.status();
    if mutating {
        audit::log(
            method,
            &path_query(path, query),
            &verdict,
            Some(status.as_u16()),
            None,
        );
    }
    if status == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_side) = client_side else {
            return Err((
                StatusCode::BAD_GATEWAY,
                "incusd switched protocols unasked".into(),
            ));
        };
        let upstream_side = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            if let (Ok(client), Ok(server)) = (client_side.await, upstream_side.await) {
                let _ = tokio::io::copy_bidirectional(
                    &mut TokioIo::new(client),
                    &mut TokioIo::new(server),
                )
                .await;
            }
        });
        let (parts, _) = resp.into_parts();
        return Ok(Response::from_parts(parts, full(Bytes::new())));
    }
    let rewrite = allowed.filter.is_some() || status == StatusCode::ACCEPTED;
    if !rewrite {
        return Ok(resp.map(BodyExt::boxed));
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, format!("incusd: {e}")))?
        .to_bytes();
    let mut value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status == StatusCode::ACCEPTED
        && let Some(op) = value.get("operation").and_then(Value::as_str)
    {
        proxy.remember(op.rsplit('/').next().unwrap_or(op));
    }
    let out = match allowed.filter {
        Some(filter) if status.is_success() => {
            filter_list(filter, &declared, &mut value);
            Bytes::from(value.to_string())
        }
        _ => bytes,
    };
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(TRANSFER_ENCODING);
    Ok(Response::from_parts(parts, full(out)))
}

fn path_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// Once anklume-gpud admitted a GPU, the instance has gpud's pinned
/// `gpu` device (and so a new ETag): the body to forward carries that
/// device instead of the unpinned one asked for, and a client's `If-Match`
/// that held before the claim is moved to the new ETag. `None`: forward
/// the request as it came.
async fn pin_to_gpud(
    proxy: &Proxy,
    path: &str,
    query: &str,
    json_body: Option<Value>,
    before: Option<(Value, Option<String>)>,
    parts: &mut hyper::http::request::Parts,
) -> Option<Body> {
    let (_, etag_before) = before?;
    let mut body = json_body?;
    let (after, etag_after) = current_object(proxy, parts.method.as_str(), path, query).await?;
    let sent_etag = parts.headers.get(IF_MATCH).and_then(|v| v.to_str().ok());
    if sent_etag.is_some() && sent_etag == etag_before.as_deref() {
        let new = HeaderValue::from_str(etag_after.as_deref()?).ok()?;
        parts.headers.insert(IF_MATCH, new);
    }
    pin_gpu_devices(&mut body, &after);
    let bytes = Bytes::from(body.to_string());
    parts.headers.insert(CONTENT_LENGTH, bytes.len().into());
    parts.headers.remove(TRANSFER_ENCODING);
    Some(full(bytes))
}

/// For an update of an instance, network, profile or project: the object
/// as incusd has it now (its `volatile.*`/`image.*` keys may be sent back
/// unchanged), and its ETag.
async fn current_object(
    proxy: &Proxy,
    method: &str,
    path: &str,
    query: &str,
) -> Option<(Value, Option<String>)> {
    if !matches!(method, "PUT" | "PATCH") {
        return None;
    }
    let s: Vec<&str> = path.trim_matches('/').split('/').collect();
    if !matches!(
        s.as_slice(),
        ["1.0", "instances" | "networks" | "profiles" | "projects", _]
    ) {
        return None;
    }
    // Only the project parameter travels: the read is the same object.
    let project: Vec<&str> = query
        .split('&')
        .filter(|p| p.starts_with("project="))
        .collect();
    let target = path_query(path, &project.join("&"));
    match upstream::call_etag(&proxy.incus, "GET", &target, None, &[], None).await {
        Ok((200, value, etag)) => Some((value["metadata"].clone(), etag)),
        _ => None,
    }
}

/// For an instance create from a local image given by fingerprint (what
/// `incus launch ALIAS` sends): the fingerprint the declared alias points to.
async fn image_fingerprint(
    proxy: &Proxy,
    declared: &Declared,
    req: &PolicyRequest<'_>,
) -> Option<String> {
    if req.method != "POST" || req.segments.as_deref()? != ["1.0", "instances"] {
        return None;
    }
    let body = req.body?;
    body["source"]["fingerprint"].as_str()?;
    let name = body["name"].as_str()?;
    let project = req.project()?;
    let alias = declared.instance(project, name)?.image.as_deref()?;
    let path = format!(
        "/1.0/images/aliases/{}?project={project}",
        alias.replace('/', "%2F")
    );
    match upstream::call(&proxy.incus, "GET", &path, None, &[], None).await {
        Ok((200, value)) => value["metadata"]["target"].as_str().map(str::to_string),
        _ => None,
    }
}

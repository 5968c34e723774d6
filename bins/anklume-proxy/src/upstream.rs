//! incusd's side: one HTTP/1.1 connection per forwarded request on its
//! unix socket (upgrades keep theirs), and small JSON calls (the current
//! object of an update, `attach`).

use std::path::Path;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::{Request, Response, body::Incoming};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::UnixStream;

pub type Body = BoxBody<Bytes, hyper::Error>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A new connection to incusd (upgrades allowed on it).
pub async fn connect(
    socket: &Path,
) -> Result<hyper::client::conn::http1::SendRequest<Body>, String> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| format!("cannot reach incusd at {}: {e}", socket.display()))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("incusd handshake: {e}"))?;
    tokio::spawn(async move {
        // Ends when the connection closes (or with the upgraded stream).
        let _ = conn.with_upgrades().await;
    });
    Ok(sender)
}

/// Sends `req` to incusd on a fresh connection.
pub async fn send(socket: &Path, req: Request<Body>) -> Result<Response<Incoming>, String> {
    let mut sender = connect(socket).await?;
    sender
        .send_request(req)
        .await
        .map_err(|e| format!("incusd: {e}"))
}

/// One JSON call; returns the status and the decoded body (`Null` when
/// empty or not JSON).
pub async fn call(
    socket: &Path,
    method: &str,
    path_and_query: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
    raw: Option<Bytes>,
) -> Result<(u16, Value), String> {
    let (status, value, _) = call_etag(socket, method, path_and_query, body, headers, raw).await?;
    Ok((status, value))
}

/// [`call`], with the response's `ETag` header.
pub async fn call_etag(
    socket: &Path,
    method: &str,
    path_and_query: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
    raw: Option<Bytes>,
) -> Result<(u16, Value, Option<String>), String> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path_and_query)
        .header("host", "incus");
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let bytes = match (body, raw) {
        (Some(b), _) => {
            builder = builder.header("content-type", "application/json");
            Bytes::from(b.to_string())
        }
        (None, Some(raw)) => raw,
        (None, None) => Bytes::new(),
    };
    let req = builder.body(full(bytes)).map_err(|e| e.to_string())?;
    let resp = send(socket, req).await?;
    let status = resp.status().as_u16();
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("incusd: {e}"))?
        .to_bytes();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        etag,
    ))
}

/// A call that must succeed; background operations are waited for.
pub async fn call_ok(
    socket: &Path,
    method: &str,
    path_and_query: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let (status, value) = call(socket, method, path_and_query, body, &[], None).await?;
    check(status, &value, method, path_and_query)?;
    if status == 202
        && let Some(op) = value.get("operation").and_then(Value::as_str)
    {
        let (s, v) = call(
            socket,
            "GET",
            &format!("{op}/wait?timeout=120"),
            None,
            &[],
            None,
        )
        .await?;
        check(s, &v, method, path_and_query)?;
        if let Some(err) = v["metadata"]["err"].as_str().filter(|e| !e.is_empty()) {
            return Err(format!("{method} {path_and_query}: {err}"));
        }
        return Ok(v["metadata"].clone());
    }
    Ok(value["metadata"].clone())
}

fn check(status: u16, value: &Value, method: &str, path: &str) -> Result<(), String> {
    if status >= 400 {
        let err = value["error"].as_str().unwrap_or("no message");
        return Err(format!("{method} {path}: {status} {err}"));
    }
    Ok(())
}

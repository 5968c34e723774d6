//! One request of the admin domain, as the policy sees it: method, path
//! segments and query parameters percent-decoded, and the JSON body when
//! the route needs one ([`crate::needs_json_body`]).

use serde_json::Value;

#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The raw path (for messages).
    pub path: &'a str,
    /// Decoded segments; `None` when the path is not a plain one (empty or
    /// dot segments, a NUL, bad percent-encoding): always denied.
    pub segments: Option<Vec<String>>,
    pub query: Vec<(String, String)>,
    pub body: Option<&'a Value>,
    /// The object as Incus has it now (updates of instances, networks,
    /// profiles and projects): keys and devices sent back unchanged are not
    /// changes.
    pub current: Option<&'a Value>,
    /// For an instance create: the fingerprint the declared image alias
    /// points to (clients send the fingerprint of a local image instead of
    /// its alias).
    pub image_fingerprint: Option<&'a str>,
}

impl<'a> Request<'a> {
    pub fn new(method: &'a str, path: &'a str, query: &str, body: Option<&'a Value>) -> Self {
        Self {
            method,
            path,
            segments: segments(path),
            query: query_pairs(query),
            body,
            current: None,
            image_fingerprint: None,
        }
    }

    pub fn with_image_fingerprint(mut self, fingerprint: Option<&'a str>) -> Self {
        self.image_fingerprint = fingerprint;
        self
    }

    pub fn with_current(mut self, current: Option<&'a Value>) -> Self {
        self.current = current;
        self
    }

    /// The last value of query parameter `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key` (a repeated `project` must not smuggle a
    /// second project past the check).
    pub fn params<'s>(&'s self, key: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.query
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The project the request addresses (`default` when absent), or
    /// `None` when it names two different ones.
    pub fn project(&self) -> Option<&str> {
        let mut projects = self.params("project").filter(|p| !p.is_empty());
        let first = projects.next().unwrap_or("default");
        projects.all(|p| p == first).then_some(first)
    }

    pub fn all_projects(&self) -> bool {
        self.params("all-projects")
            .any(|v| !matches!(v, "" | "0" | "false" | "False" | "FALSE"))
    }

    pub fn is_read(&self) -> bool {
        matches!(self.method, "GET" | "HEAD")
    }
}

fn segments(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix('/')?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    rest.split('/')
        .map(|s| {
            let decoded = percent_decode(s, false)?;
            // An escaped `/` stays inside its segment (image aliases such
            // as `debian%2F13`), but never hides a dot segment.
            let plain = decoded
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
                && !decoded.contains(['\0', '\\']);
            plain.then_some(decoded)
        })
        .collect()
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            // Undecodable text stays as written: it then matches nothing.
            let decode = |s: &str| percent_decode(s, true).unwrap_or_else(|| s.to_string());
            (decode(k), decode(v))
        })
        .collect()
}

fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries_are_decoded_and_odd_paths_refused() {
        let r = Request::new(
            "GET",
            "/1.0/instances/a%2Db/",
            "project=p&recursion=1",
            None,
        );
        assert_eq!(r.segments.clone().unwrap(), ["1.0", "instances", "a-b"]);
        assert_eq!(r.project(), Some("p"));
        for odd in [
            "/1.0//x",
            "/1.0/../x",
            "/1.0/a%2F..",
            "1.0",
            "/1.0/%zz",
            "/1.0/%2e%2e",
        ] {
            assert!(
                Request::new("GET", odd, "", None).segments.is_none(),
                "{odd}"
            );
        }
        assert_eq!(
            Request::new("GET", "/", "project=a&project=b", None).project(),
            None
        );
        assert_eq!(
            Request::new("GET", "/", "", None).project(),
            Some("default")
        );
        assert!(Request::new("GET", "/", "all-projects=true", None).all_projects());
    }
}

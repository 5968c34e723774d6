//! The audit log: one JSON line on stderr (the journal) per mutating
//! request and per denial.

use anklume_proxypolicy::Verdict;
use serde_json::json;

pub fn line(
    method: &str,
    path: &str,
    verdict: &Verdict,
    status: Option<u16>,
    detail: Option<&str>,
) -> String {
    json!({
        "verdict": if verdict.is_allowed() && detail.is_none() { "allow" } else { "deny" },
        "method": method,
        "path": path,
        "project": verdict.project,
        "instance": verdict.object,
        "rule": verdict.rule.as_str(),
        "status": status,
        "error": detail.map(str::to_string).or_else(|| verdict.denial().map(|d| d.message.clone())),
    })
    .to_string()
}

pub fn log(method: &str, path: &str, verdict: &Verdict, status: Option<u16>, detail: Option<&str>) {
    eprintln!("{}", line(method, path, verdict, status, detail));
}

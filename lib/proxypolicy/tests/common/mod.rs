//! A small infra for the policy tests.
#![allow(dead_code)]

use anklume_infra::{NestingContext, load_str};
use anklume_proxypolicy::{Declared, Request, Verdict, decide};
use serde_json::Value;

pub const INFRA: &str = "project_name: t
global: {base_subnet: '10.120', default_os_image: 'images:debian/13', nat: false}
domains:
  pro:
    subnet_id: 3
    profiles:
      big: {config: {limits.cpu: 4}}
    machines:
      pro-dev:
        type: lxc
        ip: 10.120.3.10
        profiles: [big]
        config: {boot.autostart: true}
        devices:
          data: {type: disk, source: /srv/data, path: /data}
      pro-gpu: {type: lxc, gpu: true}
  perso:
    subnet_id: 4
    machines:
      perso-web: {type: lxc}
";

pub fn declared(yaml: &str) -> Declared {
    let (infra, report) = load_str(yaml, "infra.yml", &NestingContext::default());
    Declared::from_infra(&infra.unwrap_or_else(|| panic!("{:?}", report.errors)))
}

pub fn ask(d: &Declared, method: &str, target: &str, body: Option<Value>) -> Verdict {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let req = Request::new(method, path, query, body.as_ref());
    decide(d, &req, &|id| id == "own-op")
}

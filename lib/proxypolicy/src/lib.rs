//! anklume-proxy's policy, with no I/O: from the host's infra, the Incus
//! state it declares ([`Declared`], the same model the `incus_*` roles
//! build), then the verdict on one request of the admin domain
//! ([`decide`]): default deny; reads inside anklume projects; creates and
//! updates within the declaration; instance operations on declared
//! instances; deletion of orphans only.
//!
//! ```
//! use anklume_infra::{load_str, NestingContext};
//! use anklume_proxypolicy::{decide, Declared, Request};
//! let yaml = "project_name: t\nglobal: {default_os_image: img}\ndomains:\n  pro:\n    subnet_id: 1\n    machines:\n      pro-dev: {type: lxc}\n";
//! let infra = load_str(yaml, "infra.yml", &NestingContext::default()).0.unwrap();
//! let declared = Declared::from_infra(&infra);
//! let body = serde_json::json!({"config": {"raw.lxc": "lxc.apparmor.profile=unconfined"}});
//! let req = Request::new("PATCH", "/1.0/instances/pro-dev", "project=pro", Some(&body));
//! let verdict = decide(&declared, &req, &|_| false);
//! assert_eq!(verdict.denial().unwrap().message,
//!     "anklume-proxy: denied: raw.lxc is not declared for instance pro-dev");
//! ```

mod decide;
mod decide_instances;
mod decide_resources;
mod declared;
mod filter;
mod objects;
mod request;
mod rule;

pub use decide::{Allowed, Denial, GpuClaim, Rule, Verdict, decide, needs_json_body, rule_of_key};
pub use declared::{
    DEFAULT_POOL, Declared, DeclaredInstance, DeclaredNetwork, DeclaredProfile, DeclaredProject,
    Devices, Strings, incus_str, local_alias,
};
pub use filter::{ListFilter, filter_list};
pub use objects::pin_gpu_devices;
pub use request::Request;

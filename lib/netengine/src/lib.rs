//! anklume-netd's engine, without the daemon around it: the table an
//! infra asks for ([`plan`]), rendered once per infra content and host
//! ([`Planner`]), and the state machine that keeps it in force
//! ([`Engine`]: apply, adopt after a restart, repair drift, follow the
//! host's links, withdraw on request, fail closed). The kernel is a small
//! trait ([`Kernel`], [`Links`]) with the netlink implementation
//! ([`NetlinkKernel`], [`SystemLinks`]) and an in-memory one ([`memory`])
//! for tests and `anklume-netd serve --sim`.

pub mod engine;
pub mod kernel;
pub mod memory;
pub mod plan;
pub mod planner;

pub use engine::{Engine, Failure, Install, Status, WITHDRAWN};
pub use kernel::{Kernel, Links, NetlinkKernel, SystemLinks};
pub use plan::{Plan, PlanError, Planned, build, comment_for};
pub use planner::Planner;

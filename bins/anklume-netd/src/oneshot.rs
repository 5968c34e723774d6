//! `anklume-netd apply`: apply the infra's ruleset once and exit. The
//! table is left shared (no owner flag): this is for hosts without the
//! daemon, or for a first check by hand.

use std::process::ExitCode;
use std::sync::Arc;

use anklume_dbus::network::BUS_NAME;
use anklume_infra::InfraError;
use anklume_netengine::{
    Kernel as _, NetlinkKernel, Plan, PlanError, Planned, Planner, SystemLinks,
};
use anklume_netpolicy::TABLE;
use anklume_nft::{ApplyError, Ownership};

use crate::cli::{ApplyArgs, InfraArgs};

/// The infra's table on this host (`preview`, `apply`).
pub fn plan(args: &InfraArgs) -> Result<Arc<Plan>, PlanError> {
    Planner::new(args.infra.clone(), args.firewall_vm, Arc::new(SystemLinks)).plan()
}

/// Why there is no table, as `preview` and `apply` print it on stderr.
pub fn print(e: &PlanError) {
    match e {
        PlanError::Infra(infra) => match &**infra {
            InfraError::Invalid { errors, .. } => {
                eprintln!("Validation errors:");
                errors.iter().for_each(|e| eprintln!("  - {e}"));
            }
            InfraError::Source(source) => eprintln!("ERROR: {source}"),
        },
        PlanError::Links(_) => eprintln!("ERROR: {e}"),
    }
}

pub fn apply(args: &ApplyArgs) -> ExitCode {
    let planned = match plan(&args.infra) {
        Ok(plan) => plan.planned.clone(),
        Err(e) => {
            print(&e);
            eprintln!("nothing applied; the ruleset in force (if any) stays");
            return ExitCode::FAILURE;
        }
    };
    if args.check {
        return check(&planned);
    }
    match install(&planned) {
        Ok(false) => {
            println!("unchanged (ruleset {})", planned.hash);
            ExitCode::SUCCESS
        }
        Ok(true) => {
            println!(
                "applied ruleset {}: {} domains, {} policies",
                planned.hash, planned.domains, planned.policies
            );
            ExitCode::SUCCESS
        }
        Err(e @ ApplyError::OwnedByOther(_)) => {
            eprintln!("ERROR: {e}");
            eprintln!(
                "anklume-netd serve owns the table: edit the infra it reads, then \
                 `systemctl reload anklume-netd` (or busctl call {BUS_NAME} ... Apply)"
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("ERROR: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `apply --check`: compares the table in force with the plan, writes
/// nothing.
fn check(planned: &Planned) -> ExitCode {
    let mut kernel = NetlinkKernel::default();
    let in_force = kernel.comment(TABLE);
    match in_force {
        Ok(Some(comment)) if comment == planned.comment() => {
            println!("unchanged (ruleset {})", planned.hash);
            ExitCode::SUCCESS
        }
        Ok(current) => {
            let current = current.as_deref().map_or("none".to_owned(), |c| {
                c.strip_prefix("anklume ruleset ").unwrap_or(c).to_owned()
            });
            println!(
                "would apply ruleset {}: {} domains, {} policies (in force: {current})",
                planned.hash, planned.domains, planned.policies
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ERROR: cannot read the table in force: {e}");
            ExitCode::FAILURE
        }
    }
}

/// True when the table in force changed.
fn install(planned: &Planned) -> Result<bool, ApplyError> {
    let mut kernel = NetlinkKernel::default();
    if kernel.comment(TABLE)?.as_deref() == Some(planned.comment()) {
        return Ok(false);
    }
    kernel.replace(&planned.table, Ownership::Shared)?;
    Ok(true)
}

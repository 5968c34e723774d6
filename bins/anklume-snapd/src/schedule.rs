//! `anklume-snapd scheduled`, run by anklume-snapshot.timer: if the newest
//! scheduled snapshot is older than the configured interval, ask the
//! daemon for a new one of everything, then prune.

use anklume_config::{Config, parse_duration};
use anklume_dbus::snapshot::Snapshot1Proxy;
use anklume_snapshot::engine::{AUTO_PREFIX, SAFETY_PREFIX};

use crate::cli::ScheduledArgs;

pub async fn run(args: ScheduledArgs) -> Result<(), String> {
    let config = Config::load(&args.config).map_err(|e| e.to_string())?;
    let interval = interval(&config.snapshots.schedule)?;
    let connection = zbus::Connection::system()
        .await
        .map_err(|e| format!("cannot connect to the system bus: {e}"))?;
    let proxy = Snapshot1Proxy::new(&connection)
        .await
        .map_err(|e| e.to_string())?;
    let listed = proxy.list("all").await.map_err(|e| e.to_string())?;
    let newest = listed
        .iter()
        .filter(|(_, _, name, _)| is_scheduled(name))
        .map(|(_, _, _, created)| *created)
        .max();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let due = newest
        .is_none_or(|t| now - t >= i64::try_from(interval.as_secs()).unwrap_or(i64::MAX) - 60);
    if due {
        let made = proxy.create("all", "").await.map_err(|e| e.to_string())?;
        println!("created {} snapshot(s)", made.len());
    } else {
        println!("no snapshot due (schedule: {})", config.snapshots.schedule);
    }
    let pruned = proxy.prune().await.map_err(|e| e.to_string())?;
    println!("pruned {} snapshot(s)", pruned.len());
    Ok(())
}

fn is_scheduled(name: &str) -> bool {
    name.starts_with(&format!("{AUTO_PREFIX}-")) && !name.starts_with(SAFETY_PREFIX)
}

/// `hourly`, `daily`, `weekly`, or a duration such as `15m` or `6h`.
fn interval(schedule: &str) -> Result<std::time::Duration, String> {
    let text = match schedule {
        "hourly" => "1h",
        "daily" => "1d",
        "weekly" => "1w",
        other => other,
    };
    parse_duration(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("snapshots.schedule must be hourly, daily, weekly or a duration like 15m, got '{schedule}'"))
}

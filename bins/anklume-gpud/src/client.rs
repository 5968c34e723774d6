//! `anklume-gpud list | claims | processes`: ask the running daemon over
//! the system bus and print a table, for people without busctl habits.

use anklume_dbus::gpu::{BUS_NAME, Gpu1Proxy};
use zbus::Connection;

#[derive(Clone, Copy, Debug)]
pub enum Query {
    List,
    Claims,
    Processes,
}

pub fn run(query: Query) -> Result<(), String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?
        .block_on(ask(query))
}

const MIB: u64 = 1 << 20;

async fn ask(query: Query) -> Result<(), String> {
    let connection = Connection::system()
        .await
        .map_err(|e| format!("no system D-Bus here ({e}); anklume-gpud serves {BUS_NAME} on it"))?;
    let dbus = zbus::fdo::DBusProxy::new(&connection)
        .await
        .map_err(|e| e.to_string())?;
    let name = BUS_NAME.try_into().map_err(|e| format!("{e}"))?;
    if !dbus.name_has_owner(name).await.map_err(|e| e.to_string())? {
        return Err(format!(
            "anklume-gpud is not running ({BUS_NAME} has no owner on the system bus); \
             start it with: systemctl start anklume-gpud (see docs/gpu.md)"
        ));
    }
    let gpud = Gpu1Proxy::new(&connection)
        .await
        .map_err(|e| e.to_string())?;
    match query {
        Query::List => {
            let gpus = gpud.list_gpus().await.map_err(|e| e.to_string())?;
            println!(
                "{:<5} {:<42} {:<28} {:>10} {:>10} {:>10}",
                "INDEX", "UUID", "NAME", "TOTAL MiB", "USED MiB", "FREE MiB"
            );
            for (index, uuid, name, total, used, free) in gpus {
                println!(
                    "{index:<5} {uuid:<42} {name:<28} {:>10} {:>10} {:>10}",
                    total / MIB,
                    used / MIB,
                    free / MIB
                );
            }
        }
        Query::Claims => {
            let claims = gpud.claims().await.map_err(|e| e.to_string())?;
            println!("{:<32} GPU", "INSTANCE");
            for (instance, gpu) in claims {
                println!("{instance:<32} {gpu}");
            }
        }
        Query::Processes => {
            let processes = gpud.processes().await.map_err(|e| e.to_string())?;
            println!(
                "{:<8} {:<32} {:<42} {:>9}",
                "PID", "INSTANCE", "GPU", "USED MiB"
            );
            for (pid, instance, gpu, used) in processes {
                let instance = if instance.is_empty() {
                    "(host)".to_owned()
                } else {
                    instance
                };
                println!("{pid:<8} {instance:<32} {gpu:<42} {:>9}", used / MIB);
            }
        }
    }
    Ok(())
}

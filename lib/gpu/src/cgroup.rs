//! Which instance a host process belongs to, from its cgroup: Incus runs
//! a container's processes under `lxc.payload.<instance>` (default
//! project) or `lxc.payload.<project>_<instance>` (seen on Incus 6.0:
//! `0::/lxc.payload.anklume-t-gpu-probe_probe1`), possibly with the
//! container's own hierarchy below it.

use std::path::Path;

/// An instance as a cgroup names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupInstance {
    /// `default` when the cgroup carries no project prefix.
    pub project: String,
    pub instance: String,
}

const PAYLOAD: &str = "lxc.payload.";

/// The instance in the text of a `/proc/<pid>/cgroup` file, if any.
pub fn parse(cgroup: &str) -> Option<CgroupInstance> {
    cgroup.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        let segment = path.split('/').find_map(|s| s.strip_prefix(PAYLOAD))?;
        // Instance names cannot hold '_'; a project name can.
        Some(match segment.rsplit_once('_') {
            Some((project, instance)) => CgroupInstance {
                project: project.to_owned(),
                instance: instance.to_owned(),
            },
            None => CgroupInstance {
                project: "default".into(),
                instance: segment.to_owned(),
            },
        })
    })
}

/// The instance of `pid`, reading `<proc>/<pid>/cgroup`. `None` for a
/// host process, or one that has gone.
pub fn instance_of(proc: &Path, pid: u32) -> Option<CgroupInstance> {
    let text = std::fs::read_to_string(proc.join(pid.to_string()).join("cgroup")).ok()?;
    parse(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_cgroups_name_the_project_and_the_instance() {
        let v1_and_v2 = "9:name=systemd:/lxc.payload.ai-tools_ai-ollama\n\
                         0::/lxc.payload.ai-tools_ai-ollama\n";
        assert_eq!(
            parse(v1_and_v2),
            Some(CgroupInstance {
                project: "ai-tools".into(),
                instance: "ai-ollama".into()
            })
        );
        let nested = "0::/lxc.payload.pro_dev/system.slice/ollama.service\n";
        assert_eq!(parse(nested).unwrap().instance, "dev");
        let default = "0::/lxc.payload.probe2\n";
        assert_eq!(parse(default).unwrap().project, "default");
        assert_eq!(parse("0::/system.slice/ssh.service\n"), None);
        assert_eq!(parse("0::/lxc.monitor.x\n"), None);
    }
}

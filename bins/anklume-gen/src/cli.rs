//! Command-line arguments of anklume-gen.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Generate anklume's Ansible tree from infra.yml";

const LONG_ABOUT: &str = "\
anklume-gen reads infra.yml (or an infra/ directory), the one file that
declares your isolated domains, and writes the Ansible tree that
`make apply` uses:

  group_vars/all.yml       global settings, images, network policies
  inventory/<domain>.yml   the machines of each domain
  group_vars/<domain>.yml  each domain's Incus project, bridge and subnet,
                           and the project's restrictions (only what the
                           domain declares; see docs/defense-in-depth.md)
  host_vars/<machine>.yml  each machine's type, IP, profiles, config

Only the section between '# === MANAGED BY infra.yml ===' and
'# === END MANAGED ===' belongs to anklume-gen; anything you add around it
is kept. Files whose content would not change are left untouched.";

const AFTER_HELP: &str = "\
Examples:
  anklume-gen validate infra.yml
  anklume-gen sync infra.yml --dry-run     # show what would change
  anklume-gen sync infra.yml               # write the tree in .
  anklume-gen sync infra/ --base-dir /srv/ansible --clean-orphans
  anklume-gen import -o infra.yml          # an infra from the running Incus

Environment:
  ANKLUME_CONTEXT_DIR   directory of the nesting context files vm_nested and
                        yolo (default /etc/anklume)

Exit status: 0 success, 1 invalid infra or failed write, 2 usage error.";

#[derive(Debug, Parser)]
#[command(name = "anklume-gen", version, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the infra and write (or update) the Ansible tree.
    #[command(after_help = "\
Each file is reported as Written, Unchanged or, with --dry-run, Would write.
Files left over from removed domains or machines are listed as orphans;
those of non-ephemeral resources are PROTECTED and never deleted.")]
    Sync(SyncArgs),
    /// Check the infra and report every problem with its file:line:column.
    Validate(ValidateArgs),
    /// Write an infra.yml from the running Incus (its REST API).
    #[command(
        long_about = "\
Read the running Incus through its REST API and write an infra.yml that
validates: one domain per project that holds anklume-shaped resources (a
managed bridge net-<project> at <base>.<n>.254/24), with its description,
subnet_id, NAT, profiles and machines (type, description, static IP from
eth0's ipv4.address, config, devices, profiles, image, ephemeral from
security.protection.delete). What infra.yml cannot express (instances of
the default project, foreign projects and bridges, config keys set
outside anklume, network policies, roles) is listed as comments at the
top of the file, each with its reason.",
        after_help = "\
Examples:
  anklume-gen import                         # print the infra on stdout
  anklume-gen import -o infra.yml            # write it (refused if it exists)
  anklume-gen import --project pro --project perso -o infra.yml --force
  INCUS_SOCKET=/run/anklume/proxy.sock anklume-gen import   # through anklume-proxy

The file is written atomically. Exit status: 0 written, 1 Incus
unreachable, a named project not importable, or the file exists."
    )]
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Import only this project (repeat for more); each must be
    /// anklume-shaped. Default: every anklume-shaped project.
    #[arg(long = "project", value_name = "PROJECT")]
    pub projects: Vec<String>,
    /// Write the infra to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace FILE when it exists (default: refuse and write nothing).
    #[arg(long)]
    pub force: bool,
    /// The Incus API socket (the incus client's INCUS_SOCKET; an
    /// anklume-proxy socket works too).
    #[arg(long, env = "INCUS_SOCKET", value_name = "PATH", default_value = anklume_incus::DEFAULT_SOCKET)]
    pub socket: String,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// infra.yml, or an infra/ directory (base.yml, domains/*.yml,
    /// policies.yml). When the one given does not exist, the other form is
    /// tried.
    #[arg(value_name = "INFRA", default_value = "infra.yml")]
    pub infra: PathBuf,
    /// Directory that receives inventory/, group_vars/ and host_vars/.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub base_dir: PathBuf,
    /// Show what would be written; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete orphan files, except protected ones (ephemeral=false).
    #[arg(long)]
    pub clean_orphans: bool,
    /// Seconds to wait for another sync of the same base directory to
    /// finish before giving up (exit 1).
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub lock_timeout: Duration,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("'{text}': must be 0 or more seconds"))
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// infra.yml, or an infra/ directory.
    #[arg(value_name = "INFRA", default_value = "infra.yml")]
    pub infra: PathBuf,
    /// Output format: text for people, json for editors and CI.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

//! Benchmark of the `anklume-gen` binary on two synthetic infras:
//! A = 200 domains x 5 machines (~1,400 files), B = 250 domains x 40
//! machines (~10,500 files).
//!
//! For each infra it measures wall time and peak RSS (`ru_maxrss` from
//! `wait4`) of (a) a first sync into a fresh directory, (b) a no-change
//! re-sync (checked to rewrite no file: no `Written:` line, no mtime
//! changed) and (c) `validate`; times are medians of 5 runs, RSS the max.
//! The baseline is `cp -r` of the finished tree (same file system, warm
//! caches), run alternately with the first syncs so that file-system noise
//! hits both alike. It prints a table and the targets with PASS/FAIL: a
//! missed target does not change the exit status; a failed command or a
//! re-sync that rewrote files makes it fail (exit status 101).
//!
//! Run: `cargo bench -p anklume-gen --bench sync`. Trees go under
//! `std::env::temp_dir()`: set TMPDIR (e.g. /dev/shm) to pick the file system.

// Needed only for `libc::wait4` (peak RSS of one child), which std lacks.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Display;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_anklume-gen");
const REPEAT: usize = 5;
/// Nesting context of every run: absent, so never /etc/anklume.
const CONTEXT_DIR: &str = "/nonexistent/anklume-bench";
/// Peak RSS target: 50 MB (decimal), in KiB as `ru_maxrss` reports it.
const RSS_LIMIT_KIB: i64 = 50_000_000 / 1024;
/// A target's verdict, indexed by whether it is met.
const VERDICT: [&str; 2] = ["FAIL", "PASS"];

/// A command or a check failed: prints the message and unwinds (exit status
/// 101) without a panic message; unwinding removes the temp dirs.
macro_rules! die {
    ($($arg:tt)*) => {{
        eprintln!("sync bench: FATAL: {}", format_args!($($arg)*));
        std::panic::resume_unwind(Box::new(()))
    }};
}

/// The value of `result`, or fail naming `what`.
fn ok<T, E: Display>(result: Result<T, E>, what: &str) -> T {
    result.unwrap_or_else(|e| die!("{what}: {e}"))
}

/// Measured process(es): median wall time, highest peak RSS.
#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    /// Fastest and slowest run.
    spread: (Duration, Duration),
    /// Peak RSS in KiB, as `ru_maxrss` gives it.
    rss: i64,
}

/// One infra's results; `cp` is `cp -r` of its finished tree.
struct Report {
    name: &'static str,
    files: usize,
    first: Run,
    cp: Run,
    resync: Run,
    validate: Run,
}

/// A fresh directory under the system temp dir, kept in `keep` so that
/// no tree is deleted (slow file-system work) while a command is timed.
fn fresh_dir(keep: &mut Vec<TempDir>) -> PathBuf {
    let dir = tempfile::Builder::new().prefix("anklume-bench-").tempdir();
    keep.push(ok(dir, "temp dir"));
    keep[keep.len() - 1].path().to_path_buf()
}

/// Writes a synthetic infra of `domains` domains of `machines` machines,
/// streamed so the bench's own memory (which a spawned child's `ru_maxrss`
/// may include) stays small.
fn write_infra(path: &Path, domains: usize, machines: usize) -> io::Result<()> {
    let mut y = BufWriter::new(File::create(path)?);
    y.write_all(
        b"project_name: anklume-bench
global:
  base_subnet: \"10.100\"
  default_os_image: \"images:debian/13\"
  firewall_mode: host
domains:
",
    )?;
    for d in 1..=domains {
        let (dom, subnet, ephemeral) = (format!("d{d:03}"), d - 1, d.is_multiple_of(4));
        write!(
            y,
            "  {dom}:
    description: \"Synthetic domain {d}\"
    subnet_id: {subnet}
    ephemeral: {ephemeral}
    profiles:
      standard:
        config: {{limits.memory: 2GiB}}
        devices: {{root: {{type: disk, path: /, pool: default, size: 10GiB}}}}
    machines:
"
        )?;
        for m in 1..=machines {
            write_machine(&mut y, &dom, subnet, m)?;
        }
    }
    write_policies(&mut y, domains)?;
    y.flush()
}

fn write_machine(y: &mut impl Write, dom: &str, subnet: usize, m: usize) -> io::Result<()> {
    let kind = if m.is_multiple_of(5) { "vm" } else { "lxc" };
    write!(
        y,
        "      {dom}-m{m:02}:
        description: \"Machine {m} of domain {dom}\"
        type: {kind}
        ip: \"10.100.{subnet}.{m}\"
        profiles: [default, standard]
        roles:
          - base_system
          - monitoring_agent
        config:
          limits.cpu: \"2\"
          limits.memory: 1GiB
          boot.autostart: \"true\"
"
    )?;
    if m.is_multiple_of(7) {
        writeln!(y, "        os_image: \"images:debian/12\"")?;
    }
    if m.is_multiple_of(3) {
        let data = format!("{{type: disk, path: /srv/data, source: /srv/anklume/{dom}-m{m:02}}}");
        writeln!(y, "        devices:\n          data: {data}")?;
    }
    Ok(())
}

fn write_policies(y: &mut impl Write, domains: usize) -> io::Result<()> {
    y.write_all(
        b"network_policies:
  - {description: \"Admin\", from: host, to: d001, ports: all}
  - {from: d002-m02, to: d003, ports: [53], protocol: udp}
",
    )?;
    for d in 1..domains.min(12) {
        let (from, to) = (format!("d{d:03}"), format!("d{:03}-m01", d + 1));
        writeln!(y, "  - description: \"{from} to {to} web\"")?;
        writeln!(y, "    from: {from}\n    to: {to}\n    ports: [80, 443]")?;
        writeln!(y, "    protocol: tcp\n    bidirectional: {}", d % 2 == 1)?;
    }
    Ok(())
}

/// Runs `cmd` with its output discarded and reaps it with `wait4`: wall
/// time and peak RSS. Fails if it cannot start or does not exit 0.
fn run_timed(cmd: &mut Command, what: &str) -> Run {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let start = Instant::now();
    // Only the pid is kept: the child is reaped by `wait4`, not by std.
    let pid = ok(libc::pid_t::try_from(ok(cmd.spawn(), what).id()), "pid");
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain integers, for which all-zero is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped (std never waits for
    // it); both pointers are valid for the call.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    if reaped != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        die!("{what} failed (wait4: {reaped}, status {status}); rerun by hand: {cmd:?}");
    }
    let (spread, rss) = ((wall, wall), usage.ru_maxrss);
    Run { wall, spread, rss }
}

/// `anklume-gen <args>`.
fn gen_cmd(args: &[&Path]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("ANKLUME_CONTEXT_DIR", CONTEXT_DIR);
    cmd
}

fn sync_cmd(infra: &Path, base: &Path) -> Command {
    gen_cmd(&[Path::new("sync"), infra, Path::new("--base-dir"), base])
}

fn validate_cmd(infra: &Path) -> Command {
    gen_cmd(&[Path::new("validate"), infra])
}

/// `REPEAT` rounds of the `N` commands `make(0..N)` gives, in turn, so
/// that file-system noise hits each alike. Per command: median wall time,
/// fastest and slowest, highest peak RSS.
fn measure<const N: usize>(what: [&str; N], mut make: impl FnMut(usize) -> Command) -> [Run; N] {
    let mut runs = [(); N].map(|()| Vec::new());
    for _ in 0..REPEAT {
        for (i, r) in runs.iter_mut().enumerate() {
            r.push(run_timed(&mut make(i), what[i]));
        }
    }
    runs.map(|r| {
        let mut walls: Vec<Duration> = r.iter().map(|r| r.wall).collect();
        walls.sort_unstable();
        let (wall, spread) = (walls[REPEAT / 2], (walls[0], walls[REPEAT - 1]));
        let rss = r.iter().map(|r| r.rss).max().unwrap_or(0);
        Run { wall, spread, rss }
    })
}

/// Every file under `dir` (recursively) with its modification time.
fn mtimes(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in ok(std::fs::read_dir(&d), "read_dir") {
            let entry = ok(entry, "read_dir");
            let meta = ok(entry.metadata(), "metadata");
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                found.insert(entry.path(), ok(meta.modified(), "mtime"));
            }
        }
    }
    found
}

/// Validates (untimed) then measures one infra of `size` = (domains,
/// machines per domain); its directories go to `keep`.
fn bench_infra(name: &'static str, size: (usize, usize), keep: &mut Vec<TempDir>) -> Report {
    let infra = fresh_dir(keep).join("infra.yml");
    ok(write_infra(&infra, size.0, size.1), "write infra.yml");
    let out = ok(validate_cmd(&infra).output(), "validate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        die!("synthetic infra {name} is INVALID, benchmark aborted:\n{stderr}");
    }
    print!("{name}: {}{stderr}", String::from_utf8_lossy(&out.stdout));
    let mut tree = PathBuf::new();
    let [first, cp] = measure(["first sync", "cp -r"], |i| match i {
        0 => {
            tree = fresh_dir(keep);
            sync_cmd(&infra, &tree)
        }
        _ => {
            let mut cmd = Command::new("cp");
            cmd.arg("-r").arg(&tree).arg(fresh_dir(keep).join("copy"));
            cmd
        }
    });
    let before = mtimes(&tree);
    let [resync] = measure(["re-sync"], |_| sync_cmd(&infra, &tree));
    check_resync(&infra, &tree, &before);
    let [validate] = measure(["validate"], |_| validate_cmd(&infra));
    Report {
        name,
        files: before.len(),
        first,
        cp,
        resync,
        validate,
    }
}

/// One more, untimed, re-sync: it must print no `Written:` line and one
/// `Unchanged:` per file, and every file must keep its mtime (so the timed
/// re-syncs before it rewrote nothing either). Fails otherwise.
fn check_resync(infra: &Path, base: &Path, before: &BTreeMap<PathBuf, SystemTime>) {
    let out = ok(sync_cmd(infra, base).output(), "re-sync (output check)");
    let out = String::from_utf8_lossy(&out.stdout);
    let count = |verb: &str| out.matches(verb).count();
    let (written, unchanged, n) = (count("  Written: "), count("  Unchanged: "), before.len());
    if written != 0 || unchanged != n {
        die!("re-sync printed {written} Written and {unchanged} Unchanged for {n} files");
    }
    let after = mtimes(base);
    if after != *before {
        let changed = before.iter().filter(|(p, t)| after.get(*p) != Some(t));
        let (n, b, a) = (changed.count(), before.len(), after.len());
        die!("re-sync rewrote files: {n} mtimes changed; {b} files before, {a} after");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(kib: i64) -> f64 {
    kib as f64 / 1024.0
}

fn print_table(reports: &[&Report], floor: Run) {
    println!("\ninfra      files  first sync       cp -r     re-sync    validate   peak RSS MiB");
    for r in reports {
        let runs = [r.first, r.cp, r.resync, r.validate];
        print!("{:<9} {:>6}", r.name, r.files);
        runs.iter().for_each(|x| print!(" {:>8.1} ms", ms(x.wall)));
        let [f, c, s, v] = runs.map(|x| mib(x.rss));
        println!("   {f:>5.1} / {s:>5.1} / {v:>5.1}");
        print!("{:>16}", "min-max:");
        for x in &runs {
            print!(" {:>5.0}-{:<5.0}", ms(x.spread.0), ms(x.spread.1));
        }
        println!("   (cp -r: {c:.1})");
    }
    let floor = mib(floor.rss);
    println!("\nTimes in ms: median of {REPEAT}, first syncs alternating with cp -r. Peak");
    println!("RSS: first / re-sync / validate, max of {REPEAT}; `true` alike: {floor:.1} MiB.");
}

/// One target: the ratio `x / y` of medians (the verdict), and of the
/// fastest runs, which file-system noise (it only adds time) hits least.
fn target(label: &str, (x, y): (Run, Run), pass: fn(f64) -> bool) {
    let median = ms(x.wall) / ms(y.wall);
    let fastest = ms(x.spread.0) / ms(y.spread.0);
    let [v, vf] = [median, fastest].map(|r| VERDICT[usize::from(pass(r))]);
    println!("  [{v}] {label}: {median:.2}x   (fastest runs: {fastest:.2}x, {vf})");
}

fn print_targets(a: &Report, b: &Report) {
    println!("\nTargets:");
    target("first sync A <= 2x cp -r", (a.first, a.cp), |r| r <= 2.0);
    target("re-sync A < 0.5x cp -r", (a.resync, a.cp), |r| r < 0.5);
    target("first sync B < 10x A's", (b.first, a.first), |r| r < 10.0);
    let runs = [a, b].map(|r| [r.first, r.resync, r.validate]);
    let peak = runs.iter().flatten().map(|r| r.rss).max().unwrap_or(0);
    let v = VERDICT[usize::from(peak < RSS_LIMIT_KIB)];
    let mb = peak as f64 * 1.024e-3;
    println!("  [{v}] peak RSS of every run < 50 MB: max {mb:.1} MB");
}

fn main() {
    println!("anklume-gen sync bench: {BIN}");
    let mut keep = Vec::new();
    let a = bench_infra("A 200x5", (200, 5), &mut keep);
    let b = bench_infra("B 250x40", (250, 40), &mut keep);
    let floor = run_timed(&mut Command::new("true"), "true");
    print_table(&[&a, &b], floor);
    print_targets(&a, &b);
}

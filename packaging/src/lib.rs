//! The Debian package `anklume` (`make deb`): the metadata for cargo-deb
//! is in this crate's `Cargo.toml`; this library writes what the package
//! carries besides the binaries and the files of the repository: one man
//! page per binary and per sub-command, and shell completions for bash,
//! zsh and fish, all from the binaries' own clap definitions.

use std::fs;
use std::io;
use std::path::Path;

use clap::CommandFactory as _;
use clap_complete::Shell;

/// The command line of every anklume binary. A new binary adds one line.
pub fn commands() -> Vec<clap::Command> {
    vec![
        anklume_gen::cli::Cli::command(),
        anklume_gpud::cli::Cli::command(),
        anklume_netd::cli::Cli::command(),
        anklume_proxy::cli::Cli::command(),
        anklume_snapd::cli::Cli::command(),
    ]
}

/// Writes `man/<name>.1` and `man/<name>-<sub>.1` for each command and
/// sub-command (help excluded), and `completions/{bash,zsh,fish}/…` under
/// `out`. Returns the files written, relative to `out`.
pub fn write_all(out: &Path) -> io::Result<Vec<String>> {
    let mut written = Vec::new();
    for command in commands() {
        written.extend(write_man_pages(command.clone(), &out.join("man"))?);
        written.extend(write_completions(command, &out.join("completions"))?);
    }
    Ok(written
        .into_iter()
        .map(|p| p.strip_prefix(out).unwrap_or(&p).display().to_string())
        .collect())
}

fn write_man_pages(command: clap::Command, dir: &Path) -> io::Result<Vec<std::path::PathBuf>> {
    fs::create_dir_all(dir)?;
    let mut command = command;
    command.build();
    let name = command.get_name().to_owned();
    let mut written = vec![render(&command, &name, dir)?];
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let page = format!("{name}-{}", sub.get_name());
        // The page's title and synopsis read `anklume-gen-sync`…; the
        // usage line says how to call it.
        let sub = sub
            .clone()
            .name(page.clone())
            .bin_name(format!("{name} {}", sub.get_name()));
        written.push(render(&sub, &page, dir)?);
    }
    Ok(written)
}

fn render(command: &clap::Command, page: &str, dir: &Path) -> io::Result<std::path::PathBuf> {
    let mut text = Vec::new();
    clap_mangen::Man::new(command.clone())
        .source(format!("anklume {}", env!("CARGO_PKG_VERSION")))
        .manual("anklume")
        .render(&mut text)?;
    let path = dir.join(format!("{page}.1"));
    fs::write(&path, text)?;
    Ok(path)
}

fn write_completions(
    mut command: clap::Command,
    dir: &Path,
) -> io::Result<Vec<std::path::PathBuf>> {
    let name = command.get_name().to_owned();
    let mut written = Vec::new();
    for (shell, file) in [
        (Shell::Bash, name.clone()),
        (Shell::Zsh, format!("_{name}")),
        (Shell::Fish, format!("{name}.fish")),
    ] {
        let shell_dir = dir.join(shell.to_string());
        fs::create_dir_all(&shell_dir)?;
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut command, &name, &mut text);
        let path = shell_dir.join(file);
        fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_binary_and_sub_command_has_a_man_page_and_each_shell_a_completion() {
        let out = tempfile::tempdir().unwrap();
        let written = write_all(out.path()).unwrap();
        for page in [
            "man/anklume-gen.1",
            "man/anklume-gen-sync.1",
            "man/anklume-gen-validate.1",
            "man/anklume-netd.1",
            "man/anklume-netd-preview.1",
            "man/anklume-netd-apply.1",
            "man/anklume-netd-serve.1",
            "man/anklume-snapd.1",
            "man/anklume-snapd-serve.1",
            "man/anklume-snapd-scheduled.1",
            "completions/bash/anklume-snapd",
            "completions/zsh/_anklume-netd",
            "completions/fish/anklume-gen.fish",
        ] {
            assert!(
                written.iter().any(|w| w == page),
                "{page} not in {written:?}"
            );
        }
        assert!(
            !written.iter().any(|w| w.contains("-help.1")),
            "{written:?}"
        );
        let serve = fs::read_to_string(out.path().join("man/anklume-netd-serve.1")).unwrap();
        // The real definition: a flag of serve, its help text.
        assert!(serve.contains("check\\-interval"), "{serve}");
        assert!(serve.contains("anklume\\-netd\\-serve"), "{serve}");
        let bash = fs::read_to_string(out.path().join("completions/bash/anklume-gen")).unwrap();
        assert!(bash.contains("--clean-orphans"), "{bash}");
    }
}

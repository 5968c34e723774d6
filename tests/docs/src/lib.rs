//! The documentation's shell commands, as the tests see them: fenced blocks
//! of `README.md`, `docs/*.md` and `examples/*/README.md`, split into
//! commands (a heredoc or a `\`-continued line is one command), and a
//! scratch checkout of the working tree to run them in.
//!
//! * ```` ```sh ````, ```` ```bash ````, ```` ```shell ```` blocks: every
//!   line that is not blank or a comment is (part of) a command;
//! * any block: a line starting with `$ ` is a command (a transcript);
//! * a block without a language must hold no command: a line starting with
//!   a program the docs use (`make`, `anklume-gen`, `incus`…) is reported,
//!   so a command cannot hide from the test in an untagged block.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The directory of the binaries `cargo test --workspace` builds
/// (anklume-gen, anklume-netd, anklume-snapd), beside this test's own
/// executable.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    for bin in bins() {
        assert!(
            dir.join(&bin).exists(),
            "{}/{bin} is missing: run `cargo test --workspace` (it builds every binary) or `cargo build --workspace`",
            dir.display()
        );
    }
    dir
}

/// The binaries of `bins/` (one crate each, named after its directory).
pub fn bins() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("bins"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The pages whose commands are checked: README.md, docs/*.md,
/// examples/*/README.md (relative to the repository root, sorted).
pub fn doc_pages() -> Vec<String> {
    let root = repo_root();
    let mut pages = vec!["README.md".to_string()];
    let mut md = |dir: &str, pick: &dyn Fn(&Path) -> Option<PathBuf>| {
        let mut found: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .filter_map(|e| pick(&e.unwrap().path()))
            .map(|p| {
                p.strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        found.sort();
        pages.extend(found);
    };
    md("docs", &|p| {
        (p.extension().is_some_and(|e| e == "md")).then(|| p.to_path_buf())
    });
    md("examples", &|p| {
        let readme = p.join("README.md");
        readme.exists().then_some(readme)
    });
    pages
}

/// One fenced block: its language (may be empty) and its lines with their
/// line numbers in the page.
#[derive(Debug)]
pub struct Block {
    pub lang: String,
    pub line: usize,
    pub lines: Vec<(usize, String)>,
}

/// The fenced blocks of a Markdown page (```` ``` ```` or `~~~` fences).
pub fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(String, Block)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let n = i + 1;
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                for fence in ["```", "~~~"] {
                    if let Some(rest) = trimmed.strip_prefix(fence) {
                        let lang = rest.trim_start_matches(&fence[..1]).trim();
                        let lang = lang.split([' ', ',', '{']).next().unwrap_or("");
                        open = Some((
                            fence.to_string(),
                            Block {
                                lang: lang.to_string(),
                                line: n,
                                lines: Vec::new(),
                            },
                        ));
                        break;
                    }
                }
            }
            Some((fence, block)) => {
                if trimmed.starts_with(fence.as_str())
                    && trimmed.trim_start_matches(&fence[..1]).trim().is_empty()
                {
                    out.push(open.take().unwrap().1);
                } else {
                    block.lines.push((n, line.to_string()));
                }
            }
        }
    }
    out
}

/// One command of a page.
#[derive(Debug, Clone)]
pub struct DocCommand {
    /// Line of its first line in the page.
    pub line: usize,
    /// The text to run (continuation lines and heredoc bodies included).
    pub text: String,
    /// What the not-run list matches: the first line (continuations
    /// joined), without its comment, spaces collapsed; a transcript's
    /// keeps its `$ `.
    pub key: String,
}

const SHELL: &[&str] = &["sh", "bash", "shell", "console"];

/// Programs whose use in a block without a language is reported.
const PROGRAMS: &[&str] = &[
    "make",
    "anklume-gen",
    "anklume-netd",
    "anklume-snapd",
    "incus",
    "busctl",
    "cargo",
    "git",
    "apt",
    "apt-get",
    "sudo",
    "curl",
    "cp",
    "cd",
    "systemctl",
    "journalctl",
    "nft",
    "ansible-playbook",
    "scripts/",
    "tests/",
    "./",
];
// (`scripts/`, `tests/`, `./`: a first word under them ending in `.sh`.)

/// The commands of a page, and the problems found (a command in a block
/// without a language).
pub fn commands(markdown: &str) -> (Vec<DocCommand>, Vec<String>) {
    let mut cmds = Vec::new();
    let mut problems = Vec::new();
    for block in blocks(markdown) {
        let shell = SHELL.contains(&block.lang.as_str());
        let mut lines = block.lines.iter().peekable();
        while let Some((n, raw)) = lines.next() {
            let line = raw.trim();
            let (line, transcript) = match line.strip_prefix("$ ") {
                Some(rest) => (rest.trim(), true),
                None => (line, false),
            };
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !shell && !transcript {
                let first = line.split_whitespace().next().unwrap_or("");
                if block.lang.is_empty()
                    && PROGRAMS.iter().any(|p| {
                        if p.ends_with('/') {
                            first.starts_with(p) && first.ends_with(".sh")
                        } else {
                            first == *p
                        }
                    })
                {
                    problems.push(format!(
                        "line {n}: `{line}` is in a block without a language (line {}): tag it ```sh (its commands are then run or listed) or ```text",
                        block.line
                    ));
                }
                continue;
            }
            // A `\`-continued line goes on; a heredoc runs to its word.
            let mut text = line.to_string();
            let mut first = line.to_string();
            while text.ends_with('\\') {
                let Some((_, next)) = lines.next() else { break };
                text.push('\n');
                text.push_str(next);
                first.pop();
                first.push(' ');
                first.push_str(next.trim());
            }
            if let Some(word) = heredoc_word(&strip_comment(line)) {
                for (_, body) in lines.by_ref() {
                    text.push('\n');
                    text.push_str(body);
                    if body.trim() == word {
                        break;
                    }
                }
            }
            let key = strip_comment(&first)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            cmds.push(DocCommand {
                line: *n,
                text,
                key: if transcript { format!("$ {key}") } else { key },
            });
        }
    }
    (cmds, problems)
}

/// The line without a trailing `# comment` (a `#` after a blank, outside
/// quotes).
pub fn strip_comment(line: &str) -> String {
    let (mut single, mut double, mut prev_blank) = (false, false, true);
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev_blank => return line[..i].trim_end().to_string(),
            _ => {}
        }
        prev_blank = c.is_whitespace();
    }
    line.trim_end().to_string()
}

/// The end word of a heredoc started on this line (`<<WORD`, `<<'WORD'`,
/// `<<-"WORD"`).
fn heredoc_word(line: &str) -> Option<String> {
    let at = line.find("<<")?;
    let rest = line[at + 2..].trim_start_matches('-').trim_start();
    let word: String = rest
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

/// A git repository holding the working tree as it is now (tracked files
/// and untracked ones git does not ignore), committed: what
/// `git clone` of anklume gives, with this tree's changes.
pub fn snapshot_repo(dir: &Path) -> PathBuf {
    let root = repo_root();
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(listed.status.success(), "git ls-files failed");
    let repo = dir.join("anklume.git-src");
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let rel = Path::new(std::str::from_utf8(name).unwrap());
        let from = root.join(rel);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = repo.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "the working tree"]);
    repo
}

/// A fresh clone of a snapshot_repo in `dir/anklume`.
pub fn checkout(repo: &Path, dir: &Path) -> PathBuf {
    let to = dir.join("anklume");
    git(
        dir,
        &["clone", "-q", repo.to_str().unwrap(), to.to_str().unwrap()],
    );
    to
}

fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "anklume docs test")
        .env("GIT_AUTHOR_EMAIL", "docs-test@anklume.invalid")
        .env("GIT_COMMITTER_NAME", "anklume docs test")
        .env("GIT_COMMITTER_EMAIL", "docs-test@anklume.invalid")
        .status()
        .unwrap();
    assert!(st.success(), "git {args:?} in {} failed", dir.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_blocks_into_commands() {
        let md = "text\n```sh\nmake a   # why\n\n# a comment\nfoo \\\n  --bar\ncat > f <<'YAML'\nx: 1\nYAML\nmake b\n```\n```yaml\nkey: make\n```\n```\n$ anklume-gen validate x.yml\nWARNING: x\n```\n";
        let (cmds, problems) = commands(md);
        assert!(problems.is_empty(), "{problems:?}");
        let keys: Vec<_> = cmds.iter().map(|c| (c.line, c.key.as_str())).collect();
        assert_eq!(
            keys,
            [
                (3, "make a"),
                (6, "foo --bar"),
                (8, "cat > f <<'YAML'"),
                (11, "make b"),
                (17, "$ anklume-gen validate x.yml")
            ]
        );
        assert_eq!(cmds[2].text, "cat > f <<'YAML'\nx: 1\nYAML");
        assert_eq!(cmds[1].text, "foo \\\n  --bar");
    }

    #[test]
    fn a_command_in_an_untagged_block_is_a_problem() {
        let (cmds, problems) = commands("```\nmake sync\n```\n```text\nmake sync\n```\n");
        assert!(cmds.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("line 2"), "{problems:?}");
    }

    #[test]
    fn comments_are_cut_outside_quotes_only() {
        assert_eq!(strip_comment("make x   # y"), "make x");
        assert_eq!(strip_comment("echo 'a # b' # c"), "echo 'a # b'");
        assert_eq!(
            strip_comment("echo \"${X:?a # b}\""),
            "echo \"${X:?a # b}\""
        );
        assert_eq!(strip_comment("echo a#b"), "echo a#b");
    }
}

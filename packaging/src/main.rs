//! `anklume-packaging OUT`: writes the man pages and shell completions of
//! every anklume binary under OUT (`make deb` uses target/release/packaging).

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1) else {
        eprintln!("usage: anklume-packaging OUT_DIR");
        return ExitCode::from(2);
    };
    match anklume_packaging::write_all(std::path::Path::new(&out)) {
        Ok(written) => {
            println!("{} files under {}", written.len(), out.to_string_lossy());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("anklume-packaging: {e}");
            ExitCode::FAILURE
        }
    }
}

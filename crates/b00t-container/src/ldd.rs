//! The shared libraries a binary needs, from `ldd`'s output, so that the binary can run
//! on an empty (`scratch`) image: every `name => /path (addr)` line, the loader line
//! `/lib64/ld-linux-x86-64.so.2 (addr)`, nothing for `linux-vdso.so.1` or a statically
//! linked binary, and an error naming the library for `name => not found`.

use std::path::{Component, Path, PathBuf};

use crate::error::ContainerError;

/// The libraries `binary` loads, loader included, each as the absolute path `ldd` gave
/// (which may be a symlink: copy its content, not the link). Empty for a static binary.
///
/// glibc before 2.34 also loads `libnss_files` and `libnss_dns` at run time (for
/// `/etc/hosts` and DNS, which `host.docker.internal` needs), which `ldd` cannot see: when
/// they sit beside the `libc.so.6` found, they and their own libraries are added.
pub async fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, ContainerError> {
    let mut libraries = run_ldd(binary).await?;
    let nss_dir = libraries
        .iter()
        .find(|l| l.file_name().is_some_and(|n| n == "libc.so.6"))
        .and_then(|libc| libc.parent())
        .map(Path::to_path_buf);
    if let Some(dir) = nss_dir {
        for name in ["libnss_files.so.2", "libnss_dns.so.2"] {
            let nss = dir.join(name);
            if nss.is_file() && !libraries.contains(&nss) {
                for needed in run_ldd(&nss).await? {
                    if !libraries.contains(&needed) {
                        libraries.push(needed);
                    }
                }
                libraries.push(nss);
            }
        }
    }
    Ok(libraries)
}

/// Parses `ldd`'s output for `binary` (used in messages). Paths come back in order,
/// without duplicates; each is absolute with no `..`.
pub fn parse_ldd(binary: &Path, output: &str) -> Result<Vec<PathBuf>, ContainerError> {
    let mut found: Vec<PathBuf> = Vec::new();
    for line in output.lines() {
        let line = line.trim();
        if line.is_empty()
            || line.contains("statically linked")
            || line.contains("not a dynamic executable")
        {
            continue;
        }
        let path_part = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(ContainerError::MissingLibrary {
                        binary: binary.to_owned(),
                        library: name.trim().to_owned(),
                    });
                }
                strip_address(rest)
            }
            None => strip_address(line),
        };
        // `linux-vdso.so.1 (0x…)` and `linux-gate.so.1 =>  (0x…)` live in the kernel;
        // lines such as `ldd: warning: …` are not libraries.
        if !path_part.starts_with('/') {
            continue;
        }
        let path = PathBuf::from(path_part);
        if path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        {
            return Err(ContainerError::Ldd {
                binary: binary.to_owned(),
                message: format!("it printed a library path with `..`: `{path_part}`"),
            });
        }
        if !found.contains(&path) {
            found.push(path);
        }
    }
    Ok(found)
}

/// `/lib/x.so (0x00007f…)` → `/lib/x.so`; a line without an address is kept whole.
fn strip_address(text: &str) -> &str {
    let text = text.trim();
    match text
        .rfind(" (0x")
        .or_else(|| text.starts_with("(0x").then_some(0))
    {
        Some(at) if text.ends_with(')') => text[..at].trim(),
        _ => text,
    }
}

async fn run_ldd(binary: &Path) -> Result<Vec<PathBuf>, ContainerError> {
    let output = tokio::process::Command::new("ldd")
        .arg(binary)
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| ContainerError::Ldd {
            binary: binary.to_owned(),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                "`ldd` is not installed: install libc-bin (Debian, Ubuntu) or glibc-common"
                    .to_owned()
            } else {
                e.to_string()
            },
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text = format!("{stdout}\n{stderr}");
    // glibc's ldd exits 1 for a static binary ("not a dynamic executable").
    let is_static = text.contains("not a dynamic executable") || text.contains("statically linked");
    if !output.status.success() && !is_static {
        let message = stderr.trim();
        return Err(ContainerError::Ldd {
            binary: binary.to_owned(),
            message: if message.is_empty() {
                format!("it exited with {}", output.status)
            } else {
                message.to_owned()
            },
        });
    }
    parse_ldd(binary, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(output: &str, expected: &[&str]) {
        let found = parse_ldd(Path::new("/usr/local/bin/b00t"), output).unwrap();
        let expected: Vec<PathBuf> = expected.iter().map(PathBuf::from).collect();
        assert_eq!(found, expected, "for:\n{output}");
    }

    #[test]
    fn glibc_output_gives_every_library_and_the_loader_but_not_the_vdso() {
        check(
            "\tlinux-vdso.so.1 (0x00007ffd3c5e2000)\n\
             \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f1c2a9e0000)\n\
             \tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f1c2a900000)\n\
             \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1c2a71f000)\n\
             \t/lib64/ld-linux-x86-64.so.2 (0x00007f1c2aa2a000)\n",
            &[
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libm.so.6",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2",
            ],
        );
    }

    #[test]
    fn static_binaries_need_nothing() {
        check("\tstatically linked\n", &[]);
        check("\tnot a dynamic executable\n", &[]);
    }

    #[test]
    fn musl_output_names_the_loader_once() {
        check(
            "\t/lib/ld-musl-x86_64.so.1 (0x7f0e1a2b3000)\n\
             \tlibc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1 (0x7f0e1a2b3000)\n",
            &["/lib/ld-musl-x86_64.so.1"],
        );
    }

    #[test]
    fn old_formats_and_warnings_are_tolerated() {
        check(
            "ldd: warning: you do not have execution permission for `/x'\n\
             \tlinux-gate.so.1 =>  (0xb7f0b000)\n\
             \tlibz.so.1 => /usr/lib/libz.so.1\n\
             \tlibspace.so => /opt/my libs/libspace.so (0x00007f0000000000)\n",
            &["/usr/lib/libz.so.1", "/opt/my libs/libspace.so"],
        );
    }

    #[test]
    fn a_missing_library_is_an_error_that_names_it() {
        let e = parse_ldd(
            Path::new("/usr/local/bin/b00t"),
            "\tlibssl.so.3 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`libssl.so.3`") && e.contains("/usr/local/bin/b00t"),
            "{e}"
        );
    }

    #[test]
    fn a_path_that_climbs_is_refused() {
        let e = parse_ldd(Path::new("b"), "\tlibx.so => /lib/../../etc/x (0x1)\n").unwrap_err();
        assert!(e.to_string().contains(".."), "{e}");
    }

    #[tokio::test]
    async fn the_real_ldd_finds_libc_and_the_loader_for_a_system_program() {
        let libraries = shared_libraries(Path::new("/bin/sh")).await.unwrap();
        assert!(
            libraries
                .iter()
                .any(|l| l.to_string_lossy().contains("libc.so")),
            "{libraries:?}"
        );
        assert!(
            libraries
                .iter()
                .any(|l| l.to_string_lossy().contains("ld-")),
            "{libraries:?}"
        );
        for library in &libraries {
            assert!(library.is_absolute() && library.exists(), "{library:?}");
        }
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_program_is_an_ldd_error_or_static() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello").unwrap();
        // glibc's ldd says "not a dynamic executable" (so: nothing to copy).
        let libraries = shared_libraries(&text).await.unwrap();
        assert!(libraries.is_empty(), "{libraries:?}");
        let e = shared_libraries(&dir.path().join("missing"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }
}

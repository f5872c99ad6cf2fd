//! `b00t image build` and `b00t image status`: the group agents' image, built locally on
//! a `scratch` base from the home's `container/` folder and this binary.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use b00t_config::Home;
use b00t_container::{ImageBuild, ImageState};

use crate::cli::{ImageBuildArgs, ImageStatusArgs};
use crate::style::{colour_stderr, colour_stdout, Paint};

pub(super) async fn build(args: ImageBuildArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let tag = args
        .tag
        .unwrap_or_else(|| home.config().containers.image_tag());
    let binary = binary(args.binary)?;
    let docker = b00t_container::connect().await?;
    let build = ImageBuild {
        tag,
        context_dir: home.container_dir(),
        binary,
        labels: Default::default(),
    };
    let stop = crate::shutdown::on_signal();
    let colour = colour_stderr();
    let info = b00t_container::build_image_with(&docker, &build, &stop, |line| {
        errln!("{}", Paint::Dim.paint(colour, line));
    })
    .await
    .with_context(|| format!("cannot build the agent image `{}`", build.tag))?;
    outln!(
        "{} {}  {}  {}",
        Paint::Green.paint(colour_stdout(), "built"),
        info.tag,
        info.id,
        human_size(info.size)
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Exit 0 when the image is current, 1 when it is missing or stale.
pub(super) async fn status(args: ImageStatusArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let tag = args
        .tag
        .unwrap_or_else(|| home.config().containers.image_tag());
    let binary = binary(args.binary)?;
    let docker = b00t_container::connect().await?;
    let state = b00t_container::image_state(&docker, &tag, &binary).await?;
    let colour = colour_stdout();
    let found = b00t_container::inspect_image(&docker, &tag).await?;
    let (label, paint) = match state {
        ImageState::Missing => ("missing", Paint::Red),
        ImageState::Stale => ("stale", Paint::Yellow),
        ImageState::Current => ("current", Paint::Green),
    };
    match &found {
        Some(image) => outln!(
            "{tag}  {}  {}  {}",
            paint.paint(colour, label),
            image.id,
            human_size(image.size)
        )?,
        None => outln!("{tag}  {}", paint.paint(colour, label))?,
    }
    match (state, &found) {
        (ImageState::Missing, _) => {
            outln!("  build it with `b00t image build` (or let `b00t up` do it)")?;
        }
        (ImageState::Stale, Some(image)) => {
            outln!("  image holds {}", display_fingerprint(&image.fingerprint))?;
            outln!(
                "  binary is   {}",
                b00t_container::binary_fingerprint(&binary)?
            )?;
            outln!("  rebuild it with `b00t image build` (or let `b00t up` do it)")?;
        }
        _ => {}
    }
    let current = state == ImageState::Current;
    Ok(if current {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(path) => Ok(path),
        None => std::env::current_exe()
            .context("cannot find the running b00t binary: pass `--binary PATH`"),
    }
}

fn display_fingerprint(fingerprint: &str) -> &str {
    if fingerprint.is_empty() {
        "no `b00t.binary` label (not built by b00t)"
    } else {
        fingerprint
    }
}

fn human_size(bytes: i64) -> String {
    let mb = bytes as f64 / 1_000_000.0;
    if mb >= 1.0 {
        format!("{mb:.1} MB")
    } else {
        format!("{:.1} kB", bytes as f64 / 1000.0)
    }
}

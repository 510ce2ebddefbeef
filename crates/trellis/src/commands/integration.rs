//! `trellis integration ...`: projects on this machine, installations on a running server.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::cli::{
    IntegrationBuildArgs, IntegrationCommand, IntegrationDevArgs, IntegrationInstallArgs,
    IntegrationLogsArgs, IntegrationNewArgs, IntegrationRunArgs, IntegrationShareArgs,
};
use crate::{client, project, scaffold};

/// `trellis integration ...`, by subcommand.
pub async fn dispatch(command: IntegrationCommand) -> Result<()> {
    match command {
        IntegrationCommand::Install(args) => install(args).await,
        IntegrationCommand::Run(args) => run(args).await,
        IntegrationCommand::Logs(args) => logs(args).await,
        IntegrationCommand::Share(args) => share(args).await,
        IntegrationCommand::New(args) => new(args),
        IntegrationCommand::Build(args) => build(args),
        IntegrationCommand::Dev(args) => dev(args).await,
    }
}

/// `trellis integration install`.
async fn install(args: IntegrationInstallArgs) -> Result<()> {
    let IntegrationInstallArgs {
        dir,
        component,
        server,
    } = args;
    let client = client::Client::new(&server)?;
    let installation = client::install(&client, &client::project_dir(dir), &component).await?;
    println!(
        "Installed {} {} as {} (integration {}). Share pages with it: trellis integration share {} PAGE_ID",
        installation["name"].as_str().unwrap_or(""),
        installation["version"].as_str().unwrap_or(""),
        installation["id"].as_str().unwrap_or(""),
        installation["integration_id"].as_str().unwrap_or(""),
        installation["name"].as_str().unwrap_or(""),
    );
    Ok(())
}

/// `trellis integration run`.
async fn run(args: IntegrationRunArgs) -> Result<()> {
    let IntegrationRunArgs {
        installation,
        input,
        server,
    } = args;
    let client = client::Client::new(&server)?;
    let run = client::run(&client, &installation, &input).await?;
    print!("{}", client::describe_run(&run));
    if run["status"] != "ok" {
        bail!("the run ended {}", run["status"]);
    }
    Ok(())
}

/// `trellis integration logs`.
async fn logs(args: IntegrationLogsArgs) -> Result<()> {
    let IntegrationLogsArgs { run_id, server } = args;
    let client = client::Client::new(&server)?;
    let run = client
        .call(
            reqwest::Method::GET,
            &format!("/platform/v1/runs/{run_id}"),
            None,
        )
        .await?;
    print!("{}", client::describe_run(&run));
    Ok(())
}

/// `trellis integration share`.
async fn share(args: IntegrationShareArgs) -> Result<()> {
    let IntegrationShareArgs {
        installation,
        page_id,
        level,
        server,
    } = args;
    let client = client::Client::new(&server)?;
    client::share(&client, &installation, &page_id, &level).await?;
    println!("Shared {page_id} with {installation} ({level}).");
    Ok(())
}

/// `trellis integration new`.
fn new(args: IntegrationNewArgs) -> Result<()> {
    let IntegrationNewArgs {
        name,
        dir,
        language,
        sdk_path,
    } = args;
    integration_new(&name, language.into(), dir, sdk_path)
}

/// `trellis integration build`.
fn build(args: IntegrationBuildArgs) -> Result<()> {
    let IntegrationBuildArgs { dir } = args;
    let project = project::Project::open(&client::project_dir(dir))?;
    let component = project::build(&project)?;
    println!("Built {}: {}", project.title(), component.describe());
    Ok(())
}

/// `trellis integration dev`.
async fn dev(args: IntegrationDevArgs) -> Result<()> {
    let IntegrationDevArgs {
        dir,
        input,
        watch,
        server,
    } = args;
    integration_dev(&client::project_dir(dir), &input, watch, &server).await
}

fn integration_new(
    name: &str,
    language: integrations::Language,
    dir: Option<PathBuf>,
    sdk_path: Option<PathBuf>,
) -> Result<()> {
    let scaffold = scaffold::create(name, language, dir, sdk_path)?;
    let dir = scaffold.dir.display();
    let input = match &scaffold.sdk_path {
        Some(sdk_path) => {
            if !scaffold.sdk_found {
                eprintln!(
                    "warning: the Trellis SDK is not at {sdk_path} (this binary was built from another tree): point trellis-sdk in Cargo.toml at sdk/rust/trellis-sdk of a Trellis checkout"
                );
            }
            println!("Created the integration {name} in {dir} (trellis-sdk at {sdk_path}).");
            r#"{"query": ""}"#
        }
        None => {
            println!(
                "Created the {} integration {name} in {dir}.",
                scaffold::language_name(language)
            );
            r#"{"name": "Ada"}"#
        }
    };
    println!("Next:");
    println!("  cd {dir}");
    println!("  trellis integration build");
    println!("  trellis integration dev --input '{input}' --server URL --token TOKEN");
    Ok(())
}

/// How often `dev --watch` looks at the project's files.
const DEV_WATCH_POLL_MS: u64 = 500;

/// `trellis integration dev`: one build-install-run cycle, or one per change with `watch`.
async fn integration_dev(
    dir: &std::path::Path,
    input: &str,
    watch: bool,
    server: &client::ServerArgs,
) -> Result<()> {
    let input: serde_json::Value = serde_json::from_str(input).context("--input is not JSON")?;
    let client = client::Client::new(server)?;
    if !watch {
        let run = dev_cycle(&client, dir, &input).await?;
        if run["status"] != "ok" {
            bail!("the run ended {}", run["status"].as_str().unwrap_or("?"));
        }
        return Ok(());
    }
    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        // Taken before the build, so that an edit made while it runs starts another cycle.
        let seen = project::sources_snapshot(dir);
        tokio::select! {
            cycle = dev_cycle(&client, dir, &input) => {
                if let Err(error) = cycle {
                    eprintln!("error: {error:#}");
                }
            }
            _ = &mut interrupted => return Ok(()),
        }
        println!(
            "Watching {} (src/, Cargo.toml, trellis.toml); Ctrl-C to stop.",
            dir.display()
        );
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(DEV_WATCH_POLL_MS)) => {}
                _ = &mut interrupted => return Ok(()),
            }
            if project::sources_snapshot(dir) != seen {
                break;
            }
        }
    }
}

/// Builds the project, registers it under its development version, installs it, runs it with
/// `input` and prints the run. Returns the run.
async fn dev_cycle(
    client: &client::Client,
    dir: &std::path::Path,
    input: &serde_json::Value,
) -> Result<serde_json::Value> {
    let dir = dir.to_path_buf();
    let (project, component) = tokio::task::spawn_blocking(move || -> Result<_> {
        let project = project::Project::open(&dir)?;
        let component = project::build(&project)?;
        Ok((project, component))
    })
    .await??;
    println!("Built {}: {}", project.title(), component.describe());
    let version = project::dev_version(
        &project.manifest.integration.version,
        &component.bytes,
        &project.manifest_text,
    );
    let manifest = project::with_version(&project.manifest_text, &version)?;
    let installation = client::register_and_install(client, &manifest, &component.bytes).await?;
    let installation_id = installation["id"]
        .as_str()
        .context("the server answered without an installation id")?;
    println!(
        "Installed {} {} as {installation_id}.",
        installation["name"].as_str().unwrap_or(""),
        installation["version"].as_str().unwrap_or(""),
    );
    let run = client::run_installation(client, installation_id, input).await?;
    print!("{}", client::describe_run(&run));
    Ok(run)
}

//! `carrel`: the one binary. `carrel serve` runs the server; `carrel upload`
//! and `carrel download` are clients of any carrel server.
//!
//! The CLI composes carrel-server (for `serve`) and speaks HTTP to servers
//! as a client; it holds no domain logic of its own.

mod admin;
mod download;
mod files;
mod library;
mod upload;

use std::io::Write;
use std::net::SocketAddr;

use clap::{Parser, Subcommand};

/// mimalloc: the server allocates many small, short-lived buffers per
/// request; glibc's allocator was a tenth of the time of a small download.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "carrel",
    version,
    about = "Self-hosted file sharing, streaming and library.",
    long_about = "carrel hosts files of any size behind share links.\n\n\
    Start a server with `carrel serve` (SQLite and local disk in ./carrel-data, no configuration),\n\
    then upload with `carrel upload FILE…` and fetch with `carrel download URL`.\n\n\
    The library: `carrel import DUMP…` loads catalog records (stop the server first), and the\n\
    server's /library page searches them.\n\n\
    Accounts: the first start logs a link that creates the administrator; or run\n\
    `carrel admin create-user --admin EMAIL`.\n\n\
    Your files on a server (with an API token in CARREL_TOKEN, CARREL_SERVER for the server):\n\
    `carrel ls`, `carrel rm ID…`, `carrel mv ID… --to FOLDER`, `carrel mkdir NAME`,\n\
    `carrel rename ID NAME`, `carrel share create|show|edit|disable|enable|rm`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (prints the URL it listens on).
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:8080 (port 0 picks a free port). [default: 127.0.0.1:8080]
        #[arg(long, env = "CARREL_LISTEN")]
        listen: Option<SocketAddr>,
        #[command(flatten)]
        data: library::DataArgs,
    },
    /// Upload files and print one share link per file (resumable; rerun to continue).
    Upload(upload::Args),
    /// Download a share link (resumes a partial file).
    Download(download::Args),
    /// List your files and folders on a server (search, sort, pages).
    Ls(files::LsArgs),
    /// Delete your files (all the ids named, or none).
    Rm(files::RmArgs),
    /// Move your files into a folder, or out of theirs (`--to none`).
    Mv(files::MvArgs),
    /// Make an empty folder.
    Mkdir(files::MkdirArgs),
    /// Rename a file (or a folder, with --folder).
    Rename(files::RenameArgs),
    /// Your share links: create another, show, edit, disable, enable, delete.
    #[command(subcommand)]
    Share(files::ShareCommand),
    /// Import catalog records from dumps (Gutenberg, goodbooks, Crossref, OpenAlex, Open Library, OAI-PMH, CSV).
    Import(library::ImportArgs),
    /// Add book files to the library.
    #[command(subcommand)]
    Library(library::LibraryCommand),
    /// Manage the library's search index.
    #[command(subcommand)]
    Index(library::IndexCommand),
    /// Manage accounts: the first administrator, reset links, roles, tokens.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Print every method and path the server answers (`--json` for scripts and tests).
    Routes {
        #[arg(long)]
        json: bool,
    },
    /// Convert a SubRip (.srt) subtitle file to WebVTT on standard output
    /// (tolerates missing milliseconds, dots for commas, a BOM, CRLF, noise).
    Vtt { file: std::path::PathBuf },
    /// (internal) Read one book file with lowered limits; used by the library.
    #[command(name = "extract-book", hide = true)]
    ExtractBook {
        file: std::path::PathBuf,
        out_dir: std::path::PathBuf,
    },
}

/// `carrel vtt FILE`: SubRip to WebVTT (reads at most the converter's bound).
fn vtt(file: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::{Read, Write};
    let limit = carrel_streaming::subtitles::MAX_SRT_BYTES as u64;
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .with_context(|| format!("cannot open {}", file.display()))?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    let out = carrel_streaming::subtitles::srt_to_vtt(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}

/// The progress bar of uploads and downloads: name, bar, bytes, speed, ETA.
fn progress_style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(
        "{msg:30!} {bar:30.cyan/blue} {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} ETA {eta}",
    )
    .expect("valid template")
    .progress_chars("=> ")
}

/// The routes of a server started on an empty, temporary data directory
/// (routes do not depend on settings or data).
async fn routes(json: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let settings = carrel_server::Settings {
        data: dir.path().to_owned(),
        listen: "127.0.0.1:0".parse()?,
        ..Default::default()
    };
    let server = carrel_server::Server::bind(settings).await?;
    let routes = server.routes().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&routes)?);
    } else {
        for r in &routes {
            println!("{:7} {}", r.method, r.path);
        }
    }
    Ok(())
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CARREL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,hyper=warn"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json { b.json().init() } else { b.init() }
}

/// An argument before `--` that is an id starting with `-` (ids made before
/// carrel stopped generating them): clap would read it as options (`-hL8…`
/// is `-h`, the help) and the command would do something else.
fn dash_id_before_separator(args: &[std::ffi::OsString]) -> Option<String> {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .filter_map(|a| a.to_str())
        .find(|a| {
            a.starts_with('-')
                && !a.starts_with("--")
                && a.parse::<carrel_core::ids::FileId>().is_ok()
        })
        .map(str::to_owned)
}

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(id) = dash_id_before_separator(&args) {
        eprintln!(
            "error: `{id}` is an id that starts with `-`, which reads as an option here.\n\
             Put the options first and the ids after `--`, e.g.\n  \
             carrel rm -- {id}\n  carrel mv --to FOLDER -- {id}"
        );
        return std::process::ExitCode::from(2);
    }
    let cli = Cli::parse_from(args);
    if let Command::ExtractBook { file, out_dir } = &cli.command {
        // The sandboxed child: no runtime, no logs, limits first.
        let code = carrel_library::extract::child_main(file, out_dir);
        return std::process::ExitCode::from(code as u8);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // File reads, fsyncs and hashing run on the blocking pool. 64 threads
        // keep a disk busy; tokio's default of 512 would let a thousand
        // downloads start hundreds of threads, each with its own stack and
        // allocator cache.
        .max_blocking_threads(64)
        .build()
        .expect("tokio runtime");
    let result = rt.block_on(async {
        match cli.command {
            Command::Serve { listen, data } => serve(listen, data).await,
            Command::Upload(a) => upload::run(a).await,
            Command::Download(a) => download::run(a).await,
            Command::Ls(a) => files::ls(a).await,
            Command::Rm(a) => files::rm(a).await,
            Command::Mv(a) => files::mv(a).await,
            Command::Mkdir(a) => files::mkdir(a).await,
            Command::Rename(a) => files::rename(a).await,
            Command::Share(c) => files::share(c).await,
            Command::Import(a) => library::import(a).await,
            Command::Library(c) => library::library(c).await,
            Command::Index(c) => library::index(c).await,
            Command::Admin(c) => admin::run(c).await,
            Command::Routes { json } => routes(json).await,
            Command::Vtt { file } => vtt(&file),
            Command::ExtractBook { .. } => unreachable!("handled before the runtime starts"),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carrel: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(listen: Option<SocketAddr>, data: library::DataArgs) -> anyhow::Result<()> {
    let mut settings = data.settings()?;
    if let Some(l) = listen {
        settings.listen = l;
    }
    init_logs(settings.log_format == "json");
    let server = carrel_server::Server::bind(settings).await?;
    let addr = server.local_addr();
    let mut out = std::io::stdout();
    writeln!(out, "carrel is listening on http://{addr}")?;
    out.flush()?;
    tracing::info!(%addr, "listening");
    server.run(carrel_server::shutdown_signal()).await
}

#[cfg(test)]
mod tests {
    use super::dash_id_before_separator;

    fn args(a: &[&str]) -> Vec<std::ffi::OsString> {
        a.iter().map(Into::into).collect()
    }

    #[test]
    fn an_id_starting_with_a_dash_is_caught_before_clap_reads_it_as_options() {
        let id = "-hL8eH9AzH0TKitvfFsctA";
        assert_eq!(
            dash_id_before_separator(&args(&[
                "carrel",
                "mv",
                "AAAAAAAAAAAAAAAAAAAAAA",
                id,
                "--to",
                "x"
            ])),
            Some(id.to_owned())
        );
        // After `--` it is a value, as clap reads it.
        assert_eq!(
            dash_id_before_separator(&args(&["carrel", "rm", "--", id])),
            None
        );
        // Options and short flags are not ids.
        assert_eq!(
            dash_id_before_separator(&args(&[
                "carrel",
                "ls",
                "-s",
                "x",
                "--max-downloads",
                "3",
                "-h"
            ])),
            None
        );
    }
}

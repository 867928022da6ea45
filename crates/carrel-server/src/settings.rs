//! carrel's settings: one documented struct, read from defaults, then a TOML
//! file (`--config`), then `CARREL_*` environment variables (nested keys
//! with `__`, e.g. `CARREL_HOSTING__MAX_FILE_SIZE`), then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use carrel_accounts::AccountsConfig;
use carrel_core::plan::Plans;
use carrel_hosting::HostingConfig;
use carrel_streaming::StreamingConfig;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Directory for the SQLite database, blobs and staged uploads.
    pub data: PathBuf,
    /// Database URL: `sqlite://PATH` or `postgres://…`. Defaults to SQLite in `data`.
    pub database: Option<String>,
    /// Seconds a client may take to send its request headers.
    pub header_read_timeout_secs: u64,
    /// Seconds requests in flight may take to finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// Memory, in bytes, for keeping small files (up to 64 KiB each) in
    /// RAM so they are served without touching the disk (0 turns it off).
    pub memory_cache_bytes: u64,
    /// File hosting: upload limits, link defaults.
    pub hosting: HostingConfig,
    /// Accounts: who may sign up, how long log-ins last.
    pub accounts: AccountsConfig,
    /// Plans: storage, file size, download volume, speed, downloads at once, retention.
    pub plans: Plans,
    /// Streaming: how media is probed.
    pub streaming: StreamingConfig,
    /// The mail server for reset links people ask for (`/forgot`); none by default.
    pub smtp: carrel_accounts::mail::SmtpConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid"),
            data: PathBuf::from("carrel-data"),
            database: None,
            header_read_timeout_secs: 10,
            shutdown_grace_secs: 30,
            log_format: "text".into(),
            memory_cache_bytes: 32 << 20,
            hosting: HostingConfig::default(),
            accounts: AccountsConfig::default(),
            plans: Plans::default(),
            streaming: StreamingConfig::default(),
            smtp: Default::default(),
        }
    }
}

/// The top-level keys, as `CARREL_<KEY>` environment variables.
const SETTINGS_KEYS: &[&str] = &[
    "listen",
    "data",
    "database",
    "header_read_timeout_secs",
    "shutdown_grace_secs",
    "log_format",
    "memory_cache_bytes",
    "hosting",
    "accounts",
    "plans",
    "smtp",
    "streaming",
];

impl Settings {
    /// Defaults, then the file (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut f = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(p) = file {
            if !p.exists() {
                return Err(Box::new(figment::Error::from(format!(
                    "config file {} does not exist",
                    p.display()
                ))));
            }
            f = f.merge(Toml::file(p));
        }
        // Other CARREL_* variables (CARREL_LOG, CARREL_SERVER, …) belong to the CLI.
        let env = Env::prefixed("CARREL_")
            .filter(|k| {
                let k = k.as_str().to_ascii_lowercase();
                SETTINGS_KEYS
                    .iter()
                    .any(|t| k == *t || k.starts_with(&format!("{t}__")))
            })
            .split("__");
        f.merge(env).extract().map_err(Box::new)
    }

    /// The library's search index: `library-index` in the data directory.
    pub fn index_dir(&self) -> PathBuf {
        self.data.join("library-index")
    }

    pub fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data.join("carrel.db").display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env() {
        let dir = std::env::temp_dir().join(format!("carrel-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.toml");
        std::fs::write(
            &p,
            "listen = \"127.0.0.1:0\"\n[hosting]\nmax_file_size = 1234\n",
        )
        .unwrap();
        let s = Settings::load(Some(&p)).unwrap();
        assert_eq!(s.listen.port(), 0);
        assert_eq!(s.hosting.max_file_size, 1234);
        std::fs::write(&p, "lisen = 1\n").unwrap();
        assert!(
            Settings::load(Some(&p)).is_err(),
            "unknown keys are refused"
        );
        assert!(Settings::load(Some(&dir.join("missing.toml"))).is_err());
        // One limit of a plan is changed; the rest keep their defaults.
        std::fs::write(
            &p,
            "[plans.tiers.free]\nspeed = \"1 MiB\"\n[plans.tiers.tiny]\nstorage = 1000\n",
        )
        .unwrap();
        let s = Settings::load(Some(&p)).unwrap();
        let free = s.plans.limits_of("free");
        assert_eq!(free.speed, Some(carrel_core::plan::Bytes(1 << 20)));
        assert_eq!(free, &{
            let mut d = Plans::default().limits_of("free").clone();
            d.speed = free.speed;
            d
        });
        assert_eq!(
            s.plans.limits_of("tiny").storage,
            Some(carrel_core::plan::Bytes(1000))
        );
        std::fs::write(&p, "[plans.tiers.free]\nspeed = \"fast\"\n").unwrap();
        assert!(Settings::load(Some(&p)).is_err());
    }
}

//! The host configuration shared by anklume's daemons,
//! `/etc/anklume/anklume.conf.yml`:
//!
//! ```yaml
//! infra: /etc/anklume/infra.yml     # the host's copy of the infra (authority)
//! snapshots:
//!   schedule: hourly                # interval: hourly, daily, weekly or e.g. 15m
//!   max_parallel: 8                 # snapshots taken at once
//!   retention:                      # what Prune keeps (see docs/snapshots.md)
//!     keep_last: 10
//!     hourly: 24
//!     daily: 7
//!     weekly: 4
//!     monthly: 6
//!     min_age: 1h
//! ```
//!
//! Every key is optional; unknown keys are errors (a typo in a retention
//! policy must not silently keep or delete snapshots).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anklume_infra::{Value, parse_yaml};

pub const DEFAULT_CONFIG: &str = "/etc/anklume/anklume.conf.yml";
pub const DEFAULT_INFRA: &str = "/etc/anklume/infra.yml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The host's infra; relative paths are resolved against the config
    /// file's directory.
    pub infra: PathBuf,
    pub snapshots: SnapshotConfig,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotConfig {
    /// Interval between scheduled snapshots (`hourly`, `daily`, `weekly`
    /// or a duration such as `15m`); anklume-snapshot.timer checks it.
    pub schedule: String,
    /// At most this many snapshots are taken at once.
    pub max_parallel: usize,
    pub retention: Retention,
}

/// What `Prune` keeps of the snapshots anklume-snapd created, per instance
/// (snapper/restic-like): the newest `keep_last`, plus the newest snapshot
/// of each of the last `hourly` hours, `daily` days, `weekly` ISO weeks and
/// `monthly` months that have one; nothing younger than `min_age` is ever
/// deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    pub keep_last: usize,
    pub hourly: usize,
    pub daily: usize,
    pub weekly: usize,
    pub monthly: usize,
    pub min_age: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep_last: 10,
            hourly: 24,
            daily: 7,
            weekly: 4,
            monthly: 6,
            min_age: Duration::from_secs(3600),
        }
    }
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        Self {
            schedule: "hourly".into(),
            max_parallel: 8,
            retention: Retention::default(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            infra: PathBuf::from(DEFAULT_INFRA),
            snapshots: SnapshotConfig::default(),
        }
    }
}

impl Config {
    /// Reads the configuration. A missing file gives the defaults: a host
    /// with only `/etc/anklume/infra.yml` needs no configuration.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ConfigError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let invalid = |message: String| ConfigError::Invalid {
            path: path.display().to_string(),
            message,
        };
        let value = parse_yaml(&text, &path.display().to_string()).map_err(|errors| {
            invalid(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let base = path.parent().unwrap_or(Path::new("/"));
        Self::from_value(&value, base).map_err(invalid)
    }

    fn from_value(value: &Value, base: &Path) -> Result<Self, String> {
        let mut config = Self::default();
        if value.is_null() {
            return Ok(config);
        }
        let top = mapping(value, "the file", &["infra", "snapshots"])?;
        if let Some(infra) = get(top, "infra") {
            let infra = string(infra, "infra")?;
            config.infra = base.join(infra);
        }
        if let Some(snapshots) = get(top, "snapshots").filter(|v| !v.is_null()) {
            let s = mapping(
                snapshots,
                "snapshots",
                &["schedule", "max_parallel", "retention"],
            )?;
            if let Some(v) = get(s, "schedule") {
                config.snapshots.schedule = string(v, "snapshots.schedule")?;
            }
            if let Some(v) = get(s, "max_parallel") {
                config.snapshots.max_parallel = count(v, "snapshots.max_parallel")?.max(1);
            }
            if let Some(r) = get(s, "retention").filter(|v| !v.is_null()) {
                config.snapshots.retention = retention(r)?;
            }
        }
        Ok(config)
    }
}

fn retention(value: &Value) -> Result<Retention, String> {
    let keys = [
        "keep_last",
        "hourly",
        "daily",
        "weekly",
        "monthly",
        "min_age",
    ];
    let r = mapping(value, "snapshots.retention", &keys)?;
    let mut retention = Retention::default();
    let counts = [
        ("keep_last", &mut retention.keep_last),
        ("hourly", &mut retention.hourly),
        ("daily", &mut retention.daily),
        ("weekly", &mut retention.weekly),
        ("monthly", &mut retention.monthly),
    ];
    for (key, slot) in counts {
        if let Some(v) = get(r, key) {
            *slot = count(v, &format!("snapshots.retention.{key}"))?;
        }
    }
    if let Some(v) = get(r, "min_age") {
        let text = match v {
            Value::Int(i) => format!("{i}s"),
            _ => string(v, "snapshots.retention.min_age")?,
        };
        retention.min_age = parse_duration(&text).ok_or_else(|| {
            format!(
                "snapshots.retention.min_age must be a duration like 30m, 2h or 1d, got '{text}'"
            )
        })?;
    }
    Ok(retention)
}

/// `90s`, `30m`, `2h`, `1d`, `1w`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    Some(Duration::from_secs(n.checked_mul(seconds)?))
}

fn mapping<'a>(
    value: &'a Value,
    what: &str,
    known: &[&str],
) -> Result<&'a [(Value, Value)], String> {
    let map = value
        .as_map()
        .ok_or_else(|| format!("{what} must be a mapping"))?;
    for (key, _) in map {
        let key = key.as_str().unwrap_or_default();
        if !known.contains(&key) {
            return Err(format!(
                "unknown key '{key}' in {what} (known: {})",
                known.join(", ")
            ));
        }
    }
    Ok(map)
}

fn get<'a>(map: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

fn string(value: &Value, what: &str) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{what} must be a string"))
}

fn count(value: &Value, what: &str) -> Result<usize, String> {
    match value {
        Value::Int(i) if *i >= 0 => Ok(usize::try_from(*i).unwrap_or(usize::MAX)),
        _ => Err(format!("{what} must be a whole number >= 0")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anklume.conf.yml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).map(|mut c| {
            // Make the infra path comparable across temp dirs.
            c.infra = c
                .infra
                .strip_prefix(dir.path())
                .map_or(c.infra.clone(), Path::to_path_buf);
            c
        })
    }

    #[test]
    fn missing_file_gives_defaults() {
        let config = Config::load(Path::new("/nonexistent/anklume.conf.yml")).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.infra, PathBuf::from("/etc/anklume/infra.yml"));
    }

    #[test]
    fn every_key_is_read() {
        let config = parse(
            "infra: infra.yml\nsnapshots:\n  schedule: '*:0/15'\n  max_parallel: 4\n  retention:\n    keep_last: 3\n    hourly: 2\n    daily: 1\n    weekly: 0\n    monthly: 5\n    min_age: 30m\n",
        )
        .unwrap();
        assert_eq!(config.infra, PathBuf::from("infra.yml"));
        assert_eq!(config.snapshots.schedule, "*:0/15");
        assert_eq!(config.snapshots.max_parallel, 4);
        assert_eq!(
            config.snapshots.retention,
            Retention {
                keep_last: 3,
                hourly: 2,
                daily: 1,
                weekly: 0,
                monthly: 5,
                min_age: Duration::from_secs(1800)
            }
        );
    }

    #[test]
    fn absolute_infra_path_is_kept() {
        assert_eq!(
            parse("infra: /srv/infra.yml\n").unwrap().infra,
            PathBuf::from("/srv/infra.yml")
        );
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        let err = parse("snapshots:\n  retention:\n    keep_lats: 3\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown key 'keep_lats' in snapshots.retention"),
            "{err}"
        );
        let err = parse("snapshots:\n  retention:\n    daily: -1\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("snapshots.retention.daily must be a whole number"),
            "{err}"
        );
        let err = parse("snapshots:\n  retention:\n    min_age: soon\n").unwrap_err();
        assert!(
            err.to_string().contains("min_age must be a duration"),
            "{err}"
        );
        assert!(parse("infra: [1]\n").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("5y"), None);
    }
}

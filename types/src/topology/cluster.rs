//! The `[cluster]` table and the `--processes N --process I --hostfile FILE`
//! flags: which processes make up one engine, and which of them this one
//! is. Both follow timely's conventions: the hostfile has one `host:port`
//! per line, process `I` listens on line `I + 1`, and without a hostfile
//! process `I` is `localhost:{2101 + I}`. One topology file serves every
//! process: the index comes from `--process` or `HELIXFLOW_PROCESS`.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The environment variable that names this process's index.
pub const PROCESS_ENV: &str = "HELIXFLOW_PROCESS";

/// `[cluster]` in a topology.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Every process's `host:port`, in process order.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// A file of them instead, one `host:port` per line (timely's hostfile).
    pub hostfile: Option<PathBuf>,
    /// Processes (default: as many as hosts).
    pub processes: Option<usize>,
    /// This process's index; usually left out and given by `--process` or
    /// `HELIXFLOW_PROCESS`, so that every process reads the same file.
    pub process: Option<usize>,
}

/// What the command line says about the cluster (each overrides the table).
#[derive(Clone, Debug, Default)]
pub struct ClusterArgs {
    pub processes: Option<usize>,
    pub process: Option<usize>,
    pub hostfile: Option<PathBuf>,
}

/// The processes of one engine, resolved and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// This process's index.
    pub process: usize,
    /// Every process's address, in process order.
    pub addresses: Vec<String>,
}

impl Cluster {
    /// Number of processes.
    pub fn processes(&self) -> usize {
        self.addresses.len()
    }

    /// Whether this process writes files and runs the sinks.
    pub fn is_leader(&self) -> bool {
        self.process == 0
    }

    /// The address of process `i`, for messages.
    pub fn address(&self, i: usize) -> &str {
        self.addresses.get(i).map_or("?", String::as_str)
    }
}

/// Why the cluster settings were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClusterError {
    #[error("cannot read the hostfile {path}: {message}")]
    Hostfile { path: String, message: String },
    #[error(
        "{what}: process {process} does not exist in a cluster of {processes} (indexes start at 0)"
    )]
    ProcessOutOfRange {
        what: String,
        process: usize,
        processes: usize,
    },
    #[error("a cluster of {processes} processes needs this process's index: pass --process I or set {PROCESS_ENV}")]
    NoProcess { processes: usize },
    #[error("{PROCESS_ENV}={value:?} is not a process index")]
    BadEnv { value: String },
    #[error("{source_name} lists {found} addresses, but the cluster has {processes} processes")]
    TooFewHosts {
        source_name: String,
        found: usize,
        processes: usize,
    },
    #[error("{source_name} line {line}: {address:?} is not host:port")]
    BadAddress {
        source_name: String,
        line: usize,
        address: String,
    },
    #[error("{source_name}: {address} is listed twice (lines {first} and {second})")]
    DuplicateAddress {
        source_name: String,
        address: String,
        first: usize,
        second: usize,
    },
    #[error("`processes` must be at least 1")]
    NoProcesses,
}

impl ClusterArgs {
    /// The cluster these flags, the table and `HELIXFLOW_PROCESS` (`env`)
    /// describe, or `None` for a single process.
    pub fn resolve(
        &self,
        table: Option<&ClusterConfig>,
        env: Option<&str>,
    ) -> Result<Option<Cluster>, ClusterError> {
        let hostfile = self
            .hostfile
            .clone()
            .or_else(|| table.and_then(|t| t.hostfile.clone()));
        let (hosts, source_name) = match &hostfile {
            Some(path) => (read_hostfile(path)?, path.display().to_string()),
            None => (
                table.map(|t| t.hosts.clone()).unwrap_or_default(),
                "[cluster] hosts".to_owned(),
            ),
        };
        let processes = self
            .processes
            .or_else(|| table.and_then(|t| t.processes))
            .unwrap_or(hosts.len().max(1));
        if processes == 0 {
            return Err(ClusterError::NoProcesses);
        }
        if processes == 1 && hosts.len() <= 1 {
            return Ok(None);
        }
        let addresses = if hosts.is_empty() {
            // timely's convention without a hostfile.
            (0..processes)
                .map(|i| format!("localhost:{}", 2101 + i))
                .collect()
        } else if hosts.len() < processes {
            return Err(ClusterError::TooFewHosts {
                source_name,
                found: hosts.len(),
                processes,
            });
        } else {
            let taken: Vec<String> = hosts.into_iter().take(processes).collect();
            check_addresses(&taken, &source_name)?;
            taken
        };
        let env_process = match env.map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => Some(v.parse::<usize>().map_err(|_| ClusterError::BadEnv {
                value: v.to_owned(),
            })?),
            None => None,
        };
        let (process, what) = match (self.process, env_process, table.and_then(|t| t.process)) {
            (Some(p), _, _) => (p, "--process".to_owned()),
            (None, Some(p), _) => (p, PROCESS_ENV.to_owned()),
            (None, None, Some(p)) => (p, "[cluster] process".to_owned()),
            (None, None, None) => return Err(ClusterError::NoProcess { processes }),
        };
        if process >= processes {
            return Err(ClusterError::ProcessOutOfRange {
                what,
                process,
                processes,
            });
        }
        Ok(Some(Cluster { process, addresses }))
    }
}

/// The lines of a hostfile, blank lines and `#` comments left out.
fn read_hostfile(path: &Path) -> Result<Vec<String>, ClusterError> {
    let text = std::fs::read_to_string(path).map_err(|e| ClusterError::Hostfile {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

fn check_addresses(addresses: &[String], source_name: &str) -> Result<(), ClusterError> {
    for (i, address) in addresses.iter().enumerate() {
        let valid = address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !valid {
            return Err(ClusterError::BadAddress {
                source_name: source_name.to_owned(),
                line: i + 1,
                address: address.clone(),
            });
        }
        if let Some(first) = addresses[..i].iter().position(|a| a == address) {
            return Err(ClusterError::DuplicateAddress {
                source_name: source_name.to_owned(),
                address: address.clone(),
                first: first + 1,
                second: i + 1,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(hosts: &[&str]) -> ClusterConfig {
        ClusterConfig {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn no_cluster_is_one_process() {
        assert_eq!(ClusterArgs::default().resolve(None, None), Ok(None));
        let one = ClusterArgs {
            processes: Some(1),
            ..Default::default()
        };
        assert_eq!(one.resolve(None, Some("0")), Ok(None));
    }

    #[test]
    fn timely_defaults_without_a_hostfile() {
        let args = ClusterArgs {
            processes: Some(3),
            process: Some(2),
            hostfile: None,
        };
        let c = args.resolve(None, None).unwrap().unwrap();
        assert_eq!(c.process, 2);
        assert_eq!(
            c.addresses,
            ["localhost:2101", "localhost:2102", "localhost:2103"]
        );
        assert!(!c.is_leader());
    }

    #[test]
    fn the_table_with_the_index_from_the_environment() {
        let t = table(&["10.0.0.1:2101", "10.0.0.2:2101"]);
        let c = ClusterArgs::default()
            .resolve(Some(&t), Some("1"))
            .unwrap()
            .unwrap();
        assert_eq!(c.process, 1);
        assert_eq!(c.processes(), 2);
        // The flag wins over the environment.
        let flag = ClusterArgs {
            process: Some(0),
            ..Default::default()
        };
        assert_eq!(
            flag.resolve(Some(&t), Some("1")).unwrap().unwrap().process,
            0
        );
    }

    #[test]
    fn refusals_say_what_and_where() {
        let t = table(&["a:1", "b:2"]);
        let e = ClusterArgs::default().resolve(Some(&t), None).unwrap_err();
        assert!(e.to_string().contains("HELIXFLOW_PROCESS"), "{e}");
        let e = ClusterArgs::default()
            .resolve(Some(&t), Some("2"))
            .unwrap_err();
        assert!(e.to_string().contains("process 2 does not exist"), "{e}");
        let e = ClusterArgs::default()
            .resolve(Some(&t), Some("x"))
            .unwrap_err();
        assert_eq!(e, ClusterError::BadEnv { value: "x".into() });
        let e = ClusterArgs::default()
            .resolve(Some(&table(&["a:1", "b"])), Some("0"))
            .unwrap_err();
        assert!(e.to_string().contains("line 2: \"b\""), "{e}");
        let e = ClusterArgs::default()
            .resolve(Some(&table(&["a:1", "a:1"])), Some("0"))
            .unwrap_err();
        assert!(e.to_string().contains("listed twice"), "{e}");
        let three = ClusterArgs {
            processes: Some(3),
            ..Default::default()
        };
        let e = three.resolve(Some(&t), Some("0")).unwrap_err();
        assert!(e.to_string().contains("2 addresses"), "{e}");
    }

    #[test]
    fn hostfile_lines_skip_blanks_and_comments() {
        let dir = std::env::temp_dir().join(format!("hf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hosts");
        std::fs::write(&path, "# the cluster\n127.0.0.1:7001\n\n127.0.0.1:7002\n").unwrap();
        let args = ClusterArgs {
            processes: Some(2),
            process: Some(1),
            hostfile: Some(path.clone()),
        };
        let c = args.resolve(None, None).unwrap().unwrap();
        assert_eq!(c.addresses, ["127.0.0.1:7001", "127.0.0.1:7002"]);
        let missing = ClusterArgs {
            hostfile: Some(dir.join("none")),
            ..args
        };
        assert!(matches!(
            missing.resolve(None, None),
            Err(ClusterError::Hostfile { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

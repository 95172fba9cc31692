//! How a Kafka source's clients reach the brokers: plaintext, TLS, SASL
//! (PLAIN or SCRAM) over either. Files (the CA, a client certificate and
//! key) are named in the topology; the SASL username and password come from
//! the environment or files ([`crate::secret`]), never from the topology.

use crate::secret::{read_secret, Secret, SecretError};
use serde::Deserialize;
use std::path::PathBuf;

/// librdkafka options that `[sources.security]` owns, or that hold secrets.
pub const SECURITY_KAFKA_OPTIONS: [(&str, &str); 12] = [
    ("security.protocol", "set `security.protocol` instead"),
    ("sasl.mechanism", "set `security.sasl_mechanism` instead"),
    ("sasl.mechanisms", "set `security.sasl_mechanism` instead"),
    ("sasl.username", "the username comes from the variable `security.username_env` names"),
    ("sasl.password", "secrets never come from the topology: the password comes from the variable `security.password_env` names (or the file its _FILE variable names)"),
    ("ssl.ca.location", "set `security.ca_file` instead"),
    ("ssl.certificate.location", "set `security.cert_file` instead"),
    ("ssl.key.location", "set `security.key_file` instead"),
    ("ssl.key.password", "secrets never come from the topology: use an unencrypted key file only the engine can read"),
    ("ssl.keystore.password", "secrets never come from the topology: use `security.cert_file` and `security.key_file`"),
    ("ssl.key.pem", "secrets never come from the topology: use `security.key_file`"),
    ("sasl.oauthbearer.client.secret", "secrets never come from the topology"),
];

/// Kafka's `security.protocol`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KafkaProtocol {
    /// No TLS, no authentication (the default).
    #[default]
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl KafkaProtocol {
    /// librdkafka's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            KafkaProtocol::Plaintext => "plaintext",
            KafkaProtocol::Ssl => "ssl",
            KafkaProtocol::SaslPlaintext => "sasl_plaintext",
            KafkaProtocol::SaslSsl => "sasl_ssl",
        }
    }
    fn sasl(self) -> bool {
        matches!(self, KafkaProtocol::SaslPlaintext | KafkaProtocol::SaslSsl)
    }
    fn tls(self) -> bool {
        matches!(self, KafkaProtocol::Ssl | KafkaProtocol::SaslSsl)
    }
}

/// A SASL mechanism librdkafka has built in.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    /// librdkafka's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// `[sources.security]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSecurity {
    /// `plaintext` (default), `ssl`, `sasl_plaintext` or `sasl_ssl`.
    #[serde(default)]
    pub protocol: KafkaProtocol,
    /// PEM file of the CA(s) that signed the brokers' certificates (default:
    /// the system's).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for brokers that authenticate clients by TLS.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file` (unencrypted; readable by the engine only).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`; required with `sasl_*`.
    #[serde(default)]
    pub sasl_mechanism: Option<SaslMechanism>,
    /// The variable holding the SASL username.
    #[serde(default = "default_username_env")]
    pub username_env: String,
    /// The variable holding the SASL password (or `<it>_FILE`, a file holding it).
    #[serde(default = "default_password_env")]
    pub password_env: String,
}

fn default_username_env() -> String {
    "KAFKA_USERNAME".into()
}
fn default_password_env() -> String {
    "KAFKA_PASSWORD".into()
}

impl Default for KafkaSecurity {
    fn default() -> Self {
        KafkaSecurity {
            protocol: KafkaProtocol::Plaintext,
            ca_file: None,
            cert_file: None,
            key_file: None,
            sasl_mechanism: None,
            username_env: default_username_env(),
            password_env: default_password_env(),
        }
    }
}

/// Why the security settings cannot give client options.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// A SASL protocol without its username or password.
    #[error("security.protocol = \"{protocol}\" needs a SASL {what}: set {var} (or {var}_FILE, a file holding it)")]
    Missing {
        protocol: &'static str,
        what: &'static str,
        var: String,
    },
    /// The secret could not be read.
    #[error("reading the SASL {what}: {error}")]
    Unreadable {
        what: &'static str,
        error: SecretError,
    },
}

/// A problem with a field under `security`: the field, what, the fix.
pub(super) type Problem = (String, String, String);

impl KafkaSecurity {
    /// Checks the settings (pure, but for the named files' existence).
    pub(super) fn validate(&self) -> Result<(), Problem> {
        let problem = |field: &str, message: String, fix: &str| {
            Err((format!("security.{field}"), message, fix.to_owned()))
        };
        let protocol = self.protocol.as_str();
        match (self.protocol.sasl(), self.sasl_mechanism) {
            (true, None) => {
                return problem(
                    "sasl_mechanism",
                    format!("protocol `{protocol}` needs a SASL mechanism"),
                    "set `sasl_mechanism = \"SCRAM-SHA-512\"` (or SCRAM-SHA-256, PLAIN)",
                )
            }
            (false, Some(m)) => {
                return problem(
                    "sasl_mechanism",
                    format!(
                        "SASL mechanism {} with protocol `{protocol}`, which has no SASL",
                        m.as_str()
                    ),
                    "use protocol `sasl_ssl` (or `sasl_plaintext`), or drop the mechanism",
                )
            }
            _ => {}
        }
        for (field, file) in [
            ("ca_file", &self.ca_file),
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
        ] {
            let Some(file) = file else { continue };
            if !self.protocol.tls() {
                return problem(
                    field,
                    format!("a TLS file with protocol `{protocol}`, which has no TLS"),
                    "use protocol `ssl` or `sasl_ssl`, or drop the file",
                );
            }
            if !file.is_file() {
                return problem(
                    field,
                    format!("{} is not a file", file.display()),
                    "name a readable PEM file",
                );
            }
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return problem(
                if self.cert_file.is_some() {
                    "key_file"
                } else {
                    "cert_file"
                },
                "a client certificate needs both `cert_file` and `key_file`".into(),
                "set both, or neither",
            );
        }
        for (field, var) in [
            ("username_env", &self.username_env),
            ("password_env", &self.password_env),
        ] {
            if var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return problem(
                    field,
                    format!("{var:?} is not an environment variable name"),
                    "use letters, digits and _, e.g. KAFKA_PASSWORD",
                );
            }
        }
        Ok(())
    }

    /// The librdkafka options these settings give, the SASL credentials
    /// read through `env` (the process's environment in the engine).
    pub fn client_options(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<(&'static str, ClientValue)>, CredentialsError> {
        let mut out = vec![(
            "security.protocol",
            ClientValue::Plain(self.protocol.as_str().into()),
        )];
        let files = [
            ("ssl.ca.location", &self.ca_file),
            ("ssl.certificate.location", &self.cert_file),
            ("ssl.key.location", &self.key_file),
        ];
        for (key, file) in files {
            if let Some(file) = file {
                out.push((key, ClientValue::Plain(file.display().to_string())));
            }
        }
        if let Some(mechanism) = self.sasl_mechanism.filter(|_| self.protocol.sasl()) {
            let protocol = self.protocol.as_str();
            let read = |what: &'static str, var: &String| {
                read_secret(var, &env)
                    .map_err(|error| CredentialsError::Unreadable { what, error })?
                    .ok_or_else(|| CredentialsError::Missing {
                        protocol,
                        what,
                        var: var.clone(),
                    })
            };
            out.push((
                "sasl.mechanism",
                ClientValue::Plain(mechanism.as_str().into()),
            ));
            let username = read("username", &self.username_env)?;
            out.push((
                "sasl.username",
                ClientValue::Plain(username.expose().to_owned()),
            ));
            out.push((
                "sasl.password",
                ClientValue::Secret(read("password", &self.password_env)?),
            ));
        }
        Ok(out)
    }
}

/// A client option's value; a secret one never prints.
#[derive(Clone, Debug)]
pub enum ClientValue {
    Plain(String),
    Secret(Secret),
}

impl ClientValue {
    /// The value to hand to the client.
    pub fn expose(&self) -> &str {
        match self {
            ClientValue::Plain(v) => v,
            ClientValue::Secret(s) => s.expose(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SourceConfig, Topology};

    fn parse(extra: &str) -> Result<Topology, String> {
        let text = format!(
            "version = 1\n[[sources]]\nname = \"k\"\nkind = \"kafka\"\nbrokers = \"127.0.0.1:9094\"\ngroup_id = \"g\"\n{extra}"
        );
        // The test's credentials, as the engine reads them from its environment.
        Topology::parse("t.toml", &text, |name| match name {
            "KAFKA_USERNAME" => Some("helixflow".to_owned()),
            "KAFKA_PASSWORD" => Some("s3cret".to_owned()),
            _ => None,
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn loading_without_the_password_fails_naming_the_variable() {
        let text = "version = 1\n[[sources]]\nname = \"k\"\nkind = \"kafka\"\nbrokers = \"b:9094\"\ngroup_id = \"g\"\n\
                    [sources.security]\nprotocol = \"sasl_ssl\"\nsasl_mechanism = \"SCRAM-SHA-256\"\n";
        let err = Topology::parse("t.toml", text, |n| {
            (n == "KAFKA_USERNAME").then(|| "u".to_owned())
        })
        .map(|_| ())
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "t.toml: `sources[0].security.password_env`: security.protocol = \"sasl_ssl\" needs a SASL password: \
             set KAFKA_PASSWORD (or KAFKA_PASSWORD_FILE, a file holding it); \
             fix: give the engine the credentials in its environment, never in the topology"
        );
    }

    fn security(extra: &str) -> super::KafkaSecurity {
        let t = parse(extra).unwrap();
        let SourceConfig::Kafka(k) = &t.sources[0] else {
            panic!("not kafka")
        };
        k.security.clone()
    }

    #[test]
    fn sasl_ssl_reads_its_credentials_from_the_environment_and_never_prints_the_password() {
        let ca = std::env::temp_dir().join(format!("helixflow-ca-{}.pem", std::process::id()));
        std::fs::write(&ca, "not read at load").unwrap();
        let s = security(&format!(
            "[sources.security]\nprotocol = \"sasl_ssl\"\nsasl_mechanism = \"SCRAM-SHA-512\"\nca_file = {:?}\n",
            ca.display().to_string()
        ));
        let env = |name: &str| match name {
            "KAFKA_USERNAME" => Some("helixflow".to_owned()),
            "KAFKA_PASSWORD" => Some("s3cret".to_owned()),
            _ => None,
        };
        let options = s.client_options(env).unwrap();
        let get = |k: &str| {
            options
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.expose().to_owned())
        };
        assert_eq!(get("security.protocol").as_deref(), Some("sasl_ssl"));
        assert_eq!(get("sasl.mechanism").as_deref(), Some("SCRAM-SHA-512"));
        assert_eq!(get("sasl.username").as_deref(), Some("helixflow"));
        assert_eq!(get("sasl.password").as_deref(), Some("s3cret"));
        assert_eq!(get("ssl.ca.location"), Some(ca.display().to_string()));
        assert!(!format!("{options:?}").contains("s3cret"));
        let missing = s
            .client_options(|n| (n == "KAFKA_USERNAME").then(|| "u".to_owned()))
            .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "security.protocol = \"sasl_ssl\" needs a SASL password: set KAFKA_PASSWORD (or KAFKA_PASSWORD_FILE, a file holding it)"
        );
        std::fs::remove_file(&ca).unwrap();
    }

    #[test]
    fn plaintext_is_the_default_and_gives_only_the_protocol() {
        let s = security("");
        let options = s.client_options(|_| None).unwrap();
        assert_eq!(options.len(), 1);
        assert_eq!(options[0].1.expose(), "plaintext");
    }

    #[test]
    fn inconsistent_settings_and_secrets_in_options_are_refused_with_the_field() {
        for (extra, field, says) in [
            ("[sources.security]\nprotocol = \"sasl_ssl\"\n", "sources[0].security.sasl_mechanism", "needs a SASL mechanism"),
            ("[sources.security]\nsasl_mechanism = \"PLAIN\"\n", "sources[0].security.sasl_mechanism", "has no SASL"),
            ("[sources.security]\nprotocol = \"sasl_plaintext\"\nsasl_mechanism = \"PLAIN\"\nca_file = \"/etc/hostname\"\n", "sources[0].security.ca_file", "has no TLS"),
            ("[sources.security]\nprotocol = \"ssl\"\nca_file = \"/nonexistent/ca.pem\"\n", "sources[0].security.ca_file", "/nonexistent/ca.pem is not a file"),
            ("[sources.security]\nprotocol = \"ssl\"\ncert_file = \"/etc/hostname\"\n", "sources[0].security.key_file", "needs both"),
            ("[sources.security]\nprotocol = \"tls\"\n", "unknown variant `tls`", "expected one of"),
            ("[sources.options]\n\"sasl.password\" = \"hunter2\"\n", "sources[0].options.\"sasl.password\"", "secrets never come from the topology"),
            ("[sources.options]\n\"security.protocol\" = \"ssl\"\n", "sources[0].options.\"security.protocol\"", "set `security.protocol` instead"),
        ] {
            let err = parse(extra).unwrap_err();
            assert!(err.contains(field) && err.contains(says), "{extra}: {err}");
        }
    }
}

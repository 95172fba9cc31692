//! Secrets (passwords) read from the environment or from a file, never from
//! the topology: a setting names the variable (`password_env = "X"`); the
//! value is `$X`, or the contents of the file `$X_FILE` names (the
//! convention of container secrets, e.g. `/run/secrets/x`). A [`Secret`]
//! never prints its value.

use std::fmt;
use std::path::PathBuf;

/// A secret value; `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for the client that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `NAME_FILE` names a file that cannot be read.
    #[error("{var}_FILE names {path}, which cannot be read: {error}")]
    File {
        var: String,
        path: PathBuf,
        error: std::io::Error,
    },
    /// Both `NAME` and `NAME_FILE` are set.
    #[error("both {var} and {var}_FILE are set; set one")]
    Both { var: String },
}

/// The secret in `$var`, or in the file `$var_FILE` names (its trailing
/// newline dropped); `None` if neither is set. `env` resolves variables.
pub fn read_secret(
    var: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, SecretError> {
    let file_var = format!("{var}_FILE");
    match (env(var), env(&file_var)) {
        (Some(_), Some(_)) => Err(SecretError::Both { var: var.into() }),
        (Some(value), None) => Ok(Some(Secret(value))),
        (None, Some(path)) => {
            let path = PathBuf::from(path);
            let text = std::fs::read_to_string(&path).map_err(|error| SecretError::File {
                var: var.into(),
                path: path.clone(),
                error,
            })?;
            Ok(Some(Secret(text.trim_end_matches(['\r', '\n']).to_owned())))
        }
        (None, None) => Ok(None),
    }
}

/// [`read_secret`] over the process's environment.
pub fn secret_from_env(var: &str) -> Result<Option<Secret>, SecretError> {
    read_secret(var, |name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_variable_or_the_file_it_names_and_never_prints_it() {
        let dir = std::env::temp_dir().join(format!("helixflow-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        let path = file.display().to_string();
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let s = read_secret("PW", env(&[("PW", "from-env")]))
            .unwrap()
            .unwrap();
        assert_eq!(s.expose(), "from-env");
        assert_eq!(format!("{s:?}"), "<redacted>");
        let p = path.clone();
        let s = read_secret("PW", move |n: &str| (n == "PW_FILE").then(|| p.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(s.expose(), "from-file");
        assert!(read_secret("PW", env(&[])).unwrap().is_none());
        let both = read_secret("PW", env(&[("PW", "a"), ("PW_FILE", "b")])).unwrap_err();
        assert_eq!(both.to_string(), "both PW and PW_FILE are set; set one");
        let missing = read_secret("PW", env(&[("PW_FILE", "/nonexistent/pw")])).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("PW_FILE names /nonexistent/pw, which cannot be read"),
            "{missing}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

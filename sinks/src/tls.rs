//! TLS for the database sinks: one process-wide rustls crypto provider
//! (the build links two, so rustls cannot pick one itself), and the root
//! certificates a client trusts: a CA file the topology names, else the
//! system's.

use crate::runner::SinkError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::Path;
use std::sync::Arc;

/// Installs aws-lc-rs as the process's rustls provider (once; a provider
/// another part installed first stays).
pub fn install_crypto_provider() {
    // Err means one is installed already: that one serves.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A rustls client configuration trusting only the CA(s) in `ca_file`.
pub fn client_config_trusting(ca_file: &Path) -> Result<rustls::ClientConfig, SinkError> {
    install_crypto_provider();
    let what = || format!("reading the CA file {}", ca_file.display());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| SinkError::new(what(), e))? {
        let cert = cert.map_err(|e| SinkError::new(what(), e))?;
        roots.add(cert).map_err(|e| SinkError::new(what(), e))?;
    }
    if roots.is_empty() {
        return Err(SinkError::new(what(), "no PEM certificate in it"));
    }
    Ok(rustls::ClientConfig::builder()
        .with_root_certificates(Arc::new(roots))
        .with_no_client_auth())
}

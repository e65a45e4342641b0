//! TLS for the mail servers: which roots are trusted, and the IMAP connection's stream (plain,
//! upgraded by STARTTLS, or TLS from the first byte). SMTP's TLS is lettre's, built from the same
//! roots in `send`.
//!
//! Trusted: the public web roots (webpki-roots, compiled in, so a minimal container needs no CA
//! bundle) plus the certificates in `email.tls_ca_file`, for a store whose mail server has a
//! private CA or a self-signed certificate. There is no "accept any certificate" switch: a TLS
//! connection that cannot be verified fails, with the reason in the log.
//!
//! This module does not choose the mode; `email.smtp_tls` and `email.imap_tls` do.

use std::{fmt, path::Path, sync::Arc};

use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};

pub use crate::config::TlsMode;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("email.tls_ca_file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("{0:?} is not a host name or address a certificate can be checked against")]
    ServerName(String),
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The extra CA certificates of `email.tls_ca_file` (PEM), read and checked; empty path: none.
pub fn read_ca_file(path: &str) -> Result<Vec<u8>, TlsError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let err = |message: String| TlsError::CaFile {
        path: path.to_string(),
        message,
    };
    let pem = std::fs::read(Path::new(path)).map_err(|e| err(e.to_string()))?;
    let certs = certificates(&pem).map_err(err)?;
    if certs.is_empty() {
        return Err(err("holds no PEM certificate".into()));
    }
    Ok(pem)
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM certificates: {e}"))
}

/// A rustls client configuration trusting the public roots and `extra_pem`.
pub fn client_config(extra_pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in certificates(extra_pem).map_err(TlsError::Setup)? {
        roots
            .add(cert)
            .map_err(|e| TlsError::Setup(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name the server's certificate must carry: the configured host, as a DNS name or an
/// address.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_string()).map_err(|_| TlsError::ServerName(host.to_string()))
}

/// A byte stream to an IMAP server, plain or TLS, so one session type serves every mode.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Stream for T {}

pub type BoxedStream = Box<dyn Stream>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_a_bad_ca_file_is_a_clear_error() {
        assert_eq!("STARTTLS".parse::<TlsMode>(), Ok(TlsMode::Starttls));
        assert_eq!("tls".parse::<TlsMode>(), Ok(TlsMode::Tls));
        assert!("ssl".parse::<TlsMode>().is_err());
        assert!(read_ca_file("").unwrap().is_empty());
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        let e = read_ca_file(missing.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("email.tls_ca_file") && e.contains("none.pem"),
            "{e}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        assert!(read_ca_file(junk.to_str().unwrap())
            .unwrap_err()
            .to_string()
            .contains("no PEM certificate"));
        assert!(client_config(b"").is_ok(), "the public roots alone");
        assert!(server_name("127.0.0.1").is_ok() && server_name("mail.shop.example").is_ok());
        assert!(server_name("not a host").is_err());
    }
}

//! rustls client configuration from `tls_config`.

use crate::config::TlsConfig;
use crate::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

fn read_pem(what: &'static str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::File { what, path: path.to_path_buf(), reason: e.to_string() })
}

fn certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read_pem(what, path)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::File { what, path: path.to_path_buf(), reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(Error::File { what, path: path.to_path_buf(), reason: "no PEM certificate found".into() });
    }
    Ok(certs)
}

/// Builds the client configuration: trusted roots (CA file or the web PKI roots), optional client
/// certificate, optional no-verification mode.
pub(crate) fn client_config(tls: &TlsConfig) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider.signature_verification_algorithms)))
    } else {
        let mut roots = RootCertStore::empty();
        match &tls.ca_file {
            Some(path) => {
                for c in certs("ca_file", path)? {
                    roots.add(c).map_err(|e| Error::File {
                        what: "ca_file",
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots)
    };
    let config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = certs("cert_file", cert)?;
            let pem = read_pem("key_file", key)?;
            let key_der: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut pem.as_slice())
                .map_err(|e| Error::File { what: "key_file", path: key.clone(), reason: e.to_string() })?
                .ok_or_else(|| Error::File {
                    what: "key_file",
                    path: key.clone(),
                    reason: "no PEM key found".into(),
                })?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| Error::Tls(e.to_string()))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(Error::Tls("cert_file and key_file must be given together".into())),
    };
    Ok(Arc::new(config))
}

/// `insecure_skip_verify`: accept any certificate and name, but still check handshake signatures.
#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_insecure_configs_build() {
        assert!(client_config(&TlsConfig::default()).is_ok());
        assert!(client_config(&TlsConfig { insecure_skip_verify: true, ..Default::default() }).is_ok());
    }

    #[test]
    fn missing_ca_file_is_reported_with_path() {
        let cfg = TlsConfig { ca_file: Some("/nonexistent/ca.pem".into()), ..Default::default() };
        let err = client_config(&cfg).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("ca_file") && err.contains("/nonexistent/ca.pem"), "{err}");
    }
}

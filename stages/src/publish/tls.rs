//! TLS client settings shared by the Rust-side sinks (MQTT, webhook): rustls with the `ring`
//! provider.
//!
//! Certificates and keys are read and checked when the pipeline is loaded, so a missing file,
//! a key that is not PEM or a certificate without its key is reported by `edgeflow validate`
//! against the field that names it, not at the first connection attempt. Kafka's TLS is
//! librdkafka's own (OpenSSL), configured through its `options`.

use std::sync::Arc;

use edgeflow_core::Invalid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

pub use super::options::TlsTable;

fn read_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    if !std::path::Path::new(path).is_file() {
        return Err(format!("no such file: {path}"));
    }
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "{path} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)"
        ));
    }
    Ok(certs)
}

/// The CA certificates to trust: those in `ca_file`, or the system's roots. Problems go to
/// `inv` on the `tls.ca_file` field.
pub fn roots(ca_file: Option<&str>, inv: &mut Invalid) -> Vec<CertificateDer<'static>> {
    match ca_file {
        Some(path) => match read_certs(path) {
            Ok(certs) => certs,
            Err(msg) => {
                inv.field(
                    "tls.ca_file",
                    msg,
                    Some("a PEM file with the CA that signed the server's certificate".into()),
                );
                Vec::new()
            }
        },
        None => {
            let native = rustls_native_certs::load_native_certs();
            if native.certs.is_empty() {
                inv.field(
                    "tls.ca_file",
                    "no CA certificates found on this system",
                    Some("install `ca-certificates` (or point SSL_CERT_FILE at a PEM bundle), or set `tls = { ca_file = \"...\" }` to the CA that signed the server's certificate".into()),
                );
            }
            native.certs
        }
    }
}

/// A rustls client config from the named files, or the problems (each on its field) in `inv`.
pub fn client_config(files: &TlsTable, inv: &mut Invalid) -> Option<Arc<ClientConfig>> {
    let before = inv.problems.len();
    let mut roots_store = RootCertStore::empty();
    let explicit = files.ca_file.is_some();
    for c in roots(files.ca_file.as_deref(), inv) {
        if let Err(e) = roots_store.add(c)
            && explicit
        {
            inv.field(
                "tls.ca_file",
                format!("a certificate rustls cannot use as a root: {e}"),
                None,
            );
        }
    }
    let client = match (
        files.client_cert_file.as_deref(),
        files.client_key_file.as_deref(),
    ) {
        (None, None) => None,
        (Some(_), None) => {
            inv.field(
                "tls.client_cert_file",
                "a client certificate without its key",
                Some("set `client_key_file` in `tls` too".into()),
            );
            None
        }
        (None, Some(_)) => {
            inv.field(
                "tls.client_key_file",
                "a client key without its certificate",
                Some("set `client_cert_file` in `tls` too".into()),
            );
            None
        }
        (Some(cert), Some(key)) => {
            let certs = read_certs(cert)
                .map_err(|m| inv.field("tls.client_cert_file", m, None))
                .ok();
            let key = if std::path::Path::new(key).is_file() {
                PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| {
                        inv.field(
                            "tls.client_key_file",
                            format!("{key} holds no PEM private key: {e}"),
                            Some("PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`)".into()),
                        )
                    })
                    .ok()
            } else {
                inv.field("tls.client_key_file", format!("no such file: {key}"), None);
                None
            };
            certs.zip(key)
        }
    };
    if inv.problems.len() > before {
        return None;
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| inv.field("tls", format!("TLS set-up failed: {e}"), None))
            .ok()?
            .with_root_certificates(roots_store);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| {
                let (field, msg, help) = client_cert_problem(&e);
                inv.field(field, msg, Some(help.into()))
            })
            .ok()?,
    };
    Some(Arc::new(config))
}

/// Which field a rejected client certificate/key pair is about, and what to do.
fn client_cert_problem(e: &rustls::Error) -> (&'static str, String, &'static str) {
    use rustls::{CertificateError, Error, OtherError};
    let text = e.to_string();
    match e {
        Error::InvalidCertificate(CertificateError::Other(OtherError(inner)))
            if format!("{inner:?}").contains("UnsupportedCertVersion") =>
        {
            (
                "tls.client_cert_file",
                "is an X.509 v1 certificate; TLS clients here need v3".into(),
                "sign it again with an extension file, e.g. `openssl x509 -req ... -extfile <(echo extendedKeyUsage=clientAuth)`",
            )
        }
        Error::InconsistentKeys(_) => (
            "tls.client_key_file",
            format!("does not match the public key in `client_cert_file` ({text})"),
            "`client_key_file` must be the private key of `client_cert_file`",
        ),
        _ => (
            "tls.client_cert_file",
            format!("cannot be used with its key: {text}"),
            "`client_cert_file` must be a PEM X.509 v3 certificate and `client_key_file` its private key",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(files: TlsTable) -> Vec<(String, String)> {
        let mut inv = Invalid::new();
        let cfg = client_config(&files, &mut inv);
        assert_eq!(cfg.is_none(), !inv.problems.is_empty());
        inv.problems
            .into_iter()
            .map(|p| (p.field.unwrap_or_default(), p.message))
            .collect()
    }

    #[test]
    fn missing_and_malformed_files_name_their_field() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let junk = junk.to_str().unwrap();
        let p = problems(TlsTable {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        });
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, "tls.ca_file");
        assert!(
            p[0].1.contains("no such file: /nonexistent/ca.pem"),
            "{p:?}"
        );

        let p = problems(TlsTable {
            ca_file: Some(junk.into()),
            client_cert_file: Some(junk.into()),
            client_key_file: Some(junk.into()),
        });
        let fields: Vec<&str> = p.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["tls.ca_file", "tls.client_cert_file", "tls.client_key_file"],
            "{p:?}"
        );
        assert!(p[0].1.contains("holds no PEM certificate"), "{p:?}");
        assert!(p[2].1.contains("holds no PEM private key"), "{p:?}");

        let p = problems(TlsTable {
            client_cert_file: Some(junk.into()),
            ..Default::default()
        });
        assert!(
            p.iter()
                .any(|(f, m)| f == "tls.client_cert_file" && m.contains("without its key")),
            "{p:?}"
        );
        let p = problems(TlsTable {
            client_key_file: Some(junk.into()),
            ..Default::default()
        });
        assert!(
            p.iter()
                .any(|(f, m)| f == "tls.client_key_file" && m.contains("without its certificate")),
            "{p:?}"
        );
    }
}

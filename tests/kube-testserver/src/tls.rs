//! Certificates for HTTPS: a throwaway CA and a leaf certificate it signs for 127.0.0.1,
//! ::1 and localhost. The leaf must not be the CA itself: rustls (and so kube-rs) rejects a CA
//! certificate presented as a server certificate (`CaUsedAsEndEntity`).

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Errors while making certificates or the TLS config.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("generating certificates: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// rustls refused the key or certificate.
    #[error("building the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The generated CA (PEM, for kubeconfig `certificate-authority-data`) and a server config.
pub struct Tls {
    /// CA certificate in PEM.
    pub ca_pem: String,
    /// rustls server configuration with the leaf certificate.
    pub config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

/// Generates a CA and a leaf for loopback names.
pub fn generate() -> Result<Tls, TlsError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kube-testserver CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate()?;
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_string()])?;
    leaf_params.subject_alt_names.push(SanType::IpAddress(
        "127.0.0.1"
            .parse()
            .map_err(|_| rcgen::Error::InvalidIpAddressOctetLength(0))?,
    ));
    leaf_params.subject_alt_names.push(SanType::IpAddress(
        "::1"
            .parse()
            .map_err(|_| rcgen::Error::InvalidIpAddressOctetLength(0))?,
    ));
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "kube-testserver");
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer)?;

    let chain = vec![
        CertificateDer::from(leaf_cert.der().to_vec()),
        CertificateDer::from(ca_cert.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    // HTTP/1.1 only: kubectl and kube-rs both fall back to it, and watch streams stay simple.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem: ca_cert.pem(),
        config: Arc::new(config),
    })
}

//! Certificates and keys for the test control plane: a throwaway CA, a serving certificate it
//! signs for the loopback names, and the service-account signing key.
//!
//! The serving certificate must not be the CA itself: rustls (and so kube-rs) rejects a CA
//! presented as a server certificate (`CaUsedAsEndEntity`).

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// PEM texts written into the control plane's directory.
pub struct Pki {
    pub ca_pem: String,
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
    /// ECDSA P-256, PKCS#8: the apiserver signs service-account tokens with it.
    pub service_account_key_pem: String,
    /// Its public half, which the apiserver verifies tokens with.
    pub service_account_pub_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    pub fn generate() -> Pki {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "gitops-toolkit test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("self-sign CA");
        let issuer = Issuer::new(ca, ca_key);
        let (serving_cert_pem, serving_key_pem) = leaf(&issuer, "kube-apiserver");
        let sa = KeyPair::generate().expect("service-account key");
        Pki {
            ca_pem: ca_cert.pem(),
            serving_cert_pem,
            serving_key_pem,
            service_account_key_pem: sa.serialize_pem(),
            service_account_pub_pem: sa.public_key_pem(),
            issuer,
        }
    }

    /// Another serving certificate from the same CA (for the fault proxy), as (cert, key) PEM.
    pub fn serving_pair(&self, name: &str) -> (String, String) {
        leaf(&self.issuer, name)
    }
}

fn leaf(issuer: &Issuer<'static, KeyPair>, name: &str) -> (String, String) {
    let key = KeyPair::generate().expect("leaf key");
    let mut params = CertificateParams::new(vec![
        "localhost".to_owned(),
        "kubernetes".to_owned(),
        "kubernetes.default".to_owned(),
        "kubernetes.default.svc".to_owned(),
    ])
    .expect("leaf params");
    for ip in ["127.0.0.1", "::1"] {
        params
            .subject_alt_names
            .push(SanType::IpAddress(ip.parse().expect("loopback address")));
    }
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, issuer).expect("sign leaf");
    (cert.pem(), key.serialize_pem())
}

//! Test certificates, generated at run time with rcgen (ring): a CA, a server certificate signed by
//! it, a client certificate for mutual TLS, and an unrelated CA for "untrusted" negative tests.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

/// The names a default test server certificate is valid for.
pub(super) const DEFAULT_SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1"];

/// The certificate files of a TLS test server, written as PEM into the server's temporary
/// directory (absolute paths), with their contents.
///
/// To connect with redis-rs, pass the PEM bytes to `redis::Client::build_with_tls`:
/// `root_cert: Some(ca_cert_pem)` and, for [`RedisMode::MutualTls`](super::RedisMode::MutualTls),
/// `client_tls: Some(ClientTlsConfig { client_cert, client_key })`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TlsFiles {
    /// The CA certificate that signed the server (and client) certificate.
    pub ca_cert: PathBuf,
    /// The contents of [`ca_cert`](Self::ca_cert).
    pub ca_cert_pem: Vec<u8>,
    /// The server's certificate.
    pub server_cert: PathBuf,
    /// The server's private key (PKCS#8).
    pub server_key: PathBuf,
    /// The subject alternative names of the server certificate (DNS names and IP addresses).
    pub server_names: Vec<String>,
    /// A client certificate signed by the same CA ([`RedisMode::MutualTls`](super::RedisMode::MutualTls)
    /// only).
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PKCS#8) ([`RedisMode::MutualTls`](super::RedisMode::MutualTls)
    /// only).
    pub client_key: Option<PathBuf>,
    /// The contents of [`client_cert`](Self::client_cert).
    pub client_cert_pem: Option<Vec<u8>>,
    /// The contents of [`client_key`](Self::client_key).
    pub client_key_pem: Option<Vec<u8>>,
}

/// A certificate authority that signed nothing the test servers use, written to its own temporary
/// directory (deleted on drop), with a client certificate it signed: connecting with this CA as the
/// only root must fail ("unknown issuer"), and a mutual-TLS server must reject the client
/// certificate.
#[derive(Debug)]
pub struct UnrelatedCa {
    _dir: TempDir,
    ca_cert: PathBuf,
    ca_cert_pem: Vec<u8>,
    client_cert: PathBuf,
    client_key: PathBuf,
    client_cert_pem: Vec<u8>,
    client_key_pem: Vec<u8>,
}

impl UnrelatedCa {
    /// Generates a new CA and a client certificate signed by it.
    ///
    /// # Panics
    ///
    /// If the temporary directory or the files cannot be written.
    #[must_use]
    pub fn generate() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("stratacache-unrelated-ca-")
            .tempdir()
            .expect("create a temporary directory for the unrelated CA");
        let ca = Ca::new("stratacache unrelated test CA");
        let client = ca.client();
        let ca_cert = write(dir.path(), "unrelated-ca.pem", ca.cert_pem.as_bytes());
        let client_cert = write(dir.path(), "unrelated-client.pem", client.cert_pem.as_bytes());
        let client_key = write(dir.path(), "unrelated-client-key.pem", client.key_pem.as_bytes());
        Self {
            _dir: dir,
            ca_cert,
            ca_cert_pem: ca.cert_pem.into_bytes(),
            client_cert,
            client_key,
            client_cert_pem: client.cert_pem.into_bytes(),
            client_key_pem: client.key_pem.into_bytes(),
        }
    }

    /// The CA certificate file (PEM, absolute path).
    #[must_use]
    pub fn ca_cert(&self) -> &Path {
        &self.ca_cert
    }

    /// The CA certificate (PEM).
    #[must_use]
    pub fn ca_cert_pem(&self) -> &[u8] {
        &self.ca_cert_pem
    }

    /// A client certificate signed by this CA (PEM file, absolute path).
    #[must_use]
    pub fn client_cert(&self) -> &Path {
        &self.client_cert
    }

    /// The client certificate's private key (PKCS#8 PEM file, absolute path).
    #[must_use]
    pub fn client_key(&self) -> &Path {
        &self.client_key
    }

    /// The client certificate (PEM).
    #[must_use]
    pub fn client_cert_pem(&self) -> &[u8] {
        &self.client_cert_pem
    }

    /// The client certificate's private key (PKCS#8 PEM).
    #[must_use]
    pub fn client_key_pem(&self) -> &[u8] {
        &self.client_key_pem
    }
}

/// Generates the certificates of a TLS server and writes them into `dir`.
pub(super) fn generate_server_files(dir: &Path, server_names: &[String], with_client: bool) -> TlsFiles {
    let ca = Ca::new("stratacache test CA");
    let server = ca.leaf(
        server_names,
        "stratacache test server",
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let ca_cert = write(dir, "ca.pem", ca.cert_pem.as_bytes());
    let server_cert = write(dir, "server.pem", server.cert_pem.as_bytes());
    let server_key = write(dir, "server-key.pem", server.key_pem.as_bytes());
    let (client_cert, client_key, client_cert_pem, client_key_pem) = if with_client {
        let client = ca.client();
        (
            Some(write(dir, "client.pem", client.cert_pem.as_bytes())),
            Some(write(dir, "client-key.pem", client.key_pem.as_bytes())),
            Some(client.cert_pem.into_bytes()),
            Some(client.key_pem.into_bytes()),
        )
    } else {
        (None, None, None, None)
    };
    TlsFiles {
        ca_cert,
        ca_cert_pem: ca.cert_pem.into_bytes(),
        server_cert,
        server_key,
        server_names: server_names.to_vec(),
        client_cert,
        client_key,
        client_cert_pem,
        client_key_pem,
    }
}

struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
}

impl Ca {
    fn new(common_name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("generate the CA key");
        let cert = params.self_signed(&key).expect("self-sign the CA certificate");
        Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn client(&self) -> Leaf {
        self.leaf(
            &["stratacache-test-client".to_owned()],
            "stratacache test client",
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    fn leaf(&self, names: &[String], common_name: &str, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params = CertificateParams::new(names.to_vec())
            .unwrap_or_else(|e| panic!("invalid certificate names {names:?}: {e}"));
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("generate a certificate key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign a certificate with the test CA");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

fn write(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

//! From a validated [`RedisConfig`] to a deadpool pool of multiplexed connections.

use deadpool_redis::{Manager, Pool, Runtime};
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ClientTlsConfig, ConnectionAddr, IntoConnectionInfo, TlsCertificates,
};
use stratacache_core::{Error, ErrorKind, Result};

use crate::config::{RedisConfig, TlsVersion};
use crate::error;

/// How the cache authenticates, for status reports: core's [`ServerAuth`](stratacache_core::ServerAuth)
/// under its Redis name.
pub use stratacache_core::ServerAuth as AuthMethod;

/// What was set up, kept for status reports and error messages (no secrets).
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) url: String,
    pub(crate) tls: bool,
    pub(crate) auth: AuthMethod,
    pub(crate) database: i64,
}

fn read_file(field: &str, path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::configuration(format!("{field} = {}: cannot read: {e}", path.display())).with_source(e)
    })
}

/// Installs rustls's ring provider as the process default if none is installed yet (redis-rs
/// builds its rustls configuration from the default provider).
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing the race to another thread installing one is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Builds the redis-rs client for `config` (validated).
pub(crate) fn client(config: &RedisConfig) -> Result<(Client, Endpoint)> {
    let url = config.url.redacted();
    let mut info = config
        .url
        .expose()
        .into_connection_info()
        .map_err(|e| Error::configuration(format!("url {url:?} cannot be parsed: {e}")))?;
    let mut redis_settings = info.redis_settings().clone();
    if let Some(password) = &config.security.password {
        redis_settings = redis_settings.set_password(password.expose());
    }
    if let Some(username) = &config.security.username {
        redis_settings = redis_settings.set_username(username);
    }
    if let Some(db) = config.database {
        redis_settings = redis_settings.set_db(db);
    }
    let auth = match (redis_settings.username(), redis_settings.password()) {
        (_, None) => AuthMethod::None,
        (None | Some("default"), Some(_)) => AuthMethod::Password,
        (Some(_), Some(_)) => AuthMethod::Acl,
    };
    let database = redis_settings.db();
    info = info.set_redis_settings(redis_settings);
    let tls = config.uses_tls();
    let endpoint = Endpoint {
        url: url.clone(),
        tls,
        auth,
        database,
    };
    if !tls {
        let client = Client::open(info).map_err(|e| error::map(e, &format!("open {url}")))?;
        return Ok((client, endpoint));
    }
    ensure_crypto_provider();
    let tls_config = &config.security.tls;
    if !tls_config.verify_certificates {
        tracing::warn!(url = %url, "TLS certificate verification is OFF: any server will be accepted");
        if let ConnectionAddr::TcpTls { host, port, .. } = info.addr().clone() {
            info = info.set_addr(ConnectionAddr::TcpTls {
                host,
                port,
                insecure: true,
                tls_params: None,
            });
        }
    }
    let root_cert = tls_config
        .ca_file
        .as_deref()
        .map(|p| read_file("security.tls.ca_file", p))
        .transpose()?;
    let client_tls = match (&tls_config.client_cert_file, &tls_config.client_key_file) {
        (Some(cert), Some(key)) => Some(ClientTlsConfig {
            client_cert: read_file("security.tls.client_cert_file", cert)?,
            client_key: read_file("security.tls.client_key_file", key)?,
        }),
        _ => None,
    };
    let client = Client::build_with_tls(
        info,
        TlsCertificates {
            client_tls,
            root_cert,
        },
    )
    .map_err(|e| error::map(e, &format!("TLS set-up for {url}")))?;
    Ok((client, endpoint))
}

/// Connections the pool has beyond the cache's own slots, for [`RedisCache::pool`] users and for
/// a replacement opened while a broken connection is still being handed back.
///
/// [`RedisCache::pool`]: crate::RedisCache::pool
pub(crate) const SPARE_CONNECTIONS: usize = 2;

/// The pool: deadpool creates connections with redis-rs's own connect and response timeouts.
pub(crate) fn pool(config: &RedisConfig, client: &Client) -> Result<Pool> {
    let connection_config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.command_timeout));
    let manager = Manager::new_with_config(client.get_connection_info().clone(), connection_config)
        .map_err(|e| error::map(e, "pool set-up"))?;
    Pool::builder(manager)
        .max_size(config.pool_size + SPARE_CONNECTIONS)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(config.connect_timeout))
        .create_timeout(Some(config.connect_timeout))
        .recycle_timeout(Some(config.command_timeout))
        .build()
        .map_err(|e| Error::configuration(format!("cannot build the connection pool: {e}")))
}

/// Checks out one connection, mapping deadpool's errors.
pub(crate) async fn checkout(pool: &Pool, endpoint: &Endpoint) -> Result<deadpool_redis::Connection> {
    use deadpool_redis::PoolError;
    pool.get().await.map_err(|e| {
        let context = format!("connect to {}", endpoint.url);
        match e {
            PoolError::Backend(e) => {
                let mut err = error::map(e, &context);
                if !endpoint.tls && err.kind() == ErrorKind::Connection {
                    err = Error::new(
                        ErrorKind::Connection,
                        format!(
                            "{}; if the server only accepts TLS, use a rediss:// url",
                            err.message()
                        ),
                    )
                    .with_source(err);
                }
                err
            }
            PoolError::Timeout(_) => Error::new(ErrorKind::Timeout, format!("{context}: timed out")),
            other => Error::new(ErrorKind::Unavailable, format!("{context}: {other}")),
        }
    })
}

/// With `min_version = 1.3`, proves that the server negotiates TLS 1.3 by completing a handshake
/// limited to it. rustls's downgrade protection then keeps redis-rs's own handshakes at 1.3.
pub(crate) async fn check_min_tls(config: &RedisConfig, client: &Client, endpoint: &Endpoint) -> Result<()> {
    if config.security.tls.min_version != TlsVersion::Tls13 {
        return Ok(());
    }
    let ConnectionAddr::TcpTls { host, port, .. } = client.get_connection_info().addr() else {
        return Ok(());
    };
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &config.security.tls.ca_file {
        let pem = read_file("security.tls.ca_file", ca)?;
        for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
            let cert: rustls_pki_types::CertificateDer<'static> =
                cert.map_err(|e| Error::configuration(format!("security.tls.ca_file: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::configuration(format!("security.tls.ca_file: {e}")))?;
        }
    } else {
        // The same trust as redis-rs's own connections: the system's roots.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::configuration(format!("TLS 1.3 configuration: {e}")))?;
    let builder = if config.security.tls.verify_certificates {
        builder.with_root_certificates(roots)
    } else {
        // Verification is off for the real connections too (and logged): only the version is probed.
        builder
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(AnyServer(provider)))
    };
    let tls = match (
        &config.security.tls.client_cert_file,
        &config.security.tls.client_key_file,
    ) {
        (Some(cert), Some(key)) => {
            let certs = rustls_pki_types::pem::PemObject::pem_slice_iter(&read_file(
                "security.tls.client_cert_file",
                cert,
            )?)
            .collect::<std::result::Result<Vec<rustls_pki_types::CertificateDer<'static>>, _>>()
            .map_err(|e| Error::configuration(format!("security.tls.client_cert_file: {e}")))?;
            let key = <rustls_pki_types::PrivateKeyDer<'static> as rustls_pki_types::pem::PemObject>::from_pem_slice(
                &read_file("security.tls.client_key_file", key)?,
            )
            .map_err(|e| Error::configuration(format!("security.tls.client_key_file: {e}")))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| Error::configuration(format!("security.tls client certificate: {e}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    let name = rustls_pki_types::ServerName::try_from(host.clone())
        .map_err(|e| Error::configuration(format!("url host {host:?}: {e}")))?;
    let probe = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
            .connect(name, tcp)
            .await
    };
    match tokio::time::timeout(config.connect_timeout, probe).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Error::new(
            ErrorKind::Configuration,
            format!(
                "security.tls.min_version = 1.3: a TLS 1.3 handshake with {} failed: {e}",
                endpoint.url
            ),
        )),
        Err(_) => Err(Error::new(
            ErrorKind::Timeout,
            format!("TLS 1.3 check of {}: timed out", endpoint.url),
        )),
    }
}

/// A verifier that accepts any server certificate (handshake signatures are still checked), for
/// the TLS 1.3 probe when `verify_certificates = false`.
#[derive(Debug)]
struct AnyServer(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A clone of the multiplexed connection inside a pool object.
pub(crate) fn multiplexed(conn: &deadpool_redis::Connection) -> MultiplexedConnection {
    MultiplexedConnection::clone(conn)
}

//! TLS to the management API's TCP listener (`management.tls`), trusting only the CA
//! certificates of the file given with `--ca`: TLS 1.2 or 1.3, ring as the provider (as the
//! health checks use), the server's name checked against its certificate.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::client::CallError;

/// Connects to `host:port` and completes the TLS handshake.
///
/// # Errors
///
/// [`CallError::Usage`] when the CA file or the host name is unusable,
/// [`CallError::Unreachable`] when no connection can be made, [`CallError::Tls`] when the
/// handshake fails.
pub(crate) fn connect(
    host: &str,
    port: u16,
    ca: &Path,
    timeout: Duration,
) -> Result<StreamOwned<ClientConnection, TcpStream>, CallError> {
    let at = format!("https://{host}:{port}");
    let config = client_config(ca)?;
    let name = ServerName::try_from(host.to_owned()).map_err(|_| {
        CallError::Usage(format!(
            "--endpoint-url: {host:?} is neither a host name nor an IP address"
        ))
    })?;
    let unreachable = |source| CallError::Unreachable {
        at: at.clone(),
        source,
    };
    let addresses = (host, port).to_socket_addrs().map_err(unreachable)?;
    let mut last = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "the host name resolves to no address",
    );
    let mut tcp = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(e) => last = e,
        }
    }
    let tcp = tcp.ok_or_else(|| unreachable(last))?;
    tcp.set_read_timeout(Some(timeout))
        .and_then(|()| tcp.set_write_timeout(Some(timeout)))
        .map_err(unreachable)?;
    let connection = ClientConnection::new(config, name).map_err(|e| CallError::Tls {
        at: at.clone(),
        message: e.to_string(),
    })?;
    let mut stream = StreamOwned::new(connection, tcp);
    while stream.conn.is_handshaking() {
        if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
            return Err(
                match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    Some(tls) => CallError::Tls {
                        at,
                        message: tls.to_string(),
                    },
                    None => unreachable(e),
                },
            );
        }
    }
    Ok(stream)
}

/// A client configuration that trusts the certificates in the PEM file `ca`.
fn client_config(ca: &Path) -> Result<Arc<ClientConfig>, CallError> {
    let usage = |what: String| CallError::Usage(format!("--ca {}: {what}", ca.display()));
    let mut roots = RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(ca)
        .map_err(|e| usage(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| usage(e.to_string()))?;
    if certificates.is_empty() {
        return Err(usage("holds no PEM certificate".into()));
    }
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|e| usage(format!("a certificate is not usable: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| usage(format!("TLS cannot be set up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

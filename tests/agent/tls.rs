//! Production TLS: the agent trusts a CA given with
//! `AgentBuilder::add_root_certificate`, refuses a server whose certificate
//! it cannot trust (a configuration error naming TLS, never a fail-open),
//! and speaks HTTP/2 when the server offers it through ALPN.
//!
//! The CA and the server's certificate are made at test time with `rcgen`;
//! the server is axum over `tokio-rustls` on `127.0.0.1:0`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::json;
use tappass::{Agent, Error};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::support::bounded;

/// A CA's PEM, and a server config whose certificate (for `127.0.0.1`) it signed.
fn pki() -> (String, rustls::ServerConfig) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "TapPass internal test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der());
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key.into())
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (ca.pem(), config)
}

/// Accepts TLS connections; a failed handshake (a client that refused the
/// certificate) is skipped.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The HTTP versions the server was spoken to in.
type Seen = Arc<Mutex<Vec<String>>>;

async fn record(State(seen): State<Seen>, request: Request) -> Request {
    seen.lock()
        .unwrap()
        .push(format!("{:?}", request.version()));
    request
}

/// A minimal TapPass over TLS: `/health` and an allowing `/v1/govern`.
async fn serve_tls(config: rustls::ServerConfig) -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route(
            "/health",
            get(|| async { Json(json!({"status": "ok", "version": "0.6.3"})) }),
        )
        .route(
            "/v1/govern",
            post(|| async { Json(json!({"outcome": "allow", "reason": "over TLS"})) }),
        )
        .layer(axum::middleware::map_request_with_state(
            seen.clone(),
            record,
        ));
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", tcp.local_addr().unwrap());
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(Arc::new(config)),
    };
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn the_agent_trusts_a_ca_given_with_add_root_certificate_and_speaks_http2() {
    bounded(async {
        let (ca_pem, config) = pki();
        let (url, seen) = serve_tls(config).await;
        let agent = Agent::builder(&url)
            .api_key("tp_tls")
            .add_root_certificate(ca_pem)
            .build()
            .unwrap();
        let verdict = agent.govern_tool("search", json!({})).await.unwrap();
        assert_eq!(verdict.reason, "over TLS");
        assert_eq!(agent.server_version(), Some("0.6.3"));
        let versions = seen.lock().unwrap().clone();
        assert_eq!(versions, ["HTTP/2.0", "HTTP/2.0"]);
    })
    .await;
}

#[tokio::test]
async fn without_the_ca_the_agent_refuses_the_server_naming_tls() {
    bounded(async {
        let (_, config) = pki();
        let (url, seen) = serve_tls(config).await;
        // Fail-open and retries on: an untrusted certificate still fails
        // closed, at once, as a configuration error.
        let agent = Agent::builder(&url)
            .api_key("tp_tls")
            .fail_open(true)
            .max_retries(3)
            .build()
            .unwrap();
        let err = agent.govern_tool("search", json!({})).await.unwrap_err();
        let Error::Config(message) = &err else {
            panic!("expected a configuration error, got {err:?}");
        };
        assert!(message.contains("TLS"), "{message}");
        assert!(message.contains("add_root_certificate"), "{message}");
        assert!(seen.lock().unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_root_certificate_that_is_not_pem_is_a_config_error() {
    let err = Agent::builder("https://tappass.example")
        .api_key("tp_tls")
        .add_root_certificate("not a certificate")
        .build()
        .unwrap_err();
    let Error::Config(message) = &err else {
        panic!("{err:?}");
    };
    assert!(message.contains("add_root_certificate"), "{message}");
    // The agent's Debug never shows the key, with or without roots.
    let agent = Agent::builder("https://tappass.example")
        .api_key("tp_tls_secret")
        .add_root_certificate(pki().0)
        .build()
        .unwrap();
    assert!(!format!("{agent:?}").contains("tp_tls_secret"));
}

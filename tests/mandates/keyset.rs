//! A key set the tests control, for the verifier's recovery and its edges:
//! the test key (`KEY_PEM`) as a JWK under any `kid`, tokens it signs, and a
//! stand-in that publishes it as `k1` beside an empty revocation list.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tappass::mandate::{MandateRejection, MandateVerifier};

use super::{JWKS_PATH, KEY_PEM, PUBLIC_PEM, REVOKED_PATH};
use crate::support::stand_in::{Reply, TapPass};

/// The test key as a JWK under `kid`.
pub(super) fn jwk(kid: &str) -> Value {
    let der: String = PUBLIC_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(der).unwrap();
    // SPKI of a P-256 key ends in the uncompressed point 0x04 || x || y.
    let point = &der[der.len() - 65..];
    assert_eq!(point[0], 4);
    json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..]),
    })
}

/// A mandate `id` for `tool:call:search`, signed with the test key under `kid`.
pub(super) fn token(kid: &str, id: &str) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({
        "mandate_id": id, "capabilities": [{"id": "tool:call:search"}],
        "iat": now, "exp": now + 300, "sub": "agt-test", "session_id": "ses_test",
    });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_ec_pem(KEY_PEM.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// A stand-in that publishes the test key as `k1` and revokes nothing.
pub(super) async fn keys_and_list() -> TapPass {
    let server = TapPass::start().await;
    server.always(JWKS_PATH, Reply::ok(json!({"keys": [jwk("k1")]})));
    server.always(REVOKED_PATH, Reply::ok(json!({"revoked": []})));
    server
}

pub(super) fn verifier(server: &TapPass) -> tappass::mandate::MandateVerifierBuilder {
    MandateVerifier::builder()
        .jwks_url(format!("{}{JWKS_PATH}", server.url()))
        .api_key("tp_downstream")
}

pub(super) fn code(rejection: &MandateRejection) -> String {
    use tappass::GovernanceError as _;
    rejection.code().to_owned()
}

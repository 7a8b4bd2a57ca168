//! Another language: the dev server's mandates verify with Python's PyJWT,
//! and a mandate PyJWT signs verifies here.

use std::process::Command;

use super::*;

/// Runs a Python snippet with `args`, in the test virtualenv that has PyJWT
/// and cryptography (`tests/requirements.txt`, made by `support::python` on
/// first use).
fn python(script: &str, args: &[&str]) -> String {
    let output = Command::new(crate::support::python::python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("the test virtualenv's python runs");
    assert!(
        output.status.success(),
        "the Python snippet failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn mandates_cross_to_pyjwt_and_back() {
    bounded(async {
        let server = default_server().await;
        let token = mandate_for(&server, "search").await;
        let id = server.mandates()[0].mandate_id.clone();

        // PyJWT verifies the dev server's mandate with the published JWK Set.
        let script = r#"
import json, sys, jwt
token, jwks_url, issuer = sys.argv[1], sys.argv[2], sys.argv[3]
key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=["ES256"], issuer=issuer)
print(json.dumps(claims))
"#;
        let (jwks_url, issuer) = (server.jwks_url(), server.url());
        let out = tokio::task::spawn_blocking(move || {
            python(script, &[&token, &jwks_url, &issuer])
        })
        .await
        .unwrap();
        let claims: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(claims["mandate_id"], id);
        assert_eq!(claims["capabilities"], json!([{"id": "tool:call:search"}]));

        // A mandate PyJWT signs with a key of the JWK Set verifies here.
        let script = r#"
import sys, time, jwt
pem, kid, issuer = sys.argv[1], sys.argv[2], sys.argv[3]
now = int(time.time())
print(jwt.encode({"mandate_id": "m_from_python", "capabilities": [{"id": "tool:call:search"}],
                  "iat": now, "exp": now + 120, "iss": issuer, "sub": "agt-py", "session_id": "ses_py"},
                 pem, algorithm="ES256", headers={"kid": kid}))
"#;
        let (kid, issuer) = (server.mandate_kid(), server.url());
        let from_python = tokio::task::spawn_blocking(move || {
            python(script, &[KEY_PEM, &kid, &issuer])
        })
        .await
        .unwrap();
        let b = serve(service_b(verifier(&server).build().unwrap())).await;
        let (status, body, _) = call(b.url(), Some(&from_python)).await;
        assert_eq!((status, body), (200, json!("m_from_python")));
    })
    .await;
}

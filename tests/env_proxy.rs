//! `HTTP(S)_PROXY` and `NO_PROXY` are honoured: the agent reaches a TapPass
//! through the proxy the environment names, and goes direct to a host that
//! `NO_PROXY` lists.
//!
//! The environment is read once per process (reqwest caches it), so this
//! binary holds one test, which sets it before any client is built: like
//! every `tests/env_*` binary, it owns its process environment. Which server
//! it meets: two scripted stand-ins, one playing the proxy (it records the
//! absolute URL it was asked for) and one reached directly.

#[path = "support/mod.rs"]
mod support;

use serde_json::json;
use support::stand_in::{Reply, TapPass};
use support::{bounded, KEY};
use tappass::Agent;

#[tokio::test]
async fn the_environments_proxy_is_used_and_no_proxy_goes_direct() {
    bounded(async {
        // The proxy: a stand-in that answers whatever absolute URL it is asked for.
        let proxy = TapPass::start().await;
        proxy.always(
            "/v1/govern",
            Reply::ok(json!({"outcome": "allow", "reason": "through the proxy"})),
        );
        let direct = TapPass::start().await;
        direct.always(
            "/v1/govern",
            Reply::ok(json!({"outcome": "allow", "reason": "direct"})),
        );
        // One test in this binary: nothing else reads the environment.
        std::env::set_var("HTTP_PROXY", proxy.url());
        std::env::set_var("NO_PROXY", "127.0.0.1");

        // A host only the proxy can reach.
        let proxied = Agent::builder("http://tappass.proxied.invalid")
            .api_key(KEY)
            .max_retries(0)
            .build()
            .unwrap();
        let verdict = proxied.govern_tool("t", json!({})).await.unwrap();
        assert_eq!(verdict.reason, "through the proxy");
        let asked = proxy.requests_to("/v1/govern");
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].header("host"), Some("tappass.proxied.invalid"));

        // A host NO_PROXY lists: straight to it, the proxy never asked.
        let agent = Agent::builder(direct.url())
            .api_key(KEY)
            .max_retries(0)
            .build()
            .unwrap();
        let verdict = agent.govern_tool("t", json!({})).await.unwrap();
        assert_eq!(verdict.reason, "direct");
        assert_eq!(proxy.requests_to("/v1/govern").len(), 1);
        assert_eq!(direct.requests_to("/v1/govern").len(), 1);
    })
    .await;
}

//! Tool names and the mandates they get: a tool named into a wildcard (or
//! anything a capability would read as syntax) is refused before any rule
//! applies, and for any name the dev server accepts, the mandate grants
//! exactly that tool.

use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::json;
use tappass::mandate::Capability;
use tappass_dev::{DevServer, Policy};

use crate::support::dev_http::{behaviour, post};

async fn server(policy: Policy) -> DevServer {
    DevServer::builder()
        .policy(policy)
        .start()
        .await
        .expect("the dev server starts")
}

/// A tool named `*` (or `send_email:*`, or anything a capability would read
/// as syntax) is refused with a 400 that says why, and gets no mandate: with
/// the default policy, `*` would otherwise fall through to the default allow
/// and be granted `tool:call:*`, a mandate for every tool.
#[tokio::test]
async fn a_tool_named_into_a_wildcard_is_refused_and_gets_no_mandate() {
    let dev = DevServer::start().await.unwrap();
    for (tool, says) in [
        ("*", "wildcard"),
        ("send_email:*", "wildcard"),
        ("send_email:x", "separator"),
        ("search:", "separator"),
        ("..", "not a tool name"),
        ("read file", "not a tool name"),
        ("tool\u{202e}name", "not a tool name"),
    ] {
        let (status, body, _) = post(
            &dev.url(),
            "/v1/govern",
            "tp_attacker",
            &[],
            &behaviour(tool, json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{tool:?}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(says), "{tool:?}: {message}");
        assert!(
            message.contains("[A-Za-z0-9_.-]"),
            "says what to send: {message}"
        );
    }
    assert!(dev.mandates().is_empty(), "no mandate was issued");
    // The agent gets the refusal as an error, never a verdict to act on.
    let agent = tappass::Agent::new(dev.url(), "tp_attacker").unwrap();
    assert!(agent.govern_tool("*", json!({})).await.is_err());
    assert!(dev.mandates().is_empty());
}

/// The characters a tool name is drawn from here: the allowed ones and
/// every one a capability, a URL or a terminal would read as something else.
fn tool_name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => "[A-Za-z0-9_.-]{1,6}",
        1 => Just("*".to_owned()),
        1 => Just(":".to_owned()),
        1 => Just("/".to_owned()),
        1 => Just(" ".to_owned()),
        1 => Just("%2A".to_owned()),
        1 => Just("é".to_owned()),
        1 => Just("".to_owned()),
    ];
    prop::collection::vec(piece, 1..5).prop_map(|p| p.concat())
}

/// Whether `name` is a tool name by the documented grammar.
fn is_tool_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && name != "."
        && name != ".."
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    /// For any tool name the dev server accepts, the mandate it issues
    /// grants exactly that tool and nothing else; every name it refuses is
    /// outside the grammar, and every name inside it is accepted.
    #[test]
    fn a_mandate_grants_exactly_the_tool_it_was_issued_for(name in tool_name(), other in "[a-z_]{1,12}") {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dev = server(Policy::allow_all()).await;
            let (status, body, _) =
                post(&dev.url(), "/v1/govern", "tp_prop", &[], &behaviour(&name, json!({}))).await;
            if !is_tool_name(&name) {
                prop_assert_eq!(status, StatusCode::BAD_REQUEST, "{:?} accepted: {}", name, body);
                prop_assert!(dev.mandates().is_empty());
                return Ok(());
            }
            prop_assert_eq!(status, StatusCode::OK, "{:?} refused: {}", name, body);
            let issued = dev.mandates();
            prop_assert_eq!(issued.len(), 1);
            let exact = format!("tool:call:{name}");
            prop_assert_eq!(&issued[0].capabilities, &vec![exact.clone()]);
            let granted = Capability::new(exact.clone());
            prop_assert!(granted.grants(&exact));
            for required in [
                format!("tool:call:{other}x"),
                "tool:call:delete_database".to_owned(),
                format!("tool:call:{name}:more"),
                "tool:call:".to_owned(),
                "tool:call:*".to_owned(),
            ] {
                if required != exact {
                    prop_assert!(!granted.grants(&required), "{} grants {}", exact, required);
                }
            }
            Ok(())
        })?;
    }
}

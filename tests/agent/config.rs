//! Configuration: any durations the builder is given end in an agent or a
//! configuration error, never a panic; a base URL with credentials is
//! refused without showing them; a refused key's message names the setting
//! it came from.

use proptest::prelude::*;

use super::*;

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        (0u64..10_000_000_000).prop_map(Duration::from_nanos),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any timeouts and delays a caller can give the builder: an agent or a
    /// configuration error, and then a call that answers or fails, never a
    /// panic (in a debug build, where overflow panics).
    #[test]
    fn any_builder_durations_give_an_agent_or_an_error(
        timeout in any_duration(),
        connect_timeout in any_duration(),
        base_delay in any_duration(),
        max_delay in any_duration(),
    ) {
        let runtime = runtime();
        runtime.block_on(bounded(async {
            let tappass = TapPass::start().await;
            tappass.always(CHAT, Reply::ok(chat_answer("fine")));
            let built = Agent::builder(tappass.url())
                .api_key(KEY)
                .timeout(timeout)
                .connect_timeout(connect_timeout)
                .retry_base_delay(base_delay)
                .retry_max_delay(max_delay)
                .max_retries(0)
                .build();
            let agent = match built {
                Ok(agent) => agent,
                Err(Error::Config(message)) => {
                    assert!(timeout.is_zero() || connect_timeout.is_zero(), "{message}");
                    return;
                }
                Err(other) => panic!("{other:?}"),
            };
            match agent.chat("hi").await {
                Ok(answer) => assert_eq!(answer.content, "fine"),
                // A timeout of a few nanoseconds cannot be met.
                Err(err) => assert!(err.is_unavailable(), "{err:?}"),
            }
        }));
    }
}

const PASSWORD: &str = "hunter2SECRETpw";

/// A base URL with user info is refused at build, and neither the error nor
/// the builder's `Debug` shows the password, whatever else is wrong with it.
#[test]
fn a_base_url_with_user_info_is_refused_without_showing_it() {
    let shapes = [
        format!("https://user:{PASSWORD}@tappass.example.com"),
        format!("https://user:{PASSWORD}@tappass.example.com/"),
        format!("http://:{PASSWORD}@127.0.0.1:9620"),
        format!("https://{PASSWORD}@tappass.example.com"),
        format!("https://user:{PASSWORD}@tappass.example.com/?q=1"),
        format!("https://user:{PASSWORD}@tappass.example.com#f"),
        format!("ftp://user:{PASSWORD}@tappass.example.com"),
        format!("https://user:{PASSWORD}@"),
        format!("https://user:{PASSWORD}@bad host"),
        format!("  https://user:{PASSWORD}@tappass.example.com  "),
    ];
    for url in shapes {
        let builder = Agent::builder(&url).api_key(KEY);
        let debug = format!("{builder:?}");
        assert!(!debug.contains(PASSWORD), "{debug}");
        let err = builder.build().expect_err(&url);
        assert!(matches!(err, Error::Config(_)), "{url}: {err:?}");
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(PASSWORD), "{url}: {text}");
        }
    }
    let err = Agent::new(format!("https://user:{PASSWORD}@tappass.example.com"), KEY)
        .expect_err("refused");
    assert!(err.to_string().contains("user info"), "{err}");
    proptest!(|(user in "[A-Za-z0-9._~-]{0,12}", password in "[A-Za-z0-9._~!$&'()*+,;=-]{1,20}")| {
        let password = format!("PW{password}");
        let url = format!("https://{user}:{password}@tappass.example.com");
        let builder = Agent::builder(&url).api_key(KEY);
        let debug = format!("{:?}", builder);
        prop_assert!(!debug.contains(&password));
        let err = builder.build().expect_err("refused");
        let text = format!("{} {:?}", err, err);
        prop_assert!(!text.contains(&password));
    });
}

#[tokio::test]
async fn a_refused_key_names_the_setting_it_came_from() {
    let dev = DevServer::start().await.unwrap();
    let agent = Agent::builder(dev.url())
        .api_key("sk_not_a_tappass_key")
        .max_retries(0)
        .build()
        .unwrap();
    let err = agent.chat("hello").await.expect_err("the key is refused");
    assert!(matches!(err, Error::Authentication { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("`.api_key(..)`"), "{message}");
    assert!(!message.contains("TAPPASS_API_KEY"), "{message}");
    assert!(!message.contains("sk_not_a_tappass_key"), "{message}");
}
